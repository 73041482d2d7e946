use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::net::SocketAddr;

fn report(peer: &str, state: State, prefixes: u64) -> SessionReport {
    SessionReport {
        peer: peer.into(),
        address: "192.0.2.1:179".parse::<SocketAddr>().expect("addr"),
        state,
        established_since: None,
        prefixes_sent: prefixes,
        pending_prefixes: 0,
        updates_sent: 0,
        last_error: None,
    }
}

/// A DNS-1123 subdomain (what the API server accepts as an object name).
fn is_dns_subdomain(s: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    s.len() <= 253 && s.split('.').all(label_ok)
}

#[test]
fn names_are_readable_deterministic_and_unambiguous() {
    let n = session_name("node-1", "router-a");
    assert!(n.starts_with("node-1-router-a-"), "{n}");
    assert_eq!(n.len(), "node-1-router-a-".len() + 8);
    assert_eq!(n, session_name("node-1", "router-a"), "deterministic");
    assert!(is_dns_subdomain(&n));
    // Same readable part, different (node, peer): the hash keeps them apart.
    assert_ne!(session_name("a-b", "c"), session_name("a", "b-c"));
    assert_ne!(session_name("a.b", "c"), session_name("a", "b.c"));
}

#[test]
fn long_names_are_cut_to_a_valid_name() {
    let node = format!("{}.example.com", "n".repeat(230));
    let peer = format!("peer-{}", "p".repeat(240));
    let n = session_name(&node, &peer);
    assert_eq!(n.len(), 253, "{n}");
    assert!(is_dns_subdomain(&n), "{n}");
    assert_ne!(n, session_name(&node, &format!("{peer}x")), "hash differs");
    // A cut falling on a separator does not leave `-` or `.` before the hash.
    for len in 235..250 {
        let node = "a.".repeat(len / 2);
        let node = node.trim_end_matches('.');
        let n = session_name(node, "b");
        assert!(is_dns_subdomain(&n), "{n}");
    }
}

#[test]
fn labels_name_node_and_peer_when_it_fits() {
    let l = session_labels("node-1", "router-a");
    assert_eq!(l["metallb.io/node"], "node-1");
    assert_eq!(l["ferrolb.io/peer"], "router-a");
    let long = "p".repeat(64);
    let l = session_labels("node-1", &long);
    assert!(
        !l.contains_key("ferrolb.io/peer"),
        "not a valid label value"
    );
    assert_eq!(l["metallb.io/node"], "node-1");
}

#[test]
fn status_carries_the_report_with_frr_state_names() {
    let mut s = report("router-a", State::Established, 12);
    s.address = "[2001:db8::1]:1179".parse().expect("addr");
    s.updates_sent = 4;
    s.established_since = Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_765_000_000_250));
    s.last_error = Some("hold timer expired".into());
    let st = session_status("node-1", &s);
    assert_eq!(st.node.as_deref(), Some("node-1"));
    assert_eq!(st.peer.as_deref(), Some("2001:db8::1"));
    assert_eq!(st.peer_port, Some(1179));
    assert_eq!(st.peer_name.as_deref(), Some("router-a"));
    assert_eq!(st.bgp_status.as_deref(), Some("Established"));
    assert_eq!(
        st.established_since.as_deref(),
        Some("2025-12-06T05:46:40Z"),
        "RFC 3339, whole seconds"
    );
    assert_eq!((st.prefixes_sent, st.updates_sent), (Some(12), Some(4)));
    assert_eq!(st.last_error.as_deref(), Some("hold timer expired"));
    assert_eq!(st.bfd_status, None, "no BFD unless the BFD runtime says so");
    let mut want = wanted("node-1", &[s.clone(), report("router-b", State::Idle, 0)]);
    with_bfd(
        &mut want,
        &BTreeMap::from([("router-a".to_owned(), "up".to_owned())]),
    );
    let by_peer: BTreeMap<&str, Option<&str>> = want
        .values()
        .map(|w| (w.peer.as_str(), w.status.bfd_status.as_deref()))
        .collect();
    assert_eq!(
        by_peer,
        BTreeMap::from([("router-a", Some("up")), ("router-b", None)])
    );
    let names: Vec<&str> = [
        State::Idle,
        State::Connect,
        State::Active,
        State::OpenSent,
        State::OpenConfirm,
    ]
    .into_iter()
    .map(state_name)
    .collect();
    assert_eq!(
        names,
        ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm"]
    );
    let json = serde_json::to_value(&st).expect("json");
    assert_eq!(json["bgpStatus"], "Established");
    assert_eq!(json["prefixesSent"], 12);
    assert_eq!(json["establishedSince"], "2025-12-06T05:46:40Z");
}

/// The object the writer would leave for `w` (owned by `owner`).
fn written(name: &str, node: &str, w: &Wanted, owner: &PodOwner) -> BGPSessionState {
    BGPSessionState {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(session_labels(node, &w.peer)),
            owner_references: Some(owner.references()),
            ..ObjectMeta::default()
        },
        spec: Default::default(),
        status: Some(w.status.clone()),
    }
}

