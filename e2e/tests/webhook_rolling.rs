//! Issue 19: a rolling restart of the webhook's two replicas under a stream of applies fails no
//! apply.
//!
//! As in a cluster: the ValidatingWebhookConfiguration of `config/webhook/manifests.yaml` with
//! its `service:` clientConfig (Service `metallb-webhook-service`, port 443 → 9443, selector
//! `app: metallb, component: webhook`), two `ferrolb-webhook` replicas as Pods with their own
//! pod IPs (`ferrolb_e2e::hostpods`: real processes in the rig's host pod network, the test as
//! their kubelet with the chart's readiness probe), the kube-controller-manager's endpointslice
//! controller building the Service's EndpointSlice from the Pods, and the API server
//! (`--enable-aggregator-routing`) sending each admission request to a ready endpoint.
//!
//! The restart is what `kubectl rollout restart` of the chart's Deployment does (2 replicas,
//! default strategy: maxSurge 1, maxUnavailable 0): a new Pod, once Ready, replaces the oldest,
//! which is deleted (grace period 10 s) and gets SIGTERM; the next replacement starts once it
//! has exited — one replica at a time, for as long as the applies run (at most 16). Meanwhile 300 applies (server-side apply of 10 pools, one every 200 ms)
//! go through the webhook, and every tenth request is an invalid (overlapping) pool, which the
//! webhook must deny: proof it stayed in the path. Asserted: 0 failed applies, every invalid
//! pool denied with MetalLB's message, every stopped replica exited 0 within its grace period.
//!
//! `FERROLB_E2E_WEBHOOK_SHUTDOWN_DELAY=<secs>` passes `--shutdown-delay-secs` to the replicas
//! (the control experiment: with 0 the test is expected to fail).
//!
//! Skipped unless `FERROLB_E2E=1` (see `e2e/run.sh`).
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::hostpods::{GRACE_PERIOD, HostPod, PodSpec};
use ferrolb_e2e::{Rig, wait_for, webhook};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const NS: &str = "ferrolb-e2e-webhook-roll";
const VWC: &str = "metallb-webhook-configuration";
const SERVICE: &str = "metallb-webhook-service";
const TIMEOUT: Duration = Duration::from_secs(60);
const APPLIES: u32 = 300;
const APPLY_EVERY: Duration = Duration::from_millis(200);
/// Bound on the restarts (the roll goes on while the applies run).
const MAX_RESTARTS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_rolling_restart_under_applies_fails_nothing() -> Result<()> {
    let Some(rig) = Rig::from_env("webhook_rolling_restart_under_applies_fails_nothing") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    setup(&rig, &client).await?;
    let result = roll(&rig, &client).await;
    webhook::teardown(&rig, &client, NS).await;
    result
}

/// CRDs, namespace, RBAC, the manifest's Service, Secret and webhook configuration (its
/// `service:` clientConfigs pointing at this namespace).
async fn setup(rig: &Rig, client: &kube::Client) -> Result<()> {
    rig.apply_server_side(&webhook::project().join("config/crd/bases"))?;
    rig.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/ipaddresspools.metallb.io",
    ])?;
    let _ = rig.kubectl(&["delete", "namespace", NS, "--wait=true", "--timeout=60s"]);
    rig.kubectl(&["create", "namespace", NS])?;
    webhook::rbac(rig, NS)?;
    for doc in webhook::manifest(rig, NS)? {
        match doc["kind"].as_str() {
            Some("Service") => {
                let api: Api<Service> = Api::namespaced(client.clone(), NS);
                api.create(&PostParams::default(), &serde_json::from_value(doc)?)
                    .await?;
            }
            Some("Secret") => {
                let api: Api<Secret> = Api::namespaced(client.clone(), NS);
                api.create(&PostParams::default(), &serde_json::from_value(doc)?)
                    .await?;
            }
            _ => {}
        }
    }
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let _ = vwcs.delete(VWC, &DeleteParams::default()).await;
    let vwc = webhook::configuration(rig, NS)?;
    ensure!(
        vwc["webhooks"][0]["clientConfig"]["service"]["namespace"] == NS,
        "the manifest's webhooks should have service clientConfigs: {vwc}"
    );
    vwcs.create(&PostParams::default(), &serde_json::from_value(vwc)?)
        .await
        .context("creating the ValidatingWebhookConfiguration")?;
    Ok(())
}

