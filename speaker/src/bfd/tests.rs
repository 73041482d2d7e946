//! Which peers get a BFD session, when a BFD transition resets BGP, and the runtime against a
//! scripted BFD peer on loopback (127.0.0.1: the test's own sockets): Up with the profile's
//! timers, metrics, and BFD down → the BGP peer's name on the reset channel.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferrolb_bfd::{Action, ControlPacket, Diag, Params, Session, State};
use ferrolb_bgp::announce::PeerSpec;
use ferrolb_bgp::fsm::PeerAsn;
use ferrolb_core::LabelSelector;
use ferrolb_net::bfd as net;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::*;
use crate::metrics::Metrics;
use crate::plan::{NodePlan, Plan};

fn peer(name: &str, addr: &str, profile: Option<&str>) -> PeerSpec {
    let mut p = PeerSpec::new(
        name,
        addr.parse().expect("ip"),
        64512,
        PeerAsn::Fixed(64513),
    );
    p.bfd_profile = profile.map(str::to_owned);
    p
}

fn plan(peers: Vec<PeerSpec>, profiles: &[(&str, Params)]) -> Plan {
    let mut plan = Plan::default();
    plan.nodes.insert(
        "n1".into(),
        NodePlan {
            name: "n1".into(),
            labels: BTreeMap::from([("rack".to_owned(), "r1".to_owned())]),
            network_unavailable: false,
            exclude_label: false,
            internal_ips: Vec::new(),
            draining: false,
        },
    );
    plan.bgp.peers = peers;
    plan.bgp.bfd_profiles = profiles
        .iter()
        .map(|(n, p)| ((*n).to_owned(), *p))
        .collect();
    plan
}

#[test]
fn peers_with_a_profile_on_this_node_get_a_session() {
    let fast = Params {
        transmit_interval: Duration::from_millis(50),
        ..Params::DEFAULT
    };
    let mut multi = peer("multi", "10.0.0.3", Some("fast"));
    multi.ebgp_multihop = true;
    multi.source_address = Some("10.0.0.100".parse().expect("ip"));
    let mut elsewhere = peer("elsewhere", "10.0.0.4", Some("fast"));
    elsewhere.node_selectors = vec![LabelSelector::from_labels([("rack", "r2")])];
    let p = plan(
        vec![
            peer("plain", "10.0.0.1", None),
            peer("single", "10.0.0.2", Some("fast")),
            multi,
            elsewhere,
            peer("missing", "10.0.0.5", Some("nope")),
            peer("dup", "10.0.0.2", Some("fast")),
        ],
        &[("fast", fast)],
    );
    let (w, skipped) = wanted(&p, "n1");
    let names: Vec<&str> = w.values().map(|w| w.peer_name.as_str()).collect();
    assert_eq!(names, ["single", "multi"]);
    let single = &w[&Key {
        peer: "10.0.0.2".parse().expect("ip"),
        multihop: false,
    }];
    assert_eq!(single.params, fast);
    let m = &w[&Key {
        peer: "10.0.0.3".parse().expect("ip"),
        multihop: true,
    }];
    assert_eq!(m.source, Some("10.0.0.100".parse().expect("ip")));
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].1.contains("BFDProfile \"nope\" not found"));
    assert!(skipped[1].1.contains("already has a BFD session"));
    assert!(wanted(&p, "unknown-node").0.is_empty());
}

