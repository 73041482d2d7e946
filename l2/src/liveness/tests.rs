//! Liveness protocol tests: a simulated cluster with a virtual clock.

use proptest::prelude::*;

use super::*;

const SECRET: &[u8] = b"0123456789abcdef-shared-secret";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn node(name: &str, inc: u64, t0: Instant) -> Membership {
    Membership::new(name, inc, SECRET, LivenessConfig::default(), t0).unwrap()
}

/// Runs a full mesh for `steps` × 10 ms; `link(a, b)` says whether a→b delivers.
fn run(
    nodes: &mut [Membership],
    t0: Instant,
    from: u64,
    steps: u64,
    link: impl Fn(usize, usize) -> bool,
) -> Vec<(u64, usize, MemberEvent)> {
    let mut events = vec![];
    for s in from..from + steps {
        let now = t0 + ms(s * 10);
        let wall = 1_700_000_000_000 + s * 10;
        let mut outbox = vec![];
        for (i, n) in nodes.iter_mut().enumerate() {
            if let Some(d) = n.poll_transmit(now, wall) {
                outbox.push((i, d));
            }
        }
        for (from_i, d) in outbox {
            for (j, n) in nodes.iter_mut().enumerate() {
                if j == from_i || !link(from_i, j) {
                    continue;
                }
                if let Some(e) = n.handle_datagram(&d, now, wall).unwrap() {
                    events.push((s * 10, j, e));
                }
            }
        }
        for (j, n) in nodes.iter_mut().enumerate() {
            events.extend(n.tick(now).into_iter().map(|e| (s * 10, j, e)));
        }
    }
    events
}

#[test]
fn roundtrip_and_tamper() {
    let key = HeartbeatKey::new(SECRET).unwrap();
    let hb = Heartbeat {
        name: "node-a".into(),
        incarnation: 7,
        sequence: 9,
        wall_ms: 42,
        leaving: true,
    };
    let bytes = encode(&hb, &key);
    assert_eq!(decode(&bytes, &key).unwrap(), hb);
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        assert!(
            decode(&b, &key).is_err(),
            "flipping byte {i} must be detected"
        );
    }
    let other = HeartbeatKey::new(b"another-secret-of-16+").unwrap();
    assert_eq!(decode(&bytes, &other), Err(LivenessError::BadTag));
    assert!(HeartbeatKey::new(b"short").is_err());
}

#[test]
fn join_then_die_within_budget() {
    let t0 = Instant::now();
    let mut nodes = vec![node("a", 1, t0), node("b", 1, t0), node("c", 1, t0)];
    let ev = run(&mut nodes, t0, 0, 50, |_, _| true);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e.2, MemberEvent::Joined(_)))
            .count(),
        6
    );
    assert_eq!(
        nodes[0].alive_members().collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert!(nodes[0].is_settled(t0 + ms(600)));
    // "c" goes silent at t = 500 ms: everyone else must declare it dead within 600 + 100 ms.
    let ev = run(&mut nodes, t0, 50, 150, |from, _| from != 2);
    let died: Vec<_> = ev
        .iter()
        .filter(|e| e.2 == MemberEvent::Died("c".into()))
        .collect();
    assert_eq!(died.len(), 2);
    for (t, _, _) in died {
        assert!(*t > 500 && *t <= 500 + 700, "died at {t} ms");
    }
    assert!(!nodes[0].is_alive("c"));
    assert!(nodes[0].is_alive("a") && nodes[0].is_alive("b"));
}

#[test]
fn graceful_leave_is_immediate() {
    let t0 = Instant::now();
    let mut a = node("a", 1, t0);
    let mut b = node("b", 1, t0);
    let d = b.poll_transmit(t0, 0).unwrap();
    assert_eq!(
        a.handle_datagram(&d, t0, 0),
        Ok(Some(MemberEvent::Joined("b".into())))
    );
    let bye = b.leave(1);
    assert_eq!(
        a.handle_datagram(&bye, t0 + ms(5), 0),
        Ok(Some(MemberEvent::Left("b".into())))
    );
    assert!(!a.is_alive("b"));
    assert!(!b.is_alive("b"));
    assert_eq!(b.alive_members().count(), 0);
    // Left peers do not die again.
    assert!(a.tick(t0 + ms(5000)).is_empty());
}

