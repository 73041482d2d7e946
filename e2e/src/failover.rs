//! Failover measurement on the rig, shared by `tests/l2.rs` and `tests/l2_bench.rs`: the
//! client-side ARP/NDP probe (`ferrolb-net-responder probe`, one request every 10 ms) and its
//! analysis (who answered when, takeover time, largest reply gap, overlaps), the three ways a
//! trial takes the announcing node away ([`Failure`]: `kill -9`, SIGTERM, a blackholed switch
//! port), the heal of a blackhole, and percentiles / `/proc` usage for the benchmark reports.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};

use crate::l2::{CLIENT_SRC, Speakers};
use crate::procs::binary;

/// Runs the client-side probe (ARP request or NS every 10 ms) for `secs` in the background.
pub fn start_probe(ip: &str, secs: u32) -> Result<Child> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &crate::instance_ns("client")])
        .arg(binary("ferrolb-net-responder")?)
        .args(["probe", "--iface", "eth0", "--interval-ms", "10"])
        .args(["--secs", &secs.to_string()]);
    if ip.contains(':') {
        cmd.args(["--ipv6", ip]);
    } else {
        cmd.args(["--ipv4", ip, "--src", CLIENT_SRC]);
    }
    Ok(cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?)
}

/// `(unix ns, mac)` replies printed by a finished probe.
pub fn probe_replies(child: Child) -> Result<Vec<(u128, String)>> {
    let out = child.wait_with_output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("reply")).then_some(())?;
            let t = it.next()?.parse().ok()?;
            Some((t, it.next()?.to_lowercase()))
        })
        .collect())
}

/// Wall-clock time in ns since the epoch (the probe prints the same clock).
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Two different MACs answering within `window` of each other after `from`.
pub fn overlap(
    replies: &[(u128, String)],
    from: u128,
    window: Duration,
) -> Option<(u128, String, String)> {
    let w = window.as_nanos();
    let after: Vec<&(u128, String)> = replies.iter().filter(|(t, _)| *t >= from).collect();
    after.windows(2).find_map(|p| {
        (p[0].1 != p[1].1 && p[1].0 - p[0].0 < w).then(|| (p[1].0, p[0].1.clone(), p[1].1.clone()))
    })
}

/// The figures of one failover trial.
pub struct Trial {
    /// Failure → first reply with another MAC.
    pub failover: Duration,
    /// Largest gap between consecutive replies after the failure.
    pub max_gap: Duration,
    /// The old owner's MAC answered again after the first reply from the new one: two MACs
    /// answered for the IP at once, as the client saw it.
    pub both_answered: bool,
    /// How many other MACs answered after the failure: 1 for a clean takeover, more when the
    /// IP moved again within the probe (a false failover among the survivors).
    pub movers: usize,
}

/// Probe length of a trial (the failure comes 800 ms in) unless the caller picks another.
pub const PROBE_SECS: u32 = 3;

/// Kills (or stops) the announcing speaker while probing; returns the failover figures.
pub fn failover_trial(
    speakers: &mut Speakers,
    ip: &str,
    owner: &str,
    owner_mac: &str,
    graceful: bool,
) -> Result<Trial> {
    failover_trial_within(speakers, ip, owner, owner_mac, graceful, PROBE_SECS)
}

/// [`failover_trial`] with a probe of `secs` seconds (a slower failover needs a longer one).
pub fn failover_trial_within(
    speakers: &mut Speakers,
    ip: &str,
    owner: &str,
    owner_mac: &str,
    graceful: bool,
    secs: u32,
) -> Result<Trial> {
    let probe = start_probe(ip, secs)?;
    std::thread::sleep(Duration::from_millis(800));
    let t0 = now_ns();
    if graceful {
        speakers.stop(owner)?;
    } else {
        speakers.kill(owner);
    }
    let replies = probe_replies(probe)?;
    let trial = analyse_takeover(&replies, t0, owner_mac)?;
    if !graceful {
        // After a crash the dead node cannot answer: the old MAC must be gone for good.
        let first_new = t0 + trial.failover.as_nanos();
        ensure!(
            !replies
                .iter()
                .any(|(t, m)| *t > first_new && m == owner_mac),
            "the crashed owner's MAC answered after the takeover"
        );
    }
    Ok(trial)
}

/// The `q` quantile (0..=1, nearest rank) of `sorted`, in ms; 0 when empty.
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// `n p50 p99 max min` of durations, in ms.
pub fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| quantile_ms(&v, q);
    format!(
        "n={} p50={:.1}ms p99={:.1}ms max={:.1}ms min={:.1}ms",
        v.len(),
        p(0.5),
        p(0.99),
        p(1.0),
        p(0.0)
    )
}

