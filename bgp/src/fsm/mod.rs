//! The BGP session FSM (RFC 4271 §8), sans-IO.
//!
//! A [`Session`] is fed events ([`Event`]: manual start/stop, TCP up/down), received bytes
//! ([`Session::receive`], which frames and decodes them) and the time ([`Session::tick`]);
//! it returns [`Action`]s (connect, send, close, state changes, Established with the
//! [`Negotiated`] parameters). The caller owns the clock: every call takes `now` (a
//! `Duration` since any fixed epoch) and [`Session::next_deadline`] says when to tick next.
//!
//! Differences from MetalLB's native speaker (`metallb-bgp.md`): the hold timer is enforced
//! on receive (#777), hold time 0 disables keepalives and the hold timer, the connect retry
//! backs off exponentially from 1 s up to `connectTime` (a refused connect is retried after
//! 1 s: a restarting router is back in session within a second of listening), and the
//! Adj-RIB-Out sends packed
//! UPDATEs, End-of-RIB after the initial table, and answers ROUTE-REFRESH. After an error the
//! session goes to Idle and restarts itself after the backoff (until ManualStop).
//! Connection collision detection (§6.8) is not implemented: one connection per session.
//!
//! Graceful restart (RFC 4724), as the restarting speaker: the capability is sent when
//! `enableGracefulRestart` is set ([`SessionConfig::open_with`]), with the Restart State (R)
//! bit on the OPENs of a session created with [`Session::set_restarting`] until it first
//! reaches Established; [`Event::StopForRestart`] closes an Established session whose peer
//! negotiated graceful restart without a NOTIFICATION (§4.1), so the peer keeps our routes as
//! stale; the End-of-RIB after the initial table tells it the refresh is complete. Which stop
//! a session gets is decided by [`stop_mode`].

mod config;
mod stop;
#[cfg(test)]
mod tests;

pub use config::{
    DEFAULT_CONNECT_TIME, DEFAULT_HOLD_TIME, GR_RESTART_TIME, Negotiated, PeerAsn, SessionConfig,
    negotiate,
};
pub use stop::{StopMode, stop_mode};

use std::time::Duration;

use ipnet::IpNet;

use crate::error::{ErrorAction, cease, code, fsm_subcode};
use crate::message::{self, CodecCtx, Message, Notification, Open};
use crate::pack::{AdjRibOut, Packer, RouteTable};
use crate::types::Family;

/// Hold time while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
/// First connect retry delay; doubles up to `connectTime`.
pub const INITIAL_RETRY: Duration = Duration::from_secs(1);

/// FSM states (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Not trying.
    Idle,
    /// Connecting actively.
    Connect,
    /// Waiting for the retry timer (or an incoming connection).
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for KEEPALIVE.
    OpenConfirm,
    /// Up.
    Established,
}

/// Inputs other than bytes and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Event 1: start the session.
    ManualStart,
    /// Event 2: stop the session (Cease / Administrative Shutdown if open).
    ManualStop,
    /// Stop because this speaker process is restarting: an Established session with graceful
    /// restart negotiated is closed without a NOTIFICATION (RFC 4724 §4.1) so the peer keeps
    /// the routes as stale; any other session stops as [`Event::ManualStop`].
    StopForRestart,
    /// Events 16/17: the TCP connection is up (our connect succeeded or we accepted one).
    TcpConnected,
    /// Event 18: the connection attempt failed or the connection closed.
    TcpFailed,
}

/// Why a session left OpenSent/OpenConfirm/Established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION (hold timer expiry is code 4).
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed.
    ConnectionLost,
    /// We closed the connection without a NOTIFICATION for a graceful restart (RFC 4724 §4.1).
    ClosedForRestart,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer (closing any attempt in progress).
    Connect,
    /// Encode (with [`Session::ctx`]) and send this message.
    Send(Message),
    /// Close the TCP connection (or abort the attempt).
    Close,
    /// Close the connection just reported by [`Event::TcpConnected`]: the session already
    /// has one (collision detection, §6.8, is not implemented).
    RejectConnection,
    /// The state changed.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// The session is Established with these parameters.
    Established(Negotiated),
    /// The session went down.
    Down(DownReason),
    /// These desired prefixes cannot be sent (next hop of the other family, or attributes
    /// too large for one message).
    Rejected(Vec<IpNet>),
}

