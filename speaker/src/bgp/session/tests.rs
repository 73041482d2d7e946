//! The session task against a scripted BGP peer on loopback (127.0.0.1, the test's own
//! listener): Established, routes sent, a route change sent as an UPDATE on the same
//! connection (no reset), Cease on stop; the speaker's stop: a drain (withdrawal UPDATE, the
//! session kept up for the delay, then Cease), a graceful-restart keep (closed without
//! NOTIFICATION, nothing withdrawn) and the R bit of a restarted speaker.

use std::net::{IpAddr, Ipv4Addr};

use ferrolb_bgp::announce::PeerSpec;
use ferrolb_bgp::fsm::PeerAsn;
use ferrolb_bgp::message::{self, Capability, CodecCtx, Open, Update};
use ferrolb_bgp::types::Family;
use tokio::net::TcpListener;

use super::*;

/// Reads the next message from `conn` (5 s at most).
async fn next(conn: &mut TcpStream, buf: &mut Vec<u8>, ctx: &CodecCtx) -> Message {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some((m, used)) = message::decode(buf, ctx).expect("valid message") {
            buf.drain(..used);
            return m;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, conn.read(&mut chunk))
            .await
            .expect("a message within 5 s")
            .expect("read");
        assert!(n > 0, "connection closed while waiting for a message");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The next UPDATE that announces something, skipping KEEPALIVEs and End-of-RIB.
async fn next_announcement(conn: &mut TcpStream, buf: &mut Vec<u8>, ctx: &CodecCtx) -> Update {
    for _ in 0..20 {
        if let Message::Update(u) = next(conn, buf, ctx).await {
            let mp = u.attrs.mp_reach.as_ref().map_or(0, |m| m.nlri.len());
            if !u.nlri.is_empty() || mp > 0 {
                return *u;
            }
        }
    }
    panic!("no announcing UPDATE");
}

fn routes(prefixes: &[&str]) -> Arc<PeerRoutes> {
    Arc::new(PeerRoutes {
        routes: prefixes
            .iter()
            .map(|p| (p.parse().expect("prefix"), Route::default()))
            .collect(),
        ibgp: false,
    })
}

#[tokio::test]
async fn establishes_sends_routes_updates_without_reset_and_ceases_on_stop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let mut spec = PeerSpec::new(
        "loop",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        4_200_000_001,
        PeerAsn::Fixed(64513),
    );
    spec.port = port;
    spec.hold_time = Some(Duration::from_secs(9));
    spec.router_id = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)));
    let local = LocalAddresses {
        address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        interface: Vec::new(),
    };
    let identity = spec.identity("n1", &local).expect("identity");
    // The IPv6 prefix does not belong on this IPv4-only session: neither sent nor pending.
    let (routes_tx, routes_rx) = watch::channel(routes(&["10.250.0.1/32", "fd00:beef::1/128"]));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (reports_tx, mut reports_rx) = mpsc::unbounded_channel();
    let task = SessionTask {
        name: "loop".into(),
        generation: 1,
        identity,
        routes: routes_rx,
        stop: stop_rx,
        bfd_down: mpsc::unbounded_channel().1,
        reports: reports_tx,
        report: SessionReport {
            peer: "loop".into(),
            address: spec.transport().peer,
            state: State::Idle,
            established_since: None,
            prefixes_sent: 0,
            pending_prefixes: 0,
            updates_sent: 0,
            last_error: None,
        },
        delay: Duration::ZERO,
        restarting: false,
    };
    let join = tokio::spawn(task.run());

    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("the session connects")
        .expect("accept");
    let mut buf = Vec::new();
    let ctx = CodecCtx::default();
    let Message::Open(open) = next(&mut conn, &mut buf, &ctx).await else {
        panic!("first message is not an OPEN");
    };
    assert_eq!(open.asn(), 4_200_000_001, "4-octet AS capability");
    assert_eq!(open.my_as, 23456, "AS_TRANS in My AS");
    assert_eq!(open.hold_time, 9);
    let ours = Open {
        my_as: 64513,
        hold_time: 9,
        bgp_id: Ipv4Addr::new(192, 168, 0, 1),
        capabilities: vec![
            Capability::Multiprotocol {
                afi: Family::Ipv4Unicast.afi(),
                safi: Family::Ipv4Unicast.safi(),
            },
            Capability::FourOctetAs(64513),
        ],
    };
    let ctx = CodecCtx {
        four_octet_as: true,
        extended_message: false,
    };
    for m in [Message::Open(ours), Message::Keepalive] {
        conn.write_all(&m.encode(&ctx).expect("encode"))
            .await
            .expect("write");
    }
    let u = next_announcement(&mut conn, &mut buf, &ctx).await;
    assert_eq!(u.nlri, vec!["10.250.0.1/32".parse().expect("prefix")]);
    assert_eq!(u.attrs.next_hop, Some(Ipv4Addr::LOCALHOST));

    // A route change is an UPDATE on the same connection.
    routes_tx.send_replace(routes(&[
        "10.250.0.1/32",
        "10.250.0.2/32",
        "fd00:beef::1/128",
    ]));
    let u = next_announcement(&mut conn, &mut buf, &ctx).await;
    assert_eq!(u.nlri, vec!["10.250.0.2/32".parse().expect("prefix")]);

    let mut established = false;
    let mut last = None;
    while let Ok(Some((_, _, r))) =
        tokio::time::timeout(Duration::from_millis(200), reports_rx.recv()).await
    {
        established |= r.state == State::Established && r.established_since.is_some();
        last = Some(r);
    }
    assert!(established, "an Established report was sent");
    let last = last.expect("reports");
    assert_eq!(
        (last.prefixes_sent, last.pending_prefixes),
        (2, 0),
        "{last:?}"
    );
    assert!(last.updates_sent >= 2, "{last:?}");

    stop_tx.send(Stop::Cease).expect("task alive");
    let mut got_cease = false;
    for _ in 0..5 {
        match next(&mut conn, &mut buf, &ctx).await {
            Message::Notification(n) => {
                assert_eq!(
                    (n.code, n.subcode),
                    (6, 2),
                    "Cease / Administrative Shutdown"
                );
                got_cease = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(got_cease);
    tokio::time::timeout(Duration::from_secs(3), join)
        .await
        .expect("the task ends after stop")
        .expect("no panic");
}

#[tokio::test]
async fn bfd_down_sends_cease_bfd_down_and_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let mut spec = PeerSpec::new(
        "bfd",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        64512,
        PeerAsn::Fixed(64513),
    );
    spec.port = listener.local_addr().expect("addr").port();
    spec.router_id = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)));
    let local = LocalAddresses {
        address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        interface: Vec::new(),
    };
    let (_routes_tx, routes_rx) = watch::channel(routes(&[]));
    let (_stop_tx, stop_rx) = oneshot::channel();
    let (bfd_tx, bfd_rx) = mpsc::unbounded_channel();
    let task = SessionTask {
        name: "bfd".into(),
        generation: 1,
        identity: spec.identity("n1", &local).expect("identity"),
        routes: routes_rx,
        stop: stop_rx,
        bfd_down: bfd_rx,
        reports: mpsc::unbounded_channel().0,
        report: SessionReport::default_for(&spec),
        delay: Duration::ZERO,
        restarting: false,
    };
    let join = tokio::spawn(task.run());
    let accept = async || {
        tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("the session connects")
            .expect("accept")
            .0
    };
    let mut conn = accept().await;
    let (mut buf, ctx) = (Vec::new(), CodecCtx::default());
    assert!(matches!(
        next(&mut conn, &mut buf, &ctx).await,
        Message::Open(_)
    ));
    let ours = Open {
        my_as: 64513,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 168, 0, 1),
        capabilities: vec![Capability::Multiprotocol {
            afi: Family::Ipv4Unicast.afi(),
            safi: Family::Ipv4Unicast.safi(),
        }],
    };
    for m in [Message::Open(ours), Message::Keepalive] {
        conn.write_all(&m.encode(&ctx).expect("encode"))
            .await
            .expect("write");
    }
    // Established once our KEEPALIVE (or End-of-RIB) arrives.
    assert!(!matches!(
        next(&mut conn, &mut buf, &ctx).await,
        Message::Notification(_)
    ));
    bfd_tx.send(()).expect("task alive");
    let mut cease = None;
    for _ in 0..5 {
        if let Message::Notification(n) = next(&mut conn, &mut buf, &ctx).await {
            cease = Some((n.code, n.subcode));
            break;
        }
    }
    assert_eq!(cease, Some((6, 10)), "Cease / BFD Down (RFC 9384)");
    // The session is not stopped: it reconnects after its back-off.
    let mut again = accept().await;
    let mut buf = Vec::new();
    assert!(matches!(
        next(&mut again, &mut buf, &ctx).await,
        Message::Open(_)
    ));
    join.abort();
}