/// `(rss KiB, cpu seconds)` of a process from /proc.
pub fn proc_usage(pid: u32) -> Result<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((rss, ticks as f64 / 100.0))
}

/// Name of the rig's bridge port of `node` in the LAN netns: `v<20+i>` for `node-<i>` (the host
/// end of the node's `eth0` veth, see `rig.sh attach_host`).
pub fn bridge_port(node: &str) -> Result<String> {
    let i: usize = node
        .trim_start_matches("node-")
        .parse()
        .with_context(|| format!("not a rig node name: {node}"))?;
    Ok(format!("v{}", 20 + i))
}

/// Runs `nft -f -` with `script` inside network namespace `ns`.
pub(crate) fn nft(ns: &str, script: &str) -> Result<()> {
    use std::io::Write as _;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "nft in {ns} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// A node cut off the LAN like a failed switch port: every frame from and to the node's bridge
/// port is dropped (nftables `bridge` family, forward hook, in the rig's LAN netns — ARP, NDP,
/// heartbeats, traffic, both directions), while the node, its link state and its speaker stay
/// up. Only the rig's own LAN namespace is touched. Dropping the guard heals the link, so a
/// failing test never leaves a node blackholed.
pub struct Blackhole {
    lan_ns: String,
    table: String,
    /// The node whose link is cut.
    pub node: String,
    active: bool,
}

impl Blackhole {
    /// Cuts `node`'s link; returns once the drop rules are committed.
    pub fn cut(node: &str) -> Result<Self> {
        let port = bridge_port(node)?;
        let lan_ns = crate::instance_ns("lan");
        let table = format!("flb_e2e_blackhole_{port}");
        // A table left behind by a killed test run would make `add table` a no-op merge: start
        // from scratch.
        let _ = nft(&lan_ns, &format!("delete table bridge {table}\n"));
        nft(
            &lan_ns,
            &format!(
                "table bridge {table} {{\n  chain port {{\n    type filter hook forward priority -200; policy accept;\n    iifname \"{port}\" drop\n    oifname \"{port}\" drop\n  }}\n}}\n"
            ),
        )?;
        Ok(Blackhole {
            lan_ns,
            table,
            node: node.to_string(),
            active: true,
        })
    }

    /// Restores the link (idempotent).
    pub fn heal(&mut self) -> Result<()> {
        if self.active {
            nft(
                &self.lan_ns,
                &format!("delete table bridge {}\n", self.table),
            )?;
            self.active = false;
        }
        Ok(())
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        if let Err(e) = self.heal() {
            eprintln!("healing the blackhole of {} failed: {e:#}", self.node);
        }
    }
}

/// How a failover trial takes the announcing node away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `kill -9` of its speaker.
    Crash,
    /// SIGTERM: the speaker hands over (make-before-break) and exits.
    Graceful,
    /// Its LAN link is blackholed ([`Blackhole`]); the speaker keeps running.
    Blackhole,
}

impl Failure {
    /// Parses `crash`, `graceful` or `blackhole`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "crash" => Failure::Crash,
            "graceful" => Failure::Graceful,
            "blackhole" => Failure::Blackhole,
            other => bail!("unknown failure kind {other:?} (crash, graceful, blackhole)"),
        })
    }

    /// The name [`Failure::parse`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Crash => "crash",
            Failure::Graceful => "graceful",
            Failure::Blackhole => "blackhole",
        }
    }
}

/// [`failover_trial`] for any [`Failure`]. A blackhole is returned still in place: heal it with
/// [`Blackhole::heal`] or [`heal_trial`] (or by dropping it). After a blackhole the cut node's
/// MAC must never reach the client (a check of the blackhole itself).
pub fn failure_trial(
    speakers: &mut Speakers,
    ip: &str,
    owner: &str,
    owner_mac: &str,
    failure: Failure,
) -> Result<(Trial, Option<Blackhole>)> {
    failure_trial_within(speakers, ip, owner, owner_mac, failure, PROBE_SECS)
}

/// [`failure_trial`] with a probe of `secs` seconds. `speakers` only needs the processes
/// (`procs`): another implementation's speakers fit too (MetalLB's, `crate::metallb`).
pub fn failure_trial_within(
    speakers: &mut Speakers,
    ip: &str,
    owner: &str,
    owner_mac: &str,
    failure: Failure,
    secs: u32,
) -> Result<(Trial, Option<Blackhole>)> {
    let within =
        |s: &mut Speakers, graceful| failover_trial_within(s, ip, owner, owner_mac, graceful, secs);
    match failure {
        Failure::Crash => Ok((within(speakers, false)?, None)),
        Failure::Graceful => Ok((within(speakers, true)?, None)),
        Failure::Blackhole => {
            let probe = start_probe(ip, secs)?;
            std::thread::sleep(Duration::from_millis(800));
            let bh = Blackhole::cut(owner)?;
            // The ruleset commit is the last thing nft does: the link is cut by now.
            let t0 = now_ns();
            let replies = probe_replies(probe)?;
            let trial = analyse_takeover(&replies, t0, owner_mac)?;
            ensure!(
                !replies
                    .iter()
                    .any(|(t, m)| *t > t0 + 5_000_000 && m == owner_mac),
                "the blackholed owner's MAC reached the client: {replies:?}"
            );
            Ok((trial, Some(bh)))
        }
    }
}