#[test]
fn replay_and_own_name_rejected_and_counted() {
    let t0 = Instant::now();
    let mut a = node("a", 1, t0);
    let mut b = node("b", 1, t0);
    let d1 = b.poll_transmit(t0, 0).unwrap();
    let d2 = b.poll_transmit(t0 + ms(100), 0).unwrap();
    assert!(a.handle_datagram(&d2, t0, 0).is_ok());
    assert_eq!(
        a.handle_datagram(&d2, t0, 0),
        Err(LivenessError::Replay("b".into()))
    );
    assert_eq!(
        a.handle_datagram(&d1, t0, 0),
        Err(LivenessError::Replay("b".into()))
    );
    // A restarted "b" (higher incarnation) restarts its sequence and is accepted.
    let mut b2 = node("b", 2, t0);
    let d3 = b2.poll_transmit(t0 + ms(200), 0).unwrap();
    assert!(a.handle_datagram(&d3, t0 + ms(200), 0).is_ok());
    // ... but the old incarnation can no longer be replayed.
    let d4 = b.poll_transmit(t0 + ms(300), 0).unwrap();
    assert_eq!(
        a.handle_datagram(&d4, t0, 0),
        Err(LivenessError::Replay("b".into()))
    );
    let own = a.poll_transmit(t0, 0).unwrap();
    assert_eq!(a.handle_datagram(&own, t0, 0), Err(LivenessError::OwnName));
    assert_eq!(
        a.handle_datagram(b"garbage", t0, 0),
        Err(LivenessError::Malformed("bad magic"))
    );
    assert_eq!(
        a.handle_datagram(b"FLB", t0, 0),
        Err(LivenessError::Malformed("too short"))
    );
    let s = a.stats();
    assert_eq!(
        (s.accepted, s.replayed, s.own_name, s.malformed),
        (2, 3, 1, 2)
    );
}

#[test]
fn clock_skew_check() {
    let t0 = Instant::now();
    let cfg = LivenessConfig {
        max_clock_skew: Some(ms(2000)),
        ..LivenessConfig::default()
    };
    let mut a = Membership::new("a", 1, SECRET, cfg, t0).unwrap();
    let mut b = node("b", 1, t0);
    let d = b.poll_transmit(t0, 10_000).unwrap();
    assert_eq!(
        a.handle_datagram(&d, t0, 20_000),
        Err(LivenessError::ClockSkew("b".into()))
    );
    assert!(a.handle_datagram(&d, t0, 11_000).is_ok());
}

#[test]
fn majority_quorum_on_partition() {
    let t0 = Instant::now();
    let cfg = LivenessConfig {
        quorum: QuorumPolicy::Majority,
        ..LivenessConfig::default()
    };
    let mut nodes: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| Membership::new(n, 1, SECRET, cfg.clone(), t0).unwrap())
        .collect();
    for n in &mut nodes {
        n.set_expected_peers(["a", "b", "c"]);
        assert!(!n.has_quorum(), "nobody heard yet");
    }
    run(&mut nodes, t0, 0, 20, |_, _| true);
    assert!(nodes.iter().all(Membership::has_quorum));
    // Partition {a} | {b, c}.
    run(&mut nodes, t0, 20, 100, |f, t| (f == 0) == (t == 0));
    assert!(!nodes[0].has_quorum());
    assert!(nodes[1].has_quorum() && nodes[2].has_quorum());
    // Heal.
    run(&mut nodes, t0, 120, 20, |_, _| true);
    assert!(nodes[0].has_quorum());
}

#[test]
fn config_validation() {
    let t0 = Instant::now();
    assert!(Membership::new("", 1, SECRET, LivenessConfig::default(), t0).is_err());
    assert!(Membership::new("a", 1, b"short", LivenessConfig::default(), t0).is_err());
    let bad = LivenessConfig {
        dead_after: ms(100),
        ..LivenessConfig::default()
    };
    assert!(Membership::new("a", 1, SECRET, bad, t0).is_err());
}

#[test]
fn next_deadline_tracks_send_and_death() {
    let t0 = Instant::now();
    let mut a = node("a", 1, t0);
    let mut b = node("b", 1, t0);
    assert_eq!(a.next_deadline(), t0);
    a.poll_transmit(t0, 0);
    assert_eq!(a.next_deadline(), t0 + ms(100));
    let d = b.poll_transmit(t0, 0).unwrap();
    a.handle_datagram(&d, t0, 0).unwrap();
    // A joining peer is answered at once (see `a_joining_peer_is_answered_at_once`).
    assert_eq!(a.next_deadline(), t0);
    assert!(a.poll_transmit(t0, 0).is_some());
    assert_eq!(a.next_deadline(), t0 + ms(100));
    a.poll_transmit(t0 + ms(100), 0);
    a.poll_transmit(t0 + ms(200), 0);
    a.poll_transmit(t0 + ms(300), 0);
    a.poll_transmit(t0 + ms(400), 0);
    a.poll_transmit(t0 + ms(500), 0);
    assert_eq!(a.next_deadline(), t0 + ms(600));
    a.poll_transmit(t0 + ms(600), 0);
    assert_eq!(a.next_deadline(), t0 + ms(601));
    assert_eq!(a.tick(t0 + ms(601)), vec![MemberEvent::Died("b".into())]);
}

