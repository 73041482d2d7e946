//! Data safety of the controller (issue 14), as ServiceAccount `metallb-system/controller` with
//! exactly `config/rbac/controller.yaml`:
//! - `a_one_leader_allocates_and_hands_over`: two controllers (Pods `ha-a`, `ha-b`) elect one
//!   leader over Lease `ferrolb-controller`; a burst of Services gets distinct IPs, and every
//!   `IPAllocated` event comes from the Lease's holder (the other never wrote). Killing the
//!   leader hands the Lease to the other within the lease duration plus a retry period, and the
//!   new leader allocates (without reusing an IP); stopped with SIGTERM, it releases the Lease.
//! - `b_written_objects_come_back_at_once`: ConfigurationState `controller`, deleted, and a
//!   pool's status, cleared, are written again within a few seconds (not at the 30 s resync).
//! - `c_memberlist_secret_recreated_without_owner`: the speakers' key Secret, deleted, is
//!   recreated at once, without an ownerReference (so replacing the controller Deployment does
//!   not garbage-collect it).
//!
//! The controllers run with short election timings (lease 4 s, renew deadline 3 s, retry 1 s)
//! and an `--lb-class` of their own. Shared-rig hygiene: the test's pool, namespace and Lease
//! are removed afterwards and the memberlist Secret is put back as found.
//!
//! Skipped unless `FERROLB_E2E=1` (see `e2e/run.sh`).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::procs::{self, Proc};
use ferrolb_e2e::{Rig, wait_for};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const NS: &str = "metallb-system";
const CLASS: &str = "ferrolb.io/e2e-ha";
const POOL: &str = "e2e-ha";
const LEASE: &str = "ferrolb-controller";
const SECRET: &str = "metallb-memberlist";
const TIMEOUT: Duration = Duration::from_secs(30);
/// `--leader-elect-lease-duration` and `--leader-elect-retry-period` of the test's controllers.
const LEASE_DURATION: Duration = Duration::from_secs(4);
const RETRY: Duration = Duration::from_secs(1);
/// How soon a deleted object must be back: well under the 30 s resync.
const REPAIR: Duration = Duration::from_secs(8);

/// Starts a controller as if in Pod `pod`, logging to `ferrolb-operator-<pod>.log`.
fn start(rig: &Rig, pod: &str, memberlist: bool) -> Result<Proc> {
    let kubeconfig = rig.kubeconfig_for(NS, "controller", false)?;
    let log = format!("ferrolb-operator-{pod}");
    let _ = std::fs::remove_file(rig.run_dir.join("logs").join(format!("{log}.log")));
    let out = rig.log_file(&log)?;
    let mut cmd = Command::new(procs::binary("ferrolb-operator")?);
    cmd.env("KUBECONFIG", &kubeconfig)
        .env("METALLB_NAMESPACE", NS)
        .env("METALLB_LB_CLASS", CLASS)
        .env("METALLB_POD_NAME", pod)
        .env(
            "FERROLB_LOG",
            "info,ferrolb_operator=debug,ferrolb_kube=debug",
        )
        .args([
            "--port=0",
            "--health-probe-port=0",
            "--leader-elect-lease-duration=4s",
            "--leader-elect-renew-deadline=3s",
            "--leader-elect-retry-period=1s",
        ])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    if memberlist {
        cmd.env("METALLB_ML_SECRET_NAME", SECRET)
            .env("METALLB_DEPLOYMENT", "controller");
    }
    Ok(Proc(cmd.spawn().context("starting ferrolb-operator")?))
}

fn diag(rig: &Rig) -> String {
    format!(
        "{}\n--- lease ---\n{}\n--- ha-a ---\n{}\n--- ha-b ---\n{}",
        rig.diagnostics(Some(NS)),
        rig.kubectl(&["get", "lease", LEASE, "-n", NS, "-o", "yaml"])
            .unwrap_or_default(),
        rig.log_tail("ferrolb-operator-ha-a", 30),
        rig.log_tail("ferrolb-operator-ha-b", 30),
    )
}

