//! Installing ferrolb the ways MetalLB is installed, on the real control plane:
//! - `a_native_manifest`: `kubectl apply --server-side -f config/manifests/ferrolb-native.yaml`
//!   succeeds and is up to date with `config/` (`hack/gen-manifests.sh --check`, re-rendered
//!   with the rig's kubectl); the objects carry MetalLB's names, labels and least privilege
//!   (non-root controller with a read-only root and no capabilities, hostNetwork speaker with
//!   only NET_RAW and, for BFD's thread priority in BGP mode, SYS_NICE; no wildcard in any Role/ClusterRole); the controller becomes Available
//!   (kwok runs its pod); a second apply is a no-op (`kubectl diff --server-side` exits 0).
//! - `b_helm_chart`: `helm lint --strict`, then `helm upgrade --install ... --create-namespace
//!   --wait` of charts/ferrolb succeeds twice (the memberlist key survives the upgrade) and
//!   `helm uninstall` removes everything but the CRDs.
//!
//! Shared-rig hygiene: the CRDs, the namespace `metallb-system` and the RBAC objects are
//! shared with the other tests (which server-side apply the same content), so only the
//! Deployment and DaemonSet of the manifest are deleted afterwards. The Helm release goes to
//! its own namespace (`ferrolb-helm-e2e`; the chart names cluster-scoped RBAC
//! `<namespace>:controller|speaker`): installing it into `metallb-system` would make Helm adopt
//! and, on uninstall, delete the ServiceAccounts other tests and the demo hold tokens of.
//!
//! Skipped unless `FERROLB_E2E=1`; the Helm part is skipped when no helm binary is found
//! (`FERROLB_E2E_HELM`, else `~/.cache/ferrolb/bin/helm-$HELM_VERSION/helm`, built by
//! `e2e/build-upstream.sh --with-helm` or `FERROLB_BUILD_HELM=1 e2e/run.sh`).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::{Rig, run, wait_for};
use serde_json::Value;

const NS: &str = "metallb-system";
const HELM_NS: &str = "ferrolb-helm-e2e";
const TIMEOUT: Duration = Duration::from_secs(60);

fn project() -> PathBuf {
    ferrolb_e2e::e2e_dir().join("..")
}

fn manifest() -> PathBuf {
    project().join("config/manifests/ferrolb-native.yaml")
}

