//! Which node announces a service IP in Layer-2 mode.
//!
//! This reproduces MetalLB's stateless election (`speaker/layer2_controller.go`,
//! `ShouldAnnounce`, reference `metallb-runtime.md` §2.1) exactly, so that a mixed fleet of Go
//! and Rust speakers agrees on the owner during a rolling migration:
//!
//! 1. If the service has no serving endpoint anywhere, nobody announces
//!    ([`NotOwnerReason::NoServingEndpoint`]).
//! 2. The local node must be selected by one of the applicable L2Advertisements'
//!    `nodeSelectors` ([`NotOwnerReason::LocalNodeNotSelected`]).
//! 3. Candidates are the *live speakers* (memberlist/heartbeat members, or every Node object
//!    when membership is disabled — the adapter decides what it passes in), minus nodes with the
//!    `NetworkUnavailable=True` condition, minus nodes labelled
//!    `node.kubernetes.io/exclude-from-external-load-balancers` (unless `--ignore-exclude-lb`),
//!    restricted to nodes selected by an applicable advertisement. The Node `Ready` condition is
//!    **not** consulted (MetalLB behaviour).
//! 4. `externalTrafficPolicy: Local`: only candidates hosting a serving endpoint.
//! 5. Order by the summed `preferredNodeSelectors` weight, **descending**, then by
//!    `sha256(nodeName + "#" + ipString)` compared **bytewise ascending** (Go
//!    `bytes.Compare(hi[:], hj[:]) < 0`). The first node wins.
//!
//! `ipString` is Go's `net.IP.String()` of the service's **first** load-balancer IP (so both
//! families of a dual-stack service land on the same node, and services sharing an IP land on
//! the same node). [`go_ip_string`] reproduces Go's formatting, including its quirk of printing
//! IPv4-mapped IPv6 addresses in dotted-quad form.
//!
//! Selector matching is kept out of this crate: an advertisement's selectors are anything that
//! implements [`NodeSelector`] (closures do), so `ferrolb-core`'s label-selector type can be
//! plugged in by the speaker.
//!
//! Ties (identical weight and identical hash, i.e. duplicate node names) are broken by name so
//! the result never depends on input order.

use std::{
    cmp::{Ordering, Reverse},
    fmt::Write as _,
    net::{IpAddr, Ipv6Addr},
};

use sha2::{Digest, Sha256};

/// `externalTrafficPolicy` of a Service, as far as the election cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrafficPolicy {
    /// Any candidate node may announce.
    #[default]
    Cluster,
    /// Only candidate nodes hosting a serving endpoint of the service may announce.
    Local,
}

/// One node as the election sees it. The adapter builds one per **live speaker**.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCandidate<'a> {
    /// Kubernetes Node name (must equal the memberlist/heartbeat name and
    /// `EndpointSlice.endpoints[].nodeName`).
    pub name: &'a str,
    /// The Node has condition `NetworkUnavailable=True`.
    pub network_unavailable: bool,
    /// The Node carries the label `node.kubernetes.io/exclude-from-external-load-balancers`
    /// and the speaker does not run with `--ignore-exclude-lb`.
    pub excluded: bool,
    /// The node is selected by the `nodeSelectors` of at least one advertisement applicable to
    /// the service (see [`AdvertisementScope::selects`]).
    pub selected: bool,
    /// Summed `preferredNodeSelectors` weight (see [`preference_weight`]).
    pub weight: u32,
    /// A serving endpoint (`ready` unset/true, or `serving` true) of the service runs on this
    /// node. Only consulted for [`TrafficPolicy::Local`].
    pub has_local_endpoint: bool,
}

impl<'a> NodeCandidate<'a> {
    /// A plain eligible candidate with weight 0 and a local endpoint (test and bench helper).
    pub fn eligible(name: &'a str) -> Self {
        Self {
            name,
            network_unavailable: false,
            excluded: false,
            selected: true,
            weight: 0,
            has_local_endpoint: true,
        }
    }

    /// Whether this node takes part in the election for a service with `policy`.
    pub fn is_candidate(&self, policy: TrafficPolicy) -> bool {
        !self.network_unavailable
            && !self.excluded
            && self.selected
            && (policy == TrafficPolicy::Cluster || self.has_local_endpoint)
    }
}

/// The per-service facts the election needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInput {
    /// The first IP of `status.loadBalancer.ingress` (MetalLB uses `toAnnounce[0]`).
    pub first_ip: IpAddr,
    /// The service's `externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
    /// At least one serving endpoint exists on any node.
    pub any_serving_endpoint: bool,
}

