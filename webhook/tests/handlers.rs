//! The router in-process (`tower::ServiceExt::oneshot`, no socket, no TLS): every MetalLB path
//! answers, invalid objects are denied with MetalLB's message, valid ones pass, warnings are
//! returned, answers about pools count Services without naming them, pool deletion is never
//! refused, and `/convert` converts BGPPeers both ways.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrolb_api::manifest::parse_manifests;
use ferrolb_validate::{ClusterResources, Options, ServiceIps};
use ferrolb_webhook::handlers::{AppState, PATHS, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn app(existing: &str) -> axum::Router {
    let res = ClusterResources::from_objects(parse_manifests(existing).unwrap());
    router(AppState::new(Arc::new(res), Options::default()))
}

async fn post(app: axum::Router, path: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn review(op: &str, kind: &str, version: &str, object: Option<Value>, old: Option<Value>) -> Value {
    let any = object.as_ref().or(old.as_ref()).unwrap();
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0b2c-uid", "kind": {"group": "metallb.io", "version": version, "kind": kind},
            "resource": {"group": "metallb.io", "version": version, "resource": format!("{}s", kind.to_lowercase())},
            "name": any["metadata"]["name"], "namespace": any["metadata"]["namespace"],
            "operation": op, "userInfo": {"username": "admin"},
            "object": object, "oldObject": old, "dryRun": false
        }
    })
}

fn pool(name: &str, ns: &str, addresses: &[&str]) -> Value {
    json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
           "metadata": {"name": name, "namespace": ns}, "spec": {"addresses": addresses}})
}

const EXISTING: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a, namespace: metallb-system}\nspec: {addresses: [192.168.10.0/24]}\n";

#[tokio::test]
async fn overlapping_pool_is_denied_with_metallb_message() {
    let body = review(
        "CREATE",
        "IPAddressPool",
        "v1beta1",
        Some(pool(
            "b",
            "metallb-system",
            &["192.168.10.128-192.168.10.130"],
        )),
        None,
    );
    let (status, out) = post(app(EXISTING), PATHS[0].0, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["response"]["uid"], "0b2c-uid");
    assert_eq!(out["response"]["allowed"], false);
    let msg = out["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("CIDR \"192.168.10.128/31\" in pool \"b\" overlaps with already defined CIDR \"192.168.10.0/24\""), "{msg}");
}

#[tokio::test]
async fn valid_pool_is_allowed() {
    let body = review(
        "CREATE",
        "IPAddressPool",
        "v1beta1",
        Some(pool("b", "metallb-system", &["192.168.11.0/24"])),
        None,
    );
    let (_, out) = post(app(EXISTING), PATHS[0].0, body).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
}

#[tokio::test]
async fn wrong_namespace_on_create() {
    let body = review(
        "CREATE",
        "IPAddressPool",
        "v1beta1",
        Some(pool("b", "default", &["10.0.0.0/24"])),
        None,
    );
    let (_, out) = post(app(""), PATHS[0].0, body).await;
    assert_eq!(
        out["response"]["status"]["message"],
        "IPAddressPool/b: metadata.namespace: resource must be created in metallb-system namespace"
    );
}

