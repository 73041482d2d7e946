//! ferrolb and MetalLB v0.16.1 side by side on one cluster (issue 14 "never touch another
//! implementation's Services"; the first piece of issue 22).
//!
//! ferrolb's controller handles the Services without a `loadBalancerClass` (its default) from
//! its pools in `metallb-system`; MetalLB's own controller ([`ferrolb_e2e::metallb`]) runs at
//! the same time with `--lb-class=metallb` and `--namespace=metallb-upstream`, where its own
//! IPAddressPool lives (both read the same `metallb.io` kinds, each only in its namespace).
//! A burst of 200 Services, half of each class, then:
//!
//! - every Service gets an IP from its own implementation's pool, and no IP is handed out twice;
//! - ferrolb never writes a MetalLB Service: no `managedFields` entry of ferrolb's field
//!   manager on any of them (and MetalLB's managers are absent from ferrolb's Services);
//! - no write fight: once the burst settled, no Service's `resourceVersion` changes for 35 s
//!   (longer than the controllers' 30 s periodic pass, where a fight showed before the fix as
//!   a Service that "blinked" every 30 s).
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::metallb::{self, ControllerOpts};
use ferrolb_e2e::procs::{self, OperatorOpts};
use ferrolb_e2e::{Rig, wait_for};
use futures::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

/// Namespace of the test Services.
const NS: &str = "side-by-side";
/// ferrolb's pool (in `metallb-system`).
const FERROLB_POOL: (&str, &str) = ("sbs-ferrolb", "172.18.240.0/24");
/// MetalLB's pool (in [`metallb::NAMESPACE`]).
const METALLB_POOL: (&str, &str) = ("sbs-metallb", "172.18.241.0/24");
/// ferrolb's field manager for Service status (`operator/src/services/apply.rs`).
const FERROLB_MANAGER: &str = "ferrolb-controller";
/// The test's own field manager (creates the Services).
const TEST_MANAGER: &str = "ferrolb-e2e";
/// Services in the burst (half per class).
const SERVICES: usize = 200;
/// Bounded waits.
const BURST_TIMEOUT: Duration = Duration::from_secs(180);
const QUIET: Duration = Duration::from_secs(35);

fn diag(rig: &Rig) -> String {
    format!(
        "--- pending services ---\n{}\n--- ferrolb log ---\n{}\n--- metallb log ---\n{}",
        rig.kubectl(&["get", "svc", "-n", NS, "-o", "wide"])
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("<pending>"))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n"),
        rig.log_tail("ferrolb-operator-sbs", 30),
        rig.log_tail("metallb-controller-sbs", 30)
    )
}

fn pool_yaml((name, cidr): (&str, &str), namespace: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec: {{addresses: [\"{cidr}\"], autoAssign: false}}\n"
    )
}

fn apply(rig: &Rig, name: &str, yaml: &str) -> Result<()> {
    let path = rig.run_dir.join(format!("side-by-side-{name}.yaml"));
    std::fs::write(&path, yaml)?;
    rig.apply_server_side(&path).map(drop)
}

/// Service `i`: even ones are ferrolb's (no class), odd ones MetalLB's.
fn service(i: usize) -> (String, bool, serde_json::Value) {
    let name = format!("svc-{i:03}");
    let ours = i.is_multiple_of(2);
    let mut svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "annotations": {
            "metallb.io/address-pool": if ours { FERROLB_POOL.0 } else { METALLB_POOL.0 }}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 8080}],
                 "selector": {"app": name}},
    });
    if !ours {
        svc["spec"]["loadBalancerClass"] = json!(metallb::CLASS);
    }
    (name, ours, svc)
}

fn ingress_ips(svc: &Service) -> Vec<IpAddr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_ref()?.parse().ok())
        .collect()
}

fn managers(svc: &Service) -> BTreeSet<String> {
    svc.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect()
}

async fn services(api: &Api<Service>) -> Result<Vec<Service>> {
    Ok(api.list(&ListParams::default()).await?.items)
}

