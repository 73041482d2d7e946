//! Certificate management against the API server, as MetalLB's cert-controller rotator does
//! (§5.3): the Secret (`metallb-webhook-cert`, keys `ca.crt`, `ca.key`, `tls.crt`, `tls.key`) is
//! the source of truth, so any number of replicas agree. Each replica, every check interval:
//!
//! 1. reads the Secret; creates it when missing, renews it when due — writes carry the
//!    `resourceVersion` read (optimistic concurrency), and a replica that loses the race
//!    (409) re-reads and adopts the winner's certificates;
//! 2. injects the CA bundle into every webhook of the ValidatingWebhookConfiguration and into
//!    the `bgppeers.metallb.io` CRD's conversion `clientConfig` (before serving a new
//!    certificate, so the API server already trusts it);
//! 3. hot-reloads the serving certificate into the running TLS listener
//!    (`RustlsConfig::reload_from_pem`) when it changed: connections in flight keep the old one.
//!
//! With externally managed certificates (cert-manager), [`watch_files`] polls `tls.crt`/`tls.key`
//! (polling, not inotify: Secret volumes are updated by swapping a symlink) and reloads them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::Error;
use crate::certs::{Bundle, CertSettings, unix_now};

const ANN_CA_NOT_AFTER: &str = "ferrolb.io/ca-not-after";
const ANN_CERT_NOT_AFTER: &str = "ferrolb.io/cert-not-after";

/// Names of the objects the rotator manages.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Namespace of the Secret.
    pub namespace: String,
    /// The Secret's name (MetalLB: `metallb-webhook-cert`).
    pub secret: String,
    /// ValidatingWebhookConfiguration (MetalLB: `metallb-webhook-configuration`).
    pub webhook_configuration: String,
    /// CRD whose conversion webhook gets the bundle (`bgppeers.metallb.io`).
    pub conversion_crd: String,
}

