//! Duplicate names, namespaces, BFD ranges, communities.

use crate::fixtures::*;

#[test]
fn duplicate_names_offline() {
    rejects(
        &format!(
            "{}{}",
            pool("a", "{addresses: [10.0.0.0/24]}"),
            pool("a", "{addresses: [10.0.1.0/24]}")
        ),
        "duplicate definition of IPAddressPool \"a\"",
    );
}

#[test]
fn namespace() {
    let y = pool("a", "{addresses: [10.0.0.0/24]}")
        .replace("namespace: metallb-system", "namespace: default");
    rejects(
        &y,
        "IPAddressPool/a: metadata.namespace: resource must be created in metallb-system namespace",
    );
    let r = validate(&res(&y), &Options { namespace: None });
    assert!(r.is_valid());
    accepts(&pool("a", "{addresses: [10.0.0.0/24]}").replace(", namespace: metallb-system", ""));
}

#[test]
fn bfd_ranges() {
    rejects(
        &bfd("b", "{detectMultiplier: 1}"),
        "BFDProfile/b: spec.detectMultiplier: invalid detect multiplier value: invalid value 1, must be in 2-255 range",
    );
    rejects(
        &bfd("b", "{receiveInterval: 70000}"),
        "invalid receive interval value",
    );
    rejects(&bfd("b", "{minimumTtl: 255}"), "invalid minimum ttl value");
    accepts(&bfd(
        "b",
        "{detectMultiplier: 3, receiveInterval: 300, transmitInterval: 300, echoInterval: 50, echoMode: true, minimumTtl: 254}",
    ));
}

#[test]
fn community_aliases() {
    rejects(
        &community("c", "{communities: [{name: a, value: '70000:1'}]}"),
        "Community/c: spec.communities[0].value: parsing community \"a\": invalid community value: invalid section \"70000\"",
    );
    rejects(
        &community("c", "{communities: [{name: a, value: 'big:1:2:3'}]}"),
        "invalid marker for large community",
    );
    rejects(
        &format!(
            "{}{}",
            community("c1", "{communities: [{name: a, value: '1:1'}]}"),
            community("c2", "{communities: [{name: a, value: '1:2'}]}")
        ),
        "Community/c2: spec.communities[0].name: duplicate definition of community \"a\"",
    );
    // Large communities are accepted in ferrolb's native mode (MetalLB's M-N4 is not copied).
    accepts(&community(
        "c",
        "{communities: [{name: a, value: '1:1'}, {name: b, value: 'large:1:2:3'}]}",
    ));
}