/// Checks pools, duplicates and field managers; returns MetalLB's managers seen.
fn check_ownership(svcs: &[Service]) -> Result<BTreeSet<String>> {
    let ferrolb_net: IpNet = FERROLB_POOL.1.parse()?;
    let metallb_net: IpNet = METALLB_POOL.1.parse()?;
    let mut holders: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut metallb_managers = BTreeSet::new();
    for svc in svcs {
        let name = svc.metadata.name.clone().unwrap_or_default();
        let ours = svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_class.as_ref())
            .is_none();
        let ips = ingress_ips(svc);
        ensure!(ips.len() == 1, "{name}: ingress {ips:?}");
        let (net, who) = if ours {
            (ferrolb_net, "ferrolb")
        } else {
            (metallb_net, "MetalLB")
        };
        ensure!(
            net.contains(&ips[0]),
            "{name} ({who}) got {} outside its pool {net}",
            ips[0]
        );
        if let Some(other) = holders.insert(ips[0], name.clone()) {
            anyhow::bail!("{} handed out twice: {other} and {name}", ips[0]);
        }
        let m = managers(svc);
        if ours {
            let foreign: Vec<_> = m
                .iter()
                .filter(|x| *x != FERROLB_MANAGER && *x != TEST_MANAGER)
                .collect();
            ensure!(
                foreign.is_empty(),
                "ferrolb's {name} written by {foreign:?}"
            );
        } else {
            ensure!(
                !m.contains(FERROLB_MANAGER),
                "ferrolb wrote MetalLB's {name}: managedFields {:?}",
                svc.metadata.managed_fields
            );
            metallb_managers.extend(m.into_iter().filter(|x| x != TEST_MANAGER));
        }
    }
    Ok(metallb_managers)
}

fn versions(svcs: &[Service]) -> BTreeMap<String, String> {
    svcs.iter()
        .map(|s| {
            (
                s.metadata.name.clone().unwrap_or_default(),
                s.metadata.resource_version.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn metallb_side_by_side_no_write_from_ferrolb() -> Result<()> {
    let Some(rig) = Rig::from_env("metallb_side_by_side_no_write_from_ferrolb") else {
        return Ok(());
    };
    procs::install_base(&rig, &["controller"])?;
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        NS,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
    ]);
    rig.kubectl(&["create", "namespace", NS])?;
    apply(
        &rig,
        "ferrolb-pool",
        &pool_yaml(FERROLB_POOL, "metallb-system"),
    )?;
    let opts = ControllerOpts {
        log: "metallb-controller-sbs",
        ..ControllerOpts::default()
    };
    let result = async {
        let _metallb = metallb::start_controller(&rig, opts)?;
        apply(&rig, "metallb-pool", &pool_yaml(METALLB_POOL, metallb::NAMESPACE))?;
        let _ferrolb = procs::start_operator(
            &rig,
            OperatorOpts {
                log: "ferrolb-operator-sbs",
                lb_class: None,
                ..OperatorOpts::default()
            },
        )?;
        let client = rig.admin_client().await?;
        let api: Api<Service> = Api::namespaced(client, NS);
        // The burst: 200 Services, 16 creations in flight.
        futures::stream::iter(0..SERVICES)
            .map(|i| {
                let api = api.clone();
                async move {
                    let (name, _, svc) = service(i);
                    api.patch(&name, &PatchParams::apply(TEST_MANAGER).force(), &Patch::Apply(&svc))
                        .await
                        .with_context(|| format!("creating {NS}/{name}"))
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        let svcs = wait_for(
            &format!("all {SERVICES} Services to get an IP"),
            BURST_TIMEOUT,
            || diag(&rig),
            || async {
                let s = services(&api).await?;
                let done = s.len() == SERVICES && s.iter().all(|x| !ingress_ips(x).is_empty());
                Ok(done.then_some(s))
            },
        )
        .await?;
        check_ownership(&svcs)?;
        // Settled: the resourceVersions stop moving for 2 s (MetalLB also writes its
        // annotation after the status). Bounded: 30 rounds.
        let mut svcs = svcs;
        let mut settled = false;
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = services(&api).await?;
            let same = versions(&now) == versions(&svcs);
            svcs = now;
            if same {
                settled = true;
                break;
            }
        }
        ensure!(settled, "the Services never settled within 60 s\n{}", diag(&rig));
        let before = versions(&svcs);
        tokio::time::sleep(QUIET).await;
        let after_quiet = services(&api).await?;
        let after = versions(&after_quiet);
        let moved: Vec<_> = before
            .iter()
            .filter(|(n, rv)| after.get(*n) != Some(rv))
            .map(|(n, _)| n.clone())
            .collect();
        ensure!(
            moved.is_empty(),
            "write fight: {} Services changed within {QUIET:?} after settling: {moved:?}\n{}",
            moved.len(),
            diag(&rig)
        );
        let metallb_managers = check_ownership(&after_quiet)?;
        eprintln!(
            "{SERVICES} Services settled; MetalLB's Services are written only by {metallb_managers:?}; \
             no resourceVersion moved for {QUIET:?}"
        );
        ensure!(!metallb_managers.is_empty(), "MetalLB wrote none of its Services?");
        Ok(())
    }
    .await;
    let _ = rig.kubectl(&["delete", "namespace", NS, "--wait=false"]);
    metallb::cleanup_side_by_side(&rig, FERROLB_POOL.0);
    result
}
