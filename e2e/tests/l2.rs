//! ferrolb's speaker in Layer 2 mode on the rig: the controller and one `ferrolb-speaker` per
//! node netns, each running as its own ServiceAccount (`config/rbac/{controller,speaker}.yaml`).
//!
//! - the client's ARP (and NDP for an IPv6 address) for the service IP is answered by exactly
//!   the node MetalLB's election names (`sha256(node#ip)` ascending, computed here with
//!   `sha256sum`), and that node's ServiceL2Status exists;
//! - the client gets an HTTP answer from a backend through the service IP;
//! - `externalTrafficPolicy: Local` announces only from the node hosting the endpoint;
//! - `kill -9` of the announcing speaker: another node answers within a second and never two
//!   at once (also when the killed speaker comes back); SIGTERM: make-before-break handover.
//!
//! Harness (isolation on the shared rig, election, probe): `ferrolb_e2e::l2`; benchmarks:
//! `tests/l2_bench.rs`.
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::{Rig, wait_for};

#[tokio::test]
async fn a_arp_owner_status_http_crash_and_graceful_failover() -> Result<()> {
    let Some(rig) = Rig::from_env("a_arp_owner_status_http_crash_and_graceful_failover") else {
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let mut speakers = Speakers::start(&rig, &[])?;
    let result = async {
        workload(&rig, "web", 3, None, "Cluster")?;
        let ip = wait_ip(&rig, "web").await?;
        wait_ready(&rig, "web")?;
        let nodes = rig.node_names();
        let owner = expected_owner(&ip, &nodes)?;
        let owner_mac = rig.node_mac(&owner)?;
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        wait_status_node(&rig, "web", &owner).await?;
        let events = rig.kubectl(&[
            "-n",
            NS,
            "get",
            "events",
            "--field-selector",
            "reason=nodeAssigned",
            "-o",
            "jsonpath={.items[*].note}{.items[*].message}",
        ])?;
        ensure!(
            events.contains(&format!("\"{owner}\"")),
            "no nodeAssigned event naming {owner}: {events}"
        );
        let body = wait_http(&rig, &ip, "web-").await?;
        eprintln!("{ip} owned by {owner} ({owner_mac}); HTTP answered by {body}");

        // Crash: another node answers, never two at once.
        let t = failover_trial(&mut speakers, &ip, &owner, &owner_mac, false)?;
        eprintln!("crash failover {:?} (max gap {:?})", t.failover, t.max_gap);
        ensure!(
            t.failover < Duration::from_millis(1500),
            "crash failover took {:?}",
            t.failover
        );
        let rest: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
        let second = expected_owner(&ip, &rest)?;
        let second_mac = rig.node_mac(&second)?;
        wait_arp_owner(&rig, &ip, &second_mac).await?;
        wait_status_node(&rig, "web", &second).await?;
        wait_http(&rig, &ip, "web-").await?;

        // The crashed speaker comes back: the IP moves back without overlap.
        let probe = start_probe(&ip, 4)?;
        std::thread::sleep(Duration::from_millis(300));
        let t_back = now_ns();
        speakers.start_one(&rig, &owner)?;
        let replies = probe_replies(probe)?;
        ensure!(
            overlap(&replies, t_back, Duration::from_millis(8)).is_none(),
            "two nodes answered at once when {owner} rejoined: {:?}",
            overlap(&replies, t_back, Duration::from_millis(8))
        );
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        wait_status_node(&rig, "web", &owner).await?;

        // Graceful stop: make-before-break handover.
        let t = failover_trial(&mut speakers, &ip, &owner, &owner_mac, true)?;
        eprintln!(
            "graceful handover {:?} (max reply gap {:?})",
            t.failover, t.max_gap
        );
        ensure!(
            t.failover < Duration::from_millis(1000),
            "graceful handover took {:?}",
            t.failover
        );
        wait_arp_owner(&rig, &ip, &second_mac).await?;
        wait_status_node(&rig, "web", &second).await?;
        speakers.start_one(&rig, &owner)?;
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

#[tokio::test]
async fn b_local_traffic_policy_announces_from_the_endpoint_node() -> Result<()> {
    let Some(rig) = Rig::from_env("b_local_traffic_policy_announces_from_the_endpoint_node") else {
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &[])?;
    let result = async {
        let ip = {
            workload(&rig, "local", 1, Some("node-1"), "Local")?;
            wait_ip(&rig, "local").await?
        };
        // Put the single endpoint on each node in turn (the election winner for Cluster would
        // be a fixed node): the announcing node follows the endpoint.
        for node in ["node-1", "node-2", "node-3"] {
            workload(&rig, "local", 1, Some(node), "Local")?;
            wait_for(
                &format!("the local endpoint on {node} only"),
                Duration::from_secs(60),
                || diag(&rig),
                || async {
                    let out = rig.kubectl(&[
                        "-n",
                        NS,
                        "get",
                        "endpointslices",
                        "-l",
                        "kubernetes.io/service-name=local",
                        "-o",
                        "jsonpath={.items[*].endpoints[*].nodeName}",
                    ])?;
                    Ok((out.trim() == node).then_some(()))
                },
            )
            .await?;
            let mac = rig.node_mac(node)?;
            wait_arp_owner(&rig, &ip, &mac).await?;
            wait_status_node(&rig, "local", node).await?;
            let body = wait_http(&rig, &ip, "local-").await?;
            eprintln!("ETP=Local: endpoint on {node}, {ip} answered by {mac}, HTTP {body}");
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

#[tokio::test]
async fn c_ndp_for_an_ipv6_service_ip() -> Result<()> {
    let Some(rig) = Rig::from_env("c_ndp_for_an_ipv6_service_ip") else {
        return Ok(());
    };
    // The rig's Service CIDR is IPv4-only, so the controller cannot allocate an IPv6 address
    // to a Service; the status is written by hand (no controller runs in this test).
    install(&rig)?;
    let mut speakers = Speakers::start(&rig, &[])?;
    let result = async {
        workload(&rig, "v6", 2, None, "Cluster")?;
        wait_ready(&rig, "v6")?;
        let ip = "fc00:f853:ccd:e793::f1";
        rig.kubectl(&[
            "-n",
            NS,
            "patch",
            "svc",
            "v6",
            "--subresource=status",
            "--type=merge",
            "-p",
            &format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{ip}"}}]}}}}}}"#),
        ])?;
        let nodes = rig.node_names();
        let owner = expected_owner(ip, &nodes)?;
        let mac = rig.node_mac(&owner)?;
        wait_for(
            &format!("NDP for {ip} answered only by {mac}"),
            TIMEOUT,
            || diag(&rig),
            || async { Ok((rig.ndp_who_has(ip)? == [mac.clone()]).then_some(())) },
        )
        .await?;
        wait_status_node(&rig, "v6", &owner).await?;
        // Crash failover over NDP.
        let t = failover_trial(&mut speakers, ip, &owner, &mac, false)?;
        eprintln!("IPv6 crash failover {:?}", t.failover);
        ensure!(
            t.failover < Duration::from_millis(1500),
            "IPv6 failover took {:?}",
            t.failover
        );
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}
