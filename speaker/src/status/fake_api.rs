//! A fake API server for the status writers' unit tests: lists of every kind are empty, a GET
//! of one object is NotFound, a POST is answered with the object (named from its
//! `generateName`), a PATCH with a minimal object of the kind the path names. Every request is
//! recorded (method, path, body).

use axum::http::{Request, Response};
use kube::Client;
use serde_json::{Value, json};

/// Requests seen by the fake API server: method, path and body.
pub type Requests = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value)>>>;

/// `(plural, apiVersion, kind)` of the kinds the speaker writes.
const KINDS: &[(&str, &str, &str)] = &[
    ("servicel2statuses", "metallb.io/v1beta1", "ServiceL2Status"),
    (
        "servicebgpstatuses",
        "metallb.io/v1beta1",
        "ServiceBGPStatus",
    ),
    (
        "configurationstates",
        "metallb.io/v1beta1",
        "ConfigurationState",
    ),
    ("bgpsessionstates", "ferrolb.io/v1alpha1", "BGPSessionState"),
];

fn not_found() -> (u16, Value) {
    let status = json!({"kind": "Status", "apiVersion": "v1",
        "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404});
    (404, status)
}

/// The answer to one request.
fn answer(method: &str, path: &str, body: &Value) -> (u16, Value) {
    let segments: Vec<&str> = path.trim_end_matches("/status").split('/').collect();
    let kind = KINDS
        .iter()
        .find(|(plural, _, _)| segments.contains(plural));
    let collection = KINDS
        .iter()
        .any(|(plural, _, _)| segments.last() == Some(plural));
    match (method, kind) {
        ("GET", Some((_, api, kind))) if collection => (
            200,
            json!({"apiVersion": api, "kind": format!("{kind}List"), "metadata": {}, "items": []}),
        ),
        ("GET", _) => not_found(),
        ("POST", _) => {
            let mut obj = body.clone();
            if let Some(g) = body["metadata"]["generateName"].as_str() {
                obj["metadata"]["name"] = json!(format!("{g}abcde"));
            }
            (201, obj)
        }
        (_, Some((_, api, kind))) => {
            let name = segments.last().copied().unwrap_or_default();
            (
                200,
                json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
            )
        }
        _ => (200, body.clone()),
    }
}

/// A client talking to the fake server, and the log of its requests.
pub fn fake_api() -> (Client, Requests) {
    let seen = Requests::default();
    let log = seen.clone();
    let service = tower::service_fn(move |req: Request<kube::client::Body>| {
        let log = log.clone();
        async move {
            let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
            let bytes = req.into_body().collect_bytes().await.expect("body");
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let (code, reply) = answer(&method, &path, &body);
            log.lock().expect("log").push((method, path, body));
            let reply = serde_json::to_vec(&reply).expect("json");
            Response::builder()
                .status(code)
                .body(kube::client::Body::from(reply))
                .map_err(|e| e.to_string())
        }
    });
    (Client::new(service, "metallb-system"), seen)
}
