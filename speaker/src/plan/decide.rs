//! The local node's decision over a [`Plan`]: which Services it announces on which interfaces,
//! which won Services it cannot announce (`announceFailed`), and which unannounceable Services
//! it reports (`ipNotAllowed`, by one node only).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_l2::election::{
    AdvertisementScope, Decision, NodeFacts, ServiceInput, candidates, selected_by_any,
    should_announce,
};
use ferrolb_l2::owner::Interfaces;

use super::{AdPlan, Labels, NotAllowed, Plan, Sel, ServiceKey, ServicePlan};

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
    /// Services with IPs outside every pool that this node reports (Warning `ipNotAllowed`):
    /// only the first live node by name reports them, so a cluster emits one event, not one
    /// per node.
    pub not_allowed: Vec<NotAllowed>,
}

impl Decisions {
    /// These decisions once the node has released every IP for lack of quorum (`--quorum
    /// majority`, [`ferrolb_l2::node`]): it announces nothing, so its status objects go away and
    /// no `announceFailed` stands; the `ipNotAllowed` reports are unchanged.
    pub fn released(&self) -> Decisions {
        Decisions {
            announce: Vec::new(),
            failed: Vec::new(),
            not_allowed: self.not_allowed.clone(),
        }
    }

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

/// The interfaces of the ads that select this node: all when one of them names none.
fn interfaces_for(svc: &ServicePlan, my_labels: &Labels) -> Interfaces {
    let mine: Vec<&AdPlan> = svc
        .ads
        .iter()
        .filter(|a| a.scope().selects(my_labels))
        .collect();
    if mine.iter().any(|a| a.interfaces.is_empty()) {
        Interfaces::All
    } else {
        Interfaces::Named(
            mine.iter()
                .flat_map(|a| a.interfaces.iter().cloned())
                .collect(),
        )
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
    if plan.nodes.keys().find(|n| alive.contains(n.as_str())) == Some(&my_node.name) {
        out.not_allowed = plan.not_allowed.clone();
    }
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
        let Some(first_ip) = svc.ips.first().copied() else {
            continue;
        };
        if svc.shared_ip_with_service_selector {
            continue;
        }
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
        let interfaces = interfaces_for(svc, &my_node.labels);
        if let Interfaces::Named(set) = &interfaces
            && !set.iter().any(|i| local_ifaces.contains(i))
        {
            out.failed
                .push((svc.key.clone(), svc.uid.clone(), first_ip));
            continue;
        }
        out.announce.push(Announcement {
            service: svc.key.clone(),
            uid: svc.uid.clone(),
            ips: svc.ips.clone(),
            interfaces,
        });
    }
    out
}
