//! Shared fixtures of the announce tests, and the end-to-end check: plan → per-peer table →
//! `AdjRibOut`, where deleting a Service withdraws only what no other Service still needs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_core::LabelSelector;
use ipnet::IpNet;

use super::*;
use crate::fsm::PeerAsn;
use crate::message::CodecCtx;
use crate::pack::{AdjRibOut, Packer, RouteTable};
use crate::types::Family;

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

pub(super) fn net(s: &str) -> IpNet {
    s.parse().expect("net")
}

pub(super) fn labels(kv: &[(&str, &str)]) -> Labels {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn sel(k: &str, v: &str) -> LabelSelector {
    LabelSelector::from_labels([(k, v)])
}

pub(super) fn node(name: &str, kv: &[(&str, &str)]) -> NodeFacts {
    NodeFacts {
        name: name.to_owned(),
        labels: labels(kv),
        ..NodeFacts::default()
    }
}

/// An eBGP peer (myASN 64512) unless `peer_asn` is 64512.
pub(super) fn peer(name: &str, addr: &str, peer_asn: u32) -> PeerSpec {
    PeerSpec::new(name, ip(addr), 64512, PeerAsn::Fixed(peer_asn))
}

/// An ETP=Cluster Service with serving endpoints everywhere, from pool `pool`.
pub(super) fn svc(key: &str, ips: &[&str], pool: &str) -> ServiceFacts {
    ServiceFacts {
        key: key.to_owned(),
        ips: ips.iter().map(|s| ip(s)).collect(),
        pool: pool.to_owned(),
        serving_anywhere: true,
        serving_on_node: true,
        ..ServiceFacts::default()
    }
}

pub(super) fn pool_ad(name: &str, pool: &str) -> Advertisement {
    let mut ad = Advertisement::new(name);
    ad.ip_address_pools = vec![pool.to_owned()];
    ad
}

pub(super) fn run(
    node: &NodeFacts,
    peers: &[PeerSpec],
    ads: &[Advertisement],
    services: &[ServiceFacts],
) -> Plan {
    plan(&PlanInput {
        node,
        peers,
        advertisements: ads,
        pool_labels: &BTreeMap::new(),
        services,
    })
}

fn table_for(
    node: &NodeFacts,
    peers: &[PeerSpec],
    ads: &[Advertisement],
    services: &[ServiceFacts],
    local: &LocalAddresses,
) -> RouteTable {
    run(node, peers, ads, services).table(&peers[0], local, false)
}

fn withdrawn(updates: &[crate::message::Update]) -> Vec<IpNet> {
    updates
        .iter()
        .flat_map(|u| u.withdrawn.iter().map(|n| IpNet::V4(*n)))
        .collect()
}

fn announced(updates: &[crate::message::Update]) -> Vec<IpNet> {
    updates
        .iter()
        .flat_map(|u| u.nlri.iter().map(|n| IpNet::V4(*n)))
        .collect()
}

#[test]
fn service_delete_withdraws_only_its_prefix_not_a_shared_aggregate() {
    let n = node("n1", &[]);
    let peers = [peer("r1", "10.9.0.1", 64512)];
    let mut agg = pool_ad("agg24", "pool-a");
    agg.aggregation_length = 24;
    agg.local_pref = 200;
    let ads = [agg, pool_ad("host", "pool-b")];
    let s1 = svc("ns/s1", &["10.0.0.1"], "pool-a");
    let s2 = svc("ns/s2", &["10.0.0.2"], "pool-a");
    let s3 = svc("ns/s3", &["10.1.0.5"], "pool-b");
    let local = LocalAddresses {
        address: Some(ip("10.9.0.10")),
        interface: vec![],
    };
    let packer = Packer {
        ctx: CodecCtx::default(),
        local_asn: 64512,
        ibgp: true,
        ipv4_over_ipv6_next_hop: false,
    };
    let mut rib = AdjRibOut::new(packer, [Family::Ipv4Unicast]);

    let all = [s1.clone(), s2.clone(), s3.clone()];
    let initial = rib.initial(&table_for(&n, &peers, &ads, &all, &local));
    assert!(initial.rejected.is_empty());
    let mut sent = announced(&initial.updates);
    sent.sort();
    assert_eq!(sent, vec![net("10.0.0.0/24"), net("10.1.0.5/32")]);
    let agg_attrs = &rib.sent()[&net("10.0.0.0/24")];
    assert_eq!(agg_attrs.local_pref, Some(200));
    assert_eq!(agg_attrs.next_hop, ip("10.9.0.10"));

    // s1 goes: s2 still needs the /24, so nothing is sent at all.
    let after_s1 = rib.update(&table_for(&n, &peers, &ads, &[s2.clone(), s3], &local));
    assert!(after_s1.updates.is_empty(), "{:?}", after_s1.updates);

    // s3 goes: exactly its /32 is withdrawn.
    let after_s3 = rib.update(&table_for(&n, &peers, &ads, &[s2], &local));
    assert_eq!(withdrawn(&after_s3.updates), vec![net("10.1.0.5/32")]);
    assert!(announced(&after_s3.updates).is_empty());

    // The last user of the aggregate goes: the /24 is withdrawn.
    let after_s2 = rib.update(&table_for(&n, &peers, &ads, &[], &local));
    assert_eq!(withdrawn(&after_s2.updates), vec![net("10.0.0.0/24")]);
    assert!(rib.sent().is_empty());
}

#[test]
fn session_config_feeds_the_fsm_and_its_opens_negotiate() {
    let mut p = peer("r1", "10.9.0.1", 64600);
    p.local_asn = Some(64700);
    p.hold_time = Some(std::time::Duration::from_secs(9));
    let local = LocalAddresses {
        address: Some(ip("10.9.0.10")),
        interface: vec![],
    };
    let cfg = p.session_config("n1", &local).expect("config");
    let open = cfg.open();
    assert_eq!(open.my_as, 64700, "localASN replaces myASN on the wire");
    assert_eq!(open.hold_time, 9);
    assert_eq!(open.bgp_id, std::net::Ipv4Addr::new(10, 9, 0, 10));
    // The peer's side: a session configured the other way round accepts our OPEN.
    let mut other = cfg.clone();
    other.my_asn = 64600;
    other.peer_asn = PeerAsn::Fixed(64700);
    other.router_id = std::net::Ipv4Addr::new(10, 9, 0, 1);
    let n = crate::fsm::negotiate(&other, &open).expect("negotiates");
    assert!(!n.ibgp);
    assert_eq!(n.keepalive, 3);
}

#[test]
fn plan_tables_per_peer_with_source_address_next_hops() {
    let mut ibgp = peer("ibgp", "10.9.0.1", 64512);
    ibgp.source_address = Some(ip("10.9.0.20"));
    let ebgp = peer("ebgp", "10.9.0.2", 65001);
    let mut ad = Advertisement::new("all");
    ad.communities = vec![Community::Standard(7)];
    let p = run(
        &node("n1", &[]),
        &[ibgp.clone(), ebgp.clone()],
        &[ad],
        &[svc("ns/a", &["192.0.2.1"], "pool")],
    );
    let routed = Some(ip("10.9.0.10"));
    let local_of = |p: &PeerSpec| LocalAddresses {
        address: p.local_address(routed),
        interface: vec![],
    };
    let ti = p.table(&ibgp, &local_of(&ibgp), false);
    let te = p.table(&ebgp, &local_of(&ebgp), false);
    let a = &ti[&net("192.0.2.1/32")];
    assert_eq!(a.next_hop, ip("10.9.0.20"), "sourceAddress is the next hop");
    assert_eq!(a.local_pref, Some(100));
    assert_eq!(a.communities, [7]);
    let a = &te[&net("192.0.2.1/32")];
    assert_eq!(a.next_hop, ip("10.9.0.10"));
    assert_eq!(a.local_pref, None);
    let stranger = peer("stranger", "10.9.0.3", 65001);
    assert!(p.table(&stranger, &local_of(&stranger), false).is_empty());
}