#[test]
fn only_a_failure_after_up_resets_bgp() {
    use State::*;
    assert!(takes_bgp_down(Up, Down, Diag::DetectionTimeExpired, Up));
    assert!(takes_bgp_down(Up, Down, Diag::NeighborDown, Down));
    assert!(!takes_bgp_down(Up, Down, Diag::NeighborDown, AdminDown));
    assert!(!takes_bgp_down(
        Init,
        Down,
        Diag::DetectionTimeExpired,
        Init
    ));
    assert!(!takes_bgp_down(Up, AdminDown, Diag::AdminDown, Up));
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A scripted BFD peer: the sans-IO session on the test's own sockets.
struct FakePeer {
    session: Session,
    rx: UdpSocket,
    tx: UdpSocket,
    epoch: tokio::time::Instant,
}

impl FakePeer {
    fn send(&self, acts: Vec<Action>) {
        for a in acts {
            if let Action::Send(p) = a {
                let _ = self.tx.try_send(&p.encode());
            }
        }
    }

    /// Runs the peer for `d` (or until `stop` says so).
    async fn run_for(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        loop {
            let now = self.epoch.elapsed();
            let acts = self.session.tick(now);
            self.send(acts);
            let next = self
                .session
                .next_deadline()
                .map_or(end, |t| (self.epoch + t).min(end));
            let mut buf = [0u8; 64];
            let got = tokio::time::timeout_at(
                next,
                self.rx.async_io(Interest::READABLE, || {
                    net::recv(&SockRef::from(&self.rx), &mut buf)
                }),
            )
            .await;
            if let Ok(Ok(r)) = got {
                assert_eq!(r.ttl, Some(255), "single hop is sent with TTL 255");
                let pkt = ControlPacket::decode(&buf[..r.len]).expect("valid packet");
                let acts = self.session.receive(&pkt, self.epoch.elapsed());
                self.send(acts);
            }
            if tokio::time::Instant::now() >= end {
                return;
            }
        }
    }
}

fn to_tokio(s: socket2::Socket) -> UdpSocket {
    s.set_nonblocking(true).expect("nonblocking");
    UdpSocket::from_std(s.into()).expect("tokio socket")
}

#[tokio::test]
async fn runtime_comes_up_with_a_peer_and_resets_bgp_when_it_goes_silent() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let peer_rx = net::listener(SocketAddr::new(lo, 0)).expect("peer listener");
    let peer_port = peer_rx
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("ip")
        .port();
    let ours = free_udp_port();
    let fast = Params {
        transmit_interval: Duration::from_millis(50),
        receive_interval: Duration::from_millis(50),
        ..Params::DEFAULT
    };
    let (plan_tx, plan_rx) = watch::channel(Arc::new(plan(
        vec![peer("router", "127.0.0.1", Some("fast"))],
        &[("fast", fast)],
    )));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (down_tx, mut down_rx) = mpsc::unbounded_channel();
    let metrics = Arc::new(Metrics::default());
    let cfg = BfdConfig {
        node: "n1".into(),
        ports: Ports {
            listen_single: ours,
            listen_multi: free_udp_port(),
            peer_single: peer_port,
            peer_multi: peer_port,
        },
        listen: Some(lo),
    };
    let (mut report, thread) =
        spawn(cfg, plan_rx, metrics.clone(), shutdown_rx, down_tx).expect("spawn");

    let mut fake = FakePeer {
        session: Session::new(fast.session_config(), 77, 5, Duration::ZERO),
        rx: to_tokio(peer_rx),
        tx: to_tokio(net::sender(SocketAddr::new(lo, ours), Some(lo), 4242).expect("sender")),
        epoch: tokio::time::Instant::now(),
    };
    fake.run_for(Duration::from_millis(1500)).await;
    assert_eq!(fake.session.state(), State::Up);
    let key = Key {
        peer: lo,
        multihop: false,
    };
    let r = report.borrow_and_update().clone();
    assert_eq!(r.sessions[&key].state, State::Up, "{r:?}");
    assert_eq!(
        fake.session.tx_interval(),
        Some(Duration::from_millis(50)),
        "negotiated down to the profile's 50 ms after the poll"
    );
    let text = metrics.exporter().render();
    assert!(
        text.contains(r#"metallb_bfd_session_up{peer="127.0.0.1"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"metallb_bfd_session_up_events{peer="127.0.0.1"} 1"#));

    // A profile edit re-tunes without going down.
    let slower = Params {
        transmit_interval: Duration::from_millis(100),
        ..fast
    };
    plan_tx.send_replace(Arc::new(plan(
        vec![peer("router", "127.0.0.1", Some("fast"))],
        &[("fast", slower)],
    )));
    fake.run_for(Duration::from_millis(800)).await;
    assert_eq!(fake.session.state(), State::Up);
    assert_eq!(fake.session.tx_interval(), Some(Duration::from_millis(50)));
    assert_eq!(
        fake.session.detection_time(),
        Some(Duration::from_millis(300)),
        "the peer now expects our packets every 100 ms"
    );
    assert!(down_rx.try_recv().is_err(), "no BGP reset while up");

    // The peer goes silent: detection (3 × 50 ms) → Down → the BGP peer is reset.
    let name = tokio::time::timeout(Duration::from_secs(2), down_rx.recv())
        .await
        .expect("BGP reset within 2 s")
        .expect("channel open");
    assert_eq!(name, "router");
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        report.wait_for(|r| r.sessions.get(&key).is_some_and(|s| s.state == State::Down)),
    )
    .await
    .expect("Down reported")
    .expect("runtime alive")
    .clone();
    assert_eq!(r.sessions[&key].diag, Diag::DetectionTimeExpired);
    let text = metrics.exporter().render();
    assert!(
        text.contains(r#"metallb_bfd_session_down_events{peer="127.0.0.1"} 1"#),
        "{text}"
    );

    // Shutdown says AdminDown to the peer and ends the thread.
    shutdown_tx.send_replace(true);
    fake.run_for(Duration::from_millis(300)).await;
    assert_eq!(fake.session.remote_state(), State::AdminDown);
    for _ in 0..100 {
        if thread.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(thread.is_finished());
}
