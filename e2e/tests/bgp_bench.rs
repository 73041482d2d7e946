//! BGP benchmarks on the rig (BENCHMARKS.md "Speaker BGP"), `#[ignore]`d: run with
//! `e2e/run.sh --nocapture --ignored -- z_bench_bgp`. They print figures, they assert only that
//! the thing measured happened (every wait bounded). `FERROLB_E2E_RELEASE=1` runs the speakers
//! from the release build (`cargo build --release -p ferrolb-speaker` first) and
//! `FERROLB_SPEAKER_BIN=<path>` from a given binary, e.g. the image's static musl build
//! (`cargo build --profile image --target x86_64-unknown-linux-musl -p ferrolb-speaker`); see
//! `ferrolb_e2e::procs::binary`.
//!
//! - `z_bench_bgp_a_service_to_frr` (`FERROLB_BGP_BENCH_N`, default 30): one Service at a time,
//!   created with one API call (a fixed `metallb.io/loadBalancerIPs`, so the prefix is known
//!   before it is created) → the prefix in FRR's BGP RIB (first path, then one path per node),
//!   with a trace of where the time went ([`ferrolb_e2e::bench_trace`]: the test's watches of
//!   the Service's address and its EndpointSlice, the speakers' `UPDATE sent` lines); then
//!   SIGKILL of node-3's speaker → FRR's RIB without node-3's path (per trial,
//!   `FERROLB_BGP_BENCH_CRASHES`, default 10; split at the process being reaped, i.e. its TCP
//!   connections closed, and at FRR's `%ADJCHANGE … Down` log line), FRR's reset of a session
//!   (`clear bgp <node-1>`: FRR sends a Cease and closes) → Established again, and a restart
//!   of FRR's bgpd (`rig.sh frr-restart bgpd`, `FERROLB_BGP_BENCH_RESTARTS`, default 5) →
//!   every node Established again, every path back.
//! - `z_bench_bgp_b_burst` (`FERROLB_BGP_BENCH_BURST`, default 1000): that many Services in one
//!   `kubectl apply` → the last prefix in FRR's RIB from every node; UPDATEs node-1 sent to
//!   FRR for it (from its `update_bytes=` log lines); node-1's speaker RSS with three IPv4 peers
//!   (FRR, GoBGP, BIRD) carrying all of them.
//! - `z_bench_bgp_c_memory_and_idle_cpu` (`FERROLB_BGP_BENCH_DUAL`, default 1000;
//!   `FERROLB_BGP_BENCH_IDLE_S`, default 60): node-1's speaker RSS and idle CPU with 3, then 16
//!   peers (GoBGP scale collectors) carrying that many dual-stack Services (2 prefixes each).
//! - `z_bench_bgp_e_bfd_memory` (`FERROLB_BGP_BENCH_DUAL`, default 1000;
//!   `FERROLB_BGP_BENCH_IDLE_S`, default 60): node-1's speaker RSS with 16 peers carrying
//!   that many dual-stack Services, without BFD and then with a 50 ms × 3 BFDProfile on every
//!   peer, each BFD session Up with `bfd-peers` (`e2e/src/bin/bfd-peers.rs`, one session per
//!   collector address) — issue 16's "within 2 MiB of the same speaker without BFD".
//! - `z_bench_bgp_d_etp_local_move` (`FERROLB_BGP_BENCH_MOVES`, default 10): an
//!   `externalTrafficPolicy: Local` Service's only pod moves to the next node → FRR's next hop
//!   follows, timed from the endpoint changes the test's own EndpointSlice watch sees.
//!
//! FRR's RIB is polled with `vtysh` (one `show bgp ipv4 unicast <prefix> json` per poll, about
//! 20–40 ms each): that is the resolution. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use ferrolb_e2e::bench_trace as trace;
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::failover::{percentiles, proc_usage};
use ferrolb_e2e::l2::Speakers;
use ferrolb_e2e::{Rig, wait_for};
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::PostParams;

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

/// What [`hops`] reads, for the printed figures.
fn probe_name() -> &'static str {
    if probe_fib() {
        "FRR's FIB (kernel route)"
    } else {
        "FRR's BGP RIB (vtysh)"
    }
}