#[test]
fn a_joining_peer_is_answered_at_once() {
    let t0 = Instant::now();
    let mut a = node("a", 1, t0);
    // b sends every 50 ms, so a hears b between its own 100 ms slots.
    let fast = LivenessConfig {
        interval: ms(50),
        ..LivenessConfig::default()
    };
    let mut b = Membership::new("b", 1, SECRET, fast, t0).unwrap();
    assert!(a.poll_transmit(t0, 0).is_some());
    // Mid-interval, b's first heartbeat arrives: a's next heartbeat is due now, not at 100 ms.
    let d = b.poll_transmit(t0 + ms(30), 0).unwrap();
    assert_eq!(
        a.handle_datagram(&d, t0 + ms(30), 0),
        Ok(Some(MemberEvent::Joined("b".into())))
    );
    assert_eq!(a.next_deadline(), t0 + ms(30));
    assert!(a.poll_transmit(t0 + ms(30), 0).is_some());
    // An ordinary heartbeat of a live peer does not advance a's schedule.
    let d = b.poll_transmit(t0 + ms(80), 0).unwrap();
    assert_eq!(a.handle_datagram(&d, t0 + ms(80), 0), Ok(None));
    assert_eq!(a.next_deadline(), t0 + ms(130));
    assert!(a.poll_transmit(t0 + ms(80), 0).is_none());
}

#[test]
fn rejoin_with_same_incarnation_is_counted_but_restart_is_not() {
    let t0 = Instant::now();
    let mut a = node("a", 1, t0);
    let mut b = node("b", 1, t0);
    let d = b.poll_transmit(t0, 0).unwrap();
    a.handle_datagram(&d, t0, 0).unwrap();
    assert_eq!(a.stats().rejoined, 0, "a first join is not a rejoin");
    // b is cut off (still running, same incarnation) for longer than dead_after.
    assert_eq!(a.tick(t0 + ms(700)), vec![MemberEvent::Died("b".into())]);
    let d = b.poll_transmit(t0 + ms(1000), 0).unwrap();
    assert_eq!(
        a.handle_datagram(&d, t0 + ms(1000), 0),
        Ok(Some(MemberEvent::Joined("b".into())))
    );
    assert_eq!(a.stats().rejoined, 1);
    // b crashes and a new process (new incarnation) starts: a join, not a rejoin.
    assert_eq!(a.tick(t0 + ms(1700)), vec![MemberEvent::Died("b".into())]);
    let mut b2 = node("b", 2, t0);
    let d = b2.poll_transmit(t0 + ms(2000), 0).unwrap();
    assert_eq!(
        a.handle_datagram(&d, t0 + ms(2000), 0),
        Ok(Some(MemberEvent::Joined("b".into())))
    );
    assert_eq!(a.stats().rejoined, 1);
    // Heartbeats of a live peer are no rejoin either.
    let d = b2.poll_transmit(t0 + ms(2100), 0).unwrap();
    assert_eq!(a.handle_datagram(&d, t0 + ms(2100), 0), Ok(None));
    assert_eq!(a.stats().rejoined, 1);
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let key = HeartbeatKey::new(SECRET).unwrap();
        let _ = decode(&bytes, &key);
    }
}

// === restarts with an earlier clock, future incarnations, key rotation, address binding ===

/// 2026-12-06: a synced receiver clock.
const WALL: u64 = 1_796_515_200_000;

/// Heartbeat number `seq` of node `name` with incarnation `inc`, signed with `secret`.
fn datagram(name: &str, inc: u64, seq: u64, secret: &[u8]) -> Vec<u8> {
    let hb = Heartbeat {
        name: name.into(),
        incarnation: inc,
        sequence: seq,
        wall_ms: WALL,
        leaving: false,
    };
    encode(&hb, &HeartbeatKey::new(secret).unwrap())
}

