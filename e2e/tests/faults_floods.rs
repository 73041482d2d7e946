//! An ARP and NS flood on the rig's LAN (issue 19, "Floods"): for `FERROLB_FLOOD_SECS` (50 s,
//! at most 52: the prober's 60 s must outlast it) the client namespace sends ARP requests for
//! the Service's IP (claiming an unused LAN address) and Neighbor Solicitations, back to back,
//! each from a new spoofed MAC (`ferrolb-net-responder flood --spoof`: the
//! highest rate this rig sends, printed), while the ARP prober asks every 10 ms and the client
//! fetches HTTP through the IP every second. The speakers run with their default timers.
//!
//! What must hold:
//! - **no false failover**: no speaker declares a peer dead (`membership changed` in any
//!   speaker's log) and only the owner's MAC ever answers the prober — the heartbeats are not
//!   delayed by the responders (they yield through tokio's task budget);
//! - **replies are rate-limited**: the owner's `metallb_layer2_responses_sent` grows by at
//!   most what `ferrolb_l2::limit` allows (7,000/s, bursts 1,500), and every request
//!   counted in `metallb_layer2_requests_received` was either answered or counted in
//!   `ferrolb_speaker_replies_rate_limited_total` (some were);
//! - **the Service keeps working**: HTTP through the IP answers during the whole flood (the
//!   client's neighbour entry for the IP stays valid), and after the flood the prober is
//!   answered again at its own rate.
//!
//! Bounded: the flood stops by itself (`--secs`, `--max`); traffic stays on the rig's LAN
//! bridge. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::failover::{now_ns, probe_replies, start_probe};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::procs::binary;
use ferrolb_e2e::{Rig, instance_ns};

const METRICS: &str = "http://127.0.0.1:27472/metrics";
/// An IPv6 address on the LAN nobody announces: the NS half of the flood.
const V6_TARGET: &str = "fc00:f853:ccd:e793::99";
/// The flooding "host": an address of the LAN nobody uses. (Spoofed requests claiming the
/// client's own address would poison every node's neighbour entry for the client — ARP's
/// nature, not the speaker's — and cut the client off.)
const FLOOD_SRC: &str = "172.18.0.99";
/// The prober's run (it stops by itself after at most 60 s).
const PROBE_SECS: u32 = 60;

fn counter(text: &str, prefix: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test]
async fn faults_floods_arp_and_ns_flood_causes_no_failover() -> Result<()> {
    const TEST: &str = "faults_floods_arp_and_ns_flood_causes_no_failover";
    let Some(rig) = Rig::from_env(TEST) else {
        return Ok(());
    };
    let secs: u64 = std::env::var("FERROLB_FLOOD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .clamp(5, u64::from(PROBE_SECS) - 8);
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &["--port", "27472", "--health-probe-port", "27473"])?;
    let result = async {
        workload(&rig, "flood", 1, None, "Cluster")?;
        let ip = wait_ip(&rig, "flood").await?;
        let owner = expected_owner(&ip, &rig.node_names())?;
        let mac = rig.node_mac(&owner)?;
        wait_arp_owner(&rig, &ip, &mac).await?;
        wait_http(&rig, &ip, "flood-").await?;
        let requests = format!(r#"metallb_layer2_requests_received{{ip="{ip}"}} "#);
        let responses = format!(r#"metallb_layer2_responses_sent{{ip="{ip}"}} "#);
        let limited = "ferrolb_speaker_replies_rate_limited_total ";
        let before = rig.http_get_from_node(&owner, METRICS)?;
        let logs = speaker_log_marks(&rig);

        // The prober asks for 1.5 s before the flood: an established requester by then.
        let probe = start_probe(&ip, PROBE_SECS)?;
        std::thread::sleep(Duration::from_millis(1500));
        let t_flood = now_ns();
        let flood = Command::new("ip")
            .args(["netns", "exec", &instance_ns("client")])
            .arg(binary("ferrolb-net-responder")?)
            .args(["flood", "--iface", "eth0", "--src", FLOOD_SRC, "--ipv4", &ip])
            .args(["--ipv6", V6_TARGET, "--spoof", "--secs", &secs.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the flood")?;
        // HTTP through the IP every second while the flood runs.
        let (mut http_ok, mut http_failed) = (0u32, Vec::new());
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            match rig.http_get_from_client(&format!("http://{ip}/")) {
                Ok(b) if b.trim().starts_with("flood-") => http_ok += 1,
                Ok(b) => http_failed.push(format!("{:?}: answered {b:?}", t0.elapsed())),
                Err(e) => http_failed.push(format!("{:?}: {e:#}", t0.elapsed())),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let out = flood.wait_with_output()?;
        let t_end = now_ns();
        let flood_line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("flood sent"))
            .map(str::to_owned)
            .with_context(|| {
                format!("the flood printed no summary: {}", String::from_utf8_lossy(&out.stderr))
            })?;
        let after = rig.http_get_from_node(&owner, METRICS)?;
        let replies = probe_replies(probe)?;
        // After the flood: a fresh 3 s probe is answered at its own rate again.
        let after_flood = probe_replies(start_probe(&ip, 3)?)?.len();
        let d = |p: &str| counter(&after, p).saturating_sub(counter(&before, p));
        let (req, resp, lim) = (d(&requests), d(&responses), d(limited));
        let during = replies
            .iter()
            .filter(|(t, _)| *t >= t_flood && *t <= t_end)
            .count();
        println!(
            "{flood_line}; owner {owner}: requests +{req}, responses +{resp}, rate-limited +{lim}; \
             prober: {during} replies during the flood, {after_flood} in 3 s after; HTTP {http_ok} ok, {} failed",
            http_failed.len()
        );

        let changes = membership_changes_since(&rig, &logs);
        ensure!(changes.is_empty(), "false failover: {changes:?}");
        let strangers: Vec<_> = replies.iter().filter(|(_, m)| *m != mac).collect();
        ensure!(strangers.is_empty(), "another MAC than the owner's {mac} answered: {strangers:?}");
        ensure!(http_failed.is_empty(), "HTTP through {ip} failed during the flood: {http_failed:?}");
        // ferrolb_l2::limit's defaults: 5,000/s established + 2,000/s new, bursts 1,000 + 500.
        let cap = 7_000 * (secs + 2) + 1_500;
        ensure!(resp <= cap, "{resp} replies sent in {secs} s: over the limit {cap}");
        // Every request for the IP was either answered or counted as refused.
        ensure!(
            lim > 0 && req == resp + lim,
            "requests +{req} = responses +{resp} + rate-limited +{lim} should hold, with some limited"
        );
        ensure!(during > 0, "the prober got no reply during the flood");
        ensure!(
            after_flood >= 200,
            "after the flood a 3 s probe got only {after_flood} replies"
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

/// The flood tool is bounded by itself: without a target it refuses to start.
#[test]
fn flood_refuses_without_a_target() -> Result<()> {
    let Ok(bin) = binary("ferrolb-net-responder") else {
        eprintln!("SKIP flood_refuses_without_a_target: ferrolb-net-responder not built");
        return Ok(());
    };
    let out = Command::new(bin)
        .args(["flood", "--iface", "lo", "--secs", "1"])
        .output()?;
    ensure!(!out.status.success(), "flood without a target ran");
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("--ipv4 or --ipv6 is required"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
