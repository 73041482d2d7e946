//! ferrolb against MetalLB v0.16.1 itself, same rig, same run (issue 22), second slice: L2
//! failover. Scripted benchmark, not a test (`#[ignore]`d, run explicitly).
//!
//! For each system in turn (MetalLB first, then ferrolb; the other one stopped and its objects
//! gone): its controller, one speaker per node (each in its node's netns), a 3-replica echo
//! Deployment behind a `Cluster` LoadBalancer Service with an IPv4 from the LAN; then N trials
//! per fault: the announcing node's speaker SIGKILLed (`crash`), stopped with SIGTERM
//! (`graceful`), optionally its link blackholed (`blackhole`). The outage is measured by the
//! ARP prober in the client namespace (`ferrolb_e2e::failover`: one request every 10 ms), not
//! by either system's logs: the largest time without any reply after the fault, the takeover
//! (fault → first reply from another MAC), and whether the old MAC answered again after the new
//! one had (two MACs at once). After each trial the speaker is restarted (the link healed) and
//! the trial waits until the original owner alone answers again. Both systems run with their
//! defaults: MetalLB's memberlist LAN defaults (`--ml-bindaddr`, `--ml-labels`, a secret key,
//! nothing tuned), ferrolb's speaker without flags (heartbeats on the test port 17947).
//!
//! Isolation: MetalLB's speaker deletes its node's ServiceL2Status objects for Services it does
//! not announce, in every namespace, so the two speaker sets never run at once: MetalLB's are
//! stopped (SIGTERM) and its namespace (`metallb-upstream`: pool, advertisement,
//! ServiceL2Statuses, fake Pods) and Service namespace deleted before ferrolb's start, and the
//! run checks that no ServiceL2Status of either is left. MetalLB handles only Services of class
//! `metallb` (pool `vs-l2` in its namespace), ferrolb only `e2e.ferrolb.io/l2` (`l2-e2e-v4`).
//!
//! ```sh
//! FERROLB_E2E_INSTANCE=5 e2e/rig.sh up && . e2e/.run/i5/env
//! FERROLB_E2E=1 cargo test -p ferrolb-e2e --test vs_metallb_l2 -- --ignored --nocapture
//! ```
//!
//! A second benchmark, `z_bench_vs_metallb_l2_idle`, compares the speakers' RSS and CPU with
//! many announced IPs: for each system in turn (same isolation), `FERROLB_VS_L2_IDLE_SERVICES`
//! (default 1,000) LoadBalancer Services created through the API (32 in flight) from a /22 on
//! the LAN (`172.18.248.0/22`: ferrolb's `l2-e2e-scale`, MetalLB's `vs-l2-idle` in its
//! namespace), until every one has its ServiceL2Status (the announcing node's own report; three
//! of them also checked with ARP from the client: exactly one MAC answers), then every
//! speaker's RSS sampled once a second and its CPU over `FERROLB_VS_L2_IDLE_S` (60) idle
//! seconds (`ferrolb_e2e::speaker_load`; `FERROLB_VS_L2_IDLE_FERROLB_FIRST=1` runs ferrolb's part
//! first):
//!
//! ```sh
//! FERROLB_E2E=1 cargo test -p ferrolb-e2e --test vs_metallb_l2 -- --ignored --nocapture z_bench_vs_metallb_l2_idle
//! ```
//!
//! Env: `FERROLB_VS_L2_TRIALS` (20 per fault and system), `FERROLB_VS_L2_KINDS`
//! (`crash,graceful`; `blackhole` too), `FERROLB_VS_L2_PROBE_SECS` (10: the probe of one trial,
//! the fault 0.8 s in), `FERROLB_VS_L2_PLOT` (a PNG path: the outage distributions, drawn
//! with `gnuplot` when it is installed). MetalLB's speaker is built on first use
//! (`e2e/build-upstream.sh --metallb-speaker`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use ferrolb_e2e::failover::{Failure, Trial, failure_trial_within, quantile_ms};
use ferrolb_e2e::metallb::{self, ControllerOpts, Impl, loadavg, ratio};
use ferrolb_e2e::speaker_load as load;
use ferrolb_e2e::workload::{self, Echo};
use ferrolb_e2e::{Rig, l2, procs, wait_for};

