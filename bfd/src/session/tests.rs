//! The state machine against itself and against scripted peers: the handshake in both roles,
//! detection time expiry, poll sequences, passive role, jitter bounds.

use std::time::Duration;

use super::*;

const MS: Duration = Duration::from_millis(1);

fn cfg(ms: u64, mult: u8, passive: bool) -> SessionConfig {
    SessionConfig {
        desired_min_tx: MS * ms as u32,
        required_min_rx: MS * ms as u32,
        detect_mult: mult,
        passive,
    }
}

fn sent(actions: &[Action]) -> Vec<ControlPacket> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(*p),
            Action::StateChanged { .. } => None,
        })
        .collect()
}

fn changes(actions: &[Action]) -> Vec<(State, State, Diag)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StateChanged { from, to, diag } => Some((*from, *to, *diag)),
            Action::Send(_) => None,
        })
        .collect()
}

/// Two sessions with a lossless zero-delay link, stepped in 1 ms increments. Returns the
/// state changes of each side.
struct Pair {
    a: Session,
    b: Session,
    now: Duration,
    /// Drop everything (a blackhole) while set.
    cut: bool,
    a_changes: Vec<(State, State, Diag)>,
    b_changes: Vec<(State, State, Diag)>,
    a_sent: Vec<ControlPacket>,
}

impl Pair {
    fn new(a: SessionConfig, b: SessionConfig) -> Self {
        Pair {
            a: Session::new(a, 1, 11, Duration::ZERO),
            b: Session::new(b, 2, 22, Duration::ZERO),
            now: Duration::ZERO,
            cut: false,
            a_changes: Vec::new(),
            b_changes: Vec::new(),
            a_sent: Vec::new(),
        }
    }

    fn deliver(&mut self, from_a: Vec<ControlPacket>, from_b: Vec<ControlPacket>) {
        let (mut qa, mut qb) = (from_a, from_b);
        // Bounded ping-pong: replies (Final) to polls may come back immediately.
        for _ in 0..8 {
            if qa.is_empty() && qb.is_empty() {
                break;
            }
            let (mut na, mut nb) = (Vec::new(), Vec::new());
            for p in qa.drain(..) {
                self.a_sent.push(p);
                if !self.cut {
                    let acts = self.b.receive(&p, self.now);
                    self.b_changes.extend(changes(&acts));
                    nb.extend(sent(&acts));
                }
            }
            for p in qb.drain(..) {
                if !self.cut {
                    let acts = self.a.receive(&p, self.now);
                    self.a_changes.extend(changes(&acts));
                    na.extend(sent(&acts));
                }
            }
            qa = na;
            qb = nb;
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let aa = self.a.tick(self.now);
            let bb = self.b.tick(self.now);
            self.a_changes.extend(changes(&aa));
            self.b_changes.extend(changes(&bb));
            self.deliver(sent(&aa), sent(&bb));
            self.now += MS;
        }
    }
}

#[test]
fn three_way_handshake_comes_up_and_speeds_up_with_a_poll() {
    let mut p = Pair::new(cfg(300, 3, false), cfg(300, 3, false));
    p.run(MS * 50);
    assert_eq!(p.a.state(), State::Up);
    assert_eq!(p.b.state(), State::Up);
    assert_eq!(
        p.a_changes,
        vec![
            (State::Down, State::Init, Diag::None),
            (State::Init, State::Up, Diag::None)
        ]
    );
    // Both advertised 1 s before Up, 300 ms after: a poll sequence that completed.
    assert!(p.a_sent.iter().any(|x| x.poll && x.state == State::Up));
    assert!(p.a_sent.iter().any(|x| x.final_));
    assert!(!p.a.polling() && !p.b.polling());
    assert_eq!(p.a.tx_interval(), Some(MS * 300));
    assert_eq!(p.a.detection_time(), Some(MS * 900));
    // Slow rate before Up: every packet sent in Down/Init advertised ≥ 1 s.
    for x in p.a_sent.iter().filter(|x| x.state != State::Up) {
        assert_eq!(x.desired_min_tx_us, 1_000_000);
    }
    // It stays up.
    p.run(Duration::from_secs(5));
    assert_eq!(p.a_changes.len(), 2);
    assert_eq!(p.b_changes.len(), 2);
}

