//! The pure decision core of the speaker's BGP mode: for this node, which peers it has and,
//! per peer, the desired table (prefix → [`crate::pack::RouteAttrs`]) to hand to
//! [`crate::pack::AdjRibOut`] (through [`crate::fsm::Session::set_routes`]). Plain inputs
//! only: the speaker converts BGPPeer, BGPAdvertisement, Community, IPAddressPool, Service,
//! EndpointSlice and Node objects into the types here.
//!
//! MetalLB semantics reproduced (`metallb-bgp.md` "MetalLB semantics to reproduce",
//! `metallb-api.md` §1.3/§1.4, `metallb-runtime.md` §3.2/§3.4), FRR-mode rules where the
//! native speaker breaks real routers:
//!
//! - [`peer`]: BGPPeer `nodeSelectors` (empty = all nodes), timer derivation (`parseTimers`),
//!   the router-ID fallback of the native speaker (with a unicast fix for the crc32 case),
//!   `localASN` (`local-as N no-prepend replace-as`), `dualStackAddressFamily`, and the
//!   mapping onto [`crate::fsm::SessionConfig`] plus a [`peer::SessionIdentity`] that changes
//!   only when the session must be restarted (FRR reload flaps, MetalLB #1944/#2049).
//! - [`community`]: community literals (`A:B`, `large:A:B:C`), well-known names, and
//!   Community CR aliases.
//! - [`decide`]: `bgp_controller.go` `ShouldAnnounce` with its reasons, advertisement
//!   selection (pools, pool selectors, service selectors, node selectors, `peers`),
//!   aggregation (`ip.Mask(aggregationLength)`, shared by every Service IP it covers), and
//!   the merge of several advertisements producing one prefix (communities unioned,
//!   localPref conflicts flagged, highest localPref otherwise).
//! - [`table`]: the per-session table: next hop of the prefix's family from the session's
//!   local address, LOCAL_PREF on iBGP only (100 when unset, as FRR).

pub mod community;
pub mod decide;
pub mod peer;
pub mod table;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use community::{Community, CommunityError, resolve_communities};
pub use decide::{
    Advertisement, NotAnnounced, Plan, PlanInput, Route, ServiceDecision, ServiceFacts,
    TrafficPolicy, plan,
};
pub use peer::{
    LocalAddresses, PeerSpec, SessionIdentity, TransportConfig, peers_for_node, router_id,
};
pub use table::{SessionView, next_hop, peer_table};

/// Kubernetes labels of an object (Node, Service, IPAddressPool).
pub type Labels = BTreeMap<String, String>;

/// What the announce core needs to know about the local Node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Node name (also the crc32 router-ID fallback's input).
    pub name: String,
    /// Node labels (BGPPeer and BGPAdvertisement `nodeSelectors`).
    pub labels: Labels,
    /// The Node has condition `NetworkUnavailable=True`.
    pub network_unavailable: bool,
    /// The Node carries `node.kubernetes.io/exclude-from-external-load-balancers`
    /// (`ferrolb_api::names::LABEL_EXCLUDE_FROM_LB`) and the speaker does not run with
    /// `--ignore-exclude-lb`.
    pub excluded_from_lb: bool,
}

/// A selector list as MetalLB uses them: empty = everything, else any selector matching.
pub(crate) fn any_selects(selectors: &[ferrolb_core::LabelSelector], labels: &Labels) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

/// Errors turning announce inputs into session parameters or communities; each names the
/// object and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    /// `holdTime` is neither 0 nor at least 3 s.
    #[error("BGPPeer {peer}: spec.holdTime {secs}s: must be 0 or >=3s")]
    HoldTime {
        /// BGPPeer name.
        peer: String,
        /// The hold time in whole seconds.
        secs: u64,
    },
    /// `keepaliveTime` exceeds `holdTime`.
    #[error("BGPPeer {peer}: spec.keepaliveTime {keepalive}s must be lower than holdTime {hold}s")]
    KeepaliveAboveHold {
        /// BGPPeer name.
        peer: String,
        /// Keepalive in seconds.
        keepalive: u64,
        /// Hold time in seconds.
        hold: u64,
    },
    /// `routerID` is an IPv6 address (the BGP identifier is 4 octets).
    #[error("BGPPeer {peer}: spec.routerID {addr} is not an IPv4 address")]
    RouterIdNotIpv4 {
        /// BGPPeer name.
        peer: String,
        /// The configured value.
        addr: std::net::IpAddr,
    },
    /// A community of a BGPAdvertisement or Community alias does not parse.
    #[error("BGPAdvertisement {advertisement}: spec.communities {value:?}: {source}")]
    Community {
        /// BGPAdvertisement name.
        advertisement: String,
        /// The entry as written.
        value: String,
        /// Why it is invalid.
        source: CommunityError,
    },
}
