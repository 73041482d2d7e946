//! Kubernetes objects → plain election inputs, and the per-node announcement decision. Pure
//! functions only (no client, no sockets), so every MetalLB rule reproduced here is unit-tested.
//!
//! MetalLB behaviour reproduced (`speaker/layer2_controller.go`, `metallb-runtime.md` §2.1):
//! - Services: `type: LoadBalancer` with at least one `status.loadBalancer.ingress[].ip`, and
//!   `spec.loadBalancerClass` equal to `--lb-class` (unset flag: only Services without a class).
//! - The Service's pool is the `metallb.io/ip-allocated-from-pool` annotation, else the pool
//!   whose addresses contain the first ingress IP.
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
use ferrolb_core::selector::LabelSelector;
use ferrolb_l2::election::{
    AdvertisementScope, Decision, NodeFacts, NodeSelector, ServiceInput, TrafficPolicy,
    WeightedSelector, candidates, selected_by_any, should_announce,
};
use ferrolb_l2::owner::Interfaces;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

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
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (event target).
    pub uid: Option<String>,
    /// Ingress IPs, first one decides the election.
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

/// Everything the L2 loop needs from the API server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Every Node object, by name.
    pub nodes: BTreeMap<String, NodePlan>,
    /// Announceable Services.
    pub services: Vec<ServicePlan>,
    /// Configuration errors (reported in the ConfigurationState).
    pub errors: Vec<String>,
}

/// `namespace/name` of a Service.
pub type ServiceKey = (String, String);

/// This node's decision for one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The Service.
    pub service: ServiceKey,
    /// The Service UID (event target).
    pub uid: Option<String>,
    /// IPs to answer for.
    pub ips: Vec<IpAddr>,
    /// Where.
    pub interfaces: Interfaces,
}

/// Outcome of [`decide`] for the local node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decisions {
    /// Services this node announces.
    pub announce: Vec<Announcement>,
    /// Services this node won but whose named interfaces do not exist here (`announceFailed`).
    pub failed: Vec<(ServiceKey, Option<String>, IpAddr)>,
}

impl Decisions {
    /// The `(IP, interfaces)` set for the owner table (an IP shared by several Services gets
    /// the union of their interfaces).
    pub fn desired(&self) -> Vec<(IpAddr, Interfaces)> {
        let mut by_ip: BTreeMap<IpAddr, Interfaces> = BTreeMap::new();
        for a in &self.announce {
            for ip in &a.ips {
                let merged = match by_ip.remove(ip) {
                    Some(prev) => prev.union(a.interfaces.clone()),
                    None => a.interfaces.clone(),
                };
                by_ip.insert(*ip, merged);
            }
        }
        by_ip.into_iter().collect()
    }
}

fn has_condition_true(node: &Node, ty: &str) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == ty && c.status == "True"))
}

/// Converts a Node.
pub fn node_plan(node: &Node) -> NodePlan {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    NodePlan {
        name: node.metadata.name.clone().unwrap_or_default(),
        exclude_label: labels.contains_key(names::LABEL_EXCLUDE_FROM_LB),
        labels,
        network_unavailable: has_condition_true(node, "NetworkUnavailable"),
        internal_ips: node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP")
            .filter_map(|a| a.address.parse().ok())
            .collect(),
    }
}

/// Whether a pool's `addresses` (CIDRs or `a-b` ranges) contain `ip`.
pub fn pool_contains(addresses: &[String], ip: IpAddr) -> bool {
    addresses.iter().any(|a| {
        let a = a.trim();
        if let Some((lo, hi)) = a.split_once('-') {
            match (lo.trim().parse::<IpAddr>(), hi.trim().parse::<IpAddr>()) {
                (Ok(lo), Ok(hi)) => lo <= ip && ip <= hi && lo.is_ipv4() == ip.is_ipv4(),
                _ => false,
            }
        } else if let Ok(net) = a.parse::<IpNet>() {
            net.contains(&ip)
        } else {
            a.parse::<IpAddr>().is_ok_and(|x| x == ip)
        }
    })
}