#[test]
fn passive_side_waits_for_the_peer() {
    let mut p = Pair::new(cfg(50, 3, true), cfg(50, 3, true));
    p.run(Duration::from_secs(3));
    assert!(p.a_sent.is_empty(), "two passive sides never talk");
    assert_eq!(p.a.state(), State::Down);

    let mut p = Pair::new(cfg(50, 3, true), cfg(50, 3, false));
    p.run(MS * 20);
    assert_eq!(p.a.state(), State::Up, "passive answers an active peer");
    assert_eq!(p.b.state(), State::Up);
    assert_eq!(
        p.a_sent[0].your_discr, 2,
        "first packet already knows the peer"
    );
}

#[test]
fn detection_time_expiry_goes_down_with_diag_1_and_recovers() {
    let mut p = Pair::new(cfg(50, 3, false), cfg(50, 3, false));
    p.run(MS * 100);
    assert_eq!(p.a.state(), State::Up);
    p.cut = true;
    // The last packet got through at most one interval (50 ms) before the cut.
    p.run(MS * 99);
    assert_eq!(
        p.a.state(),
        State::Up,
        "not before 3 × 50 ms after the last packet"
    );
    p.run(MS * 52);
    assert_eq!(p.a.state(), State::Down);
    assert_eq!(
        p.a_changes.last(),
        Some(&(State::Up, State::Down, Diag::DetectionTimeExpired))
    );
    assert_eq!(p.a.remote_discr(), 0);
    // Back to the slow rate while down.
    assert_eq!(p.a.tx_interval(), Some(SLOW_TX));
    p.cut = false;
    p.run(Duration::from_secs(3));
    assert_eq!(p.a.state(), State::Up);
    assert_eq!(p.b.state(), State::Up);
}

#[test]
fn peer_signalling_down_takes_us_down_with_diag_3() {
    let mut p = Pair::new(cfg(50, 3, false), cfg(50, 3, false));
    p.run(MS * 100);
    let acts = p.b.admin_down(p.now);
    assert_eq!(
        changes(&acts),
        vec![(State::Up, State::AdminDown, Diag::AdminDown)]
    );
    let pkts = sent(&acts);
    assert_eq!(pkts[0].state, State::AdminDown);
    let got = p.a.receive(&pkts[0], p.now);
    assert_eq!(
        changes(&got),
        vec![(State::Up, State::Down, Diag::NeighborDown)]
    );
    // The AdminDown side ignores the peer until enabled, then the handshake runs again.
    p.run(Duration::from_secs(2));
    assert_eq!(p.b.state(), State::AdminDown);
    assert_eq!(p.a.state(), State::Down);
    p.b.enable(p.now);
    p.run(Duration::from_secs(3));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
}

#[test]
fn received_poll_is_answered_with_final_at_once() {
    let mut s = Session::new(cfg(300, 3, false), 5, 1, Duration::ZERO);
    let peer = ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: true,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: 9,
        your_discr: 0,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 1_000_000,
        required_min_echo_rx_us: 0,
    };
    let out = s.receive(&peer, MS * 10);
    let pkts = sent(&out);
    assert!(
        pkts.iter()
            .any(|x| x.final_ && !x.poll && x.your_discr == 9)
    );
    assert_eq!(s.state(), State::Init);
}

