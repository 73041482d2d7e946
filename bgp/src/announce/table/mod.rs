//! One session's desired table: the node's [`Route`]s for a peer turned into the
//! [`RouteAttrs`] that [`crate::pack::AdjRibOut`] (via [`crate::fsm::Session::set_routes`])
//! takes.
//!
//! - ORIGIN IGP, empty AS_PATH (the packer prepends the session's ASN on eBGP), as MetalLB.
//! - LOCAL_PREF only on iBGP; unset there ⇒ 100 (FRR's default, which MetalLB's FRR modes
//!   send; the native speaker sent 0).
//! - Next hop of the prefix's family: the session's local address (MetalLB native: "NEXT_HOP
//!   = local address of the TCP connection"; FRR `update-source`). For the other family, as
//!   FRR with `dualStackAddressFamily` (`bgp_nexthop_set`): the first usable address of that
//!   family on the session's interface (global IPv6, not link-local). An IPv4 prefix with
//!   no such address goes over an IPv6 session with the IPv6 local address as next hop only
//!   when RFC 8950 extended next hop was negotiated; otherwise, and for an IPv6 prefix with
//!   no IPv6 address, the prefix is not sent on that session (FRR would fall back to the
//!   router ID or an IPv4-mapped address, which routers cannot use).

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::community::Community;
use super::decide::{Plan, Route};
use super::peer::{LocalAddresses, PeerSpec};
use crate::pack::{DEFAULT_LOCAL_PREF, Interner, RouteAttrs, RouteTable};
use crate::types::Family;

/// What the table of one session depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView<'a> {
    /// iBGP session ([`super::PeerSpec::is_ibgp`]).
    pub ibgp: bool,
    /// The session's local addresses.
    pub local: &'a LocalAddresses,
    /// RFC 8950 negotiated ([`crate::fsm::Negotiated::ipv4_over_ipv6_next_hop`]; before
    /// Established, what we offer: the packer drops it if the peer does not agree).
    pub ipv4_over_ipv6_next_hop: bool,
}

/// An address usable as a next hop: not unspecified, loopback, multicast or link-local.
fn usable(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_link_local())
        }
        IpAddr::V6(a) => {
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_unicast_link_local())
        }
    }
}

/// The next hop for prefixes of `family` on a session (module doc), if it can carry them.
pub fn next_hop(
    family: Family,
    local: &LocalAddresses,
    ipv4_over_ipv6_next_hop: bool,
) -> Option<IpAddr> {
    let session = local.address?;
    if Family::of_addr(&session) == family {
        return Some(session);
    }
    let same_iface = local
        .interface
        .iter()
        .find(|a| Family::of_addr(a) == family && usable(a));
    match (same_iface, family) {
        (Some(a), _) => Some(*a),
        (None, Family::Ipv4Unicast) if ipv4_over_ipv6_next_hop => Some(session),
        (None, _) => None,
    }
}

/// The wire attributes of one route on a session.
pub fn route_attrs(route: &Route, next_hop: IpAddr, ibgp: bool) -> RouteAttrs {
    let mut attrs = RouteAttrs::new(next_hop);
    attrs.local_pref = ibgp.then(|| route.local_pref.unwrap_or(DEFAULT_LOCAL_PREF));
    for c in &route.communities {
        match c {
            Community::Standard(v) => attrs.communities.push(*v),
            Community::Large(l) => attrs.large_communities.push(*l),
        }
    }
    attrs
}

/// The session's desired table; prefixes without a usable next hop are left out. Equal
/// attributes share one allocation ([`Interner`]).
pub fn peer_table(routes: &BTreeMap<IpNet, Route>, session: &SessionView<'_>) -> RouteTable {
    let hops: BTreeMap<Family, Option<IpAddr>> = Family::ALL
        .iter()
        .map(|f| {
            (
                *f,
                next_hop(*f, session.local, session.ipv4_over_ipv6_next_hop),
            )
        })
        .collect();
    let mut interner = Interner::default();
    routes
        .iter()
        .filter_map(|(prefix, route)| {
            let nh = hops.get(&Family::of(prefix)).copied().flatten()?;
            Some((
                *prefix,
                interner.intern(route_attrs(route, nh, session.ibgp)),
            ))
        })
        .collect()
}

impl Plan {
    /// The desired table of `peer`'s session on this node ([`peer_table`] of its routes;
    /// empty for a peer that is not on this node).
    pub fn table(
        &self,
        peer: &PeerSpec,
        local: &LocalAddresses,
        ipv4_over_ipv6_next_hop: bool,
    ) -> RouteTable {
        let view = SessionView {
            ibgp: peer.is_ibgp(),
            local,
            ipv4_over_ipv6_next_hop,
        };
        self.routes
            .get(&peer.name)
            .map(|routes| peer_table(routes, &view))
            .unwrap_or_default()
    }
}
