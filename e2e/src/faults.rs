//! Faults on the rig (issue 19), each a guard that undoes itself when dropped, so a failing
//! test never leaves the rig broken:
//!
//! - [`Frozen`]: a rig component frozen with SIGSTOP — the API server (clients' connections
//!   hang, as with a wedged or partitioned API server) or etcd (the API server answers, with
//!   timeouts and errors) — thawed with SIGCONT; only this rig instance's own processes (its
//!   pid files) are touched;
//! - [`Partition`]: speakers' heartbeats dropped between chosen nodes, one way or both
//!   (nftables in the receiving nodes' namespaces, bounded by element timeouts), with
//!   [`macs_within`] / [`mac_changes`] to read what the client's ARP probe saw meanwhile.
//!   A whole node cut off the LAN is `crate::failover::Blackhole`.
//! - [`Burners`]: CPU burners (busy loops) in a node's netns, killed on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::Rig;
use crate::failover::nft;
use crate::l2::node_ip;

/// A frozen rig component; dropping it thaws it.
pub struct Frozen {
    pid: String,
    /// The component (`kube-apiserver`, `etcd`, ...).
    pub name: String,
}

impl Frozen {
    /// Freezes the rig's `name` process (its pid file under the run directory).
    pub fn freeze(rig: &Rig, name: &str) -> Result<Self> {
        let file = rig.run_dir.join(format!("pids/{name}.pid"));
        let pid = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?
            .trim()
            .to_string();
        ensure!(
            pid.parse::<u32>().is_ok(),
            "{}: not a pid: {pid:?}",
            file.display()
        );
        signal(&pid, "-STOP")?;
        Ok(Frozen {
            pid,
            name: name.to_string(),
        })
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Err(e) = signal(&self.pid, "-CONT") {
            eprintln!("thawing {} (pid {}): {e:#}", self.name, self.pid);
        }
    }
}

fn signal(pid: &str, sig: &str) -> Result<()> {
    let st = Command::new("kill").args([sig, pid]).status()?;
    ensure!(st.success(), "kill {sig} {pid} failed ({st})");
    Ok(())
}

/// Heartbeats of chosen rig nodes dropped at chosen other nodes — a partition between
/// speakers, one way or both, while the nodes, their links, ARP/NDP and Service traffic stay
/// up (only the liveness UDP port is filtered). Each receiving node's netns gets an nftables
/// table `inet flb_e2e_partition` whose input chain drops `udp dport <port>` from the senders
/// in a set; [`Partition::cut`] fills the set, [`Partition::heal`] empties it, so a flapping
/// partition costs one `nft` run per receiving node and toggle. Every element carries a
/// timeout ([`PARTITION_TTL`]): a test killed mid-partition heals by itself. Dropping the guard
/// deletes the tables. Only this rig instance's node namespaces are touched.
pub struct Partition {
    /// `(receiving node's netns, sender IPs it drops)`, one entry per receiving node.
    drops: Vec<(String, Vec<String>)>,
    /// Whether the drop rules are in force.
    pub active: bool,
    /// Human description (`node-1 -/-> node-2`, ...).
    pub what: String,
}

/// Upper bound of one cut: the kernel expires the drop elements after it even if the test
/// never heals (every partition test cuts for seconds).
pub const PARTITION_TTL: &str = "60s";
const PARTITION_TABLE: &str = "flb_e2e_partition";

impl Partition {
    /// A partition (not cut yet) in which, for every `(from, to)` pair, node `to` does not
    /// hear node `from`'s heartbeats on UDP port `port`.
    pub fn new(rig: &Rig, pairs: &[(String, String)], port: &str) -> Result<Self> {
        let mut by_receiver: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (from, to) in pairs {
            ensure!(
                from != to,
                "a node cannot be partitioned from itself ({from})"
            );
            let ip = node_ip(node_index(from)?);
            let senders = by_receiver.entry(to.clone()).or_default();
            if !senders.contains(&ip) {
                senders.push(ip);
            }
        }
        let what = pairs
            .iter()
            .map(|(f, t)| format!("{f} -/-> {t}"))
            .collect::<Vec<_>>()
            .join(", ");
        let drops: Vec<(String, Vec<String>)> = by_receiver
            .into_iter()
            .map(|(to, ips)| (rig.node_ns(&to), ips))
            .collect();
        for (ns, _) in &drops {
            // A table left by a killed run: start from scratch.
            let _ = nft(ns, &format!("delete table inet {PARTITION_TABLE}\n"));
            nft(
                ns,
                &format!(
                    "table inet {PARTITION_TABLE} {{\n  set senders {{ type ipv4_addr; flags timeout; }}\n  chain input {{\n    type filter hook input priority -200; policy accept;\n    ip saddr @senders udp dport {port} counter drop\n  }}\n}}\n"
                ),
            )?;
        }
        Ok(Partition {
            drops,
            active: false,
            what,
        })
    }

