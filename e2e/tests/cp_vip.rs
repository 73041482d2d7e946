//! The speaker's control-plane VIP mode (issue 20) on the rig: three node namespaces, each
//! with an "API server" on `0.0.0.0:6443` and `ferrolb-speaker control-plane` (no Kubernetes
//! client), the client using the VIP.
//!
//! The per-node API server is the rig's real kube-apiserver reached through a per-node TCP
//! relay (socat in the node netns → the rig's in-node relay → the host's kube-apiserver): TLS
//! is end to end with the real server, so `/readyz` over the VIP is answered by a real
//! kube-apiserver, and SIGKILL of a node's relay is that node's API server dying (new
//! connections refused, as after a crash). Three real kube-apiservers against the rig's etcd
//! would prove the same with ~1 GB more memory and a slower rig; see docs/control-plane-vip.md.
//!
//! Checked, in one run (bounded loops, about 30-40 s):
//! - (a) the VIP answers `/readyz` through one owner, and exactly one MAC answers ARP for it;
//! - (b) SIGKILL of the owner's API server moves the VIP: `/readyz` through the VIP answers
//!   again from another node (time printed), the old MAC never answers after the takeover;
//! - (e) a node whose API server is down never gets the VIP back: the second owner's API
//!   server is killed too, the VIP goes to the last healthy node, never to the first one;
//! - (c) the owner's link down (carrier off on its bridge port) moves the VIP to the other
//!   healthy node; after the link returns, one MAC answers again;
//! - (d) never two MACs at once: the ARP prober (`ferrolb-net-responder probe`, 10 ms) runs
//!   through every takeover and the old owner never answers after the new one did.
//!
//! Benchmark (skipped unless `FERROLB_CP_VIP_BENCH_TRIALS=N`): `z_bench_cp_vip`, N trials of
//! "the owner's API server is killed → `/readyz` through the VIP answers again" and of the ARP
//! takeover, p50/p99, with `FERROLB_CP_VIP_BENCH_ARGS` added to the speakers' flags (e.g. the
//! tuned `--heartbeat-interval 50ms --dead-after 250ms --health-interval 50ms --health-fall 2`),
//! and the speakers' RSS.
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::Rig;
use ferrolb_e2e::failover::{analyse_takeover, now_ns, percentiles, probe_replies, start_probe};
use ferrolb_e2e::procs::{Proc, binary};

/// The VIP: on the rig's primary LAN, outside every pool and host address.
const VIP: &str = "172.18.0.99";
/// The API servers' port on every node (kubeadm's).
const API: u16 = 6443;
/// Heartbeat port of the control-plane mode.
const HB_PORT: &str = "7949";

fn node_ip(node: &str) -> String {
    let i: u32 = node.trim_start_matches("node-").parse().unwrap_or(0);
    format!("172.18.0.{}", 20 + i)
}

/// One control-plane node: its API server relay and its speaker.
struct CpNode {
    name: String,
    api: Option<Proc>,
    speaker: Proc,
}

fn start_api(rig: &Rig, node: &str) -> Result<Proc> {
    let upstream = format!("TCP:127.0.0.1:{}", rig.host_port(16443));
    let child = Command::new("ip")
        .args(["netns", "exec", &rig.node_ns(node), "socat"])
        .arg(format!("TCP-LISTEN:{API},bind=0.0.0.0,reuseaddr,fork"))
        .arg(upstream)
        .stdout(Stdio::null())
        .stderr(rig.log_file(&format!("cp-vip-api-{node}"))?)
        .spawn()
        .context("starting socat")?;
    Ok(Proc(child))
}

fn start_speaker(rig: &Rig, node: &str, key: &std::path::Path, extra: &[&str]) -> Result<Proc> {
    let peers: Vec<String> = rig.node_names().iter().map(|n| node_ip(n)).collect();
    let ca = rig.run_dir.join("pki/ca.crt");
    let log = rig.log_file(&format!("cp-vip-speaker-{node}"))?;
    let child = Command::new("ip")
        .args(["netns", "exec", &rig.node_ns(node)])
        .arg(binary("ferrolb-speaker")?)
        .arg("control-plane")
        .args([
            "--vip",
            VIP,
            "--interface",
            "eth0",
            "--host",
            &node_ip(node),
        ])
        .args(["--peers", &peers.join(",")])
        .arg("--heartbeat-key-file")
        .arg(key)
        .args(["--liveness-port", HB_PORT])
        .arg(format!("--apiserver-url=https://127.0.0.1:{API}"))
        .arg("--apiserver-ca-file")
        .arg(ca)
        .args(["--log-level", "info", "--log-format", "text"])
        .args(extra)
        .env_remove("KUBECONFIG")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting ferrolb-speaker control-plane")?;
    Ok(Proc(child))
}

