//! (Lives with ferrolb-validate, the crate that evaluates CEL: `ferrolb-api` without its `cel`
//! feature has no engine.) Every CEL rule (`x-kubernetes-validations`) of the generated CRDs accepts a valid object and
//! rejects an invalid one, evaluated client-side by kube's CEL engine against the very schema
//! that `crdgen` writes. Also checks that schema defaults are MetalLB's.

use ferrolb_api::all_crds;
use kube::core::cel::{Validator, apply_defaults};
use serde_json::{Value, json};

fn schema(plural: &str, version: &str) -> Value {
    let crd = all_crds()
        .expect("crds")
        .into_iter()
        .find(|c| c.spec.names.plural == plural)
        .unwrap_or_else(|| panic!("no CRD {plural}"));
    let v = crd
        .spec
        .versions
        .into_iter()
        .find(|v| v.name == version)
        .expect("version");
    serde_json::to_value(
        v.schema
            .expect("schema")
            .open_api_v3_schema
            .expect("openAPIV3Schema"),
    )
    .expect("json")
}

fn check(plural: &str, version: &str, obj: &Value, old: Option<&Value>) -> Result<(), String> {
    Validator::new()
        .validate(&schema(plural, version), obj, old)
        .map_err(|errs| {
            errs.as_slice()
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

fn obj(api_version: &str, kind: &str, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "metallb-system"}, "spec": spec})
}

#[test]
fn bgpadvertisement_service_selectors_need_default_aggregation() {
    let sel = json!([{"matchLabels": {"app": "web"}}]);
    let ok = [
        json!({"serviceSelectors": sel}),
        json!({"serviceSelectors": sel, "aggregationLength": 32, "aggregationLengthV6": 128}),
        json!({"aggregationLength": 24}),
        json!({"serviceSelectors": [], "aggregationLength": 24}),
    ];
    for spec in ok {
        let o = obj("metallb.io/v1beta1", "BGPAdvertisement", spec.clone());
        assert_eq!(
            check("bgpadvertisements", "v1beta1", &o, None),
            Ok(()),
            "{spec}"
        );
    }
    for spec in [
        json!({"serviceSelectors": sel, "aggregationLength": 24}),
        json!({"serviceSelectors": sel, "aggregationLengthV6": 64}),
    ] {
        let o = obj("metallb.io/v1beta1", "BGPAdvertisement", spec.clone());
        let err = check("bgpadvertisements", "v1beta1", &o, None).expect_err(&spec.to_string());
        assert!(
            err.contains("serviceSelectors and aggregationLength are mutually exclusive"),
            "{err}"
        );
    }
}

#[test]
fn bgppeer_connect_time_bounds_and_whole_seconds() {
    for t in ["1s", "10s", "1m", "18h12m15s"] {
        let o = obj(
            "metallb.io/v1beta2",
            "BGPPeer",
            json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", "connectTime": t}),
        );
        assert_eq!(
            check("bgppeers", "v1beta2", &o, None),
            Ok(()),
            "connectTime {t}"
        );
    }
    for (t, msg) in [
        ("0s", "connect time should be between 1 seconds to 65535"),
        (
            "18h12m16s",
            "connect time should be between 1 seconds to 65535",
        ),
        (
            "1500ms",
            "connect time should contain a whole number of seconds",
        ),
    ] {
        let o = obj(
            "metallb.io/v1beta2",
            "BGPPeer",
            json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", "connectTime": t}),
        );
        let err = check("bgppeers", "v1beta2", &o, None).expect_err(t);
        assert!(err.contains(msg), "connectTime {t}: {err}");
    }
}

#[test]
fn bgppeer_graceful_restart_is_immutable() {
    let spec = |gr: bool| json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1", "enableGracefulRestart": gr});
    let old = obj("metallb.io/v1beta2", "BGPPeer", spec(true));
    assert_eq!(check("bgppeers", "v1beta2", &old, None), Ok(()), "create");
    assert_eq!(
        check("bgppeers", "v1beta2", &old, Some(&old)),
        Ok(()),
        "unchanged update"
    );
    let new = obj("metallb.io/v1beta2", "BGPPeer", spec(false));
    let err = check("bgppeers", "v1beta2", &new, Some(&old)).expect_err("flip");
    assert!(
        err.contains("EnableGracefulRestart cannot be changed after creation"),
        "{err}"
    );
}