/// Whether the benchmarks read FRR's kernel FIB (`FERROLB_BGP_BENCH_PROBE=fib`, the default:
/// one `ip -j route show exact <prefix>` per poll, 1–10 ms even on a loaded machine) or its
/// BGP RIB (`rib`: one `vtysh` per poll, 20–40 ms idle, 150–300 ms at load 10). A path is in
/// the RIB as soon as FRR parses the UPDATE and in the FIB after FRR's best-path run (its
/// process queue holds 50 ms) and zebra's install, so the FIB figure bounds the RIB one
/// from above; for a withdrawal both change together.
fn probe_fib() -> bool {
    std::env::var("FERROLB_BGP_BENCH_PROBE").map_or(true, |v| v != "rib")
}

/// Next hops FRR has for `prefix` (FIB or RIB, [`probe_fib`]; empty when absent).
fn hops(rig: &Rig, prefix: &str) -> Result<Vec<String>> {
    if probe_fib() {
        return Ok(bgp::kernel_route(rig, prefix)?
            .map(|r| r.next_hops)
            .unwrap_or_default());
    }
    frr_hops(rig, prefix)
}

/// Next hops of FRR's paths for `prefix` in its BGP RIB (empty when absent).
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

/// A LoadBalancer Service `name` of the bench pool at `ip` (a fixed
/// `metallb.io/loadBalancerIPs`), selecting the `bench` Deployment, as an API object.
fn service_object(name: &str, ip: &str) -> Result<Service> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "annotations": {
            "metallb.io/address-pool": "bgp-bench", "metallb.io/loadBalancerIPs": ip}},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": setup::CLASS,
            "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "selector": {"app": "bench"},
            "ports": [{"port": 80, "targetPort": 8080}]}
    }))?)
}

/// One Service-creation trial: its name, when the create call started (wall clock), and
/// after how long the create returned, the first path and a path from every node were in
/// FRR's RIB.
struct Trial {
    name: String,
    at: SystemTime,
    created: Duration,
    first: Duration,
    all: Duration,
}

/// Prints where the time of the trials went: the test's own watches (the Service's address,
/// a ready endpoint in its EndpointSlice) and the speakers' `UPDATE sent` log lines.
fn report_trace(rig: &Rig, trials: &[Trial], seen: &trace::SeenAt, slices: &trace::SliceLog) {
    let logs: Vec<String> = rig
        .node_names()
        .iter()
        .map(|n| setup::speaker_log(rig, n))
        .collect();
    let ms = |v: &[f64]| {
        let d: Vec<Duration> = v
            .iter()
            .map(|m| Duration::from_secs_f64(m.max(0.0) / 1000.0))
            .collect();
        if d.is_empty() {
            "no samples".to_string()
        } else {
            percentiles(d)
        }
    };
    let (mut ip, mut ep, mut upd, mut speaker, mut frr) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in trials {
        let seen_ip = seen.lock().ok().and_then(|m| m.get(&t.name).copied());
        let ready = slices.lock().ok().and_then(|v| {
            v.iter()
                .find(|(at, s, n)| *at >= t.at && *s == t.name && !n.is_empty())
                .map(|(at, _, _)| *at)
        });
        let update = logs
            .iter()
            .filter_map(|l| trace::first_line_after(l, t.at, &["UPDATE sent", "bgp-bench-frr"]))
            .min();
        let (Some(i), Some(r), Some(u)) = (seen_ip, ready, update) else {
            continue;
        };
        ip.push(trace::ms_between(t.at, i));
        ep.push(trace::ms_between(t.at, r));
        upd.push(trace::ms_between(t.at, u));
        speaker.push(trace::ms_between(i.max(r), u));
        frr.push(t.first.as_secs_f64() * 1000.0 - trace::ms_between(t.at, u));
    }
    println!(
        "BENCH trace, from the create call: the test's watch sees the address: {}",
        ms(&ip)
    );
    println!(
        "BENCH trace, from the create call: the test's watch sees a ready endpoint: {}",
        ms(&ep)
    );
    println!(
        "BENCH trace, from the create call: first speaker logs `UPDATE sent` to FRR: {}",
        ms(&upd)
    );
    println!(
        "BENCH trace, speaker share: address and endpoint both seen by the test's watches → `UPDATE sent`: {}",
        ms(&speaker)
    );
    println!(
        "BENCH trace, FRR share: `UPDATE sent` → first path seen in {} by a poll: {}",
        probe_name(),
        ms(&frr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn z_bench_bgp_a_service_to_frr() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bgp_a_service_to_frr") else {
        return Ok(());
    };
    let n = env_n("FERROLB_BGP_BENCH_N", 30).clamp(1, 250);
    let crashes = env_n("FERROLB_BGP_BENCH_CRASHES", 10).clamp(1, 50);
    let restarts = env_n("FERROLB_BGP_BENCH_RESTARTS", 5).clamp(1, 20);
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
    let client = rig.admin_client().await?;
    let svc_api: Api<Service> = Api::namespaced(client.clone(), NS);
    let (seen, seen_task) = trace::watch_service_ips(svc_api.clone());
    let (slices, slice_task) = trace::watch_slices(Api::namespaced(client.clone(), NS));
    let result = async {
        let addrs = node_addrs(&rig)?;
        for a in &addrs {
            bgp::wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
        }
        // Warm-up: the Deployment's pod is Ready and a first Service goes through.
        setup::apply(&rig, &service_at("warm", "10.252.16.250"))?;
        wait_for("warm-up prefix on FRR", TIMEOUT, String::new, || async {
            Ok((hops(&rig, "10.252.16.250/32")?.len() == addrs.len()).then_some(()))
        })
        .await?;

        let mut trials = Vec::new();
        for i in 0..n {
            let ip = format!("10.252.16.{}", i + 1);
            let prefix = format!("{ip}/32");
            let name = format!("s{i}");
            let obj = service_object(&name, &ip)?;
            let (at, t0) = (SystemTime::now(), Instant::now());
            svc_api.create(&PostParams::default(), &obj).await?;
            let created = t0.elapsed();
            ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(!hops(&rig, &prefix)?.is_empty()))
                .with_context(|| format!("{prefix} on FRR"))?;
            let first = t0.elapsed();
            ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(&rig, &prefix)?.len() == addrs.len()))
                .with_context(|| format!("{prefix} from every node"))?;
            let all = t0.elapsed();
            trials.push(Trial {
                name,
                at,
                created,
                first,
                all,
            });
        }
        let col = |f: fn(&Trial) -> Duration| percentiles(trials.iter().map(f).collect());
        println!(
            "BENCH Service create call (API POST, acknowledged): {}",
            col(|t| t.created)
        );
        println!(
            "BENCH Service created → first path in {}: {}",
            probe_name(),
            col(|t| t.first)
        );
        println!(
            "BENCH Service created → a path from every node in {}: {}",
            probe_name(),
            col(|t| t.all)
        );
        report_trace(&rig, &trials, &seen, &slices);

        crash_trials(&rig, &mut speakers, crashes)?;
        clear_trials(&rig, &addrs)?;
        restart_trials(&rig, &addrs, restarts)?;
        Ok(())
    }
    .await;
    seen_task.abort();
    slice_task.abort();
    drop(speakers);
    SUITE.cleanup_objects(&rig, &objects(&["bgp-bench-frr"]));
    result
}

