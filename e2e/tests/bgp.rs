//! ferrolb's speaker in BGP mode on the rig: the test's controller and one `ferrolb-speaker`
//! per node netns (`--enable-l2=false`, its own ServiceAccount and RBAC), peering with the rig's
//! real routers — FRR (AS 64513, dynamic neighbours, `maximum-paths 16`) and GoBGP (AS 64514) —
//! over IPv4 and IPv6. Everything is read from the routers themselves:
//!
//! - every node's sessions are Established on FRR (`show bgp neighbors json`) and GoBGP
//!   (`gobgp -j neighbor`), over IPv4 and IPv6;
//! - a Service's /32 (and an IPv6 Service's /128) arrives from every node: FRR's kernel route
//!   has one next hop per node (ECMP) and GoBGP has one path per node; HTTP from the client
//!   netns, routed by FRR, reaches a backend;
//! - the prefix is withdrawn when the Service loses its endpoints and when it is deleted;
//! - creating and deleting Services never resets FRR's sessions (each session's uptime grows
//!   by the time the churn took: FRR deletes a dynamic neighbour whose session drops, so its
//!   connection counters would restart with it and prove nothing);
//! - MetalLB's metrics (`metallb_bgp_session_up`, `_updates_total`,
//!   `_announced_prefixes_total`, `_pending_prefixes_total` with `peer="ip:port"`,
//!   `metallb_speaker_announced{protocol="bgp"}`) on a node's `/metrics`;
//! - SIGTERM: the speaker closes its sessions (Cease) and both routers drop that node's next
//!   hop at once, without waiting for the hold timer;
//! - a 4-byte `myASN` (4200000001) works: FRR sees that remote AS and the AS_PATH carries it;
//! - `--enable-bgp=false` (the chart's `bgp.enabled: false`) opens no session and exports no
//!   session metric, while the same configuration with BGP enabled comes up;
//! - a session-relevant BGPPeer change (`holdTime`) closes and re-opens the sessions (FRR's
//!   uptimes start over) and the new sessions carry the routes again.
//!
//! Isolation on the shared rig: Services carry `loadBalancerClass: e2e.ferrolb.io/bgp` (the
//! test's controller and speakers use it), the pools (`autoAssign: false`) are off the LAN so
//! the client's traffic must go through the router. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::bgp_setup::Suite;
use ferrolb_e2e::l2::kubectl_apply;
use ferrolb_e2e::{Rig, wait_for};
use serde_json::Value;

const CLASS: &str = "e2e.ferrolb.io/bgp";
const NS: &str = "bgp-e2e";
const SYSTEM: &str = "metallb-system";
const POOL_V4: &str = "10.250.0.0/28";
const POOL_V6: &str = "fd00:beef::/124";
const FRR_V4: &str = "172.18.0.1";
const FRR_V6: &str = "fc00:f853:ccd:e793::1";
const GOBGP_V4: &str = "172.18.0.2";
const GOBGP_V6: &str = "fc00:f853:ccd:e793::2";
const TIMEOUT: Duration = Duration::from_secs(40);
const SUITE: Suite = Suite {
    ns: NS,
    class: CLASS,
    name: "bgp-e2e",
};

fn node_v4(i: usize) -> String {
    format!("172.18.0.2{i}")
}

fn node_v6(i: usize) -> String {
    format!("fc00:f853:ccd:e793::2{i}")
}

