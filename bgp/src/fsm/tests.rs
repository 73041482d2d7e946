//! FSM scenarios: happy path to Established with the initial table and End-of-RIB,
//! keepalives, hold timer expiry (NOTIFICATION 4) and its reset on receive, hold time 0,
//! bad OPENs (the right §6.2 NOTIFICATION), FSM errors (RFC 6608), manual stop (Cease 2),
//! connect retry backoff, ROUTE-REFRESH, and route changes while up.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;

use super::*;
use crate::message::{Capability, RouteRefresh, Update};
use crate::pack::{RouteAttrs, share};

const S: fn(u64) -> Duration = Duration::from_secs;
const MY_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn cfg() -> SessionConfig {
    SessionConfig::new(64512, PeerAsn::Fixed(64513), MY_ID)
}

fn peer_open(asn: u32, hold: u16) -> Open {
    let mut cfg = SessionConfig::new(asn, PeerAsn::External, PEER_ID);
    cfg.hold_time = S(u64::from(hold));
    cfg.open()
}

fn bytes(m: Message) -> Vec<u8> {
    let ctx = CodecCtx {
        four_octet_as: true,
        extended_message: false,
    };
    m.encode(&ctx).expect("encode")
}

fn sent_notification(actions: &[Action]) -> Option<(u8, u8)> {
    actions.iter().find_map(|a| match a {
        Action::Send(Message::Notification(n)) => Some((n.code, n.subcode)),
        _ => None,
    })
}

fn sent_updates(actions: &[Action]) -> Vec<Update> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(Message::Update(u)) => Some((**u).clone()),
            _ => None,
        })
        .collect()
}

/// Drive a session to OpenSent at t=0.
fn open_sent(cfg: SessionConfig) -> Session {
    let mut s = Session::new(cfg);
    let a = s.handle(S(0), Event::ManualStart);
    assert_eq!(a[0], Action::Connect);
    assert_eq!(s.state(), State::Connect);
    let a = s.handle(S(0), Event::TcpConnected);
    assert!(matches!(a[0], Action::Send(Message::Open(_))));
    assert_eq!(s.state(), State::OpenSent);
    s
}

/// Drive a session to Established at t=0; returns the Established step's actions.
fn established(cfg: SessionConfig, peer: Open) -> (Session, Vec<Action>) {
    let mut s = open_sent(cfg);
    let a = s.receive(S(0), &bytes(Message::Open(peer)));
    assert_eq!(a[0], Action::Send(Message::Keepalive), "{a:?}");
    assert_eq!(s.state(), State::OpenConfirm);
    let a = s.receive(S(0), &bytes(Message::Keepalive));
    assert_eq!(s.state(), State::Established, "{a:?}");
    (s, a)
}

fn routes(n: u32) -> RouteTable {
    share((0..n).map(|i| {
        let p = IpNet::new(IpAddr::V4(Ipv4Addr::from(0xc633_6400 + i)), 32).expect("net");
        (p, RouteAttrs::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))))
    }))
}

#[test]
fn happy_path_negotiates_and_sends_table_then_end_of_rib() {
    let mut s = Session::new(cfg());
    assert!(
        s.set_routes(S(0), routes(3)).is_empty(),
        "nothing sent before Established"
    );
    s.handle(S(0), Event::ManualStart);
    s.handle(S(0), Event::TcpConnected);
    s.receive(S(0), &bytes(Message::Open(peer_open(64513, 30))));
    let a = s.receive(S(0), &bytes(Message::Keepalive));
    let n = a
        .iter()
        .find_map(|a| match a {
            Action::Established(n) => Some(n.clone()),
            _ => None,
        })
        .expect("established");
    assert_eq!(
        (n.hold_time, n.keepalive),
        (30, 10),
        "min(90, 30), hold / 3"
    );
    assert!(n.ctx.four_octet_as && n.ctx.extended_message && n.route_refresh);
    assert_eq!(n.families, Family::ALL.into_iter().collect());
    assert!(!n.ibgp);
    let ups = sent_updates(&a);
    assert_eq!(ups.len(), 3, "one packed UPDATE, End-of-RIB IPv4 and IPv6");
    assert_eq!(ups[0].nlri.len(), 3);
    assert_eq!(ups[1].end_of_rib_family(), Some(Family::Ipv4Unicast));
    assert_eq!(ups[2].end_of_rib_family(), Some(Family::Ipv6Unicast));
    assert!(a.contains(&Action::StateChanged {
        from: State::OpenConfirm,
        to: State::Established
    }));
}

