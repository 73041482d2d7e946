//! BFD (issue 16) on the rig, with ferrolb's controller and BGP-only speakers (setup in
//! `ferrolb_e2e::bgp_setup`, routers read through `ferrolb_e2e::bgp`), against FRR's bfdd:
//!
//! - FRR's dynamic neighbours (peer-group `SPEAKERS`) get `bfd profile` at run time (vtysh,
//!   undone at the end: the rest of the rig keeps running without BFD); the BGPPeer to FRR
//!   names a BFDProfile. At 300 ms × 3 (MetalLB's default) and then 50 ms × 3 (the profile
//!   edited on both sides) FRR's `show bfd peers json` shows every node's session up with our
//!   side's intervals as its remote intervals, and editing the profile resets no BGP session.
//! - node-1 blackholed (`failover::Blackhole`, healed by its guard even on failure): FRR's
//!   BFD session with node-1 goes down, FRR resets that BGP session because of BFD ("BFD
//!   down received") — not its 9 s hold timer — and the kernel route of the Service keeps
//!   only the other nodes' next hops; node-1's speaker detects it too and resets its BGP
//!   session (log). After the heal BFD and BGP come back and node-1's next hop returns.
//!
//! Skipped unless `FERROLB_E2E=1`. Every wait is bounded; objects and FRR config are removed
//! at the end.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::failover::Blackhole;
use ferrolb_e2e::{Rig, wait_for};
use serde_json::Value;

const NS: &str = "bgp-bfd";
const SUITE: Suite = Suite {
    ns: NS,
    class: setup::CLASS,
    name: "bgp-bfd",
};
const TIMEOUT: Duration = Duration::from_secs(60);
const FRR_PEER: &str = "bgp-bfd-frr";
const PROFILE: &str = "bgp-bfd";

fn frr_v4() -> String {
    Router::Frr.address(Family::Ipv4)
}

fn objects() -> Vec<String> {
    vec![
        format!("bgppeers.metallb.io/{FRR_PEER}"),
        format!("bfdprofiles.metallb.io/{PROFILE}"),
        "bgpadvertisements.metallb.io/bgp-bfd".to_string(),
        "ipaddresspools.metallb.io/bgp-bfd".to_string(),
    ]
}

fn profile_yaml(ms: u32) -> String {
    format!(
        r#"---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {{name: {PROFILE}, namespace: {}}}
spec: {{receiveInterval: {ms}, transmitInterval: {ms}, detectMultiplier: 3}}
"#,
        setup::SYSTEM
    )
}

/// FRR: a bfd profile `e2e-<ms>` and the SPEAKERS peer group using it.
fn frr_bfd(rig: &Rig, ms: u32) -> Result<()> {
    let name = format!("profile e2e-{ms}");
    let rx = format!("receive-interval {ms}");
    let tx = format!("transmit-interval {ms}");
    rig.frr_configure(&["bfd", &name, "detect-multiplier 3", &rx, &tx])?;
    let asn = format!("router bgp {}", Router::Frr.asn());
    let nb = format!("neighbor SPEAKERS bfd profile e2e-{ms}");
    rig.frr_configure(&[&asn, &nb])?;
    Ok(())
}

fn frr_bfd_off(rig: &Rig) {
    let asn = format!("router bgp {}", Router::Frr.asn());
    let _ = rig.frr_configure(&[&asn, "no neighbor SPEAKERS bfd"]);
    for ms in [300, 50] {
        let p = format!("no profile e2e-{ms}");
        let _ = rig.frr_configure(&["bfd", &p]);
    }
}

/// FRR's BFD peers (`show bfd peers json`) by peer address.
fn frr_bfd_peers(rig: &Rig) -> Result<Vec<Value>> {
    let v = rig.frr_json("show bfd peers json")?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn frr_bfd_peer(rig: &Rig, addr: &str) -> Result<Option<Value>> {
    Ok(frr_bfd_peers(rig)?
        .into_iter()
        .find(|p| p["peer"].as_str() == Some(addr)))
}

/// Waits until FRR's BFD session with every node is up and our side advertises `ms`.
async fn wait_bfd_up(rig: &Rig, ms: u64) -> Result<()> {
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        wait_for(
            &format!("FRR's BFD session with {a} up at {ms} ms × 3 on our side"),
            TIMEOUT,
            || format!("FRR bfd peers: {:?}", frr_bfd_peers(rig)),
            || {
                let p = frr_bfd_peer(rig, &a);
                async move {
                    let Some(p) = p? else { return Ok(None) };
                    let ok = p["status"] == "up"
                        && p["remote-receive-interval"].as_u64() == Some(ms)
                        && p["remote-transmit-interval"].as_u64() == Some(ms)
                        && p["remote-detect-multiplier"].as_u64() == Some(3);
                    Ok(ok.then_some(()))
                }
            },
        )
        .await?;
    }
    Ok(())
}

/// FRR's connectionsDropped per node (must not grow while BFD is re-tuned).
fn frr_dropped(rig: &Rig) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        let nb = bgp::neighbor(rig, Router::Frr, &a)?
            .with_context(|| format!("FRR has no session with {a}"))?;
        ensure!(nb.is_established(), "FRR's session with {a}: {nb:?}");
        out.push((a, nb.dropped_count.unwrap_or(0)));
    }
    Ok(out)
}