#[test]
fn diff_creates_updates_adopts_and_deletes_only_own_objects() {
    let pod = PodOwner::new(Some("speaker-a".into()), Some("uid-2".into()));
    let old_pod = PodOwner::new(Some("speaker-z".into()), Some("uid-1".into()));
    let sessions = vec![
        report("same", State::Established, 1),
        report("changed", State::Established, 2),
        report("adopted", State::Established, 3),
        report("new", State::Active, 0),
        report("unlabelled", State::Idle, 0),
    ];
    let want = wanted("me", &sessions);
    let name = |p: &str| session_name("me", p);
    let mut changed = written(&name("changed"), "me", &want[&name("changed")], &pod);
    if let Some(s) = changed.status.as_mut() {
        s.bgp_status = Some("Active".into());
    }
    let mut unlabelled = written(&name("unlabelled"), "me", &want[&name("unlabelled")], &pod);
    unlabelled.metadata.labels = None;
    let gone_peer = &wanted("me", &[report("gone", State::Idle, 0)])[&name("gone")];
    let other = &wanted("other", &[report("same", State::Idle, 0)])[&session_name("other", "same")];
    let existing = vec![
        written(&name("same"), "me", &want[&name("same")], &pod),
        changed,
        written(&name("adopted"), "me", &want[&name("adopted")], &old_pod),
        unlabelled,
        written(&name("gone"), "me", gone_peer, &pod),
        written(&session_name("other", "same"), "other", other, &pod),
    ];
    let d = diff("me", &pod, &existing, &want);
    assert_eq!(
        d.delete,
        vec![name("gone")],
        "another node's object is left alone"
    );
    let mut expect = vec![
        (name("adopted"), true),
        (name("changed"), false),
        (name("new"), true),
        (name("unlabelled"), true),
    ];
    expect.sort();
    assert_eq!(d.write, expect);
    // Once written, nothing is left to do.
    let after: Vec<BGPSessionState> = want
        .iter()
        .map(|(n, w)| written(n, "me", w, &pod))
        .collect();
    assert_eq!(diff("me", &pod, &after, &want), SessionDiff::default());
}

#[test]
fn pacer_allows_one_write_per_interval_per_object() {
    let t0 = Instant::now();
    let mut p = Pacer::new(Duration::from_secs(1));
    let w = |n: &str| (n.to_string(), false);
    let (now, due) = p.admit(vec![w("a"), w("b")], t0);
    assert_eq!((now.len(), due), (2, None), "first writes go at once");
    let t = t0 + Duration::from_millis(300);
    let (now, due) = p.admit(vec![w("a")], t);
    assert!(now.is_empty());
    assert_eq!(
        due,
        Some(Duration::from_millis(700)),
        "deferred until the interval ends"
    );
    let (now, _) = p.admit(vec![w("c")], t);
    assert_eq!(now.len(), 1, "other objects are not held back");
    let (now, due) = p.admit(vec![w("a")], t0 + Duration::from_secs(1));
    assert_eq!((now.len(), due), (1, None));
    p.retain(|n| n != "b");
    assert_eq!(p.wait("b", t), None, "a forgotten object is new again");
}

/// Replays a stream of reports through diff + pacing against a simulated API server (the
/// objects as last written); returns the number of writes and the objects at the end, after
/// every deferred write came due.
fn replay(reports: &[(Duration, Vec<SessionReport>)]) -> (usize, BTreeMap<String, Wanted>) {
    let t0 = Instant::now();
    let owner = PodOwner::default();
    let mut pacer = Pacer::new(MIN_INTERVAL);
    let mut server: BTreeMap<String, Wanted> = BTreeMap::new();
    let mut writes = 0;
    let mut pass =
        |at: Duration, sessions: &[SessionReport], server: &mut BTreeMap<String, Wanted>| {
            let want = wanted("me", sessions);
            let existing: Vec<BGPSessionState> = server
                .iter()
                .map(|(n, w)| written(n, "me", w, &owner))
                .collect();
            let d = diff("me", &owner, &existing, &want);
            let (now, due) = pacer.admit(d.write, t0 + at);
            for (name, _) in now {
                server.insert(name.clone(), want[&name].clone());
                writes += 1;
            }
            due
        };
    let mut due = None;
    let mut last = (Duration::ZERO, Vec::new());
    for (at, sessions) in reports {
        due = pass(*at, sessions, &mut server);
        last = (*at, sessions.clone());
    }
    // No more reports: the loop wakes when the deferred write is due.
    let (mut at, sessions) = last;
    for _ in 0..10 {
        let Some(d) = due else { break };
        at += d;
        due = pass(at, &sessions, &mut server);
    }
    assert_eq!(due, None, "everything written in the end");
    (writes, server)
}

#[test]
fn a_flapping_session_is_written_at_most_once_a_second_and_ends_current() {
    // 10 s of a session flapping every 50 ms (200 reports).
    let reports: Vec<(Duration, Vec<SessionReport>)> = (0..200u64)
        .map(|i| {
            let state = if i % 2 == 0 {
                State::Established
            } else {
                State::Active
            };
            (Duration::from_millis(50 * i), vec![report("r", state, i)])
        })
        .collect();
    let (writes, server) = replay(&reports);
    assert!(writes <= 11, "{writes} writes in 10 s");
    let last = &server[&session_name("me", "r")].status;
    assert_eq!(
        last.bgp_status.as_deref(),
        Some("Active"),
        "last state written"
    );
    assert_eq!(last.prefixes_sent, Some(199));
}

#[test]
fn a_burst_of_1000_services_costs_a_few_writes_per_session() {
    // Three sessions whose prefix counts climb to 1,000 in 1,000 reports over 2 s.
    let reports: Vec<(Duration, Vec<SessionReport>)> = (1..=1000u64)
        .map(|i| {
            let s = ["a", "b", "c"].map(|p| report(p, State::Established, i));
            (Duration::from_millis(2 * i), s.to_vec())
        })
        .collect();
    let (writes, server) = replay(&reports);
    assert!(writes <= 3 * 3, "{writes} writes for 3 sessions over 2 s");
    for p in ["a", "b", "c"] {
        assert_eq!(
            server[&session_name("me", p)].status.prefixes_sent,
            Some(1000)
        );
    }
}
