//! BGP mode's Kubernetes objects → `ferrolb_bgp::announce` inputs: BGPPeer (with the password
//! of its `passwordSecret`) → [`PeerSpec`], BGPAdvertisement (communities resolved through the
//! Community aliases) → [`Advertisement`], Community CRs → the alias map, Node → [`NodeFacts`],
//! a Service → [`ServiceFacts`]. Pure functions; every error names the object and field.
//!
//! MetalLB rules reproduced (`metallb-api.md` §1.3/§1.4, `internal/config/config.go`):
//! - `passwordSecret` names a Secret in the BGPPeer's namespace of type
//!   `kubernetes.io/basic-auth` whose key `password` is the TCP-MD5 key (a missing Secret or
//!   key is an error: the peer keeps its last good version);
//! - `peerPort` 0 or unset = 179; `dynamicASN` instead of `peerASN`; durations are Go
//!   durations; `interface` (unnumbered) and `vrf` are not supported (the validator rejects them);
//! - aggregation lengths default to 32 / 128; `localPref` unset = 0 (FRR's 100 on iBGP is
//!   applied per session by `ferrolb_bgp::announce::table`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ferrolb_api::duration::GoDuration;
use ferrolb_api::names;
use ferrolb_api::v1beta1::{BGPAdvertisement, Community};
use ferrolb_api::v1beta2::{BGPPeer, DynamicASNMode};
use ferrolb_bgp::announce::{
    Advertisement, NodeFacts, PeerSpec, ServiceFacts, TrafficPolicy, resolve_communities,
};
use ferrolb_bgp::fsm::PeerAsn;
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use super::selector_list;

/// Type of the Secret a BGPPeer's `passwordSecret` names (MetalLB requires it).
pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// Key of the password in that Secret.
pub const PASSWORD_KEY: &str = "password";

/// A BGPPeer or BGPAdvertisement that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?}: {field}: {message}")]
pub struct BgpConvertError {
    /// `BGPPeer` or `BGPAdvertisement`.
    pub kind: &'static str,
    /// The object's name.
    pub name: String,
    /// The offending field, e.g. `spec.peerAddress`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(kind: &'static str, name: &str, field: &str, message: impl Into<String>) -> BgpConvertError {
    BgpConvertError {
        kind,
        name: name.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

fn selectors(
    kind: &'static str,
    name: &str,
    field: &str,
    list: &[metav1::LabelSelector],
) -> Result<Vec<ferrolb_core::LabelSelector>, BgpConvertError> {
    selector_list(list).map_err(|(i, m)| err(kind, name, &format!("{field}[{i}]"), m))
}

fn duration(name: &str, field: &str, v: Option<&str>) -> Result<Option<Duration>, BgpConvertError> {
    let Some(s) = v else { return Ok(None) };
    let d = GoDuration::parse(s).map_err(|e| err("BGPPeer", name, field, e.to_string()))?;
    let nanos = u64::try_from(d.0).map_err(|_| err("BGPPeer", name, field, "negative duration"))?;
    Ok(Some(Duration::from_nanos(nanos)))
}

fn ip(name: &str, field: &str, v: Option<&str>) -> Result<Option<IpAddr>, BgpConvertError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                err(
                    "BGPPeer",
                    name,
                    field,
                    format!("{s:?} is not an IP address"),
                )
            })
        })
        .transpose()
}

/// The TCP-MD5 key in a `passwordSecret` Secret (MetalLB: type `kubernetes.io/basic-auth`,
/// key `password`).
pub fn secret_password(secret: &Secret) -> Result<String, String> {
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    if let Some(t) = secret.type_.as_deref()
        && t != BASIC_AUTH
    {
        return Err(format!(
            "Secret {name:?} has type {t:?}, want {BASIC_AUTH:?}"
        ));
    }
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(PASSWORD_KEY))
        .ok_or_else(|| format!("Secret {name:?} has no key {PASSWORD_KEY:?}"))?;
    String::from_utf8(bytes.0.clone())
        .map_err(|_| format!("Secret {name:?}: key {PASSWORD_KEY:?} is not UTF-8"))
}

