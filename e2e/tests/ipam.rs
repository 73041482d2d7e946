//! ferrolb's API and controller on the real control plane:
//! - the generated CRDs and every shared example apply server-side, and `kubectl get` shows
//!   MetalLB's printer columns;
//! - the controller (`ferrolb-operator`), running as ServiceAccount `metallb-system/controller`
//!   with exactly `config/rbac/controller.yaml`, gives the guides' IPs, keeps them across a
//!   restart, moves only invalidated Services on a pool edit, and keeps the last good
//!   configuration when a pool becomes invalid.
//!
//! Skipped unless `FERROLB_E2E=1` (see `e2e/run.sh`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::procs::{self, OperatorOpts, Proc, project};
use ferrolb_e2e::{Rig, wait_for};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

fn examples() -> PathBuf {
    project().join("api/tests/data/examples")
}

/// Applies namespace, CRDs and the controller's RBAC.
fn install_base(rig: &Rig) -> Result<()> {
    procs::install_base(rig, &["controller"])
}

/// Starts the controller with a token of its own ServiceAccount (not admin).
fn start_operator(rig: &Rig) -> Result<Proc> {
    procs::start_operator(rig, OperatorOpts::default())
}

fn diag(rig: &Rig) -> String {
    format!(
        "{}\n--- services ---\n{}\n--- operator log ---\n{}",
        rig.diagnostics(Some("metallb-system")),
        rig.kubectl(&["get", "svc", "-A", "-o", "wide"])
            .unwrap_or_default(),
        rig.log_tail("ferrolb-operator", 40)
    )
}

async fn lb_service(
    client: &kube::Client,
    ns: &str,
    name: &str,
    extra: serde_json::Value,
) -> Result<()> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let mut svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": name}},
    });
    if let Some(spec) = extra.get("spec").and_then(|s| s.as_object()) {
        for (k, v) in spec {
            svc["spec"][k] = v.clone();
        }
    }
    api.patch(
        name,
        &PatchParams::apply("ferrolb-e2e").force(),
        &Patch::Apply(&svc),
    )
    .await
    .with_context(|| format!("creating Service {ns}/{name}"))?;
    Ok(())
}

/// The legacy ConfigMap's `ferrolb.io/migration` annotation (the migration's outcome).
fn migration_note(rig: &Rig) -> Result<String> {
    rig.kubectl(&[
        "get",
        "configmap",
        "config",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.metadata.annotations.ferrolb\\.io/migration}",
    ])
}

async fn ingress(client: &kube::Client, ns: &str, name: &str) -> Result<Vec<String>> {
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .get(name)
        .await?;
    Ok(svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.ip)
        .collect())
}

async fn wait_ip(rig: &Rig, client: &kube::Client, ns: &str, name: &str, want: &str) -> Result<()> {
    wait_for(
        &format!("{ns}/{name} to get EXTERNAL-IP {want}"),
        TIMEOUT,
        || diag(rig),
        || async { Ok((ingress(client, ns, name).await? == [want.to_string()]).then_some(())) },
    )
    .await
}

fn fresh_namespace(rig: &Rig, name: &str) -> Result<()> {
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        name,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
    ]);
    rig.kubectl(&["create", "namespace", name])?;
    Ok(())
}

/// Removes every pool, advertisement and the legacy ConfigMap (other tests apply examples
/// that contain them), waiting until they are gone.
fn delete_pools(rig: &Rig) {
    let _ = rig.kubectl(&[
        "delete",
        "configmap",
        "config",
        "-n",
        "metallb-system",
        "--ignore-not-found",
        "--wait=true",
    ]);
    let _ = rig.kubectl(&[
        "delete",
        "ipaddresspools,l2advertisements,bgpadvertisements,bgppeers,communities,bfdprofiles",
        "--all",
        "-n",
        "metallb-system",
        "--wait=true",
    ]);
}