#[tokio::test]
async fn every_kind_path_decodes_its_kind() {
    let peer = json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "p", "namespace": "metallb-system"},
                      "spec": {"myASN": 64512, "peerASN": 64512, "ebgpMultiHop": true, "peerAddress": "10.0.0.1"}});
    let (_, out) = post(
        app(""),
        "/validate-metallb-io-v1beta2-bgppeer",
        review("CREATE", "BGPPeer", "v1beta2", Some(peer), None),
    )
    .await;
    assert!(
        out["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .ends_with("invalid ebgp-multihop parameter set for an ibgp peer")
    );

    let ad = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement", "metadata": {"name": "ad", "namespace": "metallb-system"},
                    "spec": {"aggregationLength": 16}});
    let (_, out) = post(
        app(EXISTING),
        "/validate-metallb-io-v1beta1-bgpadvertisement",
        review("CREATE", "BGPAdvertisement", "v1beta1", Some(ad), None),
    )
    .await;
    assert!(
        out["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("prefix 24 in this pool is more specific"),
        "{out}"
    );

    let l2 = json!({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": {"name": "l", "namespace": "metallb-system"},
                    "spec": {"ipAddressPools": ["a", "a"]}});
    let (_, out) = post(
        app(""),
        "/validate-metallb-io-v1beta1-l2advertisement",
        review("CREATE", "L2Advertisement", "v1beta1", Some(l2), None),
    )
    .await;
    assert_eq!(out["response"]["allowed"], false);

    let c = json!({"apiVersion": "metallb.io/v1beta1", "kind": "Community", "metadata": {"name": "c", "namespace": "metallb-system"},
                   "spec": {"communities": [{"name": "x", "value": "70000:1"}]}});
    let (_, out) = post(
        app(""),
        "/validate-metallb-io-v1beta1-community",
        review("CREATE", "Community", "v1beta1", Some(c), None),
    )
    .await;
    assert!(
        out["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("parsing community \"x\"")
    );

    let b = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile", "metadata": {"name": "fast", "namespace": "metallb-system"}, "spec": {}});
    let existing = format!(
        "{}---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: p1, namespace: metallb-system}}\nspec: {{myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, bfdProfile: fast}}\n",
        "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast, namespace: metallb-system}\n"
    );
    let (_, out) = post(
        app(&existing),
        "/validate-metallb-io-v1beta1-bfdprofile",
        review("DELETE", "BFDProfile", "v1beta1", None, Some(b)),
    )
    .await;
    assert!(
        out["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("failed to delete BFDProfile fast, used by BGPPeer p1"),
        "{out}"
    );
}

#[tokio::test]
async fn warnings_are_returned() {
    let peer = json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "p", "namespace": "metallb-system"},
                      "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1", "disableMP": true}});
    let (_, out) = post(
        app(""),
        "/validate-metallb-io-v1beta2-bgppeer",
        review("CREATE", "BGPPeer", "v1beta2", Some(peer), None),
    )
    .await;
    assert_eq!(out["response"]["allowed"], true);
    assert!(out["response"]["warnings"][0].as_str().unwrap().ends_with(
        "disable mp is deprecated and has no effect since it's the default behavior now"
    ));
}

#[tokio::test]
async fn malformed_review_is_invalid_not_500() {
    let (status, out) = post(
        app(""),
        PATHS[0].0,
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["response"]["allowed"], false);
}

#[tokio::test]
async fn convert_both_ways() {
    let v1 = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPPeer", "metadata": {"name": "p", "namespace": "metallb-system"},
                    "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.1"}});
    let body = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                      "request": {"uid": "u1", "desiredAPIVersion": "metallb.io/v1beta2", "objects": [v1]}});
    let (_, out) = post(app(""), "/convert", body).await;
    assert_eq!(out["response"]["uid"], "u1");
    assert_eq!(out["response"]["result"]["status"], "Success");
    let v2 = &out["response"]["convertedObjects"][0];
    assert_eq!(v2["apiVersion"], "metallb.io/v1beta2");
    assert_eq!(v2["spec"]["holdTime"], "0s");
    let body = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                      "request": {"uid": "u2", "desiredAPIVersion": "metallb.io/v1beta1", "objects": [v2]}});
    let (_, out) = post(app(""), "/convert", body).await;
    assert_eq!(
        out["response"]["convertedObjects"][0]["spec"]["peerAddress"],
        "10.0.0.1"
    );
    let body = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                      "request": {"uid": "u3", "desiredAPIVersion": "metallb.io/v9", "objects": [v1]}});
    let (_, out) = post(app(""), "/convert", body).await;
    assert_eq!(out["response"]["result"]["status"], "Failure");
}

