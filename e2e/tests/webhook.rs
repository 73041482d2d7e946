//! ferrolb's admission and conversion webhook (`ferrolb-webhook`) on the real API server:
//! - it runs on the host (where the rig's apiserver is) as ServiceAccount `webhook` with exactly
//!   `config/rbac/webhook.yaml` (namespace renamed to the test's), creates its own CA and
//!   serving certificate (Secret `metallb-webhook-cert`) and injects the caBundle into the
//!   ValidatingWebhookConfiguration and the BGPPeer CRD's conversion clientConfig;
//! - invalid objects are denied with MetalLB's messages, valid ones pass, deleting a BFDProfile in
//!   use is refused;
//! - a BGPPeer written as v1beta1 reads back as v1beta2 (timers materialised as `0s`) and as
//!   v1beta1;
//! - with a 20 s serving certificate renewed every ~10 s, continuous applies see zero failures;
//! - SIGTERM: it drains and exits 0, and (with the rig's OpenTelemetry Collector) the spans it
//!   held back — a denied IPAddressPool's `admission` span — reach the Collector on the way out;
//! - with the webhook down entirely, creating a pool is refused and deleting one is not.
//!
//! The webhooks are registered with `clientConfig.url: https://127.0.0.1:19444/<path>` (the rig's
//! apiserver runs in the host netns, see e2e/README.md) and a namespaceSelector limited to the
//! test namespace, so concurrent tests in other namespaces are not affected. The BGPPeer CRD's
//! conversion clientConfig is pointed at the test's webhook and restored afterwards.
//!
//! Skipped unless `FERROLB_E2E=1` (see `e2e/run.sh`).
#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::otelcol::{self, Collector};
use ferrolb_e2e::{Rig, wait_for, webhook};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const NS: &str = "ferrolb-e2e-webhook";
const PORT: u16 = 19444;
const TIMEOUT: Duration = Duration::from_secs(30);
const VWC: &str = "metallb-webhook-configuration";
const CRD: &str = "bgppeers.metallb.io";
/// The OpenTelemetry Collector's OTLP/HTTP port for the webhook's traces (+100 × instance).
const OTLP_PORT: u16 = 14320;

/// The running webhook; killed on drop. With the rig's OpenTelemetry Collector, it exports
/// its traces there with a ten-minute batch delay: they arrive only when it stops.
struct Webhook(Child, Option<Collector>);

