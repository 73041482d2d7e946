//! A1–A6.

use crate::fixtures::*;

#[test]
fn valid_pools() {
    accepts(&format!(
        "{}{}",
        pool("a", "{addresses: [10.0.0.0/24, 'fc00::/120']}"),
        pool("b", "{addresses: [10.0.1.0-10.0.1.10, 10.0.0.0/32]}")
            .replace("10.0.0.0/32", "10.0.2.0/32")
    ));
    // Adjacent ranges are fine.
    accepts(&format!(
        "{}{}",
        pool("a", "{addresses: [10.1.1.0-10.1.1.9]}"),
        pool("b", "{addresses: [10.1.1.10-10.1.1.20]}")
    ));
}

#[test]
fn empty_and_invalid_addresses() {
    rejects(
        &pool("a", "{addresses: []}"),
        "IPAddressPool/a: spec.addresses: parsing address pool a: pool has no prefixes defined",
    );
    rejects(
        &pool("a", "{addresses: [10.1.1.50-10.1.1.10]}"),
        "spec.addresses[0]: invalid CIDR \"10.1.1.50-10.1.1.10\" in pool \"a\": invalid IP range",
    );
    rejects(
        &pool("a", "{addresses: [10.1.1.0/33]}"),
        "invalid CIDR \"10.1.1.0/33\"",
    );
}

#[test]
fn overlaps_across_and_within_pools() {
    rejects(
        &format!(
            "{}{}",
            pool("a", "{addresses: [192.168.10.0/24]}"),
            pool("b", "{addresses: [192.168.10.128-192.168.10.130]}")
        ),
        "IPAddressPool/b: spec.addresses[0]: CIDR \"192.168.10.128/31\" in pool \"b\" overlaps with already defined CIDR \"192.168.10.0/24\"",
    );
    rejects(
        &pool("a", "{addresses: [10.0.0.0/24, 10.0.0.0/24]}"),
        "spec.addresses[1]",
    );
    // Every overlap is reported, not only the first.
    let e = errors(&format!(
        "{}{}{}",
        pool("a", "{addresses: [10.0.0.0/16]}"),
        pool("b", "{addresses: [10.0.1.0/24]}"),
        pool("c", "{addresses: [10.0.2.0/24]}")
    ));
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn service_allocation() {
    rejects(
        &pool(
            "a",
            "{addresses: [10.0.0.0/24], serviceAllocation: {namespaces: [x, x]}}",
        ),
        "duplicate definition in namespaces field",
    );
    rejects(
        &pool(
            "a",
            "{addresses: [10.0.0.0/24], serviceAllocation: {serviceSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]}}",
        ),
        "duplicate definition of serviceSelectors \"a=b\"",
    );
    rejects(
        &pool(
            "a",
            "{addresses: [10.0.0.0/24], serviceAllocation: {namespaceSelectors: [{matchExpressions: [{key: a, operator: In}]}]}}",
        ),
        "invalid namespace label selector in ip pool a",
    );
    accepts(&pool(
        "a",
        "{addresses: [10.0.0.0/24], serviceAllocation: {priority: 1, namespaces: [x, y], serviceSelectors: [{matchLabels: {a: b}}]}}",
    ));
}