#[tokio::test]
async fn a_crds_and_every_example_apply_with_printer_columns() -> Result<()> {
    let Some(rig) = Rig::from_env("a_crds_and_every_example_apply_with_printer_columns") else {
        return Ok(());
    };
    install_base(&rig)?;
    let _ = rig.kubectl(&["create", "namespace", "kubeflow"]);
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    ensure!(
        files.len() >= 5,
        "expected the shared examples in {}",
        examples().display()
    );
    for f in &files {
        rig.apply_server_side(f)
            .with_context(|| format!("applying {}", f.display()))?;
    }
    let table = rig.kubectl(&["get", "ipaddresspools", "-n", "metallb-system"])?;
    let header = table.lines().next().unwrap_or_default();
    for col in ["NAME", "AUTO ASSIGN", "AVOID BUGGY IPS", "ADDRESSES"] {
        ensure!(
            header.contains(col),
            "printer column {col:?} missing in:\n{table}"
        );
    }
    ensure!(
        table.contains("ipaddresspool") && table.contains("192.168.0.200-192.168.0.250"),
        "{table}"
    );
    // v1beta2 BGPPeer is the storage version and reads back with its defaults applied.
    let port = rig.kubectl(&[
        "get",
        "bgppeers.v1beta2.metallb.io",
        "tor-router",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.spec.peerPort}",
    ])?;
    ensure!(port.trim() == "179", "peerPort default: {port:?}");
    for f in files.iter().rev() {
        let _ = rig.kubectl(&[
            "delete",
            "--ignore-not-found",
            "--wait=false",
            "-f",
            &f.to_string_lossy(),
        ]);
    }
    Ok(())
}

