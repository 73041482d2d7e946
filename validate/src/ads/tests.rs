//! L1, B1–B6.

use crate::fixtures::*;

const POOL: &str = "{addresses: [172.16.5.0/26]}";

#[test]
fn l2_rules() {
    accepts(&format!(
        "{}{}",
        pool("p", POOL),
        l2_ad("l", "{ipAddressPools: [p, missing], interfaces: [eth0]}")
    ));
    rejects(
        &l2_ad("l", "{ipAddressPools: [p, p]}"),
        "L2Advertisement/l: spec.ipAddressPools[1]: duplicate definition of ipAddressPools \"p\"",
    );
    rejects(
        &l2_ad(
            "l",
            "{nodeSelectors: [{matchExpressions: [{key: a, operator: Exists, values: [x]}]}]}",
        ),
        "failed to parse node selector for l",
    );
    rejects(
        &l2_ad(
            "l",
            "{serviceSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]}",
        ),
        "duplicate definition of serviceSelectors",
    );
}

#[test]
fn bgp_duplicates() {
    rejects(
        &bgp_ad("b", "{peers: [x, x]}"),
        "duplicate definition of peers \"x\"",
    );
    rejects(
        &bgp_ad("b", "{communities: ['1:1', '1:1']}"),
        "duplicate definition of community \"1:1\"",
    );
    rejects(
        &bgp_ad(
            "b",
            "{ipAddressPoolSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]}",
        ),
        "duplicate definition of ipAddressPoolSelectors",
    );
}

#[test]
fn service_selectors_vs_aggregation() {
    let y = bgp_ad(
        "b",
        "{aggregationLength: 24, serviceSelectors: [{matchLabels: {a: b}}]}",
    );
    rejects(
        &y,
        "serviceSelectors and aggregationLength are mutually exclusive, both cannot be set in b",
    );
    // With CEL the same mistake still gives one line.
    assert_eq!(errors_cel(&y).len(), 1);
    accepts(&bgp_ad("b", "{serviceSelectors: [{matchLabels: {a: b}}]}"));
}

#[test]
fn aggregation_bounds() {
    rejects(
        &bgp_ad("b", "{aggregationLength: 33}"),
        "invalid aggregation length \"33\" for IPv4",
    );
    rejects(
        &bgp_ad("b", "{aggregationLengthV6: 129}"),
        "invalid aggregation length \"129\" for IPv6",
    );
}

#[test]
fn aggregation_vs_pool_prefix() {
    rejects(
        &format!(
            "{}{}",
            pool("p", POOL),
            bgp_ad("b", "{aggregationLength: 24}")
        ),
        "BGPAdvertisement/b: spec.aggregationLength: invalid aggregation length 24: prefix 26 in this pool is more specific than the aggregation length for addresses 172.16.5.0/26",
    );
    accepts(&format!(
        "{}{}",
        pool("p", POOL),
        bgp_ad("b", "{aggregationLength: 26}")
    ));
    rejects(
        &format!(
            "{}{}",
            pool("p", "{addresses: ['fc00::/120']}"),
            bgp_ad("b", "{aggregationLengthV6: 64}")
        ),
        "invalid aggregation length 64: prefix 120",
    );
    // Only selected pools count: by name and by label.
    accepts(&format!(
        "{}{}",
        pool("p", POOL),
        bgp_ad("b", "{aggregationLength: 24, ipAddressPools: [other]}")
    ));
    rejects(
        &format!(
            "{}{}",
            pool_labeled("p", "{tier: x}", POOL),
            bgp_ad(
                "b",
                "{aggregationLength: 24, ipAddressPoolSelectors: [{matchLabels: {tier: x}}]}"
            )
        ),
        "prefix 26",
    );
}

#[test]
fn communities_in_advertisements() {
    rejects(
        &bgp_ad("b", "{communities: ['70000:1']}"),
        "invalid community \"70000:1\" in BGP advertisement: invalid community value",
    );
    let y = bgp_ad("b", "{communities: [my-alias]}");
    rejects(&y, "spec.communities[0]");
    assert!(validate(&res(&y), &Options::default()).errors[0].dangling_reference);
    accepts(&format!(
        "{y}{}",
        community("c", "{communities: [{name: my-alias, value: '65000:1'}]}")
    ));
    accepts(&bgp_ad("b", "{communities: ['65000:1', 'large:1:2:3']}"));
}

#[test]
fn local_pref_conflicts() {
    let p = pool("p", "{addresses: [10.0.0.0/24]}");
    rejects(
        &format!(
            "{p}{}{}",
            bgp_ad("a", "{localPref: 50}"),
            bgp_ad("b", "{localPref: 60}")
        ),
        "BGPAdvertisement/b: spec.localPref: invalid local preference 60: local preferernce 50 was already set for the same type of BGP update",
    );
    // Different aggregation lengths, disjoint peers, or service selectors: no conflict.
    accepts(&format!(
        "{p}{}{}",
        bgp_ad("a", "{localPref: 50}"),
        bgp_ad("b", "{localPref: 60, aggregationLength: 24}")
    ));
    accepts(&format!(
        "{p}{}{}",
        bgp_ad("a", "{localPref: 50, peers: [x]}"),
        bgp_ad("b", "{localPref: 60, peers: [y]}")
    ));
    accepts(&format!(
        "{p}{}{}",
        bgp_ad("a", "{localPref: 50}"),
        bgp_ad(
            "b",
            "{localPref: 60, serviceSelectors: [{matchLabels: {a: b}}]}"
        )
    ));
    // Disjoint node sets with known nodes: no conflict; unknown nodes and distinct selectors: no conflict.
    let ads = format!(
        "{p}{}{}",
        bgp_ad(
            "a",
            "{localPref: 50, nodeSelectors: [{matchLabels: {rack: a}}]}"
        ),
        bgp_ad(
            "b",
            "{localPref: 60, nodeSelectors: [{matchLabels: {rack: b}}]}"
        )
    );
    accepts(&ads);
    let mut r = res(&ads);
    r.nodes = vec![crate::NodeInfo {
        name: "n1".into(),
        labels: [("rack".to_owned(), "a".to_owned())].into(),
    }];
    assert!(validate(&r, &Options::default()).is_valid());
    r.nodes[0].labels.insert("rack".into(), "b".into());
    assert!(validate(&r, &Options::default()).is_valid());
    r.nodes.push(crate::NodeInfo {
        name: "n2".into(),
        labels: [("rack".to_owned(), "a".to_owned())].into(),
    });
    assert!(
        validate(&r, &Options::default()).is_valid(),
        "n1 has rack=b only, n2 rack=a only"
    );
    r.nodes[0].labels.clear();
    r.nodes[0].labels.insert("rack".into(), "a".into());
    let sel_all = format!(
        "{p}{}{}",
        bgp_ad("a", "{localPref: 50}"),
        bgp_ad(
            "b",
            "{localPref: 60, nodeSelectors: [{matchLabels: {rack: a}}]}"
        )
    );
    let mut r2 = res(&sel_all);
    r2.nodes = r.nodes.clone();
    assert!(!validate(&r2, &Options::default()).is_valid());
}

#[test]
fn ipv6_pools_allowed_in_bgp() {
    // MetalLB native mode's M-N3 is not copied.
    accepts(&format!(
        "{}{}",
        pool("p", "{addresses: ['fc00::/120']}"),
        bgp_ad("b", "{}")
    ));
}