#[test]
fn rfc_8950_is_negotiated_when_both_sides_offer_it() {
    let c = SessionConfig {
        extended_next_hop: true,
        ..cfg()
    };
    let mut peer = SessionConfig::new(64513, PeerAsn::External, PEER_ID);
    peer.extended_next_hop = true;
    let (mut s, _) = established(c.clone(), peer.open());
    assert!(s.negotiated().expect("negotiated").ipv4_over_ipv6_next_hop);
    let p: IpNet = "198.51.100.7/32".parse().expect("net");
    let nh6 = IpAddr::V6("2001:db8::1".parse().expect("v6"));
    let a = s.set_routes(S(1), share([(p, RouteAttrs::new(nh6))]));
    let ups = sent_updates(&a);
    assert_eq!(ups.len(), 1, "{a:?}");
    assert_eq!(ups[0].attrs.mp_reach.as_ref().expect("mp").nlri, vec![p]);
    let (s, _) = established(c, peer_open(64513, 90));
    assert!(
        !s.negotiated().expect("negotiated").ipv4_over_ipv6_next_hop,
        "peer lacks it"
    );
}

#[test]
fn keepalives_follow_the_negotiated_interval() {
    let (mut s, _) = established(cfg(), peer_open(64513, 30));
    assert_eq!(s.next_deadline(), Some(S(10)));
    assert_eq!(s.tick(S(9)), vec![]);
    assert_eq!(s.tick(S(10)), vec![Action::Send(Message::Keepalive)]);
    assert_eq!(s.next_deadline(), Some(S(20)));
}

#[test]
fn configured_keepalive_time_is_used_when_within_hold() {
    let mut c = cfg();
    c.keepalive_time = Some(S(5));
    let (s, _) = established(c, peer_open(64513, 90));
    assert_eq!(s.negotiated().expect("negotiated").keepalive, 5);
    let mut c = cfg();
    c.keepalive_time = Some(S(60));
    let (s, _) = established(c, peer_open(64513, 30));
    assert_eq!(
        s.negotiated().expect("negotiated").keepalive,
        10,
        "peer lowered hold"
    );
}

#[test]
fn hold_timer_expiry_sends_notification_4_and_restarts() {
    let (mut s, _) = established(cfg(), peer_open(64513, 30));
    s.tick(S(10));
    s.tick(S(20));
    let a = s.tick(S(30));
    assert_eq!(sent_notification(&a), Some((4, 0)));
    assert!(a.contains(&Action::Close));
    assert_eq!(s.state(), State::Idle);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Down(DownReason::NotificationSent(_))))
    );
    let restart = s.next_deadline().expect("automatic restart");
    let a = s.tick(restart);
    assert_eq!(a[0], Action::Connect);
    assert_eq!(s.state(), State::Connect);
}

#[test]
fn received_messages_restart_the_hold_timer() {
    let (mut s, _) = established(cfg(), peer_open(64513, 30));
    s.receive(S(25), &bytes(Message::Keepalive));
    s.tick(S(10));
    s.tick(S(20));
    assert_eq!(sent_notification(&s.tick(S(30))), None);
    assert_eq!(s.state(), State::Established);
    s.tick(S(40));
    assert_eq!(sent_notification(&s.tick(S(55))), Some((4, 0)));
}

#[test]
fn hold_time_zero_means_no_keepalives_and_no_hold_timer() {
    let (mut s, _) = established(cfg(), peer_open(64513, 0));
    assert_eq!(s.negotiated().expect("negotiated").keepalive, 0);
    assert_eq!(s.next_deadline(), None);
    assert!(s.tick(S(100_000)).is_empty());
    assert_eq!(s.state(), State::Established);
}

