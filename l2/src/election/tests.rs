//! Election tests. Expected orders were computed independently in the shell with
//! `printf '%s#%s' NODE IP | sha256sum` and sorted (first 16 hex digits shown in comments).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const NODES: [&str; 4] = ["node-a", "node-b", "node-c", "node-d"];

fn v4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))
}

fn v6() -> IpAddr {
    "2001:db8::100".parse().unwrap()
}

fn all() -> Vec<NodeCandidate<'static>> {
    NODES.iter().map(|n| NodeCandidate::eligible(n)).collect()
}

#[test]
fn key_matches_sha256sum() {
    // printf 'node-b#192.0.2.100' | sha256sum -> 202e98120fe7f233...
    let k = election_key("node-b", "192.0.2.100");
    assert_eq!(&k[..8], &[0x20, 0x2e, 0x98, 0x12, 0x0f, 0xe7, 0xf2, 0x33]);
}

#[test]
fn ipv4_order_matches_sha256sum() {
    // 202e98120fe7f233 node-b / 69a07cc6b70c648f node-a / cbe6160045c3965c node-c /
    // cc6f103e63cdb512 node-d   (printf 'NODE#192.0.2.100' | sha256sum)
    assert_eq!(
        rank(v4(), TrafficPolicy::Cluster, all()),
        ["node-b", "node-a", "node-c", "node-d"]
    );
    assert_eq!(elect(v4(), TrafficPolicy::Cluster, all()), Some("node-b"));
}

#[test]
fn ipv6_order_matches_sha256sum() {
    // 371714a8ca1aa027 node-c / 78076c459d0616d6 node-b / 971446b84b501eea node-d /
    // a008dd0d14ddcb87 node-a   (printf 'NODE#2001:db8::100' | sha256sum)
    assert_eq!(
        rank(v6(), TrafficPolicy::Cluster, all()),
        ["node-c", "node-b", "node-d", "node-a"]
    );
}

#[test]
fn ipv4_mapped_hashes_like_go() {
    // Go prints ::ffff:192.0.2.100 as "192.0.2.100", so the order equals the IPv4 one.
    let mapped: IpAddr = "::ffff:192.0.2.100".parse().unwrap();
    assert_eq!(
        rank(mapped, TrafficPolicy::Cluster, all()),
        ["node-b", "node-a", "node-c", "node-d"]
    );
}

#[test]
fn order_independent_of_input_order() {
    let mut rev = all();
    rev.reverse();
    assert_eq!(elect(v4(), TrafficPolicy::Cluster, rev), Some("node-b"));
}

#[test]
fn filters_remove_candidates() {
    let mut nodes = all();
    nodes[1].network_unavailable = true; // node-b
    assert_eq!(
        elect(v4(), TrafficPolicy::Cluster, nodes.clone()),
        Some("node-a")
    );
    nodes[0].excluded = true; // node-a
    assert_eq!(
        elect(v4(), TrafficPolicy::Cluster, nodes.clone()),
        Some("node-c")
    );
    nodes[2].selected = false; // node-c
    assert_eq!(
        elect(v4(), TrafficPolicy::Cluster, nodes.clone()),
        Some("node-d")
    );
    nodes[3].selected = false;
    assert_eq!(elect(v4(), TrafficPolicy::Cluster, nodes), None);
}

#[test]
fn local_policy_requires_local_endpoint() {
    let mut nodes = all();
    nodes[1].has_local_endpoint = false; // node-b
    assert_eq!(
        elect(v4(), TrafficPolicy::Cluster, nodes.clone()),
        Some("node-b")
    );
    assert_eq!(elect(v4(), TrafficPolicy::Local, nodes), Some("node-a"));
}

#[test]
fn weight_beats_hash() {
    let mut nodes = all();
    nodes[3].weight = 1; // node-d sorts last by hash
    assert_eq!(
        rank(v4(), TrafficPolicy::Cluster, nodes.clone()),
        ["node-d", "node-b", "node-a", "node-c"]
    );
    nodes[2].weight = 50;
    assert_eq!(elect(v4(), TrafficPolicy::Cluster, nodes), Some("node-c"));
}

#[test]
fn removing_non_owner_never_moves_ip() {
    let owner = elect(v4(), TrafficPolicy::Cluster, all());
    for drop in ["node-a", "node-c", "node-d"] {
        let rest = all().into_iter().filter(|n| n.name != drop);
        assert_eq!(elect(v4(), TrafficPolicy::Cluster, rest), owner);
    }
}

#[test]
fn should_announce_steps() {
    let svc = ServiceInput {
        first_ip: v4(),
        traffic_policy: TrafficPolicy::Cluster,
        any_serving_endpoint: true,
    };
    assert_eq!(
        should_announce("node-b", true, &svc, all()),
        Decision::Announce
    );
    assert_eq!(
        should_announce("node-a", true, &svc, all()),
        Decision::NotOwner(NotOwnerReason::LostTo("node-b".into()))
    );
    assert_eq!(
        should_announce("node-b", false, &svc, all()),
        Decision::NotOwner(NotOwnerReason::LocalNodeNotSelected)
    );
    let none = ServiceInput {
        any_serving_endpoint: false,
        ..svc
    };
    assert_eq!(
        should_announce("node-b", true, &none, all()),
        Decision::NotOwner(NotOwnerReason::NoServingEndpoint)
    );
    assert_eq!(
        should_announce("node-b", true, &svc, Vec::new()),
        Decision::NotOwner(NotOwnerReason::NoCandidates)
    );
}

