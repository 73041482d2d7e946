//! ferrolb's speakers (BGP mode, one per node netns) and the rig's routers: the path
//! attributes, aggregation, TCP-MD5 and dual-stack sessions of issue 15, each read from the
//! routers' own RIBs and session tables through `ferrolb_e2e::bgp`:
//!
//! - `bgp_attrs_a_*`: a BGPAdvertisement with a standard community (`65535:65282`, the
//!   well-known no-advertise; MetalLB's CRDs take numbers or Community aliases, not names), a
//!   large community (`large:1:2:3`), a Community CR alias and `localPref: 150` reaches FRR and
//!   GoBGP (eBGP: AS_PATH `64512`, no LOCAL_PREF) and BIRD (iBGP: empty AS_PATH, LOCAL_PREF
//!   150) with every community; editing the communities updates the routes and resets no
//!   session (FRR's and GoBGP's uptimes keep growing, BIRD's sessions keep their protocol and
//!   `Since`);
//! - `bgp_attrs_b_*`: `aggregationLength: 24` announces one /24 for two Services of the same
//!   /24 (and no /32), kept while one remains, withdrawn with the last;
//! - `bgp_attrs_c_*`: MD5 peers on the MD5 LAN (the speaker leaves from its 192.168.5.2i, the
//!   kernel's source towards an on-link peer, so no `sourceAddress` is needed): `password` to
//!   FRR and GoBGP-MD5 establishes next to a plain session; a `passwordSecret` with a wrong key
//!   never establishes with BIRD (10 s) and BIRD's `TCPMD5Failure` rises; changing the Secret
//!   to the right key establishes; changing FRR's `password` from the right key to a wrong one
//!   closes those sessions for good (FRR's `TCPMD5Failure` rises) while the plain ones stay up;
//! - `bgp_attrs_d_*`: `dualStackAddressFamily: true` carries an IPv4 prefix with an IPv4 next
//!   hop over an IPv6 session to FRR, and an IPv6 prefix with an IPv6 next hop over an IPv4
//!   session (FRR's path says which neighbour it came from);
//! - `bgp_attrs_e_*`: TCP-MD5 over IPv6, to FRR's IPv6 MD5 neighbours on the MD5 LAN's
//!   `fc00:f853:ccd:e795::/64`: a wrong `password` never establishes (10 s, FRR's
//!   `TCPMD5Failure` rises), the right one establishes and carries an IPv6 prefix.
//!
//! Isolation: Services of class `e2e.ferrolb.io/bgp-attrs`, pools off the LAN with
//! `autoAssign: false`, every MetalLB object labelled `e2e.ferrolb.io/suite: bgp-attrs` and
//! deleted at the end, pass or fail. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use ferrolb_e2e::bgp::{
    self, Family, RibRoute, Router, md5_counters, node_address, node_md5_address, wait_established,
    wait_route,
};
use ferrolb_e2e::bgp_setup::{SYSTEM, Suite};
use ferrolb_e2e::l2::kubectl_apply;
use ferrolb_e2e::{Rig, SPEAKER_ASN};

const SUITE: Suite = Suite {
    ns: "bgp-attrs-e2e",
    class: "e2e.ferrolb.io/bgp-attrs",
    name: "bgp-attrs",
};
const TIMEOUT: Duration = Duration::from_secs(40);

/// A BGPPeer of the suite: `extra` is appended to its flow-style spec.
fn peer(name: &str, router: Router, address: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {}\nspec: {{myASN: {SPEAKER_ASN}, peerASN: {}, peerAddress: \"{address}\"{extra}}}\n",
        SUITE.meta(name),
        router.asn()
    )
}

fn pool(name: &str, cidrs: &[&str]) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {}\nspec: {{addresses: {cidrs:?}, autoAssign: false}}\n",
        SUITE.meta(name)
    )
}

/// A BGPAdvertisement of the suite: `spec` is its flow-style spec body.
fn advertisement(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {}\nspec: {{{spec}}}\n",
        SUITE.meta(name)
    )
}

