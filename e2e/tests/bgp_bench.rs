//! BGP benchmarks on the rig (BENCHMARKS.md "Speaker BGP"), `#[ignore]`d: run with
//! `e2e/run.sh --nocapture --ignored -- z_bench_bgp`. They print figures, they assert only that
//! the thing measured happened (every wait bounded):
//!
//! - `z_bench_bgp_a_service_to_frr` (`FERROLB_BGP_BENCH_N`, default 30): one Service at a time
//!   (a fixed `metallb.io/loadBalancerIPs`, so the prefix is known before it is created):
//!   `kubectl apply` → the prefix in FRR's BGP RIB (first path, then one path per node);
//!   then SIGKILL of node-3's speaker → FRR's RIB without node-3's path (per trial,
//!   `FERROLB_BGP_BENCH_CRASHES`, default 10), and FRR's reset of a session (`clear bgp
//!   <node-1>`: FRR sends a Cease and closes) → Established again.
//! - `z_bench_bgp_b_burst` (`FERROLB_BGP_BENCH_BURST`, default 1000): that many Services in one
//!   `kubectl apply` → the last prefix in FRR's RIB from every node; UPDATEs node-1 sent to
//!   FRR for it (from its `update_bytes=` log lines); node-1's speaker RSS with three IPv4 peers
//!   (FRR, GoBGP, BIRD) carrying all of them.
//!
//! FRR's RIB is polled with `vtysh` (one `show bgp ipv4 unicast <prefix> json` per poll, about
//! 20–40 ms each): that is the resolution. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::failover::{percentiles, proc_usage};
use ferrolb_e2e::{Rig, wait_for};

const NS: &str = "bgp-bench";
/// This file's isolation on the shared rig (see `ferrolb_e2e::bgp_setup::Suite`).
const SUITE: Suite = Suite {
    ns: NS,
    class: setup::CLASS,
    name: "bgp-bench",
};
const TIMEOUT: Duration = Duration::from_secs(60);

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .min(5000)
}

fn objects(peers: &[&str]) -> Vec<String> {
    let mut v = vec![
        "bgpadvertisements.metallb.io/bgp-bench".to_string(),
        "ipaddresspools.metallb.io/bgp-bench".to_string(),
    ];
    v.extend(peers.iter().map(|p| format!("bgppeers.metallb.io/{p}")));
    v
}

/// Next hops of FRR's paths for `prefix` (empty when absent).
fn frr_hops(rig: &Rig, prefix: &str) -> Result<Vec<String>> {
    let v = rig.frr_json(&format!("show bgp ipv4 unicast {prefix} json"))?;
    let mut hops = Vec::new();
    for p in v["paths"].as_array().into_iter().flatten() {
        for n in p["nexthops"].as_array().into_iter().flatten() {
            if let Some(ip) = n["ip"].as_str() {
                hops.push(ip.to_string());
            }
        }
    }
    hops.sort();
    hops.dedup();
    Ok(hops)
}

