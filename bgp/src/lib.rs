//! Sans-IO BGP-4 for the ferrolb speaker (issue 15, BGP mode): no sockets, no clock, no async.
//!
//! - [`message`]: the wire codec (RFC 4271 §4 with RFC 4760, 6793, 2918, 4724, 8654, 1997,
//!   8092 and RFC 9072 on decode); decoders validate everything and return a typed
//!   [`DecodeError`] mapped to its §6 NOTIFICATION and RFC 7606 action.
//! - [`pack`]: UPDATE packing (equal attributes share messages up to 4,096 / 65,535 bytes)
//!   and the [`pack::AdjRibOut`] that diffs a desired table against what was sent.
//! - [`fsm`]: the RFC 4271 §8 session FSM: events in, actions out, timers as deadlines on a
//!   caller-owned clock; config mirrors MetalLB's BGPPeer.
//! - [`announce`]: the pure decision core of BGP mode: a node's peers (BGPPeer
//!   `nodeSelectors`) mapped onto [`fsm::SessionConfig`] with a restart-stable session
//!   identity, MetalLB's `ShouldAnnounce`, and per peer the desired table for
//!   [`pack::AdjRibOut`] (aggregation, communities, LOCAL_PREF, next hops).
//! - [`types`]: families, ORIGIN, AS_PATH segments, communities, NLRI prefix encoding.
//!
//! The TCP shell (sockets, MD5, GTSM) lives in `ferrolb-net`; the speaker binary wires them.

pub mod announce;
pub mod error;
pub mod fsm;
pub mod message;
pub mod pack;
pub mod types;
mod wire;

pub use error::{DecodeError, EncodeError, ErrorAction};
pub use message::{CodecCtx, Message, Notification};
pub use types::{Family, LargeCommunity, Origin};
