//! The write gate that lets reconcile passes run without waiting for the previous pass's
//! writes (pipelining), without ever racing two writes to one object.
//!
//! Passes are level-based: each compares the desired state with the informer cache and emits
//! every write still needed. A write that is in flight (or that just finished, but whose watch
//! event has not reached the cache yet) would be emitted again by the next pass; the gate drops
//! such repeats. Rules, per object key:
//! - at most one write in flight; a different write for the same key while one is in flight is
//!   dropped and the key marked *superseded*: when the in-flight write finishes the caller wakes
//!   a new pass, which emits the newer write (so writes to one object are never reordered);
//! - an identical write within [`SETTLE`] of the previous one finishing is dropped (the cache
//!   is about to show it); after that it is issued again (a lost watch event cannot stall us);
//! - a failed write forgets the key, so the next pass retries it;
//! - keys admitted with [`Gate::admit_throttled`] (pool status counters, which change with
//!   every allocation during a burst) get at most one write per interval; a write refused for
//!   that reason is due at a returned instant, when the caller wakes a pass to send the latest
//!   state (so the final counts are always written).
//!
//! Pure and synchronous: the adapter (`apply.rs`) holds it behind a mutex.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

/// How long a finished write suppresses an identical one (time for its watch event to arrive).
pub const SETTLE: Duration = Duration::from_secs(2);

/// The object a write goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WriteKey {
    /// A Service's status and annotation.
    Service(ferrolb_kube::convert::ServiceKey),
    /// An IPAddressPool's status.
    Pool(String),
    /// The controller's ConfigurationState.
    State,
}

#[derive(Debug)]
struct Entry {
    fingerprint: u64,
    /// When the write was admitted.
    issued_at: Instant,
    /// `None` while in flight.
    done_at: Option<Instant>,
    superseded: bool,
    /// A throttled write was refused and a wake-up is already scheduled for it.
    deferred: bool,
}

/// The answer of [`Gate::admit_throttled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Issue the write now.
    Now,
    /// Drop it (in flight, just written, or already deferred).
    Drop,
    /// Drop it and wake a pass at this instant to write the state of then.
    At(Instant),
}

/// Tracks in-flight and recently finished writes.
#[derive(Debug, Default)]
pub struct Gate {
    entries: HashMap<WriteKey, Entry>,
}

/// A fingerprint of a write's content.
pub fn fingerprint(content: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    content.hash(&mut h);
    h.finish()
}

impl Gate {
    /// Whether to issue a write of `fingerprint` to `key` now; if yes it is in flight until
    /// [`Gate::finish`].
    pub fn admit(&mut self, key: WriteKey, fingerprint: u64, now: Instant) -> bool {
        if let Some(e) = self.entries.get_mut(&key) {
            match e.done_at {
                None => {
                    if e.fingerprint != fingerprint {
                        e.superseded = true;
                    }
                    return false;
                }
                Some(done) if e.fingerprint == fingerprint && now.duration_since(done) < SETTLE => {
                    return false;
                }
                Some(_) => {}
            }
        }
        self.entries.insert(
            key,
            Entry {
                fingerprint,
                issued_at: now,
                done_at: None,
                superseded: false,
                deferred: false,
            },
        );
        true
    }

    /// Like [`Gate::admit`], with at most one write to `key` per `interval`.
    pub fn admit_throttled(
        &mut self,
        key: WriteKey,
        fingerprint: u64,
        now: Instant,
        interval: Duration,
    ) -> Admit {
        if let Some(e) = self.entries.get_mut(&key)
            && e.done_at.is_some()
            && e.fingerprint != fingerprint
            && now.duration_since(e.issued_at) < interval
        {
            if e.deferred {
                return Admit::Drop;
            }
            e.deferred = true;
            return Admit::At(e.issued_at + interval);
        }
        if self.admit(key, fingerprint, now) {
            Admit::Now
        } else {
            Admit::Drop
        }
    }

    /// Records the end of the in-flight write to `key`. Returns whether a newer write was
    /// dropped meanwhile, i.e. whether a pass must run again soon.
    pub fn finish(&mut self, key: &WriteKey, ok: bool, now: Instant) -> bool {
        let superseded = self.entries.get(key).is_some_and(|e| e.superseded);
        if ok && !superseded {
            if let Some(e) = self.entries.get_mut(key) {
                e.done_at = Some(now);
            }
        } else {
            self.entries.remove(key);
        }
        superseded
    }

