//! Kubernetes objects → plain election inputs, and the per-node announcement decision. Pure
//! functions only (no client, no sockets), so every MetalLB rule reproduced here is unit-tested.
//! Kubernetes facts are read through their one conversion in `ferrolb_kube::convert` (ingress
//! IPs, "is this Service ours", pools, [`ServiceKey`]); pool membership is `ferrolb-core`'s
//! rule, the allocator's.
//!
//! MetalLB behaviour reproduced (`speaker/layer2_controller.go`, `speaker/main.go`,
//! `metallb-runtime.md` §2.1):
//! - Services: ours (`ferrolb_kube::convert::is_ours`: `type: LoadBalancer`, `--lb-class`) with
//!   at least one `status.loadBalancer.ingress[].ip`.
//! - The Service's pool (MetalLB's speaker `poolFor`): the pool that contains **every** ingress
//!   IP — the `metallb.io/ip-allocated-from-pool` annotation's pool when it does, else the
//!   first such pool by name. Membership is `ferrolb_core::Pool::contains` (CIDRs and ranges
//!   as the allocator parses them; `.0`/`.255` IPv4 addresses are not in an `avoidBuggyIPs`
//!   pool). A Service with an IP in no pool — e.g. one that k3s' ServiceLB or another load
//!   balancer wrote into `status.loadBalancer.ingress` — is never announced (MetalLB:
//!   `ipNotAllowed`), see [`NotAllowed`]. An invalid pool keeps its last valid version.
//! - Applicable L2Advertisements (`adsForService`): those naming the pool in `ipAddressPools`,
//!   or whose `ipAddressPoolSelectors` match the pool's labels, or with neither ("all pools");
//!   then filtered by `serviceSelectors` (OR, empty = all). A Service with `allow-shared-ip`
//!   and an applicable ad with `serviceSelectors` is not announced.
//! - Serving endpoint = `ready` unset or true, or `serving` true; a Service without one anywhere
//!   is not announced; `externalTrafficPolicy: Local` restricts candidates to nodes hosting one.
//! - Candidates = live speakers (heartbeat members) that have a Node object, minus
//!   `NetworkUnavailable=True`, minus the exclude-from-external-load-balancers label (unless
//!   `--ignore-exclude-lb`), restricted to nodes selected by an ad's `nodeSelectors`; ordered by
//!   `ferrolb_l2::election` (preferred weights, then `sha256(node#firstIP)`).
//! - Interfaces: the ads selecting the local node decide; any ad without `interfaces` means all
//!   interfaces, otherwise the union. If none of the named interfaces exists locally the IP is
//!   not announced and MetalLB's Warning `announceFailed` is emitted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_api::names;
use ferrolb_api::v1beta1::{IPAddressPool, L2Advertisement};
use ferrolb_core::Pool;
use ferrolb_core::selector::LabelSelector;
pub use ferrolb_kube::convert::ServiceKey;
use ferrolb_kube::convert::{ingress_ips, is_ours, pool_spec};
use ferrolb_l2::election::{AdvertisementScope, NodeSelector, TrafficPolicy, WeightedSelector};
use k8s_openapi::api::core::v1::{Node, Service};

use crate::slim::{Slice, SliceEndpoint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

pub mod bgp;
pub mod decide;
pub use bgp::{BgpInputs, BgpObjects, BgpService};
pub use decide::{Decisions, decide};
pub mod speakers;
pub use speakers::expected_speakers;

/// Labels of a Kubernetes object.
pub type Labels = BTreeMap<String, String>;

/// A core label selector usable by the election (orphan-rule newtype).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sel(pub LabelSelector);

impl NodeSelector<Labels> for Sel {
    fn matches(&self, node: &Labels) -> bool {
        self.0.matches(node)
    }
}

pub use ferrolb_kube::selector;

/// One Node as the speaker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// Node name.
    pub name: String,
    /// Node labels.
    pub labels: Labels,
    /// Condition `NetworkUnavailable=True`.
    pub network_unavailable: bool,
    /// Carries the exclude-from-external-load-balancers label.
    pub exclude_label: bool,
    /// `status.addresses` of type InternalIP (heartbeat peers).
    pub internal_ips: Vec<IpAddr>,
    /// Cordoned, marked for removal or shutting down
    /// (`ferrolb_kube::convert::bgp::node_draining`): a stop drains the BGP sessions.
    pub draining: bool,
}

/// One applicable L2Advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdPlan {
    /// Advertisement name (logs).
    pub name: String,
    /// `nodeSelectors` (OR, empty = every node).
    pub node_selectors: Vec<LabelSelector>,
    /// `preferredNodeSelectors` as (weight, selector).
    pub preferred: Vec<(u32, LabelSelector)>,
    /// `spec.interfaces` (empty = all).
    pub interfaces: Vec<String>,
}

