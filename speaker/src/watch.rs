//! Kubernetes watches → [`Plan`]. Reflectors keep the last listed state, so when the API server
//! is unreachable the plan (and therefore every announcement) stays at its last good value
//! while the watchers retry with backoff.
//!
//! Watches only what the L2 speaker needs: Services, EndpointSlices and Nodes cluster-wide,
//! IPAddressPools and L2Advertisements in ferrolb's namespace (MetalLB's speaker also watches
//! BGP objects, Secrets and ConfigMaps; ferrolb's L2 speaker does not need them). The
//! cluster-wide kinds are cached [slimmed](crate::slim) to the fields the plan reads. With
//! `--quorum majority` it also watches the speaker Pods selected by `--ml-labels` in that
//! namespace (the expected speakers, [`plan::speakers`]); the initial sync does not wait for
//! them, so a missing `pods` permission degrades to counting every Node instead of hanging.

use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::v1beta1::{IPAddressPool, L2Advertisement};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};

use kube::{Api, Client};
use tokio::sync::{Notify, watch};

use crate::plan::{self, Inputs, Plan};
use crate::slim;

/// A plan is rebuilt at least this often.
const RESYNC: Duration = Duration::from_secs(30);
/// How long the initial sync waits for the speaker Pods (`--quorum majority`).
const PODS_SYNC: Duration = Duration::from_secs(10);

/// Errors of the initial sync.
#[derive(Debug, thiserror::Error)]
#[error("failed to list {what}: {source}")]
pub struct SyncError {
    what: &'static str,
    #[source]
    source: reflector::store::WriterDropped,
}

use ferrolb_kube::passes::{Pacing, run_passes};
use ferrolb_kube::{reflect, reflect_with};

/// The watched stores.
pub struct Stores {
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    pools: Store<IPAddressPool>,
    ads: Store<L2Advertisement>,
    /// The speaker Pods and this node's name (`--quorum majority` only).
    speakers: Option<(Store<Pod>, String)>,
    notify: Arc<Notify>,
}

/// Which speaker Pods to watch: `--ml-labels` in ferrolb's namespace, seen from `node`.
pub struct SpeakerPods<'a> {
    /// Label selector (`--ml-labels`).
    pub labels: &'a str,
    /// This speaker's node.
    pub node: &'a str,
}

impl Stores {
    /// Starts the watches and waits for the initial lists.
    pub async fn start(
        client: &Client,
        namespace: &str,
        speakers: Option<SpeakerPods<'_>>,
    ) -> Result<Self, SyncError> {
        let notify = Arc::new(Notify::new());
        let speakers = speakers.map(|sp| {
            let config = kube::runtime::watcher::Config::default().labels(sp.labels);
            let api = Api::namespaced(client.clone(), namespace);
            let store = ferrolb_kube::reflect_selected(
                api,
                config,
                vec![notify.clone()],
                plan::speakers::slim_pod,
            );
            (store, sp.node.to_owned())
        });
        let s = Stores {
            services: reflect_with(Api::all(client.clone()), notify.clone(), slim::service),
            slices: reflect_with(Api::all(client.clone()), notify.clone(), slim::slice),
            nodes: reflect_with(Api::all(client.clone()), notify.clone(), slim::node),
            pools: reflect(Api::namespaced(client.clone(), namespace), notify.clone()),
            ads: reflect(Api::namespaced(client.clone(), namespace), notify.clone()),
            speakers,
            notify,
        };
        synced(&s.services, "services").await?;
        synced(&s.slices, "endpointslices").await?;
        synced(&s.nodes, "nodes").await?;
        synced(&s.pools, "ipaddresspools").await?;
        synced(&s.ads, "l2advertisements").await?;
        if let Some((pods, _)) = &s.speakers {
            // Bounded: without `pods` permission the speaker still starts (every Node counts).
            if tokio::time::timeout(PODS_SYNC, pods.wait_until_ready())
                .await
                .is_err()
            {
                tracing::warn!(
                    "speaker Pods not listed within {PODS_SYNC:?} (RBAC: pods list/watch in the namespace?); --quorum majority counts every Node until they are"
                );
            }
        }
        Ok(s)
    }

    /// Builds the current plan; `last` is the previous one (invalid pools keep their last
    /// valid version from it).
    pub fn plan(&self, lb_class: Option<&str>, last: &Plan) -> Plan {
        let services = self.services.state();
        let slices = self.slices.state();
        let nodes = self.nodes.state();
        let pools = self.pools.state();
        let ads = self.ads.state();
        let mut plan = plan::build(&Inputs {
            services: &refs(&services),
            slices: &refs(&slices),
            nodes: &refs(&nodes),
            pools: &refs(&pools),
            ads: &refs(&ads),
            lb_class,
            last_pools: &last.pools,
        });
        if let Some((pods, node)) = &self.speakers {
            plan.speaker_nodes = plan::speakers::speaker_nodes(&refs(&pods.state()), node);
        }
        plan
    }

    /// Publishes a new plan on every change (one debounced pass per burst of events, and at
    /// least every [`RESYNC`]; `ferrolb_kube::passes`), forever.
    pub async fn run(
        self,
        lb_class: Option<String>,
        tx: watch::Sender<Arc<Plan>>,
        debounce: Duration,
    ) {
        let pacing = Pacing {
            debounce,
            resync: RESYNC,
        };
        run_passes(self.notify.clone(), pacing, || {
            let plan = self.plan(lb_class.as_deref(), &tx.borrow());
            publish(&tx, plan);
            std::future::ready(())
        })
        .await;
    }
}

/// Waits for a store's initial list.
async fn synced<K>(store: &Store<K>, what: &'static str) -> Result<(), SyncError>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .wait_until_ready()
        .await
        .map_err(|source| SyncError { what, source })
}

fn refs<K>(objs: &[Arc<K>]) -> Vec<&K> {
    objs.iter().map(AsRef::as_ref).collect()
}

/// Publishes `plan` if it differs from the current one, logging each newly unannounceable
/// Service once (`ipNotAllowed`).
pub fn publish(tx: &watch::Sender<Arc<Plan>>, plan: Plan) {
    tx.send_if_modified(|cur| {
        if **cur == plan {
            return false;
        }
        for n in plan
            .not_allowed
            .iter()
            .filter(|n| !cur.not_allowed.contains(n))
        {
            tracing::warn!(service = %n.service, reason = "ipNotAllowed", "{}", n.message());
        }
        if plan.speaker_nodes != cur.speaker_nodes {
            match &plan.speaker_nodes {
                Some(nodes) => tracing::info!(?nodes, "quorum counts the nodes running a speaker Pod"),
                None => tracing::warn!(
                    nodes = plan.nodes.len(),
                    "no speaker Pod selected by --ml-labels on this node (yet): quorum counts every Node"
                ),
            }
        }
        tracing::debug!(
            services = plan.services.len(),
            nodes = plan.nodes.len(),
            "new plan"
        );
        *cur = Arc::new(plan);
        true
    });
}
