//! Reading the input of `-f <file|->` and finding the legacy configuration in it.
//!
//! The input is either a Kubernetes manifest (one or more YAML documents with `apiVersion`/`kind`,
//! e.g. the output of `kubectl get configmap config -n metallb-system -o yaml`, or a manifest
//! file mixing the ConfigMap with other objects) or the bare `config` payload (what
//! `configmaptocrs -only-data` takes). In a manifest, the ConfigMap is chosen by the rule
//! `ferrolb validate` uses too ([`legacy_configmap`]: named `config`, MetalLB's `--config`
//! default, else the only one with a `data.config` key, with a warning). A `kind: List`
//! document (`kubectl get configmaps -o yaml`) counts as its items.

use std::io::Read;

use ferrolb_api::legacy::{self, LegacyConfig};
use ferrolb_api::manifest::{self, ManifestError, legacy_configmap};
use ferrolb_api::names::{LEGACY_CONFIGMAP_KEY, LEGACY_CONFIGMAP_NAME};
use serde_json::Value;

use crate::error::CliError;

/// Reads a file, or stdin for `-`.
pub fn read_source(path: &str) -> Result<String, CliError> {
    let read_err = |e: std::io::Error| CliError::Read {
        source_name: path.to_owned(),
        message: e.to_string(),
    };
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(read_err)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(read_err)
    }
}

/// A legacy configuration found in the input.
#[derive(Debug)]
pub struct LegacyInput {
    /// `metadata.namespace` of the ConfigMap, when the input was a manifest and it had one.
    pub namespace: Option<String>,
    /// The parsed payload.
    pub config: LegacyConfig,
    /// Prefix for error messages about the payload (`<file>: ConfigMap ns/name data.config: `).
    pub origin: String,
    /// Notes about how the input was interpreted.
    pub warnings: Vec<String>,
}

/// Whether a document looks like a Kubernetes object rather than a legacy payload.
fn is_object(doc: &Value) -> bool {
    doc.get("apiVersion").is_some() || doc.get("kind").is_some()
}

/// Finds and parses the legacy configuration in `text` (`source_name` is for messages): a
/// bare payload, or the ConfigMap [`legacy_configmap::find`] chooses.
pub fn legacy_config(source_name: &str, text: &str) -> Result<LegacyInput, CliError> {
    let docs = manifest::documents(text).map_err(|e| CliError::Yaml {
        source_name: source_name.to_owned(),
        message: match e {
            ManifestError::Yaml { message, .. } => message,
            other => other.to_string(),
        },
    })?;
    let input_err = |message: String| CliError::Input {
        source_name: source_name.to_owned(),
        message,
    };
    if !docs.iter().any(is_object) {
        if docs.len() > 1 {
            return Err(input_err(
                "expected one ConfigMap manifest or one config payload, found several documents without apiVersion/kind".to_owned(),
            ));
        }
        let origin = format!("{source_name}: ");
        let config = legacy::parse(text).map_err(|source| CliError::Parse {
            origin: origin.clone(),
            source,
        })?;
        return Ok(LegacyInput {
            namespace: None,
            config,
            origin,
            warnings: Vec::new(),
        });
    }
    let found = legacy_configmap::find(&docs)
        .map_err(|e| input_err(e.to_string()))?
        .ok_or_else(|| {
            input_err(format!(
                "no ConfigMap named {LEGACY_CONFIGMAP_NAME:?} (with a data.{LEGACY_CONFIGMAP_KEY} key) found"
            ))
        })?;
    let origin = format!("{source_name}: {}: ", found.location());
    let config = legacy::parse(found.payload).map_err(|source| CliError::Parse {
        origin: origin.clone(),
        source,
    })?;
    Ok(LegacyInput {
        namespace: found.namespace,
        config,
        origin,
        warnings: found.warning.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_payload_and_manifest() {
        let payload = "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.0.0.0/24]\n";
        let got = legacy_config("-", payload).unwrap();
        assert_eq!(got.namespace, None);
        assert_eq!(got.config.address_pools.len(), 1);

        let manifest = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: x}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: lb\ndata:\n  config: |\n{}",
            payload
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        );
        let got = legacy_config("f.yaml", &manifest).unwrap();
        assert_eq!(got.namespace.as_deref(), Some("lb"));
        assert_eq!(got.config.address_pools.len(), 1);
        assert!(got.warnings.is_empty());
    }

    #[test]
    fn other_name_used_only_when_unique() {
        let cm = |name: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata:\n  config: |\n    peers: []\n"
            )
        };
        let got = legacy_config("f", &cm("metallb-config")).unwrap();
        assert_eq!(got.warnings.len(), 1);
        let two = format!("{}---\n{}", cm("a"), cm("b"));
        assert!(legacy_config("f", &two).is_err());
    }

    #[test]
    fn list_items_are_objects() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: config, namespace: n}\n  data: {config: \"peers: []\"}\n";
        let got = legacy_config("f", text).unwrap();
        assert_eq!(got.namespace.as_deref(), Some("n"));
    }

    #[test]
    fn empty_data_is_an_error() {
        let text =
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: \"\"\n";
        let err = legacy_config("f", text).unwrap_err().to_string();
        assert_eq!(
            err,
            "f: ConfigMap -/config data.config: bad ConfigMap: no data"
        );
    }
}