    /// `to` nodes stop hearing `from` nodes (one way).
    pub fn one_way(rig: &Rig, from: &[String], to: &[String], port: &str) -> Result<Self> {
        let pairs: Vec<(String, String)> = from
            .iter()
            .flat_map(|f| to.iter().map(move |t| (f.clone(), t.clone())))
            .collect();
        Self::new(rig, &pairs, port)
    }

    /// No node hears any node of another group (both ways), e.g. a 2|2 split.
    pub fn groups(rig: &Rig, groups: &[Vec<String>], port: &str) -> Result<Self> {
        let mut pairs = Vec::new();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    pairs.extend(
                        a.iter()
                            .flat_map(|f| b.iter().map(move |t| (f.clone(), t.clone()))),
                    );
                }
            }
        }
        Self::new(rig, &pairs, port)
    }

    /// Starts dropping (idempotent).
    pub fn cut(&mut self) -> Result<()> {
        self.add_drops(PARTITION_TTL)?;
        self.active = true;
        Ok(())
    }

    /// Drops for `d` only: the kernel expires the drop elements after `d` (nftables element
    /// timeouts), so the cut lasts `d` in each receiving node however slowly the test runs
    /// (a flapping partition). Call again only once `d` has passed.
    pub fn cut_for(&mut self, d: Duration) -> Result<()> {
        self.add_drops(&format!("{}ms", d.as_millis().max(1)))
    }

    /// Adds every dropped sender to its receiver's set, expiring after `timeout` (nft syntax).
    fn add_drops(&self, timeout: &str) -> Result<()> {
        for (ns, ips) in &self.drops {
            let elems = ips
                .iter()
                .map(|ip| format!("{ip} timeout {timeout}"))
                .collect::<Vec<_>>()
                .join(", ");
            nft(
                ns,
                &format!("add element inet {PARTITION_TABLE} senders {{ {elems} }}\n"),
            )?;
        }
        Ok(())
    }

    /// Stops dropping (idempotent).
    pub fn heal(&mut self) -> Result<()> {
        for (ns, _) in &self.drops {
            nft(ns, &format!("flush set inet {PARTITION_TABLE} senders\n"))?;
        }
        self.active = false;
        Ok(())
    }

    /// Heartbeat datagrams dropped so far, summed over the receiving nodes (the drop rules'
    /// counters): proves the partition was in force.
    pub fn dropped(&self) -> Result<u64> {
        let mut sum = 0;
        for (ns, _) in &self.drops {
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "nft", "list", "chain", "inet"])
                .args([PARTITION_TABLE, "input"])
                .output()?;
            ensure!(out.status.success(), "nft list chain in {ns} failed");
            let text = String::from_utf8_lossy(&out.stdout);
            let packets = text
                .split_whitespace()
                .skip_while(|w| *w != "packets")
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .with_context(|| format!("no drop counter in {ns}: {text}"))?;
            sum += packets;
        }
        Ok(sum)
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        for (ns, _) in &self.drops {
            if let Err(e) = nft(ns, &format!("delete table inet {PARTITION_TABLE}\n")) {
                eprintln!("healing the partition {} in {ns} failed: {e:#}", self.what);
            }
        }
    }
}

fn node_index(node: &str) -> Result<usize> {
    node.strip_prefix("node-")
        .and_then(|i| i.parse().ok())
        .with_context(|| format!("not a rig node name: {node}"))
}

/// The MACs that answered in `[from, to)` (unix ns), sorted.
pub fn macs_within(replies: &[(u128, String)], from: u128, to: u128) -> BTreeSet<String> {
    replies
        .iter()
        .filter(|(t, _)| (from..to).contains(t))
        .map(|(_, m)| m.clone())
        .collect()
}

/// How often the answering MAC changed from one reply to the next in `[from, to)`: the owner
/// changes a client that believes the latest reply sees (two MACs answering every request
/// count twice per request).
pub fn mac_changes(replies: &[(u128, String)], from: u128, to: u128) -> usize {
    let within: Vec<&String> = replies
        .iter()
        .filter(|(t, _)| (from..to).contains(t))
        .map(|(_, m)| m)
        .collect();
    within.windows(2).filter(|w| w[0] != w[1]).count()
}

/// Busy loops in a node's netns (one process each, `ip netns exec` execs it), each ending by
/// itself after `secs` and killed when dropped.
pub struct Burners(Vec<Child>);

impl Burners {
    /// `count` busy loops in `node`'s netns, each ending by itself after `secs`.
    pub fn start(rig: &Rig, node: &str, count: usize, secs: u64) -> Result<Self> {
        let ns = rig.node_ns(node);
        let mut kids = Vec::new();
        for _ in 0..count {
            let c = Command::new("ip")
                .args(["netns", "exec", &ns, "python3", "-c"])
                .arg(format!(
                    "import time\nend = time.monotonic() + {secs}\nwhile time.monotonic() < end: pass"
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting a CPU burner")?;
            kids.push(c);
        }
        Ok(Burners(kids))
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