fn get_json(rig: &Rig, args: &[&str]) -> Result<Value> {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    let out = rig.kubectl(&a)?;
    serde_json::from_str(&out).with_context(|| format!("kubectl get {args:?}: not JSON"))
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every rule of every Role/ClusterRole in `items`: no `*` in verbs, resources or apiGroups.
fn check_no_wildcards(items: &[Value]) -> Result<usize> {
    let mut roles = 0;
    for o in items {
        let kind = str_at(o, "/kind");
        if kind != "Role" && kind != "ClusterRole" {
            continue;
        }
        roles += 1;
        let name = str_at(o, "/metadata/name");
        let rules = o.get("rules").and_then(Value::as_array).cloned();
        ensure!(
            rules.as_ref().is_some_and(|r| !r.is_empty()),
            "{kind} {name} has no rules"
        );
        for rule in rules.unwrap_or_default() {
            for field in ["verbs", "resources", "apiGroups", "nonResourceURLs"] {
                let vals = strings(rule.get(field));
                ensure!(
                    !vals.iter().any(|v| v.contains('*')),
                    "{kind} {name} has a wildcard in {field}: {rule}"
                );
            }
        }
    }
    Ok(roles)
}

/// The controller's and speaker's pod templates: MetalLB names/labels and least privilege.
fn check_workloads(dep: &Value, ds: &Value) -> Result<()> {
    for (o, component) in [(dep, "controller"), (ds, "speaker")] {
        ensure!(
            str_at(o, "/metadata/labels/app") == "metallb"
                && str_at(o, "/metadata/labels/component") == component,
            "{component}: labels {}",
            o["metadata"]["labels"]
        );
        ensure!(
            str_at(o, "/spec/template/spec/serviceAccountName") == component,
            "{component}: serviceAccountName"
        );
    }
    let pod = &dep["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    ensure!(
        pod["securityContext"]["runAsNonRoot"] == Value::Bool(true),
        "controller: runAsNonRoot"
    );
    ensure!(
        c["securityContext"]["readOnlyRootFilesystem"] == Value::Bool(true)
            && c["securityContext"]["allowPrivilegeEscalation"] == Value::Bool(false),
        "controller: container securityContext {}",
        c["securityContext"]
    );
    ensure!(
        strings(c.pointer("/securityContext/capabilities/drop")) == ["ALL"]
            && c.pointer("/securityContext/capabilities/add").is_none(),
        "controller: capabilities {}",
        c["securityContext"]["capabilities"]
    );
    ensure!(
        c["readinessProbe"].is_object() && c["livenessProbe"].is_object(),
        "controller: probes"
    );
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    ensure!(
        pod["hostNetwork"] == Value::Bool(true),
        "speaker: hostNetwork"
    );
    ensure!(
        strings(c.pointer("/securityContext/capabilities/add")) == ["NET_RAW", "SYS_NICE"]
            && strings(c.pointer("/securityContext/capabilities/drop")) == ["ALL"]
            && c["securityContext"]["privileged"] != Value::Bool(true)
            && c["securityContext"]["allowPrivilegeEscalation"] == Value::Bool(false)
            && c["securityContext"]["readOnlyRootFilesystem"] == Value::Bool(true),
        "speaker: container securityContext {}",
        c["securityContext"]
    );
    let tolerated: Vec<&str> = pod["tolerations"]
        .as_array()
        .map(|t| t.iter().map(|t| str_at(t, "/key")).collect())
        .unwrap_or_default();
    for key in [
        "node-role.kubernetes.io/master",
        "node-role.kubernetes.io/control-plane",
    ] {
        ensure!(tolerated.contains(&key), "speaker: no toleration for {key}");
    }
    Ok(())
}

async fn wait_deployment_available(rig: &Rig, ns: &str, name: &str) -> Result<()> {
    wait_for(
        &format!("Deployment {ns}/{name} available"),
        TIMEOUT,
        || rig.diagnostics(Some(ns)),
        || async {
            let d = get_json(rig, &["-n", ns, "deployment", name])?;
            let ready = d
                .pointer("/status/availableReplicas")
                .and_then(Value::as_i64);
            Ok((ready == Some(1)).then_some(()))
        },
    )
    .await
}

/// Deletes the manifest's workloads and its ValidatingWebhookConfiguration (everything else it
/// installs is shared, see module docs). The webhook configuration must go: it fails closed and
/// the webhook pods kwok runs are not real, so it would refuse every metallb.io write of the
/// tests that follow (the webhook's own test installs its own configuration).
fn delete_workloads(rig: &Rig) {
    let _ = rig.kubectl(&[
        "delete",
        "validatingwebhookconfiguration",
        "metallb-webhook-configuration",
        "--ignore-not-found",
    ]);
    let _ = rig.kubectl(&[
        "delete",
        "-n",
        NS,
        "deployment/controller",
        "deployment/webhook",
        "daemonset/speaker",
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
    ]);
}

/// The webhook Deployment: non-root, read-only root, no capabilities, ServiceAccount webhook,
/// selected by the webhook Service.
fn check_webhook(rig: &Rig, ns: &str) -> Result<()> {
    let d = get_json(rig, &["-n", ns, "deployment", "webhook"])?;
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    ensure!(
        str_at(pod, "/serviceAccountName") == "webhook"
            && pod["securityContext"]["runAsNonRoot"] == Value::Bool(true)
            && c["securityContext"]["readOnlyRootFilesystem"] == Value::Bool(true)
            && strings(c.pointer("/securityContext/capabilities/drop")) == ["ALL"]
            && c.pointer("/securityContext/capabilities/add").is_none(),
        "webhook Deployment: {pod}"
    );
    let svc = get_json(rig, &["-n", ns, "service", "metallb-webhook-service"])?;
    ensure!(
        str_at(&svc, "/spec/selector/component") == "webhook",
        "metallb-webhook-service selector {}",
        svc["spec"]["selector"]
    );
    let vwc = get_json(
        rig,
        &[
            "validatingwebhookconfiguration",
            "metallb-webhook-configuration",
        ],
    )?;
    ensure!(
        str_at(&vwc, "/webhooks/0/clientConfig/service/namespace") == ns,
        "metallb-webhook-configuration points at namespace {ns}"
    );
    Ok(())
}

#[tokio::test]
async fn a_native_manifest() -> Result<()> {
    let Some(rig) = Rig::from_env("install::a_native_manifest") else {
        return Ok(());
    };
    // the committed manifest is what `kubectl kustomize config` renders today
    run(Command::new(project().join("hack/gen-manifests.sh"))
        .arg("--check")
        .env("KUBECTL", &rig.kubectl))?;

    let res = native_manifest(&rig).await;
    delete_workloads(&rig);
    res
}

async fn native_manifest(rig: &Rig) -> Result<()> {
    let path = manifest();
    rig.apply_server_side(&path)?;
    rig.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "-f",
        &project().join("config/crd/bases").to_string_lossy(),
    ])?;

    // every object of the manifest exists; check them as the API server stored them
    let live = get_json(rig, &["-f", &path.to_string_lossy()])?;
    let items = live["items"].as_array().cloned().unwrap_or_default();
    let kinds = |k: &str| items.iter().filter(|o| str_at(o, "/kind") == k).count();
    // every CRD of config/crd/bases (metallb.io and ferrolb.io), and no other
    let crds = std::fs::read_dir(project().join("config/crd/bases"))?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        .count();
    ensure!(crds >= 10, "config/crd/bases lists {crds} CRDs");
    ensure!(
        kinds("CustomResourceDefinition") == crds,
        "{} CRDs in the manifest, {crds} in config/crd/bases",
        kinds("CustomResourceDefinition")
    );
    ensure!(
        kinds("ServiceAccount") >= 2,
        "ServiceAccounts controller and speaker"
    );
    let roles = check_no_wildcards(&items)?;
    ensure!(
        roles >= 4,
        "expected the controller's and speaker's (Cluster)Roles, got {roles}"
    );
    let ns = get_json(rig, &["namespace", NS])?;
    ensure!(
        str_at(&ns, "/metadata/labels/pod-security.kubernetes.io~1enforce") == "privileged",
        "namespace {NS}: PodSecurity label"
    );
    let dep = get_json(rig, &["-n", NS, "deployment", "controller"])?;
    let ds = get_json(rig, &["-n", NS, "daemonset", "speaker"])?;
    check_workloads(&dep, &ds)?;
    check_webhook(rig, NS)?;

    // kwok runs the controller's pod
    wait_deployment_available(rig, NS, "controller").await?;
    // the speaker DaemonSet schedules one pod per node (kwok reports hostNetwork pods as it
    // does others; the rig's pod agent leaves them alone)
    wait_for(
        "DaemonSet speaker scheduled on every node",
        TIMEOUT,
        || rig.diagnostics(Some(NS)),
        || async {
            let d = get_json(rig, &["-n", NS, "daemonset", "speaker"])?;
            let n = |f: &str| d.pointer(&format!("/status/{f}")).and_then(Value::as_i64);
            Ok((n("desiredNumberScheduled") == Some(rig.nodes as i64)
                && n("currentNumberScheduled") == Some(rig.nodes as i64))
            .then_some(()))
        },
    )
    .await?;

    // GitOps: applying the same manifest again changes nothing. The rig is shared: another
    // test may apply its own version of the shared RBAC between our apply and diff, so a
    // non-empty diff is retried after re-applying (a real non-idempotence fails every time).
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            rig.apply_server_side(&path)?;
        }
        let mut diff = Command::new(&rig.kubectl);
        diff.arg("--kubeconfig").arg(&rig.kubeconfig).args([
            "diff",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "ferrolb-e2e",
            "-f",
            &path.to_string_lossy(),
        ]);
        let out = diff.output().context("running kubectl diff")?;
        if out.status.success() {
            return Ok(());
        }
        last = format!(
            "{}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    bail!("kubectl diff after a second apply is not empty ({last})")
}

