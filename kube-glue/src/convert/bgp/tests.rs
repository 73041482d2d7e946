use super::*;
use ferrolb_bgp::announce::Community as Comm;
use serde_json::json;

fn peer(spec: serde_json::Value) -> BGPPeer {
    serde_json::from_value(json!({
        "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
        "metadata": {"name": "frr", "namespace": "metallb-system"},
        "spec": spec
    }))
    .expect("peer")
}

fn secret(name: &str, ty: Option<&str>, password: Option<&str>) -> Secret {
    let mut v = json!({"metadata": {"name": name, "namespace": "metallb-system"}, "data": {}});
    if let Some(t) = ty {
        v["type"] = json!(t);
    }
    if let Some(p) = password {
        v["data"]["password"] = json!(base64(p.as_bytes()));
    }
    serde_json::from_value(v).expect("secret")
}

/// Secret `data` is base64 on the wire.
fn base64(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_full_peer_converts_with_every_field() {
    let p = peer(json!({
        "myASN": 4200000001u32, "peerASN": 64513, "peerAddress": "172.18.0.1", "peerPort": 1179,
        "sourceAddress": "172.18.0.10", "holdTime": "9s", "keepaliveTime": "3s",
        "connectTime": "5s", "routerID": "10.0.0.1", "ebgpMultiHop": true, "password": "pw",
        "localASN": 64600, "nodeSelectors": [{"matchLabels": {"zone": "a"}}],
        "bfdProfile": "fast", "enableGracefulRestart": true, "dualStackAddressFamily": true
    }));
    let s = bgp_peer(&p, &[]).expect("converts");
    assert_eq!(s.name, "frr");
    assert_eq!(s.address, "172.18.0.1".parse::<IpAddr>().expect("ip"));
    assert_eq!(s.port, 1179);
    assert_eq!(s.my_asn, 4_200_000_001);
    assert_eq!(s.peer_asn, PeerAsn::Fixed(64513));
    assert_eq!(s.local_asn, Some(64600));
    assert_eq!(s.source_address, Some("172.18.0.10".parse().expect("ip")));
    assert_eq!(s.hold_time, Some(Duration::from_secs(9)));
    assert_eq!(s.keepalive_time, Some(Duration::from_secs(3)));
    assert_eq!(s.connect_time, Some(Duration::from_secs(5)));
    assert_eq!(s.router_id, Some("10.0.0.1".parse().expect("ip")));
    assert!(s.ebgp_multihop && s.enable_graceful_restart && s.dual_stack_address_family);
    assert_eq!(s.password.as_deref(), Some("pw"));
    assert_eq!(s.bfd_profile.as_deref(), Some("fast"));
    assert_eq!(s.node_selectors.len(), 1);
}

#[test]
fn dynamic_asn_and_defaults() {
    let p = peer(json!({"myASN": 64512, "dynamicASN": "external", "peerAddress": "fc00::1"}));
    let s = bgp_peer(&p, &[]).expect("converts");
    assert_eq!(s.peer_asn, PeerAsn::External);
    assert_eq!(s.port, 0, "0 means 179 (PeerSpec::transport)");
    assert_eq!(s.transport().peer.port(), 179);
    assert!(s.password.is_none() && s.hold_time.is_none());
}

#[test]
fn password_secret_is_read_from_a_basic_auth_secret() {
    let p = peer(
        json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "172.18.0.1",
        "passwordSecret": {"name": "bgp-pw", "namespace": "metallb-system"}}),
    );
    let good = secret("bgp-pw", Some(BASIC_AUTH), Some("s3cret"));
    let other = secret("other", Some(BASIC_AUTH), Some("nope"));
    let s = bgp_peer(&p, &[&other, &good]).expect("converts");
    assert_eq!(s.password.as_deref(), Some("s3cret"));

    let e = bgp_peer(&p, &[&other]).expect_err("missing secret");
    assert_eq!(
        e.to_string(),
        "BGPPeer \"frr\": spec.passwordSecret: Secret \"bgp-pw\" not found"
    );
    let opaque = secret("bgp-pw", Some("Opaque"), Some("x"));
    let e = bgp_peer(&p, &[&opaque]).expect_err("wrong type");
    assert!(e.to_string().contains("has type \"Opaque\""), "{e}");
    let nokey = secret("bgp-pw", Some(BASIC_AUTH), None);
    let e = bgp_peer(&p, &[&nokey]).expect_err("no key");
    assert!(e.to_string().contains("has no key \"password\""), "{e}");
}

