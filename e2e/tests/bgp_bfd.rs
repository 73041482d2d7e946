//! BFD (issue 16) on the rig, with ferrolb's controller and BGP-only speakers (setup in
//! `ferrolb_e2e::bgp_setup`, routers read through `ferrolb_e2e::bgp`), against FRR's bfdd:
//!
//! - FRR's dynamic neighbours (peer-group `SPEAKERS`) get `bfd profile` at run time (vtysh,
//!   undone at the end: the rest of the rig keeps running without BFD); the BGPPeer to FRR
//!   names a BFDProfile. At 300 ms × 3 (MetalLB's default) and then 50 ms × 3 (the profile
//!   edited on both sides) FRR's `show bfd peers json` shows every node's session up with our
//!   side's intervals as its remote intervals, editing the profile resets no BGP session, and
//!   every node's BGPSessionState says `bfdStatus: up`.
//! - node-1 blackholed (`failover::Blackhole`, healed by its guard even on failure): FRR's
//!   BFD session with node-1 goes down, FRR resets that BGP session because of BFD ("BFD
//!   down received") — not its 9 s hold timer — and the kernel route of the Service keeps
//!   only the other nodes' next hops; node-1's speaker detects it too and resets its BGP
//!   session (log). After the heal BFD and BGP come back and node-1's next hop returns.
//!
//! Benchmark (`#[ignore]`, `e2e/run.sh --nocapture --ignored -- z_bench_bfd`):
//! `z_bench_bfd_blackhole` (`FERROLB_BFD_BENCH_TRIALS`, default 20) blackholes node-1 with
//! BFD at 50 ms × 3 and at 300 ms × 3 and prints p50/p99/max of cut → FRR's kernel route
//! without node-1 (polled every 5 ms), and of heal → node-1's next hop back.
//!
//! `z_bench_bfd_saturated` (`FERROLB_BFD_SATURATE_SECS`, default 600) runs BFD at 50 ms × 3
//! with every node up, then keeps CPU burners busy inside node-1's netns for that long (one
//! self-ending Python busy loop per CPU of the machine, killed at the end: a netns has no CPUs
//! of its own, so this saturates the CPUs node-1's speaker runs on) and prints the false
//! flaps over the run (target 0): BGP sessions FRR's bgpd log says were closed by BFD
//! ("Cease/BFD Down", sent = FRR detected, received = the speaker detected) per node, and
//! every speaker's `metallb_bfd_session_down_events`.
//!
//! Skipped unless `FERROLB_E2E=1`. Every wait is bounded; objects and FRR config are removed
//! at the end.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::failover::{Blackhole, percentiles};
use ferrolb_e2e::faults::Burners;
use ferrolb_e2e::l2::Speakers;
use ferrolb_e2e::procs::Proc;
use ferrolb_e2e::{Rig, wait_for};
use serde_json::Value;

const NS: &str = "bgp-bfd";
const SUITE: Suite = Suite {
    ns: NS,
    class: setup::CLASS,
    name: "bgp-bfd",
};
const TIMEOUT: Duration = Duration::from_secs(60);
const FRR_PEER: &str = "bgp-bfd-frr";
const PROFILE: &str = "bgp-bfd";

fn frr_v4() -> String {
    Router::Frr.address(Family::Ipv4)
}

fn objects() -> Vec<String> {
    vec![
        format!("bgppeers.metallb.io/{FRR_PEER}"),
        format!("bfdprofiles.metallb.io/{PROFILE}"),
        "bgpadvertisements.metallb.io/bgp-bfd".to_string(),
        "ipaddresspools.metallb.io/bgp-bfd".to_string(),
    ]
}

fn profile_yaml(ms: u32) -> String {
    format!(
        r#"---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {{name: {PROFILE}, namespace: {}}}
spec: {{receiveInterval: {ms}, transmitInterval: {ms}, detectMultiplier: 3}}
"#,
        setup::SYSTEM
    )
}

/// FRR: a bfd profile `e2e-<ms>` and the SPEAKERS peer group using it.
fn frr_bfd(rig: &Rig, ms: u32) -> Result<()> {
    let name = format!("profile e2e-{ms}");
    let rx = format!("receive-interval {ms}");
    let tx = format!("transmit-interval {ms}");
    rig.frr_configure(&["bfd", &name, "detect-multiplier 3", &rx, &tx])?;
    let asn = format!("router bgp {}", Router::Frr.asn());
    let nb = format!("neighbor SPEAKERS bfd profile e2e-{ms}");
    rig.frr_configure(&[&asn, &nb])?;
    Ok(())
}

fn frr_bfd_off(rig: &Rig) {
    let asn = format!("router bgp {}", Router::Frr.asn());
    let _ = rig.frr_configure(&[&asn, "no neighbor SPEAKERS bfd"]);
    for ms in [300, 50] {
        let p = format!("no profile e2e-{ms}");
        let _ = rig.frr_configure(&["bfd", &p]);
    }
}