/// Namespace of MetalLB's Service.
const ML_NS: &str = "vs-l2-metallb";
/// MetalLB's pool (in [`metallb::NAMESPACE`]), on the rig LAN, next to ferrolb's `l2-e2e-v4`.
const ML_POOL: (&str, &str) = ("vs-l2", "172.18.255.230-172.18.255.239");
/// Bounds.
const IP_TIMEOUT: Duration = Duration::from_secs(90);
const OWNER_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause after the owner is back alone, before the next trial (same for both).
const SETTLE: Duration = Duration::from_secs(2);

/// A running speaker set of either system, as the trials need it.
trait SpeakerSet {
    /// The processes, for [`failure_trial_within`].
    fn procs(&mut self) -> &mut l2::Speakers;
    /// Restarts the speaker of `node`.
    fn restart(&mut self, rig: &Rig, node: &str) -> Result<()>;
}

impl SpeakerSet for l2::Speakers {
    fn procs(&mut self) -> &mut l2::Speakers {
        self
    }
    fn restart(&mut self, rig: &Rig, node: &str) -> Result<()> {
        self.start_one(rig, node)
    }
}

impl SpeakerSet for metallb::Speakers {
    fn procs(&mut self) -> &mut l2::Speakers {
        &mut self.set
    }
    fn restart(&mut self, rig: &Rig, node: &str) -> Result<()> {
        self.start_one(rig, node)
    }
}

/// The figures of one system under one fault.
struct Figures {
    who: Impl,
    kind: Failure,
    /// Largest time without a reply after the fault, per trial.
    outages: Vec<Duration>,
    /// Fault → first reply from another MAC, per trial.
    takeovers: Vec<Duration>,
    /// Trials where the old MAC answered after the new one.
    both: usize,
    /// Trials where no other MAC answered within the probe (not in `outages`).
    failed: usize,
}

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Waits until exactly `mac` answers ARP for `ip`.
async fn wait_owner(rig: &Rig, ip: &str, mac: &str, diag: impl Fn() -> String) -> Result<()> {
    wait_for(
        &format!("ARP for {ip} answered only by {mac}"),
        OWNER_TIMEOUT,
        diag,
        || async { Ok((rig.arp_who_has(ip, 3)? == [mac.to_string()]).then_some(())) },
    )
    .await
}

/// Runs `trials` trials of each of `kinds` against the running set announcing `ip`.
async fn run_trials(
    rig: &Rig,
    who: Impl,
    set: &mut dyn SpeakerSet,
    ip: &str,
    kinds: &[Failure],
    trials: usize,
    diag: &dyn Fn() -> String,
) -> Result<Vec<Figures>> {
    let probe_secs = u32::try_from(env_usize("FERROLB_VS_L2_PROBE_SECS", 10).clamp(2, 60))?;
    let owner = l2::expected_owner(ip, &rig.node_names())?;
    let mac = rig.node_mac(&owner)?;
    wait_owner(rig, ip, &mac, diag).await?;
    println!("BENCH {}: {ip} owned by {owner} ({mac})", who.name());
    let mut out = Vec::new();
    for &kind in kinds {
        let mut f = Figures {
            who,
            kind,
            outages: Vec::new(),
            takeovers: Vec::new(),
            both: 0,
            failed: 0,
        };
        for i in 0..trials {
            match failure_trial_within(set.procs(), ip, &owner, &mac, kind, probe_secs) {
                Ok((t, bh)) => {
                    let Trial {
                        failover,
                        max_gap,
                        both_answered,
                        ..
                    } = t;
                    eprintln!(
                        "trial {} {} {i}: outage {max_gap:?} takeover {failover:?} both {both_answered}",
                        who.name(),
                        kind.name()
                    );
                    f.outages.push(max_gap);
                    f.takeovers.push(failover);
                    f.both += usize::from(both_answered);
                    drop(bh); // heals a blackhole
                }
                Err(e) => {
                    eprintln!("trial {} {} {i} failed: {e:#}", who.name(), kind.name());
                    f.failed += 1;
                }
            }
            if !set.procs().procs.contains_key(&owner) {
                set.restart(rig, &owner)?;
            }
            wait_owner(rig, ip, &mac, diag).await?;
            tokio::time::sleep(SETTLE).await;
        }
        out.push(f);
    }
    Ok(out)
}