#[test]
fn open_sent_hold_timer_is_four_minutes() {
    let mut s = open_sent(cfg());
    assert_eq!(s.next_deadline(), Some(OPEN_HOLD_TIME));
    assert_eq!(sent_notification(&s.tick(OPEN_HOLD_TIME)), Some((4, 0)));
}

fn bad_open(c: SessionConfig, peer: Open) -> (Session, Vec<Action>) {
    let mut s = open_sent(c);
    let a = s.receive(S(0), &bytes(Message::Open(peer)));
    assert_eq!(s.state(), State::Idle);
    assert!(a.contains(&Action::Close));
    (s, a)
}

#[test]
fn bad_opens_get_the_right_notification() {
    let (_, a) = bad_open(cfg(), peer_open(65000, 90));
    assert_eq!(sent_notification(&a), Some((2, 2)), "bad peer AS");
    let internal = SessionConfig {
        peer_asn: PeerAsn::Internal,
        ..cfg()
    };
    let (_, a) = bad_open(internal.clone(), peer_open(65000, 90));
    assert_eq!(sent_notification(&a), Some((2, 2)), "dynamicASN internal");
    let mut same_id = peer_open(64512, 90);
    same_id.bgp_id = MY_ID;
    let (_, a) = bad_open(internal, same_id);
    assert_eq!(
        sent_notification(&a),
        Some((2, 3)),
        "iBGP identifier collision"
    );
    let external = SessionConfig {
        peer_asn: PeerAsn::External,
        ..cfg()
    };
    let (_, a) = bad_open(external, peer_open(64512, 90));
    assert_eq!(sent_notification(&a), Some((2, 2)), "dynamicASN external");
    let mut v6_only = peer_open(64513, 90);
    v6_only
        .capabilities
        .retain(|c| *c != Capability::Multiprotocol { afi: 1, safi: 1 });
    let v4_cfg = SessionConfig {
        families: vec![Family::Ipv4Unicast],
        ..cfg()
    };
    let (_, a) = bad_open(v4_cfg, v6_only);
    assert_eq!(sent_notification(&a), Some((2, 7)), "no common family");
}

#[test]
fn dynamic_asn_accepts_matching_peers() {
    let internal = SessionConfig {
        peer_asn: PeerAsn::Internal,
        ..cfg()
    };
    let (s, _) = established(internal, peer_open(64512, 90));
    assert!(s.negotiated().expect("negotiated").ibgp);
    let external = SessionConfig {
        peer_asn: PeerAsn::External,
        ..cfg()
    };
    let (s, _) = established(external, peer_open(4_200_000_000, 90));
    assert_eq!(s.negotiated().expect("negotiated").peer_asn, 4_200_000_000);
}

#[test]
fn unacceptable_hold_time_in_the_wire_open() {
    let mut s = open_sent(cfg());
    let mut raw = bytes(Message::Open(peer_open(64513, 90)));
    raw[22..24].copy_from_slice(&2u16.to_be_bytes());
    let a = s.receive(S(0), &raw);
    assert_eq!(sent_notification(&a), Some((2, 6)));
}

