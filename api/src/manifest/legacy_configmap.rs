//! The one rule for *which* ConfigMap of a manifest holds the legacy (≤ v0.12) configuration,
//! shared by `ferrolb migrate` and `ferrolb validate` (and [`super::parse_manifests`]).
//!
//! MetalLB read ConfigMap `config` (its `--config` default) in its namespace, key `config`. In a
//! manifest, the candidates are the `v1` ConfigMaps with a `data.config` key: the one named
//! `config` is used; if none is named so, the only candidate is used with a warning (e.g. the
//! `metallb-config` ConfigMap of some Helm charts). Several candidates named `config` (several
//! namespaces), or several unnamed ones, are ambiguous. The payload must be a non-empty string.
//! `kind: List` documents are expected to be expanded already ([`super::documents`]).

use serde_json::Value;

use crate::names::{LEGACY_CONFIGMAP_KEY, LEGACY_CONFIGMAP_NAME};

/// The legacy ConfigMap found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyConfigMap<'a> {
    /// Index of the ConfigMap in the documents searched.
    pub index: usize,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when set and not empty.
    pub namespace: Option<String>,
    /// The `data.config` payload (not yet parsed).
    pub payload: &'a str,
    /// Set when the ConfigMap is not named `config` (used because it is the only candidate).
    pub warning: Option<String>,
}

impl LegacyConfigMap<'_> {
    /// `ConfigMap <namespace|->/<name> data.config`, for messages about the payload.
    pub fn location(&self) -> String {
        location(self.namespace.as_deref(), &self.name)
    }
}

/// Why no single legacy ConfigMap can be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    /// Several ConfigMaps named `config` carry a payload.
    #[error(
        "several ConfigMaps named {LEGACY_CONFIGMAP_NAME:?} with a data.{LEGACY_CONFIGMAP_KEY} key (namespaces: {}); pass one",
        namespaces.join(", ")
    )]
    SeveralNamed {
        /// Their namespaces (`<none>` when unset).
        namespaces: Vec<String>,
    },
    /// No ConfigMap is named `config` and several carry a payload.
    #[error(
        "no ConfigMap named {LEGACY_CONFIGMAP_NAME:?} and several with a data.{LEGACY_CONFIGMAP_KEY} key ({}); pass one",
        names.join(", ")
    )]
    SeveralUnnamed {
        /// Their names.
        names: Vec<String>,
    },
    /// The payload is empty.
    #[error("{location}: bad ConfigMap: no data")]
    NoData {
        /// `ConfigMap ns/name data.config`.
        location: String,
    },
    /// The payload is not a string.
    #[error("{location}: bad ConfigMap: the value must be a string (use `config: |`)")]
    NotAString {
        /// `ConfigMap ns/name data.config`.
        location: String,
    },
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn location(namespace: Option<&str>, name: &str) -> String {
    format!(
        "ConfigMap {}/{name} data.{LEGACY_CONFIGMAP_KEY}",
        namespace.unwrap_or("-")
    )
}

/// Whether `doc` is a `v1` ConfigMap with a `data.config` key.
fn is_candidate(doc: &Value) -> bool {
    text(doc, "/apiVersion") == Some("v1")
        && text(doc, "/kind") == Some("ConfigMap")
        && doc
            .pointer(&format!("/data/{LEGACY_CONFIGMAP_KEY}"))
            .is_some()
}

/// Finds the legacy ConfigMap among `docs` (see the module docs); `Ok(None)` when there is no
/// candidate at all.
pub fn find(docs: &[Value]) -> Result<Option<LegacyConfigMap<'_>>, FindError> {
    let candidates: Vec<(usize, &Value)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| is_candidate(d))
        .collect();
    let name_of = |d: &Value| text(d, "/metadata/name").unwrap_or_default().to_owned();
    let named: Vec<(usize, &Value)> = candidates
        .iter()
        .copied()
        .filter(|(_, d)| text(d, "/metadata/name") == Some(LEGACY_CONFIGMAP_NAME))
        .collect();
    let ((index, doc), warning) = match (named.as_slice(), candidates.as_slice()) {
        ([one], _) => (*one, None),
        ([], []) => return Ok(None),
        ([], [one]) => {
            let warning = format!(
                "no ConfigMap named {LEGACY_CONFIGMAP_NAME:?}; using ConfigMap {:?}, the only one with a data.{LEGACY_CONFIGMAP_KEY} key",
                name_of(one.1)
            );
            (*one, Some(warning))
        }
        ([], several) => {
            let names = several.iter().map(|(_, d)| name_of(d)).collect();
            return Err(FindError::SeveralUnnamed { names });
        }
        (several, _) => {
            let namespaces = several
                .iter()
                .map(|(_, d)| {
                    text(d, "/metadata/namespace")
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect();
            return Err(FindError::SeveralNamed { namespaces });
        }
    };
    let name = name_of(doc);
    let namespace = text(doc, "/metadata/namespace")
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let location = location(namespace.as_deref(), &name);
    let payload = match doc.pointer(&format!("/data/{LEGACY_CONFIGMAP_KEY}")) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        Some(Value::String(_) | Value::Null) | None => {
            return Err(FindError::NoData { location });
        }
        Some(_) => return Err(FindError::NotAString { location }),
    };
    Ok(Some(LegacyConfigMap {
        index,
        name,
        namespace,
        payload,
        warning,
    }))
}
