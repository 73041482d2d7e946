use super::*;
use crate::announce::tests::{labels, net, node, peer, pool_ad, run, sel, svc};
use crate::types::LargeCommunity;

fn skip(p: &Plan, key: &str) -> Option<NotAnnounced> {
    match p.services.get(key) {
        Some(ServiceDecision::Skip(r)) => Some(*r),
        _ => None,
    }
}

fn announced_to(p: &Plan, key: &str) -> Vec<String> {
    match p.services.get(key) {
        Some(ServiceDecision::Announce { peers, .. }) => peers.iter().cloned().collect(),
        other => panic!("{key} not announced: {other:?}"),
    }
}

fn prefixes(p: &Plan, peer: &str) -> Vec<IpNet> {
    p.routes[peer].keys().copied().collect()
}

fn two_peers() -> Vec<PeerSpec> {
    vec![peer("r1", "10.9.0.1", 65001), peer("r2", "10.9.0.2", 65002)]
}

#[test]
fn default_advertisement_announces_host_routes_to_every_peer() {
    let n = node("n1", &[]);
    let p = run(
        &n,
        &two_peers(),
        &[Advertisement::new("all")],
        &[svc("ns/a", &["192.0.2.10", "2001:db8::10"], "any")],
    );
    assert_eq!(announced_to(&p, "ns/a"), ["r1", "r2"]);
    for r in ["r1", "r2"] {
        assert_eq!(
            prefixes(&p, r),
            [net("192.0.2.10/32"), net("2001:db8::10/128")],
            "dual stack: one prefix per family"
        );
    }
    let ServiceDecision::Announce { prefixes, .. } = &p.services["ns/a"] else {
        panic!("announced");
    };
    assert_eq!(prefixes.len(), 2);
}

#[test]
fn pools_by_name_or_selector_or_all() {
    let n = node("n1", &[]);
    let peers = two_peers();
    let mut by_sel = Advertisement::new("by-sel");
    by_sel.ip_address_pool_selectors = vec![sel("tier", "gold")];
    let ads = [pool_ad("by-name", "pool-a"), by_sel];
    let pool_labels = BTreeMap::from([("pool-g".to_string(), labels(&[("tier", "gold")]))]);
    let services = [
        svc("ns/a", &["192.0.2.1"], "pool-a"),
        svc("ns/g", &["192.0.2.2"], "pool-g"),
        svc("ns/x", &["192.0.2.3"], "pool-x"),
    ];
    let p = plan(&PlanInput {
        node: &n,
        peers: &peers,
        advertisements: &ads,
        pool_labels: &pool_labels,
        services: &services,
    });
    assert_eq!(skip(&p, "ns/a"), None);
    assert_eq!(skip(&p, "ns/g"), None);
    assert_eq!(skip(&p, "ns/x"), Some(NotAnnounced::NotOwner));
    assert_eq!(
        prefixes(&p, "r1"),
        [net("192.0.2.1/32"), net("192.0.2.2/32")]
    );
}

#[test]
fn node_selectors_of_advertisements() {
    let peers = two_peers();
    let mut rack1 = pool_ad("rack1", "pool");
    rack1.node_selectors = vec![sel("rack", "r1")];
    rack1.communities = vec![Community::Standard(1)];
    let mut rack2 = pool_ad("rack2", "pool");
    rack2.node_selectors = vec![sel("rack", "r2")];
    rack2.communities = vec![Community::Standard(2)];
    let ads = [rack1, rack2];
    let services = [svc("ns/a", &["192.0.2.1"], "pool")];

    let on_r1 = run(&node("n1", &[("rack", "r1")]), &peers, &ads, &services);
    let route = &on_r1.routes["r1"][&net("192.0.2.1/32")];
    assert_eq!(
        route.communities.iter().copied().collect::<Vec<_>>(),
        [Community::Standard(1)],
        "only the ad selecting this node applies"
    );
    let elsewhere = run(&node("n3", &[("rack", "r3")]), &peers, &ads, &services);
    assert_eq!(skip(&elsewhere, "ns/a"), Some(NotAnnounced::NotOwner));
    assert!(elsewhere.routes["r1"].is_empty());
}

#[test]
fn service_selectors() {
    let n = node("n1", &[]);
    let mut ad = pool_ad("web", "pool");
    ad.service_selectors = vec![sel("app", "web")];
    let mut web = svc("ns/web", &["192.0.2.1"], "pool");
    web.labels = labels(&[("app", "web")]);
    let db = svc("ns/db", &["192.0.2.2"], "pool");
    let p = run(&n, &two_peers(), &[ad], &[web, db]);
    assert_eq!(skip(&p, "ns/web"), None);
    assert_eq!(
        skip(&p, "ns/db"),
        Some(NotAnnounced::NoMatchingAdvertisement)
    );
    assert_eq!(prefixes(&p, "r2"), [net("192.0.2.1/32")]);
}

