//! The certificate Secret, pure: whose it is ([`owner`]), what it serves ([`Served`]), what
//! the rotator does with it ([`plan`]), and the X.509 expiry of its certificates
//! ([`not_after`], read from the certificate itself with `x509-parser`, never from metadata).
//!
//! MetalLB's rotator (cert-controller, §5.3 of the reference) owns `metallb-webhook-cert`. A
//! Secret ferrolb did not write — issued by cert-manager (a `cert-manager.io/*` annotation), owned
//! by another object (owner references), or filled by a MetalLB still running (keys `ca.crt`,
//! `tls.crt`, `tls.key` without ferrolb's marker) — is **left alone**: its certificate is served
//! and hot-reloaded as it changes, never rewritten, unless `--cert-takeover` asks for it. The
//! empty Secret MetalLB's and ferrolb's manifests ship is claimed and filled.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;

use crate::Error;
use crate::certs::{Bundle, CertSettings, Renewal};

/// Annotation marking a Secret whose certificates ferrolb writes.
pub const MANAGED_BY: &str = "ferrolb.io/cert-managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGER: &str = "ferrolb-webhook";
/// Annotations of earlier ferrolb versions (expiry times), which also mark a Secret as ours.
const LEGACY: [&str; 2] = ["ferrolb.io/ca-not-after", "ferrolb.io/cert-not-after"];
/// cert-manager's annotations (`cert-manager.io/certificate-name`, `…/issuer-name`, …).
const CERT_MANAGER: &str = "cert-manager.io/";

/// Whose certificates a Secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// No serving certificate yet and nobody else's marks: ferrolb fills it.
    Empty,
    /// Written by ferrolb.
    Ours,
    /// Someone else's; the reason names who.
    Foreign(String),
}

/// The certificate the listener serves, and the CA that verifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Serving certificate (chain), PEM.
    pub cert: String,
    /// Its private key, PEM.
    pub key: String,
    /// CA bundle (`ca.crt`), when the Secret has one.
    pub ca_cert: Option<String>,
    /// The serving certificate's X.509 notAfter (Unix seconds).
    pub not_after: u64,
    /// Why the Secret is not ours (None when it is).
    pub foreign: Option<String>,
}

/// What the rotator does with an existing Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Serve this certificate; write nothing.
    Serve(Served),
    /// Replace the Secret's certificates with this bundle (marked as ours); the reason is logged.
    Write(Bundle, String),
    /// Replace a foreign Secret's certificates (`--cert-takeover`); the reason names its owner.
    TakeOver(Bundle, String),
    /// A foreign Secret without a serving certificate yet (e.g. cert-manager still issuing).
    Wait(String),
}

fn text(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .filter(|t| !t.trim().is_empty())
}

fn annotations(s: &Secret) -> impl Iterator<Item = (&String, &String)> {
    s.metadata.annotations.iter().flatten()
}

/// Whose certificates `s` holds (see the module docs). Foreign marks win over ours: a Secret
/// cert-manager took over is cert-manager's.
pub fn owner(s: &Secret) -> Owner {
    if let Some((k, v)) = annotations(s).find(|(k, _)| k.starts_with(CERT_MANAGER)) {
        return Owner::Foreign(format!("is managed by cert-manager (annotation {k}={v})"));
    }
    if let Some(o) = s.metadata.owner_references.iter().flatten().next() {
        return Owner::Foreign(format!("is owned by {} {}", o.kind, o.name));
    }
    if annotations(s)
        .any(|(k, v)| (k == MANAGED_BY && v == MANAGER) || LEGACY.contains(&k.as_str()))
    {
        return Owner::Ours;
    }
    if text(s, "tls.crt").is_none() && text(s, "tls.key").is_none() {
        return Owner::Empty;
    }
    Owner::Foreign(
        "holds certificates ferrolb did not write (e.g. MetalLB's cert-controller)".into(),
    )
}