#[tokio::test]
async fn b_controller_gives_guide_ips_and_survives_restart() -> Result<()> {
    let Some(rig) = Rig::from_env("b_controller_gives_guide_ips_and_survives_restart") else {
        return Ok(());
    };
    install_base(&rig)?;
    delete_pools(&rig);
    let client = rig.admin_client().await?;
    let ns = "ipam-guide";
    fresh_namespace(&rig, ns)?;
    rig.apply_server_side(&examples().join("helm-l2-pool.yaml"))?;
    let operator = start_operator(&rig)?;

    // helm-l2-pool: the first Service gets the first address of the pool.
    lb_service(&client, ns, "traefik", json!({})).await?;
    wait_ip(&rig, &client, ns, "traefik", "192.168.0.200").await?;
    let ann = rig.kubectl(&[
        "get",
        "svc",
        "traefik",
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.annotations.metallb\\.io/ip-allocated-from-pool}",
    ])?;
    ensure!(ann.trim() == "ipaddresspool", "annotation: {ann:?}");
    // Two more Services: consecutive addresses.
    lb_service(&client, ns, "svc2", json!({})).await?;
    wait_ip(&rig, &client, ns, "svc2", "192.168.0.201").await?;
    lb_service(&client, ns, "svc3", json!({})).await?;
    wait_ip(&rig, &client, ns, "svc3", "192.168.0.202").await?;
    // A requested IP is honoured.
    lb_service(
        &client,
        ns,
        "asks",
        json!({"spec": {"loadBalancerIP": "192.168.0.240"}}),
    )
    .await?;
    wait_ip(&rig, &client, ns, "asks", "192.168.0.240").await?;

    // Pool status and the controller's ConfigurationState.
    wait_for("pool status counters", TIMEOUT, || diag(&rig), || async {
        let out = rig.kubectl(&["get", "ipaddresspool", "ipaddresspool", "-n", "metallb-system", "-o", "jsonpath={.status.assignedIPv4}/{.status.availableIPv4}/{.status.conditions[0].status}"])?;
        Ok((out.trim() == "4/47/True").then_some(()))
    })
    .await?;
    let state = rig.kubectl(&[
        "get",
        "configurationstate",
        "controller",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.status.result}",
    ])?;
    ensure!(state.trim() == "Valid", "ConfigurationState: {state:?}");
    let events = rig.kubectl(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        "involvedObject.name=traefik",
        "-o",
        "jsonpath={.items[*].reason}",
    ])?;
    ensure!(events.contains("IPAllocated"), "events: {events:?}");

    // Restart: stop the controller, delete svc2, create a new Service while it is down.
    drop(operator);
    Api::<Service>::namespaced(client.clone(), ns)
        .delete("svc2", &DeleteParams::default())
        .await?;
    lb_service(&client, ns, "late", json!({})).await?;
    let operator = start_operator(&rig)?;
    wait_ip(&rig, &client, ns, "late", "192.168.0.201").await?;
    for (name, ip) in [
        ("traefik", "192.168.0.200"),
        ("svc3", "192.168.0.202"),
        ("asks", "192.168.0.240"),
    ] {
        ensure!(
            ingress(&client, ns, name).await? == [ip.to_string()],
            "{name} kept {ip} across the restart"
        );
    }

    // Pool edit: drop .200-.201 from the pool. Only traefik and late move.
    rig.kubectl(&[
        "patch",
        "ipaddresspool",
        "ipaddresspool",
        "-n",
        "metallb-system",
        "--type=merge",
        "-p",
        r#"{"spec":{"addresses":["192.168.0.202-192.168.0.250"]}}"#,
    ])?;
    wait_for(
        "invalidated Services to move",
        TIMEOUT,
        || diag(&rig),
        || async {
            let t = ingress(&client, ns, "traefik").await?;
            let l = ingress(&client, ns, "late").await?;
            Ok(
                (t.len() == 1
                    && l.len() == 1
                    && !t[0].ends_with(".200")
                    && !l[0].ends_with(".201"))
                .then_some(()),
            )
        },
    )
    .await?;
    ensure!(
        ingress(&client, ns, "svc3").await? == ["192.168.0.202"],
        "svc3 did not move"
    );
    ensure!(
        ingress(&client, ns, "asks").await? == ["192.168.0.240"],
        "asks did not move"
    );
    let moved = rig.kubectl(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        "involvedObject.name=traefik",
        "-o",
        "jsonpath={.items[*].reason}",
    ])?;
    ensure!(moved.contains("ClearAssignment"), "events: {moved:?}");

    // An invalid edit is reported and changes nothing.
    let before = ingress(&client, ns, "traefik").await?;
    rig.kubectl(&[
        "patch",
        "ipaddresspool",
        "ipaddresspool",
        "-n",
        "metallb-system",
        "--type=merge",
        "-p",
        r#"{"spec":{"addresses":["192.168.0.300/24"]}}"#,
    ])?;
    wait_for("Ready=False on the invalid pool", TIMEOUT, || diag(&rig), || async {
        let out = rig.kubectl(&["get", "ipaddresspool", "ipaddresspool", "-n", "metallb-system", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}/{.status.conditions[?(@.type==\"Ready\")].message}"])?;
        Ok((out.starts_with("False/") && out.contains("192.168.0.300/24")).then_some(()))
    })
    .await?;
    let state = rig.kubectl(&[
        "get",
        "configurationstate",
        "controller",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.status.result}",
    ])?;
    ensure!(
        state.trim() == "Invalid",
        "ConfigurationState after a bad edit: {state:?}"
    );
    ensure!(
        ingress(&client, ns, "traefik").await? == before,
        "the last good configuration keeps serving"
    );

    drop(operator);
    delete_pools(&rig);
    // Wait for the namespace to be gone: while it terminates its Services still exist, and a
    // later test's controller would move their (now invalid) IPs into its own pools.
    let _ = rig.kubectl(&["delete", "namespace", ns, "--wait=true", "--timeout=60s"]);
    Ok(())
}

