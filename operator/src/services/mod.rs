//! The controller's Service task: reflectors for Services and Namespaces (and the shared
//! IPAddressPool store); any change wakes one debounced reconcile pass
//! ([`ferrolb_kube::passes::run_passes`]) — the pure [`reconcile`] step, whose writes
//! [`apply`] starts without waiting for them, one write per object at a time ([`gate`]).
//! Level-based: a failed write is retried by the next pass (at least every [`RESYNC`]).
//!
//! Only the leader ([`Leadership`]) passes and writes; a follower keeps its caches warm and
//! starts from a fresh [`Reconciler`] (rebuilt from the Service statuses) each time it takes
//! the lead, since another controller may have allocated meanwhile.

pub mod apply;
pub mod gate;
pub mod reconcile;

use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::v1beta1::{ConfigurationState, IPAddressPool};
use ferrolb_kube::lease::shell::Leadership;
use ferrolb_kube::owner::PodOwner;
use ferrolb_kube::passes::{Pacing, run_passes};
use ferrolb_kube::reflect;
use ferrolb_kube::status::{CONTROLLER_STATE, ConfigStateWriter};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use kube::{Api, Client};
use tokio::sync::Notify;

use crate::metrics::Metrics;
use apply::{Applier, FIELD_MANAGER};
use reconcile::{Reconciler, Snapshot};

/// A pass runs at least this often, to retry failed writes.
pub const RESYNC: Duration = Duration::from_secs(30);

/// What the Service task is configured with.
pub struct Settings {
    /// ferrolb's namespace (pools, ConfigurationState).
    pub namespace: String,
    /// `--lb-class`.
    pub lb_class: Option<String>,
    /// Events on Services.
    pub recorder: Recorder,
    /// The wait between a change and its pass.
    pub debounce: Duration,
    /// The controller's Pod, owner of ConfigurationState `controller`.
    pub owner: PodOwner,
    /// Whether this controller may write now.
    pub leadership: Leadership,
}

/// Runs the Service task until the process is stopped (SIGINT / SIGTERM). `pools` is the
/// controller's one IPAddressPool store; it wakes `notify`.
pub async fn run(
    client: Client,
    settings: Settings,
    pools: Store<IPAddressPool>,
    notify: Arc<Notify>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let services = reflect(Api::<Service>::all(client.clone()), notify.clone());
    let namespaces = reflect(Api::<Namespace>::all(client.clone()), notify.clone());
    // What this task writes, watched so that a deletion or foreign edit is repaired at once.
    let states = ferrolb_kube::reflect_named(
        Api::<ConfigurationState>::namespaced(client.clone(), &settings.namespace),
        CONTROLLER_STATE,
        vec![notify.clone()],
    );
    for (what, ready) in [
        ("services", services.wait_until_ready().await),
        ("ipaddresspools", pools.wait_until_ready().await),
        ("namespaces", namespaces.wait_until_ready().await),
        ("configurationstates", states.wait_until_ready().await),
    ] {
        ready.map_err(|e| anyhow::anyhow!("initial list of {what} failed: {e}"))?;
    }
    tracing::info!("caches synced; rebuilding allocations from Service statuses");
    let owner = settings.owner.clone();
    let state = ConfigStateWriter::controller(
        client.clone(),
        &settings.namespace,
        settings.owner,
        FIELD_MANAGER,
    );
    let applier = Applier::new(
        client,
        settings.namespace,
        settings.recorder,
        state,
        notify.clone(),
        metrics.clone(),
        settings.leadership.clone(),
    );
    let leadership = settings.leadership;
    let lb_class = settings.lb_class;
    let mut reconciler: Option<Reconciler> = None;
    let pacing = Pacing {
        debounce: settings.debounce,
        resync: RESYNC,
    };
    let passes = run_passes(notify, pacing, || {
        metrics.exporter.set_ready();
        if !leadership.is_leader() {
            reconciler = None;
            return std::future::ready(());
        }
        let reconciler = reconciler.get_or_insert_with(|| Reconciler::new(lb_class.clone()));
        let mut snap = snapshot(&services, &pools, &namespaces);
        // One trace span per pass (docs/tracing.md); the allocations are its children.
        let span = tracing::info_span!(
            "reconcile",
            services = snap.services.len(),
            pools = snap.pools.len(),
            actions = tracing::field::Empty,
            config_error = tracing::field::Empty,
        );
        let _pass = span.enter();
        // An object written by an earlier Pod counts as absent: it is rewritten with this Pod
        // as its owner (as the speaker takes over its objects).
        snap.controller_state = states
            .state()
            .into_iter()
            .next()
            .filter(|s| owner.owns(s.metadata.owner_references.as_deref()));
        let actions = reconciler.pass(&snap, &ferrolb_kube::status::now());
        span.record("actions", actions.len());
        if let Some(e) = reconciler.config_error() {
            span.record("config_error", e);
        }
        if !actions.is_empty() {
            tracing::debug!(
                count = actions.len(),
                in_flight = applier.in_flight(),
                "applying actions"
            );
        }
        applier.submit(actions);
        metrics.observe(reconciler.allocator(), reconciler.config_error().is_some());
        std::future::ready(())
    });
    tokio::select! {
        _ = passes => {}
        () = ferrolb_kube::signal::shutdown() => tracing::info!("shutting down"),
    }
    Ok(())
}

/// What a pass looks at, from the caches (the namespace cache read once).
fn snapshot(
    services: &Store<Service>,
    pools: &Store<IPAddressPool>,
    namespaces: &Store<Namespace>,
) -> Snapshot {
    let ns_state = namespaces.state();
    Snapshot {
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
            .collect(),
        terminating: ns_state
            .iter()
            .filter(|ns| ns.metadata.deletion_timestamp.is_some())
            .filter_map(|ns| ns.metadata.name.clone())
            .collect(),
        controller_state: None,
    }
}
