//! One test per legacy key (v0.11 and v0.12) and per naming/default rule of the converter.

// Test helpers panic on unexpected failures by design.
#![allow(clippy::unwrap_used)]

use ferrolb_api::legacy;
use ferrolb_migrate::{Converted, convert, to_yaml};

fn conv(payload: &str) -> Converted {
    convert(&legacy::parse(payload).unwrap(), "metallb-system").unwrap()
}

const POOL: &str = "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n";

fn peer(extra: &str) -> Converted {
    conv(&format!(
        "peers:\n- my-asn: 64512\n  peer-asn: 64513\n  peer-address: 10.0.0.1\n{extra}"
    ))
}

// ---- peers (v0.11 keys) ----

#[test]
fn peer_required_keys_and_name() {
    let out = peer("");
    let p = &out.peers[0];
    assert_eq!(p.metadata.name.as_deref(), Some("peer1"));
    assert_eq!(p.metadata.namespace.as_deref(), Some("metallb-system"));
    assert_eq!(p.spec.my_asn, 64512);
    assert_eq!(p.spec.peer_asn, Some(64513));
    assert_eq!(p.spec.peer_address.as_deref(), Some("10.0.0.1"));
}

#[test]
fn peers_are_numbered_from_one() {
    let out = conv(
        "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.1}\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.2}\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.3}\n",
    );
    let names: Vec<_> = out.peers.iter().map(|p| p.metadata.name.clone()).collect();
    assert_eq!(
        names,
        [
            Some("peer1".into()),
            Some("peer2".into()),
            Some("peer3".into())
        ]
    );
}

#[test]
fn hold_time_default_is_1m30s() {
    assert_eq!(peer("").peers[0].spec.hold_time.as_deref(), Some("1m30s"));
}

#[test]
fn hold_time_is_truncated_and_go_formatted() {
    let h = |v: &str| {
        peer(&format!("  hold-time: {v}\n")).peers[0]
            .spec
            .hold_time
            .clone()
    };
    assert_eq!(h("120s").as_deref(), Some("2m0s"));
    assert_eq!(h("3.9s").as_deref(), Some("3s"));
    assert_eq!(h("1h").as_deref(), Some("1h0m0s"));
    assert_eq!(h("4500ms").as_deref(), Some("4s"));
    assert_eq!(h("0s").as_deref(), Some("0s"));
}

#[test]
fn peer_port_as_given_zero_omitted() {
    assert_eq!(
        peer("  peer-port: 1179\n").peers[0].spec.peer_port,
        Some(1179)
    );
    assert_eq!(
        peer("  peer-port: 179\n").peers[0].spec.peer_port,
        Some(179)
    );
    assert_eq!(peer("  peer-port: 0\n").peers[0].spec.peer_port, None);
    assert_eq!(peer("").peers[0].spec.peer_port, None);
}

#[test]
fn source_address_router_id_password() {
    let out = peer("  source-address: 10.0.0.9\n  router-id: 1.2.3.4\n  password: s3cr3t\n");
    let s = &out.peers[0].spec;
    assert_eq!(s.source_address.as_deref(), Some("10.0.0.9"));
    assert_eq!(s.router_id.as_deref(), Some("1.2.3.4"));
    assert_eq!(s.password.as_deref(), Some("s3cr3t"));
    let empty = peer("  source-address: \"\"\n  router-id: \"\"\n  password: \"\"\n");
    let s = &empty.peers[0].spec;
    assert_eq!(
        (&s.source_address, &s.router_id, &s.password),
        (&None, &None, &None)
    );
}

#[test]
fn node_selectors_are_renamed() {
    let out = peer(
        "  node-selectors:\n  - match-labels: {kubernetes.io/hostname: node1}\n    match-expressions:\n    - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}\n  - {}\n",
    );
    let sels = &out.peers[0].spec.node_selectors;
    assert_eq!(sels.len(), 2);
    let labels = sels[0].match_labels.as_ref().unwrap();
    assert_eq!(labels["kubernetes.io/hostname"], "node1");
    let expr = &sels[0].match_expressions.as_ref().unwrap()[0];
    assert_eq!(
        (expr.key.as_str(), expr.operator.as_str()),
        ("kubernetes.io/arch", "In")
    );
    assert_eq!(
        expr.values.as_deref(),
        Some(&["amd64".to_owned(), "arm64".to_owned()][..])
    );
    assert_eq!(sels[1], Default::default());
    assert!(to_yaml(&out).contains("  - matchExpressions:\n"));
}

// ---- peers (v0.12 keys) ----

#[test]
fn keepalive_only_if_given_and_truncated() {
    assert_eq!(peer("").peers[0].spec.keepalive_time, None);
    let k = peer("  keepalive-time: 30.7s\n");
    assert_eq!(k.peers[0].spec.keepalive_time.as_deref(), Some("30s"));
    let k = peer("  hold-time: 3m\n  keepalive-time: 2m\n");
    assert_eq!(k.peers[0].spec.keepalive_time.as_deref(), Some("2m0s"));
}

