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
//! - the announcing node's link is blackholed at its bridge port (speaker still running):
//!   another node answers within the failover budget, never two at once while cut; on heal
//!   the IP and the LAN router's ARP entry return to the elected node, with a bounded overlap
//!   (`--quorum disabled`, MetalLB behaviour, and `--quorum majority`).
//!
//! Harness (isolation on the shared rig, election, probe): `ferrolb_e2e::l2`; benchmarks:
//! `tests/l2_bench.rs`.
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{Result, ensure};
use ferrolb_e2e::failover::*;
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

/// The announcing node's LAN link is blackholed at its switch (bridge) port while its speaker
/// keeps running, then restored; `quorum` is the speakers' `--quorum`. Checks: another node
/// answers within the failover budget and no two MACs answer while the link is cut; the
/// ServiceL2Status moves; HTTP works through the IP (from the client and from the LAN router);
/// on heal the IP converges back to the elected node, the router's ARP entry follows it
/// without the router sending anything (gratuitous ARP), and the time both MACs answer is
/// bounded ([`HEAL_OVERLAP_BOUND`]) with either policy.
async fn blackholed_owner(rig: &Rig, quorum: &str) -> Result<()> {
    let majority = quorum == "majority";
    install(rig)?;
    let _op = start_operator(rig)?;
    let speakers = Speakers::start(rig, &["--quorum", quorum])?;
    let result = async {
        workload(rig, "web", 3, None, "Cluster")?;
        let ip = wait_ip(rig, "web").await?;
        wait_ready(rig, "web")?;
        let nodes = rig.node_names();
        let owner = expected_owner(&ip, &nodes)?;
        let owner_mac = rig.node_mac(&owner)?;
        let rest: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
        let second = expected_owner(&ip, &rest)?;
        let second_mac = rig.node_mac(&second)?;
        wait_arp_owner(rig, &ip, &owner_mac).await?;
        wait_status_node(rig, "web", &owner).await?;
        wait_http(rig, &ip, "web-").await?;
        eprintln!("{ip} owned by {owner} ({owner_mac}); next in line {second} ({second_mac}); --quorum {quorum}");

        // Cut the owner's link while the client probes (the probe spans the checks below).
        let probe = start_probe(&ip, 15)?;
        std::thread::sleep(Duration::from_millis(800));
        let bh = Blackhole::cut(&owner)?;
        let t_cut = now_ns();
        wait_arp_owner(rig, &ip, &second_mac).await?;
        if majority {
            // The isolated speaker lost quorum and released (it still reaches the API server
            // in the rig, so it deleted its own status).
            wait_status_node(rig, "web", &second).await?;
        } else {
            // MetalLB behaviour: the isolated speaker still announces in its own view (into
            // the void). It reaches the API server through the rig's relay, so both owners
            // write their status and delete the other's once (MetalLB's rule for a Service one
            // announces, once per ownership so the two do not fight): both objects stay.
            wait_status_includes(rig, "web", &second).await?;
        }
        let body = wait_http(rig, &ip, "web-").await?;
        // The LAN router reaches the service too and caches the interim owner's MAC.
        wait_for(
            &format!("HTTP from the router through {ip}"),
            TIMEOUT,
            || diag(rig),
            || async {
                let b = http_get_from_router(rig, &format!("http://{ip}/"))?;
                Ok(b.trim().starts_with("web-").then_some(()))
            },
        )
        .await?;
        let router = router_neigh_mac(rig, &ip)?;
        ensure!(
            router.as_deref() == Some(second_mac.as_str()),
            "router's neighbour entry for {ip} is {router:?}, expected {second_mac}"
        );
        let replies = probe_replies(probe)?;
        let t = analyse_takeover(&replies, t_cut, &owner_mac)?;
        let seen = replies.iter().filter(|(ts, _)| *ts >= t_cut).count();
        eprintln!(
            "blackhole failover {:?} (max reply gap {:?}, {seen} replies while cut); HTTP answered by {body}",
            t.failover, t.max_gap
        );
        ensure!(
            t.failover < Duration::from_millis(1500),
            "blackhole failover took {:?}",
            t.failover
        );
        ensure!(
            !replies
                .iter()
                .any(|(ts, m)| *ts > t_cut + 5_000_000 && *m != second_mac),
            "while {owner} was cut off, a MAC other than {second_mac} answered: {replies:?}"
        );

        // Heal: the elected owner takes the IP back.
        let h = heal_trial(bh, &ip, &owner_mac, &second_mac, 4)?;
        eprintln!("heal: {h:?}");
        ensure!(h.strangers == 0, "a third MAC answered after the heal");
        ensure!(
            h.owner_from.is_some(),
            "{owner} did not answer within 3.5 s of the heal"
        );
        ensure!(
            h.overlap < HEAL_OVERLAP_BOUND,
            "--quorum {quorum}: both {owner} and {second} answered for {:?} after the heal: {h:?}",
            h.overlap
        );
        wait_arp_owner(rig, &ip, &owner_mac).await?;
        wait_status_node(rig, "web", &owner).await?;
        // The router sent nothing since: only the owner's gratuitous ARP can have moved it.
        wait_for(
            &format!("the router's neighbour entry for {ip} back on {owner_mac}"),
            Duration::from_secs(5),
            || format!("router: {:?}\n{}", router_neigh_mac(rig, &ip), diag(rig)),
            || async { Ok((router_neigh_mac(rig, &ip)? == Some(owner_mac.clone())).then_some(())) },
        )
        .await?;
        wait_http(rig, &ip, "web-").await?;
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(rig);
    result
}

/// Longest time both nodes may answer after a blackhole heals. The interim owner lets go when
/// it hears the returning node, and after a long cut the node IPs' own neighbour entries may
/// have to be resolved again first: the kernel's ARP retransmit interval (1 s) bounds that.
/// (`--quorum majority` usually shows zero overlap thanks to the returning node's claim hold,
/// but the hold cannot cover a heartbeat path that comes back later than the others.)
const HEAL_OVERLAP_BOUND: Duration = Duration::from_millis(1000);

#[tokio::test]
async fn e_blackholed_owner_fails_over_and_converges_back() -> Result<()> {
    let Some(rig) = Rig::from_env("e_blackholed_owner_fails_over_and_converges_back") else {
        return Ok(());
    };
    blackholed_owner(&rig, "disabled").await
}

#[tokio::test]
async fn e_blackholed_owner_with_majority_quorum() -> Result<()> {
    let Some(rig) = Rig::from_env("e_blackholed_owner_with_majority_quorum") else {
        return Ok(());
    };
    blackholed_owner(&rig, "majority").await
}
