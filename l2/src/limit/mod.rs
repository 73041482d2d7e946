//! How many ARP replies / Neighbor Advertisements a responder sends under a flood (issue 19):
//! a token bucket per requester MAC and one for the whole responder. MetalLB answers every
//! request; ferrolb answers every request a real client sends (the defaults allow a requester
//! 500 replies/s with a burst of 500 — the e2e failover prober asks 100 times a second per IP —
//! and a responder 5,000/s with a burst of 1,000), so a flood from one MAC, or from many spoofed
//! ones, costs the node a bounded number of frames sent. A request that is not answered is
//! simply retried by the client (RFC 826 / RFC 4861 §7.2.2), as after any loss.
//!
//! Pure: the caller passes the time. The per-requester table is bounded ([`Limits::sources`]):
//! when full, requesters whose bucket has refilled are forgotten first (they lose nothing: a
//! full bucket is what a new one starts with); if none has, the new requester is answered from
//! the responder's bucket alone.

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
    /// Replies per second from the responder.
    pub total: u32,
    /// Replies the responder may send at once.
    pub total_burst: u32,
    /// Requesters remembered at most.
    pub sources: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_source: 500,
            per_source_burst: 500,
            total: 5_000,
            total_burst: 1_000,
            sources: 4_096,
        }
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
}

/// Whether each reply may be sent; counts what it refused.
#[derive(Debug)]
pub struct ReplyLimiter {
    limits: Limits,
    total: Bucket,
    sources: HashMap<MacAddr, Bucket>,
    refused: u64,
}

impl ReplyLimiter {
    /// A limiter with `limits`, every bucket full at `now`.
    pub fn new(limits: Limits, now: Instant) -> Self {
        ReplyLimiter {
            limits,
            total: Bucket::full(limits.total_burst, now),
            sources: HashMap::new(),
            refused: 0,
        }
    }

    /// Whether a reply to `requester` may be sent at `now` (and takes its tokens if so).
    pub fn allow(&mut self, requester: MacAddr, now: Instant) -> bool {
        let l = self.limits;
        self.total.refill(l.total, l.total_burst, now);
        if !self.sources.contains_key(&requester) && self.sources.len() >= l.sources {
            self.sources
                .retain(|_, b| !b.is_full(l.per_source, l.per_source_burst, now));
        }
        let tracked = self.sources.len() < l.sources || self.sources.contains_key(&requester);
        let source_ok = if tracked {
            let b = self
                .sources
                .entry(requester)
                .or_insert_with(|| Bucket::full(l.per_source_burst, now));
            b.refill(l.per_source, l.per_source_burst, now);
            b.tokens >= 1.0
        } else {
            true
        };
        if !source_ok || self.total.tokens < 1.0 {
            self.refused += 1;
            return false;
        }
        self.total.tokens -= 1.0;
        if let Some(b) = self.sources.get_mut(&requester) {
            b.tokens -= 1.0;
        }
        true
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
