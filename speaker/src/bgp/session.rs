//! One BGP session as a tokio task: the thin async shell around the sans-IO
//! [`ferrolb_bgp::fsm::Session`]. It connects ([`super::transport`]), writes the FSM's
//! messages, feeds it the bytes it reads, ticks it at [`Session::next_deadline`] (connect
//! retry with backoff capped by `connectTime`, keepalives, the receive hold timer), and hands
//! it the desired table whenever the routes change ([`Session::set_routes`]: UPDATEs for the
//! difference, never a reset). Every change of what it reports goes to the manager as a
//! [`SessionReport`]. A BFD failure (`bfd_down`) closes the connection with NOTIFICATION
//! Cease / BFD Down (RFC 9384 subcode 10) and lets the FSM reconnect with its back-off.
//!
//! Stopping ([`Stop`]): a removed or changed peer gets a NOTIFICATION Cease (Administrative
//! Shutdown). When the speaker itself stops, [`ferrolb_bgp::fsm::stop_mode`] decides per
//! session: a drain withdraws every route by UPDATE, keeps the session up (keepalives) for the
//! drain delay so the routers converge on the other nodes, then sends the Cease; a restart with
//! graceful restart negotiated closes the connection without a NOTIFICATION (RFC 4724 §4.1), so
//! the router keeps the routes as stale; otherwise a Cease. A session of a restarted speaker
//! ([`SessionTask::restarting`]) sets the graceful-restart R bit in its OPENs until Established.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferrolb_bgp::announce::{LocalAddresses, Route, SessionIdentity, SessionView, peer_table};
use ferrolb_bgp::error::code;
use ferrolb_bgp::fsm::{Action, DownReason, Event, Session, State, StopMode};
use ferrolb_bgp::message::{Message, Notification};
use ferrolb_bgp::pack::RouteTable;
use ferrolb_bgp::types::Family;
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::trace;
use super::transport::{self, Connecting};
use crate::bgp_report::SessionReport;

/// A write that does not complete in this time fails the connection (a peer that stopped
/// reading; the hold timer would catch it too, but a blocked write must not block the task).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Cease subcode "BFD Down" (RFC 9384 §2).
const BFD_DOWN_SUBCODE: u8 = 10;
/// Bytes read from the connection at a time: one standard-size message (RFC 4271 §4.1; the FSM
/// reassembles longer ones and partial reads). The speaker ignores inbound routes, so a larger
/// buffer only costs memory per session (64 KiB each before: ~1 MiB for 16 peers).
const READ_CHUNK: usize = 4096;

/// What the manager hands a session: the routes of its peer on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerRoutes {
    /// Prefix → route (`ferrolb_bgp::announce::Plan::routes` of the peer).
    pub routes: BTreeMap<IpNet, Route>,
    /// iBGP by configuration (`PeerSpec::is_ibgp`; the negotiated value wins once known).
    pub ibgp: bool,
}

/// Why a session task is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The peer is gone or its session identity changed: NOTIFICATION Cease.
    Cease,
    /// The speaker stops: drain, graceful-restart keep or Cease, per
    /// [`ferrolb_bgp::fsm::stop_mode`].
    Shutdown {
        /// The node is draining or shutting down (or `--drain-on-stop`).
        draining: bool,
        /// How long a drained session stays up after its withdrawals.
        drain_delay: Duration,
    },
}

/// A report from a session task: peer name, the task's generation, its report.
pub type ReportMsg = (String, u64, SessionReport);

/// Everything a session task starts with.
pub struct SessionTask {
    /// BGPPeer name.
    pub name: String,
    /// Distinguishes this task from an earlier one of the same peer.
    pub generation: u64,
    /// The session's configuration.
    pub identity: SessionIdentity,
    /// The routes to advertise (latest wins).
    pub routes: watch::Receiver<Arc<PeerRoutes>>,
    /// Fired (or dropped: a Cease) to stop the session.
    pub stop: oneshot::Receiver<Stop>,
    /// The peer's BFD session went down: reset (the session keeps running).
    pub bfd_down: mpsc::UnboundedReceiver<()>,
    /// Where reports go.
    pub reports: mpsc::UnboundedSender<ReportMsg>,
    /// The report to continue from (counters of the peer's earlier session).
    pub report: SessionReport,
    /// Wait this long before connecting (a replaced session: the router first tears down
    /// the old one; FRR loses a dynamic neighbour that reconnects while it deletes the old
    /// peer of the same address).
    pub delay: Duration,
    /// This speaker process restarted: the OPENs carry the graceful-restart R bit until the
    /// session is first Established.
    pub restarting: bool,
}

/// What woke the task.
enum Wake {
    Stop(Stop),
    RoutesClosed,
    DrainDone,
    BfdDown,
    Connected(std::io::Result<TcpStream>),
    Read(std::io::Result<usize>),
    Tick,
    Routes,
}