#[test]
fn peer_without_capabilities_gets_ipv4_and_two_octet_as() {
    let bare = Open {
        my_as: 64513,
        hold_time: 90,
        bgp_id: PEER_ID,
        capabilities: vec![],
    };
    let (s, a) = established(cfg(), bare);
    let n = s.negotiated().expect("negotiated");
    assert_eq!(n.families, [Family::Ipv4Unicast].into_iter().collect());
    assert!(!n.ctx.four_octet_as && !n.route_refresh);
    assert_eq!(sent_updates(&a).len(), 1, "only the IPv4 End-of-RIB");
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    let mut s = open_sent(cfg());
    let a = s.receive(S(0), &bytes(Message::Keepalive));
    assert_eq!(sent_notification(&a), Some((5, 1)));
    let mut s = open_sent(cfg());
    s.receive(S(0), &bytes(Message::Open(peer_open(64513, 90))));
    let a = s.receive(S(0), &bytes(Message::Update(Box::default())));
    assert_eq!(sent_notification(&a), Some((5, 2)));
    let (mut s, _) = established(cfg(), peer_open(64513, 90));
    let a = s.receive(S(1), &bytes(Message::Open(peer_open(64513, 90))));
    assert_eq!(sent_notification(&a), Some((5, 3)));
    // A malformed UPDATE before Established is an FSM error, not treat-as-withdraw.
    let mut s = open_sent(cfg());
    s.receive(S(0), &bytes(Message::Open(peer_open(64513, 90))));
    let a = s.receive(S(0), &missing_next_hop_update());
    assert_eq!(sent_notification(&a), Some((5, 2)));
}

#[test]
fn second_connection_is_rejected() {
    let mut s = open_sent(cfg());
    assert_eq!(
        s.handle(S(1), Event::TcpConnected),
        vec![Action::RejectConnection]
    );
    assert_eq!(s.state(), State::OpenSent);
}

/// An UPDATE with NLRI 10/8 but no attributes (RFC 7606: treat-as-withdraw).
fn missing_next_hop_update() -> Vec<u8> {
    let mut raw = vec![0xff; 16];
    raw.extend_from_slice(&[0, 25, 2, 0, 0, 0, 0, 8, 10]);
    raw
}

#[test]
fn manual_stop_sends_cease_and_stays_idle() {
    let (mut s, _) = established(cfg(), peer_open(64513, 90));
    let a = s.handle(S(1), Event::ManualStop);
    assert_eq!(sent_notification(&a), Some((6, 2)));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None, "no automatic restart");
    let mut s = Session::new(cfg());
    s.handle(S(0), Event::ManualStart);
    let a = s.handle(S(0), Event::ManualStop);
    assert_eq!(a[0], Action::Close, "abort the connect attempt");
    assert_eq!(sent_notification(&a), None);
}

#[test]
fn connect_retry_backs_off_up_to_connect_time() {
    let mut c = cfg();
    c.connect_time = S(5);
    let mut s = Session::new(c);
    s.handle(S(0), Event::ManualStart);
    let mut now = S(0);
    let mut delays = Vec::new();
    for _ in 0..5 {
        // Connected, then closed before the OPEN exchange finished.
        s.handle(now, Event::TcpConnected);
        s.handle(now, Event::TcpFailed);
        assert_eq!(s.state(), State::Active);
        let next = s.next_deadline().expect("retry timer");
        delays.push((next - now).as_secs());
        now = next;
        assert_eq!(s.tick(now)[0], Action::Connect);
        assert_eq!(s.state(), State::Connect);
    }
    assert_eq!(delays, vec![1, 2, 4, 5, 5]);
}

#[test]
fn connect_attempts_that_time_out_back_off() {
    let mut c = cfg();
    c.connect_time = S(5);
    let mut s = Session::new(c);
    s.handle(S(0), Event::ManualStart);
    let mut attempts = Vec::new();
    for _ in 0..5 {
        // Nothing answers (a blackholed peer): the attempt times out at the retry timer.
        let now = s.next_deadline().expect("attempt timer");
        let a = s.tick(now);
        assert!(a.contains(&Action::Connect), "{a:?}");
        attempts.push(now.as_secs());
    }
    assert_eq!(attempts, vec![1, 3, 7, 12, 17]);
}

