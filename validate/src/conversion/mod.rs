//! BGPPeer conversion between `metallb.io/v1beta1` and `v1beta2`, with MetalLB's semantics
//! (`api/v1beta1/bgppeer_conversion.go`; v1beta2 is the hub):
//!
//! * v1beta1 → v1beta2 ([`to_v1beta2`], Go `ConvertTo`): ASNs, address, source address, port,
//!   router ID, password, BFD profile, eBGP multi-hop and metadata are copied; `holdTime` and
//!   `keepaliveTime` become set **even when zero** (an unset v1beta1 timer reads back as `0s`);
//!   a node selector with no labels and no expressions becomes the empty selector, others keep
//!   their labels and expressions.
//! * v1beta2 → v1beta1 ([`to_v1beta1`], Go `ConvertFrom`, lossy): unset timers become `0s`;
//!   `passwordSecret`, `vrf`, `connectTime`, `enableGracefulRestart`, `disableMP`,
//!   `dualStackAddressFamily`, `dynamicASN`, `interface` and `localASN` are dropped.
//!
//! Go's JSON encoding is mirrored: durations print as `Duration.String()` (`90s` → `1m30s`),
//! and zero values of `omitempty` fields (port 0, empty strings, `false`) are left out.
//! [`convert_object`] applies this to the raw objects of a `ConversionReview`.

use ferrolb_api::duration::GoDuration;
use ferrolb_api::v1beta1::{self, LegacyNodeSelector, LegacySelectorRequirement};
use ferrolb_api::v1beta2;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use serde_json::Value;

/// `metallb.io/v1beta1`.
pub const V1BETA1: &str = "metallb.io/v1beta1";
/// `metallb.io/v1beta2`.
pub const V1BETA2: &str = "metallb.io/v1beta2";

/// Why an object cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// Not a BGPPeer version this webhook knows.
    #[error("unsupported conversion from {from:?} to {to:?} for kind {kind:?}")]
    Unsupported {
        /// The object's apiVersion.
        from: String,
        /// The desired apiVersion.
        to: String,
        /// The object's kind.
        kind: String,
    },
    /// The object does not match its version's schema.
    #[error("invalid {api_version} BGPPeer: {message}")]
    Invalid {
        /// The object's apiVersion.
        api_version: String,
        /// The decoding error.
        message: String,
    },
}

/// A duration as Go re-encodes a parsed `metav1.Duration`; zero when unset.
fn go_duration(d: Option<&str>) -> String {
    match d {
        None => GoDuration(0).to_string(),
        Some(s) => GoDuration::parse(s).map_or_else(|_| s.to_owned(), |g| g.to_string()),
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// v1beta1 → v1beta2 (`ConvertTo`).
pub fn to_v1beta2(src: &v1beta1::BGPPeer) -> v1beta2::BGPPeer {
    let s = &src.spec;
    let spec = v1beta2::BGPPeerSpec {
        my_asn: s.my_asn,
        peer_asn: (s.peer_asn != 0).then_some(s.peer_asn),
        peer_address: Some(s.peer_address.clone()).filter(|a| !a.is_empty()),
        source_address: non_empty(&s.source_address),
        peer_port: s.peer_port.filter(|p| *p != 0),
        hold_time: Some(go_duration(s.hold_time.as_deref())),
        keepalive_time: Some(go_duration(s.keepalive_time.as_deref())),
        router_id: non_empty(&s.router_id),
        node_selectors: s.node_selectors.iter().map(selector_to_v1beta2).collect(),
        password: non_empty(&s.password),
        bfd_profile: non_empty(&s.bfd_profile),
        ebgp_multi_hop: s.ebgp_multi_hop.filter(|b| *b),
        ..Default::default()
    };
    let mut out = v1beta2::BGPPeer::new("", spec);
    out.metadata = src.metadata.clone();
    out.status = src.status.clone();
    out
}

fn selector_to_v1beta2(sel: &LegacyNodeSelector) -> LabelSelector {
    if sel.match_labels.is_empty() && sel.match_expressions.is_empty() {
        return LabelSelector::default();
    }
    LabelSelector {
        match_labels: (!sel.match_labels.is_empty()).then(|| sel.match_labels.clone()),
        match_expressions: (!sel.match_expressions.is_empty()).then(|| {
            sel.match_expressions
                .iter()
                .map(|e| LabelSelectorRequirement {
                    key: e.key.clone(),
                    operator: e.operator.clone(),
                    values: (!e.values.is_empty()).then(|| e.values.clone()),
                })
                .collect()
        }),
    }
}

/// v1beta2 → v1beta1 (`ConvertFrom`, lossy).
pub fn to_v1beta1(src: &v1beta2::BGPPeer) -> v1beta1::BGPPeer {
    let s = &src.spec;
    let spec = v1beta1::BGPPeerSpec {
        my_asn: s.my_asn,
        peer_asn: s.peer_asn.unwrap_or(0),
        peer_address: s.peer_address.clone().unwrap_or_default(),
        source_address: non_empty(&s.source_address),
        peer_port: s.peer_port.filter(|p| *p != 0),
        hold_time: Some(go_duration(s.hold_time.as_deref())),
        keepalive_time: Some(go_duration(s.keepalive_time.as_deref())),
        router_id: non_empty(&s.router_id),
        node_selectors: s
            .node_selectors
            .iter()
            .map(|sel| LegacyNodeSelector {
                match_labels: sel.match_labels.clone().unwrap_or_default(),
                match_expressions: sel
                    .match_expressions
                    .iter()
                    .flatten()
                    .map(|e| LegacySelectorRequirement {
                        key: e.key.clone(),
                        operator: e.operator.clone(),
                        values: e.values.clone().unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
        password: non_empty(&s.password),
        bfd_profile: non_empty(&s.bfd_profile),
        ebgp_multi_hop: s.ebgp_multi_hop.filter(|b| *b),
    };
    let mut out = v1beta1::BGPPeer::new("", spec);
    out.metadata = src.metadata.clone();
    out.status = src.status.clone();
    out
}

fn decode<T: serde::de::DeserializeOwned>(
    obj: &Value,
    api_version: &str,
) -> Result<T, ConversionError> {
    serde_json::from_value(obj.clone()).map_err(|e| ConversionError::Invalid {
        api_version: api_version.to_owned(),
        message: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(obj: &T, api_version: &str) -> Result<Value, ConversionError> {
    serde_json::to_value(obj).map_err(|e| ConversionError::Invalid {
        api_version: api_version.to_owned(),
        message: e.to_string(),
    })
}

/// Converts one raw BGPPeer object (from a `ConversionReview`) to `desired` apiVersion.
pub fn convert_object(obj: &Value, desired: &str) -> Result<Value, ConversionError> {
    let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (from, kind) = (text("apiVersion"), text("kind"));
    let unsupported = || ConversionError::Unsupported {
        from: from.clone(),
        to: desired.to_owned(),
        kind: kind.clone(),
    };
    if kind != "BGPPeer" {
        return Err(unsupported());
    }
    match (from.as_str(), desired) {
        (a, b) if a == b && (a == V1BETA1 || a == V1BETA2) => Ok(obj.clone()),
        (V1BETA1, V1BETA2) => {
            let src: v1beta1::BGPPeer = decode(obj, &from)?;
            encode(&to_v1beta2(&src), desired)
        }
        (V1BETA2, V1BETA1) => {
            let src: v1beta2::BGPPeer = decode(obj, &from)?;
            encode(&to_v1beta1(&src), desired)
        }
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests;
