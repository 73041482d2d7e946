//! P1–P13, P15 and the native-mode decisions.

use crate::fixtures::*;

const OK: &str = "{myASN: 64512, peerASN: 64513, peerAddress: 10.9.9.9}";

#[test]
fn valid_peer() {
    accepts(&peer("p", OK));
    accepts(&peer(
        "p",
        "{myASN: 64512, dynamicASN: external, peerAddress: 10.9.9.9}",
    ));
}

#[test]
fn asns() {
    rejects(
        &peer("p", "{myASN: 0, peerASN: 65001, peerAddress: 10.9.9.9}"),
        "BGPPeer/p: spec.myASN: missing local ASN",
    );
    rejects(
        &peer("p", "{myASN: 65000, peerAddress: 10.9.9.9}"),
        "missing peer ASN and dynamicASN",
    );
    rejects(
        &peer(
            "p",
            "{myASN: 65000, peerASN: 65001, dynamicASN: external, peerAddress: 10.9.9.9}",
        ),
        "both peer ASN and dynamicASN specified",
    );
}

#[test]
fn ibgp_multihop() {
    rejects(
        &peer(
            "p",
            "{myASN: 65000, peerASN: 65000, ebgpMultiHop: true, peerAddress: 10.9.9.9}",
        ),
        "invalid ebgp-multihop parameter set for an ibgp peer",
    );
    accepts(&peer(
        "p",
        "{myASN: 65000, peerASN: 65001, ebgpMultiHop: true, peerAddress: 10.9.9.9}",
    ));
}

#[test]
fn address_and_interface() {
    rejects(
        &peer("p", "{myASN: 65000, peerASN: 65001}"),
        "peer has no Address or Interface specified",
    );
    let e = errors(&peer(
        "p",
        "{myASN: 65000, peerASN: 65001, peerAddress: 10.9.9.9, interface: eth1}",
    ));
    assert!(
        e.iter()
            .any(|l| l.contains("peer has both Address and Interface specified")),
        "{e:?}"
    );
}

#[test]
fn native_mode_rejects_vrf_and_interface_only() {
    rejects(
        &peer("p", "{myASN: 65000, peerASN: 65001, interface: eth1}"),
        "peer eth1 has interface set on native bgp mode",
    );
    rejects(
        &peer(
            "p",
            "{myASN: 65000, peerASN: 65001, peerAddress: 10.9.9.9, vrf: red}",
        ),
        "BGPPeer/p: spec.vrf: peer 10.9.9.9 has vrf set on native bgp mode",
    );
    // Not copied from MetalLB's native mode: protocol features ferrolb's speaker has.
    accepts(&peer(
        "p",
        "{myASN: 65000, peerASN: 65001, peerAddress: 10.9.9.9, keepaliveTime: 10s, connectTime: 5s, enableGracefulRestart: true, dualStackAddressFamily: true, localASN: 65100}",
    ));
}

#[test]
fn timers() {
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, holdTime: 2s}",
        ),
        "BGPPeer/p: spec.holdTime: invalid BGPPeer timers: invalid hold time \"2s\": must be 0 or >=3s",
    );
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, holdTime: 9s, keepaliveTime: 10s}",
        ),
        "spec.keepaliveTime: invalid BGPPeer timers: invalid keepaliveTime \"10s\", must be lower than holdTime \"9s\"",
    );
    // keepalive only: hold = 3 × keepalive; 0.5s × 3 = 1.5s is rejected.
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, keepaliveTime: 500ms}",
        ),
        "invalid hold time \"1.5s\"",
    );
    accepts(&peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, holdTime: 0s}",
    ));
    accepts(&peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, holdTime: 90s}",
    ));
    accepts(&peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, holdTime: 0s, keepaliveTime: 0s}",
    ));
}

#[test]
fn ip_fields() {
    rejects(
        &peer("p", "{myASN: 1, peerASN: 2, peerAddress: 10.0.0.999}"),
        "invalid BGPPeer address \"10.0.0.999\"",
    );
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, routerID: router-1}",
        ),
        "spec.routerID: invalid router ID \"router-1\"",
    );
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, sourceAddress: eth0}",
        ),
        "invalid source IP \"eth0\"",
    );
    accepts(&peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 'fd00::1', routerID: 1.2.3.4, sourceAddress: 10.0.0.1}",
    ));
}

#[test]
fn node_selectors() {
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, nodeSelectors: [{matchExpressions: [{key: a, operator: Contains, values: [x]}]}]}",
        ),
        "failed to convert peer p node selector",
    );
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, nodeSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]}",
        ),
        "spec.nodeSelectors[1]: duplicate definition of nodeSelectors \"a=b\"",
    );
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, nodeSelectors: [{matchExpressions: [{key: a, operator: In, values: [x, x]}]}]}",
        ),
        "duplicate definition of match expression value in label selector \"x\"",
    );
    accepts(&peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, nodeSelectors: [{matchLabels: {a: b}}, {matchExpressions: [{key: a, operator: Exists}]}]}",
    ));
}

#[test]
fn password_and_secret() {
    rejects(
        &peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, password: x, passwordSecret: {name: s}}",
        ),
        "can not have both password and secret ref set in peer config \"metallb-system\"/\"p\"",
    );
    accepts(&peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, passwordSecret: {name: s}}",
    ));
}

#[test]
fn bfd_profile_reference() {
    let p = peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, bfdProfile: fast}",
    );
    rejects(&p, "peer p referencing non existing bfd profile fast");
    assert!(validate(&res(&p), &Options::default()).errors[0].dangling_reference);
    accepts(&format!("{p}{}", bfd("fast", "{receiveInterval: 100}")));
}

#[test]
fn disable_mp_warns() {
    let r = validate(
        &res(&peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, disableMP: true}",
        )),
        &Options::default(),
    );
    assert!(r.is_valid());
    assert_eq!(r.warnings[0].reason, crate::peers::DISABLE_MP_WARNING);
}

#[test]
fn cel_connect_time() {
    let e = errors_cel(&peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, connectTime: 100000s}",
    ));
    assert!(
        e.iter()
            .any(|l| l.contains("connect time should be between 1 seconds to 65535")),
        "{e:?}"
    );
    assert!(
        errors_cel(&peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, connectTime: 5s}"
        ))
        .is_empty()
    );
}
