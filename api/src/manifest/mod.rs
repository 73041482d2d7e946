//! Reads multi-document YAML manifests (what users `kubectl apply`, or what `kubectl get -o
//! yaml` prints: a `kind: List` counts as its items) into typed `metallb.io` objects,
//! recognising the legacy ConfigMap ([`legacy_configmap`]) and passing every other object
//! through as [`ApiObject::Other`]. Unknown fields of `metallb.io` objects are errors, as with
//! the API server's strict field validation ([`fields`](self::fields)). Used by tests and by
//! the offline `ferrolb validate`/`migrate` tools.

mod fields;
pub mod legacy_configmap;

use serde_json::Value;

use crate::legacy::{self, LegacyConfig, LegacyError};
use crate::names::GROUP;
use crate::{v1beta1, v1beta2};

pub use legacy_configmap::{FindError, LegacyConfigMap};

/// One object of a manifest.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum ApiObject {
    /// `metallb.io/v1beta1` IPAddressPool.
    IPAddressPool(v1beta1::IPAddressPool),
    /// `metallb.io/v1beta1` L2Advertisement.
    L2Advertisement(v1beta1::L2Advertisement),
    /// `metallb.io/v1beta1` BGPAdvertisement.
    BGPAdvertisement(v1beta1::BGPAdvertisement),
    /// `metallb.io/v1beta1` BGPPeer (deprecated version).
    BGPPeerV1beta1(v1beta1::BGPPeer),
    /// `metallb.io/v1beta2` BGPPeer.
    BGPPeer(v1beta2::BGPPeer),
    /// `metallb.io/v1beta1` BFDProfile.
    BFDProfile(v1beta1::BFDProfile),
    /// `metallb.io/v1beta1` Community.
    Community(v1beta1::Community),
    /// `metallb.io/v1beta1` ServiceL2Status.
    ServiceL2Status(v1beta1::ServiceL2Status),
    /// `metallb.io/v1beta1` ServiceBGPStatus.
    ServiceBGPStatus(v1beta1::ServiceBGPStatus),
    /// `metallb.io/v1beta1` ConfigurationState.
    ConfigurationState(v1beta1::ConfigurationState),
    /// The `v1` ConfigMap carrying a legacy (≤ v0.12) configuration (see
    /// [`legacy_configmap`]: named `config`, or the only one with a `data.config` key).
    LegacyConfigMap {
        /// `metadata.name` (`config` unless it was the only candidate).
        name: String,
        /// `metadata.namespace`, if set.
        namespace: Option<String>,
        /// The parsed `config` payload.
        config: LegacyConfig,
    },
    /// Anything else (Services, Deployments, …), left alone.
    Other {
        /// `apiVersion` of the object.
        api_version: String,
        /// `kind` of the object.
        kind: String,
    },
}

