//! The axum router: MetalLB's webhook paths over `kube::core::admission` and
//! `kube::core::conversion` types. Handlers are thin: decode the review, take a snapshot of the
//! stored configuration, call `ferrolb_validate`, encode the answer. A request that cannot be
//! decoded gets an `invalid` response (HTTP 200, as the API server expects).
//!
//! Trust: an AdmissionReview is not authenticated (anything that reaches the webhook port can
//! post one, with any `userInfo`), so answers never name Services: the warning for a pool edit
//! or deletion that moves Services' IPs gives only their number. And, as in MetalLB (whose
//! IPAddressPool webhook does not validate DELETE), deleting a pool is never refused: what it
//! would break is returned as warnings.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use ferrolb_validate::admission::{self, Object, Operation, Request};
use ferrolb_validate::conversion::{self, V1BETA1};
use ferrolb_validate::{Kind, Options, ServiceIps};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use serde_json::Value;

use crate::source::ConfigSource;

/// MetalLB's validating webhook paths, per kind.
pub const PATHS: [(&str, Kind); 6] = [
    (
        "/validate-metallb-io-v1beta1-ipaddresspool",
        Kind::IPAddressPool,
    ),
    ("/validate-metallb-io-v1beta2-bgppeer", Kind::BGPPeer),
    (
        "/validate-metallb-io-v1beta1-bgpadvertisement",
        Kind::BGPAdvertisement,
    ),
    (
        "/validate-metallb-io-v1beta1-l2advertisement",
        Kind::L2Advertisement,
    ),
    ("/validate-metallb-io-v1beta1-community", Kind::Community),
    ("/validate-metallb-io-v1beta1-bfdprofile", Kind::BFDProfile),
];

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The stored configuration.
    pub source: Arc<dyn ConfigSource>,
    /// Validation settings (ferrolb's namespace).
    pub options: Options,
    /// Set once the stores are synced and a certificate is served.
    pub ready: Arc<AtomicBool>,
}

impl AppState {
    /// State over a source, ready at once (tests).
    pub fn new(source: Arc<dyn ConfigSource>, options: Options) -> Self {
        Self {
            source,
            options,
            ready: Arc::new(AtomicBool::new(true)),
        }
    }
}

/// The router with every endpoint.
pub fn router(state: AppState) -> Router {
    let probes = probes_router(&state);
    let mut r = Router::new().route("/convert", post(convert));
    for (path, kind) in PATHS {
        r = r.route(
            path,
            post(
                move |st: State<AppState>, review: Json<AdmissionReview<DynamicObject>>| {
                    validate(st, kind, review)
                },
            ),
        );
    }
    r.with_state(state).merge(probes)
}

/// `/healthz` and `/readyz` (`ferrolb_kube::http`), also served alone on the plain-HTTP
/// probe port.
pub fn probes_router(state: &AppState) -> Router {
    ferrolb_kube::http::probes_router(state.ready.clone(), "not ready")
}

/// Decodes the incoming (or stored) object of a request as the path's kind.
fn decode(kind: Kind, obj: &DynamicObject) -> Result<Object, String> {
    let api_version = obj
        .types
        .as_ref()
        .map(|t| t.api_version.as_str())
        .unwrap_or("");
    let value = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    let from = |e: serde_json::Error| format!("decoding {kind}: {e}");
    Ok(match kind {
        Kind::IPAddressPool => Object::Pool(serde_json::from_value(value).map_err(from)?),
        Kind::BGPPeer if api_version == V1BETA1 => {
            let v1: ferrolb_api::v1beta1::BGPPeer = serde_json::from_value(value).map_err(from)?;
            Object::Peer(conversion::to_v1beta2(&v1))
        }
        Kind::BGPPeer => Object::Peer(serde_json::from_value(value).map_err(from)?),
        Kind::BGPAdvertisement => {
            Object::BgpAdvertisement(serde_json::from_value(value).map_err(from)?)
        }
        Kind::L2Advertisement => {
            Object::L2Advertisement(serde_json::from_value(value).map_err(from)?)
        }
        Kind::Community => Object::Community(serde_json::from_value(value).map_err(from)?),
        Kind::BFDProfile => Object::BfdProfile(serde_json::from_value(value).map_err(from)?),
    })
}

/// Judges one AdmissionReview for `kind`, in the trace span `admission` (docs/tracing.md):
/// the kind, the object, the operation and the answer.
pub fn review(
    state: &AppState,
    kind: Kind,
    review: AdmissionReview<DynamicObject>,
) -> AdmissionReview<DynamicObject> {
    use tracing::field::Empty;
    let span = tracing::info_span!(
        "admission",
        kind = %kind,
        name = Empty,
        namespace = Empty,
        operation = Empty,
        allowed = Empty,
        warnings = Empty,
        otel.status_code = Empty,
    );
    let _request = span.enter();
    let answer = judge(state, kind, review, &span);
    if let Some(r) = &answer.response {
        span.record("allowed", r.allowed);
        span.record("warnings", r.warnings.as_ref().map_or(0, Vec::len));
        if !r.allowed {
            span.record("otel.status_code", "ERROR");
        }
    }
    answer
}