impl AdPlan {
    /// The election's view of this advertisement.
    pub fn scope(&self) -> AdvertisementScope<Sel> {
        AdvertisementScope {
            node_selectors: self.node_selectors.iter().cloned().map(Sel).collect(),
            preferred: self
                .preferred
                .iter()
                .map(|(w, s)| WeightedSelector {
                    weight: *w,
                    selector: Sel(s.clone()),
                })
                .collect(),
        }
    }
}

/// One announceable Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// `namespace/name`.
    pub key: ServiceKey,
    /// UID (event target).
    pub uid: Option<String>,
    /// Ingress IPs, all in one pool; the first one decides the election.
    pub ips: Vec<IpAddr>,
    /// `externalTrafficPolicy`.
    pub policy: TrafficPolicy,
    /// A serving endpoint exists anywhere.
    pub any_serving: bool,
    /// Nodes hosting a serving endpoint.
    pub endpoint_nodes: BTreeSet<String>,
    /// Applicable advertisements.
    pub ads: Vec<AdPlan>,
    /// `allow-shared-ip` together with an ad that has `serviceSelectors`: never announced.
    pub shared_ip_with_service_selector: bool,
}

/// A Service of ours whose ingress IPs are not all in one pool (MetalLB's speaker withdraws it
/// with reason `ipNotAllowed`): never announced, whoever wrote the IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    /// The Service.
    pub service: ServiceKey,
    /// Its UID (event target).
    pub uid: Option<String>,
    /// Its ingress IPs.
    pub ips: Vec<IpAddr>,
}

impl NotAllowed {
    /// Why the Service is not announced (log line and event note).
    pub fn message(&self) -> String {
        let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
        format!(
            "not announcing {}: its ingress IPs [{}] are not all in one IPAddressPool (written by another load balancer, or the pool changed)",
            self.service,
            ips.join(", ")
        )
    }
}

/// One IPAddressPool as the plan needs it: its membership rule and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPlan {
    /// The parsed pool (`ferrolb-core`'s membership rule).
    pub pool: Pool,
    /// Its labels (`ipAddressPoolSelectors`).
    pub labels: Labels,
}

/// Everything the L2 loop needs from the API server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Every Node object, by name.
    pub nodes: BTreeMap<String, NodePlan>,
    /// Announceable Services, ordered by key.
    pub services: Vec<ServicePlan>,
    /// Services of ours with IPs outside every pool, ordered by key.
    pub not_allowed: Vec<NotAllowed>,
    /// The pools in use, by name (an invalid pool keeps its last valid version).
    pub pools: BTreeMap<String, PoolPlan>,
    /// Configuration errors (reported in the ConfigurationState).
    pub errors: Vec<String>,
    /// Nodes running a speaker Pod (`--quorum majority` only; `None`: every Node counts), see
    /// [`speakers`].
    pub speaker_nodes: Option<BTreeSet<String>>,
    /// BGP mode's inputs (empty when BGP is disabled or has no peer).
    pub bgp: BgpInputs,
}

/// Converts a Node.
pub fn node_plan(node: &Node) -> NodePlan {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    NodePlan {
        name: node.metadata.name.clone().unwrap_or_default(),
        exclude_label: labels.contains_key(names::LABEL_EXCLUDE_FROM_LB),
        labels,
        network_unavailable: ferrolb_kube::convert::bgp::node_condition_true(
            node,
            "NetworkUnavailable",
        ),
        internal_ips: node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP")
            .filter_map(|a| a.address.parse().ok())
            .collect(),
        draining: ferrolb_kube::convert::bgp::node_draining(node),
    }
}

/// Parses the pools with `ferrolb-core`'s rules. A pool that does not parse is reported in
/// `errors` and keeps its version from `last_good`, if any (the last good configuration keeps
/// serving; the webhook and the controller report the same error).
pub fn parse_pools(
    crs: &[&IPAddressPool],
    last_good: &BTreeMap<String, PoolPlan>,
    errors: &mut Vec<String>,
) -> BTreeMap<String, PoolPlan> {
    let mut out = BTreeMap::new();
    for cr in crs {
        let name = cr.metadata.name.clone().unwrap_or_default();
        let parsed = pool_spec(cr)
            .map_err(|e| e.to_string())
            .and_then(|spec| spec.parse().map_err(|e| e.to_string()));
        match parsed {
            Ok(pool) => {
                let labels = cr.metadata.labels.clone().unwrap_or_default();
                out.insert(name, PoolPlan { pool, labels });
            }
            Err(e) => {
                errors.push(e);
                if let Some(old) = last_good.get(&name) {
                    out.insert(name, old.clone());
                }
            }
        }
    }
    out
}

