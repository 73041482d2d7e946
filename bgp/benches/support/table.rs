//! The 2,000-prefix desired table the `pack` bench and the `rib_memory` example measure:
//! 1,000 IPv4 /32 and 1,000 IPv6 /128, two community values (so 4 attribute groups), equal
//! attributes shared ([`ferrolb_bgp::pack::share`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_bgp::pack::{RouteAttrs, RouteTable, share};
use ipnet::IpNet;

/// IPv4 and IPv6 prefixes each in the table.
pub const PER_FAMILY: u32 = 1000;

pub fn table() -> RouteTable {
    let mut t = BTreeMap::new();
    let v4 = RouteAttrs::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let v6 = RouteAttrs::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    for i in 0..PER_FAMILY {
        let mut a4 = v4.clone();
        let mut a6 = v6.clone();
        a4.communities = vec![64512 << 16 | (i % 2)];
        a6.communities = a4.communities.clone();
        let p4 = IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 32).expect("v4");
        let p6 = IpNet::new(
            IpAddr::V6(Ipv6Addr::from(0x2001_0db8_0001_u128 << 80 | u128::from(i))),
            128,
        )
        .expect("v6");
        t.insert(p4, a4);
        t.insert(p6, a6);
    }
    share(t)
}
