//! One BFD session in asynchronous mode (RFC 5880 §6), sans-IO.
//!
//! A [`Session`] is fed received packets ([`Session::receive`], already decoded and
//! demultiplexed) and the time ([`Session::tick`] at [`Session::next_deadline`]); it returns
//! [`Action`]s: control packets to send (the caller encodes them with
//! [`ControlPacket::encode`]) and state changes with their diagnostic. Time is a `Duration`
//! since any fixed epoch, owned by the caller; the transmit jitter comes from a generator
//! seeded by the caller.
//!
//! What it implements:
//! - the §6.2 state machine (Down → Init → Up three-way handshake, AdminDown, a peer's
//!   Down/AdminDown taking an Up session down with diag 3) and the §6.8.6 reception rules;
//! - timer negotiation (§6.8.2/§6.8.7): transmit interval max(Desired Min TX, the peer's
//!   Required Min RX), none while the peer's Required Min RX is 0; Desired Min TX at least
//!   1 s while not Up (§6.8.3);
//! - the poll sequence (§6.5, §6.8.3) whenever the advertised intervals change while Up
//!   (going Up, or a profile change via [`Session::set_config`]); an increased transmit
//!   interval and a decreased receive interval take effect only when the Final arrives;
//!   a received Poll is answered at once with a Final;
//! - detection time (§6.8.4): the peer's Detect Mult × max(our Required Min RX, the peer's
//!   Desired Min TX); expiry in Init/Up → Down with diag 1 (Control Detection Time Expired),
//!   and the peer's discriminator forgotten;
//! - jitter (§6.8.7): each interval is 75–100 % of the transmit interval, 75–90 % when our
//!   Detect Mult is 1;
//! - passive role (§6.1): nothing is sent while the peer's discriminator is unknown.

#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::packet::{ControlPacket, Diag, State};

/// Desired Min TX Interval while the session is not Up (§6.8.3: not less than one second).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What the caller configures (from a BFDProfile: [`crate::Params::session_config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionConfig {
    /// Desired Min TX Interval once Up.
    pub desired_min_tx: Duration,
    /// Required Min RX Interval.
    pub required_min_rx: Duration,
    /// Detect Mult (≥ 1).
    pub detect_mult: u8,
    /// Passive role.
    pub passive: bool,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this control packet to the peer.
    Send(ControlPacket),
    /// The session state changed.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// The local diagnostic (why it went down; [`Diag::None`] when coming up).
        diag: Diag,
    },
}

/// What the peer told us last.
#[derive(Debug, Clone, Copy)]
struct Remote {
    discr: u32,
    state: State,
    min_rx: Duration,
    desired_tx: Duration,
    detect_mult: u8,
    demand: bool,
}

/// One BFD session.
#[derive(Debug, Clone)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    diag: Diag,
    local_discr: u32,
    remote: Remote,
    /// Desired Min TX in force for our transmit interval (lags an increase during a poll).
    tx_in_force: Duration,
    /// Required Min RX in force for the detection time (lags a decrease during a poll).
    rx_in_force: Duration,
    polling: bool,
    next_tx: Option<Duration>,
    detect_at: Option<Duration>,
    rng: u64,
}

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn from_us(v: u32) -> Duration {
    Duration::from_micros(u64::from(v))
}