/// Failure at `t0` → first reply with another MAC, and the largest gap between replies after
/// `t0`; fails when no other MAC answered or when two other MACs did.
pub fn analyse_takeover(replies: &[(u128, String)], t0: u128, owner_mac: &str) -> Result<Trial> {
    let trial = measure_takeover(replies, t0, owner_mac)?;
    ensure!(
        trial.movers == 1,
        "more than one node took over: {:?}",
        replies
            .iter()
            .filter(|(t, m)| *t >= t0 && m != owner_mac)
            .map(|(_, m)| m)
            .collect::<std::collections::BTreeSet<_>>()
    );
    Ok(trial)
}

/// [`analyse_takeover`] for benchmarks that count a second move instead of failing on it
/// ([`Trial::movers`]); fails only when no other MAC answered.
pub fn measure_takeover(replies: &[(u128, String)], t0: u128, owner_mac: &str) -> Result<Trial> {
    let first_new = replies
        .iter()
        .find(|(t, m)| *t >= t0 && m != owner_mac)
        .with_context(|| format!("no other MAC answered within the probe; replies: {replies:?}"))?;
    let others: std::collections::BTreeSet<&str> = replies
        .iter()
        .filter(|(t, m)| *t >= t0 && m != owner_mac)
        .map(|(_, m)| m.as_str())
        .collect();
    let mut max_gap = 0u128;
    let mut last = t0;
    for (t, _) in replies.iter().filter(|(t, _)| *t >= t0) {
        max_gap = max_gap.max(t - last);
        last = *t;
    }
    let both_answered = replies
        .iter()
        .any(|(t, m)| *t > first_new.0 && m == owner_mac);
    Ok(Trial {
        failover: Duration::from_nanos(u64::try_from(first_new.0 - t0).unwrap_or(u64::MAX)),
        max_gap: Duration::from_nanos(u64::try_from(max_gap).unwrap_or(u64::MAX)),
        both_answered,
        movers: others.len(),
    })
}

/// What the client saw when a blackholed owner's link came back.
#[derive(Debug, Clone)]
pub struct Heal {
    /// Heal → first reply from the returning owner's MAC (`None`: it did not answer).
    pub owner_from: Option<Duration>,
    /// Heal → last reply from the interim owner's MAC (zero if it never answered after).
    pub interim_until: Duration,
    /// How long both MACs answered: from the returning owner's first reply to the interim
    /// owner's last one (zero when the interim owner stopped before the owner started).
    pub overlap: Duration,
    /// Replies after the heal from any other MAC.
    pub strangers: usize,
}

/// Heals `bh` while probing `ip` for `secs` (starting 500 ms before the heal) and reports who
/// answered when.
pub fn heal_trial(
    mut bh: Blackhole,
    ip: &str,
    owner_mac: &str,
    interim_mac: &str,
    secs: u32,
) -> Result<Heal> {
    let probe = start_probe(ip, secs)?;
    std::thread::sleep(Duration::from_millis(500));
    let t0 = now_ns();
    bh.heal()?;
    let replies = probe_replies(probe)?;
    let after = |t: u128| Duration::from_nanos(u64::try_from(t - t0).unwrap_or(u64::MAX));
    let owner_first = replies
        .iter()
        .find(|(t, m)| *t >= t0 && m == owner_mac)
        .map(|(t, _)| *t);
    let interim_last = replies
        .iter()
        .filter(|(t, m)| *t >= t0 && m == interim_mac)
        .map(|(t, _)| *t)
        .max();
    let strangers = replies
        .iter()
        .filter(|(t, m)| *t >= t0 && m != owner_mac && m != interim_mac)
        .count();
    let overlap = match (owner_first, interim_last) {
        (Some(o), Some(i)) if i > o => Duration::from_nanos(u64::try_from(i - o).unwrap_or(0)),
        _ => Duration::ZERO,
    };
    Ok(Heal {
        owner_from: owner_first.map(after),
        interim_until: interim_last.map(after).unwrap_or_default(),
        overlap,
        strangers,
    })
}
