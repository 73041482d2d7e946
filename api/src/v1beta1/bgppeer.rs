//! BGPPeer `v1beta1` (`api/v1beta1/bgppeer_types.go` upstream): served but deprecated, with the
//! warning "v1beta1 is deprecated, please use v1beta2". Converted to v1beta2 by the webhook.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::ConfigStatus;

/// Spec of a BGPPeer (v1beta1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BGPPeer",
    namespaced,
    status = "ConfigStatus",
    derive = "PartialEq",
    storage = false,
    deprecated = "v1beta1 is deprecated, please use v1beta2",
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
#[serde(rename_all = "camelCase")]
pub struct BGPPeerSpec {
    /// AS number used on the local end of the session.
    #[serde(rename = "myASN")]
    #[schemars(schema_with = "crate::schema::asn_v1beta1")]
    pub my_asn: u32,
    /// AS number expected on the remote end.
    #[serde(rename = "peerASN")]
    #[schemars(schema_with = "crate::schema::asn_v1beta1")]
    pub peer_asn: u32,
    /// Address to dial.
    pub peer_address: String,
    /// Source address for the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// Port to dial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::peer_port_v1beta1")]
    pub peer_port: Option<u16>,
    /// Requested BGP hold time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub hold_time: Option<String>,
    /// Requested keepalive interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub keepalive_time: Option<String>,
    /// BGP router ID to advertise.
    #[serde(default, rename = "routerID", skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Nodes that peer with this peer, in v1beta1's own selector type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_selectors: Vec<LegacyNodeSelector>,
    /// TCP MD5 password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Name of the BFDProfile for this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_profile: Option<String>,
    /// The peer is multiple hops away.
    #[serde(
        default,
        rename = "ebgpMultiHop",
        skip_serializing_if = "Option::is_none"
    )]
    pub ebgp_multi_hop: Option<bool>,
}

/// v1beta1's node selector type.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegacyNodeSelector {
    /// Exact label matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Expression matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LegacySelectorRequirement>,
}

/// One expression of a [`LegacyNodeSelector`]; all three fields are required.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LegacySelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values; at least one.
    #[schemars(length(min = 1))]
    pub values: Vec<String>,
}