/// The path every crash, clear and restart trial watches.
const PROBE: &str = "10.252.16.1/32";

/// SIGKILL of node-3's speaker: the kernel closes its TCP connections, FRR drops at once.
/// Split into the kill (until the process is reaped: its sockets are closed), FRR's own
/// `%ADJCHANGE … Down` log line, and the path gone from FRR's RIB.
fn crash_trials(rig: &Rig, speakers: &mut Speakers, crashes: usize) -> Result<()> {
    let n3 = bgp::node_address("node-3", Family::Ipv4)?;
    let frr_log = rig.run_dir.join("logs").join("frr-bgpd-ms.log");
    let (mut total, mut after_close, mut reaped, mut frr_down) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..crashes {
        ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(rig, PROBE)?.contains(&n3)))
            .context("node-3's path before the crash")?;
        let (at, t0) = (SystemTime::now(), Instant::now());
        speakers.kill("node-3");
        let closed = t0.elapsed();
        ferrolb_e2e::poll_elapsed(Duration::from_secs(30), || {
            Ok(!hops(rig, PROBE)?.contains(&n3))
        })
        .context("node-3's path withdrawn after SIGKILL")?;
        let gone = t0.elapsed();
        total.push(gone);
        reaped.push(closed);
        after_close.push(gone.saturating_sub(closed));
        let log = std::fs::read_to_string(&frr_log).unwrap_or_default();
        if let Some(d) = trace::first_line_after(&log, at, &["ADJCHANGE", &n3, "Down"]) {
            frr_down.push(Duration::from_secs_f64(
                trace::ms_between(at, d).max(0.0) / 1000.0,
            ));
        }
        speakers.start_one(rig, "node-3")?;
    }
    println!(
        "BENCH speaker SIGKILL → process reaped (its sockets closed): {}",
        percentiles(reaped)
    );
    if !frr_down.is_empty() {
        println!(
            "BENCH speaker SIGKILL → FRR logs the neighbour Down (ms log timestamps): {}",
            percentiles(frr_down)
        );
    }
    println!(
        "BENCH speaker SIGKILL → {} drops its path: {}",
        probe_name(),
        percentiles(total)
    );
    println!(
        "BENCH speaker reaped (TCP closed) → {} drops its path: {}",
        probe_name(),
        percentiles(after_close)
    );
    Ok(())
}