#[test]
fn preference_weights_are_scoped_and_summed() {
    // Nodes described by a label string for the test; selectors are closures.
    type Sel = Box<dyn Fn(&str) -> bool>;
    let ads: Vec<AdvertisementScope<Sel>> = vec![
        AdvertisementScope {
            node_selectors: vec![Box::new(|l: &str| l.contains("zone=a"))],
            preferred: vec![
                WeightedSelector {
                    weight: 10,
                    selector: Box::new(|l: &str| l.contains("ssd")),
                },
                WeightedSelector {
                    weight: 5,
                    selector: Box::new(|_: &str| true),
                },
            ],
        },
        AdvertisementScope {
            node_selectors: vec![],
            preferred: vec![WeightedSelector {
                weight: 7,
                selector: Box::new(|l: &str| l.contains("ssd")),
            }],
        },
    ];
    assert_eq!(preference_weight("zone=a,ssd", &ads), 22);
    assert_eq!(preference_weight("zone=a", &ads), 5);
    // Outside ad 1's nodeSelectors its preferences do not count.
    assert_eq!(preference_weight("zone=b,ssd", &ads), 7);
    assert!(selected_by_any("zone=b", &ads));
    assert!(!selected_by_any("zone=b", &ads[..1]));
}

#[test]
fn go_ip_string_cases() {
    let cases = [
        ("2001:db8::100", "2001:db8::100"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("::", "::"),
        ("::1", "::1"),
        ("fe80::", "fe80::"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("::10.1.2.3", "::a01:203"),
    ];
    for (input, want) in cases {
        let ip: IpAddr = input.parse().unwrap();
        assert_eq!(go_ip_string(ip), want, "{input}");
    }
}

proptest! {
    #[test]
    fn v6_format_agrees_with_std(bits in any::<u128>()) {
        let ip = Ipv6Addr::from(bits);
        prop_assume!(ip.to_ipv4_mapped().is_none());
        // std follows RFC 5952 too; both must round-trip to the same address.
        let ours = go_ip_string(IpAddr::V6(ip));
        prop_assert_eq!(ours.parse::<Ipv6Addr>().unwrap(), ip);
        prop_assert_eq!(ours, ip.to_string());
    }

    #[test]
    fn elect_is_first_of_rank(names in proptest::collection::vec("[a-z]{1,8}", 0..20), w in any::<u8>()) {
        let nodes: Vec<_> = names.iter().enumerate().map(|(i, n)| NodeCandidate {
            weight: u32::from(i as u8 & w) % 3,
            ..NodeCandidate::eligible(n)
        }).collect();
        let r = rank(v4(), TrafficPolicy::Cluster, nodes.clone());
        prop_assert_eq!(elect(v4(), TrafficPolicy::Cluster, nodes), r.first().copied());
    }
}

#[test]
fn candidates_from_facts() {
    type Sel = fn(&str) -> bool;
    let zone_a: Sel = |l| l.contains("zone=a");
    let ssd: Sel = |l| l.contains("ssd");
    let ads = [AdvertisementScope {
        node_selectors: vec![zone_a],
        preferred: vec![WeightedSelector {
            weight: 10,
            selector: ssd,
        }],
    }];
    let facts = [
        NodeFacts {
            name: "node-a",
            labels: "zone=a",
            network_unavailable: false,
            exclude_label: false,
        },
        NodeFacts {
            name: "node-b",
            labels: "zone=a",
            network_unavailable: false,
            exclude_label: true,
        },
        NodeFacts {
            name: "node-c",
            labels: "zone=a,ssd",
            network_unavailable: false,
            exclude_label: false,
        },
        NodeFacts {
            name: "node-d",
            labels: "zone=b",
            network_unavailable: false,
            exclude_label: false,
        },
    ];
    let c = candidates(&facts, &ads, |n| n != "node-c", false);
    assert_eq!(
        c.iter().map(|n| n.weight).collect::<Vec<_>>(),
        [0, 0, 10, 0]
    );
    assert_eq!(
        c.iter().map(|n| n.selected).collect::<Vec<_>>(),
        [true, true, true, false]
    );
    assert!(c[1].excluded);
    // Cluster: node-c wins on weight; node-b is excluded, node-d not selected.
    assert_eq!(
        rank(v4(), TrafficPolicy::Cluster, c.clone()),
        ["node-c", "node-a"]
    );
    // Local: node-c has no endpoint.
    assert_eq!(elect(v4(), TrafficPolicy::Local, c), Some("node-a"));
    // --ignore-exclude-lb brings node-b back (it sorts first by hash: 202e98…).
    let c = candidates(&facts, &ads[..], |_| true, true);
    assert_eq!(
        rank(v4(), TrafficPolicy::Cluster, c),
        ["node-c", "node-b", "node-a"]
    );
}
