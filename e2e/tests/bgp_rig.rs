//! Self-tests of the rig's BGP routers and of the readers in `ferrolb_e2e::bgp`, with real
//! daemons only: a throwaway GoBGP in a node netns stands in for a ferrolb speaker (AS 64512)
//! and the tests check, through the same helpers the BGP tests use, that FRR, both GoBGPs and
//! BIRD (iBGP) see its paths with the right attributes, that MD5 neighbours accept the rig's
//! password and nothing else, that FRR installs ECMP routes whose legs the client's
//! connections really spread over, and that scale collectors answer on their own ports.
//!
//! Skipped unless `FERROLB_E2E=1` (see `e2e/README.md`). Every stand-in is killed on drop.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::bgp::{
    self, Family, RibRoute, Router, kernel_route, md5_counters, neighbors, node_address,
    node_md5_address, wait_established, wait_route, zebra_route,
};
use ferrolb_e2e::{FRR_ASN, GobgpSpeaker, PathAttrs, Rig, SpeakerNeighbor, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// Neighbours of a stand-in: every router without MD5 over IPv4 and IPv6, and with `password`
/// (when given) every MD5 neighbour.
fn all_routers(password: Option<&str>) -> Vec<SpeakerNeighbor> {
    let mut n = Vec::new();
    for r in [Router::Frr, Router::Gobgp, Router::Bird] {
        for f in [Family::Ipv4, Family::Ipv6] {
            n.push(SpeakerNeighbor::new(&r.address(f), r.asn()));
        }
    }
    if let Some(pw) = password {
        for r in Router::WITH_MD5 {
            if let Some(a) = r.md5_address() {
                n.push(SpeakerNeighbor::new(&a, r.asn()).with_password(pw));
            }
        }
    }
    n
}

/// The sessions `router` must have learnt a prefix of `family` over from the stand-in on
/// `node`: the plain one of that family and, for IPv4, the MD5 one. (The stand-in also sends
/// each prefix over its sessions of the other family; whether a router keeps such a path
/// depends on its next-hop rules, so those are not required.)
fn expected_peers(router: Router, node: &str, family: Family) -> Result<BTreeSet<String>> {
    let mut peers = BTreeSet::new();
    if router != Router::GobgpMd5 {
        peers.insert(node_address(node, family)?);
    }
    if family == Family::Ipv4 && router.md5_address().is_some() {
        peers.insert(node_md5_address(node)?);
    }
    Ok(peers)
}

fn check_attributes(router: Router, p: &RibRoute, attrs: &PathAttrs) -> Result<()> {
    ensure!(
        p.communities == ["64512:100", "65535:65281"],
        "{router:?} communities {:?}",
        p.communities
    );
    ensure!(
        p.large_communities == attrs.large_communities,
        "{router:?} large communities {:?}",
        p.large_communities
    );
    if router.is_ibgp() {
        ensure!(
            p.local_pref == attrs.local_pref,
            "{router:?} (iBGP) LOCAL_PREF {:?}",
            p.local_pref
        );
        ensure!(
            p.as_path.is_empty(),
            "{router:?} (iBGP) AS_PATH {:?}",
            p.as_path
        );
    } else {
        ensure!(
            p.local_pref.is_none(),
            "{router:?} (eBGP) got LOCAL_PREF {:?}",
            p.local_pref
        );
        ensure!(
            p.as_path == [ferrolb_e2e::SPEAKER_ASN],
            "{router:?} AS_PATH {:?}",
            p.as_path
        );
    }
    Ok(())
}

/// FRR, GoBGP, the MD5 GoBGP and BIRD all learn a stand-in's IPv4 and IPv6 paths with
/// communities, large communities, AS_PATH, and LOCAL_PREF only over iBGP (BIRD); the MD5
/// sessions with the rig's password are Established next to the plain ones.
#[tokio::test]
async fn bgp_rig_every_router_sees_the_attributes() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_rig_every_router_sees_the_attributes") else {
        return Ok(());
    };
    let node = "node-1";
    let pw = rig.bgp_md5_password();
    let md5_node = node_md5_address(node)?;
    let count = |n: Option<bgp::Neighbor>| n.and_then(|n| n.established_count).unwrap_or(0);
    let frr_before = count(bgp::neighbor(&rig, Router::Frr, &md5_node)?);
    let speaker = GobgpSpeaker::start_with(&rig, node, 50181, &all_routers(Some(&pw)))?;
    let attrs = PathAttrs {
        communities: vec!["64512:100".into(), "no-export".into()],
        large_communities: vec!["64512:1:2".into()],
        local_pref: Some(250),
        med: None,
    };
    let (v4, v6) = ("192.168.10.61/32", "2001:db8:10::61/128");
    speaker
        .announce_with("ipv4", v4, &node_address(node, Family::Ipv4)?, &attrs, WAIT)
        .await?;
    speaker
        .announce_with("ipv6", v6, &node_address(node, Family::Ipv6)?, &attrs, WAIT)
        .await?;

    for router in Router::ALL {
        for (family, prefix) in [(Family::Ipv4, v4), (Family::Ipv6, v6)] {
            let want = expected_peers(router, node, family)?;
            if want.is_empty() {
                continue; // the MD5 GoBGP has no IPv6 neighbours
            }
            let paths = wait_route(&rig, router, prefix, WAIT, |paths| {
                let got: BTreeSet<String> = paths.iter().map(|p| p.peer.clone()).collect();
                want.is_subset(&got)
            })
            .await?;
            for p in paths.iter().filter(|p| want.contains(&p.peer)) {
                check_attributes(router, p, &attrs)?;
                ensure!(
                    p.next_hops.first().map(String::as_str)
                        == Some(node_address(node, family)?.as_str()),
                    "{router:?} next hops {:?}",
                    p.next_hops
                );
            }
            for peer in &want {
                let n = wait_established(&rig, router, peer, WAIT).await?;
                ensure!(
                    n.peer_asn == Some(ferrolb_e2e::SPEAKER_ASN),
                    "{router:?} {n:?}"
                );
            }
        }
    }
    // FRR reports how often and since when a session is up: once more, for this stand-in
    let frr = bgp::neighbor(&rig, Router::Frr, &md5_node)?.context("FRR's MD5 neighbour")?;
    ensure!(
        frr.established_count == Some(frr_before + 1) && frr.uptime.is_some(),
        "{frr:?} (connections established before: {frr_before})"
    );

    // a withdrawal reaches every router
    speaker.withdraw("ipv4", v4)?;
    for router in Router::ALL {
        wait_route(&rig, router, v4, WAIT, |paths| paths.is_empty()).await?;
    }
    drop(speaker);
    Ok(())
}

