//! BFD (issue 16) on the rig beyond FRR single hop IPv4 (`tests/bgp_bfd.rs`): BIRD's BFD,
//! passive mode, multihop with minimum TTL, IPv6 — ferrolb's controller and BGP-only speakers
//! (`ferrolb_e2e::bgp_setup`), routers read and configured through `ferrolb_e2e::bgp_bfd`,
//! whose guards undo every router change at the end, also on failure:
//!
//! - `bgp_bfd_peers_bird`: BIRD (iBGP) with `bfd on` on its dynamic sessions (a copy of the
//!   rig's config loaded by `birdc configure`). BIRD's `show bfd sessions` shows every node Up
//!   with the negotiated interval and detection time of 300 ms × 3, then — the profile edited
//!   on both sides, BIRD's BGP sessions not reset — 50 ms × 3; every BGPSessionState says
//!   `bfdStatus: up`. node-1 blackholed: BIRD drops its BGP session because of BFD (its log
//!   traces "<its protocol>: BFD session down") well before the 9 s hold timer; healed, all
//!   comes back (BIRD's error wait time is 1–5 s in the test's config, not 60–300 s).
//! - `bgp_bfd_peers_passive`: our profile `passiveMode: true` against FRR's static bfdd peer
//!   with `passive-mode`: both passive, no control packet crosses in either direction
//!   (FRR's counters and our `metallb_bfd_control_packet_output` stay 0) and the session
//!   stays down (RFC 5880 §6.1); FRR's side made active, the session comes up.
//! - `bgp_bfd_peers_multihop_min_ttl`: a BGPPeer with `ebgpMultiHop: true` runs RFC 5883
//!   (port 4784) against FRR's `peer … multihop`. The rig's LAN is one L2 segment (no routed
//!   hop between a node and FRR), so node-1's netns rewrites the TTL of received BFD multihop
//!   packets to 251 (four hops) with nftables: `minimumTtl: 250` comes up; `minimumTtl: 254`
//!   makes our side drop every packet (our input counter stops while FRR keeps sending) and
//!   the session goes and stays down; without the rewrite (TTL 255) it is up again.
//! - `bgp_bfd_peers_ipv6`: single hop over the IPv6 BGP sessions to FRR (`neighbor SPEAKERS
//!   bfd profile`): every node up at 300 ms × 3 in FRR's `show bfd peers json`, our metric
//!   and BGPSessionState up.
//!
//! Skipped unless `FERROLB_E2E=1`. Every wait is bounded.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_bfd::{self as bfd, BirdBfd, FrrBfd, TtlRewrite};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::failover::Blackhole;
use ferrolb_e2e::l2::Speakers;
use ferrolb_e2e::procs::Proc;
use ferrolb_e2e::{Rig, wait_for};

const NS: &str = "bgp-bfd-peers";
const SUITE: Suite = Suite {
    ns: NS,
    class: setup::CLASS,
    name: "bgp-bfd-peers",
};
const TIMEOUT: Duration = Duration::from_secs(60);
const PEER: &str = "bgp-bfd-peers";
const PROFILE: &str = "bgp-bfd-peers";
/// How long "stays down" / "sends nothing" is watched: three times the 1 s rate at which an
/// active side that is not Up transmits (RFC 5880 §6.8.3).
const QUIET: Duration = Duration::from_secs(3);

fn objects() -> Vec<String> {
    vec![
        format!("bgppeers.metallb.io/{PEER}"),
        format!("bfdprofiles.metallb.io/{PROFILE}"),
    ]
}

/// The BFDProfile with spec fields `spec` (a YAML flow-mapping body).
fn profile_yaml(spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: {PROFILE}, namespace: {}}}\nspec: {{{spec}}}\n",
        setup::SYSTEM
    )
}

fn timers(ms: u32) -> String {
    format!("receiveInterval: {ms}, transmitInterval: {ms}, detectMultiplier: 3")
}

/// The profile, a BGPPeer to `router` at `addr` naming it (plus `extra` fields), the
/// operator and the speakers.
fn start(
    rig: &Rig,
    router: Router,
    addr: &str,
    extra: &str,
    profile: &str,
) -> Result<(Proc, Speakers)> {
    let mut cfg = profile_yaml(profile);
    let extra = if extra.is_empty() {
        format!("bfdProfile: {PROFILE}")
    } else {
        format!("bfdProfile: {PROFILE}, {extra}")
    };
    cfg.push_str(&setup::peer_yaml(PEER, router.asn(), addr, &extra));
    setup::apply(rig, &cfg)?;
    let op = SUITE.start_operator(rig)?;
    let speakers = SUITE.start_speakers(rig)?;
    Ok((op, speakers))
}

