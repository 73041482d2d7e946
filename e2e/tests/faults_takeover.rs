//! Taking over 1,000 IPs at once sends every gratuitous ARP (issue 19, "Floods": "taking over
//! 1,000 IPs at once sends every gratuitous ARP (none dropped silently)").
//!
//! Two speakers (node-1, node-2); 1,000 Services get fixed IPs (`metallb.io/loadBalancerIPs`)
//! from a /20 of their own, chosen so that MetalLB's election between the two gives every one
//! to node-1. Once node-1 announces all 1,000, a capture starts in the client namespace
//! (`tcpdump`, ARP from node-2's MAC only), node-1's speaker is killed (SIGKILL) and node-2
//! takes the 1,000 IPs over at once. What must hold: for **every** one of the 1,000 IPs the
//! capture holds a gratuitous ARP (sender IP = target IP) from node-2, and the frames seen
//! match node-2's `metallb_layer2_gratuitous_sent` (gratuitous frames do not pass the reply
//! limiter of `ferrolb_l2::limit`: they are ours, not replies).
//!
//! Bounded: 1,000 Services, the capture stops by itself after 25 s; traffic stays on the rig's
//! LAN. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::{Rig, instance_ns, wait_for};

const N: usize = 1000;
/// The test's own pool: a /20 nobody else on the rig uses (4,096 candidates, ~2,048 of them
/// elected to node-1).
const POOL: &str = "172.18.224.0/20";
const METRICS: &str = "http://127.0.0.1:27472/metrics";
const CAPTURE_SECS: u64 = 25;

fn pool_yaml() -> String {
    format!(
        r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: l2-e2e-takeover, namespace: {SYSTEM}}}
spec: {{addresses: ["{POOL}"], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: l2-e2e-takeover, namespace: {SYSTEM}}}
spec: {{ipAddressPools: [l2-e2e-takeover]}}
"#
    )
}