/// The pool of a Service with ingress IPs `ips` (MetalLB's speaker `poolFor`): the pool that
/// contains every IP, the annotated one when it does.
pub fn pool_of<'p>(
    pools: &'p BTreeMap<String, PoolPlan>,
    annotations: &Labels,
    ips: &[IpAddr],
) -> Option<&'p PoolPlan> {
    let holds = |p: &&PoolPlan| !ips.is_empty() && ips.iter().all(|ip| p.pool.contains(ip));
    names::annotation(annotations, "ip-allocated-from-pool")
        .and_then(|(name, _)| pools.get(name))
        .filter(holds)
        .or_else(|| pools.values().find(holds))
}

/// Endpoint serving rule (`internal/k8s/epslices`): `ready` unset or true, or `serving` true.
fn serving(ep: &SliceEndpoint) -> bool {
    let c = ep.conditions.as_ref();
    let ready = c.and_then(|c| c.ready);
    let serving = c.and_then(|c| c.serving);
    ready.unwrap_or(true) || serving == Some(true)
}

/// Per Service: whether a serving endpoint exists anywhere, and the nodes hosting one.
type Endpoints = BTreeMap<ServiceKey, (bool, BTreeSet<String>)>;

/// The label naming an EndpointSlice's Service (Kubernetes' `discovery.k8s.io` convention).
pub const SLICE_SERVICE_LABEL: &str = "kubernetes.io/service-name";

fn endpoints(slices: &[&Slice]) -> Endpoints {
    let mut out = Endpoints::new();
    for s in slices {
        let Some(svc) = s.service_name() else {
            continue;
        };
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        let e = out.entry(ServiceKey::new(ns, svc.to_owned())).or_default();
        for ep in s.endpoints.iter().filter(|ep| serving(ep)) {
            e.0 = true;
            if let Some(n) = &ep.node_name {
                e.1.insert(n.clone());
            }
        }
    }
    out
}

struct Ad<'a> {
    pools: &'a [String],
    pool_selectors: Vec<LabelSelector>,
    service_selectors: Vec<LabelSelector>,
    plan: AdPlan,
}

impl Ad<'_> {
    /// `adsForService`: the ad covers the pool and selects the Service.
    fn applies(&self, pool_name: &str, pool_labels: &Labels, svc_labels: &Labels) -> bool {
        let covers = (self.pools.is_empty() && self.pool_selectors.is_empty())
            || self.pools.iter().any(|p| p == pool_name)
            || self.pool_selectors.iter().any(|s| s.matches(pool_labels));
        covers
            && (self.service_selectors.is_empty()
                || self.service_selectors.iter().any(|s| s.matches(svc_labels)))
    }
}

fn convert_selectors(
    ad: &str,
    field: &str,
    list: &[metav1::LabelSelector],
) -> Result<Vec<LabelSelector>, String> {
    ferrolb_kube::convert::selector_list(list)
        .map_err(|(i, e)| format!("L2Advertisement {ad}: {field}[{i}]: {e}"))
}

fn convert_ad(ad: &L2Advertisement) -> Result<Ad<'_>, String> {
    let name = ad.metadata.name.clone().unwrap_or_default();
    let node_selectors = convert_selectors(&name, "nodeSelectors", &ad.spec.node_selectors)?;
    let pool_selectors = convert_selectors(
        &name,
        "ipAddressPoolSelectors",
        &ad.spec.ip_address_pool_selectors,
    )?;
    let service_selectors =
        convert_selectors(&name, "serviceSelectors", &ad.spec.service_selectors)?;
    let preferred = ad
        .spec
        .preferred_node_selectors
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = selector(&p.preference)
                .map_err(|e| format!("L2Advertisement {name}: preferredNodeSelectors[{i}]: {e}"))?;
            Ok((u32::try_from(p.weight).unwrap_or(0), s))
        })
        .collect::<Result<_, String>>()?;
    Ok(Ad {
        pools: &ad.spec.ip_address_pools,
        pool_selectors,
        service_selectors,
        plan: AdPlan {
            name,
            node_selectors,
            preferred,
            interfaces: ad.spec.interfaces.clone(),
        },
    })
}

/// The inputs of [`build`].
pub struct Inputs<'a> {
    /// Every Service.
    pub services: &'a [&'a Service],
    /// Every EndpointSlice.
    pub slices: &'a [&'a Slice],
    /// Every Node.
    pub nodes: &'a [&'a Node],
    /// IPAddressPools of ferrolb's namespace.
    pub pools: &'a [&'a IPAddressPool],
    /// L2Advertisements of ferrolb's namespace.
    pub ads: &'a [&'a L2Advertisement],
    /// `--lb-class`.
    pub lb_class: Option<&'a str>,
    /// The previous plan's pools (an invalid pool keeps its last valid version).
    pub last_pools: &'a BTreeMap<String, PoolPlan>,
    /// BGP mode's objects (empty when BGP is disabled).
    pub bgp: BgpObjects<'a>,
}

