//! Arbitrary JSON into the admission handler (`ferrolb_webhook::handlers::review`, what every
//! `/validate-metallb-io-*` path runs after axum's JSON extractor) against a small stored
//! configuration. The first byte picks the path (kind) and operation; the rest is tried (1) as
//! a whole AdmissionReview, and (2) if it is any JSON value, as the `object` (and
//! `oldObject`) of a well-formed request, so the fuzzer reaches the object decoding and the
//! validation rules. Asserted: no panic; the answer is always a review carrying a response;
//! the response echoes the request's uid; a denial carries a message; the answer serialises
//! and reads back (as an `admission.k8s.io/v1` AdmissionReview for a well-formed request).
#![no_main]

use std::sync::{Arc, OnceLock};

use ferrolb_api::manifest::parse_manifests;
use ferrolb_validate::{ClusterResources, Options};
use ferrolb_webhook::handlers::{AppState, PATHS, review};
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const STORED: &str = "\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool0, namespace: metallb-system}
spec: {addresses: [10.0.0.0/24, 10.0.1.10-10.0.1.200, 'fd00::/120']}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer0, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.168.0.1, bfdProfile: bfd0}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: bfd0, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: ad0, namespace: metallb-system}
spec: {ipAddressPools: [pool0], communities: [no-export]}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: communities, namespace: metallb-system}
spec: {communities: [{name: no-export, value: '65535:65281'}]}
";

fn state() -> &'static AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE.get_or_init(|| {
        let objects = parse_manifests(STORED).expect("the stored configuration parses");
        AppState::new(
            Arc::new(ClusterResources::from_objects(objects)),
            Options::default(),
        )
    })
}

/// `well_formed`: the input was a proper `admission.k8s.io/v1` AdmissionReview (otherwise
/// its `apiVersion`/`kind` are echoed as received, as kube's response builder does).
fn check(input: AdmissionReview<DynamicObject>, selector: u8, well_formed: bool) {
    let (_, kind) = PATHS[usize::from(selector) % PATHS.len()];
    let uid = input.request.as_ref().map(|r| r.uid.clone());
    let out = review(state(), kind, input);
    let resp = out
        .response
        .as_ref()
        .expect("every answer carries a response");
    if let Some(uid) = uid {
        assert_eq!(resp.uid, uid, "uid not echoed");
    }
    if !resp.allowed {
        assert!(!resp.result.message.is_empty(), "denial without a message");
    }
    let text = serde_json::to_string(&out).expect("the answer serialises");
    let back: Value = serde_json::from_str(&text).expect("the answer is JSON");
    if well_formed {
        assert_eq!(back["kind"], "AdmissionReview");
        assert_eq!(back["apiVersion"], "admission.k8s.io/v1");
    }
    serde_json::from_value::<AdmissionReview<DynamicObject>>(back).expect("reads back");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if let Ok(r) = serde_json::from_slice::<AdmissionReview<DynamicObject>>(body) {
        check(r, selector, false);
    }
    let Ok(object) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let (_, kind) = PATHS[usize::from(selector) % PATHS.len()];
    let version = if selector & 0x40 != 0 {
        "v1beta1"
    } else {
        "v1beta2"
    };
    let operation = ["CREATE", "UPDATE", "DELETE", "CONNECT"][usize::from(selector >> 6)];
    let mut request = json!({
        "uid": "fuzz-uid",
        "kind": {"group": "metallb.io", "version": version, "kind": kind.to_string()},
        "resource": {"group": "metallb.io", "version": version, "resource": "x"},
        "name": object["metadata"]["name"].as_str().unwrap_or("obj"),
        "namespace": "metallb-system",
        "operation": operation,
        "userInfo": {},
    });
    match operation {
        "CREATE" => request["object"] = object,
        "DELETE" => request["oldObject"] = object,
        _ => {
            request["object"] = object.clone();
            request["oldObject"] = object;
        }
    }
    let wrapped =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
    // Only objects with `metadata` decode as a DynamicObject (axum would answer 422).
    if let Ok(r) = serde_json::from_value::<AdmissionReview<DynamicObject>>(wrapped) {
        check(r, selector, true);
    }
});