impl Session {
    /// A session in Down; `local_discr` is nonzero and unique ([`crate::Demux::insert`]),
    /// `seed` seeds the jitter generator. An active session sends its first packet at `now`.
    pub fn new(cfg: SessionConfig, local_discr: u32, seed: u64, now: Duration) -> Self {
        let mut s = Session {
            cfg,
            state: State::Down,
            diag: Diag::None,
            local_discr,
            remote: Remote {
                discr: 0,
                state: State::Down,
                min_rx: Duration::from_micros(1),
                desired_tx: Duration::ZERO,
                detect_mult: 0,
                demand: false,
            },
            tx_in_force: Duration::ZERO,
            rx_in_force: Duration::ZERO,
            polling: false,
            next_tx: None,
            detect_at: None,
            // xorshift must not start at 0.
            rng: seed | 1,
        };
        s.tx_in_force = s.advertised_tx();
        s.rx_in_force = s.advertised_rx();
        if s.may_transmit() {
            s.next_tx = Some(now);
        }
        s
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The local diagnostic.
    pub fn diag(&self) -> Diag {
        self.diag
    }

    /// Our discriminator.
    pub fn local_discr(&self) -> u32 {
        self.local_discr
    }

    /// The peer's discriminator (0 = unknown).
    pub fn remote_discr(&self) -> u32 {
        self.remote.discr
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The peer's last reported state (Down before any packet).
    pub fn remote_state(&self) -> State {
        self.remote.state
    }

    /// A poll sequence is in progress.
    pub fn polling(&self) -> bool {
        self.polling
    }

    /// The peer's last Demand (D) bit (recorded only: demand mode is not honoured).
    pub fn remote_demand(&self) -> bool {
        self.remote.demand
    }

    /// The negotiated transmit interval (before jitter); `None` while the peer's Required
    /// Min RX is 0 (it wants no packets).
    pub fn tx_interval(&self) -> Option<Duration> {
        (!self.remote.min_rx.is_zero()).then(|| self.tx_in_force.max(self.remote.min_rx))
    }

    /// The detection time (§6.8.4); `None` before the first packet.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote.detect_mult != 0).then(|| {
            self.rx_in_force.max(self.remote.desired_tx) * u32::from(self.remote.detect_mult)
        })
    }

    /// When [`Session::tick`] must be called next.
    pub fn next_deadline(&self) -> Option<Duration> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn advertised_tx(&self) -> Duration {
        if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW_TX)
        }
    }

    fn advertised_rx(&self) -> Duration {
        self.cfg.required_min_rx
    }

    fn may_transmit(&self) -> bool {
        let waiting = self.cfg.passive && self.remote.discr == 0;
        !waiting && !self.remote.min_rx.is_zero()
    }

    fn packet(&self, poll: bool, final_: bool) -> ControlPacket {
        ControlPacket {
            diag: self.diag,
            state: self.state,
            poll,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discr: self.local_discr,
            your_discr: self.remote.discr,
            desired_min_tx_us: us(self.advertised_tx()),
            required_min_rx_us: us(self.advertised_rx()),
            // No echo function (crate docs): the peer must not send us echo packets.
            required_min_echo_rx_us: 0,
        }
    }

    /// 75–100 % of `interval` (75–90 % with Detect Mult 1), §6.8.7.
    fn jittered(&mut self, interval: Duration) -> Duration {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = if self.cfg.detect_mult == 1 { 151 } else { 251 };
        let permille = 750 + u32::try_from(self.rng % span).unwrap_or(0);
        interval * permille / 1000
    }

    fn set_state(&mut self, to: State, diag: Diag, now: Duration, out: &mut Vec<Action>) {
        let from = self.state;
        if from == to {
            return;
        }
        let old = (self.advertised_tx(), self.advertised_rx());
        self.state = to;
        self.diag = diag;
        out.push(Action::StateChanged { from, to, diag });
        if to != State::Up {
            self.polling = false;
        }
        self.retune(old, now);
        // Tell the peer at once rather than at the next periodic packet.
        if self.may_transmit() {
            self.next_tx = Some(now);
        }
    }

    /// After the advertised intervals may have changed: poll if Up (§6.8.3), else apply.
    fn retune(&mut self, (old_tx, old_rx): (Duration, Duration), now: Duration) {
        let (tx, rx) = (self.advertised_tx(), self.advertised_rx());
        if (tx, rx) == (old_tx, old_rx) {
            return;
        }
        if self.state == State::Up {
            self.polling = true;
            self.tx_in_force = self.tx_in_force.min(tx);
            self.rx_in_force = self.rx_in_force.max(rx);
            if self.may_transmit() {
                self.next_tx = Some(now);
            }
        } else {
            self.tx_in_force = tx;
            self.rx_in_force = rx;
        }
        self.reschedule(now);
    }

    /// Keeps the transmit deadline consistent with the current interval: none if we may not
    /// transmit, and never later than one (new, shorter) interval from now.
    fn reschedule(&mut self, now: Duration) {
        match (self.may_transmit(), self.tx_interval()) {
            (true, Some(i)) => {
                let at = now + i;
                self.next_tx = Some(self.next_tx.map_or(now, |t| t.min(at)));
            }
            _ => self.next_tx = None,
        }
    }

    /// Changes the configuration (a BFDProfile edit): a poll sequence if Up, no reset.
    pub fn set_config(&mut self, cfg: SessionConfig, now: Duration) -> Vec<Action> {
        let old = (self.advertised_tx(), self.advertised_rx());
        self.cfg = cfg;
        self.retune(old, now);
        self.reschedule(now);
        self.tick(now)
    }

    /// Takes the session administratively down (diag 7), e.g. before the speaker exits or
    /// when its BGP session is deconfigured; the peer sees AdminDown, not a failure.
    pub fn admin_down(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        self.set_state(State::AdminDown, Diag::AdminDown, now, &mut out);
        out.extend(self.tick(now));
        out
    }

    /// Leaves AdminDown (to Down, diag cleared).
    pub fn enable(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::AdminDown {
            self.set_state(State::Down, Diag::None, now, &mut out);
        }
        out.extend(self.tick(now));
        out
    }

    /// Handles a received packet (§6.8.6, after [`ControlPacket::decode`]); a packet whose
    /// Your Discriminator is not ours is discarded.
    pub fn receive(&mut self, p: &ControlPacket, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if p.your_discr != 0 && p.your_discr != self.local_discr {
            return out;
        }
        self.remote = Remote {
            discr: p.my_discr,
            state: p.state,
            min_rx: from_us(p.required_min_rx_us),
            desired_tx: from_us(p.desired_min_tx_us),
            detect_mult: p.detect_mult,
            demand: p.demand,
        };
        if p.final_ && self.polling {
            self.polling = false;
            self.tx_in_force = self.advertised_tx();
            self.rx_in_force = self.advertised_rx();
        }
        self.detect_at = self.detection_time().map(|d| now + d);
        self.reschedule(now);
        if self.state == State::AdminDown {
            return out;
        }
        match (self.state, p.state) {
            (State::Init | State::Up, State::AdminDown) => {
                self.set_state(State::Down, Diag::NeighborDown, now, &mut out);
            }
            (State::Down, State::Down) => self.set_state(State::Init, Diag::None, now, &mut out),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.set_state(State::Up, Diag::None, now, &mut out);
            }
            (State::Up, State::Down) => {
                self.set_state(State::Down, Diag::NeighborDown, now, &mut out);
            }
            _ => {}
        }
        if p.poll {
            // §6.5: answer a Poll with a Final at once (never both bits in one packet).
            out.push(Action::Send(self.packet(false, true)));
        }
        out.extend(self.tick(now));
        out
    }

    /// Handles the time: detection time expiry and periodic transmission.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if self.detect_at.is_some_and(|t| t <= now) {
            self.detect_at = None;
            self.remote.discr = 0;
            self.remote.detect_mult = 0;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(State::Down, Diag::DetectionTimeExpired, now, &mut out);
            }
            self.reschedule(now);
        }
        if self.next_tx.is_some_and(|t| t <= now) {
            match (self.may_transmit(), self.tx_interval()) {
                (true, Some(i)) => {
                    out.push(Action::Send(self.packet(self.polling, false)));
                    let gap = self.jittered(i);
                    self.next_tx = Some(now + gap);
                }
                _ => self.next_tx = None,
            }
        }
        out
    }
}
