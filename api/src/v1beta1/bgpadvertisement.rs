//! BGPAdvertisement (`api/v1beta1/bgpadvertisement_types.go` upstream): how pools' addresses
//! are advertised to BGP peers (aggregation, local preference, communities, which peers and nodes).

// kube's `KubeSchema` derive re-emits a private copy of the spec to build its schema; with
// `serde(remote = "Self")` (see `optional_spec`) that copy's serializers are never called.
#![allow(dead_code)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::status::ConfigStatus;

/// MetalLB v0.16's CEL rule: `serviceSelectors` only with default aggregation lengths.
pub const RULE_SELECTORS_VS_AGGREGATION: &str = "!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || ((!has(self.aggregationLength) || self.aggregationLength == 32) && (!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))";

/// Spec of a BGPAdvertisement.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BGPAdvertisement",
    namespaced,
    status = "ConfigStatus",
    derive = "PartialEq",
    doc = "BGPAdvertisement allows to advertise the IPs coming from the selected IPAddressPools via BGP, setting the parameters of the BGP Advertisement.",
    printcolumn(
        name = "IPAddressPools",
        type_ = "string",
        json_path = ".spec.ipAddressPools"
    ),
    printcolumn(
        name = "IPAddressPool Selectors",
        type_ = "string",
        json_path = ".spec.ipAddressPoolSelectors"
    ),
    printcolumn(name = "Peers", type_ = "string", json_path = ".spec.peers"),
    printcolumn(
        name = "Node Selectors",
        type_ = "string",
        json_path = ".spec.nodeSelectors",
        priority = 10
    )
)]
#[cfg_attr(feature = "cel", x_kube(cel))]
#[x_kube(
    validation = Rule::new(RULE_SELECTORS_VS_AGGREGATION).message("serviceSelectors and aggregationLength are mutually exclusive, can only be used together with default aggregationLength (32) and aggregationLengthV6 (128)")
)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct BGPAdvertisementSpec {
    /// Prefix length used for IPv4 addresses of the pool; default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::aggregation_length")]
    pub aggregation_length: Option<i32>,
    /// Prefix length used for IPv6 addresses of the pool; default 128.
    #[serde(
        default,
        rename = "aggregationLengthV6",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "crate::schema::aggregation_length_v6")]
    pub aggregation_length_v6: Option<i32>,
    /// BGP LOCAL_PREF attribute (iBGP only); 0 = not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::uint32")]
    pub local_pref: Option<u32>,
    /// Communities: `A:B`, `large:X:Y:Z`, or the name of a Community alias.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_list")]
    pub communities: Vec<String>,
    /// Pools advertised, by name. With no names and no selectors, all pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_list")]
    pub ip_address_pools: Vec<String>,
    /// Pools advertised, by label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that advertise (the next hops); empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub node_selectors: Vec<LabelSelector>,
    /// BGPPeer names to advertise to; empty = all peers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_list")]
    pub peers: Vec<String>,
    /// Limits the advertisement to matching Services (MetalLB v0.16+).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub service_selectors: Vec<LabelSelector>,
}

impl BGPAdvertisementSpec {
    /// `aggregationLength` with MetalLB's default (32) applied.
    pub fn aggregation_length(&self) -> i32 {
        self.aggregation_length.unwrap_or(32)
    }
    /// `aggregationLengthV6` with MetalLB's default (128) applied.
    pub fn aggregation_length_v6(&self) -> i32 {
        self.aggregation_length_v6.unwrap_or(128)
    }
}

crate::optional_spec!(BGPAdvertisementSpec);