/// Polls `check` as fast as it runs (bounded by `timeout`); the time it first held.
fn poll(timeout: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if check().unwrap_or(false) {
            return Ok(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("not within {timeout:?}")
}

fn node_addrs(rig: &Rig) -> Result<Vec<String>> {
    rig.node_names()
        .iter()
        .map(|n| bgp::node_address(n, Family::Ipv4))
        .collect()
}

fn service_at(name: &str, ip: &str) -> String {
    setup::service_yaml(NS, name, "bgp-bench", "bench").replace(
        "annotations: {metallb.io/address-pool: bgp-bench}",
        &format!(
            "annotations: {{metallb.io/address-pool: bgp-bench, metallb.io/loadBalancerIPs: {ip}}}"
        ),
    )
}

#[tokio::test]
#[ignore]
async fn z_bench_bgp_a_service_to_frr() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bgp_a_service_to_frr") else {
        return Ok(());
    };
    let n = env_n("FERROLB_BGP_BENCH_N", 30).clamp(1, 250);
    let crashes = env_n("FERROLB_BGP_BENCH_CRASHES", 10).clamp(1, 50);
    SUITE.install(&rig)?;
    let mut cfg = setup::pool_yaml("bgp-bench", "10.252.16.0/24");
    cfg.push_str(&setup::peer_yaml(
        "bgp-bench-frr",
        Router::Frr.asn(),
        &Router::Frr.address(Family::Ipv4),
        "",
    ));
    cfg.push_str(&setup::deployment_yaml(NS, "bench"));
    setup::apply(&rig, &cfg)?;
    let _op = SUITE.start_operator(&rig)?;
    let mut speakers = SUITE.start_speakers(&rig)?;
    let result = async {
        let addrs = node_addrs(&rig)?;
        for a in &addrs {
            bgp::wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
        }
        // Warm-up: the Deployment's pod is Ready and a first Service goes through.
        setup::apply(&rig, &service_at("warm", "10.252.16.250"))?;
        wait_for("warm-up prefix on FRR", TIMEOUT, String::new, || async {
            Ok((frr_hops(&rig, "10.252.16.250/32")?.len() == addrs.len()).then_some(()))
        })
        .await?;

        let (mut applies, mut first, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let ip = format!("10.252.16.{}", i + 1);
            let prefix = format!("{ip}/32");
            let t0 = Instant::now();
            setup::apply(&rig, &service_at(&format!("s{i}"), &ip))?;
            let apply = t0.elapsed();
            let f = poll(TIMEOUT, || Ok(!frr_hops(&rig, &prefix)?.is_empty()))
                .with_context(|| format!("{prefix} on FRR"))?;
            let a = poll(
                TIMEOUT,
                || Ok(frr_hops(&rig, &prefix)?.len() == addrs.len()),
            )
            .with_context(|| format!("{prefix} from every node"))?;
            applies.push(apply);
            first.push(apply + f);
            all.push(apply + f + a);
        }
        println!(
            "BENCH kubectl apply of one Service (process start included): {}",
            percentiles(applies)
        );
        println!(
            "BENCH Service created → first path in FRR's RIB: {}",
            percentiles(first)
        );
        println!(
            "BENCH Service created → a path from every node in FRR's RIB: {}",
            percentiles(all)
        );

        // SIGKILL of node-3's speaker: the kernel resets its TCP connections, FRR drops at once.
        let n3 = bgp::node_address("node-3", Family::Ipv4)?;
        let probe = "10.252.16.1/32";
        let mut withdraw = Vec::new();
        for _ in 0..crashes {
            poll(TIMEOUT, || Ok(frr_hops(&rig, probe)?.contains(&n3)))
                .context("node-3's path before the crash")?;
            let t0 = Instant::now();
            speakers.kill("node-3");
            poll(Duration::from_secs(30), || {
                Ok(!frr_hops(&rig, probe)?.contains(&n3))
            })
            .context("node-3's path withdrawn after SIGKILL")?;
            withdraw.push(t0.elapsed());
            speakers.start_one(&rig, "node-3")?;
        }
        println!(
            "BENCH speaker SIGKILL → FRR drops its path: {}",
            percentiles(withdraw)
        );

        // FRR resets node-1's session: Established again.
        let n1 = bgp::node_address("node-1", Family::Ipv4)?;
        let mut back = Vec::new();
        for _ in 0..5 {
            poll(TIMEOUT, || Ok(frr_hops(&rig, probe)?.len() == addrs.len()))
                .context("every path before the reset")?;
            let t0 = Instant::now();
            rig.frr_json(&format!("clear bgp {n1}")).ok();
            poll(Duration::from_secs(5), || {
                Ok(!frr_hops(&rig, probe)?.contains(&n1))
            })
            .context("FRR dropped node-1's path after the reset")?;
            poll(TIMEOUT, || {
                Ok(
                    bgp::neighbor(&rig, Router::Frr, &n1)?.is_some_and(|x| x.is_established())
                        && frr_hops(&rig, probe)?.contains(&n1),
                )
            })
            .context("node-1 Established with its path again")?;
            back.push(t0.elapsed());
        }
        println!(
            "BENCH FRR `clear bgp` of a node → Established with its path again: {}",
            percentiles(back)
        );
        Ok(())
    }
    .await;
    drop(speakers);
    SUITE.cleanup_objects(&rig, &objects(&["bgp-bench-frr"]));
    result
}

