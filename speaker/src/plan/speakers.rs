//! The expected speakers that `--quorum majority` counts: the nodes that run a speaker Pod,
//! not every Node object.
//!
//! MetalLB's memberlist learns its members from the speaker Pods (`--ml-labels`, e.g.
//! `app=metallb,component=speaker`, `metallb-runtime.md` §2); a node excluded from the
//! DaemonSet (a control-plane node without the toleration, a `nodeSelector`) is no member. The
//! speaker watches the Pods in its namespace selected by `--ml-labels` (only with
//! `--quorum majority`: nothing else needs them) and counts the nodes they are bound to
//! (`spec.nodeName`), whatever their readiness: a node cut off by a partition keeps its Pod and
//! must keep counting, or the minority side would shrink its quorum and announce. Pods that
//! terminated (`Succeeded`/`Failed`) do not count; a graceful leave is handled by the heartbeats
//! themselves (`ferrolb_l2::liveness`: a leaving peer is not expected).
//!
//! Fallback, never to a smaller set: the Pod set is trusted only when it contains a Pod on this
//! speaker's own node. Otherwise (the selector matches nothing — labels changed by a chart
//! override —, the Pods are not listed yet or not readable, speakers run outside Kubernetes)
//! every Node counts, as before: quorum gets harder, never easier, so a misconfiguration cannot
//! let an isolated speaker believe it holds a majority. While the API server is unreachable the
//! reflector keeps the last listed Pods, so the last known set keeps counting.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};

use super::Plan;

/// The nodes with a running or starting speaker Pod among `pods` (already selected by
/// `--ml-labels`), or `None` when none of them is on `local` (see the module docs).
pub fn speaker_nodes(pods: &[&Pod], local: &str) -> Option<BTreeSet<String>> {
    let nodes: BTreeSet<String> = pods
        .iter()
        .filter(|p| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            !matches!(phase, Some("Succeeded" | "Failed"))
        })
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .filter(|n| !n.is_empty())
        .collect();
    nodes.contains(local).then_some(nodes)
}

/// The speakers the quorum counts: the nodes of [`Plan::speaker_nodes`] when known, else every
/// Node object.
pub fn expected_speakers(plan: &Plan) -> Box<dyn Iterator<Item = &str> + '_> {
    match &plan.speaker_nodes {
        Some(nodes) => Box::new(nodes.iter().map(String::as_str)),
        None => Box::new(plan.nodes.keys().map(String::as_str)),
    }
}

/// Drops every field of a speaker Pod that [`speaker_nodes`] does not read.
pub fn slim_pod(pod: &mut Pod) {
    pod.metadata.annotations = None;
    pod.metadata.owner_references = None;
    pod.spec = pod.spec.take().map(|s| PodSpec {
        node_name: s.node_name,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        phase: s.phase,
        ..PodStatus::default()
    });
}

#[cfg(test)]
mod tests;