#[test]
fn refused_connects_are_retried_every_second() {
    let mut c = cfg();
    c.connect_time = S(120);
    let (mut s, _) = established(c, peer_open(64513, 90));
    // The router restarts: the connection is lost, then refused while it comes back.
    let mut now = S(10);
    s.handle(now, Event::TcpFailed);
    assert_eq!(s.state(), State::Idle);
    now = s.next_deadline().expect("restart timer");
    assert_eq!(now, S(11), "first reconnect after INITIAL_RETRY");
    assert_eq!(s.tick(now)[0], Action::Connect);
    let mut delays = Vec::new();
    for _ in 0..5 {
        s.handle(now, Event::TcpFailed);
        assert_eq!(s.state(), State::Active);
        let next = s.next_deadline().expect("retry timer");
        delays.push((next - now).as_secs());
        now = next;
        assert_eq!(s.tick(now)[0], Action::Connect);
    }
    assert_eq!(delays, vec![1, 1, 1, 1, 1], "no back-off while refused");
    // Listening again: up within one retry.
    s.handle(now, Event::TcpConnected);
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn peer_notification_takes_the_session_down() {
    let (mut s, _) = established(cfg(), peer_open(64513, 90));
    let n = Notification::new(6, 4);
    let a = s.receive(S(1), &bytes(Message::Notification(n.clone())));
    assert!(a.contains(&Action::Down(DownReason::NotificationReceived(n))));
    assert_eq!(sent_notification(&a), None);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn garbage_gets_a_header_error() {
    let (mut s, _) = established(cfg(), peer_open(64513, 90));
    let a = s.receive(S(1), &[0u8; 19]);
    assert_eq!(sent_notification(&a), Some((1, 1)));
}

#[test]
fn treat_as_withdraw_update_keeps_the_session() {
    let (mut s, _) = established(cfg(), peer_open(64513, 90));
    let a = s.receive(S(1), &missing_next_hop_update());
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(s.state(), State::Established);
    let a = s.receive(S(2), &bytes(Message::Keepalive));
    assert!(a.is_empty(), "framing stayed in sync");
}

#[test]
fn messages_split_across_reads_are_reassembled() {
    let mut s = open_sent(cfg());
    let open = bytes(Message::Open(peer_open(64513, 90)));
    assert!(s.receive(S(0), &open[..7]).is_empty());
    assert!(s.receive(S(0), &open[7..30]).is_empty());
    let a = s.receive(S(0), &open[30..]);
    assert_eq!(a[0], Action::Send(Message::Keepalive));
}

#[test]
fn route_refresh_resends_the_family_and_changes_are_diffed() {
    let (mut s, _) = established(cfg(), peer_open(64513, 90));
    let a = s.set_routes(S(1), routes(5));
    assert_eq!(
        sent_updates(&a).iter().map(|u| u.nlri.len()).sum::<usize>(),
        5
    );
    let a = s.set_routes(S(2), routes(3));
    assert_eq!(sent_updates(&a)[0].withdrawn.len(), 2);
    assert_eq!(s.adj_rib_out().expect("rib").sent().len(), 3);
    let rr = RouteRefresh {
        afi: 1,
        subtype: 0,
        safi: 1,
    };
    let a = s.receive(S(3), &bytes(Message::RouteRefresh(rr)));
    assert_eq!(
        sent_updates(&a).iter().map(|u| u.nlri.len()).sum::<usize>(),
        3
    );
    assert_eq!(
        s.next_deadline(),
        Some(S(33)),
        "keepalive timer restarted by the UPDATE"
    );
}

fn gr_cfg() -> SessionConfig {
    SessionConfig {
        graceful_restart: true,
        ..cfg()
    }
}

/// The peer's OPEN with a helper-only graceful-restart capability (as FRR sends it).
fn gr_peer_open() -> Open {
    let mut o = peer_open(64513, 90);
    o.capabilities.push(Capability::GracefulRestart(
        crate::message::GracefulRestart {
            restarting: false,
            notification: false,
            restart_time: 120,
            families: vec![],
        },
    ));
    o
}

fn sent_open(actions: &[Action]) -> Open {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Send(Message::Open(o)) => Some(o.clone()),
            _ => None,
        })
        .expect("an OPEN")
}

fn r_bit(o: &Open) -> Option<bool> {
    o.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart(g) => Some(g.restarting),
        _ => None,
    })
}

