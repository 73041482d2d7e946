//! Layer 2 benchmarks on the rig (BENCHMARKS.md "Speaker L2"), skipped unless asked for:
//! - `z_bench_failover` (`FERROLB_L2_BENCH_TRIALS=N`): N trials of each failure kind (crash,
//!   graceful stop, blackholed link; `FERROLB_L2_BENCH_KINDS`), IPv4 or IPv6
//!   (`FERROLB_L2_BENCH_FAMILY`), failover time from the failure to the first reply with the
//!   new MAC;
//! - `z_bench_scale` (`FERROLB_L2_SCALE=N`): N announced Services, speaker RSS and CPU;
//! - `z_bench_false_failovers_under_stress` (`FERROLB_L2_STRESS_SECS=S`): CPU burners on every
//!   node, false failovers counted.
//!
//! Harness: `ferrolb_e2e::l2`. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use ferrolb_e2e::failover::*;
use ferrolb_e2e::faults::Burners;
use ferrolb_e2e::l2::*;
use ferrolb_e2e::{Rig, wait_for};

/// Failover benchmark (BENCHMARKS.md "Speaker L2"): `FERROLB_L2_BENCH_TRIALS` (default: skip)
/// trials per failure kind, failover time from the failure to the first reply with the new
/// MAC, for each of `FERROLB_L2_BENCH_KINDS` (comma-separated `crash`, `graceful`, `blackhole`;
/// default all three) over `FERROLB_L2_BENCH_FAMILY` (`ipv4`, default: ARP; `ipv6`: NDP, the
/// status written by hand as in `l2.rs` `c_ndp_for_an_ipv6_service_ip`, no controller).
/// `FERROLB_L2_BENCH_ARGS` adds speaker flags (e.g. `--heartbeat-interval 50ms --dead-after
/// 250ms`). Blackhole trials also report the heal: how long both MACs answered once the link
/// came back.
#[tokio::test]
async fn z_bench_failover() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_failover") else {
        return Ok(());
    };
    let Some(trials) = std::env::var("FERROLB_L2_BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    else {
        eprintln!("SKIP z_bench_failover: set FERROLB_L2_BENCH_TRIALS=N");
        return Ok(());
    };
    let trials = trials.min(200);
    let extra = std::env::var("FERROLB_L2_BENCH_ARGS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    let kinds = std::env::var("FERROLB_L2_BENCH_KINDS")
        .unwrap_or_else(|_| "crash,graceful,blackhole".into())
        .split(',')
        .map(Failure::parse)
        .collect::<Result<Vec<_>>>()?;
    let ipv6 = match std::env::var("FERROLB_L2_BENCH_FAMILY").as_deref() {
        Ok("ipv6") => true,
        Ok("ipv4") | Err(_) => false,
        Ok(other) => anyhow::bail!("FERROLB_L2_BENCH_FAMILY={other}: ipv4 or ipv6"),
    };
    install(&rig)?;
    let _op = if ipv6 {
        None
    } else {
        Some(start_operator(&rig)?)
    };
    let mut speakers = Speakers::start(&rig, &extra)?;
    let result = async {
        workload(&rig, "web", 3, None, "Cluster")?;
        let ip = if ipv6 {
            let ip = "fc00:f853:ccd:e793::f1".to_string();
            set_ingress_by_hand(&rig, "web", &ip)?;
            ip
        } else {
            wait_ip(&rig, "web").await?
        };
        let nodes = rig.node_names();
        let owner = expected_owner(&ip, &nodes)?;
        let mac = rig.node_mac(&owner)?;
        let rest: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
        let second_mac = rig.node_mac(&expected_owner(&ip, &rest)?)?;
        wait_l2_owner(&rig, &ip, &mac).await?;
        eprintln!(
            "RESULT setup: {} {ip} owner {owner}, speaker flags {extra:?}",
            if ipv6 { "IPv6/NDP" } else { "IPv4/ARP" }
        );
        for kind in kinds {
            let mut times = Vec::new();
            let mut gaps = Vec::new();
            let mut heal_overlaps = Vec::new();
            for i in 0..trials {
                let (t, bh) = failure_trial(&mut speakers, &ip, &owner, &mac, kind)?;
                eprintln!(
                    "trial {i} {} failover {:?} max gap {:?}",
                    kind.name(),
                    t.failover,
                    t.max_gap
                );
                times.push(t.failover);
                gaps.push(t.max_gap);
                match bh {
                    Some(bh) => {
                        let h = heal_trial(bh, &ip, &mac, &second_mac, 2)?;
                        eprintln!("trial {i} heal {h:?}");
                        heal_overlaps.push(h.overlap);
                    }
                    None => speakers.start_one(&rig, &owner)?,
                }
                wait_l2_owner(&rig, &ip, &mac).await?;
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let kind = kind.name();
            eprintln!(
                "RESULT {kind} failover (failure → first reply from new MAC): {}",
                percentiles(times)
            );
            eprintln!("RESULT {kind} largest reply gap: {}", percentiles(gaps));
            if !heal_overlaps.is_empty() {
                eprintln!(
                    "RESULT {kind} heal: both MACs answering for {}",
                    percentiles(heal_overlaps)
                );
            }
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

/// Scale benchmark (BENCHMARKS.md "Speaker L2"): `FERROLB_L2_SCALE=N` LoadBalancer Services
/// (default: skip), all announced; speaker RSS and CPU per node, idle and while converging.
#[tokio::test]
async fn z_bench_scale() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_scale") else {
        return Ok(());
    };
    let Some(n) = std::env::var("FERROLB_L2_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    else {
        eprintln!("SKIP z_bench_scale: set FERROLB_L2_SCALE=N");
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &[])?;
    let result = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pids: Vec<(String, u32)> = speakers
            .procs
            .iter()
            .map(|(n, p)| (n.clone(), p.0.id()))
            .collect();
        let base: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        workload(&rig, "web", 3, None, "Cluster")?;
        let converge = announce_services(&rig, n).await?;
        let busy: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let idle: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        let owners = owners(&rig)?;
        eprintln!("RESULT scale: {n} services (+1) announced in {converge:?}");
        for (i, (node, _)) in pids.iter().enumerate() {
            let owned = owners.values().filter(|o| *o == node).count();
            eprintln!(
                "RESULT scale {node}: owns {owned} services; RSS before {} KiB, after converge {} KiB, 30 s later {} KiB; CPU while converging {:.2} s, idle 30 s {:.2} s ({:.2} %)",
                base[i].0,
                busy[i].0,
                idle[i].0,
                busy[i].1 - base[i].1,
                idle[i].1 - busy[i].1,
                (idle[i].1 - busy[i].1) / 30.0 * 100.0
            );
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

/// `n` LoadBalancer Services `s0000`.. from the scale pool, all announced (a ServiceL2Status
/// each); how long that took.
async fn announce_services(rig: &Rig, n: usize) -> Result<Duration> {
    let mut yaml = String::new();
    for i in 0..n {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i:04}, namespace: {NS}, annotations: {{metallb.io/address-pool: l2-e2e-scale}}}}\nspec: {{type: LoadBalancer, loadBalancerClass: {CLASS}, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
        ));
    }
    let start = std::time::Instant::now();
    kubectl_apply(rig, &yaml)?;
    wait_for(
        &format!("{n} ServiceL2Status objects for the scale Services"),
        Duration::from_secs(600),
        || diag(rig),
        || async { Ok((owners(rig)?.len() > n).then_some(())) },
    )
    .await?;
    Ok(start.elapsed())
}

/// The announcing node of every Service of the test namespace, from its ServiceL2Status.
fn owners(rig: &Rig) -> Result<BTreeMap<String, String>> {
    let out = rig.kubectl(&[
        "-n", SYSTEM, "get", "servicel2statuses", "-l",
        &format!("metallb.io/service-namespace={NS}"), "-o",
        "jsonpath={range .items[*]}{.metadata.labels.metallb\\.io/service-name}={.status.node}{\"\\n\"}{end}",
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(s, n)| (s.trim().to_owned(), n.trim().to_owned()))
        .collect())
}

/// False failovers under stress (issue 19; BENCHMARKS.md "L2 failover"), skipped unless
/// `FERROLB_L2_STRESS_SECS=S` (at most 1800): `FERROLB_L2_STRESS_SERVICES` (default 100)
/// announced Services, then S seconds with one CPU burner per core in every node's netns
/// (`faults::Burners`) and no node failing. Reported, not asserted: the `membership changed`
/// lines every speaker logged (a peer declared dead or back: a false failover) and the
/// Services whose ServiceL2Status names another node afterwards. Timers through
/// `FERROLB_L2_BENCH_ARGS` (default: the speaker's, `--heartbeat-interval 100ms --dead-after
/// 600ms`); `FERROLB_SPEAKER_BIN` / `FERROLB_E2E_RELEASE=1` for a release build. Run with
/// `FERROLB_E2E_NODES=4 e2e/run.sh --ignored -- z_bench_false_failovers`.
#[tokio::test]
async fn z_bench_false_failovers_under_stress() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_false_failovers_under_stress") else {
        return Ok(());
    };
    let Some(secs) = std::env::var("FERROLB_L2_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        eprintln!("SKIP z_bench_false_failovers_under_stress: set FERROLB_L2_STRESS_SECS=S");
        return Ok(());
    };
    let secs = secs.clamp(10, 1800);
    let n = std::env::var("FERROLB_L2_STRESS_SERVICES")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .min(1000);
    let extra = std::env::var("FERROLB_L2_BENCH_ARGS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    let cpus = std::thread::available_parallelism().map_or(2, |c| c.get().min(64));
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &extra)?;
    let result = async {
        workload(&rig, "web", 3, None, "Cluster")?;
        announce_services(&rig, n).await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = owners(&rig)?;
        let marks = speaker_log_marks(&rig);
        let burners = rig
            .node_names()
            .iter()
            .map(|node| Burners::start(&rig, node, cpus, secs + 5))
            .collect::<Result<Vec<_>>>()?;
        let load0 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let load1 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        drop(burners);
        let changes = membership_changes_since(&rig, &marks);
        let after = owners(&rig)?;
        let moved = before
            .iter()
            .filter(|(svc, node)| after.get(*svc).is_some_and(|a| a != *node))
            .count();
        eprintln!(
            "RESULT false failovers: {} nodes, {n} Services, {cpus} burners per node for {secs} s, speaker flags {extra:?}: {} membership changes, {moved} Services with another owner afterwards; load average at start {} / end {}",
            rig.nodes,
            changes.len(),
            load0.trim(),
            load1.trim()
        );
        for c in changes.iter().take(20) {
            eprintln!("  {c}");
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}
