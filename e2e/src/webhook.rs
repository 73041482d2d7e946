//! ferrolb's webhook on the rig, shared by `tests/webhook.rs` (one process on the host's
//! loopback, `url:` clientConfigs) and `tests/webhook_rolling.rs` (two replicas as host Pods
//! behind the Service, `service:` clientConfigs: [`crate::hostpods`]): the binary, its RBAC,
//! the manifest's documents as JSON, and MetalLB objects of one namespace.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{Context, Result};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::Rig;

pub use crate::procs::project;

/// `ferrolb-webhook` (`FERROLB_WEBHOOK_BIN`, else the target dir's debug build:
/// [`crate::procs::binary`]).
pub fn binary() -> Result<PathBuf> {
    crate::procs::binary("ferrolb-webhook")
}

/// The documents of `config/webhook/manifests.yaml` as JSON (ValidatingWebhookConfiguration,
/// Service, Secret), with `metallb-system` replaced by `ns` (`kubectl create --dry-run=client
/// -o json`; the e2e crate has no YAML dependency).
pub fn manifest(rig: &Rig, ns: &str) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(project().join("config/webhook/manifests.yaml"))?
        .replace("metallb-system", ns);
    let tmp = rig.run_dir.join(format!("webhook-manifest-{ns}.yaml"));
    std::fs::write(&tmp, text)?;
    let out = rig.kubectl(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        &tmp.to_string_lossy(),
    ])?;
    // one JSON document per object, one after the other
    serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .context("parsing config/webhook/manifests.yaml")
}

/// The manifest's ValidatingWebhookConfiguration (see [`manifest`]) with a namespaceSelector
/// for `ns` only, so tests in other namespaces are not affected.
pub fn configuration(rig: &Rig, ns: &str) -> Result<Value> {
    let mut vwc = manifest(rig, ns)?
        .into_iter()
        .find(|d| d["kind"] == "ValidatingWebhookConfiguration")
        .context("no ValidatingWebhookConfiguration in config/webhook/manifests.yaml")?;
    for w in vwc["webhooks"].as_array_mut().context("webhooks")? {
        w["namespaceSelector"] = json!({"matchLabels": {"kubernetes.io/metadata.name": ns}});
    }
    Ok(vwc)
}

/// `config/rbac/webhook.yaml` applied with its namespace renamed to `ns`.
pub fn rbac(rig: &Rig, ns: &str) -> Result<()> {
    let text = std::fs::read_to_string(project().join("config/rbac/webhook.yaml"))?;
    let tmp = rig.run_dir.join(format!("webhook-rbac-{ns}.yaml"));
    std::fs::write(&tmp, text.replace("metallb-system", ns))?;
    rig.apply_server_side(&tmp)?;
    Ok(())
}

/// The `metallb.io` `kind` in namespace `ns`, at `version`.
pub fn api(
    client: &kube::Client,
    ns: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("metallb.io", version, kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// A `metallb.io` object named `name` in `ns` with `spec`.
pub fn obj(
    ns: &str,
    api_version: &str,
    kind: &str,
    name: &str,
    spec: Value,
) -> Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": ns}, "spec": spec
    }))?)
}

/// Points the BGPPeer CRD's conversion webhook back at `config/crd` (Service
/// `metallb-webhook-service` in `metallb-system`, no caBundle) after a test's webhook pointed
/// it elsewhere or injected its CA.
pub async fn restore_conversion(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let patch = json!({"spec": {"conversion": {"webhook": {"clientConfig": {
        "url": null, "caBundle": null,
        "service": {"name": "metallb-webhook-service", "namespace": "metallb-system", "path": "/convert"}}}}}});
    let _ = crds
        .patch(
            "bgppeers.metallb.io",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await;
}

/// `Some(())` once every webhook of the ValidatingWebhookConfiguration `name` has a caBundle
/// (the webhook injects it): a [`crate::wait_for`] check.
pub async fn ca_bundle_injected(
    vwcs: &Api<ValidatingWebhookConfiguration>,
    name: &str,
) -> Result<Option<()>> {
    let v = vwcs.get(name).await?;
    Ok(v.webhooks
        .unwrap_or_default()
        .iter()
        .all(|w| w.client_config.ca_bundle.is_some())
        .then_some(()))
}

/// Undoes a webhook test: deletes the ValidatingWebhookConfiguration
/// `metallb-webhook-configuration`, restores the BGPPeer conversion ([`restore_conversion`])
/// and deletes the test's namespace `ns` (without waiting).
pub async fn teardown(rig: &Rig, client: &kube::Client, ns: &str) {
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let _ = vwcs
        .delete("metallb-webhook-configuration", &Default::default())
        .await;
    restore_conversion(client).await;
    let _ = rig.kubectl(&["delete", "namespace", ns, "--wait=false"]);
}
