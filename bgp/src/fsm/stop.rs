//! How a session ends when the speaker process stops: the one decision between a planned
//! drain, a graceful-restart keep and a plain Cease.
//!
//! - [`StopMode::Drain`] — the node is going away (cordoned/unschedulable, shutting down, or
//!   the speaker told to drain on stop): withdraw every route by UPDATE, give the routers time
//!   to converge on the other nodes, then NOTIFICATION Cease. No router keeps a stale path to
//!   a node that will not come back soon (MetalLB with graceful restart blackholes such a node
//!   for the whole restart time, #2677).
//! - [`StopMode::KeepForRestart`] — a restart or upgrade on a healthy node with graceful restart
//!   negotiated (RFC 4724): close the TCP connection **without** a NOTIFICATION (§4.1 — a Cease
//!   would make the peer drop the routes), withdraw nothing; the peer keeps the routes as stale
//!   for the restart time while the node's kube-proxy keeps forwarding (F bit), and the
//!   restarted speaker refreshes them, followed by End-of-RIB.
//! - [`StopMode::Cease`] — otherwise (no graceful restart on the session, or nothing is
//!   advertised because the session is not Established): NOTIFICATION Cease (Administrative
//!   Shutdown, RFC 4486) and close; the peer withdraws the routes at once.

/// How one session ends when the speaker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Withdraw every route, wait for the routers to converge, then Cease.
    Drain,
    /// Close without NOTIFICATION: the peer keeps the routes as stale (RFC 4724 §4.1).
    KeepForRestart,
    /// NOTIFICATION Cease and close.
    Cease,
}

/// The stop decision for one session.
///
/// `draining`: the node is being drained or shut down (or the speaker was told to drain on
/// stop); `established`: the session is up (it has advertised routes); `gr_negotiated`: both
/// sides sent the graceful-restart capability on this session.
pub fn stop_mode(draining: bool, established: bool, gr_negotiated: bool) -> StopMode {
    match (established, draining, gr_negotiated) {
        (false, _, _) => StopMode::Cease,
        (true, true, _) => StopMode::Drain,
        (true, false, true) => StopMode::KeepForRestart,
        (true, false, false) => StopMode::Cease,
    }
}
