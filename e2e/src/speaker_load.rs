//! What the speaker comparisons against MetalLB (`tests/vs_metallb_bgp.rs`,
//! `tests/vs_metallb_l2.rs`, issue 22) share: a LoadBalancer Service of a given class and pool,
//! a burst of them created through the API with bounded concurrency, and each speaker's RSS and
//! CPU read from `/proc` (sampled once a second over an idle window).
//!
//! The speakers are the processes of [`crate::l2::Speakers`] (ferrolb's or MetalLB's, both
//! started with `ip netns exec`, which execs the speaker in place: same pid).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::PostParams;
use tokio::task::JoinHandle;

use crate::failover::proc_usage;

/// Creations in flight during a burst.
pub const PARALLEL: usize = 32;

/// An IPv4 LoadBalancer Service `ns/name` of `class` from `pool` (at `ip` when given, through
/// `metallb.io/loadBalancerIPs`), selecting the Pods labelled `app: bench`, without NodePorts.
pub fn service(ns: &str, name: &str, class: &str, pool: &str, ip: Option<&str>) -> Result<Service> {
    let mut annotations = serde_json::json!({"metallb.io/address-pool": pool});
    if let Some(ip) = ip {
        annotations["metallb.io/loadBalancerIPs"] = ip.into();
    }
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": class,
            "allocateLoadBalancerNodePorts": false,
            "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "selector": {"app": "bench"},
            "ports": [{"port": 80, "targetPort": 8080}]}
    }))?)
}

/// Creates `n` Services `ns/b0000..` (see [`service`], no fixed address) in the background,
/// [`PARALLEL`] in flight; the task returns when the last create was acknowledged.
pub fn create_burst(
    client: kube::Client,
    ns: &str,
    n: usize,
    class: &str,
    pool: &str,
) -> JoinHandle<Result<Instant>> {
    let (ns, class, pool) = (ns.to_string(), class.to_string(), pool.to_string());
    let api: Api<Service> = Api::namespaced(client, &ns);
    tokio::spawn(async move {
        futures::stream::iter(0..n)
            .map(|i| {
                let (api, ns, class, pool) = (api.clone(), &ns, &class, &pool);
                async move {
                    let name = format!("b{i:04}");
                    let obj = service(ns, &name, class, pool, None)?;
                    api.create(&PostParams::default(), &obj)
                        .await
                        .with_context(|| format!("creating Service {ns}/{name}"))?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(Instant::now())
    })
}

/// Waits (at most 10 s per process) until every pid of `pids` runs a binary whose name
/// contains `speaker` (right after the spawn it is still `ip netns exec`).
pub fn wait_exec(pids: &BTreeMap<String, u32>) -> Result<()> {
    for (node, pid) in pids {
        let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let t0 = Instant::now();
        while !comm().contains("speaker") {
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("pid {pid} of {node} is `{}`, not a speaker", comm().trim());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Mean of `v` (0 when empty).
pub fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    if n == 0 { 0.0 } else { s / n as f64 }
}

/// `(rss KiB, cpu s)` of every speaker, in `pids`' order.
pub fn usage(pids: &BTreeMap<String, u32>) -> Result<Vec<(u64, f64)>> {
    pids.values().map(|&p| proc_usage(p)).collect()
}

/// Mean RSS (KiB) of the speakers now.
pub fn mean_rss(pids: &BTreeMap<String, u32>) -> Result<f64> {
    Ok(mean(usage(pids)?.iter().map(|u| u.0 as f64)))
}

/// The speakers over an idle window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Idle {
    /// Mean over the speakers of each one's largest RSS sample (KiB).
    pub rss_max: f64,
    /// Mean CPU seconds per speaker.
    pub cpu: f64,
    /// The window.
    pub window: Duration,
}

impl Idle {
    /// CPU as a percentage of one core.
    pub fn cpu_percent(&self) -> f64 {
        self.cpu * 100.0 / self.window.as_secs_f64().max(1e-9)
    }
}

/// Samples every speaker's RSS once a second for `window` and its CPU time at both ends.
pub async fn idle(pids: &BTreeMap<String, u32>, window: Duration) -> Result<Idle> {
    let start = usage(pids)?;
    let mut rss_max: Vec<u64> = start.iter().map(|u| u.0).collect();
    let t0 = Instant::now();
    while t0.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (m, u) in rss_max.iter_mut().zip(usage(pids)?) {
            *m = (*m).max(u.0);
        }
    }
    let end = usage(pids)?;
    Ok(Idle {
        rss_max: mean(rss_max.iter().map(|&r| r as f64)),
        cpu: mean(start.iter().zip(&end).map(|(a, b)| b.1 - a.1)),
        window: t0.elapsed(),
    })
}
