//! Layer 2 benchmarks on the rig (BENCHMARKS.md "Speaker L2"), skipped unless asked for:
//! - `z_bench_failover` (`FERROLB_L2_BENCH_TRIALS=N`): N trials of each failure kind (crash,
//!   graceful stop, blackholed link; `FERROLB_L2_BENCH_KINDS`), IPv4 or IPv6
//!   (`FERROLB_L2_BENCH_FAMILY`), failover time from the failure to the first reply with the
//!   new MAC;
//! - `z_bench_scale` (`FERROLB_L2_SCALE=N`): N announced Services, speaker RSS and CPU.
//!
//! Harness: `ferrolb_e2e::l2`. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::Result;
use ferrolb_e2e::failover::*;
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
        let mut yaml = String::new();
        for i in 0..n {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i:04}, namespace: {NS}, annotations: {{metallb.io/address-pool: l2-e2e-scale}}}}\nspec: {{type: LoadBalancer, loadBalancerClass: {CLASS}, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
            ));
        }
        let start = std::time::Instant::now();
        kubectl_apply(&rig, &yaml)?;
        wait_for(
            &format!("{n} ServiceL2Status objects for the scale Services"),
            Duration::from_secs(600),
            || diag(&rig),
            || async {
                let out = rig.kubectl(&[
                    "-n", SYSTEM, "get", "servicel2statuses", "-l",
                    &format!("metallb.io/service-namespace={NS}"), "-o", "name",
                ])?;
                Ok((out.lines().count() > n).then_some(()))
            },
        )
        .await?;
        let converge = start.elapsed();
        let busy: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let idle: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        let per_node = rig.kubectl(&[
            "-n", SYSTEM, "get", "servicel2statuses", "-l",
            &format!("metallb.io/service-namespace={NS}"), "-o",
            "jsonpath={range .items[*]}{.status.node}{\"\\n\"}{end}",
        ])?;
        eprintln!("RESULT scale: {n} services (+1) announced in {converge:?}");
        for (i, (node, _)) in pids.iter().enumerate() {
            let owned = per_node.lines().filter(|l| l.trim() == node).count();
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
