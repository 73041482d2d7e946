//! Arbitrary JSON into the conversion handler (`ferrolb_webhook::handlers::convert_review`,
//! what `/convert` runs after axum's JSON extractor). The input is tried (1) as a whole
//! ConversionReview and (2) if it is any JSON value, as the objects of a well-formed request
//! (a BGPPeer-shaped object gets `apiVersion`/`kind` from the first byte), so the fuzzer reaches
//! the BGPPeer decoding and the v1beta1 ↔ v1beta2 conversion. Asserted: no panic; the answer is
//! always a review carrying a response with the request's uid; a success converts every object,
//! in order, to the desired version (and each converts back); a failure says why; the answer
//! serialises and reads back as a ConversionReview.
#![no_main]

use ferrolb_validate::conversion::{V1BETA1, V1BETA2, convert_object};
use ferrolb_webhook::handlers::convert_review;
use kube::core::conversion::ConversionReview;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// `well_formed`: the input was a proper ConversionReview (otherwise its `apiVersion`/`kind`
/// are echoed as received, as kube's response builder does).
fn check(input: ConversionReview, well_formed: bool) {
    let request = input.request.clone();
    let out = convert_review(input);
    let resp = out
        .response
        .as_ref()
        .expect("every answer carries a response");
    let text = serde_json::to_string(&out).expect("the answer serialises");
    let back: ConversionReview = serde_json::from_str(&text).expect("reads back");
    if well_formed {
        assert_eq!(back.types.kind, "ConversionReview");
        assert_eq!(back.types.api_version, "apiextensions.k8s.io/v1");
    }
    let Some(req) = request else {
        assert_eq!(
            resp.result.status,
            Some(kube::core::response::StatusSummary::Failure)
        );
        return;
    };
    assert_eq!(resp.uid, req.uid, "uid not echoed");
    if resp.result.status == Some(kube::core::response::StatusSummary::Success) {
        assert_eq!(resp.converted_objects.len(), req.objects.len());
        for (orig, conv) in req.objects.iter().zip(&resp.converted_objects) {
            assert_eq!(
                conv["apiVersion"].as_str(),
                Some(req.desired_api_version.as_str())
            );
            assert_eq!(conv["kind"], "BGPPeer");
            // The API server refuses a conversion that changes metadata other than labels and
            // annotations; these must come back unchanged.
            for key in ["name", "namespace", "labels", "annotations"] {
                assert_eq!(
                    conv["metadata"][key], orig["metadata"][key],
                    "metadata.{key} changed"
                );
            }
            let from = orig["apiVersion"].as_str().unwrap_or_default();
            convert_object(conv, from).expect("a converted object converts back");
        }
    } else {
        assert!(!resp.result.message.is_empty(), "failure without a message");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    if let Ok(r) = serde_json::from_slice::<ConversionReview>(body) {
        check(r, false);
    }
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let versions = [V1BETA1, V1BETA2];
    let (from, to) = (
        versions[usize::from(selector & 1)],
        versions[usize::from(selector >> 1 & 1)],
    );
    if selector & 4 != 0
        && let Some(o) = object.as_object_mut()
    {
        o.insert("apiVersion".into(), from.into());
        o.insert("kind".into(), "BGPPeer".into());
    }
    let objects = match object {
        Value::Array(a) if selector & 8 != 0 => a,
        o => vec![o],
    };
    let wrapped = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {"uid": "fuzz-uid", "desiredAPIVersion": to, "objects": objects}});
    let r = serde_json::from_value::<ConversionReview>(wrapped)
        .expect("a well-formed envelope decodes");
    check(r, true);
});
