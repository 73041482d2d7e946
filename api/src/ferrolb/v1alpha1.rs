//! `ferrolb.io/v1alpha1` BGPSessionState: one object per BGP session of a speaker (node ×
//! BGPPeer), written by that speaker whenever the session's state or counters change (paced),
//! so `kubectl get bgpsessionstates.ferrolb.io` shows every session of the cluster.
//!
//! Modelled on frr-k8s's `frrk8s.metallb.io/v1beta1` BGPSessionState (`status.node`,
//! `status.peer`, `status.bgpStatus` with FRR's state names), which frr-k8s refreshes by polling
//! every 2 minutes; ferrolb's is event-driven and adds the BGPPeer name, the time the session
//! became Established, the prefixes and UPDATEs sent and the last error. Another group and
//! version than frr-k8s's, so both CRDs can be installed side by side.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// BGPSessionState has no spec; this empty struct is flattened away.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ferrolb.io",
    version = "v1alpha1",
    kind = "BGPSessionState",
    plural = "bgpsessionstates",
    namespaced,
    no_spec,
    status = "BGPSessionStateStatus",
    derive = "PartialEq",
    doc = "BGPSessionState reports one BGP session of a ferrolb speaker: its state, since when it is Established, what was sent and the last error.",
    printcolumn(name = "Node", type_ = "string", json_path = ".status.node"),
    printcolumn(name = "Peer", type_ = "string", json_path = ".status.peer"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.bgpStatus"),
    printcolumn(
        name = "Prefixes",
        type_ = "integer",
        json_path = ".status.prefixesSent"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct BGPSessionStateSpec {}

/// One session as its speaker last reported it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BGPSessionStateStatus {
    /// The speaker's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The peer's address (frr-k8s's `peer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The peer's TCP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::tcp_port")]
    pub peer_port: Option<u16>,
    /// The BGPPeer (`metadata.name`) this session is configured by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_name: Option<String>,
    /// RFC 4271 §8 state with FRR's names: Idle, Connect, Active, OpenSent, OpenConfirm,
    /// Established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_status: Option<String>,
    /// When the session last became Established (RFC 3339); absent while it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub established_since: Option<String>,
    /// Prefixes currently advertised on the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::counter")]
    pub prefixes_sent: Option<u64>,
    /// UPDATE messages sent since the speaker started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::counter")]
    pub updates_sent: Option<u64>,
    /// The last reason the session went down or failed to come up, kept after recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// State of the session's BFD session with FRR's names (`up`, `down`, `init`,
    /// `shutdown`; frr-k8s's `bfdStatus`); absent when the BGPPeer has no `bfdProfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_status: Option<String>,
}
