//! `--quorum majority` counts only the nodes that run a speaker (issue 14), on the rig: three
//! nodes, speakers on fewer of them, each speaker a process in its node's netns running "in" a
//! real Pod object labelled like the DaemonSet's Pods (plus a test label, selected with
//! `--ml-labels`, so other tests' Pods never count).
//!
//! - one speaker (node-1) on three nodes: it is the whole expected set, holds quorum and
//!   announces (counting every Node, 1 of 3 is no majority and the IP stays dark);
//! - a second speaker (node-2): the IP is announced by the elected one of the two;
//! - the owner stops gracefully (a rolling update): the remaining speaker is the whole expected
//!   set again and takes over (counting every Node, 1 of 2 expected — node-3 never ran a
//!   speaker — is no majority and the IP went dark).
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use anyhow::Result;
use ferrolb_e2e::Rig;
use ferrolb_e2e::l2::*;

/// The speaker Pods' labels: the DaemonSet's, and this test's.
const LABELS: &str = "app: metallb, component: speaker, e2e.ferrolb.io/quorum: l2";
/// The same as a selector.
const SELECTOR: &str = "app=metallb,component=speaker,e2e.ferrolb.io/quorum=l2";

fn pod_name(node: &str) -> String {
    format!("speaker-quorum-{node}")
}

fn delete_pods(rig: &Rig) {
    let _ = rig.kubectl(&[
        "-n",
        SYSTEM,
        "delete",
        "pod",
        "-l",
        SELECTOR,
        "--ignore-not-found",
        "--grace-period=0",
        "--force",
        "--wait=true",
        "--timeout=60s",
    ]);
}

#[tokio::test]
async fn majority_quorum_counts_only_nodes_running_a_speaker() -> Result<()> {
    let Some(rig) = Rig::from_env("majority_quorum_counts_only_nodes_running_a_speaker") else {
        return Ok(());
    };
    anyhow::ensure!(rig.nodes >= 3, "needs 3 nodes, the rig has {}", rig.nodes);
    install(&rig)?;
    delete_pods(&rig);
    let _op = start_operator(&rig)?;
    let mut speakers = Speakers::none(&rig, &["--quorum", "majority", "--ml-labels", SELECTOR])?;
    let result = async {
        let (n1, n2) = ("node-1".to_string(), "node-2".to_string());
        let uid1 = fake_pod(&rig, &pod_name(&n1), &n1, LABELS)?;
        speakers.start_as_pod(&rig, &n1, (&pod_name(&n1), &uid1))?;
        workload(&rig, "quorum", 1, None, "Cluster")?;
        let ip = wait_ip(&rig, "quorum").await?;

        // One speaker on three nodes: it alone is the majority of the speakers.
        wait_arp_owner(&rig, &ip, &rig.node_mac(&n1)?).await?;
        wait_status_node(&rig, "quorum", &n1).await?;
        eprintln!("{ip}: announced by the only speaker ({n1}) of 3 nodes");

        // Two speakers: the elected one of the two announces.
        let uid2 = fake_pod(&rig, &pod_name(&n2), &n2, LABELS)?;
        speakers.start_as_pod(&rig, &n2, (&pod_name(&n2), &uid2))?;
        let pair = [n1.clone(), n2.clone()];
        let owner = expected_owner(&ip, &pair)?;
        let other = pair
            .iter()
            .find(|n| **n != owner)
            .cloned()
            .unwrap_or_default();
        wait_arp_owner(&rig, &ip, &rig.node_mac(&owner)?).await?;
        wait_status_node(&rig, "quorum", &owner).await?;

        // The owner leaves gracefully: the other one is the whole expected set and takes over.
        speakers.stop(&owner)?;
        wait_arp_owner(&rig, &ip, &rig.node_mac(&other)?).await?;
        wait_status_node(&rig, "quorum", &other).await?;
        eprintln!("{ip}: {owner} left gracefully, {other} (1 of 1 remaining speakers) announces");
        Ok(())
    }
    .await;
    drop(speakers);
    delete_pods(&rig);
    cleanup(&rig);
    result
}