#[test]
fn bfd_profile_reference_is_converted() {
    let out = conv(
        "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.1, bfd-profile: My_Profile}\nbfd-profiles:\n- name: My_Profile\n",
    );
    assert_eq!(out.peers[0].spec.bfd_profile.as_deref(), Some("my-profile"));
    assert_eq!(
        out.bfd_profiles[0].metadata.name.as_deref(),
        Some("my-profile")
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.starts_with("bfd-profiles[0].name"))
    );
}

#[test]
fn ebgp_multihop_only_when_true() {
    assert_eq!(
        peer("  ebgp-multihop: true\n").peers[0].spec.ebgp_multi_hop,
        Some(true)
    );
    assert_eq!(
        peer("  ebgp-multihop: false\n").peers[0]
            .spec
            .ebgp_multi_hop,
        None
    );
}

// ---- communities ----

#[test]
fn one_community_object_sorted_by_alias() {
    let out = conv("bgp-communities:\n  b: 1:2\n  a: 3:4\n  c: 65535:65535\n");
    assert_eq!(out.communities.len(), 1);
    let c = &out.communities[0];
    assert_eq!(c.metadata.name.as_deref(), Some("communities"));
    let names: Vec<_> = c
        .spec
        .communities
        .iter()
        .map(|a| a.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(c.spec.communities[0].value.as_deref(), Some("3:4"));
}

#[test]
fn no_communities_no_object() {
    assert!(conv(POOL).communities.is_empty());
}

// ---- address pools ----

#[test]
fn pool_addresses_verbatim() {
    let out = conv(
        "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [10.0.0.7/24, 10.1.0.1 - 10.1.0.9, \"fc00::/120\"]\n",
    );
    assert_eq!(
        out.pools[0].spec.addresses,
        ["10.0.0.7/24", "10.1.0.1 - 10.1.0.9", "fc00::/120"]
    );
}

#[test]
fn auto_assign_only_if_given() {
    let aa = |extra: &str| {
        conv(&format!("{POOL}  {extra}\n")).pools[0]
            .spec
            .auto_assign
    };
    assert_eq!(aa("auto-assign: false"), Some(false));
    assert_eq!(aa("auto-assign: true"), Some(true));
    assert_eq!(conv(POOL).pools[0].spec.auto_assign, None);
}

#[test]
fn avoid_buggy_ips_only_when_true() {
    let ab = |extra: &str| {
        conv(&format!("{POOL}  {extra}\n")).pools[0]
            .spec
            .avoid_buggy_ips
    };
    assert_eq!(ab("avoid-buggy-ips: true"), Some(true));
    // Go `omitempty` on a bool: false is not written.
    assert_eq!(ab("avoid-buggy-ips: false"), None);
    assert_eq!(conv(POOL).pools[0].spec.avoid_buggy_ips, None);
}

#[test]
fn layer2_pool_gets_l2_advertisement() {
    let out = conv(
        "address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/28]}\n- {name: b, protocol: bgp, addresses: [10.0.1.0/28]}\n- {name: c, protocol: layer2, addresses: [10.0.2.0/28]}\n",
    );
    let l2: Vec<_> = out
        .l2_advertisements
        .iter()
        .map(|a| {
            (
                a.metadata.name.clone().unwrap(),
                a.spec.ip_address_pools.clone(),
            )
        })
        .collect();
    assert_eq!(
        l2,
        [
            ("l2advertisement1".to_owned(), vec!["a".to_owned()]),
            ("l2advertisement2".to_owned(), vec!["c".to_owned()])
        ]
    );
    assert_eq!(out.bgp_advertisements.len(), 1);
}

#[test]
fn unknown_protocol_no_advertisement_but_warning() {
    let out = conv("address-pools:\n- {name: a, protocol: l2, addresses: [10.0.0.0/28]}\n");
    assert_eq!(out.pools.len(), 1);
    assert!(out.l2_advertisements.is_empty() && out.bgp_advertisements.is_empty());
    assert!(out.warnings[0].starts_with("address-pools[0].protocol: unknown protocol \"l2\""));
}

#[test]
fn bgp_pool_without_ads_gets_empty_advertisement() {
    let out = conv(POOL);
    let ad = &out.bgp_advertisements[0];
    assert_eq!(ad.metadata.name.as_deref(), Some("bgpadvertisement1"));
    assert_eq!(ad.spec.ip_address_pools, ["p"]);
    assert_eq!(
        (
            ad.spec.aggregation_length,
            ad.spec.aggregation_length_v6,
            ad.spec.local_pref
        ),
        (None, None, None)
    );
    assert!(ad.spec.communities.is_empty());
}

#[test]
fn bgp_advertisement_keys() {
    let out = conv(&format!(
        "{POOL}  bgp-advertisements:\n  - aggregation-length: 24\n    aggregation-length-v6: 64\n    localpref: 150\n    communities: [\"65535:65282\"]\n  - localpref: 0\n"
    ));
    let [a, b] = &out.bgp_advertisements[..] else {
        panic!("two ads expected")
    };
    assert_eq!(a.spec.aggregation_length, Some(24));
    assert_eq!(a.spec.aggregation_length_v6, Some(64));
    assert_eq!(a.spec.local_pref, Some(150));
    assert_eq!(a.spec.communities, ["65535:65282"]);
    assert_eq!(b.spec.local_pref, None);
    assert_eq!(b.metadata.name.as_deref(), Some("bgpadvertisement2"));
}

#[test]
fn bgp_advertisements_numbered_globally_in_pool_order() {
    let out = conv(
        "address-pools:\n- {name: a, protocol: bgp, addresses: [10.0.0.0/28], bgp-advertisements: [{localpref: 1}, {localpref: 2}]}\n- {name: b, protocol: bgp, addresses: [10.0.1.0/28]}\n- {name: c, protocol: bgp, addresses: [10.0.2.0/28], bgp-advertisements: [{localpref: 3}]}\n",
    );
    let got: Vec<_> = out
        .bgp_advertisements
        .iter()
        .map(|a| {
            (
                a.metadata.name.clone().unwrap(),
                a.spec.ip_address_pools[0].clone(),
            )
        })
        .collect();
    let want = [
        ("bgpadvertisement1", "a"),
        ("bgpadvertisement2", "a"),
        ("bgpadvertisement3", "b"),
        ("bgpadvertisement4", "c"),
    ];
    assert_eq!(
        got,
        want.map(|(n, p)| (n.to_owned(), p.to_owned())).to_vec()
    );
}

#[test]
fn pool_names_are_converted_everywhere() {
    let out =
        conv("address-pools:\n- {name: 2_Public_Pool, protocol: bgp, addresses: [10.0.0.0/28]}\n");
    assert_eq!(out.pools[0].metadata.name.as_deref(), Some("public-pool"));
    assert_eq!(
        out.bgp_advertisements[0].spec.ip_address_pools,
        ["public-pool"]
    );
    assert_eq!(out.warnings.len(), 1);
}

// ---- BFD profiles ----

#[test]
fn bfd_profile_keys_and_modes_always_written() {
    let out = conv(
        "bfd-profiles:\n- name: full\n  receive-interval: 300\n  transmit-interval: 301\n  detect-multiplier: 3\n  echo-interval: 50\n  echo-mode: true\n  passive-mode: true\n  minimum-ttl: 254\n- name: bare\n",
    );
    let s = &out.bfd_profiles[0].spec;
    assert_eq!(
        (
            s.receive_interval,
            s.transmit_interval,
            s.detect_multiplier,
            s.echo_interval
        ),
        (Some(300), Some(301), Some(3), Some(50))
    );
    assert_eq!(
        (s.echo_mode, s.passive_mode, s.minimum_ttl),
        (Some(true), Some(true), Some(254))
    );
    let bare = &out.bfd_profiles[1].spec;
    assert_eq!(
        (bare.echo_mode, bare.passive_mode),
        (Some(false), Some(false))
    );
    assert_eq!(bare.receive_interval, None);
}

// ---- output ----

#[test]
fn namespace_applies_to_every_object() {
    let payload = format!(
        "{POOL}peers:\n- {{my-asn: 1, peer-asn: 2, peer-address: 10.0.0.1}}\nbgp-communities: {{a: \"1:2\"}}\nbfd-profiles: [{{name: b}}]\n"
    );
    let out = convert(&legacy::parse(&payload).unwrap(), "lb").unwrap();
    let objects = out.objects();
    assert_eq!(objects.len(), 5);
    for o in objects {
        assert_eq!(o["metadata"]["namespace"], "lb");
    }
}

#[test]
fn yaml_order_and_header() {
    let payload = "bfd-profiles: [{name: b}]\nbgp-communities: {a: \"1:2\"}\naddress-pools:\n- {name: l, protocol: layer2, addresses: [10.9.0.0/28]}\n- {name: p, protocol: bgp, addresses: [10.0.0.0/24]}\npeers:\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.1}\n";
    let text = to_yaml(&conv(payload));
    assert!(text.starts_with("# This was autogenerated by ferrolb migrate"));
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(
        kinds,
        [
            "BGPPeer",
            "IPAddressPool",
            "IPAddressPool",
            "BGPAdvertisement",
            "L2Advertisement",
            "BFDProfile",
            "Community"
        ]
    );
    assert_eq!(text.matches("\n---\n").count(), 7);
    assert_eq!(text, to_yaml(&conv(payload)));
}
