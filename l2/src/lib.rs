//! Sans-IO Layer-2 logic of the ferrolb speaker.
//!
//! This crate reproduces MetalLB's Layer-2 mode (see `metallb-runtime.md` §2) as pure code:
//! no sockets, no clocks, no async runtime and no Kubernetes types. The speaker binary adapts
//! Services, Nodes, EndpointSlices and L2Advertisements into the plain inputs used here, feeds
//! received frames and datagrams in, and performs the returned actions.
//!
//! Data flow inside one speaker:
//!
//! ```text
//!                      ┌──────────────────────── node::L2Node ─────────────────────────┐
//!  UDP datagrams ─────►│ liveness::Membership ─► live members ─┐                        │
//!                      │                                       ▼                        │
//!  Nodes/ads/EPs ─────►│ (adapter callback) election::should_announce per service       │
//!                      │                                       ▼                        │
//!                      │ owner::OwnerTable ◄── desired (IP, interfaces) set             │
//!                      └──────┬──────────────────────────────────────────────┬──────────┘
//!                             ▼                                              ▼
//!              Output::Heartbeat (send to peers)        Output::Owner(Action::{StartAnswering,
//!                                                        StopAnswering, SendGratuitous})
//!
//!  raw frames ─► packet::arp / packet::ndp parse ─► respond(.., OwnerTable::answers_on) ─► reply
//! ```
//!
//! Modules:
//! - [`election`]: who announces a service IP (MetalLB `ShouldAnnounce` + `sortL2Candidates`).
//! - [`packet`]: ARP (RFC 826) and NDP (RFC 4861) codecs over Ethernet, and the responder rules.
//! - [`owner`]: per-IP ownership state machine and the gratuitous ARP/NA schedule.
//! - [`liveness`]: authenticated UDP heartbeats for sub-second dead-peer detection.
//! - [`iface`]: which local interfaces get ARP/NDP responders (MetalLB `announcer.go` rules).
//! - [`node`]: [`L2Node`], the per-node core tying liveness, re-election triggers and
//!   ownership together; the speaker binary only adds sockets and Kubernetes watches.

pub mod election;
pub mod iface;
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
