//! ferrolb's admission and conversion webhook, at MetalLB's paths (§2.1 of the reference):
//! `/validate-metallb-io-v1beta1-ipaddresspool`, `/validate-metallb-io-v1beta2-bgppeer`,
//! `/validate-metallb-io-v1beta1-bgpadvertisement`, `/validate-metallb-io-v1beta1-l2advertisement`,
//! `/validate-metallb-io-v1beta1-community`, `/validate-metallb-io-v1beta1-bfdprofile`, plus
//! `/convert` (BGPPeer v1beta1 ↔ v1beta2), `/healthz` and `/readyz`.
//!
//! ```text
//!  reflectors (ferrolb ns: 6 kinds; Nodes; Services) ──► ConfigSource::snapshot()
//!                                                              │
//!  API server ── AdmissionReview ──► handlers ── ferrolb_validate::admission::admit ──► allow/deny + warnings
//!             ── ConversionReview ─► handlers ── ferrolb_validate::conversion::convert_object
//!  certs (rcgen CA + leaf) ◄── rotation loop (Secret metallb-webhook-cert is the source of truth)
//!        └──► RustlsConfig::reload_from_pem (hot reload); caBundle ► VWC + bgppeers CRD
//! ```
//!
//! Modules: [`cli`] (the command: flags and server, shared by the `ferrolb-webhook` binary and
//! `ferrolb-operator webhook`), [`handlers`] (the axum router, pure over a [`source::ConfigSource`]), [`source`]
//! (reflector stores), [`certs`] (certificate generation, pure), [`secret`] (the certificate
//! Secret: ours or foreign, X.509 expiry, what to do with it; pure), [`rotation`] (Secret and
//! caBundle management against the API server).

pub mod certs;
pub mod cli;
pub mod handlers;
pub mod rotation;
pub mod secret;
pub mod source;

/// Errors of the webhook's I/O parts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Certificate generation failed.
    #[error("failed to generate certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A Kubernetes API call failed.
    #[error("failed to {action}: {source}")]
    Kube {
        /// What was attempted.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The TLS configuration could not be (re)loaded.
    #[error("failed to load TLS certificate: {0}")]
    Tls(#[from] std::io::Error),
    /// A local I/O operation failed (binding a port, reading certificate files, serving).
    #[error("failed to {action}: {source}")]
    Io {
        /// What was attempted.
        action: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A Secret lacks a key or holds invalid data.
    #[error("invalid webhook certificate Secret: {0}")]
    InvalidSecret(String),
    /// The certificate Secret is someone else's and has no serving certificate yet.
    #[error("webhook certificate Secret {secret} not usable yet: {reason}")]
    SecretNotReady {
        /// `<namespace>/<name>` of the Secret.
        secret: String,
        /// Whose it is and what it lacks.
        reason: String,
    },
}