/// The task's connection state.
#[derive(Default)]
struct Io {
    conn: Option<TcpStream>,
    connecting: Option<Connecting>,
}

async fn read_opt(conn: &mut Option<TcpStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match conn {
        Some(c) => c.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn connect_opt(c: &mut Option<Connecting>) -> std::io::Result<TcpStream> {
    match c {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The stop request, once (pending after it was received).
async fn stop_opt(rx: &mut oneshot::Receiver<Stop>, seen: bool) -> Stop {
    if seen {
        std::future::pending().await
    } else {
        rx.await.unwrap_or(Stop::Cease)
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

struct Runner {
    t: SessionTask,
    fsm: Session,
    epoch: Instant,
    local: LocalAddresses,
    io: Io,
    sent_report: Option<SessionReport>,
    desired_len: u64,
    /// A stop was received (the oneshot is spent).
    stop_seen: bool,
    /// The manager dropped the routes channel (a stop unless one is already in progress).
    routes_closed: bool,
    /// Draining: the table is empty and the session ends with a Cease at this time.
    drain_until: Option<Instant>,
}

impl SessionTask {
    /// Runs the session until stopped; returns how it ended.
    pub async fn run(self) -> StopMode {
        let mut fsm = Session::new(self.identity.config.clone());
        fsm.set_restarting(self.restarting);
        let local = transport::local_addresses(&self.identity.transport);
        let mut r = Runner {
            t: self,
            fsm,
            epoch: Instant::now(),
            local,
            io: Io::default(),
            sent_report: None,
            desired_len: 0,
            stop_seen: false,
            routes_closed: false,
            drain_until: None,
        };
        r.run().await
    }
}

impl Runner {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    async fn run(&mut self) -> StopMode {
        if !self.t.delay.is_zero() {
            self.report();
            tokio::select! {
                _ = &mut self.t.stop => return StopMode::Cease,
                () = tokio::time::sleep(self.t.delay) => {}
            }
        }
        let first = self.push_routes(self.now());
        let start = self.fsm.handle(self.now(), Event::ManualStart);
        self.apply(first.into_iter().chain(start).collect()).await;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            self.report();
            let deadline = self.fsm.next_deadline().map(|d| self.epoch + d);
            let wake = tokio::select! {
                s = stop_opt(&mut self.t.stop, self.stop_seen) => Wake::Stop(s),
                () = sleep_opt(self.drain_until) => Wake::DrainDone,
                Some(()) = self.t.bfd_down.recv() => Wake::BfdDown,
                r = connect_opt(&mut self.io.connecting) => Wake::Connected(r),
                r = read_opt(&mut self.io.conn, &mut buf) => Wake::Read(r),
                () = sleep_opt(deadline) => Wake::Tick,
                r = self.t.routes.changed(), if !self.routes_closed => match r {
                    Ok(()) => Wake::Routes,
                    Err(_) => Wake::RoutesClosed,
                },
            };
            let now = self.now();
            let actions = match wake {
                Wake::Stop(stop) => {
                    self.stop_seen = true;
                    match self.on_stop(now, stop).await {
                        Some(mode) => return mode,
                        None => self.push_routes(now), // draining: withdraw everything
                    }
                }
                Wake::RoutesClosed if self.stop_seen => {
                    self.routes_closed = true;
                    Vec::new()
                }
                Wake::RoutesClosed => {
                    self.routes_closed = true;
                    self.stop_seen = true;
                    self.end(now, Event::ManualStop).await;
                    return StopMode::Cease;
                }
                Wake::DrainDone => {
                    self.end(now, Event::ManualStop).await;
                    return StopMode::Drain;
                }
                Wake::BfdDown => {
                    self.bfd_down(now).await;
                    Vec::new()
                }
                Wake::Connected(Ok(stream)) => {
                    self.io.connecting = None;
                    if let Ok(a) = stream.local_addr()
                        && self.local.address != Some(a.ip())
                    {
                        self.local = transport::with_interface(Some(a.ip()));
                    }
                    self.io.conn = Some(stream);
                    let mut a = self.push_routes(now);
                    a.extend(self.fsm.handle(now, Event::TcpConnected));
                    a
                }
                Wake::Connected(Err(e)) => {
                    self.io.connecting = None;
                    self.t.report.last_error = Some(format!("connect: {e}"));
                    self.fsm.handle(now, Event::TcpFailed)
                }
                Wake::Read(Ok(0)) => {
                    self.t.report.last_error = Some("connection closed by the peer".into());
                    self.fsm.handle(now, Event::TcpFailed)
                }
                Wake::Read(Ok(n)) => self.fsm.receive(now, &buf[..n]),
                Wake::Read(Err(e)) => {
                    self.t.report.last_error = Some(format!("read: {e}"));
                    self.fsm.handle(now, Event::TcpFailed)
                }
                Wake::Tick => self.fsm.tick(now),
                Wake::Routes => self.push_routes(now),
            };
            self.apply(actions).await;
            if self.drain_until.is_some() && self.fsm.state() != State::Established {
                // The session dropped while draining: nothing is advertised any more.
                self.end(self.now(), Event::ManualStop).await;
                return StopMode::Drain;
            }
        }
    }

    /// Handles a stop request: ends the session (returning how) or starts the drain.
    async fn on_stop(&mut self, now: Duration, stop: Stop) -> Option<StopMode> {
        let (mode, delay) = match stop {
            Stop::Cease => (StopMode::Cease, Duration::ZERO),
            Stop::Shutdown {
                draining,
                drain_delay,
            } => (self.fsm.stop_mode(draining), drain_delay),
        };
        tracing::info!(peer = %self.t.name, address = %self.t.report.address, ?mode, "stopping BGP session");
        match mode {
            StopMode::Drain => {
                self.drain_until = Some(Instant::now() + delay);
                None
            }
            StopMode::KeepForRestart => {
                self.end(now, Event::StopForRestart).await;
                Some(mode)
            }
            StopMode::Cease => {
                self.end(now, Event::ManualStop).await;
                Some(mode)
            }
        }
    }

    /// Hands the FSM a stop event, carries it out, closes and reports.
    async fn end(&mut self, now: Duration, event: Event) {
        let a = self.fsm.handle(now, event);
        self.apply(a).await;
        self.close().await;
        self.report();
    }

    /// BFD declared the path down: best-effort Cease / BFD Down (the path is likely gone, so
    /// the write is bounded), then the FSM's connection-failure handling (Idle, reconnect
    /// after its back-off).
    async fn bfd_down(&mut self, now: Duration) {
        if self.fsm.state() >= State::OpenSent {
            let n = Notification::new(code::CEASE, BFD_DOWN_SUBCODE);
            let msg = Message::Notification(n);
            let _ = tokio::time::timeout(Duration::from_millis(100), self.send(&msg)).await;
        }
        let a = self.fsm.handle(now, Event::TcpFailed);
        self.apply(a).await;
        self.close().await;
        self.t.report.last_error = Some("BFD session down".into());
    }

    /// Hands the FSM the desired table (UPDATEs for the difference once Established).
    fn push_routes(&mut self, now: Duration) -> Vec<Action> {
        let table = self.table();
        self.desired_len = table.len() as u64;
        self.fsm.set_routes(now, table)
    }

    /// The desired table for the current routes and local addresses, restricted to the
    /// session's families (negotiated once known, else configured: an IPv4 session without
    /// `dualStackAddressFamily` carries no IPv6 prefix, and such a prefix is not pending on it).
    fn table(&self) -> RouteTable {
        if self.drain_until.is_some() {
            return RouteTable::new();
        }
        let routes = self.t.routes.borrow().clone();
        let n = self.fsm.negotiated();
        let families: Vec<Family> = n.map_or_else(
            || self.t.identity.config.families.clone(),
            |n| n.families.iter().copied().collect(),
        );
        let view = SessionView {
            ibgp: n.map_or(routes.ibgp, |n| n.ibgp),
            local: &self.local,
            ipv4_over_ipv6_next_hop: n.map_or(self.t.identity.config.extended_next_hop, |n| {
                n.ipv4_over_ipv6_next_hop
            }),
        };
        let mut table = peer_table(&routes.routes, &view);
        table.retain(|p, _| families.contains(&Family::of(p)));
        table
    }

    async fn close(&mut self) {
        self.io.connecting = None;
        if let Some(mut c) = self.io.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.shutdown()).await;
        }
    }

    /// Carries out the FSM's actions (and those of the events they cause) in order.
    /// A run of UPDATEs is one `bgp.update_batch` trace span ([`super::trace`]).
    async fn apply(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        let mut batch: Option<tracing::Span> = None;
        while let Some(a) = queue.pop_front() {
            let now = self.now();
            if !matches!(&a, Action::Send(Message::Update(_))) {
                batch = None;
            }
            match a {
                Action::Connect => {
                    self.close().await;
                    self.io.connecting = Some(transport::connect(&self.t.identity.transport));
                }
                Action::Send(msg) => {
                    let span = match (&msg, batch.clone()) {
                        (Message::Update(_), Some(span)) => span,
                        (Message::Update(first), None) => {
                            let rest = queue.iter().map_while(|a| match a {
                                Action::Send(Message::Update(u)) => Some(&**u),
                                _ => None,
                            });
                            let all = std::iter::once(&**first).chain(rest);
                            let span = trace::update_batch(&self.t.name, all);
                            batch = Some(span.clone());
                            span
                        }
                        _ => tracing::Span::none(),
                    };
                    if let Err(e) = self.send(&msg).instrument(span).await {
                        self.t.report.last_error = Some(e);
                        self.io.conn = None;
                        queue.extend(self.fsm.handle(now, Event::TcpFailed));
                    }
                }
                Action::Close | Action::RejectConnection => self.close().await,
                Action::StateChanged { from, to } => {
                    trace::session_state(&self.t.name, &self.t.report.address, from, to).in_scope(
                        || {
                            tracing::debug!(peer = %self.t.name, state = ?to, "BGP session state");
                        },
                    );
                    self.t.report.state = to;
                    if to != State::Established {
                        self.t.report.established_since = None;
                    }
                }
                Action::Established(n) => {
                    self.t.report.established_since = Some(SystemTime::now());
                    tracing::info!(peer = %self.t.name, address = %self.t.report.address,
                        peer_asn = n.peer_asn, hold = n.hold_time, families = ?n.families,
                        "BGP session established");
                    // The table may depend on what was negotiated (iBGP, RFC 8950).
                    queue.extend(self.push_routes(now));
                }
                Action::Down(reason) => {
                    let why = down_reason(&reason);
                    tracing::warn!(peer = %self.t.name, address = %self.t.report.address, reason = %why, "BGP session down");
                    self.t.report.last_error = Some(why);
                }
                Action::Rejected(prefixes) => {
                    tracing::warn!(peer = %self.t.name, ?prefixes,
                        "prefixes not advertised: no next hop of their family on this session, or attributes too large");
                }
            }
        }
    }

    async fn send(&mut self, msg: &Message) -> Result<(), String> {
        let bytes = msg
            .encode(&self.fsm.ctx())
            .map_err(|e| format!("encode: {e}"))?;
        let Some(conn) = self.io.conn.as_mut() else {
            return Ok(()); // nothing to write to: the FSM learns of the loss on its own
        };
        match tokio::time::timeout(WRITE_TIMEOUT, conn.write_all(&bytes)).await {
            Ok(Ok(())) => {
                if matches!(msg, Message::Update(_)) {
                    self.t.report.updates_sent += 1;
                    tracing::debug!(peer = %self.t.name, update_bytes = bytes.len(), "UPDATE sent");
                }
                Ok(())
            }
            Ok(Err(e)) => Err(format!("write: {e}")),
            Err(_) => Err("write: timed out".into()),
        }
    }

    /// Sends the report to the manager if it changed.
    fn report(&mut self) {
        let sent = self.fsm.adj_rib_out().map_or(0, |r| r.sent().len() as u64);
        self.t.report.prefixes_sent = sent;
        self.t.report.pending_prefixes = self.desired_len.saturating_sub(sent);
        if self.sent_report.as_ref() != Some(&self.t.report) {
            self.sent_report = Some(self.t.report.clone());
            let _ = self.t.reports.send((
                self.t.name.clone(),
                self.t.generation,
                self.t.report.clone(),
            ));
        }
    }
}

/// A session's last error, as reported.
pub fn down_reason(r: &DownReason) -> String {
    match r {
        DownReason::NotificationSent(n) => format!(
            "NOTIFICATION sent: code {} subcode {} ({})",
            n.code,
            n.subcode,
            error_name(n.code, n.subcode)
        ),
        DownReason::NotificationReceived(n) => format!(
            "NOTIFICATION received: code {} subcode {} ({})",
            n.code,
            n.subcode,
            error_name(n.code, n.subcode)
        ),
        DownReason::ConnectionLost => "connection lost".into(),
        DownReason::ClosedForRestart => "closed without NOTIFICATION for a graceful restart".into(),
    }
}

/// RFC 4271 §4.5 name of a NOTIFICATION's error (code, and subcode where it says more), so a
/// BGPSessionState's `lastError` and the log read "hold timer expired", not just "code 4".
pub fn error_name(code: u8, subcode: u8) -> &'static str {
    match (code, subcode) {
        (1, 1) => "message header error: connection not synchronized",
        (1, 2) => "message header error: bad message length",
        (1, 3) => "message header error: bad message type",
        (1, _) => "message header error",
        (2, 1) => "OPEN message error: unsupported version number",
        (2, 2) => "OPEN message error: bad peer AS",
        (2, 3) => "OPEN message error: bad BGP identifier",
        (2, 6) => "OPEN message error: unacceptable hold time",
        (2, _) => "OPEN message error",
        (3, 1) => "UPDATE message error: malformed attribute list",
        (3, _) => "UPDATE message error",
        (4, _) => "hold timer expired",
        (5, _) => "finite state machine error",
        (6, _) => "cease",
        (7, _) => "ROUTE-REFRESH message error",
        _ => "unknown error code",
    }
}

#[cfg(test)]
mod tests;