/// Namespace, CRDs, RBAC; the test's pool (TEST-NET-2, used by no other test) and namespace;
/// no Lease left by an earlier test (its holder is gone).
async fn setup(rig: &Rig, client: &kube::Client, ns: &str) -> Result<()> {
    procs::install_base(rig, &["controller"])?;
    let _ = Api::<Lease>::namespaced(client.clone(), NS)
        .delete(LEASE, &DeleteParams::default())
        .await;
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ns,
        "--ignore-not-found",
        "--wait=true",
    ]);
    rig.kubectl(&["create", "namespace", ns])?;
    let pool = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {POOL}, namespace: {NS}}}\n\
         spec: {{addresses: [198.51.100.0/24], serviceAllocation: {{namespaces: [{ns}]}}}}\n"
    );
    let path = rig.run_dir.join("controller-ha-pool.yaml");
    std::fs::write(&path, pool)?;
    rig.apply_server_side(&path)?;
    Ok(())
}

fn teardown(rig: &Rig, ns: &str) {
    let _ = rig.kubectl(&[
        "delete",
        "ipaddresspool",
        POOL,
        "-n",
        NS,
        "--ignore-not-found",
    ]);
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ns,
        "--ignore-not-found",
        "--wait=false",
    ]);
    let _ = rig.kubectl(&["delete", "lease", LEASE, "-n", NS, "--ignore-not-found"]);
}

async fn create_services(client: &kube::Client, ns: &str, names: &[String]) -> Result<()> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    for name in names {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": CLASS,
                     "ports": [{"port": 80}], "selector": {"app": name}},
        }))?;
        api.create(&PostParams::default(), &svc)
            .await
            .with_context(|| format!("creating Service {ns}/{name}"))?;
    }
    Ok(())
}

/// Service name → its ingress IPs, once every one of `names` has one.
async fn wait_all_ips(
    rig: &Rig,
    client: &kube::Client,
    ns: &str,
    names: &[String],
) -> Result<BTreeMap<String, Vec<String>>> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    wait_for(
        &format!("{} Services in {ns} to get an IP", names.len()),
        TIMEOUT,
        || diag(rig),
        || async {
            let mut out = BTreeMap::new();
            for s in api.list(&ListParams::default()).await? {
                let ips: Vec<String> = s
                    .status
                    .and_then(|s| s.load_balancer)
                    .and_then(|lb| lb.ingress)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| i.ip)
                    .collect();
                if !ips.is_empty() {
                    out.insert(s.metadata.name.unwrap_or_default(), ips);
                }
            }
            Ok(names.iter().all(|n| out.contains_key(n)).then_some(out))
        },
    )
    .await
}

fn no_duplicates(ips: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let all: Vec<&String> = ips.values().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    ensure!(
        all.len() == distinct.len(),
        "an IP was given twice: {ips:?}"
    );
    Ok(())
}

