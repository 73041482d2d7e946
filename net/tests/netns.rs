//! Real ARP/NDP in network namespaces, checked with `arping` (Habets) and `ndisc6`.
//!
//! Needs root (or CAP_NET_ADMIN + CAP_NET_RAW), `ip`, `arping` and `ndisc6`; runs only with
//! `FERROLB_NETNS_TESTS=1`, otherwise it passes without doing anything. All traffic stays on a
//! veth pair between two namespaces created here (`ferrolb-l2-test-<pid>-{a,b}`), which are
//! deleted on every exit path (guard `Drop`). Every command is bounded by `timeout`.
//!
//! ```text
//! FERROLB_NETNS_TESTS=1 cargo test -p ferrolb-net --test netns -- --nocapture
//! ```

mod common;

use std::{thread::sleep, time::Duration};

use common::{Netns, enabled, must, run};

const VIP4: &str = "192.0.2.100";
const VIP6: &str = "fd00:77::100";

#[test]
fn arp_and_ndp_answered_in_netns() {
    if !enabled() {
        eprintln!("skipped: set FERROLB_NETNS_TESTS=1 (needs root, arping, ndisc6)");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (
        format!("ferrolb-l2-test-{pid}-ra"),
        format!("ferrolb-l2-test-{pid}-rb"),
    );
    let (if_a, if_b) = (
        format!("flb{}ra", pid % 100_000),
        format!("flb{}rb", pid % 100_000),
    );
    let mut rig = Netns::default();
    rig.add(&a);
    rig.add(&b);
    must(&[
        "ip", "link", "add", &if_a, "netns", &a, "type", "veth", "peer", "name", &if_b, "netns", &b,
    ]);
    must(&["ip", "-n", &a, "addr", "add", "192.0.2.1/24", "dev", &if_a]);
    must(&["ip", "-n", &b, "addr", "add", "192.0.2.2/24", "dev", &if_b]);
    must(&[
        "ip",
        "-n",
        &a,
        "addr",
        "add",
        "fd00:77::1/64",
        "dev",
        &if_a,
        "nodad",
    ]);
    must(&[
        "ip",
        "-n",
        &b,
        "addr",
        "add",
        "fd00:77::2/64",
        "dev",
        &if_b,
        "nodad",
    ]);
    must(&["ip", "-n", &a, "link", "set", &if_a, "up"]);
    must(&["ip", "-n", &b, "link", "set", &if_b, "up"]);
    let mac = rig.mac(&a, &if_a);

    let cap = rig.spawn(&b, &["capture", "--iface", &if_b, "--secs", "4"]);
    sleep(Duration::from_millis(300));
    let ans = rig.spawn(
        &a,
        &[
            "answer", "--iface", &if_a, "--ipv4", VIP4, "--ipv6", VIP6, "--secs", "8",
        ],
    );
    sleep(Duration::from_millis(500));

    // ARP: every reply carries the responder's MAC.
    let out = must(&[
        "ip", "netns", "exec", &b, "arping", "-i", &if_b, "-c", "3", "-r", VIP4,
    ]);
    let macs: Vec<String> = out.lines().map(|l| l.trim().to_lowercase()).collect();
    assert!(!macs.is_empty(), "arping got no reply");
    assert!(
        macs.iter().all(|m| *m == mac),
        "arping saw {macs:?}, want {mac}"
    );

    // An IP we do not own stays silent (arping exits non-zero without replies).
    let silent = run(&[
        "ip",
        "netns",
        "exec",
        &b,
        "arping",
        "-i",
        &if_b,
        "-c",
        "2",
        "-r",
        "192.0.2.101",
    ]);
    assert!(
        !silent.status.success() && silent.stdout.is_empty(),
        "unowned IP was answered"
    );

    // NDP: ndisc6 resolves the VIP to our MAC.
    let out = must(&[
        "ip", "netns", "exec", &b, "ndisc6", "-q", "-r", "3", VIP6, &if_b,
    ]);
    assert_eq!(out.trim().to_lowercase(), mac, "ndisc6 answer");

    // Gratuitous frames as MetalLB sends them: ARP request + reply to broadcast with
    // sender = target = VIP, and an unsolicited NA to ff02::1 with S=0, O=1.
    let captured = rig.wait_output(cap, true);
    let want_req = format!(
        "arp Request eth_dst ff:ff:ff:ff:ff:ff sender {mac} {VIP4} target ff:ff:ff:ff:ff:ff {VIP4}"
    );
    let want_rep = format!(
        "arp Reply eth_dst ff:ff:ff:ff:ff:ff sender {mac} {VIP4} target ff:ff:ff:ff:ff:ff {VIP4}"
    );
    let want_na = format!("na target {VIP6} lla {mac} dst ff02::1 r=0 s=0 o=1");
    for want in [&want_req, &want_rep, &want_na] {
        assert!(
            captured.lines().any(|l| l == want),
            "missing {want:?} in capture:\n{captured}"
        );
    }

    let answered = rig.wait_output(ans, true);
    assert!(
        answered.contains(&format!("arp-reply {VIP4} is-at {mac}")),
        "{answered}"
    );
    assert!(
        answered.contains(&format!("na-reply {VIP6} is-at {mac}")),
        "{answered}"
    );
    // The BPF filter drops our own outgoing frames: we never answer our own gratuitous request.
    assert!(
        !answered.contains(&format!("to {mac}")),
        "answered itself:\n{answered}"
    );
}
