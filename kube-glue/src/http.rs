//! The plain-HTTP endpoints both binaries expose, as MetalLB ≤ v0.15 does: Prometheus text on
//! `/metrics` (the `monitoring` port, 7472) and `/healthz` + `/readyz` on the health-probe port
//! (17472, as MetalLB v0.16). Each binary supplies how to render its registry and when it is
//! ready; the routes and the listener live here once, served under the [`limits`] every ferrolb
//! listener has (header-read/idle timeout, connection cap).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;

pub mod limits;

pub use limits::{Gate, Limits};

/// The Prometheus text format 0.0.4, what MetalLB's Go client serves (`promhttp` without
/// OpenMetrics) and what [`crate::metrics::Exporter::render`] writes.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics`, rendered by `render` on every scrape.
pub fn metrics_router(render: Arc<dyn Fn() -> String + Send + Sync>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move { ([("content-type", PROMETHEUS_TEXT)], render()) }
        }),
    )
}

/// `/healthz` (the process runs) and `/readyz` (`ready` is set; `why_not` explains a 503).
pub fn probes_router(ready: Arc<AtomicBool>, why_not: &'static str) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, why_not)
                    }
                }
            }),
        )
}

/// Serves `router` on `0.0.0.0:port` until the process ends (port 0 disables it). A port that
/// is taken is logged, not fatal: metrics are never a reason to stop serving traffic.
pub async fn serve(port: u16, router: Router, what: &'static str) {
    match bind(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port).await {
        Ok(Some(listener)) => serve_on(listener, router, what).await,
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, port, "cannot listen for {what}"),
    }
}

/// Binds `ip:port` for [`serve_on`]; port 0 means "disabled" (`None`). For a binary whose
/// probes must be served (the webhook), a taken port is an error it reports.
pub async fn bind(ip: IpAddr, port: u16) -> std::io::Result<Option<TcpListener>> {
    if port == 0 {
        return Ok(None);
    }
    TcpListener::bind((ip, port)).await.map(Some)
}

/// Serves `router` on `listener` under [`Limits::DEFAULT`] until the process ends; a failure is
/// logged.
pub async fn serve_on(listener: TcpListener, router: Router, what: &'static str) {
    let limits = Limits::DEFAULT;
    serve_limited(listener, router, limits, Gate::new(&limits, what)).await;
}

/// Serves `router` on `listener` under `limits`, admitting connections through `gate`, until
/// the process ends; a failure is logged.
pub async fn serve_limited(listener: TcpListener, router: Router, limits: Limits, gate: Gate) {
    let what = gate.what();
    let server = axum_server::Server::from_listener(listener).acceptor(gate);
    if let Err(e) = limits.apply(server).serve(router.into_make_service()).await {
        tracing::error!(error = %e, "{what} server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_status(router: Router, path: &str) -> (StatusCode, String) {
        let resp = router
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readiness_follows_the_flag_and_metrics_render_on_scrape() {
        let ready = Arc::new(AtomicBool::new(false));
        let probes = probes_router(ready.clone(), "not synced");
        assert_eq!(
            get_status(probes.clone(), "/healthz").await.0,
            StatusCode::OK
        );
        assert_eq!(
            get_status(probes.clone(), "/readyz").await,
            (StatusCode::SERVICE_UNAVAILABLE, "not synced".into())
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get_status(probes, "/readyz").await.0, StatusCode::OK);
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = n.clone();
        let metrics = metrics_router(Arc::new(move || {
            format!("x {}\n", counter.fetch_add(1, Ordering::Relaxed))
        }));
        assert_eq!(get_status(metrics.clone(), "/metrics").await.1, "x 0\n");
        assert_eq!(get_status(metrics, "/metrics").await.1, "x 1\n");
    }
}