async fn holder(client: &kube::Client) -> Result<Option<String>> {
    let lease = Api::<Lease>::namespaced(client.clone(), NS)
        .get_opt(LEASE)
        .await?;
    Ok(lease.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

/// The `reportingInstance`s of the `IPAllocated` events on Services of `ns`.
async fn allocators(client: &kube::Client, ns: &str) -> Result<BTreeSet<String>> {
    let events = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await?;
    Ok(events
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("IPAllocated"))
        .filter_map(|e| e.reporting_instance)
        .collect())
}

#[tokio::test]
async fn a_one_leader_allocates_and_hands_over() -> Result<()> {
    let Some(rig) = Rig::from_env("controller_ha::a_one_leader_allocates_and_hands_over") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = "e2e-ha";
    setup(&rig, &client, ns).await?;
    let res = one_leader_allocates_and_hands_over(&rig, &client, ns).await;
    teardown(&rig, ns);
    res
}

async fn one_leader_allocates_and_hands_over(
    rig: &Rig,
    client: &kube::Client,
    ns: &str,
) -> Result<()> {
    let mut procs = BTreeMap::from([
        ("ha-a".to_string(), start(rig, "ha-a", false)?),
        ("ha-b".to_string(), start(rig, "ha-b", false)?),
    ]);
    let leader = wait_for("a Lease holder", TIMEOUT, || diag(rig), || holder(client)).await?;
    ensure!(procs.contains_key(&leader), "unknown holder {leader:?}");
    let burst: Vec<String> = (0..20).map(|i| format!("burst-{i}")).collect();
    create_services(client, ns, &burst).await?;
    let ips = wait_all_ips(rig, client, ns, &burst).await?;
    no_duplicates(&ips)?;
    let writers = wait_for(
        "IPAllocated events",
        TIMEOUT,
        || diag(rig),
        || async {
            let w = allocators(client, ns).await?;
            Ok((!w.is_empty()).then_some(w))
        },
    )
    .await?;
    ensure!(
        writers == BTreeSet::from([leader.clone()]),
        "IPs were allocated by {writers:?}, the leader is {leader:?}\n{}",
        diag(rig)
    );
    // Kill the leader (no release of the Lease): the other takes over within a lease duration
    // (plus the retry period of its look and one of the holder's last renewal).
    let killed = Instant::now();
    procs.remove(&leader);
    let bound = LEASE_DURATION + 2 * RETRY + Duration::from_secs(2);
    let next = wait_for(
        "the Lease handed over",
        bound,
        || diag(rig),
        || async { Ok(holder(client).await?.filter(|h| *h != leader)) },
    )
    .await?;
    ensure!(procs.contains_key(&next), "unknown holder {next:?}");
    eprintln!("handover to {next} after {:?}", killed.elapsed());
    let more: Vec<String> = (0..5).map(|i| format!("after-{i}")).collect();
    create_services(client, ns, &more).await?;
    let all: Vec<String> = burst.iter().chain(&more).cloned().collect();
    let ips = wait_all_ips(rig, client, ns, &all).await?;
    no_duplicates(&ips)?;
    let writers = allocators(client, ns).await?;
    ensure!(
        writers == BTreeSet::from([leader.clone(), next.clone()]),
        "allocations by {writers:?} (old leader {leader}, new {next})"
    );
    // A stopped (not crashed) leader gives the Lease up at once for its successor.
    let pid = procs.get(&next).context("new leader")?.pid().to_string();
    ferrolb_e2e::run(Command::new("kill").args(["-TERM", &pid]))?;
    wait_for(
        "the Lease released on SIGTERM",
        LEASE_DURATION,
        || diag(rig),
        || async { Ok(holder(client).await?.is_none().then_some(())) },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn b_written_objects_come_back_at_once() -> Result<()> {
    let Some(rig) = Rig::from_env("controller_ha::b_written_objects_come_back_at_once") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = "e2e-ha-status";
    setup(&rig, &client, ns).await?;
    let res = written_objects_come_back_at_once(&rig, &client).await;
    teardown(&rig, ns);
    res
}

async fn pool_has_status(client: &kube::Client) -> Result<Option<()>> {
    let pool = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        NS,
        &kube::api::ApiResource {
            group: "metallb.io".into(),
            version: "v1beta1".into(),
            api_version: "metallb.io/v1beta1".into(),
            kind: "IPAddressPool".into(),
            plural: "ipaddresspools".into(),
        },
    )
    .get(POOL)
    .await?;
    let conditions = &pool.data["status"]["conditions"];
    Ok(conditions
        .as_array()
        .is_some_and(|c| !c.is_empty())
        .then_some(()))
}

async fn written_objects_come_back_at_once(rig: &Rig, client: &kube::Client) -> Result<()> {
    let _a = start(rig, "ha-a", false)?;
    let states = kube::api::ApiResource {
        group: "metallb.io".into(),
        version: "v1beta1".into(),
        api_version: "metallb.io/v1beta1".into(),
        kind: "ConfigurationState".into(),
        plural: "configurationstates".into(),
    };
    let api = Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), NS, &states);
    let state_uid = || async {
        Ok(api
            .get_opt("controller")
            .await?
            .filter(|s| s.data["status"]["result"].is_string())
            .and_then(|s| s.metadata.uid))
    };
    let first = wait_for(
        "ConfigurationState controller",
        TIMEOUT,
        || diag(rig),
        state_uid,
    )
    .await?;
    wait_for(
        "pool status",
        TIMEOUT,
        || diag(rig),
        || pool_has_status(client),
    )
    .await?;
    // Well after the first writes, so no write is in flight or settling.
    tokio::time::sleep(Duration::from_secs(3)).await;
    api.delete("controller", &DeleteParams::default()).await?;
    let deleted = Instant::now();
    let second = wait_for(
        "ConfigurationState controller recreated",
        REPAIR,
        || diag(rig),
        || async { Ok(state_uid().await?.filter(|u| *u != first)) },
    )
    .await?;
    eprintln!("ConfigurationState back after {:?}", deleted.elapsed());
    ensure!(second != first);
    // The patch's own answer proves it cleared the status: a GET after it can already see the
    // controller's repair (seen once under load, 2026-12-06).
    let patched: serde_json::Value = serde_json::from_str(&rig.kubectl(&[
        "patch",
        "ipaddresspool",
        POOL,
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-o",
        "json",
        "-p",
        r#"{"status":{"conditions":[],"assignedIPv4":0,"availableIPv4":0}}"#,
    ])?)?;
    let cleared = Instant::now();
    ensure!(
        patched["status"]["conditions"]
            .as_array()
            .is_none_or(|c| c.is_empty()),
        "the status was not cleared: {}",
        patched["status"]
    );
    wait_for(
        "pool status rewritten",
        REPAIR,
        || diag(rig),
        || pool_has_status(client),
    )
    .await?;
    eprintln!("pool status back after {:?}", cleared.elapsed());
    Ok(())
}