#[tokio::test]
async fn health_and_readiness() {
    let req = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(app("").oneshot(req).await.unwrap().status(), StatusCode::OK);
    let res = ClusterResources::default();
    let state = AppState::new(Arc::new(res), Options::default());
    state
        .ready
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let req = Request::get("/readyz").body(Body::empty()).unwrap();
    assert_eq!(
        router(state).oneshot(req).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

fn svc(namespace: &str, name: &str, ip: &str) -> ServiceIps {
    ServiceIps {
        namespace: namespace.into(),
        name: name.into(),
        ips: vec![ip.parse().unwrap()],
    }
}

/// A DELETE review of pool `a` (metallb-system) holding `addresses`.
fn delete_pool_a(addresses: &[&str]) -> Value {
    review(
        "DELETE",
        "IPAddressPool",
        "v1beta1",
        None,
        Some(pool("a", "metallb-system", addresses)),
    )
}

/// An AdmissionReview is not authenticated: a forged one (any userInfo, any oldObject) must not
/// learn which Services hold which IPs in other namespaces.
#[tokio::test]
async fn pool_answers_count_services_never_name_them() {
    let mut res = ClusterResources::from_objects(parse_manifests(EXISTING).unwrap());
    res.services = vec![
        svc("team-secret", "payroll", "192.168.10.200"),
        svc("finance", "billing", "192.168.10.5"),
        svc("elsewhere", "outside", "10.1.1.1"),
    ];
    let app = router(AppState::new(Arc::new(res), Options::default()));
    let mut forged = delete_pool_a(&["192.168.10.0/24"]);
    forged["request"]["userInfo"] = json!({"username": "system:anonymous"});
    let everything = delete_pool_a(&["0.0.0.0/0"]);
    let shrink = review(
        "UPDATE",
        "IPAddressPool",
        "v1beta1",
        Some(pool("a", "metallb-system", &["192.168.10.0/25"])),
        Some(pool("a", "metallb-system", &["192.168.10.0/24"])),
    );
    for (body, n) in [(forged, 2), (everything, 3), (shrink, 1)] {
        let (_, out) = post(app.clone(), PATHS[0].0, body).await;
        assert_eq!(out["response"]["allowed"], true, "{out}");
        assert_eq!(
            out["response"]["warnings"],
            json!([format!(
                "IPAddressPool/a: this change moves the IPs of {n} Services (`kubectl get services -A` shows which)"
            )])
        );
        let text = out.to_string();
        for secret in [
            "team-secret",
            "payroll",
            "finance",
            "billing",
            "outside",
            "192.168.10.200",
            "10.1.1.1",
        ] {
            assert!(!text.contains(secret), "{secret} revealed: {text}");
        }
    }
    // A pool outside ferrolb's namespace allocates nothing: no count either.
    let elsewhere = review(
        "DELETE",
        "IPAddressPool",
        "v1beta1",
        None,
        Some(pool("a", "default", &["0.0.0.0/0"])),
    );
    let (_, out) = post(app, PATHS[0].0, elsewhere).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
    assert_eq!(out["response"]["warnings"], Value::Null, "{out}");
}

/// MetalLB's IPAddressPool webhook does not validate DELETE: a pool still referenced by
/// advertisements (by name, or through an aggregation length) is deleted.
#[tokio::test]
async fn pool_deletion_is_never_refused() {
    let existing = format!(
        "{EXISTING}---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: l, namespace: metallb-system}}\nspec: {{ipAddressPools: [a]}}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: b, namespace: metallb-system}}\nspec: {{ipAddressPools: [a], aggregationLength: 24}}\n"
    );
    let body = delete_pool_a(&["192.168.10.0/24"]);
    let (_, out) = post(app(&existing), PATHS[0].0, body).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
}

/// Each AdmissionReview is one `admission` span (docs/tracing.md) with the kind, the object,
/// the operation and the answer.
#[test]
fn admission_requests_are_traced_with_kind_object_operation_and_answer() {
    use ferrolb_kube::telemetry::{capture::Capture, traced};
    use ferrolb_validate::Kind;
    use ferrolb_webhook::handlers::review as judge;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let res = ClusterResources::from_objects(parse_manifests(EXISTING).unwrap());
    let state = AppState::new(Arc::new(res), Options::default());
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(
        capture
            .clone()
            .with_filter(tracing_subscriber::filter::filter_fn(traced)),
    );
    let overlapping = review(
        "CREATE",
        "IPAddressPool",
        "v1beta1",
        Some(pool("b", "metallb-system", &["192.168.10.128/30"])),
        None,
    );
    let fine = review(
        "UPDATE",
        "IPAddressPool",
        "v1beta1",
        Some(pool("c", "metallb-system", &["10.9.0.0/30"])),
        Some(pool("c", "metallb-system", &["10.9.0.0/31"])),
    );
    tracing::subscriber::with_default(subscriber, || {
        for body in [overlapping, fine] {
            let _ = judge(
                &state,
                Kind::IPAddressPool,
                serde_json::from_value(body).unwrap(),
            );
        }
    });
    let spans = capture.named("admission");
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (denied, allowed) = (&spans[0], &spans[1]);
    for (span, name, op, ok) in [
        (denied, "b", "CREATE", "false"),
        (allowed, "c", "UPDATE", "true"),
    ] {
        assert_eq!(span.field("kind"), "IPAddressPool", "{span:?}");
        assert_eq!(span.field("name"), name, "{span:?}");
        assert_eq!(span.field("namespace"), "metallb-system", "{span:?}");
        assert_eq!(span.field("operation"), op, "{span:?}");
        assert_eq!(span.field("allowed"), ok, "{span:?}");
    }
    assert_eq!(denied.field("otel.status_code"), "ERROR");
    assert_eq!(allowed.field("otel.status_code"), "");
}
