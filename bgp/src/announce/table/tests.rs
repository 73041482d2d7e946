use std::collections::BTreeSet;

use super::*;
use crate::announce::tests::{ip, net};
use crate::types::LargeCommunity;

fn local(addr: &str, iface: &[&str]) -> LocalAddresses {
    LocalAddresses {
        address: Some(ip(addr)),
        interface: iface.iter().map(|a| ip(a)).collect(),
    }
}

fn routes(prefixes: &[&str]) -> BTreeMap<IpNet, Route> {
    prefixes
        .iter()
        .map(|p| (net(p), Route::default()))
        .collect()
}

#[test]
fn local_pref_only_on_ibgp_and_100_when_unset() {
    let l = local("10.9.0.10", &[]);
    let mut r = routes(&["192.0.2.1/32", "192.0.2.2/32"]);
    if let Some(x) = r.get_mut(&net("192.0.2.2/32")) {
        x.local_pref = Some(250);
    }
    let view = |ibgp| SessionView {
        ibgp,
        local: &l,
        ipv4_over_ipv6_next_hop: false,
    };
    let ibgp = peer_table(&r, &view(true));
    assert_eq!(
        ibgp[&net("192.0.2.1/32")].local_pref,
        Some(DEFAULT_LOCAL_PREF)
    );
    assert_eq!(ibgp[&net("192.0.2.2/32")].local_pref, Some(250));
    let ebgp = peer_table(&r, &view(false));
    assert!(ebgp.values().all(|a| a.local_pref.is_none()));
    assert!(
        ebgp.values()
            .all(|a| a.as_path.is_empty() && a.med.is_none())
    );
}

#[test]
fn communities_split_into_standard_and_large() {
    let large = LargeCommunity {
        global: 7,
        local1: 8,
        local2: 9,
    };
    let route = Route {
        local_pref: None,
        communities: BTreeSet::from([
            Community::Standard(5),
            Community::Large(large),
            Community::Standard(3),
        ]),
        services: 1,
    };
    let a = route_attrs(&route, ip("10.0.0.1"), false);
    assert_eq!(a.communities, [3, 5]);
    assert_eq!(a.large_communities, [large]);
}

#[test]
fn next_hops_over_an_ipv4_session() {
    let with_v6 = local("10.9.0.10", &["10.9.0.10", "fe80::1", "fd00::10"]);
    assert_eq!(
        next_hop(Family::Ipv4Unicast, &with_v6, false),
        Some(ip("10.9.0.10"))
    );
    assert_eq!(
        next_hop(Family::Ipv6Unicast, &with_v6, false),
        Some(ip("fd00::10")),
        "global IPv6 of the interface, not link-local"
    );
    let only_ll = local("10.9.0.10", &["fe80::1"]);
    assert_eq!(next_hop(Family::Ipv6Unicast, &only_ll, true), None);
    let t = peer_table(
        &routes(&["192.0.2.1/32", "2001:db8::1/128"]),
        &SessionView {
            ibgp: false,
            local: &only_ll,
            ipv4_over_ipv6_next_hop: false,
        },
    );
    assert_eq!(t.keys().copied().collect::<Vec<_>>(), [net("192.0.2.1/32")]);
}

#[test]
fn next_hops_over_an_ipv6_session() {
    let bare = local("fd00::10", &["fd00::10"]);
    assert_eq!(
        next_hop(Family::Ipv6Unicast, &bare, false),
        Some(ip("fd00::10"))
    );
    assert_eq!(
        next_hop(Family::Ipv4Unicast, &bare, false),
        None,
        "IPv4 over IPv6 without RFC 8950 is not sent"
    );
    assert_eq!(
        next_hop(Family::Ipv4Unicast, &bare, true),
        Some(ip("fd00::10")),
        "RFC 8950: the IPv6 local address"
    );
    let with_v4 = local("fd00::10", &["127.0.0.1", "169.254.0.3", "10.9.0.10"]);
    assert_eq!(
        next_hop(Family::Ipv4Unicast, &with_v4, true),
        Some(ip("10.9.0.10")),
        "the interface's usable IPv4 address first"
    );
    assert_eq!(
        next_hop(Family::Ipv4Unicast, &LocalAddresses::default(), true),
        None,
        "no local address yet: nothing"
    );
}

#[test]
fn an_ipv4_route_with_an_ipv6_next_hop_packs_only_with_rfc8950() {
    use crate::message::CodecCtx;
    use crate::pack::Packer;
    let l = local("fd00::10", &[]);
    let r = routes(&["192.0.2.1/32"]);
    let t = peer_table(
        &r,
        &SessionView {
            ibgp: false,
            local: &l,
            ipv4_over_ipv6_next_hop: true,
        },
    );
    let mut packer = Packer {
        ctx: CodecCtx::default(),
        local_asn: 64512,
        ibgp: false,
        ipv4_over_ipv6_next_hop: true,
    };
    let ok = packer.announce(t.iter().map(|(p, a)| (*p, &**a)));
    assert!(ok.rejected.is_empty());
    assert_eq!(ok.updates.len(), 1);
    packer.ipv4_over_ipv6_next_hop = false;
    let refused = packer.announce(t.iter().map(|(p, a)| (*p, &**a)));
    assert_eq!(refused.rejected, [net("192.0.2.1/32")]);
}

#[test]
fn equal_attributes_of_a_peer_share_one_allocation() {
    let l = local("10.9.0.10", &["fd00::10"]);
    let r: BTreeMap<IpNet, Route> = (0..500u32)
        .flat_map(|i| {
            [
                format!("10.200.{}.{}/32", i / 256, i % 256),
                format!("fd00:200::{i:x}/128"),
            ]
        })
        .map(|p| (net(&p), Route::default()))
        .collect();
    let view = SessionView {
        ibgp: false,
        local: &l,
        ipv4_over_ipv6_next_hop: false,
    };
    let t = peer_table(&r, &view);
    assert_eq!(t.len(), 1000);
    let distinct: Vec<*const RouteAttrs> = t
        .values()
        .map(std::sync::Arc::as_ptr)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(distinct.len(), 2, "one attribute set per next-hop family");
}
