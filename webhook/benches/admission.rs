//! In-process admission latency: the axum router driven with `tower::ServiceExt::oneshot` (no
//! socket, no TLS), against a stored configuration of 50 pools, 10 peers, 20 advertisements.
//! Besides criterion's estimates, prints p50/p99 over 2000 sequential requests per case.
//!
//! `cargo bench -p ferrolb-webhook --bench admission`

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use ferrolb_api::manifest::parse_manifests;
use ferrolb_validate::{ClusterResources, Options};
use ferrolb_webhook::handlers::{AppState, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn existing() -> ClusterResources {
    let mut y = String::new();
    for i in 0..50 {
        y.push_str(&format!("---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: pool{i}, namespace: metallb-system}}\nspec: {{addresses: [10.{i}.0.0/24, 10.{i}.1.10-10.{i}.1.200]}}\n"));
    }
    for i in 0..10 {
        y.push_str(&format!("---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: peer{i}, namespace: metallb-system}}\nspec: {{myASN: 64512, peerASN: 6451{i}, peerAddress: 192.168.0.{i}}}\n"));
    }
    for i in 0..20 {
        y.push_str(&format!("---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: ad{i}, namespace: metallb-system}}\nspec: {{ipAddressPools: [pool{i}], localPref: 100}}\n"));
    }
    ClusterResources::from_objects(parse_manifests(&y).unwrap())
}

fn review(kind: &str, version: &str, object: Value) -> String {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "kind": {"group": "metallb.io", "version": version, "kind": kind},
        "resource": {"group": "metallb.io", "version": version, "resource": "x"},
        "name": object["metadata"]["name"], "namespace": "metallb-system", "operation": "CREATE",
        "userInfo": {}, "object": object}})
    .to_string()
}

fn cases() -> Vec<(&'static str, &'static str, String)> {
    let pool = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "new", "namespace": "metallb-system"}, "spec": {"addresses": ["10.200.0.0/24"]}});
    let peer = json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "new", "namespace": "metallb-system"}, "spec": {"myASN": 64512, "peerASN": 65000, "peerAddress": "192.168.1.1", "connectTime": "5s"}});
    let conv = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "request": {"uid": "u", "desiredAPIVersion": "metallb.io/v1beta2", "objects": [
        {"apiVersion": "metallb.io/v1beta1", "kind": "BGPPeer", "metadata": {"name": "p"}, "spec": {"myASN": 1, "peerASN": 2, "peerAddress": "10.0.0.1"}}]}});
    vec![
        (
            "pool_create_overlap_check",
            "/validate-metallb-io-v1beta1-ipaddresspool",
            review("IPAddressPool", "v1beta1", pool),
        ),
        (
            "bgppeer_create_with_cel",
            "/validate-metallb-io-v1beta2-bgppeer",
            review("BGPPeer", "v1beta2", peer),
        ),
        ("convert_v1beta1_to_v1beta2", "/convert", conv.to_string()),
    ]
}

async fn call(app: &axum::Router, path: &str, body: &str) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let _ = resp.into_body().collect().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let app = router(AppState::new(Arc::new(existing()), Options::default()));
    for (name, path, body) in cases() {
        let mut samples: Vec<Duration> = (0..2000)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(call(&app, path, &body));
                t.elapsed()
            })
            .collect();
        samples.sort();
        eprintln!(
            "{name}: p50 {:?} p99 {:?} (n=2000)",
            samples[1000], samples[1979]
        );
        c.bench_function(name, |b| b.iter(|| rt.block_on(call(&app, path, &body))));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