/// MetalLB's part: controller, pool, Service, speakers, trials; then everything of it gone.
async fn metallb_part(rig: &Rig, kinds: &[Failure], trials: usize) -> Result<Vec<Figures>> {
    let _controller = metallb::start_controller(rig, ControllerOpts::default())?;
    let (pool, range) = ML_POOL;
    let ns = metallb::NAMESPACE;
    l2::kubectl_apply(
        rig,
        &format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {pool}, namespace: {ns}}}\n\
             spec: {{addresses: [\"{range}\"], autoAssign: false}}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {pool}, namespace: {ns}}}\n\
             spec: {{ipAddressPools: [{pool}]}}\n"
        ),
    )?;
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ML_NS,
        "--ignore-not-found",
        "--wait=true",
    ]);
    rig.kubectl(&["create", "namespace", ML_NS])?;
    Echo {
        ns: ML_NS,
        name: "web",
        replicas: 3,
        class: metallb::CLASS,
        pool,
        node: None,
        etp: Some("Cluster"),
        family: None,
    }
    .apply(rig)?;
    let diag = || {
        let mut s = format!(
            "{}\n--- MetalLB's servicel2statuses ---\n{}",
            rig.diagnostics(Some(ML_NS)),
            metallb::l2_statuses(rig)
        );
        for n in rig.node_names() {
            let _ = write!(
                s,
                "\n--- metallb-speaker {n} ---\n{}",
                rig.log_tail(&format!("metallb-speaker-{n}"), 15)
            );
        }
        s
    };
    let mut speakers = metallb::Speakers::start(rig)?;
    let result = async {
        let ip = workload::wait_ip(rig, ML_NS, "web", IP_TIMEOUT, &diag).await?;
        run_trials(rig, Impl::MetalLb, &mut speakers, &ip, kinds, trials, &diag).await
    }
    .await;
    speakers.stop_all();
    drop(speakers);
    let _ = rig.kubectl(&["delete", "namespace", ML_NS, "--wait=true", "--timeout=60s"]);
    metallb::cleanup(rig, metallb::NAMESPACE);
    result
}

/// ferrolb's part: the `l2` harness with default speaker flags; then everything of it gone.
async fn ferrolb_part(rig: &Rig, kinds: &[Failure], trials: usize) -> Result<Vec<Figures>> {
    l2::install(rig)?;
    let _op = l2::start_operator(rig)?;
    let mut speakers = l2::Speakers::start(rig, &[])?;
    let result = async {
        l2::workload(rig, "web", 3, None, "Cluster")?;
        let ip = l2::wait_ip(rig, "web").await?;
        run_trials(
            rig,
            Impl::Ferrolb,
            &mut speakers,
            &ip,
            kinds,
            trials,
            &|| l2::diag(rig),
        )
        .await
    }
    .await;
    drop(speakers);
    l2::cleanup(rig);
    let _ = rig.kubectl(&[
        "-n",
        l2::SYSTEM,
        "delete",
        "servicel2statuses",
        "-l",
        &format!("metallb.io/service-namespace={}", l2::NS),
    ]);
    result
}