impl Webhook {
    /// SIGTERM, as the kubelet stops the Pod: the webhook drains its connections and exits 0
    /// within its grace period, flushing the spans it still holds.
    fn terminate(&mut self) -> Result<()> {
        let pid = self.0.id().to_string();
        ferrolb_e2e::run(Command::new("kill").args(["-TERM", pid.as_str()]))?;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if let Some(status) = self.0.try_wait()? {
                ensure!(
                    status.success(),
                    "webhook exited with {status} after SIGTERM"
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("webhook still running 15 s after SIGTERM")
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_webhook(rig: &Rig) -> Result<Webhook> {
    let kubeconfig = rig.kubeconfig_for(NS, "webhook", false)?;
    let collector = match otelcol::binary() {
        Some(bin) => Some(Collector::start(
            rig,
            &bin,
            "webhook",
            None,
            rig.host_port(OTLP_PORT),
        )?),
        None => {
            eprintln!("note: no otelcol-ferrolb: the webhook's trace flush is not checked");
            None
        }
    };
    let otel: Vec<(&str, String)> = match &collector {
        Some(c) => vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", c.endpoint.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000".into()),
        ],
        None => Vec::new(),
    };
    let logs = rig.run_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("ferrolb-webhook.log"))?;
    let child = Command::new(webhook::binary()?)
        .args([
            "--namespace",
            NS,
            "--listen",
            &format!("127.0.0.1:{PORT}"),
            "--health-probe-port",
            "0",
            "--extra-san",
            "127.0.0.1",
            // A 20 s certificate renewed when 10 s are left, checked every 2 s: several
            // rotations within the test.
            "--cert-validity-secs",
            "20",
            "--renew-before-secs",
            "10",
            "--check-interval-secs",
            "2",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("FERROLB_LOG", "info,ferrolb_webhook=debug")
        .envs(otel)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting ferrolb-webhook")?;
    Ok(Webhook(child, collector))
}

/// The webhook configuration of config/webhook/manifests.yaml for this test's namespace, with
/// `url:` client configs (no caBundle: the webhook injects it).
fn webhook_configuration(rig: &Rig) -> Result<Value> {
    let mut vwc = webhook::configuration(rig, NS)?;
    for w in vwc["webhooks"].as_array_mut().context("webhooks")? {
        let path = w["clientConfig"]["service"]["path"]
            .as_str()
            .context("path")?
            .to_owned();
        w["clientConfig"] = json!({"url": format!("https://127.0.0.1:{PORT}{path}")});
    }
    Ok(vwc)
}

fn api(client: &kube::Client, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    webhook::api(client, NS, version, kind, plural)
}

fn obj(api_version: &str, kind: &str, name: &str, spec: Value) -> Result<DynamicObject> {
    webhook::obj(NS, api_version, kind, name, spec)
}

async fn create(api: &Api<DynamicObject>, o: &DynamicObject) -> Result<(), String> {
    api.create(&PostParams::default(), o)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Installs CRDs, RBAC, the webhook configuration and the conversion client config.
async fn setup(rig: &Rig, client: &kube::Client) -> Result<()> {
    rig.apply_server_side(&webhook::project().join("config/crd/bases"))?;
    rig.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        &format!("crd/{CRD}"),
    ])?;
    let _ = rig.kubectl(&["create", "namespace", NS]);
    webhook::rbac(rig, NS)?;
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let _ = vwcs.delete(VWC, &DeleteParams::default()).await;
    vwcs.create(
        &PostParams::default(),
        &serde_json::from_value(webhook_configuration(rig)?)?,
    )
    .await
    .context("creating the ValidatingWebhookConfiguration")?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let patch = json!({"spec": {"conversion": {"webhook": {"clientConfig": {
        "service": null, "url": format!("https://127.0.0.1:{PORT}/convert")}}}}});
    crds.patch(CRD, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn teardown(rig: &Rig, client: &kube::Client) {
    webhook::teardown(rig, client, NS).await;
}

#[tokio::test]
async fn webhook_validates_converts_and_rotates() -> Result<()> {
    let Some(rig) = Rig::from_env("webhook_validates_converts_and_rotates") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    setup(&rig, &client).await?;
    let result = scenario(&rig, &client).await;
    teardown(&rig, &client).await;
    result
}

/// End-to-end admission latency through the API server: dry-run creates (admitted by the
/// webhook, not persisted) at 200 requests/s for 30 s, latency seen by the client.
///
/// `FERROLB_E2E=1 FERROLB_WEBHOOK_BIN=target/release/ferrolb-webhook cargo test -p ferrolb-e2e --test webhook -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_admission_through_apiserver() -> Result<()> {
    let Some(rig) = Rig::from_env("bench_admission_through_apiserver") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    setup(&rig, &client).await?;
    let result = bench(&rig, &client).await;
    teardown(&rig, &client).await;
    result
}

async fn bench(rig: &Rig, client: &kube::Client) -> Result<()> {
    let _webhook = start_webhook(rig)?;
    let diag = || rig.log_tail("ferrolb-webhook", 40);
    let pools = api(client, "v1beta1", "IPAddressPool", "ipaddresspools");
    for i in 0..20 {
        let o = obj(
            "metallb.io/v1beta1",
            "IPAddressPool",
            &format!("base{i}"),
            json!({"addresses": [format!("10.88.{i}.0/24")]}),
        )?;
        wait_for("base pools admitted", TIMEOUT, diag, || async {
            match create(&pools, &o).await {
                Ok(()) => Ok(Some(())),
                Err(e) if e.contains("already exists") => Ok(Some(())),
                Err(e) => anyhow::bail!(e),
            }
        })
        .await?;
    }
    // Baseline: the same load with no webhook registered.
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    vwcs.delete(VWC, &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = load(&pools, "b").await?;
    vwcs.create(
        &PostParams::default(),
        &serde_json::from_value(webhook_configuration(rig)?)?,
    )
    .await?;
    wait_for("caBundle re-injected", TIMEOUT, diag, || {
        webhook::ca_bundle_injected(&vwcs, VWC)
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with = load(&pools, "w").await?;
    println!("BENCH admission through the apiserver, no webhook: {baseline}");
    println!("BENCH admission through the apiserver, ferrolb-webhook: {with}");
    ensure!(with.contains(", 0 failed;"), "requests failed: {with}");
    Ok(())
}

/// 200 dry-run creates/s for 30 s; a one-line summary.
async fn load(pools: &Api<DynamicObject>, tag: &str) -> Result<String> {
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let (rate, secs) = (200u64, 30u64);
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = Vec::new();
    for i in 0..rate * secs {
        tick.tick().await;
        let (pools, dry) = (pools.clone(), dry.clone());
        let o = obj(
            "metallb.io/v1beta1",
            "IPAddressPool",
            &format!("bench-{tag}{i}"),
            json!({"addresses": [format!("10.99.{}.{}/32", i / 256 % 256, i % 256)]}),
        )?;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = pools.create(&dry, &o).await;
            (t.elapsed(), r.is_ok())
        }));
    }
    let mut lat = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (d, ok) = t.await?;
        lat.push(d);
        failed += usize::from(!ok);
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Ok(format!(
        "{} dry-run creates at {rate}/s for {secs} s, {failed} failed; p50 {:?} p99 {:?} max {:?}",
        lat.len(),
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    ))
}

async fn scenario(rig: &Rig, client: &kube::Client) -> Result<()> {
    let mut webhook = start_webhook(rig)?;
    admissions(rig, client).await?;
    // Stopped like a Pod: exits 0 and flushes its spans (held back by the batch delay).
    webhook.terminate()?;
    webhook_down(client).await?;
    if let Some(c) = &webhook.1 {
        let spans = c.spans()?;
        let denied = spans.iter().find(|s| {
            s.name == "admission"
                && s.attr("kind") == "IPAddressPool"
                && s.attr("allowed") == "false"
        });
        ensure!(
            denied.is_some(),
            "no denied IPAddressPool admission span flushed at SIGTERM: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// With no webhook answering (the configuration still registered): creating a pool is refused
/// (`failurePolicy: Fail`), deleting one is not (its DELETE check has `failurePolicy: Ignore`).
async fn webhook_down(client: &kube::Client) -> Result<()> {
    let pools = api(client, "v1beta1", "IPAddressPool", "ipaddresspools");
    let new = obj(
        "metallb.io/v1beta1",
        "IPAddressPool",
        "while-down",
        json!({"addresses": ["192.168.11.0/24"]}),
    )?;
    let err = create(&pools, &new).await.err();
    ensure!(
        err.as_deref()
            .is_some_and(|e| e.contains("ipaddresspoolvalidationwebhook.metallb.io")),
        "creating a pool with the webhook down: {err:?}"
    );
    pools
        .delete("a", &DeleteParams::default())
        .await
        .context("deleting pool a with the webhook down was refused")?;
    Ok(())
}

/// The admission, conversion and rotation checks against the running webhook.
async fn admissions(rig: &Rig, client: &kube::Client) -> Result<()> {
    let diag = || rig.log_tail("ferrolb-webhook", 40);
    // The webhook creates its Secret and injects the bundle everywhere.
    let vwcs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    wait_for(
        "caBundle injected into every webhook",
        TIMEOUT,
        diag,
        || webhook::ca_bundle_injected(&vwcs, VWC),
    )
    .await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_for(
        "caBundle injected into the BGPPeer CRD",
        TIMEOUT,
        diag,
        || async {
            let c = crds.get(CRD).await?;
            Ok(c.spec
                .conversion
                .and_then(|c| c.webhook)
                .and_then(|w| w.client_config)
                .and_then(|c| c.ca_bundle)
                .map(|_| ()))
        },
    )
    .await?;

    let pools = api(client, "v1beta1", "IPAddressPool", "ipaddresspools");
    // The webhook may still be syncing its stores: retry the first valid create.
    wait_for("first pool admitted", TIMEOUT, diag, || async {
        match create(
            &pools,
            &obj(
                "metallb.io/v1beta1",
                "IPAddressPool",
                "a",
                json!({"addresses": ["192.168.10.0/24"]}),
            )?,
        )
        .await
        {
            Ok(()) => Ok(Some(())),
            Err(e) if e.contains("AlreadyExists") || e.contains("already exists") => Ok(Some(())),
            Err(e) => anyhow::bail!(e),
        }
    })
    .await?;
    let overlap = obj(
        "metallb.io/v1beta1",
        "IPAddressPool",
        "b",
        json!({"addresses": ["192.168.10.128-192.168.10.130"]}),
    )?;
    let err = wait_for("overlapping pool denied", TIMEOUT, diag, || async {
        Ok(create(&pools, &overlap).await.err())
    })
    .await?;
    ensure!(
        err.contains("ipaddresspoolvalidationwebhook.metallb.io")
            && err.contains("CIDR \"192.168.10.128/31\" in pool \"b\" overlaps with already defined CIDR \"192.168.10.0/24\""),
        "unexpected denial: {err}"
    );

    let peers2 = api(client, "v1beta2", "BGPPeer", "bgppeers");
    let bad_peer = obj(
        "metallb.io/v1beta2",
        "BGPPeer",
        "ibgp",
        json!({"myASN": 64512, "peerASN": 64512, "ebgpMultiHop": true, "peerAddress": "10.0.0.1"}),
    )?;
    let err = create(&peers2, &bad_peer)
        .await
        .err()
        .context("iBGP multihop peer admitted")?;
    ensure!(
        err.contains("invalid ebgp-multihop parameter set for an ibgp peer"),
        "{err}"
    );

    // BFD profile in use cannot be deleted.
    let bfd = api(client, "v1beta1", "BFDProfile", "bfdprofiles");
    create(
        &bfd,
        &obj(
            "metallb.io/v1beta1",
            "BFDProfile",
            "fast",
            json!({"receiveInterval": 100}),
        )?,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    create(&peers2, &obj("metallb.io/v1beta2", "BGPPeer", "uses-bfd", json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.2", "bfdProfile": "fast"}))?)
        .await
        .map_err(anyhow::Error::msg)?;
    // The webhook reads peers from its watch cache: wait (with dry-run deletes, which go
    // through admission too) until it has seen the new peer.
    let dry = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    let err = wait_for("BFDProfile delete denied", TIMEOUT, diag, || async {
        Ok(bfd.delete("fast", &dry).await.err().map(|e| e.to_string()))
    })
    .await?;
    ensure!(
        err.contains("failed to delete BFDProfile fast, used by BGPPeer uses-bfd"),
        "{err}"
    );
    let err = bfd
        .delete("fast", &DeleteParams::default())
        .await
        .err()
        .context("BFDProfile in use deleted")?
        .to_string();
    ensure!(
        err.contains("failed to delete BFDProfile fast, used by BGPPeer uses-bfd"),
        "{err}"
    );

    // Conversion, v1beta2 → v1beta1 (webhook `ConvertFrom`): written as v1beta2 (the storage
    // version), read as v1beta1: unset timers read back as `0s`, v1beta2-only fields dropped.
    let peers1 = api(client, "v1beta1", "BGPPeer", "bgppeers");
    create(&peers2, &obj("metallb.io/v1beta2", "BGPPeer", "modern", json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.4", "connectTime": "5s", "nodeSelectors": [{"matchLabels": {"kubernetes.io/hostname": "node-1"}}]}))?)
        .await
        .map_err(anyhow::Error::msg)?;
    let as1 = peers1.get("modern").await?;
    ensure!(as1.types.as_ref().map(|t| t.api_version.as_str()) == Some("metallb.io/v1beta1"));
    let spec = &as1.data["spec"];
    ensure!(
        spec["holdTime"] == "0s"
            && spec["keepaliveTime"] == "0s"
            && spec.get("connectTime").is_none(),
        "{spec}"
    );
    ensure!(
        spec["peerAddress"] == "10.0.0.4"
            && spec["nodeSelectors"][0]["matchLabels"]["kubernetes.io/hostname"] == "node-1",
        "{spec}"
    );
    let back = peers2.get("modern").await?;
    ensure!(
        back.data["spec"]["connectTime"] == "5s",
        "v1beta2 read keeps every field"
    );

    // v1beta1 → v1beta2 (`ConvertTo`) on write: unset v1beta1 timers surface as `0s`.
    create(
        &peers1,
        &obj(
            "metallb.io/v1beta1",
            "BGPPeer",
            "legacy",
            json!({"myASN": 64512, "peerASN": 64513, "peerAddress": "10.0.0.3"}),
        )?,
    )
    .await
    .map_err(|e| anyhow::anyhow!("v1beta1 write failed: {e}"))?;
    let as2 = peers2.get("legacy").await?;
    ensure!(
        as2.data["spec"]["holdTime"] == "0s" && as2.data["spec"]["keepaliveTime"] == "0s",
        "{:?}",
        as2.data
    );

    // Rotation under load: apply continuously for 25 s while the 20 s certificate renews.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let cert_of = |s: Secret| -> Option<Vec<u8>> { s.data?.get("tls.crt").map(|b| b.0.clone()) };
    let first = cert_of(secrets.get("metallb-webhook-cert").await?);
    let (mut ok, mut failed, mut certs) = (0u32, Vec::new(), vec![first.clone()]);
    let start = Instant::now();
    let mut i = 0u32;
    while start.elapsed() < Duration::from_secs(25) {
        i += 1;
        let name = format!("rot-{}", i % 5);
        let patch = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"addresses": [format!("10.77.{}.0/24", i % 5)], "autoAssign": i.is_multiple_of(2)}});
        match pools
            .patch(
                &name,
                &PatchParams::apply("ferrolb-e2e-webhook").force(),
                &Patch::Apply(&patch),
            )
            .await
        {
            Ok(_) => ok += 1,
            Err(e) => failed.push(e.to_string()),
        }
        let c = cert_of(secrets.get("metallb-webhook-cert").await?);
        if certs.last() != Some(&c) {
            certs.push(c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "rotation: {ok} applies ok, {} failed, {} serving certificates seen",
        failed.len(),
        certs.len()
    );
    ensure!(
        failed.is_empty(),
        "applies failed during rotation: {failed:?}\n{}",
        diag()
    );
    ensure!(
        certs.len() >= 2,
        "the serving certificate was not renewed during the test\n{}",
        diag()
    );
    Ok(())
}
