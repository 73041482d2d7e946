//! Certificate management against the API server, as MetalLB's cert-controller rotator does
//! (§5.3): the Secret (`metallb-webhook-cert`, keys `ca.crt`, `ca.key`, `tls.crt`, `tls.key`) is
//! the source of truth, so any number of replicas agree. Each replica, every check interval:
//!
//! 1. reads the Secret; creates it when missing, fills or renews it when due (expiry read from
//!    the X.509 certificates) — writes carry the `resourceVersion` read (optimistic
//!    concurrency), and a replica that loses the race (409) re-reads and adopts the winner's
//!    certificates. A Secret that is not ours (cert-manager's, MetalLB's: [`crate::secret`]) is
//!    served as it is and never written, unless `--cert-takeover` (logged);
//! 2. injects the CA bundle into every webhook of the ValidatingWebhookConfiguration and into
//!    the `bgppeers.metallb.io` CRD's conversion `clientConfig` (before serving a new
//!    certificate, so the API server already trusts it); a foreign Secret's `ca.crt` only fills
//!    empty caBundles (its owner, e.g. cert-manager's CA injector, keeps them otherwise);
//! 3. hot-reloads the serving certificate into the running TLS listener
//!    (`RustlsConfig::reload_from_pem`) when it changed: connections in flight keep the old one.
//!
//! With externally managed certificates (cert-manager), [`watch_files`] polls `tls.crt`/`tls.key`
//! (polling, not inotify: Secret volumes are updated by swapping a symlink) and reloads them.

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
use crate::secret::{Plan, Served, plan, to_secret};

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

/// Whether a caBundle field must be set to `ca`: it differs and we may overwrite, or it is empty.
fn needs_bundle(current: Option<&ByteString>, ca: &str, overwrite: bool) -> bool {
    match current.map(|b| b.0.as_slice()) {
        None | Some([]) => true,
        Some(c) => overwrite && c != ca.as_bytes(),
    }
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
    /// Replace a certificate Secret that is not ours (`--cert-takeover`).
    pub takeover: bool,
}

impl Rotator {
    /// Returns the certificate to serve: the Secret's, after creating, filling or renewing it
    /// when it is ours and due ([`plan`]); a foreign Secret's as it is.
    pub async fn ensure(&self) -> Result<Served, Error> {
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
                        .map(|_| b.served())
                }
                Some(s) => match plan(&s, &self.settings, now, self.takeover)? {
                    Plan::Serve(served) => return Ok(self.checked(served, now)),
                    Plan::Wait(reason) => {
                        return Err(Error::SecretNotReady {
                            secret: format!("{}/{name}", self.targets.namespace),
                            reason,
                        });
                    }
                    Plan::TakeOver(next, why) => {
                        tracing::warn!(secret = %name, "{why}");
                        self.write(&api, s, next).await
                    }
                    Plan::Write(next, why) => {
                        tracing::info!(secret = %name, "{why}");
                        self.write(&api, s, next).await
                    }
                },
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

    /// Replaces the Secret's certificates: `replace` sends the resourceVersion read, so a
    /// concurrent writer makes it fail with 409.
    async fn write(
        &self,
        api: &Api<Secret>,
        s: Secret,
        next: Bundle,
    ) -> Result<Served, kube::Error> {
        api.replace(
            &self.targets.secret,
            &PostParams::default(),
            &to_secret(s, &next),
        )
        .await
        .map(|_| next.served())
    }

    /// Logs a foreign certificate that is due: ferrolb does not renew it.
    fn checked(&self, served: Served, now: u64) -> Served {
        if let Some(why) = &served.foreign
            && served.not_after <= now + self.settings.renew_before.as_secs()
        {
            tracing::warn!(
                secret = %self.targets.secret,
                not_after = served.not_after,
                "the serving certificate expires soon and the Secret {why}: ferrolb leaves it \
                 to its owner (--cert-takeover lets ferrolb manage it)"
            );
        }
        served
    }

    /// Puts the served CA bundle into the webhook configuration and the conversion CRD
    /// (skipping objects that do not exist or already have it; a foreign Secret's CA only fills
    /// empty caBundles, and a Secret without `ca.crt` injects nothing).
    pub async fn inject(&self, served: &Served) -> Result<(), Error> {
        let Some(ca_bundle) = served.ca_cert.as_deref() else {
            return Ok(());
        };
        let overwrite = served.foreign.is_none();
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
                if needs_bundle(w.client_config.ca_bundle.as_ref(), ca_bundle, overwrite) {
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
                && needs_bundle(cc.ca_bundle.as_ref(), ca_bundle, overwrite)
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
    pub async fn run(self, tls: RustlsConfig, mut served: Served, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let step = async {
                let b = self.ensure().await?;
                self.inject(&b).await?;
                if b.cert != served.cert {
                    tls.reload_from_pem(b.cert.clone().into_bytes(), b.key.clone().into_bytes())
                        .await?;
                    tracing::info!(not_after = b.not_after, foreign = ?b.foreign, "serving certificate reloaded");
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
    fn foreign_ca_only_fills_empty_bundles() {
        let other = ByteString(b"someone else's CA".to_vec());
        let same = ByteString(b"ca".to_vec());
        assert!(needs_bundle(None, "ca", false));
        assert!(needs_bundle(Some(&ByteString(Vec::new())), "ca", false));
        assert!(!needs_bundle(Some(&other), "ca", false));
        assert!(needs_bundle(Some(&other), "ca", true));
        assert!(!needs_bundle(Some(&same), "ca", true));
    }
}
