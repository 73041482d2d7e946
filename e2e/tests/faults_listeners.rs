//! 20,000 idle TCP connections against a real speaker's `/metrics` port (issue 19, "Floods":
//! "Metrics/health/webhook listeners get header-read timeouts and connection caps; 20,000 idle
//! connections leave the speaker's memory bounded and its heartbeats on time").
//!
//! The speakers run with their default timers; `e2e/testdata/idle_conns.py`, run inside the
//! announcing node's netns, opens 20,000 connections to its `127.0.0.1:27472`, sends nothing and
//! holds them for 30 s. The listener limits (`ferrolb_kube::http::limits`) admit 128 at once and
//! close the rest on accept; the admitted ones are closed after the 10 s header-read timeout.
//!
//! What must hold:
//! - the speaker's **RSS stays bounded**: its peak during the flood is < 64 MiB over the figure
//!   before it (printed), and its open fds never exceed the cap by more than a few;
//! - **no failover**: no speaker logs `membership changed`, the ServiceL2Status still names the
//!   owner and only the owner's MAC answers ARP for the IP afterwards;
//! - **`/metrics` still answers** during the hold (once the idle ones are cut off) and after;
//! - every idle connection is closed by the server by the end of the hold (none open).
//!
//! Bounded: 20,000 connections at most, opened for at most 60 s, held 30 s, all closed by the
//! script; traffic only to 127.0.0.1 inside the node's netns. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::{Rig, e2e_dir};

const METRICS: &str = "http://127.0.0.1:27472/metrics";
const CONNS: u32 = 20_000;
/// Processes opening them (each under the test's hard fd limit).
const PROCS: u32 = 2;
const HOLD_SECS: u64 = 30;
/// `ferrolb_kube::http::Limits::DEFAULT.max_connections`.
const CAP: usize = 128;

/// `VmRSS` of `pid` in bytes and its number of open fds.
fn rss_and_fds(pid: u32) -> Result<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    Ok((kib * 1024, fds))
}

fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn faults_listeners_20000_idle_connections_leave_the_speaker_bounded() -> Result<()> {
    const TEST: &str = "faults_listeners_20000_idle_connections_leave_the_speaker_bounded";
    let Some(rig) = Rig::from_env(TEST) else {
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &["--port", "27472", "--health-probe-port", "27473"])?;
    let result = async {
        workload(&rig, "idle", 1, None, "Cluster")?;
        let ip = wait_ip(&rig, "idle").await?;
        let owner = expected_owner(&ip, &rig.node_names())?;
        let mac = rig.node_mac(&owner)?;
        wait_arp_owner(&rig, &ip, &mac).await?;
        wait_status_node(&rig, "idle", &owner).await?;
        rig.http_get_from_node(&owner, METRICS)?;
        let pid = speakers.procs.get(&owner).context("no owner speaker")?.pid();
        let (rss_before, fds_before) = rss_and_fds(pid)?;
        let logs = speaker_log_marks(&rig);

        // Two processes of 10,000 connections each (one process may not hold 20,000 fds).
        let mut floods = Vec::new();
        for _ in 0..PROCS {
            let mut flood = Command::new("ip")
                .args(["netns", "exec", &rig.node_ns(&owner), "python3"])
                .arg(e2e_dir().join("testdata/idle_conns.py"))
                .args(["127.0.0.1", "27472", &(CONNS / PROCS).to_string()])
                .args(["--open-secs", "60", "--hold-secs", &HOLD_SECS.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("starting idle_conns.py")?;
            let stdout = flood.stdout.take().context("no stdout")?;
            let lines = std::thread::spawn(move || {
                BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                    .collect::<Vec<String>>()
            });
            floods.push((flood, lines));
        }
        // Sample while the script runs (it ends by itself within 60 + 30 s).
        let (mut rss_peak, mut fds_peak) = (rss_before, fds_before);
        let (mut metrics_ok, mut metrics_failed, mut owner_changed) = (0u32, 0u32, Vec::new());
        let t0 = Instant::now();
        let running = |floods: &mut Vec<(std::process::Child, _)>| -> Result<bool> {
            let mut any = false;
            for (f, _) in floods.iter_mut() {
                any |= f.try_wait()?.is_none();
            }
            Ok(any)
        };
        while running(&mut floods)? && t0.elapsed() < Duration::from_secs(120) {
            let (rss, fds) = rss_and_fds(pid)?;
            rss_peak = rss_peak.max(rss);
            fds_peak = fds_peak.max(fds);
            match rig.http_get_from_node(&owner, METRICS) {
                Ok(t) if t.contains("process_resident_memory_bytes") => metrics_ok += 1,
                _ => metrics_failed += 1,
            }
            let status = status_nodes(&rig, "idle")?;
            if status != [owner.clone()] {
                owner_changed.push(format!("{:?}: {status:?}", t0.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let (mut opened, mut open_at_end, mut summaries) = (0, 0, Vec::new());
        for (mut f, lines) in floods {
            if f.try_wait()?.is_none() {
                let _ = f.kill();
            }
            f.wait()?;
            let lines = lines.join().unwrap_or_default();
            let summary = lines
                .iter()
                .find(|l| l.starts_with("idle opened="))
                .cloned()
                .with_context(|| format!("idle_conns.py printed no summary: {lines:?}"))?;
            opened += field(&summary, "opened").unwrap_or(0);
            open_at_end += field(&summary, "open_at_end").unwrap_or(u64::MAX / 4);
            summaries.push(summary);
        }
        let summary = summaries.join("; ");
        let (rss_after, fds_after) = rss_and_fds(pid)?;
        let mib = |b: u64| b as f64 / 1048576.0;
        println!(
            "{summary}; owner {owner} RSS {:.1} MiB before, peak {:.1}, after {:.1} (growth {:.1} MiB); \
             fds {fds_before} before, peak {fds_peak}, after {fds_after}; /metrics {metrics_ok} ok, \
             {metrics_failed} refused during the flood",
            mib(rss_before),
            mib(rss_peak),
            mib(rss_after),
            mib(rss_peak.saturating_sub(rss_before)),
        );

        ensure!(opened >= u64::from(CONNS) * 95 / 100, "only {opened} connections opened");
        ensure!(open_at_end == 0, "{open_at_end} idle connections outlived the header-read timeout");
        ensure!(
            rss_peak.saturating_sub(rss_before) < 64 << 20,
            "the speaker's RSS grew by {:.1} MiB",
            mib(rss_peak - rss_before)
        );
        // axum-server runs each connection's accept step (where the cap refuses it) in a task of
        // its own, so a burst holds a few dozen accepted, not-yet-refused sockets for a moment
        // (one CI run peaked at cap + 31 with 1.2 MiB of RSS growth, back to the start after):
        // bounded by the accept rate, not by the flood's size — 20,000 connections never show.
        ensure!(
            fds_peak <= fds_before + CAP + 64,
            "the speaker held {fds_peak} fds (before: {fds_before}, cap {CAP})"
        );
        let changes = membership_changes_since(&rig, &logs);
        ensure!(changes.is_empty(), "false failover: {changes:?}");
        ensure!(owner_changed.is_empty(), "the ServiceL2Status moved: {owner_changed:?}");
        ensure!(metrics_ok > 0, "/metrics never answered during the flood");
        rig.http_get_from_node(&owner, METRICS)?;
        ensure!(
            rig.arp_who_has(&ip, 3)? == [mac.clone()],
            "another MAC than the owner's {mac} answers ARP for {ip}"
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}