#[tokio::test]
async fn c_memberlist_secret_recreated_without_owner() -> Result<()> {
    let Some(rig) = Rig::from_env("controller_ha::c_memberlist_secret_recreated_without_owner")
    else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = "e2e-ha-ml";
    setup(&rig, &client, ns).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let saved = secrets.get_opt(SECRET).await?.and_then(|s| s.data);
    let res = memberlist_secret_recreated(&rig, &secrets).await;
    // Put the Secret back as found (the controller is stopped by now).
    let _ = secrets.delete(SECRET, &DeleteParams::default()).await;
    let restored = async {
        wait_for(
            "memberlist Secret gone",
            TIMEOUT,
            || diag(&rig),
            || async { Ok(secrets.get_opt(SECRET).await?.is_none().then_some(())) },
        )
        .await?;
        if let Some(data) = saved {
            let mut s = Secret::default();
            s.metadata.name = Some(SECRET.into());
            s.data = Some(data);
            secrets.create(&PostParams::default(), &s).await?;
        }
        anyhow::Ok(())
    }
    .await;
    teardown(&rig, ns);
    res.and(restored.context("restoring the memberlist Secret"))
}

async fn memberlist_secret_recreated(rig: &Rig, secrets: &Api<Secret>) -> Result<()> {
    let _a = start(rig, "ha-a", true)?;
    let key_uid = || async {
        Ok(secrets.get_opt(SECRET).await?.and_then(|s| {
            let key = s.data.as_ref()?.get("secretkey")?.0.clone();
            Some((s.metadata.uid?, key, s.metadata.owner_references))
        }))
    };
    let (uid, _, _) = wait_for("memberlist Secret", TIMEOUT, || diag(rig), key_uid).await?;
    secrets.delete(SECRET, &DeleteParams::default()).await?;
    let deleted = Instant::now();
    let (uid2, key, owners) = wait_for(
        "memberlist Secret recreated",
        REPAIR,
        || diag(rig),
        || async { Ok(key_uid().await?.filter(|(u, _, _)| *u != uid)) },
    )
    .await?;
    eprintln!("memberlist Secret back after {:?}", deleted.elapsed());
    ensure!(uid2 != uid);
    ensure!(
        key.len() == 22,
        "secretkey {:?}",
        String::from_utf8_lossy(&key)
    );
    ensure!(
        owners.unwrap_or_default().is_empty(),
        "the Secret must have no owner (it would go with the Deployment)"
    );
    // Patch a foreign label in: the key and uid stay (nothing recreates or rewrites it).
    secrets
        .patch(
            SECRET,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"e2e": "touched"}}})),
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (uid3, key3, _) = key_uid().await?.context("Secret gone")?;
    ensure!(
        (uid3, key3) == (uid2, key),
        "an existing Secret must be left as it is"
    );
    Ok(())
}