#[test]
fn down_reason_names_the_rfc_4271_error() {
    use ferrolb_bgp::fsm::DownReason;
    use ferrolb_bgp::message::Notification;
    let hold = down_reason(&DownReason::NotificationSent(Notification::new(4, 0)));
    assert_eq!(
        hold,
        "NOTIFICATION sent: code 4 subcode 0 (hold timer expired)"
    );
    let bad = down_reason(&DownReason::NotificationSent(Notification::new(1, 1)));
    assert!(bad.contains("connection not synchronized"), "{bad}");
    let got = down_reason(&DownReason::NotificationReceived(Notification::new(6, 2)));
    assert!(
        got.starts_with("NOTIFICATION received: code 6 subcode 2 (cease"),
        "{got}"
    );
    assert_eq!(error_name(9, 9), "unknown error code");
}

/// A session task against a scripted loopback peer, Established, its first routes seen.
struct Scripted {
    conn: TcpStream,
    buf: Vec<u8>,
    ctx: CodecCtx,
    open: Open,
    stop: Option<oneshot::Sender<Stop>>,
    join: tokio::task::JoinHandle<StopMode>,
    _routes: watch::Sender<Arc<PeerRoutes>>,
}

/// Starts a session (graceful restart configured: `gr`; restarted speaker: `restarting`)
/// against a peer that offers graceful restart when `peer_gr`, up to the first announcement.
async fn scripted(gr: bool, peer_gr: bool, restarting: bool) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let mut spec = PeerSpec::new(
        "loop",
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        64512,
        PeerAsn::Fixed(64513),
    );
    spec.port = listener.local_addr().expect("addr").port();
    spec.enable_graceful_restart = gr;
    spec.router_id = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)));
    let local = LocalAddresses {
        address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        interface: Vec::new(),
    };
    let identity = spec.identity("n1", &local).expect("identity");
    let (routes_tx, routes_rx) = watch::channel(routes(&["10.250.0.1/32", "10.250.0.2/32"]));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (reports_tx, _reports_rx) = mpsc::unbounded_channel();
    let (_bfd_tx, bfd_rx) = mpsc::unbounded_channel();
    let task = SessionTask {
        name: "loop".into(),
        generation: 1,
        identity,
        routes: routes_rx,
        stop: stop_rx,
        bfd_down: bfd_rx,
        reports: reports_tx,
        report: SessionReport::default_for(&spec),
        delay: Duration::ZERO,
        restarting,
    };
    let join = tokio::spawn(task.run());
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
        .await
        .expect("the session connects")
        .expect("accept");
    let mut buf = Vec::new();
    let Message::Open(open) = next(&mut conn, &mut buf, &CodecCtx::default()).await else {
        panic!("first message is not an OPEN");
    };
    let mut caps = vec![
        Capability::Multiprotocol {
            afi: Family::Ipv4Unicast.afi(),
            safi: Family::Ipv4Unicast.safi(),
        },
        Capability::FourOctetAs(64513),
    ];
    if peer_gr {
        caps.push(Capability::GracefulRestart(message::GracefulRestart {
            restarting: false,
            notification: false,
            restart_time: 120,
            families: vec![],
        }));
    }
    let ours = Open {
        my_as: 64513,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 168, 0, 1),
        capabilities: caps,
    };
    let ctx = CodecCtx {
        four_octet_as: true,
        extended_message: false,
    };
    for m in [Message::Open(ours), Message::Keepalive] {
        conn.write_all(&m.encode(&ctx).expect("encode"))
            .await
            .expect("write");
    }
    let u = next_announcement(&mut conn, &mut buf, &ctx).await;
    assert_eq!(u.nlri.len(), 2);
    Scripted {
        conn,
        buf,
        ctx,
        open,
        stop: Some(stop_tx),
        join,
        _routes: routes_tx,
    }
}

