//! Which Service IPs this node announces, as which prefixes, to which peers, with which
//! communities and LOCAL_PREF (MetalLB `speaker/bgp_controller.go` `ShouldAnnounce` and
//! `SetBalancer`, `metallb-runtime.md` §3.4, `metallb-api.md` §1.3).
//!
//! Advertisements of a Service: the BGPAdvertisements selecting its pool (`ipAddressPools`
//! names or `ipAddressPoolSelectors` on the pool's labels; neither = every pool), its labels
//! (`serviceSelectors`, any; none = all) and this node (`nodeSelectors`, any; none = all).
//! The decision, in this order (the first failing check is the [`NotAnnounced`] reason):
//! no IP → `noIPAllocated`; no advertisement of the pool selects this node → `notOwner`;
//! none of those matches the Service → `noMatchingAdvertisement`; two of them would give
//! one prefix to a common peer with different `localPref` → `conflictingAdvertisements`;
//! node `NetworkUnavailable` → `nodeNetworkUnavailable`; exclude-from-LB label →
//! `nodeLabeledExcludeBalancers`; ETP=Local without a serving endpoint on this node →
//! `noLocalEndpoints`; ETP=Cluster without a serving endpoint anywhere → `noEndpoints`.
//!
//! Each announced IP gives, per advertisement, the prefix `ip.Mask(aggregationLength)`
//! (`aggregationLengthV6` for IPv6), sent to the node's peers the advertisement names in
//! `peers` (none = all; an unknown name = no peer). Prefixes are shared: an aggregate lives
//! while any announced Service IP produces it, and when several (Service, advertisement)
//! pairs produce one prefix for a peer their communities are unioned (MetalLB native and
//! FRR both do) and the highest `localPref` wins (conflicts within one Service are flagged
//! above; across Services sharing an IP MetalLB's result is unspecified, so we pick the
//! deterministic maximum).

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ferrolb_core::LabelSelector;
use ipnet::IpNet;

use super::community::Community;
use super::peer::{PeerSpec, peers_for_node};
use super::{Labels, NodeFacts, any_selects};

/// `externalTrafficPolicy` of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrafficPolicy {
    /// Every selected node announces when any serving endpoint exists.
    #[default]
    Cluster,
    /// Only nodes hosting a serving endpoint announce.
    Local,
}

/// What the decision needs about one Service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceFacts {
    /// `namespace/name`.
    pub key: String,
    /// Service labels (`serviceSelectors`).
    pub labels: Labels,
    /// The load-balancer IPs (`status.loadBalancer.ingress`).
    pub ips: Vec<IpAddr>,
    /// Name of the IPAddressPool the IPs come from.
    pub pool: String,
    /// `externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// A serving endpoint (`ready` unset/true or `serving` true) exists on any node.
    pub serving_anywhere: bool,
    /// A serving endpoint exists on this node.
    pub serving_on_node: bool,
}

/// One BGPAdvertisement with its communities resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// `metadata.name`.
    pub name: String,
    /// `aggregationLength` (default 32).
    pub aggregation_length: u8,
    /// `aggregationLengthV6` (default 128).
    pub aggregation_length_v6: u8,
    /// `localPref` (0 = unset).
    pub local_pref: u32,
    /// `communities`, resolved ([`super::resolve_communities`]).
    pub communities: Vec<Community>,
    /// `ipAddressPools`.
    pub ip_address_pools: Vec<String>,
    /// `ipAddressPoolSelectors`.
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// `nodeSelectors`.
    pub node_selectors: Vec<LabelSelector>,
    /// `peers` (BGPPeer names).
    pub peers: Vec<String>,
    /// `serviceSelectors`.
    pub service_selectors: Vec<LabelSelector>,
}

impl Advertisement {
    /// An advertisement with the defaults (/32, /128, every pool, node, peer, Service).
    pub fn new(name: &str) -> Self {
        Advertisement {
            name: name.to_owned(),
            aggregation_length: 32,
            aggregation_length_v6: 128,
            local_pref: 0,
            communities: Vec::new(),
            ip_address_pools: Vec::new(),
            ip_address_pool_selectors: Vec::new(),
            node_selectors: Vec::new(),
            peers: Vec::new(),
            service_selectors: Vec::new(),
        }
    }

    /// Whether the advertisement covers the pool (`pool_labels`: the pool's labels, if
    /// the pool exists).
    pub fn selects_pool(&self, pool: &str, pool_labels: Option<&Labels>) -> bool {
        if self.ip_address_pools.is_empty() && self.ip_address_pool_selectors.is_empty() {
            return true;
        }
        self.ip_address_pools.iter().any(|p| p == pool)
            || pool_labels
                .is_some_and(|l| self.ip_address_pool_selectors.iter().any(|s| s.matches(l)))
    }