#[test]
fn invalid_peers_name_the_field() {
    let cases = [
        (
            json!({"myASN": 1, "peerASN": 2}),
            "spec.peerAddress: missing",
        ),
        (
            json!({"myASN": 1, "peerASN": 2, "peerAddress": "nope"}),
            "spec.peerAddress: \"nope\" is not an IP address",
        ),
        (
            json!({"myASN": 1, "peerAddress": "10.0.0.1"}),
            "spec.peerASN: peerASN or dynamicASN is required",
        ),
        (
            json!({"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "holdTime": "1s"}),
            "spec.holdTime: BGPPeer frr: spec.holdTime 1s: must be 0 or >=3s",
        ),
        (
            json!({"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "holdTime": "x"}),
            "spec.holdTime: time: invalid duration \"x\"",
        ),
        (
            json!({"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "interface": "eth0"}),
            "spec.interface: unnumbered peers are not supported",
        ),
    ];
    for (spec, want) in cases {
        let e = bgp_peer(&peer(spec), &[]).expect_err(want);
        assert_eq!(e.to_string(), format!("BGPPeer \"frr\": {want}"));
    }
}

fn community(name: &str, aliases: &[(&str, &str)]) -> Community {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": {"communities": aliases.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()}
    }))
    .expect("community")
}

#[test]
fn advertisements_resolve_aliases_and_defaults() {
    let aliases = community_aliases(&[
        &community("b", &[("gold", "large:1:2:3")]),
        &community("a", &[("silver", "65000:2"), ("gold", "65000:1")]),
    ]);
    assert_eq!(
        aliases.get("gold").map(String::as_str),
        Some("65000:1"),
        "first object by name wins"
    );
    let ad: BGPAdvertisement = serde_json::from_value(json!({
        "metadata": {"name": "ad1", "namespace": "metallb-system"},
        "spec": {"communities": ["silver", "65001:7", "no-export"], "localPref": 150,
            "ipAddressPools": ["p"], "peers": ["frr"], "aggregationLength": 24,
            "serviceSelectors": [{"matchLabels": {"a": "b"}}]}
    }))
    .expect("ad");
    let a = bgp_advertisement(&ad, &aliases).expect("converts");
    assert_eq!(a.aggregation_length, 24);
    assert_eq!(a.aggregation_length_v6, 128);
    assert_eq!(a.local_pref, 150);
    assert_eq!(a.peers, vec!["frr".to_string()]);
    assert_eq!(a.ip_address_pools, vec!["p".to_string()]);
    assert_eq!(a.service_selectors.len(), 1);
    assert_eq!(
        a.communities,
        vec![
            Comm::Standard((65000 << 16) | 2),
            Comm::Standard((65001 << 16) | 7),
            Comm::Standard(0xFFFF_FF01)
        ]
    );

    let bad: BGPAdvertisement = serde_json::from_value(json!({
        "metadata": {"name": "ad2"}, "spec": {"communities": ["bronze"]}
    }))
    .expect("ad");
    let e = bgp_advertisement(&bad, &aliases).expect_err("unknown alias");
    assert!(
        e.to_string()
            .starts_with("BGPAdvertisement \"ad2\": spec.communities:"),
        "{e}"
    );
    let bad: BGPAdvertisement = serde_json::from_value(json!({
        "metadata": {"name": "ad3"}, "spec": {"aggregationLength": 33}
    }))
    .expect("ad");
    let e = bgp_advertisement(&bad, &aliases).expect_err("too long");
    assert_eq!(
        e.to_string(),
        "BGPAdvertisement \"ad3\": spec.aggregationLength: 33 is not between 0 and 32"
    );
}

#[test]
fn node_and_service_facts() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": {"zone": "a", names::LABEL_EXCLUDE_FROM_LB: ""}},
        "status": {"conditions": [{"type": "NetworkUnavailable", "status": "True"}]}
    }))
    .expect("node");
    let f = node_facts(&node, false);
    assert_eq!(f.name, "n1");
    assert!(f.network_unavailable && f.excluded_from_lb);
    assert!(
        !node_facts(&node, true).excluded_from_lb,
        "--ignore-exclude-lb"
    );

    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
    }))
    .expect("svc");
    let ips = vec!["10.0.0.1".parse().expect("ip")];
    let f = service_facts(&svc, ips.clone(), "p", true, false);
    assert_eq!(f.key, "apps/web");
    assert_eq!(f.ips, ips);
    assert_eq!(f.pool, "p");
    assert_eq!(f.traffic_policy, TrafficPolicy::Local);
    assert!(f.serving_anywhere && !f.serving_on_node);
}

#[test]
fn a_cordoned_tainted_or_shutting_down_node_is_draining() {
    let node = |v: serde_json::Value| -> Node { serde_json::from_value(v).expect("node") };
    let healthy = node(json!({
        "metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}], "unschedulable": false},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }));
    assert!(!node_draining(&healthy));
    assert!(!node_draining(&node(json!({"metadata": {"name": "n1"}}))));
    let cordoned = node(json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}}));
    assert!(node_draining(&cordoned), "kubectl cordon");
    for key in DRAIN_TAINTS {
        let n = node(json!({"metadata": {"name": "n1"},
            "spec": {"taints": [{"key": key, "effect": "NoSchedule"}]}}));
        assert!(node_draining(&n), "{key}");
    }
    let shutting_down = node(json!({"metadata": {"name": "n1"},
        "status": {"conditions": [{"type": "Ready", "status": "False", "message": "node is shutting down"}]}}));
    assert!(node_draining(&shutting_down));
    let unknown = node(json!({"metadata": {"name": "n1"},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}));
    assert!(
        !node_draining(&unknown),
        "a kubelet that stopped reporting is not a shutdown"
    );
}