#[tokio::test]
#[ignore]
async fn z_bench_bgp_b_burst() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bgp_b_burst") else {
        return Ok(());
    };
    let count = env_n("FERROLB_BGP_BENCH_BURST", 1000).clamp(1, 1000);
    SUITE.install(&rig)?;
    let peers = [
        ("bgp-bench-frr", Router::Frr),
        ("bgp-bench-gobgp", Router::Gobgp),
        ("bgp-bench-bird", Router::Bird),
    ];
    let mut cfg = setup::pool_yaml("bgp-bench", "10.252.0.0/22");
    for (name, r) in peers {
        cfg.push_str(&setup::peer_yaml(
            name,
            r.asn(),
            &r.address(Family::Ipv4),
            "",
        ));
    }
    cfg.push_str(&setup::deployment_yaml(NS, "bench"));
    setup::apply(&rig, &cfg)?;
    let _op = SUITE.start_operator(&rig)?;
    let speakers = SUITE.start_speakers(&rig)?;
    let result = async {
        let addrs = node_addrs(&rig)?;
        for a in &addrs {
            bgp::wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
        }
        let rss0 = proc_usage(speakers.procs["node-1"].pid())?.0;
        let updates0 = setup::update_sizes(&setup::speaker_log(&rig, "node-1"), "bgp-bench-frr").len();
        let mut y = String::new();
        for i in 0..count {
            y.push_str(&setup::service_yaml(NS, &format!("b{i}"), "bgp-bench", "bench"));
        }
        let t0 = Instant::now();
        setup::apply(&rig, &y)?;
        let applied = t0.elapsed();
        let full = |rig: &Rig| -> Result<usize> {
            let mut per: std::collections::BTreeMap<String, usize> = Default::default();
            for r in bgp::routes(rig, Router::Frr, Family::Ipv4)? {
                if r.prefix.starts_with("10.252.") {
                    *per.entry(r.prefix).or_default() += 1;
                }
            }
            Ok(per.values().filter(|&&n| n == addrs.len()).count())
        };
        let mut polls = 0;
        let done = loop {
            polls += 1;
            if full(&rig)? == count {
                break t0.elapsed();
            }
            if t0.elapsed() > Duration::from_secs(600) || polls > 10_000 {
                bail!("{count} prefixes not on FRR within 600 s ({} there)", full(&rig)?);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let sizes = setup::update_sizes(&setup::speaker_log(&rig, "node-1"), "bgp-bench-frr");
        let burst_updates = &sizes[updates0.min(sizes.len())..];
        // GoBGP and BIRD got them too (RSS is measured with three loaded sessions).
        wait_for("GoBGP and BIRD carry the burst", TIMEOUT, String::new, || async {
            let g = bgp::routes(&rig, Router::Gobgp, Family::Ipv4)?
                .iter()
                .filter(|r| r.prefix.starts_with("10.252."))
                .count();
            let b = bgp::routes(&rig, Router::Bird, Family::Ipv4)?
                .iter()
                .filter(|r| r.prefix.starts_with("10.252."))
                .count();
            Ok((g >= count && b >= count).then_some(()))
        })
        .await?;
        let (rss, cpu) = proc_usage(speakers.procs["node-1"].pid())?;
        println!(
            "BENCH burst of {count} Services: kubectl apply {applied:?}, last prefix on FRR from every node after {done:?}; node-1 sent {} UPDATEs to FRR for it (largest {} octets)",
            burst_updates.len(),
            burst_updates.iter().max().copied().unwrap_or(0)
        );
        println!(
            "BENCH node-1 speaker RSS: {rss0} KiB before, {rss} KiB with 3 IPv4 peers × {count} prefixes; CPU {cpu:.2} s in all"
        );
        Ok(())
    }
    .await;
    drop(speakers);
    SUITE.cleanup_objects(
        &rig,
        &objects(&["bgp-bench-frr", "bgp-bench-gobgp", "bgp-bench-bird"]),
    );
    result
}
