//! What BGP mode writes for users to `kubectl get` (issue 15), on the real rig: every speaker
//! peers with the FRR router; a LoadBalancer Service advertised over BGP gets one MetalLB
//! ServiceBGPStatus per node (`status.peers` = the BGPPeer), a deleted one comes back at once
//! (the speaker watches its own objects), all go with the Service; every session has a
//! ferrolb.io BGPSessionState showing `Established` and the prefixes sent; the Service gets a
//! `nodeAssigned` event with protocol "bgp".
//!
//! The bounds (10 s) are convergence bounds well under the writers' 30 s periodic pass, not
//! performance assertions. Harness: `ferrolb_e2e::l2` (speakers, operator, pools, workload).
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::workload::force_delete_pod;
use ferrolb_e2e::{FRR_ASN, Rig, SPEAKER_ASN, wait_for};
use serde_json::Value;

/// The BGPPeer of every node: the FRR router on the nodes' subnet.
const PEER: &str = "bgp-status-frr";
/// How long a deleted object may stay away, or a change take to show.
const WITHIN: Duration = Duration::from_secs(10);
/// How long sessions may take to come up (FRR's connect retry is a few seconds).
const SESSIONS_UP: Duration = Duration::from_secs(60);

/// BGP mode for the test's pool: a peer for every node and an advertisement of the pool.
fn bgp_objects(rig: &Rig) -> Result<()> {
    kubectl_apply(
        rig,
        &format!(
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: {PEER}, namespace: {SYSTEM}}}
spec: {{myASN: {SPEAKER_ASN}, peerASN: {FRR_ASN}, peerAddress: 172.18.0.1}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: bgp-status, namespace: {SYSTEM}}}
spec: {{ipAddressPools: [l2-e2e-v4]}}
"#
        ),
    )
}

fn remove_bgp_objects(rig: &Rig) {
    let _ = rig.kubectl(&[
        "-n",
        SYSTEM,
        "delete",
        &format!("bgppeers.metallb.io/{PEER}"),
        "bgpadvertisements.metallb.io/bgp-status",
        "--ignore-not-found",
    ]);
}

