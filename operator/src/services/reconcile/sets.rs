//! The migration-set gate of a pass: a pool configuration is applied only once every
//! IPAddressPool of each migrated set it contains is seen.
//!
//! The legacy ConfigMap migration ([`crate::migration`]) applies its objects one by one and
//! stamps each with the set it belongs to ([`SET_ANNOTATION`], the payload hash) and the number
//! of IPAddressPools in that set ([`SET_SIZE_ANNOTATION`]). A pass that saw only some of them
//! would take the IPs of the pools not yet applied for IPs in no pool and move them (MetalLB
//! has no such gate: its controller reloads whatever the informer shows). The rule: while a set
//! is incomplete (fewer pools carry its hash than its size), the pass keeps the pools last
//! applied, or keeps hands off if none were; a set still incomplete [`OVERDUE_SECS`] after the
//! pass first saw it so is reported as a configuration error (still not applied). Time comes
//! from the pass's `now`; the gate reads no clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferrolb_api::v1beta1::IPAddressPool;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::migration::{SET_ANNOTATION, SET_SIZE_ANNOTATION};

/// How long a set may stay incomplete before it is reported.
pub const OVERDUE_SECS: i64 = 60;

/// What the gate allows this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Every migration set seen is complete (or none is seen): apply the pools.
    Open,
    /// A set is incomplete: keep the pools last applied.
    Wait,
    /// A set has been incomplete for [`OVERDUE_SECS`]: keep them, and report this error.
    Overdue(String),
}

/// When each incomplete set was first seen incomplete, kept across passes.
#[derive(Debug, Default)]
pub struct SetGate {
    since: BTreeMap<String, Time>,
}

/// A migration set as one pass sees it.
#[derive(Debug, Default)]
struct Seen {
    size: usize,
    pools: Vec<String>,
}

impl SetGate {
    /// The gate for `pools` at `now`.
    pub fn check(&mut self, pools: &[Arc<IPAddressPool>], now: &Time) -> Gate {
        let incomplete: BTreeMap<String, Seen> = sets(pools)
            .into_iter()
            .filter(|(_, s)| s.pools.len() < s.size)
            .collect();
        self.since.retain(|hash, _| incomplete.contains_key(hash));
        let mut overdue = Vec::new();
        for (hash, seen) in &incomplete {
            let since = self
                .since
                .entry(hash.clone())
                .or_insert_with(|| now.clone());
            let waited = now.0.as_second() - since.0.as_second();
            if waited >= OVERDUE_SECS {
                overdue.push(format!(
                    "migration set {hash:?} (annotation {SET_ANNOTATION}) incomplete for {waited}s: \
                     {} of {} IPAddressPools present ({}); the pools last applied keep serving \
                     until the others appear or the annotation is removed",
                    seen.pools.len(),
                    seen.size,
                    seen.pools.join(", ")
                ));
            }
        }
        match (incomplete.is_empty(), overdue.is_empty()) {
            (true, _) => Gate::Open,
            (false, true) => Gate::Wait,
            (false, false) => Gate::Overdue(overdue.join("\n")),
        }
    }
}

/// Every migration set the pools carry, by hash. A pool whose size annotation is missing or
/// not a number adds no size (it does not make its set wait).
fn sets(pools: &[Arc<IPAddressPool>]) -> BTreeMap<String, Seen> {
    let mut sets: BTreeMap<String, Seen> = BTreeMap::new();
    for pool in pools {
        let annotations = pool.metadata.annotations.as_ref();
        let Some(hash) = annotations.and_then(|a| a.get(SET_ANNOTATION)) else {
            continue;
        };
        let size = annotations
            .and_then(|a| a.get(SET_SIZE_ANNOTATION))
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        let seen = sets.entry(hash.clone()).or_default();
        seen.size = seen.size.max(size);
        seen.pools.push(format!(
            "{:?}",
            pool.metadata.name.clone().unwrap_or_default()
        ));
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolb_api::v1beta1::IPAddressPoolSpec;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("timestamp"))
    }

    fn member(name: &str, hash: &str, size: &str) -> Arc<IPAddressPool> {
        let mut p = IPAddressPool::new(name, IPAddressPoolSpec::default());
        p.metadata.annotations = Some(
            [
                (SET_ANNOTATION.to_string(), hash.to_string()),
                (SET_SIZE_ANNOTATION.to_string(), size.to_string()),
            ]
            .into(),
        );
        Arc::new(p)
    }

    #[test]
    fn incomplete_sets_wait_then_are_reported_and_completion_opens() {
        let mut gate = SetGate::default();
        let a = [member("a", "h1", "2")];
        assert_eq!(gate.check(&a, &at(100)), Gate::Wait);
        assert_eq!(gate.check(&a, &at(159)), Gate::Wait);
        let Gate::Overdue(e) = gate.check(&a, &at(160)) else {
            panic!("not reported after {OVERDUE_SECS}s");
        };
        assert!(
            e.contains("\"h1\"") && e.contains("1 of 2") && e.contains("\"a\""),
            "{e}"
        );
        let both = [a[0].clone(), member("b", "h1", "2")];
        assert_eq!(gate.check(&both, &at(161)), Gate::Open);
    }

    #[test]
    fn the_clock_restarts_for_a_set_incomplete_again() {
        let mut gate = SetGate::default();
        let a = [member("a", "h1", "2")];
        assert_eq!(gate.check(&a, &at(0)), Gate::Wait);
        assert_eq!(gate.check(&[], &at(30)), Gate::Open, "set gone");
        assert_eq!(gate.check(&a, &at(61)), Gate::Wait, "waits anew");
    }

    #[test]
    fn unmarked_or_sizeless_pools_never_wait() {
        let mut gate = SetGate::default();
        let plain = Arc::new(IPAddressPool::new("p", IPAddressPoolSpec::default()));
        assert_eq!(gate.check(&[plain], &at(0)), Gate::Open);
        assert_eq!(gate.check(&[member("a", "h", "x")], &at(0)), Gate::Open);
        assert_eq!(gate.check(&[member("a", "h", "1")], &at(0)), Gate::Open);
    }
}
