//! The thin prober of the local kube-apiserver: `GET <url>/readyz` over TLS on a fresh
//! connection each time (like HAProxy's `check-ssl`; a pooled connection would hide a server
//! that no longer accepts), healthy only on HTTP 200 within the timeout. The stack is
//! hyper + hyper-rustls + rustls (ring), the one `kube` and `ferrolb_kube::telemetry` already
//! build. The server certificate is verified against `--apiserver-ca-file` with the name
//! `--apiserver-server-name` (default `kubernetes`, a name every kubeadm API server
//! certificate carries; kubeadm's certificates do not name 127.0.0.1), or not at all with the
//! explicit `--insecure-skip-tls-verify`, which [`super::args`] accepts only for a loopback
//! URL. The decision from the results is [`super::health`]'s.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Empty;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How the API server's certificate is checked.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Against this CA bundle (PEM), for this server name.
    Ca {
        /// The PEM file.
        file: std::path::PathBuf,
        /// The name the certificate must carry.
        server_name: String,
    },
    /// Not at all (loopback URLs only, see the module docs).
    SkipVerify,
}

/// Why the prober could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The CA file is unreadable or holds no certificate.
    #[error("--apiserver-ca-file {file}: {why}")]
    Ca {
        /// The file.
        file: String,
        /// Cause.
        why: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The server name is not a DNS name or IP.
    #[error("--apiserver-server-name {0:?} is not a DNS name or IP address")]
    ServerName(String),
}

/// A failed probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, for the log.
    pub why: String,
    /// The connection was refused: nothing listens on the port, so the API server process is
    /// gone (crashed, killed, restarting), not merely slow; [`super::health`] acts on it at once.
    pub refused: bool,
}

impl Failure {
    fn other(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            refused: false,
        }
    }
}

/// Probes `<url>/readyz`.
pub struct Prober {
    client: Client<HttpsConnector<HttpConnector>, Empty<&'static [u8]>>,
    uri: http::Uri,
    timeout: Duration,
}

fn read_ca(file: &Path) -> Result<rustls::RootCertStore, ProbeError> {
    let err = |why: String| ProbeError::Ca {
        file: file.display().to_string(),
        why,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| err(e.to_string()))? {
        let cert = cert.map_err(|e| err(e.to_string()))?;
        roots.add(cert).map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(roots)
}

impl Prober {
    /// A prober of `base` (e.g. `https://127.0.0.1:6443`) giving up after `timeout`.
    pub fn new(base: &http::Uri, trust: &Trust, timeout: Duration) -> Result<Self, ProbeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let (tls, name) = match trust {
            Trust::Ca { file, server_name } => {
                let name = ServerName::try_from(server_name.clone())
                    .map_err(|_| ProbeError::ServerName(server_name.clone()))?;
                let roots = read_ca(file)?;
                let tls = builder.with_root_certificates(roots).with_no_client_auth();
                (tls, Some(name))
            }
            Trust::SkipVerify => {
                let verifier = Arc::new(NoVerify(provider.signature_verification_algorithms));
                let tls = builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth();
                (tls, None)
            }
        };
        let b = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let b = match name {
            Some(n) => b.with_server_name_resolver(FixedServerNameResolver::new(n)),
            None => b,
        };
        let connector = b.enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        let base = base.to_string();
        let uri = format!("{}/readyz", base.trim_end_matches('/'))
            .parse()
            .map_err(|_| ProbeError::ServerName(base))?;
        Ok(Self {
            client,
            uri,
            timeout,
        })
    }

    /// One probe: `Ok(())` on HTTP 200 within the timeout, else why not.
    pub async fn probe(&self) -> Result<(), Failure> {
        let req = http::Request::get(self.uri.clone())
            .body(Empty::new())
            .map_err(|e| Failure::other(e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(Failure::other(format!(
                "no answer within {:?}",
                self.timeout
            ))),
            Ok(Err(e)) => Err(Failure {
                why: chain(&e),
                refused: refused(&e),
            }),
            Ok(Ok(r)) if r.status() == http::StatusCode::OK => Ok(()),
            Ok(Ok(r)) => Err(Failure::other(format!("HTTP status {}", r.status()))),
        }
    }
}

/// The causes of an error, outermost first (bounded: error chains are short, but never trust
/// a cycle).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |c| c.source()).take(9)
}

/// An error and its causes, `: `-separated (hyper's own message alone is only "client error
/// (Connect)").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    causes(e)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Whether the connection was refused (an `ECONNREFUSED` somewhere in the chain).
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    causes(e).any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// Accepts any certificate but still checks the handshake signatures (so the session is at
/// least bound to the key the server presented).
#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