/// FRR resets node-1's session (`clear bgp`: Cease, close): Established again with its path.
fn clear_trials(rig: &Rig, addrs: &[String]) -> Result<()> {
    let n1 = bgp::node_address("node-1", Family::Ipv4)?;
    let mut back = Vec::new();
    for _ in 0..5 {
        ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(rig, PROBE)?.len() == addrs.len()))
            .context("every path before the reset")?;
        let t0 = Instant::now();
        rig.frr_json(&format!("clear bgp {n1}")).ok();
        ferrolb_e2e::poll_elapsed(Duration::from_secs(5), || {
            Ok(!hops(rig, PROBE)?.contains(&n1))
        })
        .context("FRR dropped node-1's path after the reset")?;
        ferrolb_e2e::poll_elapsed(TIMEOUT, || {
            Ok(
                bgp::neighbor(rig, Router::Frr, &n1)?.is_some_and(|x| x.is_established())
                    && hops(rig, PROBE)?.contains(&n1),
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

/// FRR's bgpd restarted (`rig.sh frr-restart bgpd`: SIGTERM, start again with its
/// configuration): every node Established again, then every node's path back.
fn restart_trials(rig: &Rig, addrs: &[String], restarts: usize) -> Result<()> {
    let (mut cmd, mut est, mut est_after_start, mut paths) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..restarts {
        ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(rig, PROBE)?.len() == addrs.len()))
            .context("every path before the restart")?;
        let t0 = Instant::now();
        rig.frr_restart("bgpd")?;
        let running = t0.elapsed();
        ferrolb_e2e::poll_elapsed(TIMEOUT, || {
            for a in addrs {
                if !bgp::neighbor(rig, Router::Frr, a)?.is_some_and(|x| x.is_established()) {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .context("every node Established after the bgpd restart")?;
        let e = t0.elapsed();
        ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(rig, PROBE)?.len() == addrs.len()))
            .context("every path back after the bgpd restart")?;
        cmd.push(running);
        est.push(e);
        est_after_start.push(e.saturating_sub(running));
        paths.push(t0.elapsed());
    }
    println!(
        "BENCH `rig.sh frr-restart bgpd` (stop, start, pid file written): {}",
        percentiles(cmd)
    );
    println!(
        "BENCH bgpd restart started → every node Established: {}",
        percentiles(est)
    );
    println!(
        "BENCH bgpd running again → every node Established: {}",
        percentiles(est_after_start)
    );
    println!(
        "BENCH bgpd restart started → every node's path back in {}: {}",
        probe_name(),
        percentiles(paths)
    );
    Ok(())
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

/// `count` dual-stack Services (`RequireDualStack`, one IPv4 and one IPv6 address each) of
/// pool `bgp-bench`, selecting the `bench` Deployment.
fn dual_stack_services(count: usize) -> String {
    let mut y = String::new();
    for i in 0..count {
        y.push_str(
            &setup::service_yaml(NS, &format!("d{i}"), "bgp-bench", "bench").replace(
                "ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv4]",
                "ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]",
            ),
        );
    }
    y
}

/// The bench pool `bgp-bench` with an IPv4 and an IPv6 range (for [`dual_stack_services`]).
fn dual_stack_pool() -> String {
    setup::pool_yaml("bgp-bench", "10.252.0.0/22").replace(
        r#"addresses: ["10.252.0.0/22"]"#,
        r#"addresses: ["10.252.0.0/22", "fd00:252::/116"]"#,
    )
}

/// BGPPeer `bgp-bench-c<i>` for scale collector `i`: its port, both families on the IPv4
/// session.
fn collector_peer(i: u16) -> String {
    let c = Router::Collector(i);
    setup::peer_yaml(
        &format!("bgp-bench-c{i}"),
        c.asn(),
        &c.address(Family::Ipv4),
        &format!("peerPort: {}, dualStackAddressFamily: true", c.port()),
    )
}

/// Prefixes of the bench pools collector `i` holds, (IPv4, IPv6), counting each prefix once.
fn collector_prefixes(rig: &Rig, i: u16) -> Result<(usize, usize)> {
    let count = |f: Family, p: &str| -> Result<usize> {
        let mut set = std::collections::BTreeSet::new();
        for r in bgp::routes(rig, Router::Collector(i), f)? {
            if r.prefix.starts_with(p) {
                set.insert(r.prefix);
            }
        }
        Ok(set.len())
    };
    Ok((
        count(Family::Ipv4, "10.252.")?,
        count(Family::Ipv6, "fd00:252:")?,
    ))
}

/// CPU seconds `pid` used during `window` (idle: nothing changes in the cluster).
fn idle_cpu(pid: u32, window: Duration) -> Result<f64> {
    let c0 = proc_usage(pid)?.1;
    std::thread::sleep(window);
    Ok(proc_usage(pid)?.1 - c0)
}

/// Waits until every node is Established with collectors `1..=n` and each of them holds
/// `want` IPv4 and `want` IPv6 prefixes of the bench pool; how long it took.
fn wait_collectors(rig: &Rig, addrs: &[String], n: u16, want: usize) -> Result<Duration> {
    let t0 = Instant::now();
    ferrolb_e2e::poll_elapsed(Duration::from_secs(600), || {
        for i in 1..=n {
            for a in addrs {
                if !bgp::neighbor(rig, Router::Collector(i), a)?.is_some_and(|x| x.is_established())
                {
                    return Ok(false);
                }
            }
            if collector_prefixes(rig, i)? != (want, want) {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .with_context(|| format!("{n} collectors with {want}+{want} prefixes from every node"))?;
    Ok(t0.elapsed())
}

/// Speaker memory and idle CPU with MetalLB-scale tables: node-1's speaker (a release build
/// with `FERROLB_E2E_RELEASE=1`) RSS with 3 and then 16 peers (GoBGP scale collectors, both
/// families on IPv4 sessions) carrying `FERROLB_BGP_BENCH_DUAL` (default 1000) dual-stack
/// Services, i.e. 2 × that many prefixes per peer, and its CPU over idle windows.
#[tokio::test]
#[ignore]
async fn z_bench_bgp_c_memory_and_idle_cpu() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bgp_c_memory_and_idle_cpu") else {
        return Ok(());
    };
    let count = env_n("FERROLB_BGP_BENCH_DUAL", 1000).clamp(1, 1000);
    let idle = Duration::from_secs(env_n("FERROLB_BGP_BENCH_IDLE_S", 60).clamp(5, 600) as u64);
    SUITE.install(&rig)?;
    rig.start_collectors(16)?;
    let mut cfg = dual_stack_pool();
    for i in 1..=3 {
        cfg.push_str(&collector_peer(i));
    }
    cfg.push_str(&setup::deployment_yaml(NS, "bench"));
    setup::apply(&rig, &cfg)?;
    let _op = SUITE.start_operator(&rig)?;
    let speakers = SUITE.start_speakers(&rig)?;
    let build = ferrolb_e2e::procs::speaker_build();
    let result = async {
        let addrs = node_addrs(&rig)?;
        let pid = speakers.procs["node-1"].pid();
        wait_collectors(&rig, &addrs, 3, 0)?;
        let rss0 = proc_usage(pid)?.0;
        let cpu0 = idle_cpu(pid, idle)?;
        println!(
            "BENCH ({build}) node-1 speaker, 3 peers up, nothing announced: RSS {rss0} KiB, idle CPU {:.3} s in {idle:?} ({:.2} % of a core)",
            cpu0,
            cpu0 * 100.0 / idle.as_secs_f64()
        );
        let t0 = Instant::now();
        setup::apply(&rig, &dual_stack_services(count))?;
        let applied = t0.elapsed();
        let loaded = wait_collectors(&rig, &addrs, 3, count)?;
        let rss3 = proc_usage(pid)?.0;
        let cpu3 = idle_cpu(pid, idle)?;
        let rss3_after = proc_usage(pid)?.0;
        println!(
            "BENCH ({build}) node-1 speaker, 3 peers × {} prefixes ({count} IPv4 + {count} IPv6; apply {applied:?}, all on the collectors {:?} later): RSS {rss3} KiB ({rss3_after} KiB after idling), idle CPU {:.3} s in {idle:?} ({:.2} % of a core)",
            2 * count,
            loaded,
            cpu3,
            cpu3 * 100.0 / idle.as_secs_f64()
        );
        let mut more = String::new();
        for i in 4..=16 {
            more.push_str(&collector_peer(i));
        }
        setup::apply(&rig, &more)?;
        let up16 = wait_collectors(&rig, &addrs, 16, count)?;
        let rss16 = proc_usage(pid)?.0;
        let cpu16 = idle_cpu(pid, idle)?;
        println!(
            "BENCH ({build}) node-1 speaker, 16 peers × {} prefixes (13 peers added, all carrying them {up16:?} later): RSS {rss16} KiB ({:.1} MiB), idle CPU {:.3} s in {idle:?} ({:.2} % of a core)",
            2 * count,
            rss16 as f64 / 1024.0,
            cpu16,
            cpu16 * 100.0 / idle.as_secs_f64()
        );
        Ok(())
    }
    .await;
    drop(speakers);
    let names: Vec<String> = (1..=16).map(|i| format!("bgp-bench-c{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    SUITE.cleanup_objects(&rig, &objects(&names));
    rig.start_collectors(0).ok();
    result
}

/// Each collector's own address for the BFD bench (`172.18.5.<i>`, added to the collectors'
/// netns): BFD keys sessions by peer address, and the collectors share one.
fn bfd_peer_address(i: u16) -> String {
    format!("172.18.5.{i}")
}

/// BGPPeer `bgp-bench-f<i>`: scale collector `i` at [`bfd_peer_address`], both families,
/// with BFDProfile `bgp-bench-bfd` when `bfd`.
fn bfd_bench_peer(i: u16, bfd: bool) -> String {
    let c = Router::Collector(i);
    let profile = if bfd {
        ", bfdProfile: bgp-bench-bfd"
    } else {
        ""
    };
    setup::peer_yaml(
        &format!("bgp-bench-f{i}"),
        c.asn(),
        &bfd_peer_address(i),
        &format!(
            "peerPort: {}, dualStackAddressFamily: true{profile}",
            c.port()
        ),
    )
}

/// node-1's `metallb_bfd_session_up` for peers `1..=n` ([`bfd_peer_address`]): how many are 1
/// (one scrape).
fn bfd_up_count(rig: &Rig, n: u16) -> Result<usize> {
    let m = rig.http_get_from_node("node-1", "http://127.0.0.1:7472/metrics")?;
    let up = (1..=n)
        .filter(|i| {
            let line = format!(
                r#"metallb_bfd_session_up{{peer="{}"}} 1"#,
                bfd_peer_address(*i)
            );
            m.lines().any(|l| l.trim() == line)
        })
        .count();
    Ok(up)
}

/// BFD's memory (issue 16: "speaker RSS with 16 BFD sessions at 50 ms within 2 MiB of the same
/// speaker without BFD"): node-1's speaker with 16 peers (the scale collectors, each at its own
/// address) carrying `FERROLB_BGP_BENCH_DUAL` dual-stack Services; RSS after two idle windows
/// without BFD (the second shows the drift with nothing changing), then after a BFDProfile of
/// 50 ms × 3 is set on every peer (no BGP reset: a session's identity has no BFD field), every
/// BFD session Up with `bfd-peers`, and one more idle window.
#[tokio::test]
#[ignore]
async fn z_bench_bgp_e_bfd_memory() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bgp_e_bfd_memory") else {
        return Ok(());
    };
    const PEERS: u16 = 16;
    let count = env_n("FERROLB_BGP_BENCH_DUAL", 1000).clamp(1, 1000);
    let idle = Duration::from_secs(env_n("FERROLB_BGP_BENCH_IDLE_S", 60).clamp(5, 600) as u64);
    SUITE.install(&rig)?;
    rig.start_collectors(PEERS)?;
    let ns = rig.collect_ns();
    for i in 1..=PEERS {
        let a = format!("{}/16", bfd_peer_address(i));
        rig.netns_exec(&ns, &["ip", "addr", "replace", &a, "dev", "eth0"])?;
    }
    let mut cfg = dual_stack_pool();
    for i in 1..=PEERS {
        cfg.push_str(&bfd_bench_peer(i, false));
    }
    cfg.push_str(&format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: bgp-bench-bfd, namespace: {}}}\nspec: {{receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3}}\n",
        setup::SYSTEM
    ));
    cfg.push_str(&setup::deployment_yaml(NS, "bench"));
    setup::apply(&rig, &cfg)?;
    let _op = SUITE.start_operator(&rig)?;
    let speakers = SUITE.start_speakers(&rig)?;
    let build = ferrolb_e2e::procs::speaker_build();
    let mut peers_proc: Option<std::process::Child> = None;
    let result = async {
        let addrs = node_addrs(&rig)?;
        let pid = speakers.procs["node-1"].pid();
        wait_collectors(&rig, &addrs, PEERS, 0)?;
        setup::apply(&rig, &dual_stack_services(count))?;
        let loaded = wait_collectors(&rig, &addrs, PEERS, count)?;
        let cpu_a = idle_cpu(pid, idle)?;
        let rss_a = proc_usage(pid)?.0;
        let cpu_b = idle_cpu(pid, idle)?;
        let rss_b = proc_usage(pid)?.0;
        println!(
            "BENCH ({build}) node-1 speaker, {PEERS} peers × {} prefixes, no BFD (all on the collectors {loaded:?} after the apply): RSS {rss_a} KiB after {idle:?} idle, {rss_b} KiB after another {idle:?} (idle CPU {:.2} %, {:.2} % of a core)",
            2 * count,
            cpu_a * 100.0 / idle.as_secs_f64(),
            cpu_b * 100.0 / idle.as_secs_f64()
        );
        // The peers' side first, so the speaker's sessions come Up at once.
        let node1 = addrs.first().context("node-1's address")?.clone();
        let mut args = vec![
            "netns".to_string(),
            "exec".into(),
            ns.clone(),
            env!("CARGO_BIN_EXE_bfd-peers").into(),
            (3 * idle.as_secs() + 180).to_string(),
            "50".into(),
            node1,
        ];
        args.extend((1..=PEERS).map(bfd_peer_address));
        peers_proc = Some(
            std::process::Command::new("ip")
                .args(&args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .context("starting bfd-peers")?,
        );
        let mut with_bfd = String::new();
        for i in 1..=PEERS {
            with_bfd.push_str(&bfd_bench_peer(i, true));
        }
        let t0 = Instant::now();
        setup::apply(&rig, &with_bfd)?;
        let up_after = ferrolb_e2e::poll_elapsed(Duration::from_secs(90), || Ok(bfd_up_count(&rig, PEERS)? == usize::from(PEERS)))
            .with_context(|| format!("{PEERS} BFD sessions Up on node-1 ({} up)", bfd_up_count(&rig, PEERS).unwrap_or(0)))?;
        // Still Established with every prefix (a BFD profile does not reset a session).
        wait_collectors(&rig, &addrs, PEERS, count)?;
        let cpu_c = idle_cpu(pid, idle)?;
        let rss_c = proc_usage(pid)?.0;
        let up_end = bfd_up_count(&rig, PEERS)?;
        println!(
            "BENCH ({build}) node-1 speaker, same with {PEERS} BFD sessions at 50 ms × 3 (all Up {up_after:?} after the apply, {up_end} Up after the window; {:?} in all): RSS {rss_c} KiB after {idle:?} idle (idle CPU {:.2} % of a core)",
            t0.elapsed(),
            cpu_c * 100.0 / idle.as_secs_f64()
        );
        println!(
            "BENCH ({build}) BFD's share: {:+} KiB ({:+.2} MiB) against the second window without BFD; drift between the two windows without BFD {:+} KiB",
            rss_c as i64 - rss_b as i64,
            (rss_c as f64 - rss_b as f64) / 1024.0,
            rss_b as i64 - rss_a as i64
        );
        Ok(())
    }
    .await;
    if let Some(mut p) = peers_proc {
        let _ = p.kill();
        let _ = p.wait();
    }
    drop(speakers);
    let mut names: Vec<String> = (1..=PEERS)
        .map(|i| format!("bgppeers.metallb.io/bgp-bench-f{i}"))
        .collect();
    names.push("bfdprofiles.metallb.io/bgp-bench-bfd".into());
    names.push("bgpadvertisements.metallb.io/bgp-bench".into());
    names.push("ipaddresspools.metallb.io/bgp-bench".into());
    SUITE.cleanup_objects(&rig, &names);
    for i in 1..=PEERS {
        let a = format!("{}/16", bfd_peer_address(i));
        rig.netns_exec(&ns, &["ip", "addr", "del", &a, "dev", "eth0"])
            .ok();
    }
    rig.start_collectors(0).ok();
    result
}

/// The `mover` Deployment (one echo replica pinned to `node`) and, with `service`, its
/// `externalTrafficPolicy: Local` Service at a fixed address.
fn mover_yaml(node: &str, service: bool) -> String {
    let mut y = format!(
        r#"---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: mover, namespace: {NS}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: mover}}}}
  template:
    metadata: {{labels: {{app: mover}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers: [{{name: web, image: echo, ports: [{{containerPort: 8080}}]}}]
"#
    );
    if service {
        y.push_str(
            &service_at("mover", MOVER_IP)
                .replace("selector: {app: bench}", "selector: {app: mover}")
                .replace(
                    "  type: LoadBalancer\n",
                    "  type: LoadBalancer\n  externalTrafficPolicy: Local\n",
                ),
        );
    }
    y
}

/// Address of the `mover` Service.
const MOVER_IP: &str = "10.252.16.200";

/// ETP=Local endpoint move: the `mover` Deployment's nodeSelector changes to the next node
/// (`FERROLB_BGP_BENCH_MOVES` times, default 10); the rollout starts a pod there, then stops
/// the old one. Timed from the test's own EndpointSlice watch: the new node's endpoint ready →
/// its path at FRR ([`hops`]), and the old endpoint no longer ready → FRR's only next hop is the new
/// node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn z_bench_bgp_d_etp_local_move() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_bgp_d_etp_local_move") else {
        return Ok(());
    };
    let moves = env_n("FERROLB_BGP_BENCH_MOVES", 10).clamp(1, 50);
    SUITE.install(&rig)?;
    let mut cfg = setup::pool_yaml("bgp-bench", "10.252.16.0/24");
    cfg.push_str(&setup::peer_yaml(
        "bgp-bench-frr",
        Router::Frr.asn(),
        &Router::Frr.address(Family::Ipv4),
        "",
    ));
    cfg.push_str(&mover_yaml("node-1", true));
    setup::apply(&rig, &cfg)?;
    let _op = SUITE.start_operator(&rig)?;
    let speakers = SUITE.start_speakers(&rig)?;
    let client = rig.admin_client().await?;
    let (slices, slice_task) = trace::watch_slices(Api::namespaced(client, NS));
    let prefix = format!("{MOVER_IP}/32");
    let result = async {
        let nodes = rig.node_names();
        let addrs = node_addrs(&rig)?;
        for a in &addrs {
            bgp::wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
        }
        ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(&rig, &prefix)? == [addrs[0].clone()]))
            .context("mover's path from node-1 only")?;
        let (mut new_path, mut old_gone, mut whole) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..moves {
            let (from, to) = (k % nodes.len(), (k + 1) % nodes.len());
            let at = SystemTime::now();
            let t0 = Instant::now();
            setup::apply(&rig, &mover_yaml(&nodes[to], false))?;
            ferrolb_e2e::poll_elapsed(Duration::from_secs(60), || Ok(hops(&rig, &prefix)?.contains(&addrs[to])))
                .with_context(|| format!("{}'s path after the move", nodes[to]))?;
            let t_new = SystemTime::now();
            ferrolb_e2e::poll_elapsed(Duration::from_secs(60), || Ok(hops(&rig, &prefix)? == [addrs[to].clone()]))
                .with_context(|| format!("{}'s path withdrawn after the move", nodes[from]))?;
            let t_done = SystemTime::now();
            whole.push(t0.elapsed());
            let ready = slices.lock().ok().and_then(|v| {
                v.iter()
                    .find(|(t, s, n)| *t >= at && s == "mover" && n.contains(&nodes[to]))
                    .map(|(t, _, _)| *t)
            });
            if let Some(r) = ready {
                new_path.push(Duration::from_secs_f64(trace::ms_between(r, t_new).max(0.0) / 1000.0));
            }
            if let Some(g) = trace::slice_state_at(&slices, "mover", at, &[nodes[to].as_str()]) {
                old_gone.push(Duration::from_secs_f64(trace::ms_between(g, t_done).max(0.0) / 1000.0));
            }
        }
        println!("BENCH ETP=Local move: nodeSelector applied → FRR's only next hop is the new node: {}", percentiles(whole));
        if !new_path.is_empty() {
            println!("BENCH ETP=Local move: new endpoint ready (test's watch) → its node's path in {}: {}",
                probe_name(), percentiles(new_path));
        }
        if !old_gone.is_empty() {
            println!("BENCH ETP=Local move: old endpoint not ready (test's watch) → FRR's next hop changed to the new node only: {}", percentiles(old_gone));
        }
        Ok(())
    }
    .await;
    slice_task.abort();
    drop(speakers);
    SUITE.cleanup_objects(&rig, &objects(&["bgp-bench-frr"]));
    result
}