fn helm(rig: &Rig, bin: &Path, args: &[&str]) -> Result<String> {
    run(Command::new(bin)
        .arg("--kubeconfig")
        .arg(&rig.kubeconfig)
        .args(args)
        .env("HELM_CACHE_HOME", rig.run_dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", rig.run_dir.join("helm/config"))
        .env("HELM_DATA_HOME", rig.run_dir.join("helm/data")))
}

#[tokio::test]
async fn b_helm_chart() -> Result<()> {
    let Some(rig) = Rig::from_env("install::b_helm_chart") else {
        return Ok(());
    };
    let Some(bin) = ferrolb_e2e::helm::binary() else {
        println!(
            "SKIP install::b_helm_chart: no helm (set FERROLB_E2E_HELM, or build it: e2e/build-upstream.sh --with-helm)"
        );
        return Ok(());
    };
    let chart = project().join("charts/ferrolb");
    let chart = chart.to_string_lossy();
    helm(&rig, &bin, &["lint", "--strict", &chart])?;
    // the CRDs come from the chart's crds/ (already present here: Helm leaves them alone)
    rig.apply_server_side(&project().join("config/crd/bases"))?;

    let res = helm_chart(&rig, &bin, &chart).await;
    let _ = helm(
        &rig,
        &bin,
        &[
            "uninstall",
            "ferrolb",
            "--namespace",
            HELM_NS,
            "--wait",
            "--ignore-not-found",
        ],
    );
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        HELM_NS,
        "--ignore-not-found",
        "--wait=false",
    ]);
    res
}