/// Why the local node does not announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotOwnerReason {
    /// No serving endpoint exists anywhere: the IP is not announced at all.
    NoServingEndpoint,
    /// No applicable advertisement selects the local node.
    LocalNodeNotSelected,
    /// The candidate set is empty.
    NoCandidates,
    /// Another node won the election.
    LostTo(String),
}

/// Outcome of [`should_announce`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The local node owns the service IP(s).
    Announce,
    /// The local node does not announce.
    NotOwner(NotOwnerReason),
}

// === Go-compatible IP formatting and hashing ===

/// Formats `ip` exactly like Go's `net.IP.String()`.
///
/// IPv4 is dotted quad. IPv6 follows RFC 5952 §4 as Go implements it: lowercase hex without
/// leading zeros, the longest run (first one on ties) of two or more zero groups replaced by
/// `::`. IPv4-mapped addresses (`::ffff:a.b.c.d`) print as plain `a.b.c.d` because Go's
/// `String()` tries `To4()` first.
pub fn go_ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format_v6(v6),
        },
    }
}

fn format_v6(ip: Ipv6Addr) -> String {
    let seg = ip.segments();
    // Longest run of zero groups with length >= 2; the first such run wins ties.
    let (mut best_start, mut best_len) = (usize::MAX, 1usize);
    let mut i = 0;
    while i < seg.len() {
        if seg[i] == 0 {
            let start = i;
            while i < seg.len() && seg[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_start = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let mut out = String::with_capacity(39);
    let mut i = 0;
    while i < seg.len() {
        if i == best_start {
            out.push_str("::");
            i += best_len;
            continue;
        }
        if i > 0 && !out.ends_with(':') {
            out.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{:x}", seg[i]);
        i += 1;
    }
    out
}

/// `sha256(node_name + "#" + ip_string)`, the MetalLB election key.
pub fn election_key(node_name: &str, ip_string: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(node_name.as_bytes());
    h.update(b"#");
    h.update(ip_string.as_bytes());
    h.finalize().into()
}

// === Election ===

/// Total order used by MetalLB: weight descending, then hash bytewise ascending (then name, only
/// to make duplicate names deterministic).
fn compare(a: &(u32, [u8; 32], &str), b: &(u32, [u8; 32], &str)) -> Ordering {
    (Reverse(a.0), &a.1, a.2).cmp(&(Reverse(b.0), &b.1, b.2))
}

/// The winning node for a service whose first IP is `first_ip`, among `nodes`; `None` if no
/// node is a candidate. `O(n)` hashes, no sort.
pub fn elect<'a, I>(first_ip: IpAddr, policy: TrafficPolicy, nodes: I) -> Option<&'a str>
where
    I: IntoIterator<Item = NodeCandidate<'a>>,
{
    let ip = go_ip_string(first_ip);
    nodes
        .into_iter()
        .filter(|n| n.is_candidate(policy))
        .map(|n| (n.weight, election_key(n.name, &ip), n.name))
        .min_by(compare)
        .map(|(_, _, name)| name)
}

/// All candidates in election order (winner first). Useful for status, debugging and tests.
pub fn rank<'a, I>(first_ip: IpAddr, policy: TrafficPolicy, nodes: I) -> Vec<&'a str>
where
    I: IntoIterator<Item = NodeCandidate<'a>>,
{
    let ip = go_ip_string(first_ip);
    let mut keyed: Vec<_> = nodes
        .into_iter()
        .filter(|n| n.is_candidate(policy))
        .map(|n| (n.weight, election_key(n.name, &ip), n.name))
        .collect();
    keyed.sort_by(compare);
    keyed.into_iter().map(|(_, _, name)| name).collect()
}

/// MetalLB's `ShouldAnnounce` for the local node `my_node`.
///
/// `nodes` are the live speakers (including the local one if it is live); `my_selected` says
/// whether an applicable advertisement selects the local node (MetalLB checks this even when
/// the local node is missing from the member list).
pub fn should_announce<'a, I>(
    my_node: &str,
    my_selected: bool,
    service: &ServiceInput,
    nodes: I,
) -> Decision
where
    I: IntoIterator<Item = NodeCandidate<'a>>,
{
    if !service.any_serving_endpoint {
        return Decision::NotOwner(NotOwnerReason::NoServingEndpoint);
    }
    if !my_selected {
        return Decision::NotOwner(NotOwnerReason::LocalNodeNotSelected);
    }
    match elect(service.first_ip, service.traffic_policy, nodes) {
        None => Decision::NotOwner(NotOwnerReason::NoCandidates),
        Some(w) if w == my_node => Decision::Announce,
        Some(w) => Decision::NotOwner(NotOwnerReason::LostTo(w.to_owned())),
    }
}

// === Advertisement scope and preferred weights ===

/// Anything that can decide whether a node (described by `L`, e.g. its labels) matches.
/// Implemented for closures `Fn(&L) -> bool`.
pub trait NodeSelector<L: ?Sized> {
    /// Whether the node matches.
    fn matches(&self, node: &L) -> bool;
}

impl<L: ?Sized, F: Fn(&L) -> bool> NodeSelector<L> for F {
    fn matches(&self, node: &L) -> bool {
        self(node)
    }
}

/// One `preferredNodeSelectors[]` entry: `weight` (1–100) and `preference`.
#[derive(Debug, Clone)]
pub struct WeightedSelector<S> {
    /// Weight added when the selector matches.
    pub weight: u32,
    /// The `preference` selector (an empty selector matches every node).
    pub selector: S,
}

/// The parts of one applicable L2Advertisement that the election uses.
#[derive(Debug, Clone)]
pub struct AdvertisementScope<S> {
    /// `nodeSelectors` (OR). Empty means every node.
    pub node_selectors: Vec<S>,
    /// `preferredNodeSelectors`.
    pub preferred: Vec<WeightedSelector<S>>,
}

impl<S> AdvertisementScope<S> {
    /// Whether this advertisement's `nodeSelectors` select the node.
    pub fn selects<L: ?Sized>(&self, node: &L) -> bool
    where
        S: NodeSelector<L>,
    {
        self.node_selectors.is_empty() || self.node_selectors.iter().any(|s| s.matches(node))
    }
}

/// Whether any of `ads` selects the node (feeds [`NodeCandidate::selected`]).
pub fn selected_by_any<L: ?Sized, S: NodeSelector<L>>(
    node: &L,
    ads: &[AdvertisementScope<S>],
) -> bool {
    ads.iter().any(|ad| ad.selects(node))
}

/// Summed `preferredNodeSelectors` weight of a node: the sum over applicable advertisements
/// **that select the node** (preferences are scoped to each ad's own `nodeSelectors`) of the
/// weights of their matching entries (`metallb-runtime.md` §2.1 step 7). Saturating.
pub fn preference_weight<L: ?Sized, S: NodeSelector<L>>(
    node: &L,
    ads: &[AdvertisementScope<S>],
) -> u32 {
    ads.iter()
        .filter(|ad| ad.selects(node))
        .flat_map(|ad| ad.preferred.iter())
        .filter(|p| p.selector.matches(node))
        .fold(0u32, |acc, p| acc.saturating_add(p.weight))
}

// === Building candidates from node facts ===

/// The label that removes a node from load-balancer duty (honoured unless the speaker runs
/// with `--ignore-exclude-lb`).
pub const EXCLUDE_FROM_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// What the adapter reads from one live speaker's Node object.
#[derive(Debug, Clone, Copy)]
pub struct NodeFacts<'a, L: ?Sized> {
    /// Node name.
    pub name: &'a str,
    /// Node labels in whatever form the selectors understand.
    pub labels: &'a L,
    /// Condition `NetworkUnavailable=True`.
    pub network_unavailable: bool,
    /// Carries [`EXCLUDE_FROM_LB_LABEL`].
    pub exclude_label: bool,
}

/// Builds the election input for one service: each live node's filters, whether the service's
/// applicable advertisements select it and its summed preferred weight; `has_local_endpoint`
/// says whether a serving endpoint of the service runs on a node.
pub fn candidates<'a, L: ?Sized, S: NodeSelector<L>>(
    nodes: &[NodeFacts<'a, L>],
    ads: &[AdvertisementScope<S>],
    has_local_endpoint: impl Fn(&str) -> bool,
    ignore_exclude_lb: bool,
) -> Vec<NodeCandidate<'a>> {
    nodes
        .iter()
        .map(|n| NodeCandidate {
            name: n.name,
            network_unavailable: n.network_unavailable,
            excluded: n.exclude_label && !ignore_exclude_lb,
            selected: selected_by_any(n.labels, ads),
            weight: preference_weight(n.labels, ads),
            has_local_endpoint: has_local_endpoint(n.name),
        })
        .collect()
}

#[cfg(test)]
mod tests;