/// Wrong or missing MD5 keys never reach Established on FRR, BIRD and the MD5 GoBGP, and the
/// routers' kernels count the rejected segments.
#[tokio::test]
async fn bgp_rig_wrong_or_missing_md5_never_establishes() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_rig_wrong_or_missing_md5_never_establishes") else {
        return Ok(());
    };
    let before: Vec<_> = Router::WITH_MD5
        .iter()
        .map(|r| md5_counters(&rig, *r))
        .collect::<Result<_>>()?;
    let md5_peers = |password: Option<&str>| -> Vec<SpeakerNeighbor> {
        Router::WITH_MD5
            .iter()
            .filter_map(|r| {
                let n = SpeakerNeighbor::new(&r.md5_address()?, r.asn());
                Some(match password {
                    Some(p) => n.with_password(p),
                    None => n,
                })
            })
            .collect()
    };
    let wrong = GobgpSpeaker::start_with(&rig, "node-2", 50182, &md5_peers(Some("not-the-key")))?;
    let missing = GobgpSpeaker::start_with(&rig, "node-3", 50183, &md5_peers(None))?;
    let watched = [node_md5_address("node-2")?, node_md5_address("node-3")?];

    // 10 s of 1 s connect retries: no router may ever show these sessions Established
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        for router in Router::WITH_MD5 {
            for n in neighbors(&rig, router)? {
                ensure!(
                    !(watched.contains(&n.address) && n.is_established()),
                    "{router:?} established an MD5 session with a bad key: {n:?}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (router, before) in Router::WITH_MD5.iter().zip(&before) {
        let after = md5_counters(&rig, *router)?;
        ensure!(
            after.failure > before.failure && after.not_found > before.not_found,
            "{router:?}: MD5 counters before {before:?}, after {after:?}"
        );
    }
    drop((wrong, missing));
    Ok(())
}

/// Removes test addresses from node loopbacks and kills the HTTP servers on drop.
struct Anycast {
    rig: Rig,
    ip: String,
    nodes: Vec<String>,
    servers: Vec<Child>,
}

impl Drop for Anycast {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        for n in &self.nodes {
            let _ = self.rig.exec_node(
                n,
                &["ip", "addr", "del", &format!("{}/32", self.ip), "dev", "lo"],
            );
        }
    }
}