    /// The aggregation length for an IP's family.
    pub fn length_for(&self, ip: &IpAddr) -> u8 {
        match ip {
            IpAddr::V4(_) => self.aggregation_length,
            IpAddr::V6(_) => self.aggregation_length_v6,
        }
    }

    /// The announced prefix of `ip` (`ip.Mask(len)`); `None` for a length beyond the
    /// family's maximum (a config the validator rejects).
    pub fn prefix(&self, ip: IpAddr) -> Option<IpNet> {
        IpNet::new(ip, self.length_for(&ip)).ok().map(|n| n.trunc())
    }

    /// Whether the advertisement goes to the peer named `peer` (`peers` empty = all).
    pub fn targets(&self, peer: &str) -> bool {
        self.peers.is_empty() || self.peers.iter().any(|p| p == peer)
    }

    fn local_pref(&self) -> Option<u32> {
        (self.local_pref != 0).then_some(self.local_pref)
    }
}

/// Why a Service is not announced from this node (the strings are MetalLB's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotAnnounced {
    /// The Service has no load-balancer IP.
    NoIpAllocated,
    /// No advertisement of the Service's pool selects this node.
    NotOwner,
    /// No advertisement of the pool selecting this node matches the Service.
    NoMatchingAdvertisement,
    /// Two advertisements give one prefix to a common peer with different `localPref`.
    ConflictingAdvertisements,
    /// The node has `NetworkUnavailable=True`.
    NodeNetworkUnavailable,
    /// The node carries the exclude-from-external-load-balancers label.
    NodeExcluded,
    /// ETP=Local and no serving endpoint on this node.
    NoLocalEndpoints,
    /// ETP=Cluster and no serving endpoint anywhere.
    NoEndpoints,
}

impl NotAnnounced {
    /// MetalLB's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            NotAnnounced::NoIpAllocated => "noIPAllocated",
            NotAnnounced::NotOwner => "notOwner",
            NotAnnounced::NoMatchingAdvertisement => "noMatchingAdvertisement",
            NotAnnounced::ConflictingAdvertisements => "conflictingAdvertisements",
            NotAnnounced::NodeNetworkUnavailable => "nodeNetworkUnavailable",
            NotAnnounced::NodeExcluded => "nodeLabeledExcludeBalancers",
            NotAnnounced::NoLocalEndpoints => "noLocalEndpoints",
            NotAnnounced::NoEndpoints => "noEndpoints",
        }
    }
}

impl fmt::Display for NotAnnounced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision for one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceDecision {
    /// Announced from this node.
    Announce {
        /// Names of this node's BGPPeers it is configured to go to (ServiceBGPStatus
        /// `status.peers`: desired, not session state).
        peers: BTreeSet<String>,
        /// The prefixes its IPs produce (over all its advertisements).
        prefixes: BTreeSet<IpNet>,
    },
    /// Not announced, and why.
    Skip(NotAnnounced),
}

/// One prefix's attributes for one peer, before the session adds next hop and LOCAL_PREF
/// rules ([`super::peer_table`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    /// The highest configured `localPref` of the contributing advertisements (None: unset).
    pub local_pref: Option<u32>,
    /// Union of the contributing advertisements' communities.
    pub communities: BTreeSet<Community>,
    /// How many Services' IPs produce the prefix (an aggregate lives while one does). A
    /// count, not the names: with many peers and prefixes a set of names per route was most
    /// of the plan's memory (the status writers take the names from
    /// [`Plan::services`]).
    pub services: u32,
}

/// The node's plan: peers, per-Service decisions, per-peer routes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Per Service key, the decision.
    pub services: BTreeMap<String, ServiceDecision>,
    /// Per BGPPeer name of this node (every peer present, maybe with no route), its routes.
    pub routes: BTreeMap<String, BTreeMap<IpNet, Route>>,
}

/// Everything [`plan`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The local node.
    pub node: &'a NodeFacts,
    /// Every BGPPeer (filtered to this node here).
    pub peers: &'a [PeerSpec],
    /// Every BGPAdvertisement.
    pub advertisements: &'a [Advertisement],
    /// IPAddressPool labels by pool name (`ipAddressPoolSelectors`).
    pub pool_labels: &'a BTreeMap<String, Labels>,
    /// The Services with load-balancer IPs.
    pub services: &'a [ServiceFacts],
}