/// Runs `body`, then removes the suite's objects whatever happened.
async fn suite_run<F: Future<Output = Result<()>>>(rig: &Rig, body: F) -> Result<()> {
    SUITE.install(rig)?;
    let result = body.await;
    SUITE.cleanup_objects(rig, &objects());
    result
}

/// Waits (bounded) until `check` holds.
async fn until(
    rig: &Rig,
    what: &str,
    timeout: Duration,
    check: impl Fn() -> Result<bool>,
) -> Result<()> {
    wait_for(
        what,
        timeout,
        || SUITE.diag(rig),
        || {
            let r = check().map(|ok| ok.then_some(()));
            async move { r }
        },
    )
    .await
}

/// Checks `check` every 200 ms for [`QUIET`]; fails at the first `false`.
async fn holds(what: &str, check: impl Fn() -> Result<bool>) -> Result<()> {
    let t0 = Instant::now();
    while t0.elapsed() < QUIET {
        ensure!(check()?, "{what} stopped holding after {:?}", t0.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// `node`'s speaker's BFD metric `name` for `peer`.
fn ours(rig: &Rig, node: &str, name: &str, peer: &str) -> Result<Option<f64>> {
    setup::peer_metric(rig, node, name, peer)
}

async fn wait_bfd_status_up(rig: &Rig, nodes: &[String]) -> Result<()> {
    for n in nodes {
        until(
            rig,
            &format!("{n}'s BGPSessionState bfdStatus up"),
            TIMEOUT,
            || Ok(setup::session_state(rig, n, PEER)?.is_some_and(|s| s["bfdStatus"] == "up")),
        )
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BIRD

#[tokio::test]
async fn bgp_bfd_peers_bird() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_bfd_peers_bird") else {
        return Ok(());
    };
    suite_run(&rig, bird(&rig)).await
}

/// Every node's session in BIRD's `show bfd sessions` Up at `ms` × 3, and up on our side.
async fn wait_bird_bfd(rig: &Rig, ms: u64) -> Result<()> {
    let bird = Router::Bird.address(Family::Ipv4);
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        until(
            rig,
            &format!("BIRD's BFD session with {a} Up at {ms} ms × 3, ours up"),
            TIMEOUT,
            || {
                let s = bfd::bird_bfd_sessions(rig)?;
                Ok(s.get(&a).is_some_and(|s| s.up_at(ms))
                    && ours(rig, &n, "metallb_bfd_session_up", &bird)? == Some(1.0))
            },
        )
        .await?;
    }
    Ok(())
}

async fn bird(rig: &Rig) -> Result<()> {
    let nodes = rig.node_names();
    let addr = Router::Bird.address(Family::Ipv4);
    let bird_bfd = BirdBfd::enable(rig, 300)?;
    let (_op, _speakers) = start(rig, Router::Bird, &addr, "", &timers(300))?;
    for n in &nodes {
        let a = bgp::node_address(n, Family::Ipv4)?;
        bgp::wait_established(rig, Router::Bird, &a, TIMEOUT).await?;
    }
    wait_bird_bfd(rig, 300).await?;
    wait_bfd_status_up(rig, &nodes).await?;
    println!("BIRD: BFD Up at 0.300 / 0.900 s with {} nodes", nodes.len());
    let before = bgp::bird_session_ids(rig)?;

    setup::apply(rig, &profile_yaml(&timers(50)))?;
    bird_bfd.retune(50)?;
    wait_bird_bfd(rig, 50).await?;
    let after = bgp::bird_session_ids(rig)?;
    for n in &nodes {
        let a = bgp::node_address(n, Family::Ipv4)?;
        let (b, s) = (before.get(&a), after.get(&a));
        ensure!(
            matches!((b, s), (Some(b), Some(s)) if s.same_as(b)),
            "BIRD's session with {a} was reset by the BFD re-tune: {b:?} → {s:?}"
        );
    }
    println!(
        "BIRD: BFD Up at 0.050 / 0.150 s: {:?}",
        bfd::bird_bfd_sessions(rig)?
    );

    // node-1 blackholed: BIRD drops the BGP session on BFD down, not at its 9 s hold timer.
    let n1 = bgp::node_address("node-1", Family::Ipv4)?;
    let proto = after
        .get(&n1)
        .map(|s| s.protocol.clone())
        .context("BIRD's protocol of node-1")?;
    let log_path = rig.run_dir.join("logs").join("bird.log");
    let log_start = std::fs::read_to_string(&log_path).map_or(0, |l| l.len());
    let mut cut = Blackhole::cut("node-1")?;
    let t0 = Instant::now();
    until(
        rig,
        "BIRD without an Established session with node-1",
        Duration::from_secs(20),
        || Ok(!bgp::bird_session_ids(rig)?.contains_key(&n1)),
    )
    .await?;
    let gone = t0.elapsed();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let new = log.get(log_start..).unwrap_or_default();
    println!("BIRD dropped node-1's session {gone:?} after the cut; its log:\n{new}");
    ensure!(
        gone < Duration::from_secs(6),
        "BIRD dropped node-1 after {gone:?}: that is the hold timer (9 s), not BFD"
    );
    let why = format!("{proto}: BFD session down");
    ensure!(
        new.contains(&why),
        "BIRD's log does not say {why:?}:\n{new}"
    );
    cut.heal()?;
    bgp::wait_established(rig, Router::Bird, &n1, TIMEOUT).await?;
    wait_bird_bfd(rig, 50).await?;
    println!("after the heal: BIRD Established and BFD Up at 50 ms with node-1");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// passive mode

#[tokio::test]
async fn bgp_bfd_peers_passive() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_bfd_peers_passive") else {
        return Ok(());
    };
    suite_run(&rig, passive(&rig)).await
}

fn counter(v: &Option<serde_json::Value>, name: &str) -> u64 {
    v.as_ref().and_then(|v| v[name].as_u64()).unwrap_or(0)
}

async fn passive(rig: &Rig) -> Result<()> {
    let frr_addr = Router::Frr.address(Family::Ipv4);
    let n1 = bgp::node_address("node-1", Family::Ipv4)?;
    let mut frr = FrrBfd::new(rig);
    frr.add(
        "profile e2e-passive",
        &[
            "passive-mode",
            "receive-interval 300",
            "transmit-interval 300",
        ],
    )?;
    frr.add(
        &format!("peer {n1} local-address {frr_addr}"),
        &["profile e2e-passive"],
    )?;
    let profile = format!("{}, passiveMode: true", timers(300));
    let (_op, _speakers) = start(rig, Router::Frr, &frr_addr, "", &profile)?;
    bgp::wait_established(rig, Router::Frr, &n1, TIMEOUT).await?;
    until(rig, "node-1's passive BFD session created", TIMEOUT, || {
        Ok(ours(rig, "node-1", "metallb_bfd_session_up", &frr_addr)?.is_some())
    })
    .await?;

    // Both passive: neither side ever speaks first (RFC 5880 §6.1).
    holds("both passive: no packet, session down", || {
        let c = bfd::frr_bfd_counters(rig, &n1, false)?;
        let p = bfd::frr_bfd_peer(rig, &n1, false)?.context("FRR's BFD peer node-1")?;
        let out = ours(
            rig,
            "node-1",
            "metallb_bfd_control_packet_output",
            &frr_addr,
        )?;
        Ok(c.is_some()
            && counter(&c, "control-packet-input") == 0
            && counter(&c, "control-packet-output") == 0
            && p["status"] != "up"
            && out == Some(0.0))
    })
    .await?;
    println!("both sides passive: no control packet in {QUIET:?}, session down");

    // FRR active: our passive side answers and the session comes up.
    frr.add("profile e2e-passive", &["no passive-mode"])?;
    until(rig, "FRR's BFD session with node-1 up", TIMEOUT, || {
        let p = bfd::frr_bfd_peer(rig, &n1, false)?;
        Ok(p.is_some_and(|p| p["status"] == "up")
            && ours(rig, "node-1", "metallb_bfd_session_up", &frr_addr)? == Some(1.0))
    })
    .await?;
    let c = bfd::frr_bfd_counters(rig, &n1, false)?;
    ensure!(
        counter(&c, "control-packet-input") > 0,
        "FRR counted no packet from our side: {c:?}"
    );
    wait_bfd_status_up(rig, &["node-1".to_string()]).await?;
    println!("FRR active, ours passive: up; FRR counters {c:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// multihop and minimum TTL

#[tokio::test]
async fn bgp_bfd_peers_multihop_min_ttl() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_bfd_peers_multihop_min_ttl") else {
        return Ok(());
    };
    suite_run(&rig, multihop(&rig)).await
}

async fn multihop(rig: &Rig) -> Result<()> {
    let frr_addr = Router::Frr.address(Family::Ipv4);
    let n1 = bgp::node_address("node-1", Family::Ipv4)?;
    let mut frr = FrrBfd::new(rig);
    frr.add(
        "profile e2e-multihop",
        &["receive-interval 300", "transmit-interval 300"],
    )?;
    frr.add(
        &format!("peer {n1} multihop local-address {frr_addr}"),
        &["profile e2e-multihop"],
    )?;
    // Four routed hops between FRR and node-1, as far as node-1's sockets can tell.
    let ttl = TtlRewrite::set(rig, "node-1", 251)?;
    let profile = |min_ttl: u8| format!("{}, minimumTtl: {min_ttl}", timers(300));
    let (_op, _speakers) = start(
        rig,
        Router::Frr,
        &frr_addr,
        "ebgpMultiHop: true",
        &profile(250),
    )?;
    let up = || -> Result<bool> {
        let p = bfd::frr_bfd_peer(rig, &n1, true)?;
        Ok(p.is_some_and(|p| p["status"] == "up")
            && ours(rig, "node-1", "metallb_bfd_session_up", &frr_addr)? == Some(1.0))
    };
    until(
        rig,
        "multihop BFD up with TTL 251 ≥ minimumTtl 250",
        TIMEOUT,
        up,
    )
    .await?;
    wait_bfd_status_up(rig, &["node-1".to_string()]).await?;
    println!("multihop (4784) up with received TTL 251 and minimumTtl 250");

    // minimumTtl 254 > 251: our side drops FRR's packets; the session goes and stays down.
    setup::apply(rig, &profile_yaml(&profile(254)))?;
    until(
        rig,
        "multihop BFD down under minimumTtl 254",
        TIMEOUT,
        || {
            let p = bfd::frr_bfd_peer(rig, &n1, true)?;
            Ok(p.is_some_and(|p| p["status"] != "up")
                && ours(rig, "node-1", "metallb_bfd_session_up", &frr_addr)? == Some(0.0))
        },
    )
    .await?;
    let input = || ours(rig, "node-1", "metallb_bfd_control_packet_input", &frr_addr);
    let frr_out = || -> Result<u64> {
        Ok(counter(
            &bfd::frr_bfd_counters(rig, &n1, true)?,
            "control-packet-output",
        ))
    };
    let (in0, out0) = (input()?, frr_out()?);
    holds("minimumTtl 254: down, every packet dropped", || {
        Ok(!up()? && input()? == in0)
    })
    .await?;
    let out1 = frr_out()?;
    ensure!(
        out1 > out0,
        "FRR sent nothing while we watched ({out0} → {out1}): the drop proves nothing"
    );
    println!(
        "minimumTtl 254: down; FRR sent {} packets, our input stayed at {in0:?}",
        out1 - out0
    );

    // Without the rewrite FRR's packets arrive with TTL 255 ≥ 254: up again.
    drop(ttl);
    until(rig, "multihop BFD up with TTL 255", TIMEOUT, up).await?;
    println!("TTL 255 again: multihop up");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// IPv6 single hop

#[tokio::test]
async fn bgp_bfd_peers_ipv6() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_bfd_peers_ipv6") else {
        return Ok(());
    };
    suite_run(&rig, ipv6(&rig)).await
}