#[test]
fn restart_with_an_earlier_clock_is_accepted_once_the_old_stream_is_gone() {
    let t0 = Instant::now();
    let mut b = node("b", WALL, t0);
    // `a` ran with a clock set ahead (incarnation WALL + 1 h) ...
    let ahead = WALL + 3_600_000;
    assert_eq!(
        b.handle_datagram(&datagram("a", ahead, 1, SECRET), t0, WALL),
        Ok(Some(MemberEvent::Joined("a".into())))
    );
    // ... and restarted with the right clock: a lower incarnation. While the old stream is
    // live, that is a replay.
    let restarted = |seq| datagram("a", WALL, seq, SECRET);
    assert_eq!(
        b.handle_datagram(&restarted(1), t0 + ms(100), WALL),
        Err(LivenessError::Replay("a".into()))
    );
    // Once the old stream expired (declared dead), the new one is accepted: `a` is a member
    // again rather than refused forever while it announces.
    assert_eq!(b.tick(t0 + ms(700)), vec![MemberEvent::Died("a".into())]);
    assert_eq!(
        b.handle_datagram(&restarted(2), t0 + ms(710), WALL),
        Ok(Some(MemberEvent::Joined("a".into())))
    );
    assert!(b.is_alive("a"));
    assert_eq!(b.stats().restarted_earlier, 1);
    // The new stream is protected against replays as usual.
    assert_eq!(
        b.handle_datagram(&restarted(2), t0 + ms(720), WALL),
        Err(LivenessError::Replay("a".into()))
    );
    // Expired but not yet ticked counts as gone too.
    let older = datagram("a", WALL - 5_000, 1, SECRET);
    assert!(b.handle_datagram(&older, t0 + ms(1_400), WALL).is_ok());
}

#[test]
fn same_incarnation_stays_a_replay_after_death() {
    let t0 = Instant::now();
    let mut b = node("b", WALL, t0);
    b.handle_datagram(&datagram("a", WALL, 5, SECRET), t0, WALL)
        .unwrap();
    b.tick(t0 + ms(700));
    assert_eq!(
        b.handle_datagram(&datagram("a", WALL, 4, SECRET), t0 + ms(710), WALL),
        Err(LivenessError::Replay("a".into()))
    );
}

#[test]
fn incarnations_from_the_future_are_refused() {
    let t0 = Instant::now();
    let mut b = node("b", WALL, t0);
    let day = MAX_INCARNATION_AHEAD.as_millis() as u64;
    assert_eq!(
        b.handle_datagram(&datagram("a", WALL + day + 1, 1, SECRET), t0, WALL),
        Err(LivenessError::FutureIncarnation("a".into()))
    );
    assert_eq!(
        b.handle_datagram(&datagram("a", u64::MAX, 1, SECRET), t0, WALL),
        Err(LivenessError::FutureIncarnation("a".into()))
    );
    assert_eq!(b.stats().future_incarnation, 2);
    assert!(!b.is_alive("a"));
    // Up to one day ahead is tolerated (clocks drift; incarnations need not be clocks).
    assert!(
        b.handle_datagram(&datagram("a", WALL + day, 1, SECRET), t0, WALL)
            .is_ok()
    );
    // A receiver whose clock is unset (1970 on a board without RTC) does not refuse everyone.
    let mut unsynced = node("c", 5, t0);
    assert!(
        unsynced
            .handle_datagram(&datagram("a", WALL, 1, SECRET), t0, 5_000)
            .is_ok()
    );
    // The bound can be widened or disabled.
    let mut lenient = node("d", WALL, t0);
    lenient.set_max_incarnation_ahead(None);
    assert!(
        lenient
            .handle_datagram(&datagram("a", u64::MAX, 1, SECRET), t0, WALL)
            .is_ok()
    );
}

const NEW_SECRET: &[u8] = b"fedcba9876543210-rotated-secret";

#[test]
fn previous_key_is_accepted_and_counted() {
    let t0 = Instant::now();
    let mut b = Membership::new("b", WALL, NEW_SECRET, LivenessConfig::default(), t0).unwrap();
    let old = datagram("a", WALL, 1, SECRET);
    assert_eq!(
        b.handle_datagram(&old, t0, WALL),
        Err(LivenessError::BadTag)
    );
    b.set_previous_secret(Some(SECRET)).unwrap();
    assert!(b.handle_datagram(&old, t0, WALL).is_ok());
    assert!(
        b.handle_datagram(&datagram("a", WALL, 2, NEW_SECRET), t0, WALL)
            .is_ok()
    );
    assert_eq!(b.stats().previous_key, 1);
    // A third key is still refused; short previous secrets are a configuration error.
    let other = datagram("a", WALL, 3, b"another-secret-of-16+bytes");
    assert_eq!(
        b.handle_datagram(&other, t0, WALL),
        Err(LivenessError::BadTag)
    );
    assert!(matches!(
        b.set_previous_secret(Some(b"short")),
        Err(LivenessError::Config(_))
    ));
    b.set_previous_secret(None).unwrap();
    assert_eq!(
        b.handle_datagram(&datagram("a", WALL, 4, SECRET), t0, WALL),
        Err(LivenessError::BadTag)
    );
}