fn node_addrs(rig: &Rig, family: Family) -> Result<BTreeSet<String>> {
    rig.node_names()
        .iter()
        .map(|n| node_address(n, family))
        .collect()
}

fn node_md5_addrs(rig: &Rig) -> Result<BTreeSet<String>> {
    rig.node_names()
        .iter()
        .map(|n| node_md5_address(n))
        .collect()
}

/// The first next hop of each path (the global one for IPv6).
fn first_hops(paths: &[RibRoute]) -> BTreeSet<String> {
    paths
        .iter()
        .filter_map(|p| p.next_hops.first().cloned())
        .collect()
}

/// The sessions (neighbour addresses) the paths came over.
fn peers(paths: &[RibRoute]) -> BTreeSet<String> {
    paths.iter().map(|p| p.peer.clone()).collect()
}

/// Runs `body` with the suite installed, the operator and speakers running; stops them and
/// deletes the suite's objects whatever the outcome.
async fn with_speakers<F, Fut>(rig: &Rig, config: &str, body: F) -> Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    SUITE.install(rig)?;
    let result = async {
        kubectl_apply(rig, config)?;
        let _op = SUITE.start_operator(rig)?;
        let speakers = SUITE.start_speakers(rig)?;
        let r = body().await;
        drop(speakers);
        r
    }
    .await;
    if result.is_err() {
        eprintln!("speaker logs:{}", SUITE.speaker_logs(rig, 30));
    }
    SUITE.cleanup(rig);
    result
}

/// Every path of `paths` (one per node) carries the communities and, per the router's
/// session kind, LOCAL_PREF and AS_PATH.
fn attrs_ok(
    router: Router,
    paths: &[RibRoute],
    hops: &BTreeSet<String>,
    communities: &[&str],
    large: &[&str],
) -> bool {
    let sorted = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    let want_c: BTreeSet<String> = communities.iter().map(|s| s.to_string()).collect();
    let want_l: BTreeSet<String> = large.iter().map(|s| s.to_string()).collect();
    &first_hops(paths) == hops
        && paths.len() == hops.len()
        && paths.iter().all(|p| {
            sorted(&p.communities) == want_c
                && sorted(&p.large_communities) == want_l
                && if router.is_ibgp() {
                    p.local_pref == Some(150) && p.as_path.is_empty()
                } else {
                    p.local_pref.is_none() && p.as_path == [SPEAKER_ASN]
                }
        })
}

