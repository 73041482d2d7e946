//! The speaker's BFD runtime (issue 16): one BFD session per BGP session whose BGPPeer has a
//! `bfdProfile`, on its own OS thread with a single-threaded tokio runtime, so a busy
//! reconcile, the Kubernetes client or a flood of work on the main runtime cannot delay a
//! control packet or a detection timer.
//!
//! - [`wanted`] (pure): this node's peers (`nodeSelectors`, as the BGP runtime selects them)
//!   with a profile, each as a [`Want`]: the session key (peer address, single hop or
//!   multihop — multihop when the BGPPeer has `ebgpMultiHop`, as FRR decides for MetalLB),
//!   the source address (`sourceAddress`) and the profile's [`Params`]
//!   (`crate::plan::BgpInputs::bfd_profiles`, converted by `ferrolb_kube::convert::bfd`).
//! - [`run`]: the thread (nice −10 when the speaker has `CAP_SYS_NICE`, as on the rig; else
//!   normal priority). Receive sockets on 3784 / 4784 per family (`ferrolb_net::bfd`),
//!   one send socket per session (TTL 255, source port 49152–65535), the sans-IO
//!   `ferrolb_bfd::Session` per peer. Received packets are decoded, demultiplexed (Your
//!   Discriminator, else the source address) and checked: single hop only with TTL 255
//!   (RFC 5881 §5, GTSM), multihop with TTL ≥ `minimumTtl` (RFC 5883 §2).
//! - A profile edit re-tunes the running session (`Session::set_config`: a poll sequence),
//!   it does not restart it, and the BGP session is not touched (a BGP session's identity
//!   has no BFD field). A changed key or source address replaces the BFD session.
//! - BFD going from Up to Down (detection time expired, or the peer signalled Down) sends the
//!   peer's name on the `bgp_down` channel: the BGP runtime closes that session with a
//!   NOTIFICATION Cease / BFD Down (RFC 9384) and reconnects with its normal back-off. A
//!   peer going AdminDown does not (RFC 5882 §3.2: not a failure).
//! - Metrics: `metallb_bfd_*` per peer IP ([`crate::metrics`]); the states go out as a
//!   [`BfdReport`] on a watch channel.
//! - On shutdown every session goes AdminDown (diag 7) and says so once, so the routers do
//!   not count the speaker's exit as a path failure.
//!
//! Echo mode is not implemented (`ferrolb_bfd` crate docs; admission warns).

mod run;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_bfd::{Diag, Params, State};
use ferrolb_bgp::announce::{self, PeerSpec, peers_for_node};

use crate::plan::Plan;

pub use run::{BfdConfig, Ports, spawn};

/// Identifies a BFD session on this node (the demultiplexing key of packets whose Your
/// Discriminator is still 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The peer's address.
    pub peer: IpAddr,
    /// RFC 5883 multihop (port 4784) instead of RFC 5881 single hop (3784).
    pub multihop: bool,
}

/// One wanted BFD session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The BGPPeer's name.
    pub peer_name: String,
    /// Address and hop mode.
    pub key: Key,
    /// `sourceAddress` of the BGPPeer.
    pub source: Option<IpAddr>,
    /// The profile's parameters.
    pub params: Params,
}

/// The wanted BFD sessions of `node` by key, and the peers left out (`(peer, reason)`: a
/// profile that does not exist, or a second BGPPeer with the same address and hop mode).
pub fn wanted(plan: &Plan, node: &str) -> (BTreeMap<Key, Want>, Vec<(String, String)>) {
    let mut out = BTreeMap::new();
    let mut skipped = Vec::new();
    let Some(n) = plan.nodes.get(node) else {
        return (out, skipped);
    };
    let facts = announce::NodeFacts {
        name: node.to_owned(),
        labels: n.labels.clone(),
        ..Default::default()
    };
    for p in peers_for_node(&plan.bgp.peers, &facts) {
        let Some(profile) = &p.bfd_profile else {
            continue;
        };
        let Some(params) = plan.bgp.bfd_profiles.get(profile) else {
            skipped.push((p.name.clone(), format!("BFDProfile {profile:?} not found")));
            continue;
        };
        let key = key_of(p);
        if let Some(first) = out.get(&key) {
            let first: &Want = first;
            skipped.push((
                p.name.clone(),
                format!(
                    "BGPPeer {:?} already has a BFD session with {}",
                    first.peer_name, key.peer
                ),
            ));
            continue;
        }
        out.insert(
            key,
            Want {
                peer_name: p.name.clone(),
                key,
                source: p.source_address,
                params: *params,
            },
        );
    }
    (out, skipped)
}

fn key_of(p: &PeerSpec) -> Key {
    Key {
        peer: p.address,
        multihop: p.ebgp_multihop,
    }
}

/// What the BFD runtime reports about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdSessionReport {
    /// The BGPPeer's name.
    pub peer_name: String,
    /// Address and hop mode.
    pub key: Key,
    /// Local state.
    pub state: State,
    /// Local diagnostic (why it last went down).
    pub diag: Diag,
    /// The peer's last state.
    pub remote_state: State,
    /// Why the session cannot run (socket errors), if so.
    pub error: Option<String>,
}

/// Every BFD session of this node, by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BfdReport {
    /// The sessions.
    pub sessions: BTreeMap<Key, BfdSessionReport>,
}

/// Whether a transition must take the BGP session down: Up → Down, except when the peer
/// announced AdminDown (RFC 5882 §3.2).
pub fn takes_bgp_down(from: State, to: State, diag: Diag, remote: State) -> bool {
    from == State::Up
        && to == State::Down
        && !(diag == Diag::NeighborDown && remote == State::AdminDown)
}