/// FRR's BFD peers (`show bfd peers json`) by peer address.
fn frr_bfd_peers(rig: &Rig) -> Result<Vec<Value>> {
    let v = rig.frr_json("show bfd peers json")?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn frr_bfd_peer(rig: &Rig, addr: &str) -> Result<Option<Value>> {
    Ok(frr_bfd_peers(rig)?
        .into_iter()
        .find(|p| p["peer"].as_str() == Some(addr)))
}

/// Waits until FRR's BFD sessions with every node (all its entries for the address) are up
/// with our side advertising `ms`, and the node's speaker says its session is up too
/// (`metallb_bfd_session_up`).
async fn wait_bfd_up(rig: &Rig, ms: u64) -> Result<()> {
    let frr = frr_v4();
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        wait_for(
            &format!("BFD between FRR and {a} up at {ms} ms × 3 on both sides"),
            TIMEOUT,
            || format!("FRR bfd peers: {:?}", frr_bfd_peers(rig)),
            || {
                let peers = frr_bfd_peers(rig);
                let ours = setup::peer_metric(rig, &n, "metallb_bfd_session_up", &frr);
                let a = a.clone();
                async move {
                    let mine: Vec<Value> = peers?
                        .into_iter()
                        .filter(|p| p["peer"].as_str() == Some(a.as_str()))
                        .collect();
                    let ok = !mine.is_empty()
                        && mine.iter().all(|p| {
                            p["status"] == "up"
                                && p["remote-receive-interval"].as_u64() == Some(ms)
                                && p["remote-transmit-interval"].as_u64() == Some(ms)
                                && p["remote-detect-multiplier"].as_u64() == Some(3)
                        })
                        && ours? == Some(1.0);
                    Ok(ok.then_some(()))
                }
            },
        )
        .await?;
    }
    Ok(())
}

/// FRR's connectionsDropped per node (must not grow while BFD is re-tuned).
fn frr_dropped(rig: &Rig) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        let nb = bgp::neighbor(rig, Router::Frr, &a)?
            .with_context(|| format!("FRR has no session with {a}"))?;
        ensure!(nb.is_established(), "FRR's session with {a}: {nb:?}");
        out.push((a, nb.dropped_count.unwrap_or(0)));
    }
    Ok(out)
}

fn diag(rig: &Rig) -> String {
    format!(
        "{}\n--- FRR bfd ---\n{:?}",
        SUITE.diag(rig),
        frr_bfd_peers(rig)
    )
}

#[tokio::test]
async fn bgp_bfd_up_with_frr_and_blackhole_drops_the_next_hop() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_bfd_up_with_frr_and_blackhole_drops_the_next_hop") else {
        return Ok(());
    };
    SUITE.install(&rig)?;
    let result = run(&rig).await;
    frr_bfd_off(&rig);
    SUITE.cleanup_objects(&rig, &objects());
    result
}

/// FRR and the cluster with BFD at `ms` × 3: the operator, the speakers, and the Service's
/// prefix with a path from every node.
async fn start(rig: &Rig, ms: u32) -> Result<(Proc, Speakers, String)> {
    frr_bfd(rig, ms)?;
    let mut cfg = setup::pool_yaml("bgp-bfd", "10.252.24.0/28");
    cfg.push_str(&profile_yaml(ms));
    cfg.push_str(&setup::peer_yaml(
        FRR_PEER,
        Router::Frr.asn(),
        &frr_v4(),
        &format!("bfdProfile: {PROFILE}"),
    ));
    cfg.push_str(&setup::deployment_yaml(NS, "bfd"));
    cfg.push_str(&setup::service_yaml(NS, "bfd", "bgp-bfd", "bfd"));
    setup::apply(rig, &cfg)?;
    let op = SUITE.start_operator(rig)?;
    let speakers = SUITE.start_speakers(rig)?;
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        bgp::wait_established(rig, Router::Frr, &a, TIMEOUT).await?;
    }
    let ip = SUITE.wait_ip(rig, "bfd", TIMEOUT).await?;
    let prefix = format!("{ip}/32");
    let nodes = rig.nodes;
    bgp::wait_route(rig, Router::Frr, &prefix, TIMEOUT, |p| p.len() == nodes).await?;
    Ok((op, speakers, prefix))
}