/// Replica `n` (pod IP `198.18.<instance>.<10+n>`), as the chart's Deployment runs it.
fn replica(rig: &Rig, kubeconfig: &str, n: u8) -> Result<PodSpec> {
    let ip = rig.host_pod_ip(10 + n);
    let mut command = vec![
        webhook::binary()?.to_string_lossy().into_owned(),
        "--namespace".into(),
        NS.into(),
        "--listen".into(),
        format!("{ip}:9443"),
        "--health-probe-port".into(),
        "17472".into(),
    ];
    if let Ok(d) = std::env::var("FERROLB_E2E_WEBHOOK_SHUTDOWN_DELAY") {
        command.extend(["--shutdown-delay-secs".into(), d]);
    }
    Ok(PodSpec {
        namespace: NS.into(),
        name: format!("webhook-{n}"),
        labels: json!({"app": "metallb", "component": "webhook"}),
        ports: vec![("webhook-server".into(), 9443), ("health".into(), 17472)],
        ip,
        readiness: (17472, "/readyz".into()),
        command,
        env: vec![
            ("KUBECONFIG".into(), kubeconfig.into()),
            ("FERROLB_LOG".into(), "info".into()),
        ],
    })
}

/// The ready endpoint addresses of the webhook Service's EndpointSlices.
async fn ready_endpoints(client: &kube::Client) -> Result<Vec<String>> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), NS);
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={SERVICE}"));
    let mut ips: Vec<String> = slices
        .list(&lp)
        .await?
        .items
        .into_iter()
        .flat_map(|s| s.endpoints)
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .flat_map(|e| e.addresses)
        .collect();
    ips.sort();
    Ok(ips)
}

#[derive(Default, Debug)]
struct Applies {
    ok: u32,
    denied: u32,
    failed: Vec<String>,
}

/// The apply stream: `APPLIES` requests, one every `APPLY_EVERY`; every tenth creates an
/// invalid pool (it overlaps `roll-0`), which must be denied by the webhook.
async fn apply_stream(client: kube::Client) -> Applies {
    let pools = webhook::api(&client, NS, "v1beta1", "IPAddressPool", "ipaddresspools");
    let mut tick = tokio::time::interval(APPLY_EVERY);
    let mut out = Applies::default();
    let t0 = Instant::now();
    for i in 0..APPLIES {
        tick.tick().await;
        let at = t0.elapsed();
        if i % 10 == 5 {
            let bad = match webhook::obj(
                NS,
                "metallb.io/v1beta1",
                "IPAddressPool",
                "overlapping",
                json!({"addresses": ["10.66.0.128-10.66.0.130"]}),
            ) {
                Ok(o) => o,
                Err(e) => {
                    out.failed
                        .push(format!("{at:?} building the invalid pool: {e}"));
                    continue;
                }
            };
            let r = tokio::time::timeout(
                Duration::from_secs(15),
                pools.create(&PostParams::default(), &bad),
            )
            .await;
            match r {
                Ok(Err(e))
                    if e.to_string()
                        .contains("ipaddresspoolvalidationwebhook.metallb.io")
                        && e.to_string().contains("overlaps with already defined CIDR") =>
                {
                    out.denied += 1
                }
                Ok(Err(e)) => out.failed.push(format!("{at:?} invalid pool: {e}")),
                Ok(Ok(_)) => {
                    out.failed
                        .push(format!("{at:?} the invalid pool was admitted"));
                    let _ = pools.delete("overlapping", &DeleteParams::default()).await;
                }
                Err(_) => out
                    .failed
                    .push(format!("{at:?} invalid pool: no answer in 15 s")),
            }
            continue;
        }
        let k = i % 10;
        let name = format!("roll-{k}");
        let patch = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"addresses": [format!("10.66.{k}.0/24")], "autoAssign": (i / 10) % 2 == 0}});
        let r = tokio::time::timeout(
            Duration::from_secs(15),
            pools.patch(
                &name,
                &PatchParams::apply("ferrolb-e2e-webhook-roll").force(),
                &Patch::Apply(&patch),
            ),
        )
        .await;
        match r {
            Ok(Ok(_)) => out.ok += 1,
            Ok(Err(e)) => out.failed.push(format!("{at:?} apply {name}: {e}")),
            Err(_) => out
                .failed
                .push(format!("{at:?} apply {name}: no answer in 15 s")),
        }
    }
    out
}

