//! How many ARP replies / Neighbor Advertisements a responder sends under a flood (issue 19).
//! MetalLB answers every request; ferrolb answers every request a real client sends and bounds
//! what a flood costs the node:
//!
//! - a token bucket per requester MAC (default 500 replies/s, burst 500 — the e2e failover
//!   prober asks 100 times a second per IP), so one flooding MAC gets its own rate and no more;
//! - two shared buckets: one for **established** requesters (remembered for at least
//!   [`Limits::established_after`], 1 s: the hosts that were on the LAN before a flood) and
//!   one for **new** ones (default 5,000/s and 2,000/s, bursts 1,000 and 500). A flood from
//!   spoofed MACs is all new requesters: it drains the new bucket only, and the clients the
//!   node already knew keep being answered at their own rate.
//!
//! The requester table is bounded ([`Limits::sources`]). When it is full, idle requesters (not
//! heard for [`Limits::forget_after`], 1 s, and bucket refilled: forgetting them loses nothing)
//! are forgotten; requesters still asking are kept, so a client that keeps asking through a
//! flood becomes established while spoofed MACs, each heard once, age out. A requester that
//! finds the table full is answered from the new bucket alone, and a full table is swept at
//! most every 10 ms (a sweep walks it).
//! A request that is not answered is retried by the client (RFC 826; RFC 4861 §7.2.2), as after
//! any loss.
//!
//! Pure: the caller passes the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::packet::MacAddr;

/// Rates and bounds of a [`ReplyLimiter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Replies per second to one requester MAC.
    pub per_source: u32,
    /// Replies one requester may get at once.
    pub per_source_burst: u32,
    /// Replies per second to established requesters, all together.
    pub established: u32,
    /// Their burst.
    pub established_burst: u32,
    /// Replies per second to new requesters, all together.
    pub new: u32,
    /// Their burst.
    pub new_burst: u32,
    /// How long a requester must have been remembered to count as established.
    pub established_after: Duration,
    /// A requester not heard for this long (and whose bucket refilled) may be forgotten.
    pub forget_after: Duration,
    /// Requesters remembered at most.
    pub sources: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_source: 500,
            per_source_burst: 500,
            established: 5_000,
            established_burst: 1_000,
            new: 2_000,
            new_burst: 500,
            established_after: Duration::from_secs(1),
            forget_after: Duration::from_secs(1),
            sources: 4_096,
        }
    }
}

impl Limits {
    /// The most replies a responder can send in `d` (every bucket's rate and burst).
    pub fn most_in(&self, d: Duration) -> u64 {
        let rate = f64::from(self.established + self.new) * d.as_secs_f64();
        rate.ceil() as u64 + u64::from(self.established_burst + self.new_burst)
    }
}

/// A token bucket: `tokens` at `at`, refilled at `rate` per second up to `burst`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(burst),
            at: now,
        }
    }

    fn refill(&mut self, rate: u32, burst: u32, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * f64::from(rate)).min(f64::from(burst));
        self.at = now;
    }

    fn is_full(&self, rate: u32, burst: u32, now: Instant) -> bool {
        let mut b = *self;
        b.refill(rate, burst, now);
        b.tokens >= f64::from(burst)
    }

    fn take(&mut self, rate: u32, burst: u32, now: Instant) -> bool {
        self.refill(rate, burst, now);
        self.tokens >= 1.0
    }
}

/// One remembered requester.
#[derive(Clone, Copy, Debug)]
struct Source {
    bucket: Bucket,
    /// First heard (established after [`Limits::established_after`]).
    since: Instant,
    /// Last heard.
    last: Instant,
}

/// Whether each reply may be sent; counts what it refused.
#[derive(Debug)]
pub struct ReplyLimiter {
    limits: Limits,
    established: Bucket,
    new: Bucket,
    sources: HashMap<MacAddr, Source>,
    /// With the table full and nothing to forget, no sweep before this instant (a sweep walks
    /// the whole table: at most one per [`SWEEP_EVERY`]).
    no_sweep_until: Option<Instant>,
    refused: u64,
}

/// How often a full table is swept at most.
const SWEEP_EVERY: Duration = Duration::from_millis(10);

impl ReplyLimiter {
    /// A limiter with `limits`, every bucket full at `now`.
    pub fn new(limits: Limits, now: Instant) -> Self {
        ReplyLimiter {
            limits,
            established: Bucket::full(limits.established_burst, now),
            new: Bucket::full(limits.new_burst, now),
            sources: HashMap::new(),
            no_sweep_until: None,
            refused: 0,
        }
    }

    /// Whether a reply to `requester` may be sent at `now` (and takes its tokens if so).
    pub fn allow(&mut self, requester: MacAddr, now: Instant) -> bool {
        let l = self.limits;
        let known = self.sources.contains_key(&requester);
        if !known && self.sources.len() >= l.sources && self.no_sweep_until.is_none_or(|t| now >= t)
        {
            self.make_room(now);
            self.no_sweep_until = (self.sources.len() >= l.sources).then(|| now + SWEEP_EVERY);
        }
        if !known && self.sources.len() < l.sources {
            self.sources.insert(
                requester,
                Source {
                    bucket: Bucket::full(l.per_source_burst, now),
                    since: now,
                    last: now,
                },
            );
        }
        let (source_ok, established) = match self.sources.get_mut(&requester) {
            Some(s) => {
                s.last = now;
                (
                    s.bucket.take(l.per_source, l.per_source_burst, now),
                    now.saturating_duration_since(s.since) >= l.established_after,
                )
            }
            None => (true, false),
        };
        let shared = if established {
            self.established
                .take(l.established, l.established_burst, now)
        } else {
            self.new.take(l.new, l.new_burst, now)
        };
        if !(source_ok && shared) {
            self.refused += 1;
            return false;
        }
        if established {
            self.established.tokens -= 1.0;
        } else {
            self.new.tokens -= 1.0;
        }
        if let Some(s) = self.sources.get_mut(&requester) {
            s.bucket.tokens -= 1.0;
        }
        true
    }

    /// Forgets idle requesters: not heard for [`Limits::forget_after`], bucket refilled.
    fn make_room(&mut self, now: Instant) {
        let l = self.limits;
        self.sources.retain(|_, s| {
            now.saturating_duration_since(s.last) < l.forget_after
                || !s.bucket.is_full(l.per_source, l.per_source_burst, now)
        });
    }

    /// Replies refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Requesters currently remembered.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

/// The time one requester waits for a reply after exhausting its burst (for docs and tests).
pub fn source_interval(l: &Limits) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(l.per_source.max(1)))
}

#[cfg(test)]
mod tests;