async fn run(rig: &Rig) -> Result<()> {
    let (_op, _speakers, prefix) = start(rig, 300).await?;
    let nodes = rig.nodes;

    // 300 ms × 3 (MetalLB's default profile).
    wait_bfd_up(rig, 300).await?;
    println!("BFD up with FRR at 300 ms × 3 on {nodes} nodes");
    let before = frr_dropped(rig)?;

    // 50 ms × 3 on both sides: our side re-tunes by a poll sequence, BGP is not reset.
    setup::apply(rig, &profile_yaml(50))?;
    frr_bfd(rig, 50)?;
    wait_bfd_up(rig, 50).await?;
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        let p = frr_bfd_peer(rig, &a)?.context("FRR BFD peer")?;
        ensure!(
            p["receive-interval"].as_u64() == Some(50),
            "FRR's own profile not applied: {p}"
        );
    }
    let after = frr_dropped(rig)?;
    ensure!(
        before == after,
        "a BGP session was reset by the BFD profile edit: {before:?} → {after:?}"
    );
    println!("BFD up with FRR at 50 ms × 3, no BGP reset");
    for n in rig.node_names() {
        wait_for(
            &format!("{n}'s BGPSessionState with bfdStatus up"),
            TIMEOUT,
            || diag(rig),
            || async {
                let st = setup::session_state(rig, &n, FRR_PEER)?;
                Ok(st.filter(|st| st["bfdStatus"] == "up").map(|_| ()))
            },
        )
        .await?;
    }

    // Blackhole node-1: BFD (150 ms) takes its BGP session and next hop away.
    let n1 = bgp::node_address("node-1", Family::Ipv4)?;
    let mut cut = Blackhole::cut("node-1")?;
    let t0 = Instant::now();
    let route = wait_for(
        "FRR's kernel route without node-1's next hop",
        Duration::from_secs(20),
        || diag(rig),
        || {
            let r = bgp::kernel_route(rig, &prefix);
            let n1 = n1.clone();
            async move {
                Ok(r?.filter(|r| !r.next_hops.contains(&n1) && r.next_hops.len() + 1 == nodes))
            }
        },
    )
    .await?;
    let gone = t0.elapsed();
    println!(
        "blackhole: kernel route via {:?} {gone:?} after the cut",
        route.next_hops
    );
    let reason = rig.frr_json(&format!("show bgp neighbors {n1} json"));
    let bfd_peer = frr_bfd_peer(rig, &n1)?;
    // FRR deletes a dynamic neighbour once it is down; while it still exists it must say BFD.
    if let Ok(v) = &reason
        && let Some(why) = v[&n1]["lastResetDueTo"].as_str()
    {
        ensure!(
            why.to_lowercase().contains("bfd"),
            "FRR reset node-1's session for {why:?}, not BFD"
        );
    }
    ensure!(
        bfd_peer.as_ref().is_none_or(|p| p["status"] != "up"),
        "FRR's BFD session with node-1 still up: {bfd_peer:?}"
    );
    ensure!(
        gone < Duration::from_secs(6),
        "node-1's next hop went away after {gone:?}: that is the hold timer (9 s), not BFD"
    );
    wait_for(
        "node-1's speaker to reset its BGP session on BFD down",
        Duration::from_secs(10),
        || diag(rig),
        || async {
            let log = setup::speaker_log(rig, "node-1");
            Ok(log
                .contains("BFD down: resetting the BGP session")
                .then_some(()))
        },
    )
    .await?;

    cut.heal()?;
    let t1 = Instant::now();
    bgp::wait_established(rig, Router::Frr, &n1, TIMEOUT).await?;
    bgp::wait_route(rig, Router::Frr, &prefix, TIMEOUT, |p| {
        p.iter().any(|r| r.next_hops.contains(&n1))
    })
    .await?;
    wait_bfd_up(rig, 50).await?;
    println!(
        "after the heal: Established, {prefix} via {n1} and BFD up in {:?}",
        t1.elapsed()
    );
    Ok(())
}

/// Next hops of FRR's kernel route for `prefix` (empty when absent).
fn kernel_hops(rig: &Rig, prefix: &str) -> Result<Vec<String>> {
    Ok(bgp::kernel_route(rig, prefix)?
        .map(|r| r.next_hops)
        .unwrap_or_default())
}