/// The advertisements applying to a Service on this node, or why none does.
pub fn applicable<'a>(
    input: &PlanInput<'a>,
    svc: &ServiceFacts,
) -> Result<Vec<&'a Advertisement>, NotAnnounced> {
    if svc.ips.is_empty() {
        return Err(NotAnnounced::NoIpAllocated);
    }
    let labels = input.pool_labels.get(&svc.pool);
    let on_node: Vec<&Advertisement> = input
        .advertisements
        .iter()
        .filter(|a| a.selects_pool(&svc.pool, labels))
        .filter(|a| any_selects(&a.node_selectors, &input.node.labels))
        .collect();
    if on_node.is_empty() {
        return Err(NotAnnounced::NotOwner);
    }
    let ads: Vec<&Advertisement> = on_node
        .into_iter()
        .filter(|a| any_selects(&a.service_selectors, &svc.labels))
        .collect();
    if ads.is_empty() {
        return Err(NotAnnounced::NoMatchingAdvertisement);
    }
    if conflicting(&ads, &svc.ips) {
        return Err(NotAnnounced::ConflictingAdvertisements);
    }
    Ok(ads)
}

/// Two advertisements giving the same prefix of one IP to a common peer with different
/// `localPref` (MetalLB `BGPAdvertisementsHaveCompatibleLocalPref`; the node sets
/// intersect by construction).
fn conflicting(ads: &[&Advertisement], ips: &[IpAddr]) -> bool {
    let peers_meet = |a: &Advertisement, b: &Advertisement| {
        a.peers.is_empty() || b.peers.is_empty() || a.peers.iter().any(|p| b.peers.contains(p))
    };
    ads.iter().enumerate().any(|(i, a)| {
        ads[i + 1..].iter().any(|b| {
            a.local_pref != b.local_pref
                && peers_meet(a, b)
                && ips.iter().any(|ip| a.length_for(ip) == b.length_for(ip))
        })
    })
}

/// The node and endpoint checks of `ShouldAnnounce`.
pub fn node_and_endpoints(node: &NodeFacts, svc: &ServiceFacts) -> Result<(), NotAnnounced> {
    if node.network_unavailable {
        return Err(NotAnnounced::NodeNetworkUnavailable);
    }
    if node.excluded_from_lb {
        return Err(NotAnnounced::NodeExcluded);
    }
    match svc.traffic_policy {
        TrafficPolicy::Local if !svc.serving_on_node => Err(NotAnnounced::NoLocalEndpoints),
        TrafficPolicy::Cluster if !svc.serving_anywhere => Err(NotAnnounced::NoEndpoints),
        _ => Ok(()),
    }
}

/// The node's plan (module doc for the rules).
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let peers = peers_for_node(input.peers, input.node);
    let mut out = Plan {
        routes: peers
            .iter()
            .map(|p| (p.name.clone(), BTreeMap::new()))
            .collect(),
        ..Plan::default()
    };
    for svc in input.services {
        let decision = applicable(input, svc)
            .and_then(|ads| node_and_endpoints(input.node, svc).map(|()| ads));
        let decision = match decision {
            Ok(ads) => announce(&mut out.routes, &peers, &ads, svc),
            Err(reason) => ServiceDecision::Skip(reason),
        };
        out.services.insert(svc.key.clone(), decision);
    }
    out
}

/// Adds one announced Service's routes; returns its decision.
fn announce(
    routes: &mut BTreeMap<String, BTreeMap<IpNet, Route>>,
    peers: &[&PeerSpec],
    ads: &[&Advertisement],
    svc: &ServiceFacts,
) -> ServiceDecision {
    let mut to_peers = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    // (peer, prefix) pairs this Service produces: counted once however many of its IPs or
    // advertisements give the prefix.
    let mut counted: BTreeSet<(&str, IpNet)> = BTreeSet::new();
    for ad in ads {
        let targets: Vec<&str> = peers
            .iter()
            .filter(|p| ad.targets(&p.name))
            .map(|p| p.name.as_str())
            .collect();
        to_peers.extend(targets.iter().map(|p| (*p).to_owned()));
        for prefix in svc.ips.iter().filter_map(|ip| ad.prefix(*ip)) {
            prefixes.insert(prefix);
            for peer in &targets {
                let Some(table) = routes.get_mut(*peer) else {
                    continue;
                };
                let r = table.entry(prefix).or_default();
                r.local_pref = r.local_pref.max(ad.local_pref());
                r.communities.extend(ad.communities.iter().copied());
                if counted.insert((peer, prefix)) {
                    r.services += 1;
                }
            }
        }
    }
    ServiceDecision::Announce {
        peers: to_peers,
        prefixes,
    }
}
