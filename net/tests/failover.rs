//! End-to-end Layer-2 failover with two miniature speakers (`ferrolb-net-responder speaker`)
//! and a client probing the VIP with ARP every 10 ms, all in network namespaces created here:
//!
//! ```text
//!  ns n1 (node-1, 192.0.2.11) ──veth──┐
//!                                     br0 in ns c (client, 192.0.2.3)
//!  ns n2 (node-2, 192.0.2.12) ──veth──┘
//! ```
//!
//! - crash: `kill -9` the owner's speaker; measures the time from the kill to the first ARP
//!   reply carrying the other node's MAC (heartbeat dead timeout 600 ms + election + GARP).
//! - graceful: the owner's speaker reaches the end of its run and leaves (make-before-break);
//!   measures the largest gap between consecutive replies seen by the client.
//!
//! Runs only with `FERROLB_NETNS_TESTS=1` (root needed). Results are printed; run with
//! `-- --nocapture --test-threads=1` to see them.

mod common;

use std::{
    net::{IpAddr, Ipv4Addr},
    thread::sleep,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::{Netns, enabled, must};
use ferrolb_l2::election::{NodeCandidate, TrafficPolicy, elect};

const VIP: &str = "192.0.2.100";
const VIP6: &str = "fd00:77::100";
const SECRET: &str = "ferrolb-netns-test-secret-0123456789";

struct Cluster {
    rig: Netns,
    nodes: [(String, String, String); 2], // (netns, iface, mac)
    client: (String, String),             // (netns, bridge)
}

fn cluster(tag: &str) -> Cluster {
    let pid = std::process::id();
    let short = pid % 100_000;
    let mut rig = Netns::default();
    let c = format!("ferrolb-l2-test-{pid}-{tag}c");
    rig.add(&c);
    must(&[
        "ip",
        "-n",
        &c,
        "link",
        "add",
        "br0",
        "type",
        "bridge",
        "forward_delay",
        "0",
    ]);
    must(&["ip", "-n", &c, "link", "set", "br0", "up"]);
    must(&["ip", "-n", &c, "addr", "add", "192.0.2.3/24", "dev", "br0"]);
    let mut nodes = Vec::new();
    for i in 1..=2 {
        let ns = format!("ferrolb-l2-test-{pid}-{tag}{i}");
        let (ifn, ifc) = (
            format!("flb{short}{tag}{i}"),
            format!("flb{short}{tag}{i}c"),
        );
        rig.add(&ns);
        must(&[
            "ip", "link", "add", &ifn, "netns", &ns, "type", "veth", "peer", "name", &ifc, "netns",
            &c,
        ]);
        must(&["ip", "-n", &c, "link", "set", &ifc, "master", "br0", "up"]);
        must(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("192.0.2.1{i}/24"),
            "dev",
            &ifn,
        ]);
        must(&["ip", "-n", &ns, "link", "set", &ifn, "up"]);
        let mac = rig.mac(&ns, &ifn);
        nodes.push((ns, ifn, mac));
    }
    let [n1, n2]: [(String, String, String); 2] = nodes.try_into().expect("two nodes");
    Cluster {
        rig,
        nodes: [n1, n2],
        client: (c, "br0".into()),
    }
}

/// Starts node `i`'s speaker for `secs` seconds.
fn start_speaker(cl: &mut Cluster, i: usize, secs: u64) -> usize {
    let (ns, ifn, _) = cl.nodes[i].clone();
    let me = format!("192.0.2.1{}:7946", i + 1);
    let peer = format!("192.0.2.1{}:7946", 2 - i);
    let name = format!("node-{}", i + 1);
    let secs = secs.to_string();
    cl.rig.spawn(
        &ns,
        &[
            "speaker", "--iface", &ifn, "--name", &name, "--bind", &me, "--peer", &peer,
            "--secret", SECRET, "--ipv4", VIP, "--ipv6", VIP6, "--secs", &secs,
        ],
    )
}

/// `(unix_ns, mac)` of every `reply` line of a probe.
fn replies(out: &str) -> Vec<(u128, String)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("reply")).then_some(())?;
            Some((f.next()?.parse().ok()?, f.next()?.to_owned()))
        })
        .collect()
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Index of the node that wins the election for the VIP (computed with ferrolb-l2).
fn expected_owner() -> usize {
    let vip = IpAddr::V4(VIP.parse::<Ipv4Addr>().expect("vip"));
    let nodes = ["node-1", "node-2"].map(NodeCandidate::eligible);
    match elect(vip, TrafficPolicy::Cluster, nodes) {
        Some("node-1") => 0,
        _ => 1,
    }
}

