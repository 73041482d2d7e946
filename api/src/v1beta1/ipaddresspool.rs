//! IPAddressPool (`api/v1beta1/ipaddresspool_types.go` upstream): the addresses ferrolb may
//! hand out to LoadBalancer Services, and which Services may use them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Spec of an IPAddressPool.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "IPAddressPool",
    namespaced,
    status = "IPAddressPoolStatus",
    derive = "PartialEq",
    doc = "IPAddressPool represents a pool of IP addresses that can be allocated to LoadBalancer services.",
    printcolumn(
        name = "Auto Assign",
        type_ = "boolean",
        json_path = ".spec.autoAssign"
    ),
    printcolumn(
        name = "Avoid Buggy IPs",
        type_ = "boolean",
        json_path = ".spec.avoidBuggyIPs"
    ),
    printcolumn(name = "Addresses", type_ = "string", json_path = ".spec.addresses")
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolSpec {
    /// CIDRs (`10.0.0.0/24`, `fc00::/120`) or ranges (`192.168.1.10-192.168.1.20`).
    pub addresses: Vec<String>,
    /// Whether addresses are handed out automatically; when false the pool is used only
    /// when a Service asks for it explicitly. Default `true` (see [`IPAddressPoolSpec::auto_assign`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::default_true")]
    pub auto_assign: Option<bool>,
    /// Skip IPv4 addresses ending in `.0` or `.255`. Default `false`.
    #[serde(
        default,
        rename = "avoidBuggyIPs",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "crate::schema::default_false")]
    pub avoid_buggy_ips: Option<bool>,
    /// Restricts and prioritises which Services may take addresses from this pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

impl IPAddressPoolSpec {
    /// `autoAssign` with MetalLB's default (`true`) applied.
    pub fn auto_assign(&self) -> bool {
        self.auto_assign.unwrap_or(true)
    }
    /// `avoidBuggyIPs` with MetalLB's default (`false`) applied.
    pub fn avoid_buggy_ips(&self) -> bool {
        self.avoid_buggy_ips.unwrap_or(false)
    }
}

/// `spec.serviceAllocation` (Go: `ServiceAllocation`): which Services may use the pool, and
/// with what priority.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    /// Lower positive value = higher priority; 0 or unset = lowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Namespaces whose Services may use the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::string_list")]
    pub namespaces: Vec<String>,
    /// Selectors on Namespace labels, alternative to `namespaces`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Selectors on Service labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub service_selectors: Vec<LabelSelector>,
}

/// Status of an IPAddressPool: usage counters (MetalLB v0.15+) plus ferrolb's conditions.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct IPAddressPoolStatus {
    /// IPv4 addresses in use.
    #[serde(rename = "assignedIPv4")]
    pub assigned_ipv4: i64,
    /// IPv6 addresses in use.
    #[serde(rename = "assignedIPv6")]
    pub assigned_ipv6: i64,
    /// IPv4 addresses still free (saturates at `i64::MAX`).
    #[serde(rename = "availableIPv4")]
    pub available_ipv4: i64,
    /// IPv6 addresses still free (saturates at `i64::MAX` for /64 and larger pools).
    #[serde(rename = "availableIPv6")]
    pub available_ipv6: i64,
    /// ferrolb: standard conditions (`Ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// ferrolb: the generation the conditions describe.
    #[serde(
        default,
        rename = "observedGeneration",
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_generation: Option<i64>,
}