/// Converts a BGPPeer; `secrets` are the Secrets of the peer's namespace (looked up by the
/// name in `passwordSecret`).
pub fn bgp_peer(peer: &BGPPeer, secrets: &[&Secret]) -> Result<PeerSpec, BgpConvertError> {
    let name = peer.metadata.name.clone().unwrap_or_default();
    let s = &peer.spec;
    let e = |field: &str, m: &str| err("BGPPeer", &name, field, m);
    if s.interface.as_deref().is_some_and(|i| !i.is_empty()) {
        return Err(e("spec.interface", "unnumbered peers are not supported"));
    }
    if s.vrf.as_deref().is_some_and(|v| !v.is_empty()) {
        return Err(e("spec.vrf", "VRFs are not supported"));
    }
    let address = ip(&name, "spec.peerAddress", s.peer_address.as_deref())?
        .ok_or_else(|| e("spec.peerAddress", "missing"))?;
    let peer_asn = match (s.peer_asn, s.dynamic_asn) {
        (Some(a), None) if a != 0 => PeerAsn::Fixed(a),
        (None | Some(0), Some(DynamicASNMode::Internal)) => PeerAsn::Internal,
        (None | Some(0), Some(DynamicASNMode::External)) => PeerAsn::External,
        (Some(_), Some(_)) => {
            return Err(e("spec.peerASN", "peerASN and dynamicASN are exclusive"));
        }
        _ => return Err(e("spec.peerASN", "peerASN or dynamicASN is required")),
    };
    let password = match (&s.password, &s.password_secret) {
        (Some(p), None) if !p.is_empty() => Some(p.clone()),
        (Some(p), Some(_)) if !p.is_empty() => {
            return Err(e(
                "spec.password",
                "password and passwordSecret are exclusive",
            ));
        }
        (_, Some(r)) => {
            let wanted = r.name.as_deref().unwrap_or_default();
            let secret = secrets
                .iter()
                .find(|x| x.metadata.name.as_deref() == Some(wanted))
                .ok_or_else(|| {
                    e(
                        "spec.passwordSecret",
                        &format!("Secret {wanted:?} not found"),
                    )
                })?;
            Some(secret_password(secret).map_err(|m| e("spec.passwordSecret", &m))?)
        }
        _ => None,
    };
    let mut spec = PeerSpec::new(&name, address, s.my_asn, peer_asn);
    spec.port = s.peer_port.unwrap_or(0);
    spec.local_asn = s.local_asn.filter(|a| *a != 0);
    spec.source_address = ip(&name, "spec.sourceAddress", s.source_address.as_deref())?;
    spec.hold_time = duration(&name, "spec.holdTime", s.hold_time.as_deref())?;
    spec.keepalive_time = duration(&name, "spec.keepaliveTime", s.keepalive_time.as_deref())?;
    spec.connect_time = duration(&name, "spec.connectTime", s.connect_time.as_deref())?;
    spec.router_id = ip(&name, "spec.routerID", s.router_id.as_deref())?;
    spec.node_selectors = selectors("BGPPeer", &name, "spec.nodeSelectors", &s.node_selectors)?;
    spec.ebgp_multihop = s.ebgp_multi_hop.unwrap_or(false);
    spec.password = password;
    spec.bfd_profile = s.bfd_profile.clone().filter(|p| !p.is_empty());
    spec.enable_graceful_restart = s.enable_graceful_restart.unwrap_or(false);
    spec.dual_stack_address_family = s.dual_stack_address_family.unwrap_or(false);
    // Surface timer errors here (named by field) rather than at session setup.
    spec.timers()
        .map_err(|x| e("spec.holdTime", &x.to_string()))?;
    Ok(spec)
}