/// Endpoint serving rule (`internal/k8s/epslices`): `ready` unset or true, or `serving` true.
fn serving(ep: &k8s_openapi::api::discovery::v1::Endpoint) -> bool {
    let c = ep.conditions.as_ref();
    let ready = c.and_then(|c| c.ready);
    let serving = c.and_then(|c| c.serving);
    ready.unwrap_or(true) || serving == Some(true)
}

struct Ad<'a> {
    name: String,
    pools: &'a [String],
    pool_selectors: Vec<LabelSelector>,
    service_selectors: Vec<LabelSelector>,
    plan: AdPlan,
}

fn convert_ad<'a>(ad: &'a L2Advertisement, errors: &mut Vec<String>) -> Option<Ad<'a>> {
    let name = ad.metadata.name.clone().unwrap_or_default();
    let conv = |field: &str, list: &[metav1::LabelSelector], errors: &mut Vec<String>| {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match selector(s) {
                Ok(s) => out.push(s),
                Err(e) => {
                    errors.push(format!("L2Advertisement {name}: {field}[{i}]: {e}"));
                    return None;
                }
            }
        }
        Some(out)
    };
    let node_selectors = conv("nodeSelectors", &ad.spec.node_selectors, errors)?;
    let pool_selectors = conv(
        "ipAddressPoolSelectors",
        &ad.spec.ip_address_pool_selectors,
        errors,
    )?;
    let service_selectors = conv("serviceSelectors", &ad.spec.service_selectors, errors)?;
    let mut preferred = Vec::new();
    for (i, p) in ad.spec.preferred_node_selectors.iter().enumerate() {
        match selector(&p.preference) {
            Ok(s) => preferred.push((u32::try_from(p.weight).unwrap_or(0), s)),
            Err(e) => {
                errors.push(format!(
                    "L2Advertisement {name}: preferredNodeSelectors[{i}]: {e}"
                ));
                return None;
            }
        }
    }
    Some(Ad {
        name: name.clone(),
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
    pub slices: &'a [&'a EndpointSlice],
    /// Every Node.
    pub nodes: &'a [&'a Node],
    /// IPAddressPools of ferrolb's namespace.
    pub pools: &'a [&'a IPAddressPool],
    /// L2Advertisements of ferrolb's namespace.
    pub ads: &'a [&'a L2Advertisement],
    /// `--lb-class`.
    pub lb_class: Option<&'a str>,
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
        .filter_map(|a| convert_ad(a, &mut errors))
        .collect();

    // (namespace, service) -> (any serving, nodes with serving endpoints)
    let mut endpoints: BTreeMap<(String, String), (bool, BTreeSet<String>)> = BTreeMap::new();
    for s in inp.slices {
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        let Some(svc) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
        else {
            continue;
        };
        let e = endpoints.entry((ns, svc.clone())).or_default();
        for ep in s.endpoints.iter().filter(|ep| serving(ep)) {
            e.0 = true;
            if let Some(n) = &ep.node_name {
                e.1.insert(n.clone());
            }
        }
    }

    let mut services = Vec::new();
    for svc in inp.services {
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() != Some("LoadBalancer") {
            continue;
        }
        if spec.load_balancer_class.as_deref() != inp.lb_class {
            continue;
        }
        let ips: Vec<IpAddr> = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref())
            .filter_map(|ip| ip.parse().ok())
            .collect();
        let Some(first) = ips.first().copied() else {
            continue;
        };
        let namespace = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let annotations = svc.metadata.annotations.clone().unwrap_or_default();
        let labels = svc.metadata.labels.clone().unwrap_or_default();
        let pool = names::annotation(&annotations, "ip-allocated-from-pool")
            .and_then(|(p, _)| {
                inp.pools
                    .iter()
                    .find(|x| x.metadata.name.as_deref() == Some(p))
            })
            .or_else(|| {
                inp.pools
                    .iter()
                    .find(|p| pool_contains(&p.spec.addresses, first))
            });
        let Some(pool) = pool else { continue };
        let pool_name = pool.metadata.name.clone().unwrap_or_default();
        let pool_labels = pool.metadata.labels.clone().unwrap_or_default();
        let applicable: Vec<&Ad<'_>> = ads
            .iter()
            .filter(|ad| {
                (ad.pools.is_empty() && ad.pool_selectors.is_empty())
                    || ad.pools.contains(&pool_name)
                    || ad.pool_selectors.iter().any(|s| s.matches(&pool_labels))
            })
            .filter(|ad| {
                ad.service_selectors.is_empty()
                    || ad.service_selectors.iter().any(|s| s.matches(&labels))
            })
            .collect();
        if applicable.is_empty() {
            continue;
        }
        let shared = names::annotation(&annotations, "allow-shared-ip").is_some()
            && applicable.iter().any(|a| !a.service_selectors.is_empty());
        let (any_serving, endpoint_nodes) = endpoints
            .get(&(namespace.clone(), name.clone()))
            .cloned()
            .unwrap_or_default();
        let policy = match spec.external_traffic_policy.as_deref() {
            Some("Local") => TrafficPolicy::Local,
            _ => TrafficPolicy::Cluster,
        };
        tracing::trace!(service = %format!("{namespace}/{name}"), ads = ?applicable.iter().map(|a| &a.name).collect::<Vec<_>>(), "applicable advertisements");
        services.push(ServicePlan {
            namespace,
            name,
            uid: svc.metadata.uid.clone(),
            ips,
            policy,
            any_serving,
            endpoint_nodes,
            ads: applicable.iter().map(|a| a.plan.clone()).collect(),
            shared_ip_with_service_selector: shared,
        });
    }
    services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Plan {
        nodes,
        services,
        errors,
    }
}

