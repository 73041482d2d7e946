//! Layer 2 through control-plane faults (issue 19), ferrolb's controller and one speaker per
//! node running, a Service announced by its elected node:
//!
//! - **the API server frozen** (SIGSTOP, `ferrolb_e2e::faults::Frozen`, ~10 s): the
//!   announcing node keeps answering ARP for the IP, alone and without a gap over 1 s, and HTTP
//!   through the IP keeps working (kube-proxy's rules are in the kernel); then the announcing
//!   speaker is killed while the API server is still frozen and another node takes the IP over
//!   within the failover budget — the heartbeats and the election need no API server (MetalLB's
//!   ETP=Cluster failover also runs on memberlist, but every decision input comes from watches);
//! - **etcd frozen** (the API server up, its requests time out): the same, without the kill;
//! - **after each thaw**: no ferrolb process exited, the ServiceL2Status follows the owner, and
//!   a Service created afterwards gets its IP and is announced.
//!
//! Never calls the API server while a component is frozen (kubectl has no default timeout).
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{Result, ensure};
use ferrolb_e2e::Rig;
use ferrolb_e2e::failover::*;
use ferrolb_e2e::faults::Frozen;
use ferrolb_e2e::l2::*;
use ferrolb_e2e::procs::Proc;

/// Seconds each probe window lasts while a component is frozen. Every freeze stays well under
/// the rig's `--node-monitor-grace-period=16s` (e2e/rig.sh): longer, and kube-controller-manager
/// marks the kwok nodes NotReady after the thaw, their Pods unready, and the speakers rightly
/// stop announcing Services without ready endpoints (a real cluster's grace period is 40 s+).
const FROZEN_PROBE_SECS: u32 = 3;

/// While `frozen` holds: `mac` (alone) answers ARP for `ip` for [`FROZEN_PROBE_SECS`], with no
/// reply gap over 1 s, and HTTP through `ip` is answered.
fn keeps_serving(rig: &Rig, ip: &str, mac: &str, frozen: &Frozen) -> Result<()> {
    let replies = probe_replies(start_probe(ip, FROZEN_PROBE_SECS)?)?;
    ensure!(
        replies.len() > 30,
        "only {} ARP replies in {FROZEN_PROBE_SECS} s with {} frozen",
        replies.len(),
        frozen.name
    );
    let others: Vec<&(u128, String)> = replies.iter().filter(|(_, m)| m != mac).collect();
    ensure!(
        others.is_empty(),
        "with {} frozen, another MAC answered for {ip}: {:?}",
        frozen.name,
        others.first()
    );
    let gap = replies
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].0))
        .max()
        .unwrap_or(0);
    ensure!(
        gap < 1_000_000_000,
        "with {} frozen, ARP replies stopped for {} ms",
        frozen.name,
        gap / 1_000_000
    );
    let body = rig.http_get_from_client(&format!("http://{ip}/"))?;
    ensure!(body.trim().starts_with("web-"), "HTTP through {ip}: {body}");
    Ok(())
}

/// Every process is still running (none exited during the fault).
fn all_alive(op: &mut Proc, speakers: &mut Speakers) -> Result<()> {
    ensure!(
        op.0.try_wait()?.is_none(),
        "the controller exited during the fault"
    );
    for (node, p) in speakers.procs.iter_mut() {
        ensure!(
            p.0.try_wait()?.is_none(),
            "{node}'s speaker exited during the fault"
        );
    }
    Ok(())
}

/// The rig's nodes stayed Ready through the fault (else the test, not ferrolb, is wrong).
fn nodes_ready(rig: &Rig) -> Result<()> {
    let out = rig.kubectl(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}",
    ])?;
    ensure!(
        !out.contains("=False") && !out.contains("=Unknown"),
        "nodes went NotReady during the freeze (longer than the rig's node-monitor grace period?): {out}"
    );
    Ok(())
}

#[tokio::test]
async fn l2_serves_and_fails_over_while_the_api_server_or_etcd_is_frozen() -> Result<()> {
    let Some(rig) =
        Rig::from_env("l2_serves_and_fails_over_while_the_api_server_or_etcd_is_frozen")
    else {
        return Ok(());
    };
    install(&rig)?;
    let mut op = start_operator(&rig)?;
    let mut speakers = Speakers::start(&rig, &[])?;
    let result = async {
        workload(&rig, "web", 2, None, "Cluster")?;
        let ip = wait_ip(&rig, "web").await?;
        wait_ready(&rig, "web")?;
        let nodes = rig.node_names();
        let owner = expected_owner(&ip, &nodes)?;
        let owner_mac = rig.node_mac(&owner)?;
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        wait_status_node(&rig, "web", &owner).await?;
        wait_http(&rig, &ip, "web-").await?;

        // The API server frozen: serving goes on; then the owner crashes and the IP moves anyway.
        let rest: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
        let second = expected_owner(&ip, &rest)?;
        let second_mac = rig.node_mac(&second)?;
        {
            let frozen = Frozen::freeze(&rig, "kube-apiserver")?;
            keeps_serving(&rig, &ip, &owner_mac, &frozen)?;
            let t = failover_trial(&mut speakers, &ip, &owner, &owner_mac, false)?;
            eprintln!(
                "API server frozen: crash failover {:?} (max gap {:?})",
                t.failover, t.max_gap
            );
            ensure!(
                t.failover < Duration::from_millis(1500),
                "crash failover with the API server frozen took {:?}",
                t.failover
            );
            keeps_serving(&rig, &ip, &second_mac, &frozen)?;
        }
        all_alive(&mut op, &mut speakers)?;
        nodes_ready(&rig)?;
        wait_status_node(&rig, "web", &second).await?;
        speakers.start_one(&rig, &owner)?;
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        wait_status_node(&rig, "web", &owner).await?;

        // etcd frozen: the API server is up but cannot answer; serving goes on.
        {
            let frozen = Frozen::freeze(&rig, "etcd")?;
            keeps_serving(&rig, &ip, &owner_mac, &frozen)?;
            // Long enough for the clients' requests to time out and retry.
            std::thread::sleep(Duration::from_secs(3));
            keeps_serving(&rig, &ip, &owner_mac, &frozen)?;
        }
        all_alive(&mut op, &mut speakers)?;
        nodes_ready(&rig)?;

        // Recovery: a new Service gets an IP and is announced by its elected node.
        workload(&rig, "web2", 1, None, "Cluster")?;
        let ip2 = wait_ip(&rig, "web2").await?;
        let owner2 = expected_owner(&ip2, &nodes)?;
        wait_arp_owner(&rig, &ip2, &rig.node_mac(&owner2)?).await?;
        wait_status_node(&rig, "web2", &owner2).await?;
        all_alive(&mut op, &mut speakers)
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}
