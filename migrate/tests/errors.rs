//! One test per semantic rule: the error names the key path and the offending value, and the
//! message keeps MetalLB's wording.

// Test helpers panic on unexpected failures by design.
#![allow(clippy::unwrap_used)]

use ferrolb_api::legacy;
use ferrolb_migrate::{MigrateError, Reason, convert};

fn err(payload: &str) -> MigrateError {
    let config = legacy::parse(payload).unwrap();
    convert(&config, "metallb-system").expect_err("conversion must fail")
}

/// Asserts the path and that the message contains every fragment.
fn assert_err(payload: &str, path: &str, fragments: &[&str]) -> MigrateError {
    let e = err(payload);
    assert_eq!(e.path(), path, "{e}");
    let text = e.to_string();
    assert!(text.starts_with(&format!("{path}: ")), "{text}");
    for f in fragments {
        assert!(text.contains(f), "{text:?} lacks {f:?}");
    }
    e
}

const P: &str = "peers:\n- my-asn: 64512\n  peer-asn: 64513\n  peer-address: 10.0.0.1\n";

fn pool(extra: &str) -> String {
    format!("address-pools:\n- name: p\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n{extra}")
}

// ---- peers ----

#[test]
fn missing_local_asn() {
    assert_err(
        "peers:\n- {peer-asn: 1, peer-address: 10.0.0.1}\n",
        "peers[0].my-asn",
        &["missing local ASN"],
    );
    assert_err(
        "peers:\n- {my-asn: 0, peer-asn: 1, peer-address: 10.0.0.1}\n",
        "peers[0].my-asn",
        &["missing local ASN"],
    );
}

#[test]
fn missing_peer_asn() {
    assert_err(
        &format!("{P}- {{my-asn: 1, peer-address: 10.0.0.2}}\n"),
        "peers[1].peer-asn",
        &["missing peer ASN"],
    );
}

#[test]
fn ebgp_multihop_on_ibgp() {
    assert_err(
        "peers:\n- {my-asn: 65000, peer-asn: 65000, peer-address: 10.0.0.1, ebgp-multihop: true}\n",
        "peers[0].ebgp-multihop",
        &[
            "invalid ebgp-multihop parameter set for an ibgp peer",
            "65000",
        ],
    );
}

#[test]
fn invalid_peer_ip() {
    assert_err(
        "peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 10.0.0.999}\n",
        "peers[0].peer-address",
        &["invalid peer IP \"10.0.0.999\""],
    );
    assert_err(
        "peers:\n- {my-asn: 1, peer-asn: 2}\n",
        "peers[0].peer-address",
        &["invalid peer IP \"\""],
    );
}

#[test]
fn invalid_hold_time() {
    assert_err(
        &format!("{P}  hold-time: 2s\n"),
        "peers[0].hold-time",
        &["invalid hold time \"2s\": must be 0 or >=3s"],
    );
    assert_err(
        &format!("{P}  hold-time: 90\n"),
        "peers[0].hold-time",
        &["invalid hold time \"90\"", "missing unit"],
    );
    assert_err(
        &format!("{P}  hold-time: 5d\n"),
        "peers[0].hold-time",
        &["unknown unit \"d\""],
    );
}

#[test]
fn invalid_keepalive_time() {
    assert_err(
        &format!("{P}  keepalive-time: soon\n"),
        "peers[0].keepalive-time",
        &["invalid keepalive time \"soon\""],
    );
}

#[test]
fn keepalive_above_hold() {
    assert_err(
        &format!("{P}  hold-time: 9s\n  keepalive-time: 10s\n"),
        "peers[0].keepalive-time",
        &["invalid keepaliveTime \"10s\"", "9s"],
    );
    // Against the default hold time (90s).
    assert_err(
        &format!("{P}  keepalive-time: 2m\n"),
        "peers[0].keepalive-time",
        &["\"2m\"", "1m30s"],
    );
}

#[test]
fn invalid_router_id() {
    assert_err(
        &format!("{P}  router-id: router-1\n"),
        "peers[0].router-id",
        &["invalid router ID \"router-1\""],
    );
}

#[test]
fn invalid_source_ip() {
    assert_err(
        &format!("{P}  source-address: eth0\n"),
        "peers[0].source-address",
        &["invalid source IP \"eth0\""],
    );
}

#[test]
fn invalid_node_selector() {
    assert_err(
        &format!(
            "{P}  node-selectors:\n  - {{}}\n  - match-expressions: [{{key: a, operator: Contains, values: [b]}}]\n"
        ),
        "peers[0].node-selectors[1]",
        &["parsing node selector", "\"Contains\""],
    );
    assert_err(
        &format!("{P}  node-selectors:\n  - match-expressions: [{{key: a, operator: In}}]\n"),
        "peers[0].node-selectors[0]",
        &["values set can't be empty", "\"a\""],
    );
    assert_err(
        &format!("{P}  node-selectors:\n  - match-labels: {{\"bad key!\": x}}\n"),
        "peers[0].node-selectors[0]",
        &["bad key!"],
    );
}

