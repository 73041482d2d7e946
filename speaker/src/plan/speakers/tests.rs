//! The expected-speaker set of `--quorum majority` and the count it leads to.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrolb_l2::liveness::{LivenessConfig, Membership, QuorumPolicy};
use k8s_openapi::api::core::v1::{Node, Pod};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef-shared-secret";

fn pod(node: &str, phase: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("speaker-{node}"), "namespace": "metallb-system",
                     "labels": {"app": "metallb", "component": "speaker"}},
        "spec": {"nodeName": node, "containers": [{"name": "speaker", "image": "x"}]},
        "status": {"phase": phase},
    }))
    .unwrap()
}

fn node(name: &str) -> Node {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap()
}

/// A plan with these Node objects and the speaker Pods `pods` as seen from node `local`.
fn plan(nodes: &[&str], pods: &[Pod], local: &str) -> Plan {
    let mut plan = Plan {
        nodes: nodes
            .iter()
            .map(|n| (n.to_string(), crate::plan::node_plan(&node(n))))
            .collect(),
        ..Plan::default()
    };
    plan.speaker_nodes = speaker_nodes(&pods.iter().collect::<Vec<_>>(), local);
    plan
}

fn membership(name: &str, t0: Instant) -> Membership {
    let cfg = LivenessConfig {
        quorum: QuorumPolicy::Majority,
        ..LivenessConfig::default()
    };
    Membership::new(name, 1, SECRET, cfg, t0).unwrap()
}

/// Whether `local` has quorum with the expected set of `plan` while exactly `alive` (other
/// speakers) are heard.
fn quorum(plan: &Plan, local: &str, alive: &[&str]) -> bool {
    let t0 = Instant::now();
    let mut me = membership(local, t0);
    me.set_expected_peers(expected_speakers(plan));
    for peer in alive {
        let mut p = membership(peer, t0);
        let d = p.poll_transmit(t0, 1_700_000_000_000).unwrap();
        me.handle_datagram(&d, t0 + Duration::from_millis(1), 1_700_000_000_000)
            .unwrap();
    }
    me.has_quorum()
}

#[test]
fn only_nodes_running_a_speaker_are_counted() {
    // Four nodes, the control plane runs no speaker (the DaemonSet does not tolerate it).
    let nodes = ["cp-1", "w-1", "w-2", "w-3"];
    let pods = [
        pod("w-1", "Running"),
        pod("w-2", "Running"),
        pod("w-3", "Running"),
    ];
    let p = plan(&nodes, &pods, "w-1");
    let expected: BTreeSet<&str> = expected_speakers(&p).collect();
    assert_eq!(expected, BTreeSet::from(["w-1", "w-2", "w-3"]));
    // Two of the three speakers are a majority (counting cp-1, 2 of 4 would not be).
    assert!(quorum(&p, "w-1", &["w-2"]));
    assert!(!quorum(&p, "w-1", &[]));
}

#[test]
fn three_nodes_two_speakers_one_left_alone_keeps_quorum_after_a_graceful_leave() {
    // Three nodes, speakers on two; node-2 leaves gracefully (a rolling update): the
    // remaining speaker is the whole expected set.
    let nodes = ["node-1", "node-2", "node-3"];
    let pods = [pod("node-1", "Running"), pod("node-2", "Running")];
    let p = plan(&nodes, &pods, "node-1");
    assert!(quorum(&p, "node-1", &["node-2"]));
    let t0 = Instant::now();
    let mut me = membership("node-1", t0);
    me.set_expected_peers(expected_speakers(&p));
    let mut other = membership("node-2", t0);
    let wall = 1_700_000_000_000;
    me.handle_datagram(&other.poll_transmit(t0, wall).unwrap(), t0, wall)
        .unwrap();
    me.handle_datagram(
        &other.leave(wall + 1),
        t0 + Duration::from_millis(1),
        wall + 1,
    )
    .unwrap();
    assert!(me.has_quorum(), "node-3 runs no speaker and must not count");
}

#[test]
fn a_single_speaker_cluster_has_quorum() {
    let p = plan(
        &["node-1", "node-2", "node-3"],
        &[pod("node-1", "Running")],
        "node-1",
    );
    assert!(quorum(&p, "node-1", &[]));
}

#[test]
fn starting_pods_count_terminated_ones_do_not() {
    let pods = [
        pod("a", "Running"),
        pod("b", "Pending"),
        pod("c", "Failed"),
        pod("d", "Succeeded"),
        pod("e", "Unknown"),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    assert_eq!(
        speaker_nodes(&refs, "a"),
        Some(BTreeSet::from(["a", "b", "e"].map(String::from)))
    );
}

#[test]
fn without_a_pod_on_this_node_every_node_counts() {
    // The selector matches nothing here (labels overridden, or speakers run outside
    // Kubernetes): never a smaller set than the Nodes, so a lone speaker has no quorum.
    let nodes = ["node-1", "node-2", "node-3"];
    let p = plan(&nodes, &[pod("node-2", "Running")], "node-1");
    assert_eq!(p.speaker_nodes, None);
    assert_eq!(expected_speakers(&p).count(), 3);
    assert!(!quorum(&p, "node-1", &[]));
    let none = plan(&nodes, &[], "node-1");
    assert!(!quorum(&none, "node-1", &[]));
    assert!(quorum(&none, "node-1", &["node-2"]));
}

#[test]
fn slimming_keeps_what_the_count_reads() {
    let mut p = pod("w-1", "Running");
    slim_pod(&mut p);
    assert_eq!(
        speaker_nodes(&[&p], "w-1"),
        Some(BTreeSet::from(["w-1".to_string()]))
    );
    assert!(p.spec.as_ref().unwrap().containers.is_empty());
}
