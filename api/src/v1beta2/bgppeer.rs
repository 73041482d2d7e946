//! BGPPeer `v1beta2` (`api/v1beta2/bgppeer_types.go` upstream): the storage version, and the
//! hub of the v1beta1 ↔ v1beta2 conversion.

use k8s_openapi::api::core::v1::SecretReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::ConfigStatus;

/// Spec of a BGPPeer (v1beta2).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "metallb.io",
    version = "v1beta2",
    kind = "BGPPeer",
    namespaced,
    status = "ConfigStatus",
    derive = "PartialEq",
    doc = "BGPPeer is the Schema for the peers API.",
    printcolumn(name = "Address", type_ = "string", json_path = ".spec.peerAddress"),
    printcolumn(name = "ASN", type_ = "string", json_path = ".spec.peerASN"),
    printcolumn(name = "BFD Profile", type_ = "string", json_path = ".spec.bfdProfile"),
    printcolumn(
        name = "Multi Hops",
        type_ = "string",
        json_path = ".spec.ebgpMultiHop"
    )
)]
#[cfg_attr(feature = "cel", x_kube(cel))]
#[serde(rename_all = "camelCase")]
pub struct BGPPeerSpec {
    /// AS number used on the local end of the session.
    #[serde(rename = "myASN")]
    #[schemars(schema_with = "crate::schema::asn")]
    pub my_asn: u32,
    /// AS number expected on the remote end; exclusive with `dynamicASN`.
    #[serde(default, rename = "peerASN", skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::asn")]
    pub peer_asn: Option<u32>,
    /// AS number presented to the peer instead of `myASN` (`local-as … no-prepend replace-as`).
    #[serde(default, rename = "localASN", skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::local_asn")]
    pub local_asn: Option<u32>,
    /// Detect the peer's ASN: `internal` (iBGP) or `external` (eBGP); exclusive with `peerASN`.
    #[serde(
        default,
        rename = "dynamicASN",
        skip_serializing_if = "Option::is_none"
    )]
    pub dynamic_asn: Option<DynamicASNMode>,
    /// Address to dial; exclusive with `interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_address: Option<String>,
    /// Interface for unnumbered BGP; exclusive with `peerAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Source address for the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// Port to dial; default 179.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::peer_port")]
    pub peer_port: Option<u16>,
    /// Requested BGP hold time (RFC 4271 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub hold_time: Option<String>,
    /// Requested keepalive interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub keepalive_time: Option<String>,
    /// How long to wait before retrying a connection; whole seconds, 1..=65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::duration")]
    #[x_kube(
        validation = Rule::new("duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535").message("connect time should be between 1 seconds to 65535"),
        validation = Rule::new("duration(self).getMilliseconds() % 1000 == 0").message("connect time should contain a whole number of seconds")
    )]
    pub connect_time: Option<String>,
    /// BGP router ID to advertise.
    #[serde(default, rename = "routerID", skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Nodes that peer with this peer; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::label_selectors")]
    pub node_selectors: Vec<LabelSelector>,
    /// TCP MD5 password (RFC 2385).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Secret (type `kubernetes.io/basic-auth`, key `password`) holding the TCP MD5 password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "secret_reference")]
    pub password_secret: Option<SecretReference>,
    /// Name of the BFDProfile for this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_profile: Option<String>,
    /// Enables graceful restart (RFC 4724); cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("EnableGracefulRestart cannot be changed after creation"))]
    pub enable_graceful_restart: Option<bool>,
    /// The peer is multiple hops away.
    #[serde(
        default,
        rename = "ebgpMultiHop",
        skip_serializing_if = "Option::is_none"
    )]
    pub ebgp_multi_hop: Option<bool>,
    /// VRF the session lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// Deprecated: MP-BGP is the default; has no effect.
    #[serde(default, rename = "disableMP", skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::default_false")]
    pub disable_mp: Option<bool>,
    /// Advertise both address families over one session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::default_false")]
    pub dual_stack_address_family: Option<bool>,
}

impl BGPPeerSpec {
    /// `peerPort` with MetalLB's default (179) applied.
    pub fn peer_port(&self) -> u16 {
        self.peer_port.unwrap_or(179)
    }
}

/// `spec.dynamicASN`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicASNMode {
    /// The peer is in our AS (iBGP).
    Internal,
    /// The peer is in another AS (eBGP).
    External,
}

fn secret_reference(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut s = SecretReference::json_schema(generator);
    s.insert("x-kubernetes-map-type".into(), "atomic".into());
    s
}