/// Starts an ARP (`v6 = false`) or NDP probe from the client for `secs` seconds.
fn start_probe(cl: &mut Cluster, v6: bool, secs: &str) -> usize {
    let (c, br) = cl.client.clone();
    let target: &[&str] = if v6 {
        &["--ipv6", VIP6]
    } else {
        &["--ipv4", VIP, "--src", "192.0.2.3"]
    };
    let mut args = vec!["probe", "--iface", br.as_str(), "--secs", secs];
    args.extend_from_slice(target);
    cl.rig.spawn(&c, &args)
}

#[test]
fn crash_failover_is_sub_second() {
    if !enabled() {
        eprintln!("skipped: set FERROLB_NETNS_TESTS=1 (needs root)");
        return;
    }
    let mut cl = cluster("x");
    let owner = expected_owner();
    let (s0, s1) = (start_speaker(&mut cl, 0, 12), start_speaker(&mut cl, 1, 12));
    sleep(Duration::from_millis(1500));
    let probes = [
        start_probe(&mut cl, false, "4"),
        start_probe(&mut cl, true, "4"),
    ];
    sleep(Duration::from_millis(1000));
    let t_kill = now_ns();
    cl.rig.kill_all_in(&cl.nodes[owner].0);
    let (old_mac, new_mac) = (cl.nodes[owner].2.clone(), cl.nodes[1 - owner].2.clone());
    let mut worst = 0.0f64;
    for (probe, family) in probes.into_iter().zip(["IPv4/ARP", "IPv6/NDP"]) {
        let out = cl.rig.wait_output(probe, true);
        let r = replies(&out);
        assert!(
            r.iter().any(|(t, m)| *t < t_kill && *m == old_mac),
            "{family}: owner never answered before the kill:\n{out}"
        );
        let first_new = r
            .iter()
            .find(|(t, m)| *t > t_kill && *m == new_mac)
            .map(|(t, _)| *t);
        let first_new =
            first_new.unwrap_or_else(|| panic!("{family}: no takeover by {new_mac}:\n{out}"));
        let ms = (first_new - t_kill) as f64 / 1e6;
        eprintln!(
            "crash failover {family}: {ms:.1} ms (kill -9 of node-{} to first reply from node-{})",
            owner + 1,
            2 - owner
        );
        worst = worst.max(ms);
    }
    let survivor = cl.rig.wait_output(if owner == 0 { s1 } else { s0 }, false);
    eprintln!("survivor log:\n{survivor}");
    // Budget: 600 ms dead timeout + tick + GARP/NA; generous margin for a loaded 2-core CI box.
    assert!(worst < 1500.0, "failover took {worst} ms");
}

#[test]
fn graceful_handover_has_no_gap() {
    if !enabled() {
        eprintln!("skipped: set FERROLB_NETNS_TESTS=1 (needs root)");
        return;
    }
    let mut cl = cluster("g");
    let owner = expected_owner();
    // The owner runs 4 s and then leaves gracefully; the other one runs longer.
    let secs = if owner == 0 { (4, 10) } else { (10, 4) };
    start_speaker(&mut cl, 0, secs.0);
    start_speaker(&mut cl, 1, secs.1);
    sleep(Duration::from_millis(1500));
    let probes = [
        start_probe(&mut cl, false, "5"),
        start_probe(&mut cl, true, "5"),
    ];
    let (old_mac, new_mac) = (cl.nodes[owner].2.clone(), cl.nodes[1 - owner].2.clone());
    for (probe, family) in probes.into_iter().zip(["IPv4/ARP", "IPv6/NDP"]) {
        let out = cl.rig.wait_output(probe, true);
        let r = replies(&out);
        assert!(
            r.iter().any(|(_, m)| *m == old_mac),
            "{family}: owner never answered:\n{out}"
        );
        assert!(
            r.iter().any(|(_, m)| *m == new_mac),
            "{family}: no handover:\n{out}"
        );
        let max_gap_ms = r
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) as f64 / 1e6)
            .fold(0.0, f64::max);
        eprintln!(
            "graceful handover {family}: largest gap between replies {max_gap_ms:.1} ms (probe every 10 ms)"
        );
        assert!(
            max_gap_ms < 250.0,
            "{family}: gap of {max_gap_ms} ms during a graceful handover"
        );
    }
}