/// Fails when either system left a ServiceL2Status behind (the isolation the run relies on).
fn check_no_statuses(rig: &Rig) -> Result<()> {
    let left = rig.kubectl(&[
        "get",
        "servicel2statuses",
        "-A",
        "-o",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}",
    ])?;
    anyhow::ensure!(left.trim().is_empty(), "ServiceL2Statuses left: {left}");
    Ok(())
}

fn ms(v: f64) -> String {
    format!("{v:.0} ms")
}

/// Prints the Markdown table: per fault, one line per metric, MetalLB | ferrolb | ratio.
fn print_table(figs: &[Figures], kinds: &[Failure], load: (&str, &str)) {
    println!("\n| fault | metric | MetalLB v0.16.1 | ferrolb | MetalLB / ferrolb |");
    println!("|---|---|---|---|---|");
    for &kind in kinds {
        let get = |who| figs.iter().find(|f| f.who == who && f.kind == kind);
        let (Some(m), Some(f)) = (get(Impl::MetalLb), get(Impl::Ferrolb)) else {
            continue;
        };
        let sorted = |v: &[Duration]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        let (mo, fo) = (sorted(&m.outages), sorted(&f.outages));
        for (label, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            let (a, b) = (quantile_ms(&mo, q), quantile_ms(&fo, q));
            println!(
                "| {} | outage {label} | {} | {} | {} |",
                kind.name(),
                ms(a),
                ms(b),
                ratio(a, b)
            );
        }
        let (mt, ft) = (sorted(&m.takeovers), sorted(&f.takeovers));
        let (a, b) = (quantile_ms(&mt, 0.5), quantile_ms(&ft, 0.5));
        println!(
            "| {} | takeover p50 (fault → new MAC) | {} | {} | {} |",
            kind.name(),
            ms(a),
            ms(b),
            ratio(a, b)
        );
        println!(
            "| {} | trials with two MACs answering | {}/{} | {}/{} | |",
            kind.name(),
            m.both,
            m.outages.len(),
            f.both,
            f.outages.len()
        );
        if m.failed + f.failed > 0 {
            println!(
                "| {} | trials without a takeover in the probe | {} | {} | |",
                kind.name(),
                m.failed,
                f.failed
            );
        }
    }
    println!("\nload average: start {} / end {}", load.0, load.1);
}

/// Writes the per-trial outages and, when `gnuplot` is installed, draws them into `png`:
/// one panel per fault, the sorted outages of both systems (an empirical distribution).
fn plot(rig: &Rig, figs: &[Figures], kinds: &[Failure], png: &str) -> Result<()> {
    let mut script = format!(
        "set terminal pngcairo size 1000,{} font ',10'\nset output '{png}'\n\
         set multiplot layout {},1\nset grid\nset key left top\nset yrange [0:1.02]\n\
         set ylabel 'fraction of trials (outage ≤ x)'\n",
        360 * kinds.len(),
        kinds.len()
    );
    for &kind in kinds {
        let mut plots = Vec::new();
        for who in [Impl::MetalLb, Impl::Ferrolb] {
            let Some(f) = figs.iter().find(|f| f.who == who && f.kind == kind) else {
                continue;
            };
            let mut v = f.outages.clone();
            v.sort();
            let data = rig
                .run_dir
                .join(format!("vs-l2-{}-{:?}.dat", kind.name(), who));
            // the step starts at 0 left of the shortest outage
            let first = v.first().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
            let text: String = std::iter::once(format!("{first:.1} 0\n"))
                .chain(v.iter().enumerate().map(|(i, d)| {
                    format!(
                        "{:.1} {:.4}\n",
                        d.as_secs_f64() * 1000.0,
                        (i + 1) as f64 / v.len() as f64
                    )
                }))
                .collect();
            std::fs::write(&data, text)?;
            plots.push(format!(
                "'{}' using 1:2 with steps lw 2 title '{} (n={})'",
                data.display(),
                who.name(),
                v.len()
            ));
        }
        let _ = writeln!(
            script,
            "set title 'L2 failover, IPv4, fault: {} (ARP prober, 10 ms)'\n\
             set xlabel 'outage (ms, log scale)'\nset logscale x\nplot {}",
            kind.name(),
            plots.join(", ")
        );
    }
    script.push_str("unset multiplot\n");
    let gp = rig.run_dir.join("vs-l2-plot.gp");
    std::fs::write(&gp, &script)?;
    let status = std::process::Command::new("gnuplot")
        .arg(&gp)
        .status()
        .context("running gnuplot (apt-get install gnuplot-nox)")?;
    anyhow::ensure!(status.success(), "gnuplot {} failed", gp.display());
    println!("plot: {png}");
    Ok(())
}

