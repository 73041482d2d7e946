//! BGP graceful restart (RFC 4724) and planned drain on the rig, with ferrolb's controller and
//! BGP-only speakers (setup in `ferrolb_e2e::bgp_setup`, FRR read through `ferrolb_e2e::bgp`).
//! FRR is the helper: its default graceful-restart mode (helper) keeps a restarting
//! neighbour's paths as stale while the neighbour advertised the capability.
//!
//! - **a, graceful restart**: a BGPPeer to FRR with `enableGracefulRestart: true`; an echo
//!   Service (3 Pods) advertised by the three nodes, FRR has three paths (ECMP). An HTTP probe
//!   in the client netns (a new TCP connection to the Service IP through FRR every 10 ms,
//!   bounded count and a stop file) runs while node-1's speaker is stopped by SIGTERM, then by
//!   SIGKILL, and restarted each time: while it is down FRR keeps node-1's path, marked stale;
//!   after the restart FRR shows the R bit in the new OPEN, has End-of-RIB from node-1 and the
//!   path is fresh again. The probe loses 0 requests, and node-1 forwarded its share of them
//!   (its conntrack entries for the Service IP: FRR hashes connections over the paths, L4).
//! - **b, without graceful restart**: the same BGPPeer without it: SIGTERM (Cease) and SIGKILL
//!   (the connection closes) each make FRR drop node-1's path at once: the outage the feature
//!   avoids is observed.
//! - **c, drain**: graceful restart enabled, `kubectl cordon node-1`, then SIGTERM: FRR loses
//!   node-1's path while node-1's speaker is still running and its session still Established
//!   (withdrawn by UPDATE before the Cease; `--drain-delay 2s` makes the window observable),
//!   and the probe loses at most the one request in flight when FRR's ECMP set shrinks (its
//!   next packets hash to another node, whose kube-proxy resets it: true of any withdrawal; the
//!   probe runs one connection at a time); the other nodes serve. The node is uncordoned even
//!   on failure.
//! - **d, rolling restart**: graceful restart enabled; each node's speaker in turn gets SIGTERM
//!   (its path stays at FRR, stale) and is restarted; the next node waits until FRR has the
//!   session Established, End-of-RIB and the node's path fresh again. The probe runs through the
//!   whole roll and loses 0 requests; every node forwarded its share (conntrack).
//!
//! Skipped unless `FERROLB_E2E=1`. Every wait and loop is bounded; objects are deleted at the
//! end; traffic stays inside the rig's namespaces.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::l2::Speakers;
use ferrolb_e2e::{Rig, wait_for};

const NS: &str = "bgp-gr";
/// This file's isolation on the shared rig (see `ferrolb_e2e::bgp_setup::Suite`).
const SUITE: Suite = Suite {
    ns: NS,
    class: setup::CLASS,
    name: "bgp-gr",
};
const POOL: &str = "bgp-gr";
const CIDR: &str = "10.252.24.0/28";
const TIMEOUT: Duration = Duration::from_secs(60);

/// The most requests a [`Probe`] makes (2 minutes at 10 ms): a run that reached it stopped
/// probing before the test finished.
const PROBE_MAX: usize = 12_000;