#[test]
fn unknown_bfd_profile() {
    assert_err(
        &format!("{P}  bfd-profile: nope\nbfd-profiles: [{{name: other}}]\n"),
        "peers[0].bfd-profile",
        &["referencing non existing bfd profile nope"],
    );
    assert_err(
        &format!("{P}  bfd-profile: \"42\"\n"),
        "peers[0].bfd-profile",
        &["failed to make BFDProfile K8S compatible: 42"],
    );
}

#[test]
fn duplicate_peer() {
    let e = assert_err(
        &format!(
            "{P}- {{my-asn: 64512, peer-asn: 64513, peer-address: 10.0.0.1, hold-time: 90s}}\n"
        ),
        "peers[1]",
        &["already exists", "peers[0]"],
    );
    assert_eq!(e.reason(), &Reason::DuplicatePeer(0));
}

// ---- communities ----

#[test]
fn invalid_community_alias() {
    assert_err(
        "bgp-communities:\n  big: 70000:1\n",
        "bgp-communities.big",
        &[
            "parsing community \"big\"",
            "\"70000\"",
            "value out of range",
        ],
    );
    assert_err(
        "bgp-communities:\n  l: large:1:2:3\n",
        "bgp-communities.l",
        &["invalid community string \"large:1:2:3\""],
    );
}

#[test]
fn invalid_community_in_advertisement() {
    assert_err(
        &pool("  bgp-advertisements:\n  - communities: [\"1:2\", no-such-alias]\n"),
        "address-pools[0].bgp-advertisements[0].communities[1]",
        &["invalid community \"no-such-alias\" in BGP advertisement"],
    );
}

#[test]
fn duplicate_community_in_advertisement() {
    assert_err(
        &format!(
            "bgp-communities: {{a: \"1:2\"}}\n{}",
            pool("  bgp-advertisements:\n  - communities: [a, \"3:4\", a]\n")
        ),
        "address-pools[0].bgp-advertisements[0].communities[2]",
        &["duplicate definition of community \"a\""],
    );
}

// ---- pools ----

#[test]
fn missing_pool_name() {
    assert_err(
        "address-pools:\n- {protocol: layer2, addresses: [10.0.0.0/24]}\n",
        "address-pools[0].name",
        &["missing pool name"],
    );
}

#[test]
fn incompatible_pool_name() {
    assert_err(
        "address-pools:\n- {name: \"2024\", protocol: layer2, addresses: [10.0.0.0/24]}\n",
        "address-pools[0].name",
        &["failed to make IpAddressPool K8S compatible: 2024"],
    );
}

#[test]
fn no_addresses() {
    assert_err(
        "address-pools:\n- {name: a, protocol: layer2}\n",
        "address-pools[0].addresses",
        &["pool has no prefixes defined", "a"],
    );
}

#[test]
fn invalid_cidr_and_range() {
    let base = "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.0.0.0/24, ";
    assert_err(
        &format!("{base}10.1.1.0/33]\n"),
        "address-pools[0].addresses[1]",
        &["invalid CIDR \"10.1.1.0/33\""],
    );
    assert_err(
        &format!("{base}10.1.1.50-10.1.1.10]\n"),
        "address-pools[0].addresses[1]",
        &["\"10.1.1.50\" is after the end IP \"10.1.1.10\""],
    );
    assert_err(
        &format!("{base}10.1.1.x-10.1.1.10]\n"),
        "address-pools[0].addresses[1]",
        &["invalid start IP \"10.1.1.x\""],
    );
}

#[test]
fn missing_protocol() {
    assert_err(
        "address-pools:\n- {name: a, addresses: [10.0.0.0/24]}\n",
        "address-pools[0].protocol",
        &["address pool is missing the protocol field"],
    );
}

#[test]
fn bgp_advertisements_in_layer2_pool() {
    assert_err(
        "address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/24], bgp-advertisements: [{localpref: 1}]}\n",
        "address-pools[0].bgp-advertisements",
        &["cannot have bgp-advertisements configuration element in a layer2 address pool"],
    );
}

#[test]
fn duplicate_pool() {
    assert_err(
        "address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/24]}\n- {name: a, protocol: layer2, addresses: [10.1.0.0/24]}\n",
        "address-pools[1].name",
        &["duplicate definition of pool \"a\""],
    );
    // Two names that convert to the same Kubernetes name.
    assert_err(
        "address-pools:\n- {name: my_pool, protocol: layer2, addresses: [10.0.0.0/24]}\n- {name: My-Pool, protocol: layer2, addresses: [10.1.0.0/24]}\n",
        "address-pools[1].name",
        &["duplicate definition of pool \"my-pool\""],
    );
}