impl Scripted {
    fn stop(&mut self, draining: bool, drain_delay: Duration) {
        let stop = Stop::Shutdown {
            draining,
            drain_delay,
        };
        self.stop
            .take()
            .expect("once")
            .send(stop)
            .expect("task alive");
    }

    /// Every message until the connection closes (bounded: 5 s, 50 messages).
    async fn rest(&mut self) -> Vec<(Message, Instant)> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        for _ in 0..50 {
            if let Some((m, used)) = message::decode(&self.buf, &self.ctx).expect("valid") {
                self.buf.drain(..used);
                out.push((m, Instant::now()));
                continue;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.conn.read(&mut chunk))
                .await
                .expect("the session closes within 5 s")
                .unwrap_or(0);
            if n == 0 {
                return out;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        panic!("more than 50 messages: {out:?}");
    }

    async fn ended(self) -> StopMode {
        tokio::time::timeout(Duration::from_secs(3), self.join)
            .await
            .expect("the task ends")
            .expect("no panic")
    }
}

fn gr_bit(o: &Open) -> Option<bool> {
    o.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart(g) => Some(g.restarting),
        _ => None,
    })
}

#[tokio::test]
async fn restart_with_graceful_restart_closes_without_notification_or_withdrawal() {
    let mut s = scripted(true, true, false).await;
    assert_eq!(gr_bit(&s.open), Some(false), "capability sent, R bit clear");
    s.stop(false, Duration::from_secs(1));
    let rest = s.rest().await;
    assert!(
        rest.iter().all(|(m, _)| match m {
            Message::Keepalive => true,
            Message::Update(u) => u.end_of_rib_family().is_some(),
            _ => false,
        }),
        "neither NOTIFICATION nor withdrawal before the close: {rest:?}"
    );
    assert_eq!(s.ended().await, StopMode::KeepForRestart);
}