#[tokio::test]
#[ignore = "benchmark: run explicitly (see the module docs)"]
async fn z_bench_vs_metallb_l2_failover() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_vs_metallb_l2_failover") else {
        return Ok(());
    };
    let trials = env_usize("FERROLB_VS_L2_TRIALS", 20).clamp(1, 200);
    let kinds = std::env::var("FERROLB_VS_L2_KINDS")
        .unwrap_or_else(|_| "crash,graceful".into())
        .split(',')
        .map(Failure::parse)
        .collect::<Result<Vec<_>>>()?;
    // Build (or find) MetalLB's speaker before the clock matters.
    metallb::speaker_binary()?;
    procs::install_base(&rig, &["controller", "speaker"])?;
    let load_start = loadavg();
    println!(
        "BENCH vs MetalLB L2 failover: {trials} trials per fault ({}), IPv4, both with defaults; \
         ferrolb speaker build {}, load {load_start}",
        kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(","),
        procs::speaker_build()
    );
    let mut figs = Vec::new();
    figs.extend(metallb_part(&rig, &kinds, trials).await?);
    check_no_statuses(&rig)?;
    figs.extend(ferrolb_part(&rig, &kinds, trials).await?);
    check_no_statuses(&rig)?;
    let load_end = loadavg();
    print_table(&figs, &kinds, (&load_start, &load_end));
    if let Ok(png) = std::env::var("FERROLB_VS_L2_PLOT")
        && let Err(e) = plot(&rig, &figs, &kinds, &png)
    {
        println!("no plot: {e:#}");
    }
    Ok(())
}

/// MetalLB's pool for the idle benchmark (in [`metallb::NAMESPACE`]): the same /22 as
/// ferrolb's `l2-e2e-scale` (the two never run at once).
const ML_IDLE_POOL: &str = "vs-l2-idle";
/// Bound of the wait for every Service's ServiceL2Status.
const IDLE_BURST_TIMEOUT: Duration = Duration::from_secs(600);

/// What one system's speakers cost with `n` announced IPs.
#[derive(Debug, Default)]
struct IdleFigures {
    /// Mean speaker RSS (KiB) before the burst.
    rss_before: f64,
    /// First create sent → every Service has its ServiceL2Status.
    announced: Duration,
    /// Mean speaker RSS (KiB) right after.
    rss_loaded: f64,
    /// The idle window.
    idle: load::Idle,
}

/// ServiceL2Status objects of the Services of `svc_ns`, in `status_ns`.
fn l2_status_count(rig: &Rig, status_ns: &str, svc_ns: &str) -> Result<usize> {
    let out = rig.kubectl(&[
        "-n",
        status_ns,
        "get",
        "servicel2statuses",
        "-l",
        &format!("metallb.io/service-namespace={svc_ns}"),
        "-o",
        "name",
    ])?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
}

