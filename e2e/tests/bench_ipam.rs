//! Scripted benchmark on the rig (not a test: `#[ignore]`d, run explicitly):
//! N LoadBalancer Services created in a burst (`ferrolb_e2e::burst`) → time until all have an IP and the per-Service
//! latency (creation acknowledged → IP visible), for ferrolb's controller and for the floor: a
//! raw client writing the same status patches itself right after each create. Also the
//! controller's RSS once every Service has its IP and its CPU time during the burst.
//!
//! ```sh
//! e2e/rig.sh up && . e2e/.run/env
//! FERROLB_E2E=1 FERROLB_BENCH_SERVICES=2000 cargo test -p ferrolb-e2e --test bench_ipam -- --ignored --nocapture
//! # the controller alone (e.g. its RSS at 10,000 Services):
//! FERROLB_E2E=1 FERROLB_BENCH_SERVICES=10000 FERROLB_BENCH_SKIP_FLOOR=1 cargo test -p ferrolb-e2e --test bench_ipam -- --ignored --nocapture
//! ```
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ferrolb_e2e::Rig;
use ferrolb_e2e::burst::burst;
use ferrolb_e2e::failover::proc_usage;
use ferrolb_e2e::procs::{self, OperatorOpts, project};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

/// Bound on each burst (creates included).
const BURST_TIMEOUT: Duration = Duration::from_secs(900);

#[tokio::test]
#[ignore = "benchmark: run explicitly on the rig (see module docs)"]
async fn bench_controller_vs_raw_client_floor() -> Result<()> {
    let Some(rig) = Rig::from_env("bench_controller_vs_raw_client_floor") else {
        return Ok(());
    };
    let n: usize = std::env::var("FERROLB_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let client = rig.admin_client().await?;
    rig.apply_server_side(&project().join("config/namespace/namespace.yaml"))?;
    rig.apply_server_side(&project().join("config/crd/bases"))?;
    rig.apply_server_side(&project().join("config/rbac/controller.yaml"))?;
    // Pools are tried in name order: `aaa-bench` comes first. Other tests' pools are left
    // alone, since this benchmark may share the rig.

    // FERROLB_BENCH_SKIP_FLOOR=1: only the controller (e.g. for its RSS at 10,000 Services).
    let skip_floor = std::env::var("FERROLB_BENCH_SKIP_FLOOR").as_deref() == Ok("1");
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        "bench-ferrolb",
        "--ignore-not-found",
        "--wait=true",
        "--timeout=600s",
    ]);
    rig.kubectl(&["create", "namespace", "bench-ferrolb"])?;
    let floor = if skip_floor {
        None
    } else {
        // Floor: a raw client writes the same status patch right after each create.
        let _ = rig.kubectl(&[
            "delete",
            "namespace",
            "bench-floor",
            "--ignore-not-found",
            "--wait=true",
            "--timeout=300s",
        ]);
        rig.kubectl(&["create", "namespace", "bench-floor"])?;
        let counter = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let floor_api: Api<Service> = Api::namespaced(client.clone(), "bench-floor");
        let floor = burst(&client, "bench-floor", n, None, BURST_TIMEOUT, |name: String| {
            let (api, counter) = (floor_api.clone(), counter.clone());
            async move {
                let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let ip = format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256);
                let body = json!({"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "floor"}},
                                  "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&body)).await.context("status")?;
                Ok(())
            }
        })
        .await?;
        floor.report("raw-client floor");
        // The controller would otherwise see the floor's Services too.
        rig.kubectl(&[
            "delete",
            "namespace",
            "bench-floor",
            "--wait=true",
            "--timeout=600s",
        ])?;
        Some(floor)
    };

    // ferrolb's controller, as its own ServiceAccount.
    let pool = rig.run_dir.join("bench-pool.yaml");
    std::fs::write(
        &pool,
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: aaa-bench, namespace: metallb-system}\nspec:\n  addresses: [10.200.0.0/16]\n",
    )?;
    rig.apply_server_side(&pool)?;
    let child = procs::start_operator(
        &rig,
        OperatorOpts {
            log: "ferrolb-operator-bench",
            lb_class: None,
            log_filter: "warn",
            ..OperatorOpts::default()
        },
    )?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, cpu_start) = proc_usage(child.pid())?;
    let result = burst(
        &client,
        "bench-ferrolb",
        n,
        None,
        BURST_TIMEOUT,
        |_name: String| async { Ok(()) },
    )
    .await;
    let (rss, cpu_burst) = proc_usage(child.pid())?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (rss_idle, cpu_idle) = proc_usage(child.pid())?;
    drop(child);
    let ours = result?;
    ours.report("ferrolb controller");
    println!(
        "BENCH controller RSS with {n} Services allocated: {:.1} MiB ({:.1} MiB 10 s later); CPU during the burst {:.2} s, idle 10 s after {:.2} s",
        rss as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        cpu_burst - cpu_start,
        cpu_idle - cpu_burst
    );
    if let Some(floor) = &floor {
        println!(
            "BENCH ratio controller/floor: total {:.2}x, p50 {:.2}x",
            ours.total.as_secs_f64() / floor.total.as_secs_f64(),
            ours.p50().as_secs_f64() / floor.p50().as_secs_f64()
        );
    }
    let _ = rig.kubectl(&[
        "delete",
        "ipaddresspool",
        "aaa-bench",
        "-n",
        "metallb-system",
        "--ignore-not-found",
    ]);
    for ns in ["bench-floor", "bench-ferrolb"] {
        let _ = rig.kubectl(&["delete", "namespace", ns, "--wait=false"]);
    }
    Ok(())
}