#[test]
fn restarted_speaker_sets_the_r_bit_until_established() {
    let mut s = Session::new(gr_cfg());
    s.set_restarting(true);
    s.handle(S(0), Event::ManualStart);
    assert_eq!(
        r_bit(&sent_open(&s.handle(S(0), Event::TcpConnected))),
        Some(true)
    );
    // The connection fails before Established: the next OPEN still says "restarted".
    let a = s.handle(S(1), Event::TcpFailed);
    assert!(a.contains(&Action::Close));
    s.tick(s.next_deadline().expect("retry"));
    assert_eq!(
        r_bit(&sent_open(&s.handle(S(3), Event::TcpConnected))),
        Some(true)
    );
    s.receive(S(3), &bytes(Message::Open(gr_peer_open())));
    s.receive(S(3), &bytes(Message::Keepalive));
    assert_eq!(s.state(), State::Established);
    assert!(!s.restarting(), "cleared once Established");
    // A later flap of the same session is not a restart of the speaker.
    s.handle(S(4), Event::TcpFailed);
    let t = s.next_deadline().expect("restart");
    s.tick(t);
    assert_eq!(
        r_bit(&sent_open(&s.handle(t, Event::TcpConnected))),
        Some(false)
    );
}

#[test]
fn graceful_restart_is_negotiated_only_when_both_sides_send_it() {
    let cases = [
        (gr_cfg(), gr_peer_open(), true),
        (gr_cfg(), peer_open(64513, 90), false),
        (cfg(), gr_peer_open(), false),
    ];
    for (c, peer, want) in cases {
        let (s, _) = established(c, peer);
        let n = s.negotiated().expect("negotiated");
        assert_eq!(n.graceful_restart_negotiated, want);
        let keep = if want {
            StopMode::KeepForRestart
        } else {
            StopMode::Cease
        };
        assert_eq!(s.stop_mode(false), keep);
        assert_eq!(s.stop_mode(true), StopMode::Drain);
    }
}

#[test]
fn stop_for_restart_closes_without_notification_when_gr_is_negotiated() {
    let (mut s, _) = established(gr_cfg(), gr_peer_open());
    s.set_routes(S(0), routes(2));
    let a = s.handle(S(1), Event::StopForRestart);
    assert_eq!(
        sent_notification(&a),
        None,
        "RFC 4724 §4.1: no NOTIFICATION"
    );
    assert!(sent_updates(&a).is_empty(), "nothing withdrawn");
    assert!(a.contains(&Action::Close));
    assert!(a.contains(&Action::Down(DownReason::ClosedForRestart)));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None, "no automatic restart");
    // Without graceful restart on the session the same stop is a Cease.
    let (mut s, _) = established(cfg(), gr_peer_open());
    assert_eq!(
        sent_notification(&s.handle(S(1), Event::StopForRestart)),
        Some((6, 2))
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn stop_decision_table() {
    use StopMode::*;
    // (draining, established, gr negotiated) -> mode
    let table = [
        ((false, false, false), Cease),
        ((false, false, true), Cease),
        ((true, false, true), Cease),
        ((true, false, false), Cease),
        ((false, true, false), Cease),
        ((false, true, true), KeepForRestart),
        ((true, true, false), Drain),
        ((true, true, true), Drain),
    ];
    for ((d, e, g), want) in table {
        assert_eq!(
            stop_mode(d, e, g),
            want,
            "draining={d} established={e} gr={g}"
        );
    }
}

#[test]
fn drain_withdraws_everything_by_update_before_the_cease() {
    let (mut s, _) = established(gr_cfg(), gr_peer_open());
    s.set_routes(S(0), routes(3));
    let a = s.set_routes(S(1), BTreeMap::new());
    let ups = sent_updates(&a);
    assert_eq!(ups.iter().map(|u| u.withdrawn.len()).sum::<usize>(), 3);
    assert_eq!(
        sent_notification(&a),
        None,
        "the session stays up while routers converge"
    );
    assert_eq!(s.state(), State::Established);
    assert_eq!(
        sent_notification(&s.handle(S(2), Event::ManualStop)),
        Some((6, 2))
    );
}
