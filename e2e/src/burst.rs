//! The controller burst benchmark's pieces, shared by `tests/bench_ipam.rs` (ferrolb against a
//! raw client's floor) and `tests/vs_metallb.rs` (ferrolb against MetalLB's own controller):
//! N LoadBalancer Services created in a burst ([`PARALLEL`] creations in flight, no NodePorts)
//! while a watcher records when each is first seen with an IP; per-Service latency = creation
//! acknowledged → IP seen. Also a bounded delete of a burst's Services.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

/// Creations in flight during a burst.
pub const PARALLEL: usize = 32;
/// Field manager of the burst's Services.
const MANAGER: &str = "ferrolb-bench";

/// The `p` quantile (0.0..=1.0) of sorted, non-empty durations (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A burst Service: `LoadBalancer`, one port, no NodePorts, of `class` when given.
pub fn service(ns: &str, name: &str, class: Option<&str>) -> serde_json::Value {
    let mut svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
           "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80}], "selector": {"app": name}}});
    if let Some(class) = class {
        svc["spec"]["loadBalancerClass"] = json!(class);
    }
    svc
}

/// What a burst measured.
#[derive(Debug, Clone)]
pub struct Burst {
    /// Services created.
    pub n: usize,
    /// First create sent → last Service seen with an IP.
    pub total: Duration,
    /// Per-Service create acknowledged → IP seen, sorted.
    pub latencies: Vec<Duration>,
}

impl Burst {
    /// Median per-Service latency.
    pub fn p50(&self) -> Duration {
        percentile(&self.latencies, 0.5)
    }

    /// 99th percentile per-Service latency.
    pub fn p99(&self) -> Duration {
        percentile(&self.latencies, 0.99)
    }

    /// Prints one `BENCH` line.
    pub fn report(&self, what: &str) {
        println!(
            "BENCH {what}: {} Services, all with an IP after {:.2} s ({:.0}/s); per-Service p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.n,
            self.total.as_secs_f64(),
            self.n as f64 / self.total.as_secs_f64(),
            self.p50().as_secs_f64() * 1e3,
            self.p99().as_secs_f64() * 1e3,
            self.latencies
                .last()
                .map(|d| d.as_secs_f64() * 1e3)
                .unwrap_or(0.0),
        );
    }
}

/// Creates `n` Services `b00000..` of `class` in `ns`; `after_create` runs right after each
/// create is acknowledged. Waits at most `timeout` for all of them to show an IP.
pub async fn burst<F, Fut>(
    client: &kube::Client,
    ns: &str,
    n: usize,
    class: Option<&str>,
    timeout: Duration,
    after_create: F,
) -> Result<Burst>
where
    F: Fn(String) -> Fut + Clone,
    Fut: std::future::Future<Output = Result<()>>,
{
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch = tokio::spawn({
        let (api, seen) = (api.clone(), seen.clone());
        async move {
            let mut stream =
                std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
            while let Some(Ok(s)) = stream.next().await {
                let has_ip = s
                    .status
                    .and_then(|s| s.load_balancer)
                    .and_then(|l| l.ingress)
                    .is_some_and(|i| !i.is_empty());
                if has_ip {
                    let mut seen = seen.lock().expect("lock");
                    seen.entry(s.metadata.name.unwrap_or_default())
                        .or_insert_with(Instant::now);
                    if seen.len() >= n {
                        return;
                    }
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    let created_all = futures::stream::iter(0..n)
        .map(|i| {
            let (api, created, after_create) = (api.clone(), created.clone(), after_create.clone());
            let name = format!("b{i:05}");
            async move {
                api.patch(
                    &name,
                    &PatchParams::apply(MANAGER),
                    &Patch::Apply(service(ns, &name, class)),
                )
                .await
                .with_context(|| format!("creating Service {ns}/{name}"))?;
                created
                    .lock()
                    .expect("lock")
                    .insert(name.clone(), Instant::now());
                after_create(name).await
            }
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<_>>()
        .await;
    if let Err(e) = created_all {
        watch.abort();
        return Err(e);
    }
    let waited = tokio::time::timeout(timeout.saturating_sub(start.elapsed()), watch).await;
    let total = start.elapsed();
    let got = seen.lock().expect("lock").len();
    waited.with_context(|| {
        format!("only {got} of {n} Services in {ns} got an IP within {timeout:?}")
    })??;
    let created = created.lock().expect("lock");
    let seen = seen.lock().expect("lock");
    let mut latencies: Vec<Duration> = created
        .iter()
        .filter_map(|(k, t)| seen.get(k).map(|s| s.saturating_duration_since(*t)))
        .collect();
    latencies.sort();
    ensure!(
        latencies.len() == n,
        "{} of {n} Services got an IP",
        latencies.len()
    );
    Ok(Burst {
        n,
        total,
        latencies,
    })
}

/// Deletes every Service of `ns` (one delete-collection) and waits, at most `timeout`, until
/// none is left.
pub async fn delete_services(client: &kube::Client, ns: &str, timeout: Duration) -> Result<()> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .with_context(|| format!("deleting the Services of {ns}"))?;
    let start = Instant::now();
    loop {
        let left = api
            .list_metadata(&ListParams::default().limit(1))
            .await?
            .items
            .len();
        if left == 0 {
            return Ok(());
        }
        ensure!(
            start.elapsed() < timeout,
            "Services of {ns} still there after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