#[tokio::test]
async fn restart_without_graceful_restart_on_the_peer_ceases() {
    let mut s = scripted(true, false, false).await;
    s.stop(false, Duration::from_secs(1));
    let rest = s.rest().await;
    assert!(
        rest.iter()
            .any(|(m, _)| matches!(m, Message::Notification(n) if (n.code, n.subcode) == (6, 2))),
        "{rest:?}"
    );
    assert_eq!(s.ended().await, StopMode::Cease);
}

#[tokio::test]
async fn drain_withdraws_waits_then_ceases() {
    let mut s = scripted(true, true, false).await;
    let delay = Duration::from_millis(400);
    let asked = Instant::now();
    s.stop(true, delay);
    let rest = s.rest().await;
    let withdrawn: Vec<IpNet> = rest
        .iter()
        .filter_map(|(m, _)| match m {
            Message::Update(u) => Some(u.withdrawn.clone()),
            _ => None,
        })
        .flatten()
        .map(IpNet::V4)
        .collect();
    assert_eq!(
        withdrawn,
        vec![
            "10.250.0.1/32".parse::<IpNet>().expect("p"),
            "10.250.0.2/32".parse().expect("p")
        ]
    );
    let cease = rest
        .iter()
        .position(|(m, _)| matches!(m, Message::Notification(n) if (n.code, n.subcode) == (6, 2)))
        .expect("a Cease");
    let withdrawal = rest
        .iter()
        .position(|(m, _)| matches!(m, Message::Update(_)))
        .expect("an UPDATE");
    assert!(withdrawal < cease, "withdrawn before the Cease: {rest:?}");
    assert!(
        rest[cease].1 >= asked + delay,
        "the session stays up for the drain delay"
    );
    assert_eq!(s.ended().await, StopMode::Drain);
}

#[tokio::test]
async fn a_restarted_speaker_sets_the_r_bit() {
    let s = scripted(true, true, true).await;
    assert_eq!(gr_bit(&s.open), Some(true));
    let s = scripted(false, true, true).await;
    assert_eq!(
        gr_bit(&s.open),
        None,
        "no capability without enableGracefulRestart"
    );
}
