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
//! Env: `FERROLB_VS_L2_TRIALS` (20 per fault and system), `FERROLB_VS_L2_KINDS`
//! (`crash,graceful`; `blackhole` too), `FERROLB_VS_L2_PROBE_SECS` (10: the probe of one trial,
//! the fault 0.8 s in), `FERROLB_VS_L2_PLOT` (a PNG path: the outage distributions, drawn
//! with `gnuplot` when it is installed). MetalLB's speaker is built on first use
//! (`e2e/build-upstream.sh --metallb-speaker`).
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use ferrolb_e2e::failover::{Failure, Trial, failure_trial_within, quantile_ms};
use ferrolb_e2e::metallb::{self, ControllerOpts, loadavg, ratio};
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

/// The two systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    MetalLb,
    Ferrolb,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::MetalLb => "MetalLB v0.16.1",
            Impl::Ferrolb => "ferrolb",
        }
    }
}

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