/// `/readyz` through the VIP from the client (the certificate names `kubernetes`).
fn readyz_via_vip(rig: &Rig) -> bool {
    let ca = rig.run_dir.join("pki/ca.crt");
    let ca = ca.to_string_lossy();
    let to = format!("kubernetes:{API}:{VIP}:{API}");
    let url = format!("https://kubernetes:{API}/readyz");
    rig.netns_exec(
        &rig.client_ns(),
        &[
            "curl",
            "-fsS",
            "--max-time",
            "1",
            "--cacert",
            &ca,
            "--connect-to",
            &to,
            &url,
        ],
    )
    .is_ok_and(|b| b.trim() == "ok")
}

/// Waits (bounded by `limit`) until `/readyz` answers through the VIP; returns how long it took.
fn wait_readyz(rig: &Rig, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if readyz_via_vip(rig) {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("/readyz through the VIP did not answer within {limit:?}")
}

/// The node whose MAC answers ARP for the VIP (exactly one must).
fn owner(rig: &Rig, nodes: &[CpNode]) -> Result<String> {
    let macs = rig.arp_who_has(VIP, 3)?;
    ensure!(
        macs.len() == 1,
        "ARP for the VIP: expected one MAC, got {macs:?}"
    );
    for n in nodes {
        if rig.node_mac(&n.name)? == macs[0] {
            return Ok(n.name.clone());
        }
    }
    bail!("the VIP's MAC {} is no node's", macs[0])
}

/// Waits (bounded) until exactly one MAC answers ARP for the VIP.
fn wait_owner(rig: &Rig, nodes: &[CpNode], limit: Duration) -> Result<String> {
    let start = Instant::now();
    loop {
        match owner(rig, nodes) {
            Ok(o) => return Ok(o),
            Err(e) if start.elapsed() > limit => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Carrier off on `node`'s bridge port in the LAN netns (the node's `eth0` loses its link but
/// keeps its addresses and routes); restored on drop.
struct LinkDown {
    lan: String,
    port: String,
}

impl LinkDown {
    fn cut(rig: &Rig, node: &str) -> Result<Self> {
        let port = ferrolb_e2e::failover::bridge_port(node)?;
        let lan = ferrolb_e2e::instance_ns("lan");
        rig.netns_exec(&lan, &["ip", "link", "set", &port, "down"])?;
        Ok(LinkDown { lan, port })
    }
}

impl Drop for LinkDown {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.lan, "ip", "link", "set", &self.port, "up",
            ])
            .status();
    }
}

/// A takeover's ARP figures, the time until `/readyz` answered again, the prober's replies.
type Takeover = (ferrolb_e2e::failover::Trial, Duration, Vec<(u128, String)>);

/// Runs `fault` while the ARP prober runs; returns the takeover figures against `old_mac` and
/// the time until `/readyz` answered through the VIP again.
fn takeover(rig: &Rig, old_mac: &str, fault: impl FnOnce() -> Result<()>) -> Result<Takeover> {
    let probe = start_probe(VIP, 4)?;
    std::thread::sleep(Duration::from_millis(500));
    let t0 = now_ns();
    let start = Instant::now();
    fault()?;
    // Readiness again through the VIP: the first success after the fault.
    wait_readyz(rig, Duration::from_secs(3))?;
    let ready = start.elapsed();
    let replies = probe_replies(probe)?;
    let trial = analyse_takeover(&replies, t0, old_mac)?;
    Ok((trial, ready, replies))
}

#[test]
fn cp_vip_follows_healthy_api_servers() -> Result<()> {
    let Some(rig) = Rig::from_env("cp_vip_follows_healthy_api_servers") else {
        return Ok(());
    };
    ensure!(rig.nodes >= 3, "needs three nodes");
    let mut nodes = start_nodes(&rig, &[])?;
    let setup = Instant::now();
    // (a) the VIP answers /readyz through exactly one owner.
    wait_readyz(&rig, Duration::from_secs(15))
        .with_context(|| rig.log_tail("cp-vip-speaker-node-1", 20))?;
    let first = wait_owner(&rig, &nodes, Duration::from_secs(5))?;
    println!("(a) VIP ready after {:?}, owner {first}", setup.elapsed());

    // (b) SIGKILL of the owner's API server.
    let first_mac = rig.node_mac(&first)?;
    let i = nodes
        .iter()
        .position(|n| n.name == first)
        .context("owner")?;
    let (trial, ready, _) = takeover(&rig, &first_mac, || {
        drop(nodes[i].api.take()); // SIGKILL (Proc drop)
        Ok(())
    })?;
    println!(
        "(b) API server of {first} killed: ARP takeover {:?}, /readyz via VIP after {ready:?}, largest ARP gap {:?}",
        trial.failover, trial.max_gap
    );
    ensure!(
        !trial.both_answered,
        "(d) {first} answered after the takeover"
    );
    let second = wait_owner(&rig, &nodes, Duration::from_secs(3))?;
    ensure!(second != first, "the VIP stayed on {first}");

    // (e) the second owner's API server dies too: the VIP goes to the last healthy node, and
    // never back to the first one, whose API server is still down.
    let second_mac = rig.node_mac(&second)?;
    let j = nodes
        .iter()
        .position(|n| n.name == second)
        .context("owner")?;
    let (trial, ready, replies) = takeover(&rig, &second_mac, || {
        drop(nodes[j].api.take()); // SIGKILL (Proc drop)
        Ok(())
    })?;
    println!(
        "(e) API server of {second} killed: ARP takeover {:?}, /readyz via VIP after {ready:?}",
        trial.failover
    );
    ensure!(
        !trial.both_answered,
        "(d) {second} answered after the takeover"
    );
    ensure!(
        !replies.iter().any(|(_, m)| *m == first_mac),
        "(e) the VIP went back to {first}, whose API server is down"
    );
    let third = wait_owner(&rig, &nodes, Duration::from_secs(3))?;
    ensure!(third != first && third != second, "the VIP is on {third}");

    // Both API servers come back; the VIP is answered by one node.
    nodes[i].api = Some(start_api(&rig, &first)?);
    nodes[j].api = Some(start_api(&rig, &second)?);
    std::thread::sleep(Duration::from_secs(2));
    wait_readyz(&rig, Duration::from_secs(5))?;
    let owner_now = wait_owner(&rig, &nodes, Duration::from_secs(5))?;
    println!("all API servers back: owner {owner_now}");

    // (c) the owner's link goes down.
    let mac = rig.node_mac(&owner_now)?;
    let mut link = None;
    let (trial, ready, _) = takeover(&rig, &mac, || {
        link = Some(LinkDown::cut(&rig, &owner_now)?);
        Ok(())
    })?;
    println!(
        "(c) link of {owner_now} down: ARP takeover {:?}, /readyz via VIP after {ready:?}",
        trial.failover
    );
    ensure!(
        !trial.both_answered,
        "(d) {owner_now} answered after the takeover"
    );
    drop(link);
    std::thread::sleep(Duration::from_secs(1));
    let after = wait_owner(&rig, &nodes, Duration::from_secs(5))?;
    wait_readyz(&rig, Duration::from_secs(5))?;
    println!("link back: owner {after}; total {:?}", setup.elapsed());
    for n in &nodes {
        let (rss, cpu) = ferrolb_e2e::failover::proc_usage(n.speaker.pid())?;
        println!(
            "speaker {} ({} build): RSS {:.1} MiB, CPU {cpu:.2} s",
            n.name,
            ferrolb_e2e::procs::speaker_build(),
            rss as f64 / 1024.0
        );
    }
    Ok(())
}

/// Starts the three nodes (API server relay + speaker with `extra` flags).
fn start_nodes(rig: &Rig, extra: &[&str]) -> Result<Vec<CpNode>> {
    let key = rig.run_dir.join("cp-vip.key");
    std::fs::write(&key, "e2e-control-plane-vip-key-0123456789\n")?;
    let mut nodes = Vec::new();
    for name in rig.node_names().into_iter().take(3) {
        nodes.push(CpNode {
            api: Some(start_api(rig, &name)?),
            speaker: start_speaker(rig, &name, &key, extra)?,
            name,
        });
    }
    Ok(nodes)
}

/// One `/readyz` attempt through the VIP during a takeover: when it started (after the fault),
/// how long it took and whether it answered.
struct Attempt {
    start: Duration,
    took: Duration,
    ok: bool,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ok = if self.ok { "ok" } else { "failed" };
        write!(
            f,
            "@{}ms {ok} in {}ms",
            self.start.as_millis(),
            self.took.as_millis()
        )
    }
}

