//! Kubernetes watches → [`Plan`]. Reflectors keep the last listed state, so when the API server
//! is unreachable the plan (and therefore every announcement) stays at its last good value
//! while the watchers retry with backoff.
//!
//! Watches what the enabled modes need: Services, EndpointSlices and Nodes cluster-wide,
//! IPAddressPools in ferrolb's namespace; with Layer 2 its L2Advertisements; with BGP its
//! BGPPeers, BGPAdvertisements, Communities and Secrets (a BGPPeer's `passwordSecret`; MetalLB's
//! speaker watches the namespace's Secrets too). The cluster-wide kinds and the Secrets are
//! cached [slimmed](crate::slim) to the fields the plan reads. With `--quorum majority` it also
//! watches the speaker Pods selected by `--ml-labels` in that namespace (the expected speakers,
//! [`plan::speakers`]); the initial sync does not wait for them, so a missing `pods` permission
//! degrades to counting every Node instead of hanging.

use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use k8s_openapi::api::core::v1::{Node, Pod, Secret, Service};
use kube::runtime::reflector::{self, Store};

use kube::{Api, Client};
use tokio::sync::{Notify, watch};

use crate::plan::{self, BgpObjects, Inputs, Plan};
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
    slices: Store<slim::Slice>,
    nodes: Store<Node>,
    pools: Store<IPAddressPool>,
    ads: Option<Store<L2Advertisement>>,
    bgp: Option<BgpStores>,
    /// The speaker Pods and this node's name (`--quorum majority` only).
    speakers: Option<(Store<Pod>, String)>,
    notify: Arc<Notify>,
}

/// The stores of BGP mode.
struct BgpStores {
    peers: Store<BGPPeer>,
    ads: Store<BGPAdvertisement>,
    communities: Store<Community>,
    secrets: Store<Secret>,
    bfd_profiles: Store<BFDProfile>,
}

/// Which modes' objects to watch.
#[derive(Debug, Clone, Copy)]
pub struct Modes {
    /// Layer 2 (L2Advertisements).
    pub l2: bool,
    /// BGP (BGPPeers, BGPAdvertisements, Communities, Secrets, BFDProfiles).
    pub bgp: bool,
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
        modes: Modes,
        speakers: Option<SpeakerPods<'_>>,
    ) -> Result<Self, SyncError> {
        let notify = Arc::new(Notify::new());
        fn ns<K>(client: &Client, namespace: &str) -> Api<K>
        where
            K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
            K::DynamicType: Default,
        {
            Api::namespaced(client.clone(), namespace)
        }
        let speakers = speakers.map(|sp| {
            let config = kube::runtime::watcher::Config::default().labels(sp.labels);
            let store = ferrolb_kube::reflect_selected(
                ns(client, namespace),
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
            pools: reflect(ns(client, namespace), notify.clone()),
            ads: modes
                .l2
                .then(|| reflect(ns(client, namespace), notify.clone())),
            bgp: modes.bgp.then(|| BgpStores {
                peers: reflect(ns(client, namespace), notify.clone()),
                ads: reflect(ns(client, namespace), notify.clone()),
                communities: reflect(ns(client, namespace), notify.clone()),
                secrets: reflect_with(ns(client, namespace), notify.clone(), slim::secret),
                bfd_profiles: reflect(ns(client, namespace), notify.clone()),
            }),
            speakers,
            notify,
        };
        synced(&s.services, "services").await?;
        synced(&s.slices, "endpointslices").await?;
        synced(&s.nodes, "nodes").await?;
        synced(&s.pools, "ipaddresspools").await?;
        if let Some(ads) = &s.ads {
            synced(ads, "l2advertisements").await?;
        }
        if let Some(b) = &s.bgp {
            synced(&b.peers, "bgppeers").await?;
            synced(&b.ads, "bgpadvertisements").await?;
            synced(&b.communities, "communities").await?;
            synced(&b.secrets, "secrets").await?;
            synced(&b.bfd_profiles, "bfdprofiles").await?;
        }
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
        let ads = self.ads.as_ref().map(Store::state).unwrap_or_default();
        let state = |b: &BgpStores| {
            (
                b.peers.state(),
                b.ads.state(),
                b.communities.state(),
                b.secrets.state(),
                b.bfd_profiles.state(),
            )
        };
        let (bp, ba, bc, bs, bb) = self.bgp.as_ref().map(state).unwrap_or_default();
        let (bp, ba, bc, bs, bb) = (refs(&bp), refs(&ba), refs(&bc), refs(&bs), refs(&bb));
        let mut plan = plan::build(&Inputs {
            services: &refs(&services),
            slices: &refs(&slices),
            nodes: &refs(&nodes),
            pools: &refs(&pools),
            ads: &refs(&ads),
            lb_class,
            last_pools: &last.pools,
            bgp: BgpObjects {
                peers: &bp,
                ads: &ba,
                communities: &bc,
                secrets: &bs,
                bfd_profiles: &bb,
                last: Some(&last.bgp),
            },
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
            // One trace span per pass (docs/tracing.md).
            let span = tracing::info_span!(
                "plan",
                services = tracing::field::Empty,
                nodes = tracing::field::Empty,
                errors = tracing::field::Empty,
                changed = tracing::field::Empty,
            );
            let _pass = span.enter();
            let plan = self.plan(lb_class.as_deref(), &tx.borrow());
            span.record("services", plan.services.len());
            span.record("nodes", plan.nodes.len());
            span.record("errors", plan.errors.len());
            span.record("changed", publish(&tx, plan));
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
/// Service once (`ipNotAllowed`); whether it did.
pub fn publish(tx: &watch::Sender<Arc<Plan>>, plan: Plan) -> bool {
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
    })
}
