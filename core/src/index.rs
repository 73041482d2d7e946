//! Index of used addresses for first-fit allocation without scanning.
//!
//! Owns [`UsedRuns`], the set of addresses in use of one family stored as coalesced runs
//! `start..=end`. MetalLB walks a CIDR address by address from its first address
//! (`getIPFromCIDR`, O(k) in the number of consecutive used addresses and O(pool size) on
//! failure); here the lowest free address of a CIDR is found by jumping over whole runs, so
//! the cost is O(log n) per run crossed (one run without `avoidBuggyIPs`, one per /24 with
//! it) and works for IPv6 /64 pools and larger.

use std::collections::BTreeMap;

use crate::addr::{self, IpFamily};

/// Used addresses of one family, as disjoint, non-adjacent runs `start -> end` (inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UsedRuns {
    runs: BTreeMap<u128, u128>,
}

impl UsedRuns {
    fn run_containing(&self, x: u128) -> Option<(u128, u128)> {
        self.runs
            .range(..=x)
            .next_back()
            .filter(|(_, e)| **e >= x)
            .map(|(s, e)| (*s, *e))
    }

    /// Whether `x` is used.
    #[cfg(test)]
    pub(crate) fn contains(&self, x: u128) -> bool {
        self.run_containing(x).is_some()
    }

    /// Marks `x` used; returns false if it already was.
    pub(crate) fn insert(&mut self, x: u128) -> bool {
        if self.run_containing(x).is_some() {
            return false;
        }
        let mut start = x;
        let mut end = x;
        if let Some(prev) = x.checked_sub(1)
            && let Some((s, _)) = self.run_containing(prev)
        {
            start = s;
        }
        if let Some(next) = x.checked_add(1)
            && let Some(e) = self.runs.remove(&next)
        {
            end = e;
        }
        self.runs.insert(start, end);
        true
    }

    /// Marks `x` free; returns false if it was not used.
    pub(crate) fn remove(&mut self, x: u128) -> bool {
        let Some((s, e)) = self.run_containing(x) else {
            return false;
        };
        self.runs.remove(&s);
        if s < x {
            self.runs.insert(s, x - 1);
        }
        if x < e {
            self.runs.insert(x + 1, e);
        }
        true
    }

    /// Lowest unused address in `lo..=hi`, skipping `.0`/`.255` IPv4 addresses when
    /// `avoid_buggy` is set.
    pub(crate) fn first_free(
        &self,
        family: IpFamily,
        lo: u128,
        hi: u128,
        avoid_buggy: bool,
    ) -> Option<u128> {
        let mut c = lo;
        while c <= hi {
            if avoid_buggy && addr::is_buggy(family, c) {
                c = c.checked_add(1)?;
            } else if let Some((_, e)) = self.run_containing(c) {
                c = e.checked_add(1)?;
            } else {
                return Some(c);
            }
        }
        None
    }

    /// Number of runs (for tests of coalescing).
    #[cfg(test)]
    pub(crate) fn run_count(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn coalesces_and_splits() {
        let mut u = UsedRuns::default();
        assert!(u.insert(5));
        assert!(u.insert(7));
        assert_eq!(u.run_count(), 2);
        assert!(u.insert(6));
        assert_eq!(u.run_count(), 1);
        assert!(!u.insert(6));
        assert!(u.remove(6));
        assert_eq!(u.run_count(), 2);
        assert!(!u.contains(6) && u.contains(5) && u.contains(7));
        assert!(!u.remove(6));
        assert!(u.insert(u128::MAX) && u.insert(0));
        assert!(u.contains(u128::MAX) && u.contains(0));
    }

    #[test]
    fn first_free_jumps_runs() {
        let mut u = UsedRuns::default();
        for x in 10..=1000 {
            u.insert(x);
        }
        assert_eq!(u.first_free(IpFamily::V6, 10, 2000, false), Some(1001));
        assert_eq!(u.first_free(IpFamily::V6, 10, 1000, false), None);
        assert_eq!(u.first_free(IpFamily::V6, 0, 1000, false), Some(0));
        // IPv6 /64 worth of space: no iteration over it.
        let lo = 1u128 << 64;
        let hi = lo + (1u128 << 64) - 1;
        u.insert(lo);
        assert_eq!(u.first_free(IpFamily::V6, lo, hi, false), Some(lo + 1));
        u.insert(hi);
        assert_eq!(u.first_free(IpFamily::V6, hi, hi, false), None);
    }

    #[test]
    fn first_free_avoids_buggy_ipv4() {
        let u = UsedRuns::default();
        // 10.0.0.0..10.0.1.255
        let lo = 0x0a00_0000;
        assert_eq!(u.first_free(IpFamily::V4, lo, lo + 511, true), Some(lo + 1));
        let mut u = UsedRuns::default();
        for x in lo + 1..=lo + 254 {
            u.insert(x);
        }
        assert_eq!(
            u.first_free(IpFamily::V4, lo, lo + 511, true),
            Some(lo + 257)
        );
        assert_eq!(u.first_free(IpFamily::V4, lo, lo + 511, false), Some(lo));
        assert_eq!(u.first_free(IpFamily::V4, lo, lo + 255, true), None);
    }

    proptest! {
        #[test]
        fn matches_naive_model(ops in prop::collection::vec((any::<bool>(), 240u128..300), 0..200),
                               lo in 240u128..300, len in 0u128..64, avoid in any::<bool>()) {
            let mut u = UsedRuns::default();
            let mut model = BTreeSet::new();
            for (ins, x) in ops {
                if ins {
                    prop_assert_eq!(u.insert(x), model.insert(x));
                } else {
                    prop_assert_eq!(u.remove(x), model.remove(&x));
                }
            }
            let hi = lo + len;
            let usable = |x: &u128| !(model.contains(x) || avoid && addr::is_buggy(IpFamily::V4, *x));
            let naive = (lo..=hi).find(usable);
            prop_assert_eq!(u.first_free(IpFamily::V4, lo, hi, avoid), naive);
        }
    }
}