/// One request every 10 ms through FRR, each on a new connection (1 s timeout), until `stop`
/// exists or `count` requests were made; prints `<unix time> ok|FAIL <detail>` per request.
const PROBE: &str = r#"
import os, socket, sys, time
ip, count, interval, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
nxt = time.monotonic()
for i in range(count):
    if os.path.exists(stop):
        break
    t = time.time()
    try:
        s = socket.create_connection((ip, 80), timeout=1.0)
        s.settimeout(1.0)
        s.sendall(b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n")
        data = b""
        while len(data) < 65536:
            d = s.recv(4096)
            if not d:
                break
            data += d
        s.close()
        line = data.split(b"\r\n", 1)[0]
        ok = b" 200" in line
        detail = line.decode(errors="replace")
    except Exception as e:
        ok, detail = False, repr(e)
    print("%.3f %s %s" % (t, "ok" if ok else "FAIL", detail), flush=True)
    nxt += interval
    d = nxt - time.monotonic()
    if d > 0:
        time.sleep(d)
"#;

/// The HTTP probe, running in the client netns.
struct Probe {
    child: Child,
    out: PathBuf,
    stop: PathBuf,
}

impl Probe {
    /// Starts the probe against `ip` (at most [`PROBE_MAX`] requests).
    fn start(rig: &Rig, ip: &str, name: &str) -> Result<Probe> {
        let out = rig.run_dir.join("logs").join(format!("{name}.probe"));
        let stop = rig.run_dir.join(format!("{name}.probe-stop"));
        let _ = std::fs::remove_file(&stop);
        let file = std::fs::File::create(&out)?;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &rig.client_ns(),
                "python3",
                "-c",
                PROBE,
                ip,
            ])
            .arg(PROBE_MAX.to_string())
            .arg("0.01")
            .arg(&stop)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .context("starting the HTTP probe")?;
        Ok(Probe { child, out, stop })
    }

    /// Results so far: (requests, failures as lines).
    fn results(&self) -> (usize, Vec<String>) {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let fails = lines
            .iter()
            .filter(|l| l.contains(" FAIL"))
            .map(|l| l.to_string())
            .collect();
        (lines.len(), fails)
    }

    /// Stops the probe (stop file, then kill after 3 s) and returns its results.
    fn finish(mut self) -> Result<(usize, Vec<String>)> {
        std::fs::write(&self.stop, b"")?;
        for _ in 0..30 {
            if self.child.try_wait()?.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stop);
        Ok(self.results())
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn frr_v4() -> String {
    Router::Frr.address(Family::Ipv4)
}

fn diag(rig: &Rig) -> String {
    SUITE.diag(rig)
}

/// Applies the pool, a BGPPeer `peer` to FRR (`extra` spec fields) and an echo Service with 3
/// Pods; starts the operator and speakers (`flags` added); waits for 3 paths at FRR.
struct Setup {
    _op: ferrolb_e2e::procs::Proc,
    speakers: Speakers,
    prefix: String,
    ip: String,
    objects: Vec<String>,
}

async fn setup(rig: &Rig, peer: &str, extra: &str, flags: &[&str]) -> Result<Setup> {
    SUITE.install(rig)?;
    let objects = vec![
        format!("bgppeers.metallb.io/{peer}"),
        format!("bgpadvertisements.metallb.io/{POOL}"),
        format!("ipaddresspools.metallb.io/{POOL}"),
    ];
    // enableGracefulRestart is immutable: never reuse a BGPPeer of another test
    let _ = rig.kubectl(&[
        "-n",
        setup::SYSTEM,
        "delete",
        &objects[0],
        "--ignore-not-found",
    ]);
    let mut cfg = setup::pool_yaml(POOL, CIDR);
    cfg.push_str(&setup::peer_yaml(peer, Router::Frr.asn(), &frr_v4(), extra));
    cfg.push_str(&setup::service_yaml(NS, "web", POOL, "web"));
    setup::apply(rig, &cfg).inspect_err(|_| SUITE.cleanup_objects(rig, &objects))?;
    SUITE
        .workload(rig, "web", 3, "IPv4", POOL)
        .inspect_err(|_| SUITE.cleanup_objects(rig, &objects))?;
    let op = SUITE.start_operator(rig)?;
    let mut speakers = Speakers::none(rig, &[])?;
    speakers.extra = [
        "--lb-class",
        setup::CLASS,
        "--enable-l2=false",
        "--log-level",
        "info,ferrolb_speaker=debug",
    ]
    .iter()
    .chain(flags)
    .map(|s| s.to_string())
    .collect();
    for n in rig.node_names() {
        speakers.start_one(rig, &n)?;
    }
    let s = Setup {
        _op: op,
        speakers,
        prefix: String::new(),
        ip: String::new(),
        objects,
    };
    let waited = async {
        let ip = SUITE.wait_ip(rig, "web", TIMEOUT).await?;
        let prefix = format!("{ip}/32");
        let nodes = rig.nodes;
        // Fresh paths over Established sessions of these speakers (FRR may still hold an earlier
        // test's paths as stale: a killed speaker with graceful restart leaves them for 120 s).
        for n in rig.node_names() {
            let a = bgp::node_address(&n, Family::Ipv4)?;
            bgp::wait_established(rig, Router::Frr, &a, TIMEOUT).await?;
        }
        bgp::wait_route(rig, Router::Frr, &prefix, TIMEOUT, |p| {
            p.len() == nodes && p.iter().all(|r| !r.stale)
        })
        .await?;
        wait_data_path(rig, &ip, &prefix).await?;
        Ok::<_, anyhow::Error>((ip, prefix))
    }
    .await;
    match waited {
        Ok((ip, prefix)) => Ok(Setup { prefix, ip, ..s }),
        Err(e) => {
            println!("{}", diag(rig));
            SUITE.cleanup_objects(rig, &s.objects);
            Err(e)
        }
    }
}

/// Waits until traffic to `ip` can take every path before a probe starts: FRR's kernel route
/// has one next hop per node, and every node's kube-proxy answers for the address (an HTTP 200
/// from inside the node's netns goes through the same Service rules). Without this, the first
/// probe connection could hash to a node whose kube-proxy had not synced the new Service yet
/// and time out (seen once in CI) — the rig's lag, not the speaker's.
async fn wait_data_path(rig: &Rig, ip: &str, prefix: &str) -> Result<()> {
    let nodes = rig.node_names();
    wait_for(
        &format!(
            "{} next hops for {prefix} in FRR's kernel table",
            nodes.len()
        ),
        TIMEOUT,
        || diag(rig),
        || async {
            Ok(bgp::kernel_route(rig, prefix)?
                .filter(|r| r.next_hops.len() == nodes.len())
                .map(drop))
        },
    )
    .await?;
    let url = format!("http://{ip}/");
    for n in &nodes {
        wait_for(
            &format!("an HTTP 200 for {url} from inside {n} (its kube-proxy serves it)"),
            TIMEOUT,
            || diag(rig),
            || async {
                let code = rig.netns_exec(
                    &rig.node_ns(n),
                    &[
                        "curl",
                        "-s",
                        "-m",
                        "1",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        &url,
                    ],
                )?;
                Ok((code.trim() == "200").then_some(()))
            },
        )
        .await?;
    }
    Ok(())
}

impl Setup {
    /// Deletes the objects first (the speakers Cease the removed peer's sessions, so FRR keeps
    /// no stale path for the next test), waits (10 s at most) for FRR to drop the prefix, then
    /// kills the speakers.
    async fn teardown(self, rig: &Rig) {
        SUITE.cleanup_objects(rig, &self.objects);
        let _ = bgp::wait_route(
            rig,
            Router::Frr,
            &self.prefix,
            Duration::from_secs(10),
            |p| p.is_empty(),
        )
        .await;
        drop(self.speakers);
    }
}

/// Waits until FRR has `node`'s path of `prefix` fresh (not stale), its session Established,
/// and End-of-RIB received from it for IPv4 unicast; returns the time it took.
async fn wait_fresh(rig: &Rig, node: &str, prefix: &str) -> Result<Duration> {
    let t0 = Instant::now();
    let a = bgp::node_address(node, Family::Ipv4)?;
    bgp::wait_established(rig, Router::Frr, &a, TIMEOUT).await?;
    bgp::wait_route(rig, Router::Frr, prefix, TIMEOUT, |p| {
        p.iter().any(|r| r.next_hops.contains(&a) && !r.stale)
    })
    .await?;
    wait_for(
        &format!("FRR to have End-of-RIB (IPv4 unicast) from {a}"),
        TIMEOUT,
        || diag(rig),
        || async {
            let gr = bgp::frr_graceful_restart(rig, &a)?;
            Ok(gr.filter(|g| g.end_of_rib_received.contains(&Family::Ipv4)))
        },
    )
    .await?;
    Ok(t0.elapsed())
}

/// Checks FRR keeps `node`'s path of `prefix` as stale for `hold` (sampled every 100 ms).
async fn ensure_stale_kept(rig: &Rig, node: &str, prefix: &str, hold: Duration) -> Result<()> {
    let a = bgp::node_address(node, Family::Ipv4)?;
    bgp::wait_route(rig, Router::Frr, prefix, Duration::from_secs(10), |p| {
        p.iter().any(|r| r.next_hops.contains(&a) && r.stale)
    })
    .await
    .with_context(|| format!("FRR did not mark {node}'s path stale"))?;
    let until = Instant::now() + hold;
    while Instant::now() < until {
        let paths = bgp::route(rig, Router::Frr, prefix)?;
        ensure!(
            paths.iter().any(|r| r.next_hops.contains(&a)),
            "FRR dropped {node}'s path while its speaker was down: {paths:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Sends SIGTERM to `node`'s speaker and waits (5 s at most) for it to exit.
fn sigterm(speakers: &mut Speakers, node: &str) -> Result<()> {
    speakers.stop(node)
}

/// Stops the probe; at most `allowed` of its requests may have failed. Returns (requests,
/// failures).
fn ensure_loss_at_most(probe: Probe, allowed: usize, what: &str) -> Result<(usize, usize)> {
    let (n, fails) = probe.finish()?;
    ensure!(n >= 100, "{what}: the probe made only {n} requests");
    ensure!(
        fails.len() <= allowed,
        "{what}: {} of {n} requests through FRR failed (at most {allowed} allowed), first: {:?}",
        fails.len(),
        &fails[..fails.len().min(5)]
    );
    Ok((n, fails.len()))
}

/// Connections to `ip`:80 in `node`'s conntrack table (kube-proxy's NAT; closed ones stay in
/// TIME_WAIT for minutes): how many of the probe's requests the node forwarded.
fn node_flows(rig: &Rig, node: &str, ip: &str) -> Result<usize> {
    let out = rig.netns_exec(
        &rig.node_ns(node),
        &["conntrack", "-L", "-p", "tcp", "-d", ip, "--dport", "80"],
    )?;
    Ok(out.lines().filter(|l| l.contains("dport=80")).count())
}

/// Forgets `node`'s conntrack entries of `ip` (so [`node_flows`] counts from now on).
fn forget_flows(rig: &Rig, node: &str, ip: &str) {
    let _ = rig.netns_exec(
        &rig.node_ns(node),
        &["conntrack", "-D", "-p", "tcp", "-d", ip],
    );
}

#[tokio::test]
async fn bgp_gr_a_speaker_restart_keeps_routes_and_loses_nothing() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_gr_a_speaker_restart_keeps_routes_and_loses_nothing") else {
        return Ok(());
    };
    let peer = "bgp-gr-a-frr";
    let mut s = setup(&rig, peer, "enableGracefulRestart: true", &[]).await?;
    let result = async {
        let a = bgp::node_address("node-1", Family::Ipv4)?;
        let gr = bgp::frr_graceful_restart(&rig, &a)?.context("FRR has no session with node-1")?;
        ensure!(gr.remote_restarts, "node-1 did not advertise graceful restart: {gr:?}");
        forget_flows(&rig, "node-1", &s.ip);
        let probe = Probe::start(&rig, &s.ip, "bgp-gr-a")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (how, stop) in [("SIGTERM", true), ("SIGKILL", false)] {
            if stop {
                sigterm(&mut s.speakers, "node-1")?;
            } else {
                s.speakers.kill("node-1");
            }
            ensure_stale_kept(&rig, "node-1", &s.prefix, Duration::from_secs(2))
                .await
                .with_context(|| format!("after {how}"))?;
            let t = Instant::now();
            s.speakers.start_one(&rig, "node-1")?;
            wait_fresh(&rig, "node-1", &s.prefix).await?;
            let gr = bgp::frr_graceful_restart(&rig, &a)?.context("no session")?;
            ensure!(gr.r_bit, "after {how}: the restarted speaker's OPEN had no R bit: {gr:?}");
            println!(
                "{how}: path kept stale while down; Established + End-of-RIB {:?} after the restart",
                t.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (n, _) = ensure_loss_at_most(probe, 0, "graceful restart")?;
        // FRR hashes each connection (L4) over the three paths: node-1 carried its share.
        let via_node1 = node_flows(&rig, "node-1", &s.ip)?;
        ensure!(
            via_node1 >= n / 10,
            "only {via_node1} of {n} probe connections went through node-1"
        );
        println!("probe: {n} requests through FRR, 0 failed, {via_node1} of them via node-1");
        Ok(())
    }
    .await;
    if result.is_err() {
        println!("{}", diag(&rig));
    }
    s.teardown(&rig).await;
    result
}

#[tokio::test]
async fn bgp_gr_b_without_graceful_restart_the_path_is_withdrawn() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_gr_b_without_graceful_restart_the_path_is_withdrawn") else {
        return Ok(());
    };
    let peer = "bgp-gr-b-frr";
    let mut s = setup(&rig, peer, "", &[]).await?;
    let result = async {
        let a = bgp::node_address("node-1", Family::Ipv4)?;
        for (how, stop) in [("SIGTERM", true), ("SIGKILL", false)] {
            let t = Instant::now();
            if stop {
                sigterm(&mut s.speakers, "node-1")?;
            } else {
                s.speakers.kill("node-1");
            }
            bgp::wait_route(&rig, Router::Frr, &s.prefix, Duration::from_secs(10), |p| {
                !p.iter().any(|r| r.next_hops.contains(&a))
            })
            .await
            .with_context(|| {
                format!("FRR kept node-1's path after {how} without graceful restart")
            })?;
            println!(
                "{how} without graceful restart: node-1's path withdrawn within {:?}",
                t.elapsed()
            );
            s.speakers.start_one(&rig, "node-1")?;
            bgp::wait_route(&rig, Router::Frr, &s.prefix, TIMEOUT, |p| {
                p.iter().any(|r| r.next_hops.contains(&a))
            })
            .await?;
        }
        Ok(())
    }
    .await;
    if result.is_err() {
        println!("{}", diag(&rig));
    }
    s.teardown(&rig).await;
    result
}

#[tokio::test]
async fn bgp_gr_c_cordoned_node_drains_before_exit() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_gr_c_cordoned_node_drains_before_exit") else {
        return Ok(());
    };
    let peer = "bgp-gr-c-frr";
    let mut s = setup(
        &rig,
        peer,
        "enableGracefulRestart: true",
        &["--drain-delay", "2s"],
    )
    .await?;
    let result = async {
        let a = bgp::node_address("node-1", Family::Ipv4)?;
        let probe = Probe::start(&rig, &s.ip, "bgp-gr-c")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // the log is appended to across runs: only lines written after the cordon count
        let seen = setup::speaker_log(&rig, "node-1").len();
        rig.kubectl(&["cordon", "node-1"])?;
        wait_for(
            "node-1's speaker to see its node cordoned",
            TIMEOUT,
            || diag(&rig),
            || async {
                let log = setup::speaker_log(&rig, "node-1");
                Ok(log
                    .get(seen..)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.contains("node drain state") && l.contains("draining=true"))
                    .then_some(()))
            },
        )
        .await?;
        let mut proc = s.speakers.procs.remove("node-1").context("no speaker on node-1")?;
        let t0 = Instant::now();
        Command::new("kill")
            .args(["-TERM", &proc.pid().to_string()])
            .status()?;
        // Poll FRR while the speaker runs: the path must go with the session still up.
        let mut withdrawn_at = None;
        for _ in 0..100 {
            let alive = proc.0.try_wait()?.is_none();
            let paths = bgp::route(&rig, Router::Frr, &s.prefix)?;
            let gone = !paths.iter().any(|r| r.next_hops.contains(&a));
            if gone {
                let session = bgp::neighbor(&rig, Router::Frr, &a)?;
                let still_alive = proc.0.try_wait()?.is_none();
                ensure!(
                    alive && still_alive,
                    "node-1's path disappeared only after its speaker exited"
                );
                ensure!(
                    session.as_ref().is_some_and(|n| n.is_established()),
                    "the path went with the session, not by UPDATE: {session:?}"
                );
                withdrawn_at = Some(t0.elapsed());
                break;
            }
            ensure!(alive, "node-1's speaker exited with its path still at FRR: {paths:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let withdrawn_at = withdrawn_at.context("FRR never lost node-1's path")?;
        let mut exited = None;
        for _ in 0..100 {
            if proc.0.try_wait()?.is_some() {
                exited = Some(t0.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let exited = exited.context("node-1's speaker did not exit within 5 s")?;
        ensure!(exited >= Duration::from_secs(2), "the speaker did not wait the drain delay: exited after {exited:?}");
        let paths = bgp::route(&rig, Router::Frr, &s.prefix)?;
        ensure!(paths.len() == rig.nodes - 1, "the other nodes' paths: {paths:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The one connection in flight when FRR's ECMP set shrinks may be reset: its next
        // packets hash to another node, whose kube-proxy does not know it (any withdrawal does
        // this; the probe runs one connection at a time).
        let (n, lost) = ensure_loss_at_most(probe, 1, "drain")?;
        println!(
            "drain: node-1's path withdrawn at FRR {withdrawn_at:?} after SIGTERM (session still up), speaker exited after {exited:?}; probe: {n} requests, {lost} failed"
        );
        Ok(())
    }
    .await;
    let _ = rig.kubectl(&["uncordon", "node-1"]);
    if result.is_err() {
        println!("{}", diag(&rig));
    }
    s.teardown(&rig).await;
    result
}

/// Wall-clock time of the first line of `log` after byte `from` containing `needle` (the
/// speaker's log lines start with an RFC 3339 UTC timestamp).
fn log_time(log: &str, from: usize, needle: &str) -> Option<std::time::SystemTime> {
    let line = log.get(from..)?.lines().find(|l| l.contains(needle))?;
    let ts: k8s_openapi::jiff::Timestamp = line.split_whitespace().next()?.parse().ok()?;
    Some(std::time::SystemTime::from(ts))
}

/// Polls FRR (one `vtysh` per poll, ~20–40 ms; at most `timeout`) until `done` holds.
async fn poll_frr(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if done()? {
            return Ok(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("{what}: not within {timeout:?}")
}

/// Benchmark (`#[ignore]`): `FERROLB_GR_BENCH_N` (10) speaker restarts of node-1 with graceful
/// restart, alternating SIGTERM and SIGKILL, then as many drains (cordon + SIGTERM), under the
/// 10 ms HTTP probe through FRR. Prints per kind: time from the new process's start to its
/// session Established (speaker log; End-of-RIB is sent in the same step) and to FRR showing
/// Established with End-of-RIB received and the path fresh (polled); for drains SIGTERM →
/// FRR's RIB without node-1's path; and the probes lost.
#[tokio::test]
#[ignore]
async fn z_bench_gr_restarts_and_drains() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_gr_restarts_and_drains") else {
        return Ok(());
    };
    let n: usize = std::env::var("FERROLB_GR_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .clamp(1, 50);
    let mut s = setup(&rig, "bgp-gr-z-frr", "enableGracefulRestart: true", &[]).await?;
    let result = async {
        let a = bgp::node_address("node-1", Family::Ipv4)?;
        let probe = Probe::start(&rig, &s.ip, "bgp-gr-z-restart")?;
        let (mut to_est, mut to_frr) = (Vec::new(), Vec::new());
        for i in 0..n {
            if i % 2 == 0 {
                sigterm(&mut s.speakers, "node-1")?;
            } else {
                s.speakers.kill("node-1");
            }
            ensure_stale_kept(&rig, "node-1", &s.prefix, Duration::from_millis(300)).await?;
            let from = setup::speaker_log(&rig, "node-1").len();
            let started = std::time::SystemTime::now();
            s.speakers.start_one(&rig, "node-1")?;
            let frr = poll_frr("Established + End-of-RIB at FRR", TIMEOUT, || {
                let gr = bgp::frr_graceful_restart(&rig, &a)?;
                let fresh = bgp::route(&rig, Router::Frr, &s.prefix)?
                    .iter()
                    .any(|r| r.next_hops.contains(&a) && !r.stale);
                Ok(fresh && gr.is_some_and(|g| g.end_of_rib_received.contains(&Family::Ipv4)))
            })
            .await?;
            let log = setup::speaker_log(&rig, "node-1");
            let est = log_time(&log, from, "BGP session established")
                .context("no 'BGP session established' in the new speaker's log")?;
            to_est.push(est.duration_since(started).unwrap_or_default());
            to_frr.push(frr);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (sent, lost) = probe.finish()?;
        println!(
            "GR restarts (SIGTERM/SIGKILL alternating): process start -> Established (speaker log) {}",
            ferrolb_e2e::failover::percentiles(to_est)
        );
        println!(
            "GR restarts: process start -> FRR Established + End-of-RIB + fresh path (polled) {}",
            ferrolb_e2e::failover::percentiles(to_frr)
        );
        println!("GR restarts: probes {sent}, lost {}", lost.len());

        let probe = Probe::start(&rig, &s.ip, "bgp-gr-z-drain")?;
        let mut withdrawn = Vec::new();
        for _ in 0..n {
            let seen = setup::speaker_log(&rig, "node-1").len();
            rig.kubectl(&["cordon", "node-1"])?;
            poll_frr("node-1's speaker to see the cordon", TIMEOUT, || {
                Ok(setup::speaker_log(&rig, "node-1")
                    .get(seen..)
                    .unwrap_or_default()
                    .contains("draining=true"))
            })
            .await?;
            let proc = s.speakers.procs.get("node-1").context("no speaker")?;
            let t0 = Instant::now();
            Command::new("kill").args(["-TERM", &proc.pid().to_string()]).status()?;
            poll_frr("node-1's path withdrawn", Duration::from_secs(10), || {
                Ok(!bgp::route(&rig, Router::Frr, &s.prefix)?
                    .iter()
                    .any(|r| r.next_hops.contains(&a)))
            })
            .await?;
            withdrawn.push(t0.elapsed());
            sigterm(&mut s.speakers, "node-1")?; // waits for the exit
            rig.kubectl(&["uncordon", "node-1"])?;
            s.speakers.start_one(&rig, "node-1")?;
            wait_fresh(&rig, "node-1", &s.prefix).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (sent, lost) = probe.finish()?;
        println!(
            "drain (cordon + SIGTERM) -> node-1's path gone from FRR's RIB {}",
            ferrolb_e2e::failover::percentiles(withdrawn)
        );
        println!("drains: probes {sent}, lost {}", lost.len());
        Ok(())
    }
    .await;
    let _ = rig.kubectl(&["uncordon", "node-1"]);
    if result.is_err() {
        println!("{}", diag(&rig));
    }
    s.teardown(&rig).await;
    result
}

#[tokio::test]
async fn bgp_gr_d_rolling_restart_of_every_speaker_loses_nothing() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_gr_d_rolling_restart_of_every_speaker_loses_nothing") else {
        return Ok(());
    };
    let peer = "bgp-gr-d-frr";
    let mut s = setup(&rig, peer, "enableGracefulRestart: true", &[]).await?;
    let result = async {
        let nodes = rig.node_names();
        for n in &nodes {
            let a = bgp::node_address(n, Family::Ipv4)?;
            let gr = bgp::frr_graceful_restart(&rig, &a)?
                .with_context(|| format!("FRR has no session with {n}"))?;
            ensure!(gr.remote_restarts, "{n} did not advertise graceful restart: {gr:?}");
            forget_flows(&rig, n, &s.ip);
        }
        let t_roll = Instant::now();
        let probe = Probe::start(&rig, &s.ip, "bgp-gr-d")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for n in &nodes {
            let t0 = Instant::now();
            sigterm(&mut s.speakers, n)?;
            let stopped = t0.elapsed();
            ensure_stale_kept(&rig, n, &s.prefix, Duration::from_secs(1))
                .await
                .with_context(|| format!("rolling restart of {n}"))?;
            let t = Instant::now();
            s.speakers.start_one(&rig, n)?;
            let fresh = wait_fresh(&rig, n, &s.prefix)
                .await
                .with_context(|| format!("rolling restart of {n}"))?;
            let a = bgp::node_address(n, Family::Ipv4)?;
            let gr = bgp::frr_graceful_restart(&rig, &a)?.context("no session")?;
            ensure!(gr.r_bit, "{n}: the restarted speaker's OPEN had no R bit: {gr:?}");
            let (sent, fails) = probe.results();
            ensure!(
                fails.is_empty(),
                "{n}: {} of {sent} probe requests failed so far, first: {:?}",
                fails.len(),
                &fails[..fails.len().min(5)]
            );
            println!(
                "{n}: SIGTERM -> exit {stopped:?}; restart -> Established + End-of-RIB + fresh path at FRR {:?} (wait {fresh:?}); probe so far {sent} requests, 0 failed",
                t.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let roll = t_roll.elapsed();
        let (sent, _) = ensure_loss_at_most(probe, 0, "rolling restart")?;
        ensure!(
            sent < PROBE_MAX,
            "the probe ran out of requests ({sent}) before the roll ended"
        );
        // FRR hashes each connection (L4) over the paths: every node carried its share,
        // its own restart included (the stale path kept forwarding).
        let mut shares = Vec::new();
        for n in &nodes {
            let via = node_flows(&rig, n, &s.ip)?;
            ensure!(
                via >= sent / 10,
                "only {via} of {sent} probe connections went through {n}"
            );
            shares.push(format!("{n} {via}"));
        }
        println!(
            "rolling restart of {} speakers in {roll:?}: probe {sent} requests through FRR, 0 failed; via {}",
            nodes.len(),
            shares.join(", ")
        );
        Ok(())
    }
    .await;
    if result.is_err() {
        println!("{}", diag(&rig));
    }
    s.teardown(&rig).await;
    result
}
