//! The status objects ferrolb writes about itself are owned by the Pod that wrote them, as in
//! MetalLB (`metallb-api.md` §1.7–1.9), so Kubernetes' garbage collector (the rig's real
//! kube-controller-manager) cleans up after a Pod that is gone for good:
//!
//! - a speaker's ServiceL2Status objects and its ConfigurationState `speaker-<node>`, and the
//!   controller's ConfigurationState `controller`, carry an ownerReference to their Pod;
//! - a speaker restarted as a new Pod moves them to the new Pod, so deleting the old Pod does
//!   not take them away (checked after the collector provably processed that deletion: a
//!   sentinel ConfigMap owned by the old Pod is gone);
//! - a speaker that crashed and whose Pod is then deleted (a node lost for good) leaves nothing
//!   behind: its ServiceL2Status and ConfigurationState are collected.
//!
//! The speakers and controller are processes in the rig's node namespaces; their Pods are
//! `hostNetwork` Pod objects bound to the node (kwok runs them, the rig's podagent skips
//! them), whose name and UID are given to the processes like the downward API does.
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use anyhow::Result;
use ferrolb_e2e::l2::*;
use ferrolb_e2e::workload::force_delete_pod;
use ferrolb_e2e::{Rig, wait_for};

/// A `hostNetwork` Pod `name` on `node` in ferrolb's namespace; returns its UID.
fn fake_pod(rig: &Rig, name: &str, node: &str) -> Result<String> {
    ferrolb_e2e::l2::fake_pod(rig, name, node, "app.kubernetes.io/name: ferrolb-e2e-owner")
}

/// The ownerReferences (`Kind/name/uid`, space-separated) of each object of `kind` matched by
/// `target` (a `-l` or `--field-selector` pair, so the result is always a list), one string
/// per object; empty when none exists.
fn owners(rig: &Rig, kind: &str, target: &[&str]) -> Result<Vec<String>> {
    let mut args = vec!["-n", SYSTEM, "get", kind];
    args.extend_from_slice(target);
    args.extend_from_slice(&[
        "--ignore-not-found",
        "-o",
        r#"go-template={{range .items}}{{range .metadata.ownerReferences}}{{.kind}}/{{.name}}/{{.uid}} {{end}};{{end}}"#,
    ]);
    let out = rig.kubectl(&args)?;
    // Every object ends with `;`, so an object without owners is an empty string.
    Ok(match out.trim().strip_suffix(';') {
        None => Vec::new(),
        Some(body) => body.split(';').map(|s| s.trim().to_string()).collect(),
    })
}

/// Waits until every object of `kind`/`target` exists (at least one) and is owned by exactly
/// Pod `pod` (`name`, `uid`).
async fn wait_owned(rig: &Rig, kind: &str, target: &[&str], pod: (&str, &str)) -> Result<()> {
    let want = format!("Pod/{}/{}", pod.0, pod.1);
    wait_for(
        &format!("{kind} {target:?} owned by {want} only"),
        TIMEOUT,
        || format!("owners: {:?}\n{}", owners(rig, kind, target), diag(rig)),
        || async {
            let o = owners(rig, kind, target)?;
            Ok((!o.is_empty() && o.iter().all(|s| *s == want)).then_some(()))
        },
    )
    .await
}

/// Waits until no object of `kind`/`target` exists.
async fn wait_gone(rig: &Rig, kind: &str, target: &[&str]) -> Result<()> {
    wait_for(
        &format!("{kind} {target:?} garbage-collected"),
        TIMEOUT,
        || format!("owners: {:?}\n{}", owners(rig, kind, target), diag(rig)),
        || async {
            let mut args = vec!["-n", SYSTEM, "get", kind];
            args.extend_from_slice(target);
            args.extend_from_slice(&["--ignore-not-found", "-o", "name"]);
            Ok(rig.kubectl(&args)?.trim().is_empty().then_some(()))
        },
    )
    .await
}

