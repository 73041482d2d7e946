//! BFDProfile (`api/v1beta1/bfdprofile_types.go` upstream): BFD session parameters a BGPPeer
//! can reference. All fields optional; no schema defaults (MetalLB documents FRR's defaults).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::ConfigStatus;

/// Spec of a BFDProfile.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BFDProfile",
    namespaced,
    status = "ConfigStatus",
    derive = "PartialEq",
    doc = "BFDProfile represents the settings of the bfd session that can be optionally associated with a BGP session.",
    printcolumn(
        name = "Passive Mode",
        type_ = "boolean",
        json_path = ".spec.passiveMode"
    ),
    printcolumn(
        name = "Transmit Interval",
        type_ = "integer",
        json_path = ".spec.transmitInterval"
    ),
    printcolumn(
        name = "Receive Interval",
        type_ = "integer",
        json_path = ".spec.receiveInterval"
    ),
    printcolumn(
        name = "Multiplier",
        type_ = "integer",
        json_path = ".spec.detectMultiplier"
    )
)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct BFDProfileSpec {
    /// Minimum interval this system can receive control packets, ms (10..=60000; default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::bfd_interval")]
    pub receive_interval: Option<u32>,
    /// Minimum transmission interval, ms (10..=60000; default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::bfd_interval")]
    pub transmit_interval: Option<u32>,
    /// Detection multiplier (2..=255; default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::bfd_multiplier")]
    pub detect_multiplier: Option<u32>,
    /// Echo transmission interval, ms (10..=60000; default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::bfd_interval")]
    pub echo_interval: Option<u32>,
    /// Enables echo mode (not for multi-hop sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_mode: Option<bool>,
    /// Passive mode: wait for the peer's control packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive_mode: Option<bool>,
    /// Minimum incoming TTL for multi-hop sessions (1..=254).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::bfd_min_ttl")]
    pub minimum_ttl: Option<u32>,
}

crate::optional_spec!(BFDProfileSpec);