fn kube_err(action: &str) -> impl FnOnce(kube::Error) -> Error + '_ {
    move |source| Error::Kube {
        action: action.to_owned(),
        source,
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Reads a bundle from a Secret (None when incomplete, e.g. MetalLB's shipped empty Secret).
pub fn from_secret(s: &Secret) -> Option<Bundle> {
    let data = s.data.as_ref()?;
    let text = |k: &str| {
        data.get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|t| !t.is_empty())
    };
    let ann = s.metadata.annotations.as_ref()?;
    let num = |k: &str| ann.get(k).and_then(|v| v.parse::<u64>().ok());
    Some(Bundle {
        ca_cert: text("ca.crt")?,
        ca_key: text("ca.key")?,
        cert: text("tls.crt")?,
        key: text("tls.key")?,
        ca_not_after: num(ANN_CA_NOT_AFTER)?,
        cert_not_after: num(ANN_CERT_NOT_AFTER)?,
    })
}

/// Writes a bundle into a Secret (keeping its other metadata).
pub fn to_secret(mut s: Secret, b: &Bundle) -> Secret {
    let bytes = |t: &str| ByteString(t.as_bytes().to_vec());
    let data = BTreeMap::from([
        ("ca.crt".to_owned(), bytes(&b.ca_cert)),
        ("ca.key".to_owned(), bytes(&b.ca_key)),
        ("tls.crt".to_owned(), bytes(&b.cert)),
        ("tls.key".to_owned(), bytes(&b.key)),
    ]);
    s.data = Some(data);
    let ann = s.metadata.annotations.get_or_insert_with(BTreeMap::new);
    ann.insert(ANN_CA_NOT_AFTER.into(), b.ca_not_after.to_string());
    ann.insert(ANN_CERT_NOT_AFTER.into(), b.cert_not_after.to_string());
    s
}

/// Manages the Secret, the caBundles and the served certificate.
#[derive(Clone)]
pub struct Rotator {
    /// API client.
    pub client: kube::Client,
    /// Certificate names and lifetimes.
    pub settings: CertSettings,
    /// Objects managed.
    pub targets: Targets,
}

impl Rotator {
    /// Returns the valid bundle of the Secret, creating or renewing it first when needed.
    pub async fn ensure(&self) -> Result<Bundle, Error> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.targets.namespace);
        let name = &self.targets.secret;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let now = unix_now();
            let current = api
                .get_opt(name)
                .await
                .map_err(kube_err("read the certificate Secret"))?;
            let result = match current {
                None => {
                    let b = Bundle::generate(&self.settings, now, None)?;
                    let mut s = Secret::default();
                    s.metadata.name = Some(name.clone());
                    s.metadata.namespace = Some(self.targets.namespace.clone());
                    s.type_ = Some("kubernetes.io/tls".into());
                    api.create(&PostParams::default(), &to_secret(s, &b))
                        .await
                        .map(|_| b)
                }
                Some(s) => {
                    let next = match from_secret(&s) {
                        Some(b)
                            if b.renewal(&self.settings, now) == crate::certs::Renewal::None =>
                        {
                            return Ok(b);
                        }
                        Some(b) => b.renewed(&self.settings, now)?,
                        None => Bundle::generate(&self.settings, now, None)?,
                    };
                    tracing::info!(secret = %name, "writing renewed webhook certificates");
                    // `replace` sends the resourceVersion we read: a concurrent writer makes it 409.
                    api.replace(name, &PostParams::default(), &to_secret(s, &next))
                        .await
                        .map(|_| next)
                }
            };
            match result {
                Ok(b) => return Ok(b),
                Err(e) if (is_status(&e, 409) || is_status(&e, 422)) && attempts < 5 => {
                    tracing::info!(
                        "another replica wrote the certificate Secret first; re-reading"
                    );
                }
                Err(e) => return Err(kube_err("write the certificate Secret")(e)),
            }
        }
    }

    /// Puts the CA bundle into the webhook configuration and the conversion CRD (skipping
    /// objects that do not exist or already have it).
    pub async fn inject(&self, ca_bundle: &str) -> Result<(), Error> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(ca_bundle.as_bytes());
        let pp = PatchParams::default();
        let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        if let Some(mut vwc) = vwcs
            .get_opt(&self.targets.webhook_configuration)
            .await
            .map_err(kube_err("read the ValidatingWebhookConfiguration"))?
        {
            let mut changed = false;
            for w in vwc.webhooks.iter_mut().flatten() {
                if w.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice())
                    != Some(ca_bundle.as_bytes())
                {
                    w.client_config.ca_bundle = Some(ByteString(ca_bundle.as_bytes().to_vec()));
                    changed = true;
                }
            }
            if changed {
                // `replace` carries the resourceVersion read: a concurrent replica's write makes
                // this one fail, and the next interval sees the bundle already in place.
                vwcs.replace(
                    &self.targets.webhook_configuration,
                    &PostParams::default(),
                    &vwc,
                )
                .await
                .map_err(kube_err(
                    "inject the caBundle into the ValidatingWebhookConfiguration",
                ))?;
            }
        }
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        if let Some(crd) = crds
            .get_opt(&self.targets.conversion_crd)
            .await
            .map_err(kube_err("read the BGPPeer CRD"))?
        {
            let cc = crd
                .spec
                .conversion
                .as_ref()
                .and_then(|c| c.webhook.as_ref())
                .and_then(|w| w.client_config.as_ref());
            if let Some(cc) = cc
                && cc.ca_bundle.as_ref().map(|b| b.0.as_slice()) != Some(ca_bundle.as_bytes())
            {
                let patch = serde_json::json!({"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": b64}}}}});
                crds.patch(&self.targets.conversion_crd, &pp, &Patch::Merge(&patch))
                    .await
                    .map_err(kube_err("inject the caBundle into the BGPPeer CRD"))?;
            }
        }
        Ok(())
    }

    /// The rotation loop: ensure, inject, reload when the served certificate changed.
    pub async fn run(self, tls: RustlsConfig, mut served: Bundle, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let step = async {
                let b = self.ensure().await?;
                self.inject(&b.ca_cert).await?;
                if b.cert != served.cert {
                    tls.reload_from_pem(b.cert.clone().into_bytes(), b.key.clone().into_bytes())
                        .await?;
                    tracing::info!(not_after = b.cert_not_after, "serving certificate reloaded");
                }
                Ok::<_, Error>(b)
            };
            match step.await {
                Ok(b) => served = b,
                Err(e) => {
                    tracing::warn!(error = %e, "certificate rotation step failed; retrying next interval")
                }
            }
        }
    }
}

/// Externally managed certificates: reloads `tls.crt`/`tls.key` from `dir` when they change.
pub async fn watch_files(tls: RustlsConfig, dir: PathBuf, interval: Duration) {
    let read = |name: &str| std::fs::read(dir.join(name)).ok();
    let mut last = (read("tls.crt"), read("tls.key"));
    loop {
        tokio::time::sleep(interval).await;
        let now = (read("tls.crt"), read("tls.key"));
        if now != last
            && let (Some(c), Some(k)) = now.clone()
        {
            match tls.reload_from_pem(c, k).await {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), "external certificate reloaded");
                    last = now;
                }
                Err(e) => tracing::warn!(error = %e, "external certificate not reloadable yet"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trip_and_empty_secret() {
        let settings = CertSettings::for_service("metallb-webhook-service", "metallb-system");
        let b = Bundle::generate(&settings, unix_now(), None).unwrap();
        let s = to_secret(Secret::default(), &b);
        let keys: Vec<&String> = s.data.as_ref().unwrap().keys().collect();
        assert_eq!(keys, ["ca.crt", "ca.key", "tls.crt", "tls.key"]);
        assert_eq!(from_secret(&s), Some(b));
        // MetalLB's manifests ship the Secret empty: treated as "generate".
        assert_eq!(from_secret(&Secret::default()), None);
    }
}