/// The notAfter (Unix seconds) of the first certificate of a PEM text, read from the X.509.
pub fn not_after(pem: &str) -> Result<u64, Error> {
    let bad = |e: String| Error::InvalidSecret(format!("cannot read the certificate: {e}"));
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| bad(e.to_string()))?;
    u64::try_from(cert.validity().not_after.timestamp()).map_err(|e| bad(e.to_string()))
}

/// Reads ferrolb's bundle from a Secret; None when a key is missing or a certificate does not
/// parse (the rotator then generates a new one). Expiry times come from the certificates.
pub fn from_secret(s: &Secret) -> Option<Bundle> {
    let ca_cert = text(s, "ca.crt")?;
    let cert = text(s, "tls.crt")?;
    Some(Bundle {
        ca_not_after: not_after(&ca_cert).ok()?,
        cert_not_after: not_after(&cert).ok()?,
        ca_key: text(s, "ca.key")?,
        key: text(s, "tls.key")?,
        ca_cert,
        cert,
    })
}

/// Writes a bundle into a Secret and marks it as ours: other annotations and labels stay;
/// foreign marks (cert-manager annotations, owner references) go, since the Secret is taken over.
pub fn to_secret(mut s: Secret, b: &Bundle) -> Secret {
    let bytes = |t: &str| ByteString(t.as_bytes().to_vec());
    s.data = Some(BTreeMap::from([
        ("ca.crt".to_owned(), bytes(&b.ca_cert)),
        ("ca.key".to_owned(), bytes(&b.ca_key)),
        ("tls.crt".to_owned(), bytes(&b.cert)),
        ("tls.key".to_owned(), bytes(&b.key)),
    ]));
    s.metadata.owner_references = None;
    let ann = s.metadata.annotations.get_or_insert_with(BTreeMap::new);
    ann.retain(|k, _| !k.starts_with(CERT_MANAGER) && !LEGACY.contains(&k.as_str()));
    ann.insert(MANAGED_BY.into(), MANAGER.into());
    s
}

impl Bundle {
    /// What the listener serves from this bundle.
    pub fn served(&self) -> Served {
        Served {
            cert: self.cert.clone(),
            key: self.key.clone(),
            ca_cert: Some(self.ca_cert.clone()),
            not_after: self.cert_not_after,
            foreign: None,
        }
    }
}

/// A foreign Secret's serving certificate, as it is.
fn foreign_served(s: &Secret, why: String) -> Result<Served, String> {
    let (Some(cert), Some(key)) = (text(s, "tls.crt"), text(s, "tls.key")) else {
        return Err(format!("{why}; it has no tls.crt/tls.key yet"));
    };
    let not_after = not_after(&cert).map_err(|e| format!("{why}; its tls.crt: {e}"))?;
    Ok(Served {
        cert,
        key,
        ca_cert: text(s, "ca.crt"),
        not_after,
        foreign: Some(why),
    })
}

/// What to do with the existing Secret `s` at `now`: serve ours while valid, renew or fill it
/// when due, serve a foreign one as it is — or replace it only when `takeover` is set.
pub fn plan(s: &Secret, settings: &CertSettings, now: u64, takeover: bool) -> Result<Plan, Error> {
    Ok(match owner(s) {
        Owner::Empty => Plan::Write(
            Bundle::generate(settings, now, None)?,
            "filling the empty certificate Secret".into(),
        ),
        Owner::Ours => match from_secret(s) {
            Some(b) if b.renewal(settings, now) == Renewal::None => Plan::Serve(b.served()),
            Some(b) => Plan::Write(
                b.renewed(settings, now)?,
                "renewing the certificates".into(),
            ),
            None => Plan::Write(
                Bundle::generate(settings, now, None)?,
                "regenerating incomplete or unreadable certificates".into(),
            ),
        },
        Owner::Foreign(why) if takeover => Plan::TakeOver(
            Bundle::generate(settings, now, None)?,
            format!("--cert-takeover: taking over a certificate Secret that {why}"),
        ),
        Owner::Foreign(why) => match foreign_served(s, why) {
            Ok(served) => Plan::Serve(served),
            Err(why) => Plan::Wait(why),
        },
    })
}

#[cfg(test)]
mod tests;
