use std::net::IpAddr;

use ferrolb_bgp::announce::{LocalAddresses, PeerSpec};
use ferrolb_bgp::fsm::PeerAsn;

use super::*;

fn peer(name: &str, addr: &str) -> PeerSpec {
    PeerSpec::new(
        name,
        addr.parse::<IpAddr>().expect("ip"),
        64512,
        PeerAsn::Fixed(64513),
    )
}

fn local() -> LocalAddresses {
    LocalAddresses {
        address: Some("172.18.0.10".parse().expect("ip")),
        interface: Vec::new(),
    }
}

fn ids(peers: &[PeerSpec]) -> BTreeMap<String, SessionIdentity> {
    let refs: Vec<&PeerSpec> = peers.iter().collect();
    let (ok, errors) = wanted_sessions(&refs, "n1", |_| local());
    assert!(errors.is_empty(), "{errors:?}");
    ok.into_iter().map(|(n, (_, id))| (n, id)).collect()
}

#[test]
fn unchanged_identity_keeps_the_session() {
    let a = ids(&[peer("frr", "172.18.0.1"), peer("gobgp", "172.18.0.2")]);
    // A different peer name order, node selectors or BFD profile do not change identities.
    let mut frr = peer("frr", "172.18.0.1");
    frr.bfd_profile = Some("fast".into());
    frr.node_selectors = vec![ferrolb_core::LabelSelector::default()];
    let b = ids(&[peer("gobgp", "172.18.0.2"), frr]);
    let d = diff_sessions(&a, &b);
    assert_eq!(d.keep, vec!["frr".to_string(), "gobgp".to_string()]);
    assert!(d.start.is_empty() && d.restart.is_empty() && d.stop.is_empty());
}

#[test]
fn changed_identity_restarts_new_peer_starts_removed_peer_stops() {
    let a = ids(&[peer("frr", "172.18.0.1"), peer("gobgp", "172.18.0.2")]);
    let mut frr = peer("frr", "172.18.0.1");
    frr.password = Some("new key".into());
    let b = ids(&[frr, peer("bird", "172.18.0.3")]);
    let d = diff_sessions(&a, &b);
    assert_eq!(d.restart, vec!["frr".to_string()]);
    assert_eq!(d.start, vec!["bird".to_string()]);
    assert_eq!(d.stop, vec!["gobgp".to_string()]);
    assert!(d.keep.is_empty());

    let mut hold = peer("frr", "172.18.0.1");
    hold.hold_time = Some(Duration::from_secs(30));
    let d = diff_sessions(&ids(&[peer("frr", "172.18.0.1")]), &ids(&[hold]));
    assert_eq!(
        d.restart,
        vec!["frr".to_string()],
        "a timer change restarts"
    );
}

#[test]
fn an_unusable_peer_is_reported_not_started() {
    let mut bad = peer("v6id", "172.18.0.1");
    bad.router_id = Some("fc00::1".parse().expect("ip"));
    let good = peer("frr", "172.18.0.1");
    let (ok, errors) = wanted_sessions(&[&bad, &good], "n1", |_| local());
    assert_eq!(ok.keys().collect::<Vec<_>>(), vec!["frr"]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "v6id");
    assert!(errors[0].1.contains("routerID"), "{}", errors[0].1);
}

#[test]
fn transport_follows_frr_ttl_rules_and_the_routed_source_is_found() {
    let ebgp = peer("frr", "127.0.0.1");
    assert_eq!(ebgp.transport().ttl, 1);
    let mut multihop = peer("frr", "127.0.0.1");
    multihop.ebgp_multihop = true;
    assert_eq!(multihop.transport().ttl, 255);
    let l = transport::local_addresses(&ebgp.transport());
    assert_eq!(l.address, Some("127.0.0.1".parse().expect("ip")));
}

#[test]
fn after_shutdown_only_sessions_kept_for_graceful_restart_stay_reported() {
    let frr = peer("frr", "172.18.0.1");
    let gobgp = peer("gobgp", "172.18.0.2");
    let mut reports: BTreeMap<String, SessionReport> = [&frr, &gobgp]
        .into_iter()
        .map(|p| (p.name.clone(), SessionReport::default_for(p)))
        .collect();
    let key = |n: &str| crate::plan::ServiceKey {
        namespace: "apps".into(),
        name: n.into(),
    };
    let mut services = BTreeMap::from([
        (
            key("both"),
            vec!["frr".to_string(), "gobgp".to_string()].into(),
        ),
        (key("gobgp-only"), vec!["gobgp".to_string()].into()),
    ]);
    let kept = BTreeSet::from(["frr".to_string()]);
    let mut removed = Vec::new();
    keep_only(&mut reports, &mut services, &kept, |a| removed.push(a));
    assert_eq!(reports.keys().collect::<Vec<_>>(), vec!["frr"]);
    assert_eq!(
        removed,
        vec![gobgp.transport().peer],
        "the Ceased session's metrics go"
    );
    assert_eq!(
        services,
        BTreeMap::from([(key("both"), PeerNames::from(vec!["frr".to_string()]))]),
        "a Service stays advertised only through the kept session"
    );
}

#[test]
fn sessions_get_routes_without_service_counts_and_equal_tables_are_shared() {
    let route = |services: u32| announce::Route {
        local_pref: Some(150),
        communities: Default::default(),
        services,
    };
    let p1: ipnet::IpNet = "10.0.0.1/32".parse().expect("prefix");
    let p2: ipnet::IpNet = "10.0.0.2/32".parse().expect("prefix");
    let mut decisions = announce::Plan::default();
    for name in ["frr", "gobgp"] {
        decisions.routes.insert(
            name.to_string(),
            [(p1, route(1)), (p2, route(2))].into_iter().collect(),
        );
    }
    decisions
        .routes
        .insert("bird".to_string(), [(p1, route(1))].into_iter().collect());
    let (frr, gobgp, bird) = (
        peer("frr", "172.18.0.1"),
        peer("gobgp", "172.18.0.2"),
        peer("bird", "172.18.0.3"),
    );
    let r = peer_routes(&frr, &decisions);
    assert_eq!(r.routes.len(), 2);
    assert!(r.routes.values().all(|x| x.services == 0));
    assert_eq!(
        r.routes[&p1].local_pref,
        Some(150),
        "what the session sends is kept"
    );

    let mut cache = Vec::new();
    let a = shared(&mut cache, peer_routes(&frr, &decisions));
    let b = shared(&mut cache, peer_routes(&gobgp, &decisions));
    let c = shared(&mut cache, peer_routes(&bird, &decisions));
    assert!(Arc::ptr_eq(&a, &b), "equal tables: one copy");
    assert!(!Arc::ptr_eq(&a, &c));
    assert_eq!(cache.len(), 2);
}