/// Runs the mesh for `steps` and returns the membership events.
fn settle(nodes: &mut [Membership], t0: Instant, from: &mut u64, steps: u64) -> Vec<MemberEvent> {
    let events = run(nodes, t0, *from, steps, |_, _| true);
    *from += steps;
    events.into_iter().map(|(_, _, e)| e).collect()
}

#[test]
fn rolling_key_rotation_in_two_steps_never_splits_the_cluster() {
    let t0 = Instant::now();
    let mut nodes: Vec<Membership> = ["a", "b", "c"].iter().map(|n| node(n, 1, t0)).collect();
    let mut step = 0;
    let joined = settle(&mut nodes, t0, &mut step, 100);
    assert_eq!(joined.len(), 6);
    // Rollout 1: one node at a time also accepts the new key (still sends the old one).
    for i in 0..nodes.len() {
        nodes[i].set_previous_secret(Some(NEW_SECRET)).unwrap();
        assert_eq!(settle(&mut nodes, t0, &mut step, 100), vec![]);
    }
    // Rollout 2: one node at a time sends the new key, accepting the old one.
    for i in 0..nodes.len() {
        nodes[i].rotate_secret(NEW_SECRET).unwrap();
        assert_eq!(settle(&mut nodes, t0, &mut step, 100), vec![]);
    }
    // Done: the old key can go.
    for n in &mut nodes {
        n.set_previous_secret(None).unwrap();
    }
    assert_eq!(settle(&mut nodes, t0, &mut step, 100), vec![]);
    assert!(nodes.iter().all(|n| n.alive_members().count() == 3));
}

#[test]
fn rotating_without_the_first_rollout_splits_the_cluster() {
    // The negative control of the test above: a speaker that does not accept the new key yet
    // loses a peer that already sends it.
    let t0 = Instant::now();
    let (mut a, mut b) = (node("a", 1, t0), node("b", 1, t0));
    let hello = a.poll_transmit(t0, WALL).unwrap();
    assert!(b.handle_datagram(&hello, t0, WALL).unwrap().is_some());
    a.rotate_secret(NEW_SECRET).unwrap();
    let rotated = a.poll_transmit(t0 + ms(100), WALL).unwrap();
    assert_eq!(
        b.handle_datagram(&rotated, t0 + ms(100), WALL),
        Err(LivenessError::BadTag)
    );
    assert_eq!(b.tick(t0 + ms(700)), vec![MemberEvent::Died("a".into())]);
    // After rollout 1 the same datagram is fine.
    let mut c = node("c", 1, t0);
    c.set_previous_secret(Some(NEW_SECRET)).unwrap();
    assert!(c.handle_datagram(&rotated, t0 + ms(100), WALL).is_ok());
}

#[test]
fn a_live_peer_is_bound_to_its_address() {
    let t0 = Instant::now();
    let mut b = node("b", WALL, t0);
    let (home, elsewhere): (IpAddr, IpAddr) = ([127, 0, 0, 2].into(), [127, 0, 0, 3].into());
    let hb = |seq| datagram("a", WALL, seq, SECRET);
    assert!(b.handle_datagram_from(&hb(1), home, t0, WALL).is_ok());
    assert_eq!(
        b.handle_datagram_from(&hb(2), elsewhere, t0 + ms(100), WALL),
        Err(LivenessError::AddressMismatch {
            name: "a".into(),
            from: elsewhere,
            bound: home,
        })
    );
    assert_eq!(b.stats().address_mismatch, 1);
    // The refused datagram did not advance the stream: the real sender's next one is fine.
    assert!(
        b.handle_datagram_from(&hb(2), home, t0 + ms(200), WALL)
            .is_ok()
    );
    // Once the peer is gone the binding ends (its address may really have changed).
    assert_eq!(b.tick(t0 + ms(900)), vec![MemberEvent::Died("a".into())]);
    assert_eq!(
        b.handle_datagram_from(&hb(3), elsewhere, t0 + ms(910), WALL),
        Ok(Some(MemberEvent::Joined("a".into())))
    );
    assert!(matches!(
        b.handle_datagram_from(&hb(4), home, t0 + ms(920), WALL),
        Err(LivenessError::AddressMismatch { .. })
    ));
}