/// Two stand-ins announce one /32: FRR installs a kernel route with both nodes as next hops,
/// and with `fib_multipath_hash_policy=1` the client's connections reach both nodes.
#[tokio::test]
async fn bgp_rig_frr_ecmp_spreads_connections() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_rig_frr_ecmp_spreads_connections") else {
        return Ok(());
    };
    let policy = rig.netns_exec(
        &rig.frr_ns(),
        &["sysctl", "-n", "net.ipv4.fib_multipath_hash_policy"],
    )?;
    ensure!(
        policy.trim() == "1",
        "FRR's fib_multipath_hash_policy is {policy}"
    );
    let ip = "192.168.10.62";
    let nodes = ["node-1", "node-2"];
    let mut anycast = Anycast {
        rig: rig.clone(),
        ip: ip.to_string(),
        nodes: Vec::new(),
        servers: Vec::new(),
    };
    let mut speakers = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        // each node serves its own name on ip:18080
        let dir = rig.run_dir.join(format!("ecmp-{node}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("who"), node)?;
        rig.exec_node(
            node,
            &["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"],
        )?;
        anycast.nodes.push(node.to_string());
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &rig.node_ns(node),
                "python3",
                "-m",
                "http.server",
            ])
            .args(["--bind", ip, "--directory"])
            .arg(&dir)
            .arg("18080")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting python3 -m http.server")?;
        anycast.servers.push(server);
        let port = 50184 + u16::try_from(i)?;
        let s = GobgpSpeaker::start(
            &rig,
            node,
            port,
            &[(&Router::Frr.address(Family::Ipv4), FRR_ASN)],
        )?;
        s.announce(
            "ipv4",
            &format!("{ip}/32"),
            &node_address(node, Family::Ipv4)?,
            WAIT,
        )
        .await?;
        speakers.push(s);
    }
    let want: Vec<String> = nodes
        .iter()
        .map(|n| node_address(n, Family::Ipv4))
        .collect::<Result<_>>()?;
    let route = wait_for(
        "FRR's kernel route with one next hop per node",
        WAIT,
        || {
            format!(
                "FRR paths: {:?}",
                bgp::route(&rig, Router::Frr, &format!("{ip}/32"))
            )
        },
        || {
            let r = kernel_route(&rig, &format!("{ip}/32"));
            let want = want.clone();
            async move { Ok(r?.filter(|r| r.next_hops == want)) }
        },
    )
    .await?;
    ensure!(route.protocol == "bgp", "{route:?}");
    let zebra = zebra_route(&rig, &format!("{ip}/32"))?.context("zebra's route")?;
    ensure!(zebra.next_hops == want, "zebra: {zebra:?}");

    // 24 new connections from the client (new source ports): both nodes must answer
    let mut seen = BTreeSet::new();
    for _ in 0..24 {
        let body = wait_for(
            "client GET through FRR",
            Duration::from_secs(10),
            String::new,
            || {
                let r = rig.http_get_from_client(&format!("http://{ip}:18080/who"));
                async move { Ok(Some(r?)) }
            },
        )
        .await?;
        seen.insert(body.trim().to_string());
        if seen.len() == nodes.len() {
            break;
        }
    }
    ensure!(
        seen.len() == nodes.len(),
        "connections reached only {seen:?}"
    );
    drop(speakers);
    drop(anycast);
    Ok(())
}

/// Two scale collectors in one netns answer on ports 1790 and 1791 (BGPPeer `peerPort`), each
/// learns the stand-in's path; stopping them removes them.
#[tokio::test]
async fn bgp_rig_collectors_on_their_own_ports() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_rig_collectors_on_their_own_ports") else {
        return Ok(());
    };
    rig.start_collectors(2)?;
    let result = async {
        // GoBGP keys neighbours by address alone: one stand-in per collector (on two nodes)
        let mut speakers = Vec::new();
        let prefix = "192.168.10.63/32";
        let pairs = [
            (Router::Collector(1), "node-2", 50186),
            (Router::Collector(2), "node-3", 50187),
        ];
        for (c, node, api) in pairs {
            let peer = SpeakerNeighbor::new(&c.address(Family::Ipv4), c.asn()).with_port(c.port());
            let s = GobgpSpeaker::start_with(&rig, node, api, &[peer])?;
            s.announce("ipv4", prefix, &node_address(node, Family::Ipv4)?, WAIT)
                .await?;
            speakers.push(s);
        }
        for (c, node, _) in pairs {
            let from = node_address(node, Family::Ipv4)?;
            let paths =
                wait_route(&rig, c, prefix, WAIT, |p| p.iter().any(|p| p.peer == from)).await?;
            ensure!(
                paths.len() == 1,
                "{c:?} has paths of another collector's peer: {paths:?}"
            );
            ensure!(
                paths[0].as_path == [ferrolb_e2e::SPEAKER_ASN],
                "{c:?}: {paths:?}"
            );
            wait_established(&rig, c, &from, WAIT).await?;
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    let stop = rig.start_collectors(0);
    result?;
    stop?;
    ensure!(
        neighbors(&rig, Router::Collector(1)).is_err(),
        "collector 1 still answers after `rig.sh collectors 0`"
    );
    Ok(())
}
