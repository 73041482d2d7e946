//! Webhook certificates, generated with rcgen: a CA (MetalLB's cert-controller names it `cert`,
//! organisation `metallb`) and a serving certificate for `<service>.<namespace>.svc` signed by
//! it — pure functions over PEM strings and Unix times.
//!
//! Lifetimes follow the cert-controller defaults MetalLB uses (§5.3 of the reference): CA 10
//! years, serving certificate 1 year, renewal when less than 90 days are left. Renewing only the
//! serving certificate keeps the CA, so the `caBundle` the API server holds stays valid and a
//! hot-reloaded certificate is trusted at once; when the CA itself is renewed, the new bundle
//! keeps the previous CA next to the new one so both serving certificates verify during the
//! switch. Expiry times of a stored bundle are read from the certificates themselves
//! ([`crate::secret::not_after`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Lifetimes and names of the certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSettings {
    /// DNS names (and IPs) of the serving certificate.
    pub names: Vec<String>,
    /// CA lifetime.
    pub ca_validity: Duration,
    /// Serving certificate lifetime.
    pub cert_validity: Duration,
    /// Renew when less than this is left.
    pub renew_before: Duration,
}

impl CertSettings {
    /// MetalLB's defaults for `<service>.<namespace>.svc`.
    pub fn for_service(service: &str, namespace: &str) -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            names: vec![
                format!("{service}.{namespace}.svc"),
                format!("{service}.{namespace}.svc.cluster.local"),
            ],
            ca_validity: Duration::from_secs(3650 * DAY),
            cert_validity: Duration::from_secs(365 * DAY),
            renew_before: Duration::from_secs(90 * DAY),
        }
    }
}

/// A CA and a serving certificate, PEM-encoded, with their expiry (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The CA bundle to trust: the current CA, possibly followed by the previous one.
    pub ca_cert: String,
    /// The current CA's private key.
    pub ca_key: String,
    /// The serving certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
    /// When the current CA expires.
    pub ca_not_after: u64,
    /// When the serving certificate expires.
    pub cert_not_after: u64,
}

/// What a bundle needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing.
    None,
    /// A new serving certificate (same CA).
    Leaf,
    /// A new CA and serving certificate.
    All,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ca_params(not_after: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "cert");
    dn.push(DnType::OrganizationName, "metallb");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = (SystemTime::now() - Duration::from_secs(3600)).into();
    p.not_after = (UNIX_EPOCH + Duration::from_secs(not_after)).into();
    p
}

fn leaf(
    settings: &CertSettings,
    ca_key: &KeyPair,
    ca_not_after: u64,
    now: u64,
) -> Result<(String, String, u64), rcgen::Error> {
    let not_after = (now + settings.cert_validity.as_secs()).min(ca_not_after);
    let mut p = CertificateParams::new(settings.names.clone())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        settings.names.first().cloned().unwrap_or_default(),
    );
    dn.push(DnType::OrganizationName, "metallb");
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = (SystemTime::now() - Duration::from_secs(3600)).into();
    p.not_after = (UNIX_EPOCH + Duration::from_secs(not_after)).into();
    let key = KeyPair::generate()?;
    // The issuer is rebuilt from the CA's fixed name and its key: no need to parse the CA PEM.
    let issuer = Issuer::new(ca_params(ca_not_after), ca_key);
    let cert = p.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

impl Bundle {
    /// A new CA and serving certificate; `previous_ca` (still valid) stays in the bundle.
    pub fn generate(
        settings: &CertSettings,
        now: u64,
        previous_ca: Option<&str>,
    ) -> Result<Self, rcgen::Error> {
        let ca_not_after = now + settings.ca_validity.as_secs();
        let ca_key = KeyPair::generate()?;
        let ca = ca_params(ca_not_after).self_signed(&ca_key)?;
        let (cert, key, cert_not_after) = leaf(settings, &ca_key, ca_not_after, now)?;
        let mut ca_cert = ca.pem();
        if let Some(prev) = previous_ca {
            // Only the first certificate of the previous bundle: its own current CA.
            if let Some(end) = prev.find("-----END CERTIFICATE-----") {
                ca_cert.push_str(&prev[..end + "-----END CERTIFICATE-----".len()]);
                ca_cert.push('\n');
            }
        }
        Ok(Self {
            ca_cert,
            ca_key: ca_key.serialize_pem(),
            cert,
            key,
            ca_not_after,
            cert_not_after,
        })
    }

    /// A new serving certificate from the same CA.
    pub fn renew_leaf(&self, settings: &CertSettings, now: u64) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::from_pem(&self.ca_key)?;
        let (cert, key, cert_not_after) = leaf(settings, &ca_key, self.ca_not_after, now)?;
        Ok(Self {
            cert,
            key,
            cert_not_after,
            ..self.clone()
        })
    }

    /// What this bundle needs at `now`.
    pub fn renewal(&self, settings: &CertSettings, now: u64) -> Renewal {
        let margin = settings.renew_before.as_secs();
        if self.ca_not_after <= now + margin {
            Renewal::All
        } else if self.cert_not_after <= now + margin {
            Renewal::Leaf
        } else {
            Renewal::None
        }
    }

    /// The bundle after the renewal it needs (itself when none).
    pub fn renewed(&self, settings: &CertSettings, now: u64) -> Result<Self, rcgen::Error> {
        match self.renewal(settings, now) {
            Renewal::None => Ok(self.clone()),
            Renewal::Leaf => self.renew_leaf(settings, now),
            Renewal::All => {
                let prev = (self.ca_not_after > now).then_some(self.ca_cert.as_str());
                Self::generate(settings, now, prev)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CertSettings {
        let mut s = CertSettings::for_service("metallb-webhook-service", "metallb-system");
        s.names.push("127.0.0.1".into());
        s
    }

    #[test]
    fn generate_and_renew() {
        let s = settings();
        let now = unix_now();
        let b = Bundle::generate(&s, now, None).unwrap();
        assert!(b.ca_cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(b.renewal(&s, now), Renewal::None);
        assert_eq!(b.renewal(&s, now + 300 * 24 * 3600), Renewal::Leaf);
        assert_eq!(b.renewal(&s, now + 3600 * 24 * 3600), Renewal::All);
        let later = now + 300 * 24 * 3600;
        let r = b.renewed(&s, later).unwrap();
        assert_eq!(
            (r.ca_cert.as_str(), r.ca_key.as_str()),
            (b.ca_cert.as_str(), b.ca_key.as_str())
        );
        assert_ne!(r.cert, b.cert);
        assert!(r.cert_not_after > b.cert_not_after);
        let all = b.renewed(&s, now + 3600 * 24 * 3600).unwrap();
        assert_eq!(
            all.ca_cert.matches("BEGIN CERTIFICATE").count(),
            2,
            "new CA + previous CA"
        );
    }

    #[test]
    fn leaf_verifies_against_ca_with_rustls() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let s = settings();
        let b = Bundle::generate(&s, unix_now(), None).unwrap();
        let b = b.renew_leaf(&s, unix_now()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(b.ca_cert.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider,
        )
        .build()
        .unwrap();
        let leaf = CertificateDer::from_pem_slice(b.cert.as_bytes()).unwrap();
        for name in ["metallb-webhook-service.metallb-system.svc", "127.0.0.1"] {
            verifier
                .verify_server_cert(
                    &leaf,
                    &[],
                    &ServerName::try_from(name).unwrap(),
                    &[],
                    UnixTime::now(),
                )
                .unwrap();
        }
    }
}