#[test]
fn profile_change_while_up_polls_without_reset() {
    let mut p = Pair::new(cfg(300, 3, false), cfg(300, 3, false));
    p.run(MS * 50);
    assert_eq!(p.a.tx_interval(), Some(MS * 300));
    // Slower: the increase of our TX waits for the Final. Drop packets so the poll stays open.
    p.cut = true;
    let acts = p.a.set_config(cfg(1000, 3, false), p.now);
    let pkts = sent(&acts);
    assert!(pkts[0].poll && pkts[0].desired_min_tx_us == 1_000_000);
    assert!(p.a.polling());
    assert_eq!(p.a.tx_interval(), Some(MS * 300), "old TX until Final");
    assert_eq!(
        p.a.detection_time(),
        Some(MS * 3000),
        "larger RX applies at once"
    );
    p.cut = false;
    p.run(MS * 400);
    assert!(!p.a.polling());
    assert_eq!(p.a.tx_interval(), Some(MS * 1000));
    assert_eq!(p.b.tx_interval(), Some(MS * 1000), "peer follows our RX");
    // Faster: 50 ms, applies after the poll; nobody went down.
    p.a.set_config(cfg(50, 3, false), p.now);
    p.b.set_config(cfg(50, 3, false), p.now);
    p.run(Duration::from_secs(2));
    assert_eq!(p.a.tx_interval(), Some(MS * 50));
    assert_eq!(p.a.detection_time(), Some(MS * 150));
    assert_eq!(p.a_changes.len(), 2, "{:?}", p.a_changes);
    assert_eq!(p.b_changes.len(), 2, "{:?}", p.b_changes);
}

#[test]
fn decreased_rx_keeps_old_detection_time_until_final() {
    let mut p = Pair::new(cfg(300, 3, false), cfg(50, 3, false));
    p.run(MS * 50);
    assert_eq!(p.a.detection_time(), Some(MS * 900));
    p.cut = true;
    p.a.set_config(cfg(50, 3, false), p.now);
    assert_eq!(p.a.detection_time(), Some(MS * 900));
    assert_eq!(
        p.a.tx_interval(),
        Some(MS * 50),
        "a faster TX applies at once"
    );
}

#[test]
fn peer_requiring_no_packets_stops_transmission() {
    let mut s = Session::new(cfg(300, 3, false), 5, 1, Duration::ZERO);
    let peer = ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: 9,
        your_discr: 0,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 0,
        required_min_echo_rx_us: 0,
    };
    s.receive(&peer, Duration::ZERO);
    assert_eq!(s.tx_interval(), None);
    assert!(sent(&s.tick(Duration::from_secs(10))).is_empty());
}

#[test]
fn foreign_discriminator_is_discarded() {
    let mut s = Session::new(cfg(300, 3, false), 5, 1, Duration::ZERO);
    let peer = ControlPacket {
        diag: Diag::None,
        state: State::Init,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: 9,
        your_discr: 6,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 1_000_000,
        required_min_echo_rx_us: 0,
    };
    assert!(s.receive(&peer, Duration::ZERO).is_empty());
    assert_eq!((s.state(), s.remote_discr()), (State::Down, 0));
}

fn gaps(mult: u8) -> Vec<Duration> {
    let mut s = Session::new(cfg(100, mult, false), 5, 0xdead_beef, Duration::ZERO);
    let mut peer = ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: 9,
        your_discr: 0,
        desired_min_tx_us: 100_000,
        required_min_rx_us: 100_000,
        required_min_echo_rx_us: 0,
    };
    s.receive(&peer, Duration::ZERO);
    peer.state = State::Up;
    peer.your_discr = 5;
    peer.final_ = true;
    s.receive(&peer, Duration::ZERO);
    assert_eq!(s.tx_interval(), Some(MS * 100));
    let mut last = None;
    let mut out = Vec::new();
    for _ in 0..2000 {
        let Some(now) = s.next_deadline() else { break };
        // Keep the session alive.
        let mut acts = s.receive(&peer, now);
        acts.extend(s.tick(now));
        if !sent(&acts).is_empty() {
            if let Some(l) = last {
                out.push(now - l);
            }
            last = Some(now);
        }
    }
    out
}

#[test]
fn jitter_stays_within_75_to_100_percent() {
    let g = gaps(3);
    assert!(g.len() > 500, "{}", g.len());
    assert!(g.iter().all(|d| *d >= MS * 75 && *d <= MS * 100), "{g:?}");
    assert!(g.iter().any(|d| *d < MS * 80) && g.iter().any(|d| *d > MS * 95));
    let g = gaps(1);
    assert!(g.iter().all(|d| *d >= MS * 75 && *d <= MS * 90), "{g:?}");
}
