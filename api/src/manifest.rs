//! Reads multi-document YAML manifests (what users `kubectl apply`) into typed `metallb.io`
//! objects, recognising the legacy `config` ConfigMap and passing every other object through
//! as [`ApiObject::Other`]. Used by tests and by the offline `ferrolb validate`/`migrate` tools.

use serde::Deserialize;
use serde_json::Value;

use crate::legacy::{self, LegacyConfig, LegacyError};
use crate::names::{GROUP, LEGACY_CONFIGMAP_KEY, LEGACY_CONFIGMAP_NAME};
use crate::{v1beta1, v1beta2};

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
    /// A `v1` ConfigMap named `config` carrying a legacy (≤ v0.12) configuration.
    LegacyConfigMap {
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

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A document is not valid YAML.
    #[error("document {index}: invalid YAML: {message}")]
    Yaml {
        /// 0-based document index.
        index: usize,
        /// Parser message.
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

/// Parses every document of `text`; empty documents and comments-only documents are skipped.
pub fn parse_manifests(text: &str) -> Result<Vec<ApiObject>, ManifestError> {
    let mut out = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| ManifestError::Yaml {
            index,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        out.push(parse_object(index, value)?);
    }
    Ok(out)
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

    if group.is_empty() && version == "v1" && kind == "ConfigMap" && name == LEGACY_CONFIGMAP_NAME {
        let namespace = value
            .get("metadata")
            .map(|m| text(m, "namespace"))
            .filter(|n| !n.is_empty());
        let payload = value
            .pointer(&format!("/data/{LEGACY_CONFIGMAP_KEY}"))
            .and_then(Value::as_str);
        if let Some(payload) = payload {
            let config = legacy::parse(payload).map_err(|source| ManifestError::Legacy {
                index,
                name,
                source,
            })?;
            return Ok(ApiObject::LegacyConfigMap { namespace, config });
        }
    }
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