/// Deletes Pod `name` of ferrolb's namespace at once, waiting until it is gone.
fn delete_pod(rig: &Rig, name: &str) -> Result<()> {
    force_delete_pod(rig, SYSTEM, name)
}

#[tokio::test]
async fn status_objects_are_owned_by_their_pod_and_collected_with_it() -> Result<()> {
    let Some(rig) = Rig::from_env("status_objects_are_owned_by_their_pod_and_collected_with_it")
    else {
        return Ok(());
    };
    install(&rig)?;
    let node = rig
        .node_names()
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the rig has no nodes"))?;
    let pods = [
        "controller-e2e-owner",
        "speaker-e2e-owner-a",
        "speaker-e2e-owner-b",
    ];
    for p in pods {
        delete_pod(&rig, p)?;
    }
    let ctl = fake_pod(&rig, pods[0], &node)?;
    let uid_a = fake_pod(&rig, pods[1], &node)?;
    let _op = start_operator_as(&rig, Some((pods[0], &ctl)))?;
    let mut speakers = Speakers::none(&rig, &[])?;
    speakers.start_as_pod(&rig, &node, (pods[1], &uid_a))?;
    let selector = format!("metallb.io/service-name=web,metallb.io/service-namespace={NS}");
    let statuses = ["-l", selector.as_str()];
    let by_name = |n: &str| format!("metadata.name={n}");
    let state_name = by_name(&format!("speaker-{node}"));
    let state = ["--field-selector", state_name.as_str()];
    let controller_name = by_name("controller");
    let controller = ["--field-selector", controller_name.as_str()];
    let sentinel_name = by_name("owner-sentinel");
    let sentinel = ["--field-selector", sentinel_name.as_str()];
    let result = async {
        workload(&rig, "web", 1, None, "Cluster")?;
        wait_ip(&rig, "web").await?;
        // The only running speaker announces, and everything it writes is its Pod's.
        wait_status_node(&rig, "web", &node).await?;
        wait_owned(&rig, "servicel2statuses", &statuses, (pods[1], &uid_a)).await?;
        wait_owned(&rig, "configurationstates", &state, (pods[1], &uid_a)).await?;
        wait_owned(&rig, "configurationstates", &controller, (pods[0], &ctl)).await?;

        // Restarted as a new Pod (a DaemonSet rollout): the objects move to the new Pod ...
        speakers.kill(&node);
        let uid_b = fake_pod(&rig, pods[2], &node)?;
        speakers.start_as_pod(&rig, &node, (pods[2], &uid_b))?;
        wait_owned(&rig, "servicel2statuses", &statuses, (pods[2], &uid_b)).await?;
        wait_owned(&rig, "configurationstates", &state, (pods[2], &uid_b)).await?;
        // ... and survive the old Pod's deletion, once the collector has provably handled it.
        kubectl_apply(
            &rig,
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owner-sentinel\n  namespace: {SYSTEM}\n  ownerReferences: [{{apiVersion: v1, kind: Pod, name: {}, uid: {uid_a}}}]\n",
                pods[1]
            ),
        )?;
        delete_pod(&rig, pods[1])?;
        wait_gone(&rig, "configmaps", &sentinel).await?;
        wait_owned(&rig, "servicel2statuses", &statuses, (pods[2], &uid_b)).await?;
        wait_owned(&rig, "configurationstates", &state, (pods[2], &uid_b)).await?;

        // The node is lost for good: its speaker dies without cleaning up, its Pod is
        // deleted, and the collector removes what the speaker wrote.
        speakers.kill(&node);
        delete_pod(&rig, pods[2])?;
        wait_gone(&rig, "servicel2statuses", &statuses).await?;
        wait_gone(&rig, "configurationstates", &state).await?;
        // The controller's state is untouched (its Pod still exists).
        wait_owned(&rig, "configurationstates", &controller, (pods[0], &ctl)).await?;
        Ok(())
    }
    .await;
    drop(speakers);
    for p in pods {
        let _ = delete_pod(&rig, p);
    }
    cleanup(&rig);
    result
}