#[derive(Debug, Clone, Default)]
struct Timers {
    connect_retry: Option<Duration>,
    hold: Option<Duration>,
    keepalive: Option<Duration>,
    restart: Option<Duration>,
}

/// One BGP session with one peer.
#[derive(Debug, Clone)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    timers: Timers,
    retry: Duration,
    auto_restart: bool,
    buf: Vec<u8>,
    negotiated: Option<Negotiated>,
    desired: RouteTable,
    rib: Option<AdjRibOut>,
    restarting: bool,
}

impl Session {
    /// A session in Idle.
    pub fn new(cfg: SessionConfig) -> Self {
        Session {
            cfg,
            state: State::Idle,
            timers: Timers::default(),
            retry: INITIAL_RETRY,
            auto_restart: false,
            buf: Vec::new(),
            negotiated: None,
            desired: RouteTable::new(),
            rib: None,
            restarting: false,
        }
    }

    /// Marks this session as one of a restarted speaker process: its OPENs carry the
    /// graceful-restart Restart State (R) bit until the session first reaches Established.
    pub fn set_restarting(&mut self, restarting: bool) {
        self.restarting = restarting;
    }

    /// Whether the next OPEN carries the R bit.
    pub fn restarting(&self) -> bool {
        self.restarting
    }

    /// How this session ends if the speaker stops now ([`stop_mode`]).
    pub fn stop_mode(&self, draining: bool) -> StopMode {
        let gr = self
            .negotiated
            .as_ref()
            .is_some_and(|n| n.graceful_restart_negotiated);
        stop_mode(draining, self.state == State::Established, gr)
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The negotiated parameters while OpenConfirm/Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The wire format to encode [`Action::Send`] messages with.
    pub fn ctx(&self) -> CodecCtx {
        self.negotiated.as_ref().map(|n| n.ctx).unwrap_or_default()
    }

    /// What the peer currently has from us (empty unless Established).
    pub fn adj_rib_out(&self) -> Option<&AdjRibOut> {
        self.rib.as_ref()
    }

    /// The earliest timer deadline, if any: call [`Session::tick`] then.
    pub fn next_deadline(&self) -> Option<Duration> {
        let t = &self.timers;
        [t.connect_retry, t.hold, t.keepalive, t.restart]
            .into_iter()
            .flatten()
            .min()
    }

    fn set_state(&mut self, to: State, out: &mut Vec<Action>) {
        if self.state != to {
            out.push(Action::StateChanged {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    /// Handle a manual or TCP event.
    pub fn handle(&mut self, now: Duration, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match (event, self.state) {
            (Event::ManualStart, State::Idle) => {
                self.auto_restart = true;
                self.retry = INITIAL_RETRY;
                self.connect(now, &mut out);
            }
            (Event::ManualStart, _) => {}
            (Event::StopForRestart, State::Established)
                if self.stop_mode(false) == StopMode::KeepForRestart =>
            {
                self.auto_restart = false;
                out.push(Action::Close);
                self.reset(State::Idle, &mut out);
                out.push(Action::Down(DownReason::ClosedForRestart));
                self.timers = Timers::default();
            }
            (Event::ManualStop | Event::StopForRestart, state) => {
                self.auto_restart = false;
                if state >= State::OpenSent {
                    let n = Notification::new(code::CEASE, cease::ADMIN_SHUTDOWN);
                    self.down(now, DownReason::NotificationSent(n), &mut out);
                } else if state != State::Idle {
                    out.push(Action::Close);
                    self.reset(State::Idle, &mut out);
                }
                self.timers = Timers::default();
            }
            (Event::TcpConnected, State::Connect | State::Active) => {
                self.timers.connect_retry = None;
                self.buf.clear();
                let open = self.cfg.open_with(self.restarting);
                out.push(Action::Send(Message::Open(open)));
                self.timers.hold = Some(now + OPEN_HOLD_TIME);
                self.set_state(State::OpenSent, &mut out);
            }
            (Event::TcpConnected, _) => out.push(Action::RejectConnection),
            (Event::TcpFailed, State::Connect) => {
                // The connect failed at once (refused: the peer's host is up and nothing listens
                // yet, as while a router restarts): retry after INITIAL_RETRY without backing
                // off, so the session is back within a second of the peer listening. Connect
                // timeouts ([`Session::tick`]) and failures after the connection back off.
                out.push(Action::Close);
                self.timers.hold = None;
                self.timers.connect_retry = Some(now + INITIAL_RETRY);
                self.set_state(State::Active, &mut out);
            }
            (Event::TcpFailed, State::OpenSent) => {
                out.push(Action::Close);
                self.timers.hold = None;
                self.timers.connect_retry = Some(now + self.backoff());
                self.set_state(State::Active, &mut out);
            }
            (Event::TcpFailed, State::OpenConfirm | State::Established) => {
                self.down(now, DownReason::ConnectionLost, &mut out);
            }
            (Event::TcpFailed, State::Idle | State::Active) => {}
        }
        out
    }

    /// After a failure: the current retry delay, doubling it (capped at `connectTime`) for
    /// next time. A connect attempt itself times out after the current delay.
    fn backoff(&mut self) -> Duration {
        let d = self.retry;
        self.retry = (self.retry * 2).min(self.cfg.connect_time.max(INITIAL_RETRY));
        d
    }

    fn connect(&mut self, now: Duration, out: &mut Vec<Action>) {
        self.timers.restart = None;
        out.push(Action::Connect);
        self.timers.connect_retry = Some(now + self.retry);
        self.set_state(State::Connect, out);
    }

    /// Clear the per-connection state and move to `to`.
    fn reset(&mut self, to: State, out: &mut Vec<Action>) {
        self.buf.clear();
        self.negotiated = None;
        self.rib = None;
        self.timers.hold = None;
        self.timers.keepalive = None;
        self.set_state(to, out);
    }

    /// Leave the session: NOTIFICATION (if ours), close, Idle, and schedule the restart.
    fn down(&mut self, now: Duration, reason: DownReason, out: &mut Vec<Action>) {
        if let DownReason::NotificationSent(n) = &reason {
            out.push(Action::Send(Message::Notification(n.clone())));
        }
        out.push(Action::Close);
        self.reset(State::Idle, out);
        out.push(Action::Down(reason));
        self.timers.connect_retry = None;
        self.timers.restart = self.auto_restart.then(|| now + self.backoff());
    }

    /// Process expired timers.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let due = |t: Option<Duration>| t.is_some_and(|d| d <= now);
        if due(self.timers.hold) {
            let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0);
            self.down(now, DownReason::NotificationSent(n), &mut out);
            return out;
        }
        if due(self.timers.keepalive) {
            out.push(Action::Send(Message::Keepalive));
            self.restart_keepalive(now);
        }
        if due(self.timers.connect_retry) {
            if self.state == State::Connect {
                // The attempt timed out: a failure like TcpFailed.
                out.push(Action::Close);
                self.backoff();
            }
            self.connect(now, &mut out);
        }
        if due(self.timers.restart) {
            self.connect(now, &mut out);
        }
        out
    }

    fn restart_keepalive(&mut self, now: Duration) {
        let ka = self.negotiated.as_ref().map_or(0, |n| n.keepalive);
        self.timers.keepalive = (ka > 0).then(|| now + Duration::from_secs(u64::from(ka)));
    }

    fn restart_hold(&mut self, now: Duration) {
        let hold = self.negotiated.as_ref().map_or(0, |n| n.hold_time);
        self.timers.hold = (hold > 0).then(|| now + Duration::from_secs(u64::from(hold)));
    }

    /// Feed bytes read from the connection; complete messages are decoded and processed.
    pub fn receive(&mut self, now: Duration, bytes: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state < State::OpenSent {
            return out;
        }
        self.buf.extend_from_slice(bytes);
        while self.state >= State::OpenSent {
            match message::decode(&self.buf, &self.ctx()) {
                Ok(None) => break,
                Ok(Some((msg, used))) => {
                    self.buf.drain(..used);
                    self.on_message(now, msg, &mut out);
                }
                Err(e)
                    if e.action() == ErrorAction::TreatAsWithdraw
                        && self.state == State::Established =>
                {
                    // The header was valid, so its length frames the message; inbound
                    // routes are ignored anyway, so treat-as-withdraw is a no-op here.
                    let len = usize::from(u16::from_be_bytes([self.buf[16], self.buf[17]]));
                    self.buf.drain(..len);
                    self.restart_hold(now);
                }
                Err(e) if e.action() == ErrorAction::TreatAsWithdraw => {
                    self.unexpected(now, &mut out); // an UPDATE before Established
                }
                Err(e) => {
                    self.down(
                        now,
                        DownReason::NotificationSent(e.notification()),
                        &mut out,
                    );
                }
            }
        }
        out
    }

    fn on_message(&mut self, now: Duration, msg: Message, out: &mut Vec<Action>) {
        match (self.state, msg) {
            (_, Message::Notification(n)) => {
                self.down(now, DownReason::NotificationReceived(n), out)
            }
            (State::OpenSent, Message::Open(open)) => self.on_open(now, &open, out),
            (State::OpenConfirm, Message::Keepalive) => self.on_established(now, out),
            (State::Established, Message::Keepalive | Message::Update(_)) => self.restart_hold(now),
            (State::Established, Message::RouteRefresh(rr)) => {
                self.restart_hold(now);
                let fam = Family::from_afi_safi(rr.afi, rr.safi);
                let updates = match (fam, &self.rib) {
                    (Some(f), Some(rib)) => rib.refresh(f),
                    _ => Vec::new(),
                };
                self.send_updates(now, updates, out);
            }
            _ => self.unexpected(now, out),
        }
    }

    /// A message the state does not allow: FSM error with the RFC 6608 subcode.
    fn unexpected(&mut self, now: Duration, out: &mut Vec<Action>) {
        let sub = match self.state {
            State::OpenSent => fsm_subcode::OPEN_SENT,
            State::OpenConfirm => fsm_subcode::OPEN_CONFIRM,
            _ => fsm_subcode::ESTABLISHED,
        };
        let n = Notification::new(code::FSM, sub);
        self.down(now, DownReason::NotificationSent(n), out);
    }

    fn on_open(&mut self, now: Duration, open: &Open, out: &mut Vec<Action>) {
        match negotiate(&self.cfg, open) {
            Ok(n) => {
                self.negotiated = Some(n);
                out.push(Action::Send(Message::Keepalive));
                self.restart_keepalive(now);
                self.restart_hold(now);
                self.set_state(State::OpenConfirm, out);
            }
            Err(e) => self.down(now, DownReason::NotificationSent(e.notification()), out),
        }
    }

    fn on_established(&mut self, now: Duration, out: &mut Vec<Action>) {
        let Some(n) = self.negotiated.clone() else {
            return;
        };
        self.restart_hold(now);
        self.retry = INITIAL_RETRY;
        self.restarting = false;
        self.set_state(State::Established, out);
        let packer = Packer {
            ctx: n.ctx,
            local_asn: self.cfg.my_asn,
            ibgp: n.ibgp,
            ipv4_over_ipv6_next_hop: n.ipv4_over_ipv6_next_hop,
        };
        let mut rib = AdjRibOut::new(packer, n.families.iter().copied());
        out.push(Action::Established(n));
        let packed = rib.initial(&self.desired);
        self.rib = Some(rib);
        if !packed.rejected.is_empty() {
            out.push(Action::Rejected(packed.rejected));
        }
        self.send_updates(now, packed.updates, out);
    }

    fn send_updates(
        &mut self,
        now: Duration,
        updates: Vec<crate::message::Update>,
        out: &mut Vec<Action>,
    ) {
        if updates.is_empty() {
            return;
        }
        out.extend(
            updates
                .into_iter()
                .map(|u| Action::Send(Message::Update(Box::new(u)))),
        );
        self.restart_keepalive(now);
    }

    /// Set the desired table; when Established, returns the UPDATEs for the difference.
    pub fn set_routes(&mut self, now: Duration, desired: RouteTable) -> Vec<Action> {
        self.desired = desired;
        let mut out = Vec::new();
        let Some(rib) = &mut self.rib else {
            return out;
        };
        let packed = rib.update(&self.desired);
        if !packed.rejected.is_empty() {
            out.push(Action::Rejected(packed.rejected));
        }
        self.send_updates(now, packed.updates, &mut out);
        out
    }
}
