//! Builds the CustomResourceDefinitions of every kind from the Rust types, in the shape
//! MetalLB's controller-gen output has: BGPPeer merged into one CRD (v1beta2 storage, v1beta1
//! served and deprecated) with a Webhook conversion strategy, no `nullable` markers.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition, ServiceReference, WebhookClientConfig,
    WebhookConversion,
};
use kube::CustomResourceExt;
use kube::core::crd::merge_crds;

use crate::names::DEFAULT_NAMESPACE;
use crate::{ferrolb, v1beta1, v1beta2};

/// Service the API server calls for BGPPeer conversion (MetalLB's name, so CRDs are swappable).
pub const WEBHOOK_SERVICE_NAME: &str = "metallb-webhook-service";
/// Path of the conversion endpoint.
pub const CONVERSION_PATH: &str = "/convert";

/// Errors while assembling CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// Merging the BGPPeer versions failed.
    #[error("merging BGPPeer versions into one CRD: {0}")]
    Merge(#[from] kube::core::crd::MergeError),
    /// A CRD could not be rendered as YAML.
    #[error("rendering CRD file {name} as YAML: {message}")]
    Yaml {
        /// The file name.
        name: String,
        /// The serializer's message.
        message: String,
    },
    /// A CRD could not be turned into JSON or back.
    #[error("post-processing CRD {name}: {source}")]
    Json {
        /// The CRD's name.
        name: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

/// Every CRD ferrolb serves, in a stable order (sorted by name).
pub fn all_crds() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    let mut bgppeer = merge_crds(
        vec![v1beta2::BGPPeer::crd(), v1beta1::BGPPeer::crd()],
        "v1beta2",
    )?;
    bgppeer.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
    bgppeer.spec.conversion = Some(CustomResourceConversion {
        strategy: "Webhook".into(),
        webhook: Some(WebhookConversion {
            client_config: Some(WebhookClientConfig {
                ca_bundle: None,
                service: Some(ServiceReference {
                    name: WEBHOOK_SERVICE_NAME.into(),
                    namespace: DEFAULT_NAMESPACE.into(),
                    path: Some(CONVERSION_PATH.into()),
                    port: None,
                }),
                url: None,
            }),
            conversion_review_versions: vec!["v1beta1".into(), "v1beta2".into()],
        }),
    });
    let mut crds = vec![
        v1beta1::BFDProfile::crd(),
        v1beta1::BGPAdvertisement::crd(),
        bgppeer,
        v1beta1::Community::crd(),
        v1beta1::ConfigurationState::crd(),
        v1beta1::IPAddressPool::crd(),
        v1beta1::L2Advertisement::crd(),
        v1beta1::ServiceBGPStatus::crd(),
        v1beta1::ServiceL2Status::crd(),
        ferrolb::v1alpha1::BGPSessionState::crd(),
    ];
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    crds.into_iter().map(normalize).collect()
}

/// File name controller-gen would use, e.g. `metallb.io_ipaddresspools.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// Brings the derived CRD to MetalLB's shape:
/// - removes `nullable: true` (added by schemars for `Option` fields); MetalLB's schemas have
///   none, and accepting `null` would let a client blank a field the user never cleared;
/// - removes the schema `title` schemars puts at the root;
/// - makes `spec` optional at the root, as MetalLB's `omitempty` specs are (an
///   `L2Advertisement` with no spec announces every pool from every node), except for
///   IPAddressPool (required upstream too) and BGPPeer, whose spec holds the required `myASN`:
///   a spec-less BGPPeer is one MetalLB's webhook rejects anyway ("missing local ASN").
fn normalize(crd: CustomResourceDefinition) -> Result<CustomResourceDefinition, CrdError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let spec_required = matches!(crd.spec.names.kind.as_str(), "IPAddressPool" | "BGPPeer");
    let mut value = serde_json::to_value(&crd).map_err(|source| CrdError::Json {
        name: name.clone(),
        source,
    })?;
    remove_key(&mut value, "nullable");
    if let Some(versions) = value
        .pointer_mut("/spec/versions")
        .and_then(|v| v.as_array_mut())
    {
        for version in versions {
            let Some(root) = version
                .pointer_mut("/schema/openAPIV3Schema")
                .and_then(|v| v.as_object_mut())
            else {
                continue;
            };
            root.remove("title");
            if !spec_required
                && let Some(required) = root.get_mut("required").and_then(|r| r.as_array_mut())
            {
                required.retain(|r| r != "spec");
                if required.is_empty() {
                    root.remove("required");
                }
            }
        }
    }
    serde_json::from_value(value).map_err(|source| CrdError::Json { name, source })
}

fn remove_key(value: &mut serde_json::Value, key: &str) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove(key);
            map.values_mut().for_each(|v| remove_key(v, key));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| remove_key(v, key)),
        _ => {}
    }
}

/// Renders every CRD to `(file name, YAML)` pairs, each file starting with a header line.
pub fn render_all() -> Result<Vec<(String, String)>, CrdError> {
    all_crds()?
        .into_iter()
        .map(|crd| {
            let name = crd_file_name(&crd);
            let yaml = serde_yaml::to_string(&crd).map_err(|e| CrdError::Yaml {
                name: name.clone(),
                message: e.to_string(),
            })?;
            Ok((name, format!("# Generated by `cargo run -p ferrolb-api --bin crdgen`. Do not edit.\n---\n{yaml}")))
        })
        .collect()
}

/// Compares rendered files with the ones in `dir`; returns one message per difference
/// (missing, different, or extra `metallb.io_*.yaml` / `ferrolb.io_*.yaml` files).
pub fn drift(dir: &std::path::Path, files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, want) in files {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(have) if &have == want => {}
            Ok(_) => problems.push(format!(
                "{} differs from the code; run crdgen",
                path.display()
            )),
            Err(e) => problems.push(format!("{}: {e}; run crdgen", path.display())),
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.starts_with("metallb.io_") || name.starts_with("ferrolb.io_"))
                && !files.iter().any(|(n, _)| *n == name)
            {
                problems.push(format!(
                    "{} is not generated by the code; remove it",
                    entry.path().display()
                ));
            }
        }
    }
    problems
}
