//! The BGP half of the plan: BGPPeer, BGPAdvertisement, Community and the peers' Secrets
//! converted once per pass (`ferrolb_kube::convert::bgp`, the one conversion) into
//! [`BgpInputs`], and the node's [`ferrolb_bgp::announce::Plan`] computed from them
//! ([`BgpInputs::announce`]): MetalLB's `ShouldAnnounce`, per-node peers, per-peer routes.
//!
//! Same rules as the L2 half (see the parent module): a Service is considered only when every
//! ingress IP lies in one pool (`Pool::contains`, [`super::pool_of`]); the endpoint facts are
//! the same EndpointSlice reading. An invalid BGPPeer or BGPAdvertisement is reported in
//! [`super::Plan::errors`] (the ConfigurationState) and keeps its last good version, as pools
//! do. BFDProfiles are converted here too (`ferrolb_kube::convert::bfd`) into
//! [`BgpInputs::bfd_profiles`], which only the BFD runtime (`crate::bfd`) reads: a profile
//! change never touches a BGP session's identity.

use std::collections::{BTreeMap, BTreeSet};

use ferrolb_api::v1beta1::{BFDProfile, BGPAdvertisement, Community};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_bfd::Params;
use ferrolb_bgp::announce::{self, Advertisement, NodeFacts, PeerSpec, ServiceFacts};
use ferrolb_kube::convert::bfd as convert_bfd;
use ferrolb_kube::convert::bgp as convert;
use k8s_openapi::api::core::v1::Secret;

use super::{Labels, NodePlan, PoolPlan, ServiceKey};

/// The Kubernetes objects of BGP mode (all empty when BGP is disabled).
#[derive(Debug, Clone, Copy, Default)]
pub struct BgpObjects<'a> {
    /// BGPPeers of ferrolb's namespace.
    pub peers: &'a [&'a BGPPeer],
    /// BGPAdvertisements of ferrolb's namespace.
    pub ads: &'a [&'a BGPAdvertisement],
    /// Community objects of ferrolb's namespace.
    pub communities: &'a [&'a Community],
    /// Secrets of ferrolb's namespace (`passwordSecret`).
    pub secrets: &'a [&'a Secret],
    /// BFDProfiles of ferrolb's namespace.
    pub bfd_profiles: &'a [&'a BFDProfile],
    /// The previous plan's BGP inputs (invalid objects keep their last good version).
    pub last: Option<&'a BgpInputs>,
}

/// One Service with load-balancer IPs inside a pool, as BGP mode sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpService {
    /// The Service.
    pub key: ServiceKey,
    /// Its facts (`serving_on_node` is filled per node by [`BgpInputs::announce`]).
    pub facts: ServiceFacts,
    /// Nodes hosting a serving endpoint.
    pub endpoint_nodes: BTreeSet<String>,
}

/// Everything BGP mode decides from, for every node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BgpInputs {
    /// Valid BGPPeers (an invalid one in its last good version), by name order.
    pub peers: Vec<PeerSpec>,
    /// Valid BGPAdvertisements (likewise).
    pub advertisements: Vec<Advertisement>,
    /// Pool labels by pool name (`ipAddressPoolSelectors`).
    pub pool_labels: BTreeMap<String, Labels>,
    /// Services with IPs in a pool, by `namespace/name`.
    pub services: BTreeMap<String, BgpService>,
    /// Valid BFDProfiles (an invalid one in its last good version) by name.
    pub bfd_profiles: BTreeMap<String, Params>,
}

/// Converts `objs` with `convert`; an invalid object is reported in `errors` and replaced by
/// its last good version from `last` (matched by `name`).
fn convert_keeping_last<O, T: Clone>(
    objs: &[&O],
    name_of: impl Fn(&O) -> String,
    convert: impl Fn(&O) -> Result<T, String>,
    last: &[T],
    last_name: impl Fn(&T) -> &str,
    errors: &mut Vec<String>,
) -> Vec<T> {
    let mut out = Vec::new();
    for o in objs {
        match convert(o) {
            Ok(t) => out.push(t),
            Err(e) => {
                errors.push(e);
                let name = name_of(o);
                if let Some(old) = last.iter().find(|t| last_name(t) == name) {
                    out.push(old.clone());
                }
            }
        }
    }
    out
}

/// Converts the BGP objects; `services` are the Services with IPs in a pool (built by the
/// parent module).
pub fn inputs(
    objs: &BgpObjects<'_>,
    pools: &BTreeMap<String, PoolPlan>,
    services: BTreeMap<String, BgpService>,
    errors: &mut Vec<String>,
) -> BgpInputs {
    let empty = BgpInputs::default();
    let last = objs.last.unwrap_or(&empty);
    let name = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.name.clone().unwrap_or_default()
    };
    let mut peers = convert_keeping_last(
        objs.peers,
        |p| name(&p.metadata),
        |p| convert::bgp_peer(p, objs.secrets).map_err(|e| e.to_string()),
        &last.peers,
        |p| &p.name,
        errors,
    );
    peers.sort_by(|a, b| a.name.cmp(&b.name));
    let aliases = convert::community_aliases(objs.communities);
    let mut advertisements = convert_keeping_last(
        objs.ads,
        |a| name(&a.metadata),
        |a| convert::bgp_advertisement(a, &aliases).map_err(|e| e.to_string()),
        &last.advertisements,
        |a| &a.name,
        errors,
    );
    advertisements.sort_by(|a, b| a.name.cmp(&b.name));
    let last_bfd: Vec<(String, Params)> = last
        .bfd_profiles
        .iter()
        .map(|(n, p)| (n.clone(), *p))
        .collect();
    let bfd_profiles = convert_keeping_last(
        objs.bfd_profiles,
        |b| name(&b.metadata),
        |b| {
            convert_bfd::bfd_profile(b)
                .map(|p| (name(&b.metadata), p))
                .map_err(|e| e.to_string())
        },
        &last_bfd,
        |(n, _)| n,
        errors,
    )
    .into_iter()
    .collect();
    BgpInputs {
        peers,
        advertisements,
        pool_labels: pools
            .iter()
            .map(|(n, p)| (n.clone(), p.labels.clone()))
            .collect(),
        services,
        bfd_profiles,
    }
}

impl BgpInputs {
    /// The node's plan (`node`: the local Node; `None` while it has no Node object, then
    /// nothing is announced and no session is wanted).
    pub fn announce(&self, node: Option<&NodePlan>, ignore_exclude_lb: bool) -> announce::Plan {
        let Some(node) = node else {
            return announce::Plan::default();
        };
        let facts = NodeFacts {
            name: node.name.clone(),
            labels: node.labels.clone(),
            network_unavailable: node.network_unavailable,
            excluded_from_lb: node.exclude_label && !ignore_exclude_lb,
        };
        let services: Vec<ServiceFacts> = self
            .services
            .values()
            .map(|s| ServiceFacts {
                serving_on_node: s.endpoint_nodes.contains(&node.name),
                ..s.facts.clone()
            })
            .collect();
        announce::plan(&announce::PlanInput {
            node: &facts,
            peers: &self.peers,
            advertisements: &self.advertisements,
            pool_labels: &self.pool_labels,
            services: &services,
        })
    }

    /// The Service of an announce-plan key (`namespace/name`).
    pub fn service(&self, key: &str) -> Option<&BgpService> {
        self.services.get(key)
    }
}

#[cfg(test)]
mod tests;