/// `kubectl get <kind> -l <selector> -o json` items.
fn items(rig: &Rig, kind: &str, selector: &str) -> Result<Vec<Value>> {
    let out = rig.kubectl(&["-n", SYSTEM, "get", kind, "-l", selector, "-o", "json"])?;
    let list: Value = serde_json::from_str(&out)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

fn web_selector() -> String {
    format!("metallb.io/service-name=web,metallb.io/service-namespace={NS}")
}

/// `(name, node, peers)` of web's ServiceBGPStatuses, sorted by node.
fn bgp_statuses(rig: &Rig) -> Result<Vec<(String, String, Vec<String>)>> {
    let mut v: Vec<(String, String, Vec<String>)> =
        items(rig, "servicebgpstatuses", &web_selector())?
            .iter()
            .map(|o| {
                let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
                let peers = o["status"]["peers"]
                    .as_array()
                    .map(|a| a.iter().map(s).collect())
                    .unwrap_or_default();
                (s(&o["metadata"]["name"]), s(&o["status"]["node"]), peers)
            })
            .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(v)
}

/// Waits until every node has exactly one ServiceBGPStatus of web naming [`PEER`], none of
/// `not` (names deleted before); returns them.
async fn wait_one_per_node(
    rig: &Rig,
    not: &[String],
    timeout: Duration,
) -> Result<Vec<(String, String, Vec<String>)>> {
    let nodes = rig.node_names();
    wait_for(
        &format!("one ServiceBGPStatus of {NS}/web per node {nodes:?}, peers [{PEER}]"),
        timeout,
        || diag_bgp(rig),
        || async {
            let st = bgp_statuses(rig)?;
            let per_node: Vec<&String> = st.iter().map(|s| &s.1).collect();
            let ok = per_node == nodes.iter().collect::<Vec<_>>()
                && st.iter().all(|s| s.2 == [PEER] && !not.contains(&s.0));
            Ok(ok.then_some(st))
        },
    )
    .await
}

/// `(node, bgpStatus, prefixesSent)` of the sessions with [`PEER`], sorted by node.
fn sessions(rig: &Rig) -> Result<Vec<(String, String, u64)>> {
    let mut v: Vec<(String, String, u64)> = items(
        rig,
        "bgpsessionstates.ferrolb.io",
        &format!("ferrolb.io/peer={PEER}"),
    )?
    .iter()
    .map(|o| {
        let st = &o["status"];
        (
            st["node"].as_str().unwrap_or_default().to_string(),
            st["bgpStatus"].as_str().unwrap_or_default().to_string(),
            st["prefixesSent"].as_u64().unwrap_or_default(),
        )
    })
    .collect();
    v.sort();
    Ok(v)
}

/// Waits until every node's session is Established with `prefixes` prefixes sent.
async fn wait_sessions(rig: &Rig, prefixes: u64, timeout: Duration) -> Result<()> {
    let nodes = rig.node_names();
    wait_for(
        &format!("BGPSessionState Established with {prefixes} prefixes on {nodes:?}"),
        timeout,
        || diag_bgp(rig),
        || async {
            let s = sessions(rig)?;
            let want: Vec<(String, String, u64)> = nodes
                .iter()
                .map(|n| (n.clone(), "Established".to_string(), prefixes))
                .collect();
            Ok((s == want).then_some(()))
        },
    )
    .await
}

fn diag_bgp(rig: &Rig) -> String {
    let get = |kind: &str| {
        rig.kubectl(&["-n", SYSTEM, "get", kind, "--show-labels"])
            .unwrap_or_default()
    };
    format!(
        "{}\n--- servicebgpstatuses ---\n{}\n--- bgpsessionstates ---\n{}",
        diag(rig),
        get("servicebgpstatuses"),
        get("bgpsessionstates.ferrolb.io")
    )
}

#[tokio::test]
async fn bgp_status_objects_follow_the_service_and_come_back() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_status_objects_follow_the_service_and_come_back") else {
        return Ok(());
    };
    install(&rig)?;
    bgp_objects(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &[])?;
    let result = async {
        wait_sessions(&rig, 0, SESSIONS_UP).await?;
        workload(&rig, "web", 1, None, "Cluster")?;
        wait_ip(&rig, "web").await?;
        let before = wait_one_per_node(&rig, &[], TIMEOUT).await?;
        // The prefix count follows within the pacing (≤ 1 write/s per session).
        wait_sessions(&rig, 1, WITHIN).await?;
        let events = rig.kubectl(&[
            "-n",
            NS,
            "get",
            "events",
            "--field-selector=reason=nodeAssigned",
            "-o",
            "jsonpath={.items[*].message}",
        ])?;
        for n in rig.node_names() {
            let note = format!("announcing from node \"{n}\" with protocol \"bgp\"");
            ensure!(events.contains(&note), "no event {note:?} in {events}");
        }

        for kind in ["servicebgpstatuses", "bgpsessionstates.ferrolb.io"] {
            let table = rig.kubectl(&["-n", SYSTEM, "get", kind])?;
            println!("$ kubectl -n {SYSTEM} get {kind}\n{table}");
        }

        // Someone deletes one node's object: it comes back at once, under a new name.
        let (victim, node, _) = before[0].clone();
        rig.kubectl(&[
            "-n",
            SYSTEM,
            "delete",
            "servicebgpstatuses",
            &victim,
            "--wait=false",
        ])?;
        let after = wait_one_per_node(&rig, std::slice::from_ref(&victim), WITHIN).await?;
        ensure!(after[0].1 == node, "recreated for {node}: {after:?}");

        // Someone deletes a session object: it comes back too.
        rig.kubectl(&[
            "-n",
            SYSTEM,
            "delete",
            "bgpsessionstates.ferrolb.io",
            "-l",
            &format!("metallb.io/node={node}"),
            "--wait=false",
        ])?;
        wait_sessions(&rig, 1, WITHIN).await?;

        // The Service goes: so do its objects, and the prefix counts drop.
        rig.kubectl(&["-n", NS, "delete", "svc", "web", "--wait=false"])?;
        wait_for(
            &format!("no ServiceBGPStatus of {NS}/web"),
            WITHIN,
            || diag_bgp(&rig),
            || async { Ok(bgp_statuses(&rig)?.is_empty().then_some(())) },
        )
        .await?;
        wait_sessions(&rig, 0, WITHIN).await
    }
    .await;
    drop(speakers);
    remove_bgp_objects(&rig);
    cleanup(&rig);
    result
}