/// Why a manifest (or one of its documents) could not be read. Document indexes count the
/// items of a `kind: List` as documents.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A field the object's CRD does not define (the API server would refuse the object).
    #[error("document {index}: {kind} {name:?}: unknown field {path:?}")]
    UnknownField {
        /// 0-based document index.
        index: usize,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// Path of the unknown field, e.g. `spec.ipAddresPools`.
        path: String,
    },
    /// A document is not a Kubernetes object (the API server requires both).
    #[error("document {index}: not a Kubernetes object: apiVersion and kind are required")]
    NotAnObject {
        /// 0-based document index.
        index: usize,
    },
    /// No single legacy ConfigMap can be chosen, or its payload is not usable.
    #[error("{0}")]
    FindLegacy(#[from] FindError),
    /// The text is not valid YAML (the stream cannot be read past a syntax error).
    #[error("invalid YAML: {message}")]
    Yaml {
        /// Parser message, with line and column.
        message: String,
    },
    /// A `metallb.io` object does not match its schema.
    #[error("document {index}: {kind} {name:?}: {path}: {message}")]
    Object {
        /// 0-based document index.
        index: usize,
        /// The object's kind.
        kind: String,
        /// The object's name, if it has one.
        name: String,
        /// Key path of the bad value.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `metallb.io` kind or version that does not exist.
    #[error("document {index}: unknown metallb.io kind {kind} in {api_version}")]
    UnknownKind {
        /// 0-based document index.
        index: usize,
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// The legacy ConfigMap payload is invalid.
    #[error("document {index}: ConfigMap {name:?}: {source}")]
    Legacy {
        /// 0-based document index.
        index: usize,
        /// The ConfigMap's name.
        name: String,
        /// The parse error, with key path.
        #[source]
        source: LegacyError,
    },
}

/// What one manifest text holds: its objects, one error per unusable document (the others
/// are still read) and warnings (a legacy ConfigMap not named `config`).
#[derive(Debug, Default)]
pub struct Manifest {
    /// The objects read, in order.
    pub objects: Vec<ApiObject>,
    /// Problems, in document order. A YAML syntax error ends the reading.
    pub errors: Vec<ManifestError>,
    /// Notes about how the input was interpreted.
    pub warnings: Vec<String>,
}

/// The documents of a YAML stream as JSON values: empty documents skipped, each `kind: List`
/// replaced by its `items` (`kubectl get … -o yaml` writes a `v1` List).
pub fn documents(text: &str) -> Result<Vec<Value>, ManifestError> {
    let values = crate::yaml::documents(text).map_err(|e| ManifestError::Yaml {
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for value in values {
        match value {
            Value::Null => {}
            Value::Object(mut map)
                if map.get("kind").and_then(Value::as_str) == Some("List")
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                if let Some(Value::Array(items)) = map.remove("items") {
                    out.extend(items.into_iter().filter(|v| !v.is_null()));
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Reads every document of `text`, reporting every bad document rather than the first.
pub fn read_manifest(text: &str) -> Manifest {
    let mut out = Manifest::default();
    let docs = match documents(text) {
        Ok(d) => d,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    let legacy = match legacy_configmap::find(&docs) {
        Ok(found) => found,
        Err(e) => {
            out.errors.push(e.into());
            None
        }
    };
    for (index, value) in docs.iter().enumerate() {
        if let Some(found) = legacy.as_ref().filter(|f| f.index == index) {
            match legacy::parse(found.payload) {
                Ok(config) => out.objects.push(ApiObject::LegacyConfigMap {
                    name: found.name.clone(),
                    namespace: found.namespace.clone(),
                    config,
                }),
                Err(source) => out.errors.push(ManifestError::Legacy {
                    index,
                    name: found.name.clone(),
                    source,
                }),
            }
            out.warnings.extend(found.warning.clone());
            continue;
        }
        let has = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !(has("apiVersion") && has("kind")) {
            out.errors.push(ManifestError::NotAnObject { index });
            continue;
        }
        match parse_object(index, value.clone()) {
            Ok(obj) => {
                out.errors.extend(unknown_fields(index, value, &obj));
                out.objects.push(obj);
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// Parses every document of `text` ([`read_manifest`]); the first problem is the error.
pub fn parse_manifests(text: &str) -> Result<Vec<ApiObject>, ManifestError> {
    let mut m = read_manifest(text);
    if m.errors.is_empty() {
        Ok(m.objects)
    } else {
        Err(m.errors.swap_remove(0))
    }
}

/// Unknown-field errors of a typed `metallb.io` object.
fn unknown_fields(index: usize, value: &Value, obj: &ApiObject) -> Vec<ManifestError> {
    if matches!(
        obj,
        ApiObject::Other { .. } | ApiObject::LegacyConfigMap { .. }
    ) {
        return Vec::new();
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let kind = text(value.get("kind"));
    let name = text(value.pointer("/metadata/name"));
    let api_version = text(value.get("apiVersion"));
    let version = api_version.rsplit('/').next().unwrap_or("");
    fields::unknown_fields(value, version, &kind)
        .into_iter()
        .map(|path| ManifestError::UnknownField {
            index,
            kind: kind.clone(),
            name: name.clone(),
            path,
        })
        .collect()
}

fn parse_object(index: usize, value: Value) -> Result<ApiObject, ManifestError> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let api_version = text(&value, "apiVersion");
    let kind = text(&value, "kind");
    let name = value
        .get("metadata")
        .map(|m| text(m, "name"))
        .unwrap_or_default();
    let (group, version) = api_version
        .split_once('/')
        .unwrap_or(("", api_version.as_str()));

    if group != GROUP {
        return Ok(ApiObject::Other { api_version, kind });
    }

    fn typed<T: serde::de::DeserializeOwned>(
        index: usize,
        kind: &str,
        name: &str,
        value: Value,
    ) -> Result<T, ManifestError> {
        serde_path_to_error::deserialize(value).map_err(|e| ManifestError::Object {
            index,
            kind: kind.to_owned(),
            name: name.to_owned(),
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        })
    }
    let k = kind.as_str();
    Ok(match (version, k) {
        ("v1beta1", "IPAddressPool") => ApiObject::IPAddressPool(typed(index, k, &name, value)?),
        ("v1beta1", "L2Advertisement") => {
            ApiObject::L2Advertisement(typed(index, k, &name, value)?)
        }
        ("v1beta1", "BGPAdvertisement") => {
            ApiObject::BGPAdvertisement(typed(index, k, &name, value)?)
        }
        ("v1beta1", "BGPPeer") => ApiObject::BGPPeerV1beta1(typed(index, k, &name, value)?),
        ("v1beta2", "BGPPeer") => ApiObject::BGPPeer(typed(index, k, &name, value)?),
        ("v1beta1", "BFDProfile") => ApiObject::BFDProfile(typed(index, k, &name, value)?),
        ("v1beta1", "Community") => ApiObject::Community(typed(index, k, &name, value)?),
        ("v1beta1", "ServiceL2Status") => {
            ApiObject::ServiceL2Status(typed(index, k, &name, value)?)
        }
        ("v1beta1", "ServiceBGPStatus") => {
            ApiObject::ServiceBGPStatus(typed(index, k, &name, value)?)
        }
        ("v1beta1", "ConfigurationState") => {
            ApiObject::ConfigurationState(typed(index, k, &name, value)?)
        }
        _ => {
            return Err(ManifestError::UnknownKind {
                index,
                api_version,
                kind,
            });
        }
    })
}

#[cfg(test)]
mod tests;