/// What this node announces, given the live speakers `alive` (the local node included when it
/// is live) and the local interface names `local_ifaces` (for `announceFailed`).
pub fn decide(
    plan: &Plan,
    me: &str,
    alive: &BTreeSet<&str>,
    local_ifaces: &BTreeSet<String>,
    ignore_exclude_lb: bool,
) -> Decisions {
    let mut out = Decisions::default();
    let Some(my_node) = plan.nodes.get(me) else {
        return out;
    };
    let facts: Vec<NodeFacts<'_, Labels>> = plan
        .nodes
        .values()
        .filter(|n| alive.contains(n.name.as_str()))
        .map(|n| NodeFacts {
            name: &n.name,
            labels: &n.labels,
            network_unavailable: n.network_unavailable,
            exclude_label: n.exclude_label,
        })
        .collect();
    for svc in &plan.services {
        if svc.shared_ip_with_service_selector {
            continue;
        }
        let Some(first_ip) = svc.ips.first().copied() else {
            continue;
        };
        let scopes: Vec<AdvertisementScope<Sel>> = svc.ads.iter().map(AdPlan::scope).collect();
        let my_selected = selected_by_any(&my_node.labels, &scopes);
        let cands = candidates(
            &facts,
            &scopes,
            |n| svc.endpoint_nodes.contains(n),
            ignore_exclude_lb,
        );
        let input = ServiceInput {
            first_ip,
            traffic_policy: svc.policy,
            any_serving_endpoint: svc.any_serving,
        };
        if should_announce(me, my_selected, &input, cands) != Decision::Announce {
            continue;
        }
        let mine: Vec<&AdPlan> = svc
            .ads
            .iter()
            .filter(|a| a.scope().selects(&my_node.labels))
            .collect();
        let interfaces = if mine.iter().any(|a| a.interfaces.is_empty()) {
            Interfaces::All
        } else {
            Interfaces::Named(
                mine.iter()
                    .flat_map(|a| a.interfaces.iter().cloned())
                    .collect(),
            )
        };
        if let Interfaces::Named(set) = &interfaces
            && !set.iter().any(|i| local_ifaces.contains(i))
        {
            out.failed.push((
                (svc.namespace.clone(), svc.name.clone()),
                svc.uid.clone(),
                first_ip,
            ));
            continue;
        }
        out.announce.push(Announcement {
            service: (svc.namespace.clone(), svc.name.clone()),
            uid: svc.uid.clone(),
            ips: svc.ips.clone(),
            interfaces,
        });
    }
    out
}

#[cfg(test)]
mod tests;