#[tokio::test]
async fn bgp_attrs_a_communities_local_pref_and_no_reset_on_edit() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_attrs_a_communities_local_pref_and_no_reset_on_edit") else {
        return Ok(());
    };
    let routers = [Router::Frr, Router::Gobgp, Router::Bird];
    let mut config = pool("bgp-attrs-a", &["10.250.2.0/28"]);
    config.push_str(&format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {}\nspec: {{communities: [{{name: attrs-alias, value: \"64512:777\"}}]}}\n",
        SUITE.meta("bgp-attrs-a")
    ));
    let ad = |communities: &str| {
        advertisement(
            "bgp-attrs-a",
            &format!("ipAddressPools: [bgp-attrs-a], localPref: 150, communities: {communities}"),
        )
    };
    config.push_str(&ad(r#"["65535:65282", "large:1:2:3", attrs-alias]"#));
    for r in routers {
        let name = format!("bgp-attrs-{r:?}").to_lowercase();
        config.push_str(&peer(&name, r, &r.address(Family::Ipv4), ""));
    }
    with_speakers(&rig, &config, || async {
        let hops = node_addrs(&rig, Family::Ipv4)?;
        SUITE.workload(&rig, "attrs", 1, "IPv4", "bgp-attrs-a")?;
        let ip = SUITE.wait_ip(&rig, "attrs", TIMEOUT).await?;
        let prefix = format!("{ip}/32");
        for r in routers {
            let paths = wait_route(&rig, r, &prefix, TIMEOUT, |p| {
                attrs_ok(r, p, &hops, &["65535:65282", "64512:777"], &["1:2:3"])
            })
            .await?;
            println!("{r:?} {prefix}: {paths:?}");
        }

        // Edit the communities: the routes change, no session is reset.
        let since = Instant::now();
        let uptimes = |r: Router| -> Result<Vec<(String, Duration)>> {
            hops.iter()
                .map(|a| {
                    let n = bgp::neighbor(&rig, r, a)?;
                    let up = n.and_then(|n| n.uptime);
                    ensure!(up.is_some(), "{r:?} has no Established session with {a}");
                    Ok((a.clone(), up.unwrap_or_default()))
                })
                .collect()
        };
        let frr_before = uptimes(Router::Frr)?;
        let gobgp_before = uptimes(Router::Gobgp)?;
        let bird_before = bgp::bird_session_ids(&rig)?;
        for a in &hops {
            ensure!(
                bird_before.contains_key(a),
                "BIRD has no Established session with {a}: {bird_before:?}"
            );
        }
        kubectl_apply(&rig, &ad(r#"["64512:888", "large:1:2:4"]"#))?;
        for r in routers {
            wait_route(&rig, r, &prefix, TIMEOUT, |p| {
                attrs_ok(r, p, &hops, &["64512:888"], &["1:2:4"])
            })
            .await?;
        }
        // outlast the routers' uptime resolution (1 s) by far
        let rest = Duration::from_secs(5).saturating_sub(since.elapsed());
        tokio::time::sleep(rest).await;
        let elapsed = since.elapsed();
        for (r, before) in [(Router::Frr, frr_before), (Router::Gobgp, gobgp_before)] {
            let after = uptimes(r)?;
            for ((a, b), (_, u)) in before.iter().zip(&after) {
                ensure!(
                    *u + Duration::from_secs(2) >= *b + elapsed,
                    "{r:?}'s session with {a} was reset by the community edit: uptime {b:?} before, {u:?} after {elapsed:?}"
                );
            }
        }
        let bird_after = bgp::bird_session_ids(&rig)?;
        for a in &hops {
            let same = match (bird_after.get(a), bird_before.get(a)) {
                (Some(now), Some(then)) => now.same_as(then),
                _ => false,
            };
            ensure!(
                same,
                "BIRD's session with {a} was reset by the community edit: {:?} → {:?}",
                bird_before.get(a),
                bird_after.get(a)
            );
        }
        println!("no reset over {elapsed:?}; BIRD sessions {bird_after:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn bgp_attrs_b_aggregation_length() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_attrs_b_aggregation_length") else {
        return Ok(());
    };
    let mut config = pool("bgp-attrs-b", &["10.250.3.0/24"]);
    config.push_str(&advertisement(
        "bgp-attrs-b",
        "ipAddressPools: [bgp-attrs-b], aggregationLength: 24",
    ));
    config.push_str(&peer(
        "bgp-attrs-frr",
        Router::Frr,
        &Router::Frr.address(Family::Ipv4),
        "",
    ));
    with_speakers(&rig, &config, || async {
        let hops = node_addrs(&rig, Family::Ipv4)?;
        let agg = "10.250.3.0/24";
        let mut ips = Vec::new();
        for name in ["agg1", "agg2"] {
            SUITE.workload(&rig, name, 1, "IPv4", "bgp-attrs-b")?;
        }
        for name in ["agg1", "agg2"] {
            ips.push(SUITE.wait_ip(&rig, name, TIMEOUT).await?);
        }
        wait_route(&rig, Router::Frr, agg, TIMEOUT, |p| first_hops(p) == hops).await?;
        // The /24 appears as soon as one of them is announced; both must be (each needs its
        // pod ready: ETP=Cluster without a serving endpoint is not announced) before one goes.
        for name in ["agg1", "agg2"] {
            SUITE
                .wait_announced(&rig, name, hops.len(), TIMEOUT)
                .await?;
        }
        for ip in &ips {
            let host = bgp::route(&rig, Router::Frr, &format!("{ip}/32"))?;
            ensure!(
                host.is_empty(),
                "{ip}/32 announced next to the /24: {host:?}"
            );
        }
        println!("{ips:?} announced as {agg} from {hops:?}");

        // One Service left: the /24 stays (watched for 5 s, long after the deletion is seen).
        SUITE.wait_ip(&rig, "agg1", TIMEOUT).await?;
        rig.kubectl(&["-n", SUITE.ns, "delete", "svc", "agg1"])?;
        for _ in 0..20 {
            let paths = bgp::route(&rig, Router::Frr, agg)?;
            ensure!(
                first_hops(&paths) == hops,
                "{agg} changed while agg2 still uses it: {paths:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // The last one goes: so does the /24.
        rig.kubectl(&["-n", SUITE.ns, "delete", "svc", "agg2"])?;
        wait_route(&rig, Router::Frr, agg, TIMEOUT, <[RibRoute]>::is_empty).await?;
        Ok(())
    })
    .await
}

fn md5_secret(password: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {}\ntype: kubernetes.io/basic-auth\nstringData: {{password: \"{password}\"}}\n",
        SUITE.meta("bgp-attrs-md5")
    )
}

#[tokio::test]
async fn bgp_attrs_c_md5_password_secret_and_key_change() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_attrs_c_md5_password_secret_and_key_change") else {
        return Ok(());
    };
    let pw = rig.bgp_md5_password();
    let md5 = |r: Router| r.md5_address().unwrap_or_default();
    let mut config = pool("bgp-attrs-c", &["10.250.5.0/28"]);
    config.push_str(&advertisement(
        "bgp-attrs-c",
        "ipAddressPools: [bgp-attrs-c]",
    ));
    config.push_str(&md5_secret("not-the-rig-password"));
    let with_pw = format!(", password: \"{pw}\"");
    config.push_str(&peer(
        "bgp-attrs-md5-frr",
        Router::Frr,
        &md5(Router::Frr),
        &with_pw,
    ));
    config.push_str(&peer(
        "bgp-attrs-md5-gobgp",
        Router::GobgpMd5,
        &md5(Router::GobgpMd5),
        &with_pw,
    ));
    config.push_str(&peer(
        "bgp-attrs-md5-bird",
        Router::Bird,
        &md5(Router::Bird),
        &format!(", passwordSecret: {{name: bgp-attrs-md5, namespace: {SYSTEM}}}"),
    ));
    config.push_str(&peer(
        "bgp-attrs-frr",
        Router::Frr,
        &Router::Frr.address(Family::Ipv4),
        "",
    ));
    let bird_before = md5_counters(&rig, Router::Bird)?;
    with_speakers(&rig, &config, || async {
        let md5_nodes = node_md5_addrs(&rig)?;
        let plain = node_addrs(&rig, Family::Ipv4)?;
        for a in &md5_nodes {
            wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
            wait_established(&rig, Router::GobgpMd5, a, TIMEOUT).await?;
        }
        for a in &plain {
            wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
        }
        // Routes flow over the MD5 sessions (next hop: the node's MD5-LAN address).
        SUITE.workload(&rig, "md5", 1, "IPv4", "bgp-attrs-c")?;
        let ip = SUITE.wait_ip(&rig, "md5", TIMEOUT).await?;
        let prefix = format!("{ip}/32");
        wait_route(&rig, Router::GobgpMd5, &prefix, TIMEOUT, |p| {
            first_hops(p) == md5_nodes
        })
        .await?;
        wait_route(&rig, Router::Frr, &prefix, TIMEOUT, |p| {
            md5_nodes.union(&plain).cloned().collect::<BTreeSet<_>>() == first_hops(p)
        })
        .await?;

        // The Secret's wrong key: BIRD never establishes, its kernel drops the segments.
        for _ in 0..40 {
            for a in &md5_nodes {
                let n = bgp::neighbor(&rig, Router::Bird, a)?;
                ensure!(
                    !n.as_ref().is_some_and(bgp::Neighbor::is_established),
                    "BIRD Established with {a} under a wrong key: {n:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let bird_wrong = md5_counters(&rig, Router::Bird)?;
        ensure!(
            bird_wrong.failure > bird_before.failure,
            "BIRD's TCPMD5Failure did not rise under a wrong key: {bird_before:?} → {bird_wrong:?}"
        );
        println!("BIRD MD5 counters {bird_before:?} → {bird_wrong:?} under a wrong key");

        // The right key in the Secret: BIRD establishes with every node.
        kubectl_apply(&rig, &md5_secret(&pw))?;
        for a in &md5_nodes {
            wait_established(&rig, Router::Bird, a, TIMEOUT).await?;
        }
        wait_route(&rig, Router::Bird, &prefix, TIMEOUT, |p| {
            md5_nodes.is_subset(&first_hops(p))
        })
        .await?;

        // A wrong inline `password` for FRR: the sessions are re-opened with the new key and
        // never come back; FRR's kernel rejects the segments; the plain sessions stay up.
        let frr_before = md5_counters(&rig, Router::Frr)?;
        kubectl_apply(
            &rig,
            &peer(
                "bgp-attrs-md5-frr",
                Router::Frr,
                &md5(Router::Frr),
                ", password: \"not-the-rig-password\"",
            ),
        )?;
        wait_route(&rig, Router::Frr, &prefix, TIMEOUT, |p| {
            first_hops(p) == plain
        })
        .await?;
        for _ in 0..40 {
            for a in &md5_nodes {
                let n = bgp::neighbor(&rig, Router::Frr, a)?;
                ensure!(
                    !n.as_ref().is_some_and(bgp::Neighbor::is_established),
                    "FRR Established with {a} under a wrong key: {n:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let frr_wrong = md5_counters(&rig, Router::Frr)?;
        ensure!(
            frr_wrong.failure > frr_before.failure,
            "FRR's TCPMD5Failure did not rise under a wrong key: {frr_before:?} → {frr_wrong:?}"
        );
        for a in &plain {
            let n = bgp::neighbor(&rig, Router::Frr, a)?;
            ensure!(
                n.as_ref().is_some_and(bgp::Neighbor::is_established),
                "FRR's plain session with {a} went down with the MD5 key change: {n:?}"
            );
        }
        println!("FRR MD5 counters {frr_before:?} → {frr_wrong:?} under a wrong key");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn bgp_attrs_d_dual_stack_address_family() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_attrs_d_dual_stack_address_family") else {
        return Ok(());
    };
    let mut config = pool("bgp-attrs-d4", &["10.250.4.0/28"]);
    config.push_str(&pool("bgp-attrs-d6", &["fd00:beef:4::/124"]));
    config.push_str(&advertisement(
        "bgp-attrs-d",
        "ipAddressPools: [bgp-attrs-d4, bgp-attrs-d6]",
    ));
    let dual = ", dualStackAddressFamily: true";
    config.push_str(&peer(
        "bgp-attrs-frr6",
        Router::Frr,
        &Router::Frr.address(Family::Ipv6),
        dual,
    ));
    with_speakers(&rig, &config, || async {
        let v4 = node_addrs(&rig, Family::Ipv4)?;
        let v6 = node_addrs(&rig, Family::Ipv6)?;
        SUITE.workload(&rig, "ds4", 1, "IPv4", "bgp-attrs-d4")?;
        SUITE.workload(&rig, "ds6", 1, "IPv6", "bgp-attrs-d6")?;
        let ip4 = format!("{}/32", SUITE.wait_ip(&rig, "ds4", TIMEOUT).await?);
        let ip6 = format!("{}/128", SUITE.wait_ip(&rig, "ds6", TIMEOUT).await?);
        // Only IPv6 sessions: the IPv4 prefix came over them, with IPv4 next hops.
        let p = wait_route(&rig, Router::Frr, &ip4, TIMEOUT, |p| {
            first_hops(p) == v4 && peers(p) == v6
        })
        .await?;
        println!("{ip4} over the IPv6 sessions: {p:?}");
        wait_route(&rig, Router::Frr, &ip6, TIMEOUT, |p| first_hops(p) == v6).await?;

        // Vice versa: only IPv4 sessions, the IPv6 prefix arrives with IPv6 next hops.
        rig.kubectl(&["-n", SYSTEM, "delete", "bgppeer", "bgp-attrs-frr6"])?;
        kubectl_apply(
            &rig,
            &peer(
                "bgp-attrs-frr4",
                Router::Frr,
                &Router::Frr.address(Family::Ipv4),
                dual,
            ),
        )?;
        for a in &v4 {
            wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
        }
        let p = wait_route(&rig, Router::Frr, &ip6, TIMEOUT, |p| {
            first_hops(p) == v6 && peers(p) == v4
        })
        .await?;
        println!("{ip6} over the IPv4 sessions: {p:?}");
        wait_route(&rig, Router::Frr, &ip4, TIMEOUT, |p| first_hops(p) == v4).await?;
        Ok(())
    })
    .await
}

/// The nodes' IPv6 addresses on the MD5 LAN (FRR's IPv6 MD5 neighbours).
fn node_md5_addrs6(rig: &Rig) -> Result<BTreeSet<String>> {
    rig.node_names()
        .iter()
        .map(|n| bgp::node_md5_address6(n))
        .collect()
}

/// TCP-MD5 over IPv6 (the key installed for an `AF_INET6` peer): a BGPPeer to FRR's IPv6
/// MD5-LAN address with a wrong `password` never establishes (10 s) and FRR's kernel counts
/// MD5 failures; the right password establishes with every node and an IPv6 Service's prefix
/// reaches FRR over those sessions.
#[tokio::test]
async fn bgp_attrs_e_md5_over_ipv6() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_attrs_e_md5_over_ipv6") else {
        return Ok(());
    };
    let frr6 = Router::Frr.md5_address6().unwrap_or_default();
    let mut config = pool("bgp-attrs-e6", &["fd00:beef:5::/124"]);
    config.push_str(&advertisement(
        "bgp-attrs-e",
        "ipAddressPools: [bgp-attrs-e6]",
    ));
    config.push_str(&peer(
        "bgp-attrs-md5v6-frr",
        Router::Frr,
        &frr6,
        ", password: \"not-the-rig-password\"",
    ));
    let frr_before = md5_counters(&rig, Router::Frr)?;
    with_speakers(&rig, &config, || async {
        let md5_nodes = node_md5_addrs6(&rig)?;
        for _ in 0..40 {
            for a in &md5_nodes {
                let n = bgp::neighbor(&rig, Router::Frr, a)?;
                ensure!(
                    !n.as_ref().is_some_and(bgp::Neighbor::is_established),
                    "FRR Established with {a} under a wrong key: {n:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let frr_wrong = md5_counters(&rig, Router::Frr)?;
        ensure!(
            frr_wrong.failure > frr_before.failure,
            "FRR's TCPMD5Failure did not rise under a wrong IPv6 key: {frr_before:?} → {frr_wrong:?}"
        );
        println!("FRR MD5 counters {frr_before:?} → {frr_wrong:?} under a wrong IPv6 key");

        let pw = rig.bgp_md5_password();
        kubectl_apply(
            &rig,
            &peer("bgp-attrs-md5v6-frr", Router::Frr, &frr6, &format!(", password: \"{pw}\"")),
        )?;
        for a in &md5_nodes {
            wait_established(&rig, Router::Frr, a, TIMEOUT).await?;
        }
        SUITE.workload(&rig, "md5v6", 1, "IPv6", "bgp-attrs-e6")?;
        let prefix = format!("{}/128", SUITE.wait_ip(&rig, "md5v6", TIMEOUT).await?);
        let p = wait_route(&rig, Router::Frr, &prefix, TIMEOUT, |p| peers(p) == md5_nodes).await?;
        println!("{prefix} over the IPv6 MD5 sessions: {p:?}");
        Ok(())
    })
    .await
}