/// Deletes Pod `name` of ferrolb's namespace at once, waiting until it is gone.
fn delete_pod(rig: &Rig, name: &str) -> Result<()> {
    force_delete_pod(rig, SYSTEM, name)
}

/// The owner UIDs of each of `node`'s objects of `kind` (one list per object).
fn owner_uids(rig: &Rig, kind: &str, node: &str) -> Result<Vec<Vec<String>>> {
    Ok(items(rig, kind, &format!("metallb.io/node={node}"))?
        .iter()
        .map(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| r["uid"].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect())
}

/// Waits until `node` has exactly one object of each BGP status kind, owned by `uid` only
/// (`None`: until it has none).
async fn wait_owned(rig: &Rig, node: &str, uid: Option<&str>) -> Result<()> {
    for kind in ["servicebgpstatuses", "bgpsessionstates.ferrolb.io"] {
        let want: Vec<Vec<String>> = uid.map(|u| vec![vec![u.to_string()]]).unwrap_or_default();
        wait_for(
            &format!("{node}'s {kind} owned by {uid:?}"),
            TIMEOUT,
            || {
                format!(
                    "owners: {:?}\n{}",
                    owner_uids(rig, kind, node),
                    diag_bgp(rig)
                )
            },
            || async { Ok((owner_uids(rig, kind, node)? == want).then_some(())) },
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn bgp_status_objects_are_owned_by_the_speaker_pod() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_status_objects_are_owned_by_the_speaker_pod") else {
        return Ok(());
    };
    install(&rig)?;
    bgp_objects(&rig)?;
    let node = rig
        .node_names()
        .first()
        .cloned()
        .context("the rig has no nodes")?;
    let pods = ["speaker-e2e-bgp-a", "speaker-e2e-bgp-b"];
    for p in pods {
        delete_pod(&rig, p)?;
    }
    let _op = start_operator(&rig)?;
    let mut speakers = Speakers::none(&rig, &[])?;
    let result = async {
        let uid_a = fake_pod(
            &rig,
            pods[0],
            &node,
            "app.kubernetes.io/name: ferrolb-e2e-owner",
        )?;
        speakers.start_as_pod(&rig, &node, (pods[0], &uid_a))?;
        workload(&rig, "web", 1, None, "Cluster")?;
        wait_ip(&rig, "web").await?;
        wait_owned(&rig, &node, Some(&uid_a)).await?;
        // Restarted as a new Pod: the objects move to it (the ServiceBGPStatus is replaced,
        // the session object adopted), so the old Pod's deletion cannot take them.
        speakers.kill(&node);
        let uid_b = fake_pod(
            &rig,
            pods[1],
            &node,
            "app.kubernetes.io/name: ferrolb-e2e-owner",
        )?;
        speakers.start_as_pod(&rig, &node, (pods[1], &uid_b))?;
        wait_owned(&rig, &node, Some(&uid_b)).await?;
        delete_pod(&rig, pods[0])?;
        // The node is lost for good: its speaker dies, its Pod is deleted, the garbage
        // collector removes what it wrote.
        speakers.kill(&node);
        delete_pod(&rig, pods[1])?;
        wait_owned(&rig, &node, None).await
    }
    .await;
    drop(speakers);
    for p in pods {
        let _ = delete_pod(&rig, p);
    }
    remove_bgp_objects(&rig);
    cleanup(&rig);
    result
}
