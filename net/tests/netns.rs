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

use std::{
    process::{Child, Command, Output, Stdio},
    thread::sleep,
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-net-responder");
const VIP4: &str = "192.0.2.100";
const VIP6: &str = "fd00:77::100";

fn enabled() -> bool {
    std::env::var("FERROLB_NETNS_TESTS").is_ok_and(|v| v == "1")
}

fn run(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("20")
        .args(args)
        .output()
        .expect("spawn command")
}

fn must(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair; removed on drop.
struct Rig {
    a: String,
    b: String,
    if_a: String,
    if_b: String,
    children: Vec<Option<Child>>,
}

impl Rig {
    fn new(tag: &str) -> Self {
        let pid = std::process::id();
        let rig = Rig {
            a: format!("ferrolb-l2-test-{pid}-{tag}a"),
            b: format!("ferrolb-l2-test-{pid}-{tag}b"),
            if_a: format!("flb{}{tag}a", pid % 100_000),
            if_b: format!("flb{}{tag}b", pid % 100_000),
            children: Vec::new(),
        };
        for ns in [&rig.a, &rig.b] {
            must(&["ip", "netns", "add", ns]);
            // No DAD: addresses are usable at once. Kernel must not answer ARP for the VIP
            // either (testbed.md §6.3): the VIP is never assigned, and arp_ignore=1 to be safe.
            must(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
            ]);
            must(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
            must(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv4.conf.all.arp_ignore=1",
            ]);
            must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        must(&[
            "ip", "link", "add", &rig.if_a, "netns", &rig.a, "type", "veth", "peer", "name",
            &rig.if_b, "netns", &rig.b,
        ]);
        must(&[
            "ip",
            "-n",
            &rig.a,
            "addr",
            "add",
            "192.0.2.1/24",
            "dev",
            &rig.if_a,
        ]);
        must(&[
            "ip",
            "-n",
            &rig.b,
            "addr",
            "add",
            "192.0.2.2/24",
            "dev",
            &rig.if_b,
        ]);
        must(&[
            "ip",
            "-n",
            &rig.a,
            "addr",
            "add",
            "fd00:77::1/64",
            "dev",
            &rig.if_a,
            "nodad",
        ]);
        must(&[
            "ip",
            "-n",
            &rig.b,
            "addr",
            "add",
            "fd00:77::2/64",
            "dev",
            &rig.if_b,
            "nodad",
        ]);
        must(&["ip", "-n", &rig.a, "link", "set", &rig.if_a, "up"]);
        must(&["ip", "-n", &rig.b, "link", "set", &rig.if_b, "up"]);
        rig
    }

    fn mac_a(&self) -> String {
        must(&[
            "ip",
            "netns",
            "exec",
            &self.a,
            "cat",
            &format!("/sys/class/net/{}/address", self.if_a),
        ])
        .trim()
        .to_lowercase()
    }

    fn spawn(&mut self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("timeout")
            .args(["30", "ip", "netns", "exec", ns, BIN])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn responder");
        self.children.push(Some(child));
        self.children.len() - 1
    }

    fn wait_output(&mut self, idx: usize) -> String {
        let child = self.children[idx].take().expect("child already waited for");
        let out = child.wait_with_output().expect("wait responder");
        assert!(
            out.status.success(),
            "responder failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.a, &self.b] {
            // `ip netns del` does nothing while processes live in the namespace (testbed §6.2).
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn arp_and_ndp_answered_in_netns() {
    if !enabled() {
        eprintln!("skipped: set FERROLB_NETNS_TESTS=1 (needs root, arping, ndisc6)");
        return;
    }
    let mut rig = Rig::new("r");
    let mac = rig.mac_a();
    let (a, b, if_a, if_b) = (
        rig.a.clone(),
        rig.b.clone(),
        rig.if_a.clone(),
        rig.if_b.clone(),
    );

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
    let captured = rig.wait_output(cap);
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

    let answered = rig.wait_output(ans);
    assert!(
        answered.contains(&format!("arp-reply {VIP4} is-at {mac}")),
        "{answered}"
    );
    assert!(
        answered.contains(&format!("na-reply {VIP6} is-at {mac}")),
        "{answered}"
    );
}