async fn roll(rig: &Rig, client: &kube::Client) -> Result<()> {
    let kubeconfig = rig.kubeconfig_for(NS, "webhook", false)?;
    let kubeconfig = kubeconfig.to_string_lossy().into_owned();
    // Two replicas; the second starts once the first has created the certificate Secret.
    let mut live = Vec::new();
    for n in 1..=2 {
        let mut pod = HostPod::start(rig, client, replica(rig, &kubeconfig, n)?).await?;
        pod.wait_ready(TIMEOUT).await?;
        live.push(pod);
    }
    let want: Vec<String> = {
        let mut v: Vec<String> = live.iter().map(|p| p.spec.ip.clone()).collect();
        v.sort();
        v
    };
    let diag = || rig.diagnostics(Some(NS));
    wait_for("both replicas ready endpoints", TIMEOUT, diag, || async {
        Ok((ready_endpoints(client).await? == want).then_some(()))
    })
    .await?;
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    wait_for("caBundle injected", TIMEOUT, diag, || {
        webhook::ca_bundle_injected(&vwcs, VWC)
    })
    .await?;
    // The first apply through the Service (the API server's client may still be warming up).
    let pools = webhook::api(client, NS, "v1beta1", "IPAddressPool", "ipaddresspools");
    let first = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": {"name": "roll-0", "namespace": NS}, "spec": {"addresses": ["10.66.0.0/24"]}});
    wait_for(
        "first pool admitted through the Service",
        TIMEOUT,
        diag,
        || async {
            let r = pools
                .patch(
                    "roll-0",
                    &PatchParams::apply("ferrolb-e2e-webhook-roll").force(),
                    &Patch::Apply(&first),
                )
                .await;
            Ok(r.ok().map(|_| ()))
        },
    )
    .await?;

    let stream = tokio::spawn(apply_stream(client.clone()));
    let t0 = Instant::now();
    let mut exits = Vec::new();
    let mut next = 3u8;
    while !stream.is_finished() && exits.len() < MAX_RESTARTS {
        let mut new = HostPod::start(rig, client, replica(rig, &kubeconfig, next)?).await?;
        next += 1;
        new.wait_ready(TIMEOUT).await?;
        let old = live.remove(0);
        live.push(new);
        let name = old.spec.name.clone();
        let (status, took) = old.terminate().await?;
        ensure!(
            status.success() && took < GRACE_PERIOD,
            "{name} did not stop cleanly: {status} after {took:?}"
        );
        exits.push(took.as_secs_f64());
    }
    let roll_secs = t0.elapsed().as_secs_f64();
    let applies = stream.await?;
    let (lo, hi) = exits
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
    println!(
        "webhook rolling restart: {} replicas replaced one at a time in {roll_secs:.1} s; {} applies ok, {} invalid pools denied, {} failed; stopped replicas exited 0 after {lo:.1}-{hi:.1} s",
        exits.len(),
        applies.ok,
        applies.denied,
        applies.failed.len()
    );
    ensure!(
        applies.failed.is_empty(),
        "{} of {APPLIES} requests failed during the rolling restart:\n{}",
        applies.failed.len(),
        applies.failed.join("\n")
    );
    ensure!(
        exits.len() >= 4,
        "only {} restarts during the applies",
        exits.len()
    );
    ensure!(
        applies.denied == APPLIES / 10,
        "{} of {} invalid pools denied",
        applies.denied,
        APPLIES / 10
    );
    // The Service ends with exactly the two live replicas as ready endpoints.
    let want: Vec<String> = {
        let mut v: Vec<String> = live.iter().map(|p| p.spec.ip.clone()).collect();
        v.sort();
        v
    };
    wait_for(
        "the live replicas are the ready endpoints",
        TIMEOUT,
        diag,
        || async { Ok((ready_endpoints(client).await? == want).then_some(())) },
    )
    .await?;
    Ok(())
}