/// [`review`] without its span; records the request's fields on `span`.
fn judge(
    state: &AppState,
    kind: Kind,
    review: AdmissionReview<DynamicObject>,
    span: &tracing::Span,
) -> AdmissionReview<DynamicObject> {
    let req: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return AdmissionResponse::invalid(e.to_string()).into_review(),
    };
    span.record("name", req.name.as_str());
    span.record("namespace", req.namespace.as_deref().unwrap_or_default());
    span.record("operation", operation_word(&req.operation));
    let resp = AdmissionResponse::from(&req);
    let operation = match req.operation {
        kube::core::admission::Operation::Create => Operation::Create,
        kube::core::admission::Operation::Update => Operation::Update,
        kube::core::admission::Operation::Delete => Operation::Delete,
        kube::core::admission::Operation::Connect => return resp.into_review(),
    };
    let decode_opt = |o: &Option<DynamicObject>| o.as_ref().map(|o| decode(kind, o)).transpose();
    let (object, old_object) = match (decode_opt(&req.object), decode_opt(&req.old_object)) {
        (Ok(o), Ok(old)) => (o, old),
        (Err(e), _) | (_, Err(e)) => return resp.deny(e).into_review(),
    };
    let request = Request {
        operation,
        kind,
        name: req.name.clone(),
        namespace: req.namespace.clone().unwrap_or_default(),
        object,
        old_object,
    };
    let with_services = kind == Kind::IPAddressPool && operation != Operation::Create;
    let mut snapshot = state.source.snapshot(with_services);
    // Kept out of `admit`, whose warning names them: only their number is answered.
    let services = std::mem::take(&mut snapshot.services);
    let mut verdict = admission::admit(&snapshot, &request, &state.options);
    tracing::debug!(kind = %kind, name = %request.name, op = ?operation, allowed = verdict.allowed(), "admission");
    verdict
        .warnings
        .extend(moved_count(&request, &services, &state.options));
    if kind == Kind::IPAddressPool && operation == Operation::Delete && !verdict.allowed() {
        verdict.warnings.push(verdict.message());
        verdict.denied.clear();
    }
    let mut resp = if verdict.allowed() {
        resp
    } else {
        resp.deny(verdict.message())
    };
    if !verdict.warnings.is_empty() {
        resp.warnings = Some(verdict.warnings);
    }
    resp.into_review()
}

/// The operation as the API server spells it (`CREATE`, `UPDATE`, `DELETE`, `CONNECT`).
fn operation_word(op: &kube::core::admission::Operation) -> &'static str {
    use kube::core::admission::Operation as Op;
    match op {
        Op::Create => "CREATE",
        Op::Update => "UPDATE",
        Op::Delete => "DELETE",
        Op::Connect => "CONNECT",
    }
}

/// The warning for a pool UPDATE or DELETE that takes IPs away from Services: how many, never
/// which ([`admission::moved_services`] decides, one Service at a time). None for pools outside
/// ferrolb's namespace, which allocate nothing.
fn moved_count(req: &Request, services: &[ServiceIps], opts: &Options) -> Option<String> {
    let Some(Object::Pool(old)) = &req.old_object else {
        return None;
    };
    if opts
        .namespace
        .as_ref()
        .is_some_and(|ns| ns != &req.namespace)
    {
        return None;
    }
    let new = match (&req.operation, &req.object) {
        (Operation::Update, Some(Object::Pool(p))) => Some(p),
        _ => None,
    };
    let n = services
        .iter()
        .filter(|s| admission::moved_services(old, new, std::slice::from_ref(*s)).is_some())
        .count();
    (n > 0).then(|| {
        format!(
            "IPAddressPool/{}: this change moves the IPs of {n} Services \
             (`kubectl get services -A` shows which)",
            req.name
        )
    })
}

async fn validate(
    State(state): State<AppState>,
    kind: Kind,
    Json(body): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    Json(review(&state, kind, body))
}

/// Answers one ConversionReview (BGPPeer only).
pub fn convert_review(review: ConversionReview) -> ConversionReview {
    let req = match ConversionRequest::from_review(review) {
        Ok(r) => r,
        Err(e) => {
            return ConversionResponse::invalid(status_failure(&e.to_string())).into_review();
        }
    };
    let desired = req.desired_api_version.clone();
    let objects = req.objects.clone();
    let resp = ConversionResponse::from(req);
    let converted: Result<Vec<Value>, _> = objects
        .iter()
        .map(|o| conversion::convert_object(o, &desired))
        .collect();
    match converted {
        Ok(objs) => resp.success(objs).into_review(),
        Err(e) => resp.failure(status_failure(&e.to_string())).into_review(),
    }
}

fn status_failure(message: &str) -> kube::core::Status {
    kube::core::Status::failure(message, "ConversionFailed")
}

async fn convert(Json(body): Json<ConversionReview>) -> Json<ConversionReview> {
    Json(convert_review(body))
}