/// Polls `/readyz` through the VIP until it answers; the time from `t0` (just before the
/// owner's API server was killed: any answer after the kill comes from another node's server,
/// since the killed one accepts no new connection), and every attempt (where the time went).
/// Includes one `curl` run (tens of ms).
fn readyz_back(rig: &Rig, t0: Instant, limit: Duration) -> Result<(Duration, Vec<Attempt>)> {
    let mut attempts = Vec::new();
    while t0.elapsed() < limit {
        let start = t0.elapsed();
        let ok = readyz_via_vip(rig);
        let took = t0.elapsed() - start;
        attempts.push(Attempt { start, took, ok });
        if ok {
            return Ok((t0.elapsed(), attempts));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("/readyz through the VIP did not come back within {limit:?}: {attempts:?}")
}

#[test]
fn z_bench_cp_vip() -> Result<()> {
    let Some(trials) = std::env::var("FERROLB_CP_VIP_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        eprintln!("SKIP z_bench_cp_vip: set FERROLB_CP_VIP_BENCH_TRIALS=N");
        return Ok(());
    };
    let Some(rig) = Rig::from_env("z_bench_cp_vip") else {
        return Ok(());
    };
    let extra = std::env::var("FERROLB_CP_VIP_BENCH_ARGS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    let mut nodes = start_nodes(&rig, &extra)?;
    wait_readyz(&rig, Duration::from_secs(15))?;
    let (mut ready, mut arp) = (Vec::new(), Vec::new());
    for trial in 0..trials.min(100) {
        let owner = wait_owner(&rig, &nodes, Duration::from_secs(5))?;
        let mac = rig.node_mac(&owner)?;
        let i = nodes
            .iter()
            .position(|n| n.name == owner)
            .context("owner")?;
        let probe = start_probe(VIP, 3)?;
        std::thread::sleep(Duration::from_millis(300));
        let (t0_ns, t0) = (now_ns(), Instant::now());
        drop(nodes[i].api.take()); // SIGKILL (Proc drop)
        let (back, attempts) = readyz_back(&rig, t0, Duration::from_secs(5))?;
        let replies = probe_replies(probe)?;
        let t = analyse_takeover(&replies, t0_ns, &mac)?;
        ensure!(
            !t.both_answered,
            "trial {trial}: {owner} answered after the takeover"
        );
        // The slow attempts say where a long tail comes from (an attempt in flight across
        // the switch, or a slow `curl` on a loaded machine).
        let slow: Vec<&Attempt> = attempts
            .iter()
            .filter(|a| a.took > Duration::from_millis(250))
            .collect();
        println!(
            "trial {trial}: {owner} killed, /readyz via VIP after {back:?} ({} attempts, slow: {slow:?}), ARP takeover {:?} (largest ARP gap {:?})",
            attempts.len(),
            t.failover,
            t.max_gap
        );
        ready.push(back);
        arp.push(t.failover);
        nodes[i].api = Some(start_api(&rig, &owner)?);
        // rise (3 probes) + the rejoin's settle, so every node is a candidate again
        std::thread::sleep(Duration::from_secs(2));
        wait_readyz(&rig, Duration::from_secs(5))?;
    }
    println!(
        "BENCH cp-vip ({} build, flags {extra:?}): owner's API server killed -> /readyz via VIP {}; ARP takeover {}",
        ferrolb_e2e::procs::speaker_build(),
        percentiles(ready),
        percentiles(arp)
    );
    for n in &nodes {
        let (rss, _) = ferrolb_e2e::failover::proc_usage(n.speaker.pid())?;
        println!(
            "BENCH cp-vip speaker {} RSS {:.1} MiB",
            n.name,
            rss as f64 / 1024.0
        );
    }
    Ok(())
}
