//! Sans-IO Layer-2 logic of the ferrolb speaker.
//!
//! This crate reproduces MetalLB's Layer-2 mode (see `metallb-runtime.md` §2) as pure code:
//! no sockets, no clocks, no async runtime and no Kubernetes types. The speaker binary adapts
//! Services, Nodes, EndpointSlices and L2Advertisements into the plain inputs used here, feeds
//! received frames and datagrams in, and performs the returned actions.
//!
//! Data flow inside one speaker (the adapter is `ferrolb-speaker`'s `l2io`):
//!
//! ```text
//!                       ┌─────────────────────────── node::L2Node ───────────────────────────┐
//!  UDP datagrams ──────►│ handle_datagram ─► liveness::Membership (live members, quorum)     │
//!  Kubernetes change ──►│ invalidate()                    │                                  │
//!                       │ poll(now, wall, desired): re-elects on a membership change,        │
//!                       │ invalidate() or when the view settles ─► desired(&Membership) ─────┼─┐
//!                       │                                                                    │ │
//!                       │ owner::OwnerTable::reconcile ◄── desired (IP, interfaces) set ◄────┼─┤
//!                       └────┬───────────────────────────────┬─────────────────────┬─────────┘ │
//!                            ▼                               ▼                     ▼           │
//!              Output::Heartbeat                Output::Owner(Action)      Output::Member      │
//!              (adapter sends to peers)         StartAnswering /           (logs)              │
//!                                               StopAnswering ─► the adapter's view            │
//!                                               SendGratuitous ─► packet::arp::gratuitous /    │
//!                                                                 packet::ndp::unsolicited     │
//!  adapter callback `desired`: per Service election::candidates + should_announce ◄────────────┘
//!  (the speaker's `plan::decide` over the Kubernetes plan and the live members)
//!
//!  raw frame ─► packet::arp::parse / packet::ndp::parse ─► respond(.., answered on this interface?
//!               — the adapter's view, written only by StartAnswering/StopAnswering) ─► reply
//!  interface facts ─► iface::responders ─► which interfaces get ARP / NDP responders
//! ```
//!
//! Modules:
//! - [`election`]: who announces a service IP (MetalLB `ShouldAnnounce` + `sortL2Candidates`).
//! - [`packet`]: ARP (RFC 826) and NDP (RFC 4861) codecs over Ethernet, and the responder rules.
//! - [`owner`]: per-IP ownership state machine and the gratuitous ARP/NA schedule.
//! - [`liveness`]: authenticated UDP heartbeats for sub-second dead-peer detection.
//! - [`iface`]: which local interfaces get ARP/NDP responders (MetalLB `announcer.go` rules).
//! - [`limit`]: how many replies a responder sends under a flood (per requester and in all).
//! - [`node`]: [`L2Node`], the per-node core tying liveness, re-election triggers and
//!   ownership together; the speaker binary only adds sockets and Kubernetes watches.

pub mod election;
pub mod iface;
pub mod limit;
pub mod liveness;
pub mod node;
pub mod owner;
pub mod packet;

pub use election::{
    AdvertisementScope, Decision, NodeCandidate, NodeFacts, NodeSelector, NotOwnerReason,
    ServiceInput, TrafficPolicy, WeightedSelector, candidates, elect, go_ip_string, rank,
    should_announce,
};

pub use liveness::{LivenessConfig, LivenessError, MemberEvent, Membership, QuorumPolicy};
pub use node::{L2Node, Output};
pub use owner::{Action, GarpSchedule, Interfaces, OwnerTable};
pub use packet::{MacAddr, PacketError, ndp::NaSource};