/// The burst, the wait for its statuses, an ARP check of three of its IPs, and the speakers'
/// RSS/CPU over `idle` (classes, pools and namespaces of the running system as given).
#[allow(clippy::too_many_arguments)]
async fn idle_measure(
    rig: &Rig,
    pids: &BTreeMap<String, u32>,
    svc_ns: &str,
    status_ns: &str,
    class: &str,
    pool: &str,
    n: usize,
    idle: Duration,
) -> Result<IdleFigures> {
    load::wait_exec(pids)?;
    // The speakers settle (memberlist joins, first syncs) before the baseline.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut f = IdleFigures {
        rss_before: load::mean_rss(pids)?,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let creator = load::create_burst(rig.admin_client().await?, svc_ns, n, class, pool);
    loop {
        if l2_status_count(rig, status_ns, svc_ns).unwrap_or(0) >= n {
            f.announced = t0.elapsed();
            break;
        }
        anyhow::ensure!(
            t0.elapsed() < IDLE_BURST_TIMEOUT,
            "{} of {n} ServiceL2Statuses after {IDLE_BURST_TIMEOUT:?}",
            l2_status_count(rig, status_ns, svc_ns).unwrap_or(0)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    creator.await??;
    for name in [
        "b0000",
        &format!("b{:04}", n / 2),
        &format!("b{:04}", n - 1),
    ] {
        let ip = rig.kubectl(&[
            "-n",
            svc_ns,
            "get",
            "service",
            name,
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])?;
        let macs = rig.arp_who_has(ip.trim(), 3)?;
        anyhow::ensure!(
            macs.len() == 1,
            "{svc_ns}/{name} ({ip}): ARP answered by {macs:?}"
        );
    }
    f.rss_loaded = load::mean_rss(pids)?;
    f.idle = load::idle(pids, idle).await?;
    Ok(f)
}

/// MetalLB's part of the idle benchmark; then everything of it gone.
async fn metallb_idle_part(rig: &Rig, n: usize, idle: Duration) -> Result<IdleFigures> {
    let _controller = metallb::start_controller(rig, ControllerOpts::default())?;
    let ns = metallb::NAMESPACE;
    l2::kubectl_apply(
        rig,
        &format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {ML_IDLE_POOL}, namespace: {ns}}}\n\
             spec: {{addresses: [\"{}\"], autoAssign: false}}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {ML_IDLE_POOL}, namespace: {ns}}}\n\
             spec: {{ipAddressPools: [{ML_IDLE_POOL}]}}\n",
            l2::POOL_SCALE
        ),
    )?;
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ML_NS,
        "--ignore-not-found",
        "--wait=true",
    ]);
    rig.kubectl(&["create", "namespace", ML_NS])?;
    l2::kubectl_apply(rig, &workload::deployment_yaml(ML_NS, "bench", 1, None))?;
    let mut speakers = metallb::Speakers::start(rig)?;
    let pids = speakers
        .set
        .procs
        .iter()
        .map(|(n, p)| (n.clone(), p.pid()))
        .collect();
    let result = idle_measure(rig, &pids, ML_NS, ns, metallb::CLASS, ML_IDLE_POOL, n, idle).await;
    if let Err(e) = &result {
        eprintln!("MetalLB part failed: {e:#}");
    }
    speakers.stop_all();
    drop(speakers);
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ML_NS,
        "--wait=true",
        "--timeout=120s",
    ]);
    metallb::cleanup(rig, ns);
    result
}

/// ferrolb's part of the idle benchmark (the `l2` harness, speakers without flags); then
/// everything of it gone.
async fn ferrolb_idle_part(rig: &Rig, n: usize, idle: Duration) -> Result<IdleFigures> {
    l2::install(rig)?;
    let _op = l2::start_operator(rig)?;
    let mut speakers = l2::Speakers::start(rig, &[])?;
    let result = async {
        l2::kubectl_apply(rig, &workload::deployment_yaml(l2::NS, "bench", 1, None))?;
        let pids = speakers
            .procs
            .iter()
            .map(|(n, p)| (n.clone(), p.pid()))
            .collect();
        idle_measure(
            rig,
            &pids,
            l2::NS,
            l2::SYSTEM,
            l2::CLASS,
            "l2-e2e-scale",
            n,
            idle,
        )
        .await
    }
    .await;
    if let Err(e) = &result {
        eprintln!("ferrolb part failed: {e:#}");
    }
    for node in rig.node_names() {
        if let Err(e) = speakers.stop(&node) {
            eprintln!("stopping ferrolb's speaker on {node}: {e:#}");
        }
    }
    drop(speakers);
    l2::cleanup(rig);
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        l2::NS,
        "--wait=true",
        "--timeout=120s",
    ]);
    let _ = rig.kubectl(&[
        "-n",
        l2::SYSTEM,
        "delete",
        "servicel2statuses",
        "-l",
        &format!("metallb.io/service-namespace={}", l2::NS),
    ]);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly (see the module docs)"]