/// The four peers (FRR and GoBGP, IPv4 and IPv6) with `my_asn`, the pools and the advertisement.
fn bgp_config(my_asn: u32, routers: &[(&str, u32, &str)]) -> String {
    let (m_v4, m_v6, m_ad) = (
        SUITE.meta("bgp-e2e-v4"),
        SUITE.meta("bgp-e2e-v6"),
        SUITE.meta("bgp-e2e"),
    );
    let mut y = format!(
        r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {m_v4}
spec: {{addresses: ["{POOL_V4}"], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {m_v6}
spec: {{addresses: ["{POOL_V6}"], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {m_ad}
spec: {{ipAddressPools: [bgp-e2e-v4, bgp-e2e-v6]}}
"#
    );
    for (name, asn, addr) in routers {
        y.push_str(&format!(
            r#"---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {}
spec: {{myASN: {my_asn}, peerASN: {asn}, peerAddress: "{addr}"}}
"#,
            SUITE.meta(name)
        ));
    }
    y
}

const ALL_ROUTERS: [(&str, u32, &str); 4] = [
    ("bgp-e2e-frr4", 64513, FRR_V4),
    ("bgp-e2e-frr6", 64513, FRR_V6),
    ("bgp-e2e-gobgp4", 64514, GOBGP_V4),
    ("bgp-e2e-gobgp6", 64514, GOBGP_V6),
];

/// An echo Deployment (`replicas`) and its LoadBalancer Service of `family` (`IPv4`/`IPv6`).
fn workload(rig: &Rig, name: &str, replicas: u32, family: &str) -> Result<()> {
    let pool = if family == "IPv6" {
        "bgp-e2e-v6"
    } else {
        "bgp-e2e-v4"
    };
    SUITE.workload(rig, name, replicas, family, pool)
}

fn diag(rig: &Rig) -> String {
    format!(
        "{}\n--- GoBGP ---\n{}",
        SUITE.diag(rig),
        rig.netns_exec(&rig.gobgp_ns(), &["gobgp", "neighbor"])
            .unwrap_or_default()
    )
}

async fn wait_ip(rig: &Rig, name: &str) -> Result<String> {
    SUITE.wait_ip(rig, name, TIMEOUT).await
}

/// FRR's neighbours (`show bgp neighbors json`): address → object.
fn frr_neighbors(rig: &Rig) -> Result<BTreeMap<String, Value>> {
    let v = rig.frr_json("show bgp neighbors json")?;
    Ok(v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// Addresses of FRR's Established neighbours.
fn frr_established(rig: &Rig) -> Result<Vec<String>> {
    Ok(frr_neighbors(rig)?
        .into_iter()
        .filter(|(_, v)| v["bgpState"] == "Established")
        .map(|(k, _)| k)
        .collect())
}

/// Addresses of GoBGP's Established neighbours.
fn gobgp_established(rig: &Rig) -> Result<Vec<String>> {
    let v = rig.gobgp_neighbors()?;
    let mut out = Vec::new();
    for n in v.as_array().into_iter().flatten() {
        let state = &n["state"]["session_state"];
        let up = state == 6
            || state
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("established"));
        let addr = n["state"]["neighbor_address"]
            .as_str()
            .or_else(|| n["conf"]["neighbor_address"].as_str());
        if let (true, Some(a)) = (up, addr) {
            out.push(a.to_string());
        }
    }
    Ok(out)
}

/// Every node's address of each family is Established on both routers.
async fn wait_sessions(rig: &Rig, nodes: usize) -> Result<()> {
    let want: Vec<String> = (1..=nodes).flat_map(|i| [node_v4(i), node_v6(i)]).collect();
    wait_for(
        "every node Established with FRR and GoBGP over IPv4 and IPv6",
        TIMEOUT,
        || diag(rig),
        || async {
            let f = frr_established(rig)?;
            let g = gobgp_established(rig)?;
            Ok(want
                .iter()
                .all(|a| f.contains(a) && g.contains(a))
                .then_some(()))
        },
    )
    .await
}

/// Next hops of FRR's kernel route for `prefix` (`ip route show`), sorted.
fn frr_kernel_next_hops(rig: &Rig, prefix: &str) -> Result<Vec<String>> {
    let fam = if prefix.contains(':') { "-6" } else { "-4" };
    let out = rig.netns_exec(&rig.frr_ns(), &["ip", fam, "route", "show", prefix])?;
    let mut hops: Vec<String> = out
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_string())
        .collect();
    hops.sort();
    hops.dedup();
    Ok(hops)
}

/// Next hops of the paths GoBGP has for `prefix` (`gobgp -j global rib`), sorted.
fn gobgp_next_hops(rig: &Rig, prefix: &str) -> Result<Vec<String>> {
    let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    let rib = rig.gobgp_rib(fam)?;
    let mut hops = Vec::new();
    for path in rib[prefix].as_array().into_iter().flatten() {
        for a in path["attrs"].as_array().into_iter().flatten() {
            if let Some(nh) = a["nexthop"].as_str() {
                hops.push(nh.to_string());
            }
        }
    }
    hops.sort();
    hops.dedup();
    Ok(hops)
}

/// AS paths FRR has for `prefix` (`show bgp <afi> unicast <prefix> json`).
fn frr_as_paths(rig: &Rig, prefix: &str) -> Result<Vec<String>> {
    let afi = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    let v = rig.frr_json(&format!("show bgp {afi} unicast {prefix} json"))?;
    Ok(v["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["aspath"]["string"].as_str().map(str::to_string))
        .collect())
}

/// Waits until FRR's kernel route and GoBGP's RIB for `prefix` have exactly `hops`.
async fn wait_routes(rig: &Rig, prefix: &str, hops: &[String]) -> Result<()> {
    let mut want = hops.to_vec();
    want.sort();
    wait_for(
        &format!("{prefix} via {want:?} in FRR's kernel and GoBGP's RIB"),
        TIMEOUT,
        || diag(rig),
        || async {
            let f = frr_kernel_next_hops(rig, prefix)?;
            let g = gobgp_next_hops(rig, prefix)?;
            Ok((f == want && g == want).then_some(()))
        },
    )
    .await
}

/// How long FRR's sessions with `addrs` have been Established (`bgpTimerUpMsec`). FRR deletes a
/// dynamic neighbour when its session goes down, so its connection counters restart with it:
/// the uptime is what shows a reset.
fn frr_uptimes(rig: &Rig, addrs: &[String]) -> Result<BTreeMap<String, u64>> {
    let n = frr_neighbors(rig)?;
    addrs
        .iter()
        .map(|a| {
            let v = n
                .get(a)
                .with_context(|| format!("FRR has no neighbour {a}"))?;
            ensure!(v["bgpState"] == "Established", "{a} not Established: {v}");
            let up = v["bgpTimerUpMsec"]
                .as_u64()
                .with_context(|| format!("no bgpTimerUpMsec for {a}"))?;
            Ok((a.clone(), up))
        })
        .collect()
}

async fn wait_http(rig: &Rig, ip: &str, prefix: &str) -> Result<String> {
    let url = if ip.contains(':') {
        format!("http://[{ip}]/")
    } else {
        format!("http://{ip}/")
    };
    wait_for(
        &format!("HTTP answer from a {prefix}* pod through {ip} via the router"),
        TIMEOUT,
        || diag(rig),
        || async {
            let body = rig.http_get_from_client(&url)?;
            Ok(body
                .trim()
                .starts_with(prefix)
                .then(|| body.trim().to_string()))
        },
    )
    .await
}

#[tokio::test]
async fn bgp_a_sessions_routes_ecmp_http_withdrawal_and_no_session_reset() -> Result<()> {
    let Some(rig) =
        Rig::from_env("bgp_a_sessions_routes_ecmp_http_withdrawal_and_no_session_reset")
    else {
        return Ok(());
    };
    SUITE.install(&rig)?;
    kubectl_apply(&rig, &bgp_config(64512, &ALL_ROUTERS))?;
    let _op = SUITE.start_operator(&rig)?;
    let mut speakers = SUITE.start_speakers(&rig)?;
    let result = async {
        let nodes = rig.nodes;
        wait_sessions(&rig, nodes).await?;
        let addrs: Vec<String> = (1..=nodes).flat_map(|i| [node_v4(i), node_v6(i)]).collect();
        let before = frr_uptimes(&rig, &addrs)?;
        let since = std::time::Instant::now();

        workload(&rig, "web", 3, "IPv4")?;
        let ip = wait_ip(&rig, "web").await?;
        let v4_hops: Vec<String> = (1..=nodes).map(node_v4).collect();
        wait_routes(&rig, &format!("{ip}/32"), &v4_hops).await?;
        let paths = frr_as_paths(&rig, &format!("{ip}/32"))?;
        ensure!(
            !paths.is_empty() && paths.iter().all(|p| p == "64512"),
            "AS_PATH of {ip}/32 on FRR: {paths:?}"
        );
        let body = wait_http(&rig, &ip, "web-").await?;
        println!("HTTP through FRR to {ip}: {body}");

        workload(&rig, "web6", 2, "IPv6")?;
        let ip6 = wait_ip(&rig, "web6").await?;
        let v6_hops: Vec<String> = (1..=nodes).map(node_v6).collect();
        wait_routes(&rig, &format!("{ip6}/128"), &v6_hops).await?;

        // No endpoints: withdrawn everywhere; endpoints back: announced again.
        rig.kubectl(&["-n", NS, "scale", "deployment/web", "--replicas=0"])?;
        wait_routes(&rig, &format!("{ip}/32"), &[]).await?;
        rig.kubectl(&["-n", NS, "scale", "deployment/web", "--replicas=2"])?;
        wait_routes(&rig, &format!("{ip}/32"), &v4_hops).await?;

        // Service churn: more Services come and go.
        for i in 0..3 {
            workload(&rig, &format!("churn{i}"), 1, "IPv4")?;
        }
        for i in 0..3 {
            let cip = wait_ip(&rig, &format!("churn{i}")).await?;
            wait_routes(&rig, &format!("{cip}/32"), &v4_hops).await?;
        }
        let mut churn_ips = Vec::new();
        for i in 0..3 {
            churn_ips.push(wait_ip(&rig, &format!("churn{i}")).await?);
            rig.kubectl(&["-n", NS, "delete", "svc", &format!("churn{i}")])?;
        }
        for cip in &churn_ips {
            wait_routes(&rig, &format!("{cip}/32"), &[]).await?;
        }

        // FRR reports uptime in whole seconds: on a fast machine the churn can end
        // within a few seconds, so the observation window is padded to 6 s (a reset
        // caused by the churn but surfacing late is then caught too).
        tokio::time::sleep(Duration::from_secs(6).saturating_sub(since.elapsed())).await;
        let after = frr_uptimes(&rig, &addrs)?;
        let elapsed = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
        for (a, up) in &after {
            // Uptime only grows while a session stays up (2 s of slack for FRR's rounding).
            ensure!(
                up + 2_000 >= before[a] + elapsed,
                "FRR's session with {a} was reset by Service churn: uptime {} ms before, {up} ms after {elapsed} ms",
                before[a]
            );
        }
        println!("FRR session uptimes before {before:?}, after {after:?} ({elapsed} ms later)");

        // MetalLB's metrics on node-1: sessions up, one prefix on each FRR session.
        let want = [
            format!(r#"metallb_bgp_session_up{{peer="{FRR_V4}:179"}} 1"#),
            format!(r#"metallb_bgp_session_up{{peer="[{FRR_V6}]:179"}} 1"#),
            format!(r#"metallb_bgp_session_up{{peer="{GOBGP_V4}:179"}} 1"#),
            format!(r#"metallb_bgp_announced_prefixes_total{{peer="{FRR_V4}:179"}} 1"#),
            format!(r#"metallb_bgp_announced_prefixes_total{{peer="[{FRR_V6}]:179"}} 1"#),
            format!(r#"metallb_bgp_pending_prefixes_total{{peer="{FRR_V4}:179"}} 0"#),
            format!(
                r#"metallb_speaker_announced{{ip="{ip}",node="node-1",protocol="bgp",service="{NS}/web"}} 1"#
            ),
        ];
        wait_for(
            "node-1's BGP metrics",
            TIMEOUT,
            || diag(&rig),
            || async {
                let m = rig.http_get_from_node("node-1", "http://127.0.0.1:7472/metrics")?;
                let updates = m.lines().any(|l| {
                    l.strip_prefix(&format!(r#"metallb_bgp_updates_total{{peer="{FRR_V4}:179"}} "#))
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .is_some_and(|v| v >= 1.0)
                });
                let missing: Vec<&String> = want.iter().filter(|w| !m.contains(w.as_str())).collect();
                if updates && missing.is_empty() {
                    return Ok(Some(()));
                }
                let shown: Vec<&str> = m.lines().filter(|l| l.contains("bgp")).collect();
                bail!("updates counted: {updates}; missing {missing:?}; BGP lines: {shown:#?}")
            },
        )
        .await?;

        // SIGTERM on node-3: Cease, the routers drop its next hop at once (well before the
        // 9 s hold time could expire).
        speakers.stop("node-3")?;
        let two: Vec<String> = (1..nodes).map(node_v4).collect();
        let two6: Vec<String> = (1..nodes).map(node_v6).collect();
        wait_for(
            "node-3's next hops withdrawn after SIGTERM",
            Duration::from_secs(5),
            || diag(&rig),
            || async {
                let ok = frr_kernel_next_hops(&rig, &format!("{ip}/32"))? == two
                    && gobgp_next_hops(&rig, &format!("{ip}/32"))? == two
                    && frr_kernel_next_hops(&rig, &format!("{ip6}/128"))? == two6;
                Ok(ok.then_some(()))
            },
        )
        .await?;

        // Delete: withdrawn.
        rig.kubectl(&["-n", NS, "delete", "svc", "web", "web6"])?;
        wait_routes(&rig, &format!("{ip}/32"), &[]).await?;
        wait_routes(&rig, &format!("{ip6}/128"), &[]).await?;
        Ok(())
    }
    .await;
    drop(speakers);
    SUITE.cleanup(&rig);
    result
}

#[tokio::test]
async fn bgp_b_four_byte_my_asn() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_b_four_byte_my_asn") else {
        return Ok(());
    };
    const ASN: u32 = 4_200_000_001;
    SUITE.install(&rig)?;
    kubectl_apply(&rig, &bgp_config(ASN, &ALL_ROUTERS[..1]))?;
    let _op = SUITE.start_operator(&rig)?;
    let _speakers = SUITE.start_speakers(&rig)?;
    let result = async {
        let nodes = rig.nodes;
        let addrs: Vec<String> = (1..=nodes).map(node_v4).collect();
        wait_for(
            "FRR Established with every node as AS 4200000001",
            TIMEOUT,
            || diag(&rig),
            || async {
                let n = frr_neighbors(&rig)?;
                Ok(addrs
                    .iter()
                    .all(|a| {
                        n.get(a).is_some_and(|v| {
                            v["bgpState"] == "Established" && v["remoteAs"] == u64::from(ASN)
                        })
                    })
                    .then_some(()))
            },
        )
        .await?;
        workload(&rig, "asn4", 1, "IPv4")?;
        let ip = wait_ip(&rig, "asn4").await?;
        let prefix = format!("{ip}/32");
        wait_for(
            &format!("{prefix} on FRR from every node"),
            TIMEOUT,
            || diag(&rig),
            || async { Ok((frr_kernel_next_hops(&rig, &prefix)?.len() == nodes).then_some(())) },
        )
        .await?;
        let paths = frr_as_paths(&rig, &prefix)?;
        if paths.is_empty() || !paths.iter().all(|p| p == &ASN.to_string()) {
            bail!("AS_PATH of {prefix} on FRR: {paths:?} (want {ASN})");
        }

        // A session-relevant change (holdTime) restarts the sessions: FRR's uptimes start over,
        // and the new sessions carry the route again.
        std::thread::sleep(Duration::from_secs(3));
        let before = frr_uptimes(&rig, &addrs)?;
        rig.kubectl(&[
            "-n",
            SYSTEM,
            "patch",
            "bgppeers.metallb.io",
            "bgp-e2e-frr4",
            "--type=merge",
            "-p",
            r#"{"spec":{"holdTime":"30s"}}"#,
        ])?;
        wait_for(
            "every node's FRR session restarted after the holdTime change",
            TIMEOUT,
            || diag(&rig),
            || async {
                let now = frr_uptimes(&rig, &addrs)?;
                Ok(addrs.iter().all(|a| now[a] < before[a]).then_some(()))
            },
        )
        .await?;
        wait_for(
            &format!("{prefix} on FRR from every node after the restart"),
            TIMEOUT,
            || diag(&rig),
            || async { Ok((frr_kernel_next_hops(&rig, &prefix)?.len() == nodes).then_some(())) },
        )
        .await?;
        Ok(())
    }
    .await;
    drop(_speakers);
    SUITE.cleanup(&rig);
    result
}

#[tokio::test]
async fn bgp_c_disabled_bgp_opens_no_session() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_c_disabled_bgp_opens_no_session") else {
        return Ok(());
    };
    SUITE.install(&rig)?;
    // Layer 2 stays on (the chart's `bgp.enabled: false`): it needs the heartbeat key.
    ferrolb_e2e::l2::ensure_memberlist_secret(&rig)?;
    kubectl_apply(&rig, &bgp_config(64512, &ALL_ROUTERS[..1]))?;
    let addrs: Vec<String> = (1..=rig.nodes).map(node_v4).collect();
    let mut speakers = ferrolb_e2e::l2::Speakers::start(
        &rig,
        &[
            "--lb-class",
            CLASS,
            "--enable-bgp=false",
            "--liveness-port",
            "17948",
        ],
    )?;
    let result = async {
        // Enabled, the sessions come up within a second (bgp_a); disabled, none in 5 s.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let n = frr_neighbors(&rig)?;
        ensure!(
            addrs.iter().all(|a| !n.contains_key(a)),
            "a speaker with --enable-bgp=false opened a session: {:?}",
            n.keys().collect::<Vec<_>>()
        );
        let m = rig.http_get_from_node("node-1", "http://127.0.0.1:7472/metrics")?;
        ensure!(
            !m.contains("metallb_bgp_session_up{"),
            "BGP session metrics with BGP disabled:\n{m}"
        );
        // The same configuration with BGP enabled: Established (the config was usable).
        for node in rig.node_names() {
            speakers.stop(&node)?;
        }
        speakers.extra = ["--lb-class", CLASS, "--enable-l2=false"]
            .map(String::from)
            .to_vec();
        for node in rig.node_names() {
            speakers.start_one(&rig, &node)?;
        }
        wait_for(
            "FRR Established with every node once BGP is enabled",
            TIMEOUT,
            || diag(&rig),
            || async {
                let f = frr_established(&rig)?;
                Ok(addrs.iter().all(|a| f.contains(a)).then_some(()))
            },
        )
        .await
    }
    .await;
    drop(speakers);
    SUITE.cleanup(&rig);
    result
}