#[test]
fn service_status_identity_is_immutable() {
    for (plural, kind) in [
        ("servicel2statuses", "ServiceL2Status"),
        ("servicebgpstatuses", "ServiceBGPStatus"),
    ] {
        let mk = |node: &str, name: &str, ns: &str| {
            json!({"apiVersion": "metallb.io/v1beta1", "kind": kind, "metadata": {"name": "l2-abc"},
                   "spec": {}, "status": {"node": node, "serviceName": name, "serviceNamespace": ns}})
        };
        let old = mk("node-1", "web", "default");
        assert_eq!(check(plural, "v1beta1", &old, None), Ok(()));
        assert_eq!(check(plural, "v1beta1", &old, Some(&old)), Ok(()));
        for new in [
            mk("node-2", "web", "default"),
            mk("node-1", "api", "default"),
            mk("node-1", "web", "prod"),
        ] {
            let err = check(plural, "v1beta1", &new, Some(&old)).expect_err(&new.to_string());
            assert!(err.contains("Value is immutable"), "{kind}: {err}");
        }
    }
}

#[test]
fn client_side_cel_matches_derived_validation() {
    // The same rule through the generated per-type helper that the webhook reuses.
    let bad = json!({"serviceSelectors": [{"matchLabels": {"a": "b"}}], "aggregationLength": 24});
    assert!(ferrolb_api::v1beta1::BGPAdvertisementSpec::validate_cel(&bad, None).is_err());
    let good = json!({"aggregationLength": 24});
    assert!(ferrolb_api::v1beta1::BGPAdvertisementSpec::validate_cel(&good, None).is_ok());
}

#[test]
fn schema_defaults_are_metallbs() {
    let pool = apply_defaults(
        &schema("ipaddresspools", "v1beta1"),
        &obj(
            "metallb.io/v1beta1",
            "IPAddressPool",
            json!({"addresses": ["10.0.0.0/24"]}),
        ),
    );
    assert_eq!(pool["spec"]["autoAssign"], json!(true));
    assert_eq!(pool["spec"]["avoidBuggyIPs"], json!(false));

    let adv = apply_defaults(
        &schema("bgpadvertisements", "v1beta1"),
        &obj("metallb.io/v1beta1", "BGPAdvertisement", json!({})),
    );
    assert_eq!(adv["spec"]["aggregationLength"], json!(32));
    assert_eq!(adv["spec"]["aggregationLengthV6"], json!(128));

    let peer = apply_defaults(
        &schema("bgppeers", "v1beta2"),
        &obj("metallb.io/v1beta2", "BGPPeer", json!({"myASN": 1})),
    );
    assert_eq!(peer["spec"]["peerPort"], json!(179));
    assert_eq!(peer["spec"]["disableMP"], json!(false));
    assert_eq!(peer["spec"]["dualStackAddressFamily"], json!(false));

    // v1beta1 BGPPeer has no peerPort default, as upstream.
    let v1 = apply_defaults(
        &schema("bgppeers", "v1beta1"),
        &obj(
            "metallb.io/v1beta1",
            "BGPPeer",
            json!({"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1"}),
        ),
    );
    assert!(v1["spec"].get("peerPort").is_none(), "{v1}");

    // BFD profiles carry no schema defaults.
    let bfd = apply_defaults(
        &schema("bfdprofiles", "v1beta1"),
        &obj("metallb.io/v1beta1", "BFDProfile", json!({})),
    );
    assert_eq!(bfd["spec"], json!({}));
}

#[test]
fn rust_accessors_apply_the_same_defaults() {
    let pool: ferrolb_api::v1beta1::IPAddressPoolSpec =
        serde_json::from_value(json!({"addresses": []})).expect("pool");
    assert!(pool.auto_assign() && !pool.avoid_buggy_ips());
    let off: ferrolb_api::v1beta1::IPAddressPoolSpec = serde_json::from_value(
        json!({"addresses": [], "autoAssign": false, "avoidBuggyIPs": true}),
    )
    .expect("pool");
    assert!(!off.auto_assign() && off.avoid_buggy_ips());
    let adv: ferrolb_api::v1beta1::BGPAdvertisementSpec =
        serde_json::from_value(json!({})).expect("adv");
    assert_eq!(
        (adv.aggregation_length(), adv.aggregation_length_v6()),
        (32, 128)
    );
    let peer: ferrolb_api::v1beta2::BGPPeerSpec =
        serde_json::from_value(json!({"myASN": 1})).expect("peer");
    assert_eq!(peer.peer_port(), 179);
}
