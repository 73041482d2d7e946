//! The controller's event loop: reflectors for Services, IPAddressPools and Namespaces; any
//! change wakes one full, debounced reconcile pass, whose writes are started without waiting
//! for them (`apply.rs`). Level-based: a failed write is retried by the next pass (at least
//! every [`RESYNC`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::v1beta1::IPAddressPool;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::Recorder;
use kube::{Api, Client};
use tokio::sync::Notify;

use crate::apply::Applier;
use crate::reconcile::{Reconciler, Snapshot};

/// A pass runs at least this often, to retry failed writes.
pub const RESYNC: Duration = Duration::from_secs(30);

pub use ferrolb_kube::reflect;

/// Runs the controller until the process is stopped.
pub async fn run(
    client: Client,
    namespace: String,
    lb_class: Option<String>,
    recorder: Recorder,
    debounce: Duration,
    metrics: Arc<crate::metrics::Metrics>,
    owner: ferrolb_kube::owner::PodOwner,
) -> anyhow::Result<()> {
    let notify = Arc::new(Notify::new());
    let services = reflect(Api::<Service>::all(client.clone()), notify.clone());
    let pools = reflect(
        Api::<IPAddressPool>::namespaced(client.clone(), &namespace),
        notify.clone(),
    );
    let namespaces = reflect(Api::<Namespace>::all(client.clone()), notify.clone());
    for (what, ready) in [
        ("services", services.wait_until_ready().await),
        ("ipaddresspools", pools.wait_until_ready().await),
        ("namespaces", namespaces.wait_until_ready().await),
    ] {
        ready.map_err(|e| anyhow::anyhow!("initial list of {what} failed: {e}"))?;
    }
    tracing::info!("caches synced; rebuilding allocations from Service statuses");
    let applier = Applier::new(
        client,
        namespace,
        recorder,
        owner,
        notify.clone(),
        metrics.clone(),
    );
    let mut reconciler = Reconciler::new(lb_class);
    loop {
        let started = std::time::Instant::now();
        let ns_state = namespaces.state();
        let snapshot = Snapshot {
            services: services.state(),
            pools: pools.state(),
            namespaces: ns_state
                .iter()
                .map(|ns| {
                    (
                        ns.metadata.name.clone().unwrap_or_default(),
                        ns.metadata.labels.clone().unwrap_or_default(),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            terminating: ns_state
                .iter()
                .filter(|ns| ns.metadata.deletion_timestamp.is_some())
                .filter_map(|ns| ns.metadata.name.clone())
                .collect(),
        };
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let actions = reconciler.pass(&snapshot, &now);
        if !actions.is_empty() {
            tracing::debug!(
                count = actions.len(),
                in_flight = applier.in_flight(),
                "applying actions"
            );
        }
        applier.submit(actions, &now);
        metrics.observe(reconciler.allocator(), reconciler.config_error().is_some());
        metrics
            .ready
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let pause = pause_after(debounce, started.elapsed());
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(RESYNC) => {}
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("shutting down");
                return Ok(());
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// The wait between a wake-up and the next pass: the configured debounce, stretched to twice
/// the last pass's duration so that on a huge cluster in a long burst passes take at most a
/// third of a core (each still looks at every cached Service to find the changed ones).
pub fn pause_after(debounce: Duration, last_pass: Duration) -> Duration {
    debounce.max(last_pass.saturating_mul(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_stretches_with_slow_passes_only() {
        let d = Duration::from_millis(5);
        assert_eq!(pause_after(d, Duration::from_micros(300)), d);
        assert_eq!(
            pause_after(d, Duration::from_millis(12)),
            Duration::from_millis(24)
        );
    }
}