#[test]
fn cidr_overlap() {
    assert_err(
        "address-pools:\n- {name: a, protocol: layer2, addresses: [192.168.10.0/24]}\n- {name: b, protocol: layer2, addresses: [10.0.0.0/24, 192.168.10.128-192.168.10.130]}\n",
        "address-pools[1].addresses[1]",
        &[
            "overlaps with already defined CIDR \"192.168.10.0/24\"",
            "pool \"b\"",
        ],
    );
    // Within one pool too.
    assert_err(
        "address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/24, 10.0.0.7/32]}\n",
        "address-pools[0].addresses[1]",
        &["\"10.0.0.7/32\"", "overlaps"],
    );
}

#[test]
fn duplicate_advertisements() {
    assert_err(
        &pool(
            "  bgp-advertisements:\n  - {localpref: 1}\n  - {localpref: 2}\n  - {localpref: 1}\n",
        ),
        "address-pools[0].bgp-advertisements[2]",
        &["duplicate definition of bgpadvertisements. advertisement 1 and 3 are equal"],
    );
}

#[test]
fn aggregation_length_out_of_range() {
    assert_err(
        &pool("  bgp-advertisements:\n  - aggregation-length: 33\n"),
        "address-pools[0].bgp-advertisements[0].aggregation-length",
        &["invalid aggregation length \"33\" for IPv4"],
    );
    assert_err(
        &pool("  bgp-advertisements:\n  - aggregation-length-v6: 129\n"),
        "address-pools[0].bgp-advertisements[0].aggregation-length-v6",
        &["invalid aggregation length \"129\" for IPv6"],
    );
}

#[test]
fn aggregation_length_more_specific_than_pool() {
    assert_err(
        "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [172.16.5.0/26]\n  bgp-advertisements:\n  - aggregation-length: 24\n",
        "address-pools[0].bgp-advertisements[0].aggregation-length",
        &[
            "invalid aggregation length 24: prefix 26",
            "for addresses 172.16.5.0/26",
        ],
    );
    // A range: its least specific CIDR counts (10.0.0.0-10.0.0.255 is one /24).
    assert_err(
        "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [10.0.0.0-10.0.0.127]\n  bgp-advertisements:\n  - aggregation-length: 16\n",
        "address-pools[0].bgp-advertisements[0].aggregation-length",
        &["prefix 25", "10.0.0.0-10.0.0.127"],
    );
    assert_err(
        "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [\"fc00::/64\"]\n  bgp-advertisements:\n  - aggregation-length-v6: 48\n",
        "address-pools[0].bgp-advertisements[0].aggregation-length-v6",
        &["invalid aggregation length 48: prefix 64"],
    );
}

#[test]
fn aggregation_length_accepted_when_pool_is_wider() {
    let ok = "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [10.0.0.0/16, 10.1.0.0-10.1.0.3]\n  bgp-advertisements:\n  - aggregation-length: 30\n";
    assert!(convert(&legacy::parse(ok).unwrap(), "x").is_ok());
}

// ---- BFD profiles ----

#[test]
fn missing_bfd_name() {
    assert_err(
        "bfd-profiles:\n- {receive-interval: 300}\n",
        "bfd-profiles[0].name",
        &["missing bfd profile name"],
    );
}

#[test]
fn duplicate_bfd_profile() {
    assert_err(
        "bfd-profiles:\n- {name: a}\n- {name: b}\n- {name: a}\n",
        "bfd-profiles[2].name",
        &["found duplicate bfd profile name a"],
    );
}

#[test]
fn bfd_ranges() {
    let cases = [
        (
            "detect-multiplier",
            1,
            "invalid detect multiplier value: invalid value 1, must be in 2-255 range",
        ),
        ("detect-multiplier", 256, "must be in 2-255 range"),
        (
            "receive-interval",
            9,
            "invalid receive interval value: invalid value 9, must be in 10-60000 range",
        ),
        (
            "transmit-interval",
            60001,
            "invalid transmit interval value: invalid value 60001",
        ),
        (
            "echo-interval",
            5,
            "invalid echo interval value: invalid value 5",
        ),
        (
            "minimum-ttl",
            0,
            "invalid minimum ttl value: invalid value 0, must be in 1-254 range",
        ),
        ("minimum-ttl", 255, "must be in 1-254 range"),
    ];
    for (key, value, message) in cases {
        assert_err(
            &format!("bfd-profiles:\n- name: a\n  {key}: {value}\n"),
            &format!("bfd-profiles[0].{key}"),
            &[message],
        );
    }
}

#[test]
fn first_error_wins_in_metallb_order() {
    // A bad BFD profile is reported before a bad peer, a bad peer before a bad pool.
    let payload = "bfd-profiles:\n- {name: a, minimum-ttl: 0}\npeers:\n- {peer-asn: 1, peer-address: 10.0.0.1}\naddress-pools:\n- {name: p}\n";
    assert_eq!(err(payload).path(), "bfd-profiles[0].minimum-ttl");
    let payload = "peers:\n- {peer-asn: 1, peer-address: 10.0.0.1}\naddress-pools:\n- {name: p}\n";
    assert_eq!(err(payload).path(), "peers[0].my-asn");
}
