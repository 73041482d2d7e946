//! The speaker's control-plane VIP mode (issue 20) on the rig: three node namespaces, each
//! with an "API server" on `0.0.0.0:6443` and `ferrolb-speaker control-plane` (no Kubernetes
//! client), the client using the VIP.
//!
//! The per-node API server is the rig's real kube-apiserver reached through a per-node TCP
//! relay (`ferrolb_e2e::cp_vip`, shared with the keepalived reference in
//! `cp_vip_keepalived.rs`). Three real kube-apiservers against the rig's etcd would prove the
//! same with ~1 GB more memory and a slower rig; see docs/control-plane-vip.md.
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

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::Rig;
use ferrolb_e2e::cp_vip::{
    LinkDown, VIP, readyz_via_vip, start_api, start_speaker_nodes, wait_owner, wait_readyz,
};
use ferrolb_e2e::failover::{analyse_takeover, now_ns, percentiles, probe_replies, start_probe};

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
    let mut nodes = start_speaker_nodes(&rig, &[])?;
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
        let (rss, cpu) = ferrolb_e2e::failover::proc_usage(n.holder.pid())?;
        println!(
            "speaker {} ({} build): RSS {:.1} MiB, CPU {cpu:.2} s",
            n.name,
            ferrolb_e2e::procs::speaker_build(),
            rss as f64 / 1024.0
        );
    }
    Ok(())
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
    let mut nodes = start_speaker_nodes(&rig, &extra)?;
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
        let (rss, _) = ferrolb_e2e::failover::proc_usage(n.holder.pid())?;
        println!(
            "BENCH cp-vip speaker {} RSS {:.1} MiB",
            n.name,
            rss as f64 / 1024.0
        );
    }
    Ok(())
}