async fn ipv6(rig: &Rig) -> Result<()> {
    let nodes = rig.node_names();
    let frr_addr = Router::Frr.address(Family::Ipv6);
    let mut frr = FrrBfd::new(rig);
    frr.add(
        "profile e2e-v6",
        &[
            "detect-multiplier 3",
            "receive-interval 300",
            "transmit-interval 300",
        ],
    )?;
    frr.bgp(
        Router::Frr.asn(),
        "neighbor SPEAKERS bfd profile e2e-v6",
        "no neighbor SPEAKERS bfd",
    )?;
    let (_op, _speakers) = start(rig, Router::Frr, &frr_addr, "", &timers(300))?;
    for n in &nodes {
        let a = bgp::node_address(n, Family::Ipv6)?;
        bgp::wait_established(rig, Router::Frr, &a, TIMEOUT).await?;
        until(
            rig,
            &format!("FRR's IPv6 BFD session with {a} up at 300 ms × 3"),
            TIMEOUT,
            || {
                let p = bfd::frr_bfd_peer(rig, &a, false)?;
                Ok(p.is_some_and(|p| {
                    p["status"] == "up"
                        && p["remote-receive-interval"].as_u64() == Some(300)
                        && p["remote-transmit-interval"].as_u64() == Some(300)
                        && p["remote-detect-multiplier"].as_u64() == Some(3)
                }) && ours(rig, n, "metallb_bfd_session_up", &frr_addr)? == Some(1.0))
            },
        )
        .await?;
    }
    wait_bfd_status_up(rig, &nodes).await?;
    println!("IPv6 single hop BFD up with FRR on {} nodes", nodes.len());
    Ok(())
}