/// What [`build`] decides for one Service of ours with ingress IPs.
enum Verdict {
    Announce(ServicePlan),
    NotAllowed(NotAllowed),
    /// No applicable advertisement: silently not announced (MetalLB).
    NoAdvertisement,
}

fn service_plan(
    svc: &Service,
    ips: Vec<IpAddr>,
    pools: &BTreeMap<String, PoolPlan>,
    ads: &[Ad<'_>],
    endpoints: &Endpoints,
) -> Verdict {
    let key = ServiceKey::of(&svc.metadata);
    let annotations = svc.metadata.annotations.clone().unwrap_or_default();
    let Some(pool) = pool_of(pools, &annotations, &ips) else {
        return Verdict::NotAllowed(NotAllowed {
            service: key,
            uid: svc.metadata.uid.clone(),
            ips,
        });
    };
    let labels = svc.metadata.labels.clone().unwrap_or_default();
    let applicable: Vec<&Ad<'_>> = ads
        .iter()
        .filter(|ad| ad.applies(pool.pool.name(), &pool.labels, &labels))
        .collect();
    if applicable.is_empty() {
        return Verdict::NoAdvertisement;
    }
    let shared = names::annotation(&annotations, "allow-shared-ip").is_some()
        && applicable.iter().any(|a| !a.service_selectors.is_empty());
    let (any_serving, endpoint_nodes) = endpoints.get(&key).cloned().unwrap_or_default();
    let policy = match svc
        .spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
    {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    };
    tracing::trace!(service = %key, ads = ?applicable.iter().map(|a| &a.plan.name).collect::<Vec<_>>(), "applicable advertisements");
    Verdict::Announce(ServicePlan {
        key,
        uid: svc.metadata.uid.clone(),
        ips,
        policy,
        any_serving,
        endpoint_nodes,
        ads: applicable.iter().map(|a| a.plan.clone()).collect(),
        shared_ip_with_service_selector: shared,
    })
}

/// Builds the plan from the watched objects.
pub fn build(inp: &Inputs<'_>) -> Plan {
    let mut errors = Vec::new();
    let nodes: BTreeMap<String, NodePlan> = inp
        .nodes
        .iter()
        .map(|n| node_plan(n))
        .map(|n| (n.name.clone(), n))
        .collect();
    let ads: Vec<Ad<'_>> = inp
        .ads
        .iter()
        .filter_map(|a| convert_ad(a).map_err(|e| errors.push(e)).ok())
        .collect();
    let pools = parse_pools(inp.pools, inp.last_pools, &mut errors);
    let endpoints = endpoints(inp.slices);
    let mut services = Vec::new();
    let mut not_allowed = Vec::new();
    let mut bgp_services = BTreeMap::new();
    for svc in inp.services {
        if !is_ours(svc, inp.lb_class) {
            continue;
        }
        let ips = ingress_ips(svc);
        if ips.is_empty() {
            continue;
        }
        if !inp.bgp.peers.is_empty()
            && let Some(s) = bgp_service(svc, &ips, &pools, &endpoints)
        {
            bgp_services.insert(s.facts.key.clone(), s);
        }
        match service_plan(svc, ips, &pools, &ads, &endpoints) {
            Verdict::Announce(s) => services.push(s),
            Verdict::NotAllowed(n) => not_allowed.push(n),
            Verdict::NoAdvertisement => {}
        }
    }
    services.sort_by(|a, b| a.key.cmp(&b.key));
    not_allowed.sort_by(|a, b| a.service.cmp(&b.service));
    let bgp = bgp::inputs(&inp.bgp, &pools, bgp_services, &mut errors);
    Plan {
        nodes,
        services,
        not_allowed,
        pools,
        errors,
        speaker_nodes: None,
        bgp,
    }
}

/// BGP mode's view of a Service of ours with ingress `ips`, if they all lie in one pool.
fn bgp_service(
    svc: &Service,
    ips: &[IpAddr],
    pools: &BTreeMap<String, PoolPlan>,
    endpoints: &Endpoints,
) -> Option<BgpService> {
    let annotations = svc.metadata.annotations.clone().unwrap_or_default();
    let pool = pool_of(pools, &annotations, ips)?;
    let key = ServiceKey::of(&svc.metadata);
    let (any_serving, endpoint_nodes) = endpoints.get(&key).cloned().unwrap_or_default();
    Some(BgpService {
        facts: ferrolb_kube::convert::bgp::service_facts(
            svc,
            ips.to_vec(),
            pool.pool.name(),
            any_serving,
            false,
        ),
        key,
        endpoint_nodes,
    })
}

#[cfg(test)]
mod tests;