    /// Forgets finished writes older than [`SETTLE`] (bounds memory to recent writes); a
    /// deferred one stays until its wake-up admits the next write.
    pub fn purge(&mut self, now: Instant) {
        self.entries
            .retain(|_, e| e.deferred || e.done_at.is_none_or(|d| now.duration_since(d) < SETTLE));
    }

    /// Writes in flight.
    pub fn in_flight(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.done_at.is_none())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(n: &str) -> WriteKey {
        WriteKey::Service(ferrolb_kube::convert::ServiceKey::new("ns", n))
    }

    #[test]
    fn one_write_per_key_in_flight_and_repeats_dropped() {
        let mut g = Gate::default();
        let t = Instant::now();
        assert!(g.admit(svc("a"), 1, t));
        assert!(!g.admit(svc("a"), 1, t), "same write while in flight");
        assert!(g.admit(svc("b"), 1, t), "other keys are independent");
        assert_eq!(g.in_flight(), 2);
        assert!(!g.finish(&svc("a"), true, t), "nothing superseded");
        assert!(
            !g.admit(svc("a"), 1, t + SETTLE / 2),
            "cache not updated yet"
        );
        assert!(
            g.admit(svc("a"), 1, t + SETTLE),
            "reissued once the settle time passed"
        );
    }

    #[test]
    fn a_newer_write_waits_for_the_in_flight_one_and_wakes_a_pass() {
        let mut g = Gate::default();
        let t = Instant::now();
        assert!(g.admit(svc("a"), 1, t));
        assert!(!g.admit(svc("a"), 2, t), "never two writes to one object");
        assert!(g.finish(&svc("a"), true, t), "superseded: wake a pass");
        assert!(g.admit(svc("a"), 2, t), "the newer write goes out next");
        // And the old content is not suppressed by the settle window after a supersede.
        assert!(!g.finish(&svc("a"), true, t));
        assert!(g.admit(svc("a"), 1, t), "different content is admitted");
    }

    #[test]
    fn a_failed_write_is_retried_by_the_next_pass() {
        let mut g = Gate::default();
        let t = Instant::now();
        assert!(g.admit(WriteKey::State, 7, t));
        assert!(!g.finish(&WriteKey::State, false, t));
        assert!(g.admit(WriteKey::State, 7, t), "retry at once");
    }

    #[test]
    fn purge_keeps_in_flight_and_recent_writes() {
        let mut g = Gate::default();
        let t = Instant::now();
        assert!(g.admit(svc("old"), 1, t));
        g.finish(&svc("old"), true, t);
        assert!(g.admit(svc("recent"), 1, t));
        g.finish(&svc("recent"), true, t + SETTLE);
        assert!(g.admit(WriteKey::Pool("p".into()), 1, t));
        g.purge(t + SETTLE + Duration::from_millis(1));
        assert_eq!(g.entries.len(), 2);
        assert!(g.entries.contains_key(&svc("recent")));
        assert!(g.entries.contains_key(&WriteKey::Pool("p".into())));
    }

    #[test]
    fn throttled_keys_write_at_most_once_per_interval_and_never_lose_the_last_state() {
        let mut g = Gate::default();
        let t = Instant::now();
        let i = Duration::from_secs(1);
        let pool = || WriteKey::Pool("p".into());
        assert_eq!(g.admit_throttled(pool(), 1, t, i), Admit::Now);
        assert_eq!(
            g.admit_throttled(pool(), 2, t, i),
            Admit::Drop,
            "in flight: superseded, the finish wakes a pass"
        );
        assert!(g.finish(&pool(), true, t));
        // Superseded writes forget the key: the next one goes out at once.
        assert_eq!(g.admit_throttled(pool(), 2, t, i), Admit::Now);
        let t1 = t + Duration::from_millis(100);
        g.finish(&pool(), true, t1);
        assert_eq!(
            g.admit_throttled(pool(), 3, t1, i),
            Admit::At(t + i),
            "too soon: deferred to one interval after the last write"
        );
        assert_eq!(
            g.admit_throttled(pool(), 4, t1, i),
            Admit::Drop,
            "one wake-up is enough"
        );
        g.purge(t + i);
        assert_eq!(
            g.admit_throttled(pool(), 4, t + i, i),
            Admit::Now,
            "at the wake-up the latest state goes out"
        );
        assert_eq!(
            g.admit_throttled(pool(), 4, t + i, i),
            Admit::Drop,
            "identical repeat"
        );
    }

    #[test]
    fn fingerprints_tell_contents_apart() {
        assert_eq!(fingerprint(&("a", 1)), fingerprint(&("a", 1)));
        assert_ne!(fingerprint(&("a", 1)), fingerprint(&("a", 2)));
    }
}