#[tokio::test]
#[ignore]
async fn z_bench_bfd_blackhole() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bfd_blackhole") else {
        return Ok(());
    };
    let trials: usize = std::env::var("FERROLB_BFD_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .clamp(1, 200);
    SUITE.install(&rig)?;
    let result = async {
        for ms in [50, 300] {
            let (_op, speakers, prefix) = start(&rig, ms).await?;
            wait_bfd_up(&rig, u64::from(ms)).await?;
            let n1 = bgp::node_address("node-1", Family::Ipv4)?;
            let nodes = rig.nodes;
            let (mut gone, mut back) = (Vec::new(), Vec::new());
            for _ in 0..trials {
                ferrolb_e2e::poll_elapsed(TIMEOUT, || {
                    Ok(kernel_hops(&rig, &prefix)?.len() == nodes)
                })
                .context("every next hop before the cut")?;
                wait_bfd_up(&rig, u64::from(ms)).await?;
                let mut cut = Blackhole::cut("node-1")?;
                let t0 = Instant::now();
                ferrolb_e2e::poll_elapsed(Duration::from_secs(30), || {
                    let h = kernel_hops(&rig, &prefix)?;
                    Ok(!h.contains(&n1) && h.len() + 1 == nodes)
                })
                .context("node-1's next hop gone after the cut")?;
                gone.push(t0.elapsed());
                cut.heal()?;
                let t1 = Instant::now();
                ferrolb_e2e::poll_elapsed(
                    TIMEOUT,
                    || Ok(kernel_hops(&rig, &prefix)?.contains(&n1)),
                )
                .context("node-1's next hop back after the heal")?;
                back.push(t1.elapsed());
            }
            println!(
                "BENCH BFD {ms} ms × 3, node-1 blackholed → FRR's kernel route without it: {}",
                percentiles(gone)
            );
            println!(
                "BENCH BFD {ms} ms × 3, heal → node-1's next hop back in FRR's kernel route: {}",
                percentiles(back)
            );
            drop(speakers);
        }
        Ok(())
    }
    .await;
    frr_bfd_off(&rig);
    SUITE.cleanup_objects(&rig, &objects());
    result
}

/// FRR's bgpd log (millisecond timestamps) from byte `from`: per node address, BGP sessions
/// FRR closed because its BFD session went down ("sent … Cease/BFD Down") and those our
/// speaker closed ("received …"). FRR's BFD counters cannot be used: a BGP reset deletes the
/// dynamic neighbour, its BFD session and their counters with it.
fn frr_bfd_resets(rig: &Rig, from: usize) -> BTreeMap<String, (u64, u64)> {
    let log = std::fs::read_to_string(rig.run_dir.join("logs").join("frr-bgpd-ms.log"))
        .unwrap_or_default();
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for l in log.get(from..).unwrap_or_default().lines() {
        if !l.contains("(Cease/BFD Down)") {
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        let Some(at) = w.iter().position(|x| *x == "neighbor") else {
            continue;
        };
        let Some(addr) = w.get(at + 1) else { continue };
        let e = out.entry((*addr).to_string()).or_default();
        if l.contains("sent to neighbor") {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    out
}

fn bgpd_log_len(rig: &Rig) -> usize {
    std::fs::metadata(rig.run_dir.join("logs").join("frr-bgpd-ms.log"))
        .map_or(0, |m| usize::try_from(m.len()).unwrap_or(0))
}

/// Every node's `metallb_bfd_session_down_events` for FRR (the counters live as long as the
/// speaker's BFD session, which a BGP reset does not remove).
fn speaker_downs(rig: &Rig) -> Result<Vec<(String, f64)>> {
    let frr = frr_v4();
    rig.node_names()
        .into_iter()
        .map(|n| {
            let v = setup::peer_metric(rig, &n, "metallb_bfd_session_down_events", &frr)?;
            Ok((n, v.unwrap_or(0.0)))
        })
        .collect()
}

#[tokio::test]
#[ignore]
async fn z_bench_bfd_saturated() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bfd_saturated") else {
        return Ok(());
    };
    let secs: u64 = std::env::var("FERROLB_BFD_SATURATE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
        .clamp(5, 3600);
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get().min(64));
    SUITE.install(&rig)?;
    let result = async {
        let (_op, _speakers, _prefix) = start(&rig, 50).await?;
        wait_bfd_up(&rig, 50).await?;
        let (log0, ours0) = (bgpd_log_len(&rig), speaker_downs(&rig)?);
        let burners = Burners::start(&rig, "node-1", cpus, secs + 5)?;
        let t0 = Instant::now();
        let (mut not_up_polls, mut failed_polls) = (0u64, 0u64);
        while t0.elapsed() < Duration::from_secs(secs) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match frr_bfd_peers(&rig) {
                Ok(ps) => not_up_polls += u64::from(ps.iter().any(|p| p["status"] != "up")),
                Err(_) => failed_polls += 1,
            }
        }
        drop(burners);
        let resets = frr_bfd_resets(&rig, log0);
        let ours: Vec<(String, f64)> = speaker_downs(&rig)?
            .into_iter()
            .zip(&ours0)
            .map(|((n, v), (_, v0))| (n, v - v0))
            .collect();
        println!(
            "BENCH BFD 50 ms × 3, {cpus} CPU burners in node-1's netns for {secs} s: BGP resets by \
             BFD in FRR's log per node (FRR detected, speaker detected) {resets:?}; speakers' BFD \
             down events {ours:?}; 1 s polls with a session not up: {not_up_polls} (vtysh reads \
             that failed: {failed_polls})"
        );
        Ok(())
    }
    .await;
    frr_bfd_off(&rig);
    SUITE.cleanup_objects(&rig, &objects());
    result
}
