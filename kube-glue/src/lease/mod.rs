//! Leader election over a `coordination.k8s.io/v1` Lease, the pure part: one controller at a
//! time runs the Service pass and the writers (client-go's `leaderelection`, which MetalLB's
//! controller-runtime manager uses, reproduced in its timing rules):
//!
//! - a candidate takes the Lease when it has no holder, or when its record has not changed for
//!   the holder's `leaseDurationSeconds`, measured on the candidate's own monotonic clock from
//!   the moment it first saw that record (no comparison of clocks between nodes);
//! - the holder renews every retry period and counts itself leader only until
//!   `renew_deadline` after the start of its last successful renewal. With
//!   `renew_deadline < lease_duration`, a holder that cannot renew (partitioned node) has
//!   stopped writing before any other candidate may take the Lease.
//!
//! [`Elector::step`] is fed the observed Lease and the time, and returns the write to attempt;
//! [`shell`] performs it against the API server (optimistic concurrency: a lost race is a 409).

pub mod shell;

use std::time::{Duration, Instant};

/// Timings of the election (client-go / controller-runtime defaults: 15 s / 10 s / 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a non-renewed Lease keeps others out (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How long after its last successful renewal the holder still acts as leader.
    pub renew_deadline: Duration,
    /// How often a candidate or holder looks at the Lease.
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Why a set of timings is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingsError {
    /// The holder would still write after another may acquire.
    #[error(
        "leader election: renew deadline {renew:?} must be shorter than the lease duration {lease:?}"
    )]
    RenewNotBeforeExpiry {
        /// The renew deadline.
        renew: Duration,
        /// The lease duration.
        lease: Duration,
    },
    /// The holder would not try to renew before its deadline.
    #[error(
        "leader election: retry period {retry:?} must be shorter than the renew deadline {renew:?}"
    )]
    RetryNotBeforeDeadline {
        /// The retry period.
        retry: Duration,
        /// The renew deadline.
        renew: Duration,
    },
}

impl Timings {
    /// Checks `retry < renew_deadline < lease_duration` (client-go refuses the same).
    pub fn validate(self) -> Result<Self, TimingsError> {
        if self.renew_deadline >= self.lease_duration {
            return Err(TimingsError::RenewNotBeforeExpiry {
                renew: self.renew_deadline,
                lease: self.lease_duration,
            });
        }
        if self.retry_period >= self.renew_deadline {
            return Err(TimingsError::RetryNotBeforeDeadline {
                retry: self.retry_period,
                renew: self.renew_deadline,
            });
        }
        Ok(self)
    }
}

/// What the Lease's spec says, as far as the election reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// `holderIdentity` (empty = released).
    pub holder: Option<String>,
    /// `leaseDurationSeconds` the holder declared.
    pub duration_seconds: Option<i32>,
    /// `renewTime`, compared for equality only (the holder's clock is never trusted).
    pub renew_time: Option<String>,
    /// `leaseTransitions`.
    pub transitions: i32,
}

/// The write to attempt next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No Lease yet: create it held by us.
    Create,
    /// Take the Lease over (free or expired): holder := us, transitions + 1.
    Acquire {
        /// The new `leaseTransitions`.
        transitions: i32,
    },
    /// We hold it: refresh `renewTime`.
    Renew,
    /// Someone else holds a live Lease: write nothing, look again later.
    Follow {
        /// Its holder.
        holder: String,
    },
}

/// One candidate's view of the election.
#[derive(Debug, Clone)]
pub struct Elector {
    identity: String,
    timings: Timings,
    /// The last record seen and when (our clock) it was first seen unchanged.
    seen: Option<(Record, Instant)>,
    /// Start of our last successful acquire/renew.
    renewed: Option<Instant>,
}

impl Elector {
    /// A candidate named `identity` (unique among the candidates: e.g. the Pod's name).
    pub fn new(identity: impl Into<String>, timings: Timings) -> Self {
        Self {
            identity: identity.into(),
            timings,
            seen: None,
            renewed: None,
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The timings.
    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// What to do given the Lease as just read (`None`: it does not exist) at `now`.
    pub fn step(&mut self, lease: Option<&Record>, now: Instant) -> Step {
        let Some(record) = lease else {
            self.seen = None;
            return Step::Create;
        };
        let first_seen = match &self.seen {
            Some((r, at)) if r == record => *at,
            _ => now,
        };
        self.seen = Some((record.clone(), first_seen));
        let holder = record.holder.as_deref().filter(|h| !h.is_empty());
        match holder {
            // Ours (this process, or this Pod before a restart): renewing is safe at any time,
            // as the write carries the resourceVersion read: if another took it meanwhile,
            // the write is refused (409).
            Some(h) if h == self.identity => Step::Renew,
            Some(h) => {
                self.renewed = None;
                self.acquire_if_expired(record, first_seen, now, h)
            }
            None => Step::Acquire {
                transitions: record.transitions.saturating_add(1),
            },
        }
    }

    fn acquire_if_expired(
        &self,
        record: &Record,
        first_seen: Instant,
        now: Instant,
        holder: &str,
    ) -> Step {
        let declared = record
            .duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.timings.lease_duration, Duration::from_secs);
        if now.saturating_duration_since(first_seen) >= declared {
            Step::Acquire {
                transitions: record.transitions.saturating_add(1),
            }
        } else {
            Step::Follow {
                holder: holder.to_owned(),
            }
        }
    }

    /// The write of `step`, started at `started`, succeeded: we lead until
    /// `started + renew_deadline`.
    pub fn succeeded(&mut self, started: Instant) {
        self.renewed = Some(started);
    }

    /// The write failed (conflict or error): leadership lapses at its deadline unless a later
    /// renewal succeeds.
    pub fn failed(&mut self) {
        self.seen = None;
    }

    /// Whether this candidate may write at `now`.
    pub fn is_leader(&self, now: Instant) -> bool {
        self.renewed
            .is_some_and(|at| now.saturating_duration_since(at) < self.timings.renew_deadline)
    }

    /// Until when (our clock) this candidate may write, if it leads.
    pub fn leader_until(&self) -> Option<Instant> {
        self.renewed.map(|at| at + self.timings.renew_deadline)
    }
}

#[cfg(test)]
mod tests;