#[tokio::test]
async fn c_controller_rbac_is_least_privilege() -> Result<()> {
    let Some(rig) = Rig::from_env("c_controller_rbac_is_least_privilege") else {
        return Ok(());
    };
    install_base(&rig)?;
    let kubeconfig = rig.kubeconfig_for("metallb-system", "controller", false)?;
    let kc = kubeconfig.to_string_lossy().into_owned();
    let can = |args: &[&str]| -> Result<bool> {
        let mut full = vec!["--kubeconfig", kc.as_str(), "auth", "can-i"];
        full.extend_from_slice(args);
        let out = Command::new(&rig.kubectl).args(&full).output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
    };
    for allowed in [
        &["watch", "services", "-A"][..],
        &["patch", "services", "--subresource=status", "-n", "default"],
        &[
            "patch",
            "ipaddresspools",
            "--subresource=status",
            "-n",
            "metallb-system",
        ],
    ] {
        ensure!(can(allowed)?, "controller should be allowed: {allowed:?}");
    }
    for denied in [
        &["get", "secrets", "-A"][..],
        &["update", "services", "-n", "default"],
        &["patch", "services", "-n", "default"],
        &["list", "configurationstates", "-n", "metallb-system"],
        &["delete", "services", "-n", "default"],
        &["patch", "nodes"],
        &["delete", "namespaces"],
        &["patch", "configmaps", "-n", "default"],
        &["create", "pods", "-n", "default"],
    ] {
        if can(denied)? {
            bail!("controller must not be allowed: {denied:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn d_legacy_configmap_is_migrated_and_services_get_guide_ips() -> Result<()> {
    let Some(rig) = Rig::from_env("d_legacy_configmap_is_migrated_and_services_get_guide_ips")
    else {
        return Ok(());
    };
    install_base(&rig)?;
    delete_pools(&rig);
    let _ = rig.kubectl(&[
        "delete",
        "configmap",
        "config",
        "-n",
        "metallb-system",
        "--ignore-not-found",
    ]);
    let client = rig.admin_client().await?;
    let ns = "ipam-book";
    fresh_namespace(&rig, ns)?;
    // The textbook lab: ConfigMap first (MetalLB v0.11 style), then ferrolb starts.
    rig.apply_server_side(&examples().join("legacy-configmap-book.yaml"))?;
    let _operator = start_operator(&rig)?;
    wait_for(
        "migrated CRs",
        TIMEOUT,
        || diag(&rig),
        || async {
            let out = rig.kubectl(&[
                "get",
                "ipaddresspools,l2advertisements",
                "-n",
                "metallb-system",
                "-o",
                "name",
            ])?;
            Ok((out.contains("ipaddresspool.metallb.io/nginx-ip-range")
                && out.contains("l2advertisement.metallb.io/l2advertisement1"))
            .then_some(()))
        },
    )
    .await?;
    // kubectl expose deployment lb-hname-pods / lb-ip-pods: .11 and .12, a third gets .13.
    lb_service(&client, ns, "lb-hname-pods", json!({})).await?;
    wait_ip(&rig, &client, ns, "lb-hname-pods", "192.168.1.11").await?;
    lb_service(&client, ns, "lb-ip-pods", json!({})).await?;
    wait_ip(&rig, &client, ns, "lb-ip-pods", "192.168.1.12").await?;
    lb_service(&client, ns, "third", json!({})).await?;
    wait_ip(&rig, &client, ns, "third", "192.168.1.13").await?;
    // The ConfigMap's data is untouched; the outcome is recorded on it.
    let data = rig.kubectl(&[
        "get",
        "configmap",
        "config",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.data.config}",
    ])?;
    ensure!(
        data.contains("192.168.1.11-192.168.1.13"),
        "ConfigMap data changed: {data:?}"
    );
    let note = migration_note(&rig)?;
    ensure!(
        note.contains("applied 2 object(s)"),
        "migration annotation: {note:?}"
    );
    // Editing the ConfigMap re-migrates: the pool grows, nobody moves.
    rig.kubectl(&["patch", "configmap", "config", "-n", "metallb-system", "--type=merge", "-p",
        r#"{"data":{"config":"address-pools:\n- name: nginx-ip-range\n  protocol: layer2\n  addresses:\n  - 192.168.1.11-192.168.1.20\n"}}"#])?;
    wait_for(
        "re-migrated pool",
        TIMEOUT,
        || diag(&rig),
        || async {
            let out = rig.kubectl(&[
                "get",
                "ipaddresspool",
                "nginx-ip-range",
                "-n",
                "metallb-system",
                "-o",
                "jsonpath={.spec.addresses[0]}",
            ])?;
            Ok((out.trim() == "192.168.1.11-192.168.1.20").then_some(()))
        },
    )
    .await?;
    for (name, ip) in [
        ("lb-hname-pods", "192.168.1.11"),
        ("lb-ip-pods", "192.168.1.12"),
        ("third", "192.168.1.13"),
    ] {
        ensure!(
            ingress(&client, ns, name).await? == [ip.to_string()],
            "{name} kept {ip}"
        );
    }
    // Shrinking the pool below an IP in use is refused: nothing moves, the pool stays.
    rig.kubectl(&["patch", "configmap", "config", "-n", "metallb-system", "--type=merge", "-p",
        r#"{"data":{"config":"address-pools:\n- name: nginx-ip-range\n  protocol: layer2\n  addresses:\n  - 192.168.1.11-192.168.1.12\n"}}"#])?;
    wait_for(
        "refused shrink recorded",
        TIMEOUT,
        || diag(&rig),
        || async {
            let out = migration_note(&rig)?;
            Ok(out
                .contains("would no longer contain 192.168.1.13")
                .then_some(()))
        },
    )
    .await?;
    let addr = rig.kubectl(&[
        "get",
        "ipaddresspool",
        "nginx-ip-range",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.spec.addresses[0]}",
    ])?;
    ensure!(
        addr.trim() == "192.168.1.11-192.168.1.20",
        "pool shrunk below an IP in use: {addr:?}"
    );
    ensure!(
        ingress(&client, ns, "third").await? == ["192.168.1.13".to_string()],
        "third kept its IP"
    );
    // A broken edit is reported, nothing is applied, and the last good pools keep serving.
    rig.kubectl(&[
        "patch",
        "configmap",
        "config",
        "-n",
        "metallb-system",
        "--type=merge",
        "-p",
        r#"{"data":{"config":"address-pools:\n- name: nginx-ip-range\n  protocl: layer2\n"}}"#,
    ])?;
    wait_for(
        "migration failure recorded",
        TIMEOUT,
        || diag(&rig),
        || async {
            let out = migration_note(&rig)?;
            Ok(out.contains("address-pools[0].protocl").then_some(()))
        },
    )
    .await?;
    let addr = rig.kubectl(&[
        "get",
        "ipaddresspool",
        "nginx-ip-range",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.spec.addresses[0]}",
    ])?;
    ensure!(
        addr.trim() == "192.168.1.11-192.168.1.20",
        "pool changed by a broken ConfigMap: {addr:?}"
    );
    let _ = rig.kubectl(&["delete", "configmap", "config", "-n", "metallb-system"]);
    delete_pools(&rig);
    // Wait for the namespace to be gone: while it terminates its Services still exist, and a
    // later test's controller would move their (now invalid) IPs into its own pools.
    let _ = rig.kubectl(&["delete", "namespace", ns, "--wait=true", "--timeout=60s"]);
    Ok(())
}

#[tokio::test]
async fn e_controller_killed_during_burst_changes_and_duplicates_nothing() -> Result<()> {
    use futures::{StreamExt, TryStreamExt};
    use std::collections::{BTreeMap, BTreeSet};
    let Some(rig) =
        Rig::from_env("e_controller_killed_during_burst_changes_and_duplicates_nothing")
    else {
        return Ok(());
    };
    const N: usize = 300;
    install_base(&rig)?;
    delete_pools(&rig);
    let client = rig.admin_client().await?;
    let ns = "ipam-burst";
    fresh_namespace(&rig, ns)?;
    let pool = project().join("e2e/.run/burst-pool.yaml");
    std::fs::write(
        &pool,
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: burst, namespace: metallb-system}\nspec:\n  addresses: [172.18.200.0/22]\n",
    )?;
    rig.apply_server_side(&pool)?;
    let operator = start_operator(&rig)?;
    let create = |i: usize| {
        let client = client.clone();
        async move { lb_service(&client, ns, &format!("s{i:04}"), json!({})).await }
    };
    // First third, then crash the controller while the rest is being created.
    futures::stream::iter(0..N / 3)
        .map(create)
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    let rest = tokio::spawn({
        let client = client.clone();
        async move {
            futures::stream::iter(N / 3..N)
                .map(|i| {
                    let client = client.clone();
                    async move { lb_service(&client, ns, &format!("s{i:04}"), json!({})).await }
                })
                .buffer_unordered(16)
                .try_collect::<Vec<_>>()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    operator.crash();
    rest.await??;
    let snapshot = |client: kube::Client| async move {
        let list = Api::<Service>::namespaced(client, ns)
            .list(&Default::default())
            .await?;
        let mut out = BTreeMap::new();
        for s in list.items {
            let ips: Vec<String> = s
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|l| l.ingress)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.ip)
                .collect();
            let pool = s
                .metadata
                .annotations
                .unwrap_or_default()
                .get("metallb.io/ip-allocated-from-pool")
                .cloned();
            out.insert(s.metadata.name.unwrap_or_default(), (ips, pool));
        }
        anyhow::Ok(out)
    };
    let before = snapshot(client.clone()).await?;
    let had: usize = before.values().filter(|(ips, _)| !ips.is_empty()).count();
    println!("{had}/{N} Services had an IP when the controller was killed");
    let _operator = start_operator(&rig)?;
    let after = wait_for(
        "every burst Service to have an IP",
        Duration::from_secs(90),
        || diag(&rig),
        || {
            let client = client.clone();
            async move {
                let s = snapshot(client).await?;
                Ok((s.len() == N && s.values().all(|(ips, _)| ips.len() == 1)).then_some(s))
            }
        },
    )
    .await?;
    for (name, (ips, _)) in &before {
        if !ips.is_empty() {
            ensure!(
                &after[name].0 == ips,
                "{name} changed from {ips:?} to {:?} across the crash",
                after[name].0
            );
        }
    }
    let all: BTreeSet<&String> = after.values().map(|(ips, _)| &ips[0]).collect();
    ensure!(
        all.len() == N,
        "duplicate IPs: {} distinct for {N} Services",
        all.len()
    );
    ensure!(
        after
            .values()
            .all(|(_, pool)| pool.as_deref() == Some("burst")),
        "every Service annotated with its pool"
    );
    delete_pools(&rig);
    // Wait for the namespace to be gone: while it terminates its Services still exist, and a
    // later test's controller would move their (now invalid) IPs into its own pools.
    let _ = rig.kubectl(&["delete", "namespace", ns, "--wait=true", "--timeout=60s"]);
    Ok(())
}

#[tokio::test]
async fn f_config_kinds_report_ready_conditions() -> Result<()> {
    let Some(rig) = Rig::from_env("f_config_kinds_report_ready_conditions") else {
        return Ok(());
    };
    install_base(&rig)?;
    delete_pools(&rig);
    let objects = rig.run_dir.join("ready-objects.yaml");
    std::fs::write(
        &objects,
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: ready-pool, namespace: metallb-system}\nspec: {addresses: [10.77.0.0/24]}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: good, namespace: metallb-system}\nspec: {ipAddressPools: [ready-pool]}\n---\n\
         apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: too-short, namespace: metallb-system}\nspec: {ipAddressPools: [ready-pool], aggregationLength: 16}\n",
    )?;
    rig.apply_server_side(&objects)?;
    let _operator = start_operator(&rig)?;
    let ready = |kind: &'static str, name: &'static str| {
        let rig = rig.clone();
        move || {
            let rig = rig.clone();
            async move {
                let out = rig.kubectl(&["get", kind, name, "-n", "metallb-system", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}|{.status.conditions[?(@.type==\"Ready\")].message}|{.status.observedGeneration}"])?;
                Ok((!out.starts_with('|')).then_some(out))
            }
        }
    };
    let good = wait_for(
        "Ready on the L2Advertisement",
        TIMEOUT,
        || diag(&rig),
        ready("l2advertisement", "good"),
    )
    .await?;
    ensure!(
        good.starts_with("True||1"),
        "L2Advertisement good: {good:?}"
    );
    let bad = wait_for(
        "Ready on the BGPAdvertisement",
        TIMEOUT,
        || diag(&rig),
        ready("bgpadvertisement", "too-short"),
    )
    .await?;
    ensure!(
        bad.starts_with("False|") && bad.contains("aggregation"),
        "BGPAdvertisement too-short: {bad:?}"
    );
    // Fixing the object flips it to Ready=True for the new generation.
    rig.kubectl(&[
        "patch",
        "bgpadvertisement",
        "too-short",
        "-n",
        "metallb-system",
        "--type=merge",
        "-p",
        r#"{"spec":{"aggregationLength":32}}"#,
    ])?;
    wait_for(
        "Ready=True after the fix",
        TIMEOUT,
        || diag(&rig),
        || async {
            let out = ready("bgpadvertisement", "too-short")().await?;
            Ok(out.filter(|o| o.starts_with("True||2")))
        },
    )
    .await?;
    delete_pools(&rig);
    Ok(())
}
