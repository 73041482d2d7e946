//! Address arithmetic shared by the pool parser and the allocator.
//!
//! Owns the IP family type and the mapping of IPv4/IPv6 addresses onto `u128`, so that
//! allocation can do range arithmetic on both families without iterating addresses. Also
//! owns MetalLB's "buggy IP" rule (`ipConfusesBuggyFirmwares`): an IPv4 address whose last
//! octet is 0 or 255.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// Family of an address.
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// Family of a network.
    pub fn of_net(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Self::V4,
            IpNet::V6(_) => Self::V6,
        }
    }

    /// The other family.
    pub fn other(self) -> Self {
        match self {
            Self::V4 => Self::V6,
            Self::V6 => Self::V4,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}

/// Numeric value of an address (IPv4 in the low 32 bits).
pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Address of the given family with the given numeric value (IPv4 uses the low 32 bits).
pub(crate) fn from_u128(family: IpFamily, value: u128) -> IpAddr {
    match family {
        // Truncation is intended: IPv4 values always fit in 32 bits by construction.
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::from((value & 0xffff_ffff) as u32)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// First and last address (inclusive) of a network, as numbers.
pub(crate) fn net_bounds(net: &IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

/// MetalLB's `ipConfusesBuggyFirmwares`: IPv4 addresses ending in `.0` or `.255`.
pub(crate) fn is_buggy(family: IpFamily, value: u128) -> bool {
    family == IpFamily::V4 && matches!(value & 0xff, 0 | 255)
}

/// Same as [`is_buggy`] on an address.
pub(crate) fn ip_is_buggy(ip: &IpAddr) -> bool {
    is_buggy(IpFamily::of(ip), to_u128(*ip))
}

/// Number of addresses in a network, saturating at `u128::MAX` for an IPv6 `/0`.
pub(crate) fn net_size(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

/// Number of `.0`/`.255` addresses inside an IPv4 network (0 for IPv6).
pub(crate) fn buggy_count(net: &IpNet) -> u128 {
    match net {
        IpNet::V6(_) => 0,
        IpNet::V4(n) if n.prefix_len() <= 24 => 2u128 << (24 - n.prefix_len()),
        IpNet::V4(_) => {
            let (lo, hi) = net_bounds(net);
            u128::from(lo & 0xff == 0) + u128::from(hi & 0xff == 255)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u128_round_trip() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "fd00::1:2".parse().unwrap();
        assert_eq!(from_u128(IpFamily::V4, to_u128(v4)), v4);
        assert_eq!(from_u128(IpFamily::V6, to_u128(v6)), v6);
        assert_eq!(to_u128(v4), 0x0a01_0203);
    }

    #[test]
    fn sizes_and_buggy_counts() {
        let n: IpNet = "10.0.0.0/16".parse().unwrap();
        assert_eq!(net_size(&n), 65536);
        assert_eq!(buggy_count(&n), 512);
        let n: IpNet = "10.0.0.0/25".parse().unwrap();
        assert_eq!(buggy_count(&n), 1);
        let n: IpNet = "10.0.0.128/25".parse().unwrap();
        assert_eq!(buggy_count(&n), 1);
        let n: IpNet = "10.0.0.64/26".parse().unwrap();
        assert_eq!(buggy_count(&n), 0);
        let n: IpNet = "::/0".parse().unwrap();
        assert_eq!(net_size(&n), u128::MAX);
        let n: IpNet = "fd00::/64".parse().unwrap();
        assert_eq!(net_size(&n), 1u128 << 64);
    }

    #[test]
    fn buggy_rule_is_ipv4_only() {
        assert!(is_buggy(IpFamily::V4, to_u128("10.0.0.0".parse().unwrap())));
        assert!(is_buggy(
            IpFamily::V4,
            to_u128("10.0.0.255".parse().unwrap())
        ));
        assert!(!is_buggy(
            IpFamily::V4,
            to_u128("10.0.0.1".parse().unwrap())
        ));
        assert!(!is_buggy(
            IpFamily::V6,
            to_u128("fd00::ff".parse().unwrap())
        ));
    }
}
