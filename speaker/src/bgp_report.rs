//! What the BGP runtime reports: the one snapshot of this node's BGP sessions and of the Services
//! it advertises. The BGP runtime (`crate::bgp`) publishes it on a `tokio::sync::watch` channel
//! whenever it changes (event-driven: a session state change, a new table); the status writers
//! (ServiceBGPStatus, the per-session status object), the events and the metrics read it, so each
//! fact about a session is computed once, in the runtime.
//!
//! Published by the runtime ([`crate::bgp::spawn`]); read by [`crate::status::bgp`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use ferrolb_bgp::fsm::State;

use crate::plan::ServiceKey;

/// The BGP side of this node, at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BgpReport {
    /// One entry per session this node wants (BGPPeer selecting this node), sorted by `peer`.
    pub sessions: Vec<SessionReport>,
    /// Services this node advertises over BGP, with the BGPPeer names each one is configured to
    /// be advertised to (MetalLB's `ServiceBGPStatus.status.peers`: the desired peers, listed
    /// even while a session is down). A Service absent here has no ServiceBGPStatus on this node.
    /// Services with the same peers share one list ([`PeerNames`]).
    pub services: BTreeMap<ServiceKey, PeerNames>,
}

/// The BGPPeer names a Service is advertised to, shared by every Service with the same ones
/// (usually all of them: with 1,000 Services and 16 peers, one list instead of 16,000 strings
/// per copy of the report).
pub type PeerNames = Arc<[String]>;

/// One BGP session of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// BGPPeer name (`metadata.name`).
    pub peer: String,
    /// The peer's address and port (MetalLB's metric label `peer="ip:port"`).
    pub address: SocketAddr,
    /// RFC 4271 §8 state.
    pub state: State,
    /// When the session last reached Established (None while not Established).
    pub established_since: Option<SystemTime>,
    /// Prefixes currently advertised on this session (Adj-RIB-Out size).
    pub prefixes_sent: u64,
    /// Desired prefixes not yet advertised on this session (all of them while it is down;
    /// MetalLB's `metallb_bgp_pending_prefixes_total`). Added by the runtime.
    pub pending_prefixes: u64,
    /// UPDATE messages sent since the speaker started (MetalLB's `metallb_bgp_updates_total`).
    pub updates_sent: u64,
    /// The last reason the session went down or failed to come up (a NOTIFICATION sent or
    /// received, a TCP error, hold timer expiry), kept after recovery; None if it never failed.
    pub last_error: Option<String>,
}
