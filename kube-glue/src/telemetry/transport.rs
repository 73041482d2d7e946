//! The HTTP client of the OTLP exporter: hyper with hyper-rustls (ring, the system's CA
//! certificates for `https://` endpoints), the pair `kube` already builds, so traces add no
//! second HTTP stack. The SDK's batch span processor exports from its own thread, outside any
//! tokio runtime, so requests run on a one-thread runtime owned here (named `otlp-export`)
//! and are awaited through their join handle. An export failure is logged once when it starts
//! and once when exports work again, never per batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Largest response body read (a Collector answers with a small protobuf message).
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// The exporter's HTTP client.
pub(super) struct Transport {
    runtime: Option<tokio::runtime::Runtime>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    failing: Arc<AtomicBool>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A client for an `http://` (or, `https`, `https://`) endpoint whose requests give up
    /// after `timeout`.
    pub(super) fn new(https: bool, timeout: Duration) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if https {
            builder
                .with_provider_and_native_roots(provider)
                .map_err(|e| format!("no CA certificates for an https:// endpoint: {e}"))?
        } else {
            // Plain HTTP: TLS is never used, so no CA certificates need to be installed.
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            builder.with_tls_config(tls)
        };
        let connector = builder.https_or_http().enable_http1().build();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the export thread: {e}"))?;
        Ok(Self {
            runtime: Some(runtime),
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            failing: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime: never wait here.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Transport {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let Some(rt) = &self.runtime else {
            return Err("the OTLP exporter is stopped".into());
        };
        let (client, timeout) = (self.client.clone(), self.timeout);
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, Full::new(body));
        let task = rt.spawn(async move {
            let exchange = async {
                let response = client.request(request).await?;
                let (parts, body) = response.into_parts();
                let body = Limited::new(body, MAX_RESPONSE).collect().await?.to_bytes();
                Ok::<_, HttpError>(Response::from_parts(parts, body))
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {timeout:?}").into()),
            }
        });
        let result = match task.await {
            Ok(r) => r,
            Err(e) => Err(e.to_string().into()),
        };
        self.note(&result);
        result
    }
}

impl Transport {
    /// Logs the first failure of a series and the recovery after it.
    fn note(&self, result: &Result<Response<Bytes>, HttpError>) {
        let problem = match result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("HTTP status {}", r.status())),
            Err(e) => Some(e.to_string()),
        };
        match problem {
            Some(p) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(error = %p, "exporting OpenTelemetry traces failed (logged again only after a success)");
            }
            None if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("exporting OpenTelemetry traces works again");
            }
            _ => {}
        }
    }
}