async fn helm_chart(rig: &Rig, bin: &Path, chart: &str) -> Result<()> {
    let install = [
        "upgrade",
        "--install",
        "ferrolb",
        chart,
        "--create-namespace",
        "--namespace",
        HELM_NS,
        "--wait",
        "--timeout",
        "2m",
    ];
    // Without BGP the speaker gets NET_RAW alone (SYS_NICE only serves the BFD thread).
    let l2_only = helm(
        rig,
        bin,
        &[
            "template",
            "ferrolb",
            chart,
            "--set",
            "bgp.enabled=false",
            "--show-only",
            "templates/speaker.yaml",
            // offline rendering: the chart's minimum (Chart.yaml kubeVersion)
            "--kube-version",
            ferrolb_e2e::helm::OFFLINE_KUBE_VERSION,
        ],
    )?;
    ensure!(
        {
            let adds: Vec<&str> = l2_only
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("add:"))
                .collect();
            adds == ["add: [NET_RAW]"]
        },
        "bgp.enabled=false: the speaker's capabilities should be NET_RAW alone:\n{l2_only}"
    );
    helm(rig, bin, &install)?;
    let dep = get_json(rig, &["-n", HELM_NS, "deployment", "controller"])?;
    let ds = get_json(rig, &["-n", HELM_NS, "daemonset", "speaker"])?;
    check_workloads(&dep, &ds)?;
    check_webhook(rig, HELM_NS)?;
    wait_deployment_available(rig, HELM_NS, "controller").await?;
    let key = |rig: &Rig| -> Result<String> {
        let s = get_json(rig, &["-n", HELM_NS, "secret", "metallb-memberlist"])?;
        let k = str_at(&s, "/data/secretkey").to_string();
        ensure!(k.len() >= 40, "memberlist secretkey too short: {k:?}");
        Ok(k)
    };
    let before = key(rig)?;
    // RBAC: namespaced names, no wildcards
    let mut items = Vec::new();
    for c in ["controller", "speaker", "webhook"] {
        items.push(get_json(rig, &["clusterrole", &format!("{HELM_NS}:{c}")])?);
        items.push(get_json(rig, &["-n", HELM_NS, "role", c])?);
        let crb = get_json(rig, &["clusterrolebinding", &format!("{HELM_NS}:{c}")])?;
        ensure!(
            str_at(&crb, "/subjects/0/namespace") == HELM_NS,
            "ClusterRoleBinding {c}: subject namespace"
        );
    }
    check_no_wildcards(&items)?;

    // upgrade in place: same objects, same memberlist key
    helm(rig, bin, &install)?;
    ensure!(
        key(rig)? == before,
        "helm upgrade changed the memberlist key"
    );
    let history = helm(rig, bin, &["history", "ferrolb", "--namespace", HELM_NS])?;
    if !history.contains("deployed") {
        bail!("helm history: {history}");
    }
    Ok(())
}