fn diag(rig: &Rig) -> String {
    let mut s = rig.diagnostics(Some(NS));
    for n in rig.node_names() {
        s.push_str(&format!(
            "\n--- speaker {n} ---\n{}",
            rig.log_tail(&format!("ferrolb-speaker-l2e2e-{n}"), 25)
        ));
    }
    s.push_str(&format!(
        "\n--- FRR sessions ---\n{:?}\n--- FRR bfd ---\n{:?}",
        bgp::neighbors(rig, Router::Frr),
        frr_bfd_peers(rig)
    ));
    s
}

#[tokio::test]
async fn bgp_bfd_up_with_frr_and_blackhole_drops_the_next_hop() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_bfd_up_with_frr_and_blackhole_drops_the_next_hop") else {
        return Ok(());
    };
    SUITE.install(&rig)?;
    let result = run(&rig).await;
    frr_bfd_off(&rig);
    SUITE.cleanup_objects(&rig, &objects());
    result
}

async fn run(rig: &Rig) -> Result<()> {
    frr_bfd(rig, 300)?;
    let mut cfg = setup::pool_yaml("bgp-bfd", "10.252.24.0/28");
    cfg.push_str(&profile_yaml(300));
    cfg.push_str(&setup::peer_yaml(
        FRR_PEER,
        Router::Frr.asn(),
        &frr_v4(),
        &format!("bfdProfile: {PROFILE}"),
    ));
    cfg.push_str(&setup::deployment_yaml(NS, "bfd"));
    cfg.push_str(&setup::service_yaml(NS, "bfd", "bgp-bfd", "bfd"));
    setup::apply(rig, &cfg)?;
    let _op = SUITE.start_operator(rig)?;
    let _speakers = SUITE.start_speakers(rig)?;
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        bgp::wait_established(rig, Router::Frr, &a, TIMEOUT).await?;
    }
    let ip = SUITE.wait_ip(rig, "bfd", TIMEOUT).await?;
    let prefix = format!("{ip}/32");
    let nodes = rig.nodes;
    bgp::wait_route(rig, Router::Frr, &prefix, TIMEOUT, |p| p.len() == nodes).await?;

    // 300 ms × 3 (MetalLB's default profile).
    wait_bfd_up(rig, 300).await?;
    println!("BFD up with FRR at 300 ms × 3 on {nodes} nodes");
    let before = frr_dropped(rig)?;

    // 50 ms × 3 on both sides: our side re-tunes by a poll sequence, BGP is not reset.
    setup::apply(rig, &profile_yaml(50))?;
    frr_bfd(rig, 50)?;
    wait_bfd_up(rig, 50).await?;
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        let p = frr_bfd_peer(rig, &a)?.context("FRR BFD peer")?;
        ensure!(
            p["receive-interval"].as_u64() == Some(50),
            "FRR's own profile not applied: {p}"
        );
    }
    let after = frr_dropped(rig)?;
    ensure!(
        before == after,
        "a BGP session was reset by the BFD profile edit: {before:?} → {after:?}"
    );
    println!("BFD up with FRR at 50 ms × 3, no BGP reset");

    // Blackhole node-1: BFD (150 ms) takes its BGP session and next hop away.
    let n1 = bgp::node_address("node-1", Family::Ipv4)?;
    let mut cut = Blackhole::cut("node-1")?;
    let t0 = Instant::now();
    let route = wait_for(
        "FRR's kernel route without node-1's next hop",
        Duration::from_secs(20),
        || diag(rig),
        || {
            let r = bgp::kernel_route(rig, &prefix);
            let n1 = n1.clone();
            async move {
                Ok(r?.filter(|r| !r.next_hops.contains(&n1) && r.next_hops.len() + 1 == nodes))
            }
        },
    )
    .await?;
    let gone = t0.elapsed();
    println!(
        "blackhole: kernel route via {:?} {gone:?} after the cut",
        route.next_hops
    );
    let reason = rig.frr_json(&format!("show bgp neighbors {n1} json"));
    let bfd_peer = frr_bfd_peer(rig, &n1)?;
    // FRR deletes a dynamic neighbour once it is down; while it still exists it must say BFD.
    if let Ok(v) = &reason
        && let Some(why) = v[&n1]["lastResetDueTo"].as_str()
    {
        ensure!(
            why.to_lowercase().contains("bfd"),
            "FRR reset node-1's session for {why:?}, not BFD"
        );
    }
    ensure!(
        bfd_peer.as_ref().is_none_or(|p| p["status"] != "up"),
        "FRR's BFD session with node-1 still up: {bfd_peer:?}"
    );
    ensure!(
        gone < Duration::from_secs(6),
        "node-1's next hop went away after {gone:?}: that is the hold timer (9 s), not BFD"
    );
    wait_for(
        "node-1's speaker to reset its BGP session on BFD down",
        Duration::from_secs(10),
        || diag(rig),
        || async {
            let log = setup::speaker_log(rig, "node-1");
            Ok(log
                .contains("BFD down: resetting the BGP session")
                .then_some(()))
        },
    )
    .await?;

    cut.heal()?;
    let t1 = Instant::now();
    bgp::wait_established(rig, Router::Frr, &n1, TIMEOUT).await?;
    bgp::wait_route(rig, Router::Frr, &prefix, TIMEOUT, |p| {
        p.iter().any(|r| r.next_hops.contains(&n1))
    })
    .await?;
    wait_bfd_up(rig, 50).await?;
    println!(
        "after the heal: Established, {prefix} via {n1} and BFD up in {:?}",
        t1.elapsed()
    );
    Ok(())
}