/// The Community aliases of every Community object: alias name → value. The first definition
/// of a name wins (objects in name order; the validator rejects duplicates).
pub fn community_aliases(crs: &[&Community]) -> BTreeMap<String, String> {
    let mut sorted: Vec<&&Community> = crs.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut out = BTreeMap::new();
    for c in sorted {
        for a in &c.spec.communities {
            if let (Some(n), Some(v)) = (&a.name, &a.value) {
                out.entry(n.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    out
}

/// Converts a BGPAdvertisement, resolving its communities through `aliases`.
pub fn bgp_advertisement(
    ad: &BGPAdvertisement,
    aliases: &BTreeMap<String, String>,
) -> Result<Advertisement, BgpConvertError> {
    let name = ad.metadata.name.clone().unwrap_or_default();
    let s = &ad.spec;
    let k = "BGPAdvertisement";
    let len = |field: &str, v: i32, max: u8| {
        u8::try_from(v)
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| err(k, &name, field, format!("{v} is not between 0 and {max}")))
    };
    let mut out = Advertisement::new(&name);
    out.aggregation_length = len("spec.aggregationLength", s.aggregation_length(), 32)?;
    out.aggregation_length_v6 = len("spec.aggregationLengthV6", s.aggregation_length_v6(), 128)?;
    out.local_pref = s.local_pref.unwrap_or(0);
    out.communities = resolve_communities(&name, &s.communities, aliases)
        .map_err(|x| err(k, &name, "spec.communities", x.to_string()))?;
    out.ip_address_pools = s.ip_address_pools.clone();
    out.ip_address_pool_selectors = selectors(
        k,
        &name,
        "spec.ipAddressPoolSelectors",
        &s.ip_address_pool_selectors,
    )?;
    out.node_selectors = selectors(k, &name, "spec.nodeSelectors", &s.node_selectors)?;
    out.peers = s.peers.clone();
    out.service_selectors = selectors(k, &name, "spec.serviceSelectors", &s.service_selectors)?;
    Ok(out)
}

/// A Node condition of `ty` with status `True`.
pub fn node_condition_true(node: &Node, ty: &str) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == ty && c.status == "True"))
}

/// Taints that say a node is being drained or removed: `kubectl cordon`/`drain`
/// (`node.kubernetes.io/unschedulable`), the cluster autoscaler's and Karpenter's scale-down
/// marks, and the non-graceful shutdown taint.
pub const DRAIN_TAINTS: [&str; 4] = [
    "node.kubernetes.io/unschedulable",
    "ToBeDeletedByClusterAutoscaler",
    "karpenter.sh/disrupted",
    "node.kubernetes.io/out-of-service",
];

/// The node is going away, so a speaker stopped on it drains its BGP sessions instead of
/// asking the routers to keep its routes (graceful restart): cordoned (`spec.unschedulable`),
/// one of [`DRAIN_TAINTS`], or shutting down (`Ready=False`: the kubelet's graceful node
/// shutdown reports "node is shutting down" there).
pub fn node_draining(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    spec.and_then(|s| s.unschedulable) == Some(true)
        || spec
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|ts| ts.iter().any(|t| DRAIN_TAINTS.contains(&t.key.as_str())))
        || node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "False"))
}

/// The announce core's view of a Node (`ignore_exclude_lb`: the speaker's
/// `--ignore-exclude-lb`).
pub fn node_facts(node: &Node, ignore_exclude_lb: bool) -> NodeFacts {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    NodeFacts {
        name: node.metadata.name.clone().unwrap_or_default(),
        excluded_from_lb: !ignore_exclude_lb && labels.contains_key(names::LABEL_EXCLUDE_FROM_LB),
        labels,
        network_unavailable: node_condition_true(node, "NetworkUnavailable"),
    }
}

/// `spec.externalTrafficPolicy` (`Local`, anything else is `Cluster`).
pub fn traffic_policy(svc: &Service) -> TrafficPolicy {
    match svc
        .spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
    {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    }
}

/// The announce core's view of a Service whose ingress `ips` lie in `pool`; the endpoint
/// facts come from the caller's EndpointSlice reading.
pub fn service_facts(
    svc: &Service,
    ips: Vec<IpAddr>,
    pool: &str,
    serving_anywhere: bool,
    serving_on_node: bool,
) -> ServiceFacts {
    ServiceFacts {
        key: super::ServiceKey::of(&svc.metadata).to_string(),
        labels: svc.metadata.labels.clone().unwrap_or_default(),
        ips,
        pool: pool.to_owned(),
        traffic_policy: traffic_policy(svc),
        serving_anywhere,
        serving_on_node,
    }
}

#[cfg(test)]
mod tests;