#[test]
fn peers_restrict_and_unknown_names_mean_no_peer() {
    let n = node("n1", &[]);
    let mut only_r2 = pool_ad("only-r2", "p2");
    only_r2.peers = vec!["r2".into()];
    let mut ghost = pool_ad("ghost", "p3");
    ghost.peers = vec!["not-a-peer".into()];
    let services = [
        svc("ns/two", &["192.0.2.2"], "p2"),
        svc("ns/ghost", &["192.0.2.3"], "p3"),
    ];
    let p = run(&n, &two_peers(), &[only_r2, ghost], &services);
    assert_eq!(announced_to(&p, "ns/two"), ["r2"]);
    assert!(p.routes["r1"].is_empty());
    assert_eq!(prefixes(&p, "r2"), [net("192.0.2.2/32")]);
    assert!(announced_to(&p, "ns/ghost").is_empty());
    assert!(
        p.routes
            .values()
            .all(|t| !t.contains_key(&net("192.0.2.3/32"))),
        "an unknown peer name matches no peer"
    );
}

#[test]
fn peers_not_on_this_node_get_nothing() {
    let mut far = peer("far", "10.9.0.3", 65003);
    far.node_selectors = vec![sel("rack", "elsewhere")];
    let peers = [peer("r1", "10.9.0.1", 65001), far];
    let p = run(
        &node("n1", &[]),
        &peers,
        &[Advertisement::new("all")],
        &[svc("ns/a", &["192.0.2.1"], "pool")],
    );
    assert_eq!(p.routes.keys().collect::<Vec<_>>(), ["r1"]);
    assert_eq!(announced_to(&p, "ns/a"), ["r1"]);
}

#[test]
fn aggregation_is_shared_and_reference_counted() {
    let n = node("n1", &[]);
    let mut ad = pool_ad("agg", "pool");
    ad.aggregation_length = 24;
    ad.aggregation_length_v6 = 124;
    let a = svc("ns/a", &["192.0.2.1", "2001:db8::1"], "pool");
    let b = svc("ns/b", &["192.0.2.200", "2001:db8::f"], "pool");
    let c = svc("ns/c", &["192.0.3.7"], "pool");
    let ads = [ad];
    let peers = two_peers();
    let p = run(&n, &peers, &ads, &[a.clone(), b.clone(), c.clone()]);
    assert_eq!(
        prefixes(&p, "r1"),
        [
            net("192.0.2.0/24"),
            net("192.0.3.0/24"),
            net("2001:db8::/124")
        ]
    );
    let shared = &p.routes["r1"][&net("192.0.2.0/24")];
    assert_eq!(shared.services, 2, "a and b produce the /24");
    // Without a, b still holds both aggregates; without a and b they go.
    let p = run(&n, &peers, &ads, &[b, c.clone()]);
    assert!(p.routes["r1"].contains_key(&net("192.0.2.0/24")));
    assert!(p.routes["r1"].contains_key(&net("2001:db8::/124")));
    let p = run(&n, &peers, &ads, &[c]);
    assert_eq!(prefixes(&p, "r1"), [net("192.0.3.0/24")]);
}

#[test]
fn communities_union_and_highest_local_pref_on_a_shared_prefix() {
    let n = node("n1", &[]);
    let large = Community::Large(LargeCommunity {
        global: 1,
        local1: 2,
        local2: 3,
    });
    let mut ad1 = pool_ad("ad1", "pool");
    ad1.communities = vec![Community::Standard(10), Community::Standard(20)];
    ad1.local_pref = 150;
    let mut ad2 = pool_ad("ad2", "pool");
    ad2.communities = vec![Community::Standard(20), large];
    ad2.local_pref = 150;
    let p = run(
        &n,
        &two_peers(),
        &[ad1, ad2],
        &[svc("ns/a", &["192.0.2.1"], "pool")],
    );
    let r = &p.routes["r1"][&net("192.0.2.1/32")];
    assert_eq!(
        r.communities.iter().copied().collect::<Vec<_>>(),
        [Community::Standard(10), Community::Standard(20), large]
    );
    assert_eq!(r.local_pref, Some(150));

    // Two Services sharing an IP through different ads: the higher localPref wins.
    let mut low = pool_ad("low", "pool");
    low.local_pref = 50;
    low.service_selectors = vec![sel("app", "low")];
    let mut high = pool_ad("high", "pool");
    high.local_pref = 300;
    high.service_selectors = vec![sel("app", "high")];
    let mut s_low = svc("ns/low", &["192.0.2.9"], "pool");
    s_low.labels = labels(&[("app", "low")]);
    let mut s_high = svc("ns/high", &["192.0.2.9"], "pool");
    s_high.labels = labels(&[("app", "high")]);
    let p = run(&n, &two_peers(), &[low, high], &[s_low, s_high]);
    assert_eq!(p.routes["r2"][&net("192.0.2.9/32")].local_pref, Some(300));
    // localPref 0 is "unset".
    let p = run(
        &n,
        &two_peers(),
        &[Advertisement::new("plain")],
        &[svc("ns/a", &["192.0.2.1"], "pool")],
    );
    assert_eq!(p.routes["r1"][&net("192.0.2.1/32")].local_pref, None);
}

