//! L2Advertisement (`api/v1beta1/l2advertisement_types.go` upstream): which pools are announced
//! in layer 2 mode (ARP/NDP), from which nodes and interfaces, for which Services.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::ConfigStatus;

/// Spec of an L2Advertisement. An empty spec announces every pool from every node.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "L2Advertisement",
    namespaced,
    status = "ConfigStatus",
    derive = "PartialEq",
    doc = "L2Advertisement allows to advertise the LoadBalancer IPs provided by the selected pools via L2.",
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
    printcolumn(name = "Interfaces", type_ = "string", json_path = ".spec.interfaces"),
    printcolumn(
        name = "Node Selectors",
        type_ = "string",
        json_path = ".spec.nodeSelectors",
        priority = 10
    )
)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct L2AdvertisementSpec {
    /// Pools announced, by name. With no names and no selectors, all pools are announced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_list")]
    pub ip_address_pools: Vec<String>,
    /// Pools announced, by label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that may announce; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub node_selectors: Vec<LabelSelector>,
    /// Interfaces to announce from; empty = all (minus the excluded ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_list")]
    pub interfaces: Vec<String>,
    /// Limits the advertisement to matching Services (MetalLB v0.16+).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub service_selectors: Vec<LabelSelector>,
    /// Soft preference for the announcing node (MetalLB main): weights of matching entries are summed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_node_selectors: Vec<PreferredNodeSelector>,
}

/// One weighted node preference.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferredNodeSelector {
    /// Weight added when `preference` matches, 1..=100.
    #[schemars(range(min = 1, max = 100))]
    pub weight: i32,
    /// Nodes this preference applies to; an empty selector matches all nodes.
    #[schemars(schema_with = "crate::schema::label_selector")]
    pub preference: LabelSelector,
}

crate::optional_spec!(L2AdvertisementSpec);