async fn z_bench_vs_metallb_l2_idle() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_vs_metallb_l2_idle") else {
        return Ok(());
    };
    let n = env_usize("FERROLB_VS_L2_IDLE_SERVICES", 1000).clamp(3, 1000);
    let idle = Duration::from_secs(env_usize("FERROLB_VS_L2_IDLE_S", 60).clamp(5, 600) as u64);
    metallb::speaker_binary()?;
    procs::install_base(&rig, &["controller", "speaker"])?;
    check_no_statuses(&rig)?;
    let load_start = loadavg();
    println!(
        "BENCH vs MetalLB L2 idle: {n} Services, idle {idle:?}; ferrolb speaker build {}, load {load_start}",
        procs::speaker_build()
    );
    // MetalLB first by default; `FERROLB_VS_L2_IDLE_FERROLB_FIRST=1` swaps the order.
    let (m, f) = if std::env::var("FERROLB_VS_L2_IDLE_FERROLB_FIRST").is_ok_and(|v| v == "1") {
        println!("order: ferrolb first");
        let f = ferrolb_idle_part(&rig, n, idle).await?;
        check_no_statuses(&rig)?;
        (metallb_idle_part(&rig, n, idle).await?, f)
    } else {
        println!("order: MetalLB first");
        let m = metallb_idle_part(&rig, n, idle).await?;
        check_no_statuses(&rig)?;
        (m, ferrolb_idle_part(&rig, n, idle).await?)
    };
    check_no_statuses(&rig)?;
    let load_end = loadavg();
    let mib = |k: f64| format!("{:.1} MiB", k / 1024.0);
    println!("\n| metric | MetalLB v0.16.1 | ferrolb | MetalLB / ferrolb |");
    println!("|---|---|---|---|");
    println!(
        "| L2 speaker RSS before the burst (mean of the nodes) | {} | {} | {} |",
        mib(m.rss_before),
        mib(f.rss_before),
        ratio(m.rss_before, f.rss_before)
    );
    println!(
        "| {n}-Service burst → every ServiceL2Status written | {:.1} s | {:.1} s | {} |",
        m.announced.as_secs_f64(),
        f.announced.as_secs_f64(),
        ratio(m.announced.as_secs_f64(), f.announced.as_secs_f64())
    );
    println!(
        "| L2 speaker RSS with {n} IPs announced | {} | {} | {} |",
        mib(m.rss_loaded),
        mib(f.rss_loaded),
        ratio(m.rss_loaded, f.rss_loaded)
    );
    println!(
        "| L2 speaker RSS, largest sample of {:.0} s idle with {n} IPs | {} | {} | {} |",
        m.idle.window.as_secs_f64(),
        mib(m.idle.rss_max),
        mib(f.idle.rss_max),
        ratio(m.idle.rss_max, f.idle.rss_max)
    );
    println!(
        "| L2 speaker CPU idle with {n} IPs ({:.0} s window) | {:.2} s ({:.2} % of a core) | {:.2} s ({:.2} % of a core) | {} |",
        m.idle.window.as_secs_f64(),
        m.idle.cpu,
        m.idle.cpu_percent(),
        f.idle.cpu,
        f.idle.cpu_percent(),
        ratio(m.idle.cpu, f.idle.cpu)
    );
    println!("\nload average: start {load_start} / end {load_end}");
    Ok(())
}