#[test]
fn conflicting_local_prefs_are_flagged_only_when_they_meet() {
    let n = node("n1", &[]);
    let services = [svc("ns/a", &["192.0.2.1"], "pool")];
    let ad = |name: &str, lp: u32, len: u8, peers: &[&str]| {
        let mut a = pool_ad(name, "pool");
        a.local_pref = lp;
        a.aggregation_length = len;
        a.peers = peers.iter().map(|p| (*p).to_owned()).collect();
        a
    };
    let decide = |ads: &[Advertisement]| skip(&run(&n, &two_peers(), ads, &services), "ns/a");
    assert_eq!(
        decide(&[ad("a", 50, 32, &[]), ad("b", 60, 32, &[])]),
        Some(NotAnnounced::ConflictingAdvertisements)
    );
    assert_eq!(
        decide(&[ad("a", 50, 32, &["r1"]), ad("b", 60, 32, &[])]),
        Some(NotAnnounced::ConflictingAdvertisements),
        "empty peers = all peers"
    );
    assert_eq!(
        decide(&[ad("a", 50, 32, &["r1"]), ad("b", 60, 32, &["r2"])]),
        None
    );
    assert_eq!(decide(&[ad("a", 50, 32, &[]), ad("b", 60, 24, &[])]), None);
    assert_eq!(decide(&[ad("a", 50, 32, &[]), ad("b", 50, 32, &[])]), None);
}

#[test]
fn node_conditions_and_endpoints() {
    let peers = two_peers();
    let ads = [Advertisement::new("all")];
    let mut n = node("n1", &[]);
    let base = svc("ns/a", &["192.0.2.1"], "pool");
    let decide = |n: &NodeFacts, s: &ServiceFacts| {
        skip(&run(n, &peers, &ads, std::slice::from_ref(s)), "ns/a")
    };
    assert_eq!(decide(&n, &base), None);

    let mut no_eps = base.clone();
    no_eps.serving_anywhere = false;
    no_eps.serving_on_node = false;
    assert_eq!(decide(&n, &no_eps), Some(NotAnnounced::NoEndpoints));

    let mut local = base.clone();
    local.traffic_policy = TrafficPolicy::Local;
    local.serving_on_node = false;
    assert_eq!(decide(&n, &local), Some(NotAnnounced::NoLocalEndpoints));
    local.serving_on_node = true;
    assert_eq!(decide(&n, &local), None);

    let mut cluster_elsewhere = base.clone();
    cluster_elsewhere.serving_on_node = false;
    assert_eq!(
        decide(&n, &cluster_elsewhere),
        None,
        "Cluster: any node's endpoint"
    );

    n.excluded_from_lb = true;
    assert_eq!(decide(&n, &base), Some(NotAnnounced::NodeExcluded));
    n.network_unavailable = true;
    assert_eq!(
        decide(&n, &base),
        Some(NotAnnounced::NodeNetworkUnavailable)
    );

    let no_ip = svc("ns/a", &[], "pool");
    assert_eq!(
        decide(&node("n1", &[]), &no_ip),
        Some(NotAnnounced::NoIpAllocated)
    );
    let p = run(&n, &peers, &ads, &[base]);
    assert!(p.routes.values().all(BTreeMap::is_empty));
}

#[test]
fn reasons_use_metallb_strings() {
    let all = [
        (NotAnnounced::NoIpAllocated, "noIPAllocated"),
        (NotAnnounced::NotOwner, "notOwner"),
        (
            NotAnnounced::NoMatchingAdvertisement,
            "noMatchingAdvertisement",
        ),
        (
            NotAnnounced::ConflictingAdvertisements,
            "conflictingAdvertisements",
        ),
        (
            NotAnnounced::NodeNetworkUnavailable,
            "nodeNetworkUnavailable",
        ),
        (NotAnnounced::NodeExcluded, "nodeLabeledExcludeBalancers"),
        (NotAnnounced::NoLocalEndpoints, "noLocalEndpoints"),
        (NotAnnounced::NoEndpoints, "noEndpoints"),
    ];
    for (r, s) in all {
        assert_eq!(r.to_string(), s);
    }
}

#[test]
fn an_out_of_range_aggregation_length_produces_no_prefix() {
    let mut ad = Advertisement::new("bad");
    ad.aggregation_length = 33;
    assert_eq!(ad.prefix("192.0.2.1".parse().expect("ip")), None);
    assert_eq!(
        ad.prefix("2001:db8::1".parse().expect("ip")),
        Some(net("2001:db8::1/128"))
    );
}
