//! Per-pool address counters for the `IPAddressPool` status and metrics.
//!
//! Owns [`PoolStats`], the four counters MetalLB writes to `IPAddressPool.status`
//! (`assignedIPv4`, `assignedIPv6`, `availableIPv4`, `availableIPv6`, all int64) plus the
//! pool size (`metallb_allocator_addresses_total`). Counts are kept in `u128` and saturate
//! at `i64::MAX` when reported, so an IPv6 /64 (or several, or a /0) never overflows to a
//! negative value (MetalLB bug, open PR #3140). `available` excludes `.0`/`.255` IPv4
//! addresses of `avoidBuggyIPs` pools, as MetalLB's `poolCount` does.

/// Saturating conversion of a count to the int64 of the Kubernetes status.
pub fn saturate(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Address counters of one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// IPv4 addresses in use (an address shared by several Services counts once).
    pub assigned_v4: i64,
    /// IPv6 addresses in use.
    pub assigned_v6: i64,
    /// IPv4 addresses still free.
    pub available_v4: i64,
    /// IPv6 addresses still free.
    pub available_v6: i64,
    /// Usable IPv4 addresses in the pool.
    pub total_v4: i64,
    /// IPv6 addresses in the pool.
    pub total_v6: i64,
}

impl PoolStats {
    /// Builds the counters from exact values.
    pub fn from_counts(
        assigned_v4: u128,
        assigned_v6: u128,
        total_v4: u128,
        total_v6: u128,
    ) -> Self {
        Self {
            assigned_v4: saturate(assigned_v4),
            assigned_v6: saturate(assigned_v6),
            available_v4: saturate(total_v4.saturating_sub(assigned_v4)),
            available_v6: saturate(total_v6.saturating_sub(assigned_v6)),
            total_v4: saturate(total_v4),
            total_v6: saturate(total_v6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_large_pools() {
        let s = PoolStats::from_counts(3, 5, 254, (1u128 << 64) * 3);
        assert_eq!(s.assigned_v4, 3);
        assert_eq!(s.available_v4, 251);
        assert_eq!(s.assigned_v6, 5);
        assert_eq!(s.available_v6, i64::MAX);
        assert_eq!(s.total_v6, i64::MAX);
        let s = PoolStats::from_counts(0, 0, 0, 1u128 << 62);
        assert_eq!(s.available_v6, 1i64 << 62);
        assert!(s.available_v6 > 0);
    }
}
