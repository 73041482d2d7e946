//! Sans-IO BFD (Bidirectional Forwarding Detection) for the ferrolb speaker (issue 16): no
//! sockets, no clock, no async, no randomness source of its own.
//!
//! - [`packet`]: the control packet codec (RFC 5880 §4.1) and the reception checks of
//!   §6.8.6 that do not need a session, each a [`DecodeError`] variant.
//! - [`session`]: one asynchronous-mode session (§6.2 state machine with the three-way
//!   handshake, §6.8.1–§6.8.7): fed received packets and the time, it returns [`Action`]s
//!   (packets to send, state changes) and says when to be called next
//!   ([`Session::next_deadline`]). Timer negotiation, the poll sequence for interval changes
//!   (§6.5), the 1 s transmit rate while not Up (§6.8.3), the detection time (§6.8.4), the
//!   75–100 % transmit jitter (§6.8.7, ≤ 90 % with detect multiplier 1) drawn from a
//!   caller-seeded generator, and the passive role (§6.1).
//! - [`demux`]: which session a received packet belongs to (§6.3: by Your Discriminator, or
//!   by the peer's address while that is zero) and discriminator allocation.
//! - [`Params`]: a BFDProfile's values with MetalLB's defaults (300 ms / 300 ms / × 3,
//!   echo 50 ms, passive off, minimum TTL 254); `ferrolb_kube::convert::bfd` fills it from the
//!   Kubernetes object, [`Params::session_config`] maps it onto [`SessionConfig`].
//!
//! Authentication (§6.7) is not implemented: packets with the A bit are discarded, as §6.8.6
//! requires of a session without authentication. Demand mode is neither requested nor
//! honoured (the D bit of the peer is recorded only).
//!
//! **Echo mode (decision).** FRR's echo function sends packets addressed to itself that the
//! peer's forwarding plane loops back; that needs raw sockets (spoofed source address) on
//! the speaker's side and support on the router's, and only saves control packet work on the
//! peer. ferrolb does not implement it: `echoMode` and `echoInterval` are accepted (existing
//! MetalLB YAML keeps working), admission answers a Warning that they have no effect
//! (`ferrolb_validate::bfd::warnings`), and the session always advertises Required Min Echo
//! RX Interval 0 (§6.8.9: the peer then sends no echo packets). Detection relies on control
//! packets at the negotiated rate, which ferrolb runs on its own thread.
//!
//! The UDP shell (ports 3784 / 4784, TTL 255 and GTSM, RFC 5881 / 5883) lives in
//! `ferrolb-net`; the speaker binary wires them.

pub mod demux;
pub mod packet;
mod params;
pub mod session;

pub use demux::Demux;
pub use packet::{ControlPacket, DecodeError, Diag, State};
pub use params::{Params, SINGLE_HOP_TTL};
pub use session::{Action, Session, SessionConfig};