fn gratuitous_sent(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("metallb_layer2_gratuitous_sent{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// The IPs of the captured gratuitous ARPs (the capture filter keeps only frames whose sender
/// and target protocol addresses are equal) in `tcpdump -n -r` output (`Request who-has X tell
/// X` or `Reply X is-at M`), and the number of frames.
fn gratuitous_ips(text: &str) -> (BTreeSet<String>, usize) {
    let mut ips = BTreeSet::new();
    let mut frames = 0;
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let ip = match (
            w.iter().position(|x| *x == "who-has"),
            w.iter().position(|x| *x == "is-at"),
        ) {
            (Some(i), _) => w.get(i + 1),
            (None, Some(i)) if i > 0 => w.get(i - 1),
            _ => None,
        };
        if let Some(ip) = ip {
            frames += 1;
            ips.insert((*ip).to_owned());
        }
    }
    (ips, frames)
}

#[tokio::test]
async fn faults_takeover_of_1000_ips_sends_every_gratuitous_arp() -> Result<()> {
    const TEST: &str = "faults_takeover_of_1000_ips_sends_every_gratuitous_arp";
    let Some(rig) = Rig::from_env(TEST) else {
        return Ok(());
    };
    install(&rig)?;
    kubectl_apply(&rig, &pool_yaml())?;
    let _op = start_operator(&rig)?;
    let (old, new) = ("node-1".to_string(), "node-2".to_string());
    let mut speakers = Speakers::none(&rig, &["--port", "27472", "--health-probe-port", "27473"])?;
    speakers.start_one(&rig, &old)?;
    speakers.start_one(&rig, &new)?;
    let pcap = rig.run_dir.join("takeover.pcap");
    let result = async {
        workload(&rig, "web", 1, None, "Cluster")?;
        wait_ip(&rig, "web").await?;
        // 1,000 IPs MetalLB's election gives to node-1 over node-2.
        let pair = [old.clone(), new.clone()];
        let base = u32::from(Ipv4Addr::new(172, 18, 224, 0));
        let mut ips = Vec::new();
        for i in 1..4095u32 {
            let ip = Ipv4Addr::from(base + i).to_string();
            if expected_owner(&ip, &pair)? == old {
                ips.push(ip);
                if ips.len() == N {
                    break;
                }
            }
        }
        ensure!(ips.len() == N, "only {} IPs of {POOL} elect {old}", ips.len());
        let mut yaml = String::new();
        for (i, ip) in ips.iter().enumerate() {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: t{i:04}, namespace: {NS}, annotations: {{metallb.io/address-pool: l2-e2e-takeover, metallb.io/loadBalancerIPs: \"{ip}\"}}}}\nspec: {{type: LoadBalancer, loadBalancerClass: {CLASS}, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
            ));
        }
        kubectl_apply(&rig, &yaml)?;
        let on = |node: &str| -> Result<usize> {
            let out = rig.kubectl(&[
                "-n", SYSTEM, "get", "servicel2statuses", "-l",
                &format!("metallb.io/service-namespace={NS}"), "-o",
                "jsonpath={range .items[*]}{.status.node}{\" \"}{.metadata.labels.metallb\\.io/service-name}{\"\\n\"}{end}",
            ])?;
            Ok(out
                .lines()
                .filter(|l| l.starts_with(&format!("{node} t")))
                .count())
        };
        wait_for(
            &format!("{N} ServiceL2Statuses on {old}"),
            Duration::from_secs(600),
            || diag(&rig),
            || async { Ok((on(&old)? == N).then_some(())) },
        )
        .await?;
        let mac_new = rig.node_mac(&new)?;
        let before = gratuitous_sent(&rig.http_get_from_node(&new, METRICS)?);
        let capture = Command::new("ip")
            .args(["netns", "exec", &instance_ns("client")])
            .args(["timeout", &CAPTURE_SECS.to_string()])
            .args(["tcpdump", "-i", "eth0", "-n", "-B", "16384", "-w"])
            .arg(&pcap)
            // Gratuitous only: ARP sender protocol address (offset 14) = target's (offset 24).
            .args(["arp", "and", "ether", "src", &mac_new, "and", "arp[14:4] = arp[24:4]"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting tcpdump")?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        speakers.kill(&old);
        // The capture ends by itself, CAPTURE_SECS after it started: the takeover (~0.6 s) and
        // the whole gratuitous schedule (4.4 s) fit many times over.
        let out = capture.wait_with_output()?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let after = gratuitous_sent(&rig.http_get_from_node(&new, METRICS)?);
        let text = Command::new("tcpdump").args(["-n", "-r"]).arg(&pcap).output()?;
        let (seen, frames) = gratuitous_ips(&String::from_utf8_lossy(&text.stdout));
        let missing: Vec<&String> = ips.iter().filter(|ip| !seen.contains(*ip)).collect();
        println!(
            "takeover of {N} IPs by {new}: captured {frames} gratuitous ARPs for {} IPs ({} missing); metallb_layer2_gratuitous_sent +{}; tcpdump: {}",
            seen.len(),
            missing.len(),
            after - before,
            stderr.lines().filter(|l| l.contains("packets")).collect::<Vec<_>>().join(", ")
        );
        ensure!(missing.is_empty(), "no gratuitous ARP for {} IPs: {:?}", missing.len(), &missing[..missing.len().min(20)]);
        // Every frame captured was counted as sent (the counter may also hold frames sent
        // before the capture was ready).
        ensure!(
            frames as u64 <= after - before,
            "{frames} gratuitous frames captured, but {new} counted only {} sent",
            after - before
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    drop(speakers);
    let _ = std::fs::remove_file(&pcap);
    cleanup(&rig);
    let _ = rig.kubectl(&[
        "-n",
        SYSTEM,
        "delete",
        "l2advertisement/l2-e2e-takeover",
        "ipaddresspool/l2-e2e-takeover",
        "--ignore-not-found",
    ]);
    result
}
