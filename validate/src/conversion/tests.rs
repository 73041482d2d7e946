//! BGPPeer v1beta1 ↔ v1beta2 (MetalLB's `bgppeer_conversion.go`).

use serde_json::json;

use crate::conversion::{V1BETA1, V1BETA2, convert_object};

#[test]
fn v1beta1_to_v1beta2_materialises_zero_timers() {
    let v1 = json!({"apiVersion": V1BETA1, "kind": "BGPPeer",
        "metadata": {"name": "p", "namespace": "metallb-system", "resourceVersion": "7"},
        "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", "peerPort": 1179,
                 "nodeSelectors": [{}, {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}],
                 "bfdProfile": "fast", "ebgpMultiHop": true, "password": "pw"}});
    let v2 = convert_object(&v1, V1BETA2).unwrap();
    assert_eq!(v2["apiVersion"], V1BETA2);
    assert_eq!(v2["metadata"]["resourceVersion"], "7");
    assert_eq!(v2["spec"]["holdTime"], "0s");
    assert_eq!(v2["spec"]["keepaliveTime"], "0s");
    assert_eq!(
        v2["spec"]["nodeSelectors"],
        json!([{}, {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}])
    );
    for k in [
        "myASN",
        "peerASN",
        "peerAddress",
        "peerPort",
        "bfdProfile",
        "ebgpMultiHop",
        "password",
    ] {
        assert_eq!(v2["spec"][k], v1["spec"][k], "{k}");
    }
}

#[test]
fn durations_are_reencoded_like_go() {
    let v1 = json!({"apiVersion": V1BETA1, "kind": "BGPPeer", "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "holdTime": "90s", "keepaliveTime": "30s"}});
    let v2 = convert_object(&v1, V1BETA2).unwrap();
    assert_eq!(v2["spec"]["holdTime"], "1m30s");
    assert_eq!(v2["spec"]["keepaliveTime"], "30s");
}

#[test]
fn v1beta2_to_v1beta1_is_lossy() {
    let v2 = json!({"apiVersion": V1BETA2, "kind": "BGPPeer", "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "vrf": "red", "connectTime": "5s",
                 "passwordSecret": {"name": "s"}, "enableGracefulRestart": true, "disableMP": true,
                 "dualStackAddressFamily": true, "localASN": 9, "holdTime": "3m"},
        "status": {}});
    let v1 = convert_object(&v2, V1BETA1).unwrap();
    let spec = v1["spec"].as_object().unwrap();
    for dropped in [
        "vrf",
        "connectTime",
        "passwordSecret",
        "enableGracefulRestart",
        "disableMP",
        "dualStackAddressFamily",
        "localASN",
        "dynamicASN",
        "interface",
    ] {
        assert!(!spec.contains_key(dropped), "{dropped}");
    }
    assert_eq!(v1["spec"]["holdTime"], "3m0s");
    assert_eq!(v1["spec"]["keepaliveTime"], "0s");
    assert_eq!(v1["status"], json!({}));
}

#[test]
fn round_trips() {
    // v1beta1 → v1beta2 → v1beta1 is the identity once timers are materialised.
    let v1 = json!({"apiVersion": V1BETA1, "kind": "BGPPeer", "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "holdTime": "1m30s", "keepaliveTime": "30s",
                 "routerID": "1.2.3.4", "sourceAddress": "10.0.0.2",
                 "nodeSelectors": [{"matchLabels": {"a": "b"}}]}});
    let back = convert_object(&convert_object(&v1, V1BETA2).unwrap(), V1BETA1).unwrap();
    assert_eq!(back, v1);
    // v1beta2 with only v1beta1 fields (and timers set) survives the round trip.
    let v2 = json!({"apiVersion": V1BETA2, "kind": "BGPPeer", "metadata": {"name": "p"},
        "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "holdTime": "9s", "keepaliveTime": "3s", "peerPort": 179}});
    let back = convert_object(&convert_object(&v2, V1BETA1).unwrap(), V1BETA2).unwrap();
    assert_eq!(back, v2);
}

#[test]
fn same_version_and_errors() {
    let v2 = json!({"apiVersion": V1BETA2, "kind": "BGPPeer", "metadata": {"name": "p"}, "spec": {"myASN": 1}});
    assert_eq!(convert_object(&v2, V1BETA2).unwrap(), v2);
    assert!(
        convert_object(
            &json!({"apiVersion": V1BETA1, "kind": "IPAddressPool"}),
            V1BETA2
        )
        .is_err()
    );
    assert!(convert_object(&v2, "metallb.io/v1").is_err());
}
