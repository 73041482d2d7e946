//! Advertisement rules of MetalLB's `l2AdvertisementFromCR` (L1), `bgpAdvertisementFromCR` and
//! `validateBGPAdvPerPool` (B1–B6) in `internal/config/config.go`.
//!
//! Differences, each deliberate:
//! * B3 prints the length as a number (`"33"`), not Go's `%q` of an int (a rune literal).
//! * B5 prints the IPv6 aggregation length for IPv6 entries (MetalLB prints the IPv4 one).
//! * B4: a community without `:` that names no Community alias is reported as a dangling
//!   reference (MetalLB: `TransientError`, and its webhook strips such entries before checking).
//! * B6 needs the Nodes an advertisement selects; when no Nodes are known (offline validation)
//!   two advertisements are assumed to share nodes when either selects all nodes or both list an
//!   identical selector.
//! * Native mode's M-N3 (no IPv6 pool in a BGP advertisement) and M-N4 (no large communities)
//!   are MetalLB Go-speaker limitations: ferrolb's speaker speaks MP-BGP (RFC 4760) and large
//!   communities (RFC 8092), so they are not copied. F3 (no BFD echo towards peers of IPv6
//!   pools) is an FRR limitation, not copied either.

use std::collections::{BTreeMap, BTreeSet};

use ferrolb_api::v1beta1::{BGPAdvertisement, L2Advertisement};
use ferrolb_core::LabelSelector;
use ferrolb_core::addr::IpFamily;

use crate::communities;
use crate::model::{Kind, NodeInfo, Problem, name_of};
use crate::pools::ParsedPool;
use crate::selectors;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

/// The fields both kinds of advertisement carry.
struct Common<'a> {
    pools: &'a [String],
    pool_selectors: &'a [metav1::LabelSelector],
    node_selectors: &'a [metav1::LabelSelector],
    service_selectors: &'a [metav1::LabelSelector],
}

/// The checks both kinds share: duplicate pool names and the three selector lists (duplicates,
/// conversion). Returns the converted pool and node selectors.
fn check_common(
    k: Kind,
    name: &str,
    c: Common<'_>,
    problems: &mut Vec<Problem>,
) -> (Vec<LabelSelector>, Vec<LabelSelector>) {
    selectors::check_names(
        k,
        name,
        "ipAddressPools",
        "ipAddressPools",
        c.pools,
        problems,
    );
    let ctx = |what: &str| format!("failed to parse {what} for {name}");
    let pools = selectors::check_list(
        k,
        name,
        "ipAddressPoolSelectors",
        c.pool_selectors,
        &ctx("ip address pool selector"),
        problems,
    );
    let nodes = selectors::check_list(
        k,
        name,
        "nodeSelectors",
        c.node_selectors,
        &ctx("node selector"),
        problems,
    );
    selectors::check_list(
        k,
        name,
        "serviceSelectors",
        c.service_selectors,
        &ctx("service selector"),
        problems,
    );
    (pools, nodes)
}

/// L1: duplicates and selector conversion of one L2Advertisement.
pub fn check_l2(ad: &L2Advertisement, problems: &mut Vec<Problem>) {
    let name = name_of(&ad.metadata);
    let s = &ad.spec;
    let k = Kind::L2Advertisement;
    let ctx = |what: &str| format!("failed to parse {what} for {name}");
    check_common(
        k,
        name,
        Common {
            pools: &s.ip_address_pools,
            pool_selectors: &s.ip_address_pool_selectors,
            node_selectors: &s.node_selectors,
            service_selectors: &s.service_selectors,
        },
        problems,
    );
    for (i, p) in s.preferred_node_selectors.iter().enumerate() {
        let field = format!("spec.preferredNodeSelectors[{i}]");
        if let Err(e) = selectors::convert(&p.preference) {
            problems.push(Problem::new(
                k,
                name,
                format!("{field}.preference"),
                selectors::display(&p.preference),
                format!("{}: {e}", ctx("preferred node selectors")),
            ));
        }
        if !(1..=100).contains(&p.weight) {
            problems.push(Problem::new(
                k,
                name,
                format!("{field}.weight"),
                p.weight.to_string(),
                "weight must be between 1 and 100",
            ));
        }
    }
}

/// A BGPAdvertisement as the per-pool checks need it.
struct ParsedBgpAd<'a> {
    ad: &'a BGPAdvertisement,
    name: &'a str,
    pools: BTreeSet<&'a str>,
    nodes: Option<BTreeSet<&'a str>>,
    node_selectors: Vec<LabelSelector>,
}

/// Pools an advertisement selects: by name, by label, or all when neither is given.
fn selected_pools<'a>(
    ad: &BGPAdvertisement,
    pool_selectors: &[LabelSelector],
    pools: &'a [ParsedPool],
) -> BTreeSet<&'a str> {
    let s = &ad.spec;
    pools
        .iter()
        .filter(|p| {
            (s.ip_address_pools.is_empty() && s.ip_address_pool_selectors.is_empty())
                || s.ip_address_pools.contains(&p.name)
                || pool_selectors.iter().any(|sel| sel.matches(&p.labels))
        })
        .map(|p| p.name.as_str())
        .collect()
}

/// B1–B6 over all BGPAdvertisements.
pub fn check_bgp(
    ads: &[BGPAdvertisement],
    pools: &[ParsedPool],
    aliases: &BTreeMap<String, String>,
    nodes: &[NodeInfo],
    problems: &mut Vec<Problem>,
) {
    let k = Kind::BGPAdvertisement;
    let mut parsed = Vec::new();
    for ad in ads {
        let name = name_of(&ad.metadata);
        let s = &ad.spec;
        let p = |field: &str, value: String, reason: String| {
            Problem::new(k, name, field, value, reason)
        };
        let (pool_sels, node_sels) = check_common(
            k,
            name,
            Common {
                pools: &s.ip_address_pools,
                pool_selectors: &s.ip_address_pool_selectors,
                node_selectors: &s.node_selectors,
                service_selectors: &s.service_selectors,
            },
            problems,
        );
        selectors::check_names(
            k,
            name,
            "communities",
            "community",
            &s.communities,
            problems,
        );
        selectors::check_names(k, name, "peers", "peers", &s.peers, problems);
        let (v4, v6) = (s.aggregation_length(), s.aggregation_length_v6());
        if !s.service_selectors.is_empty() {
            if v4 != 32 {
                problems.push(p("spec.aggregationLength", v4.to_string(), format!("serviceSelectors and aggregationLength are mutually exclusive, both cannot be set in {name}")));
            }
            if v6 != 128 {
                problems.push(p("spec.aggregationLengthV6", v6.to_string(), format!("serviceSelectors and aggregationLengthV6 are mutually exclusive, both cannot be set in {name}")));
            }
        }
        let v4_ok = (0..=32).contains(&v4);
        let v6_ok = (0..=128).contains(&v6);
        if !v4_ok {
            problems.push(p(
                "spec.aggregationLength",
                v4.to_string(),
                format!("invalid aggregation length \"{v4}\" for IPv4"),
            ));
        }
        if !v6_ok {
            problems.push(p(
                "spec.aggregationLengthV6",
                v6.to_string(),
                format!("invalid aggregation length \"{v6}\" for IPv6"),
            ));
        }
        for (i, c) in s.communities.iter().enumerate() {
            let field = format!("spec.communities[{i}]");
            if aliases.contains_key(c) {
                continue;
            }
            if !c.contains(':') {
                problems.push(p(&field, c.clone(), format!("invalid community {c:?} in BGP advertisement: {c:?} is neither a community literal (A:B, large:X:Y:Z) nor the name of a Community alias")).dangling());
            } else if let Err(e) = communities::parse(c) {
                problems.push(p(
                    &field,
                    c.clone(),
                    format!("invalid community {c:?} in BGP advertisement: {e}"),
                ));
            }
        }
        let selected = selected_pools(ad, &pool_sels, pools);
        // B5: every selected pool's entries must be no more specific than the aggregation length.
        for pool in pools.iter().filter(|p| selected.contains(p.name.as_str())) {
            for (entry, nets) in &pool.entries {
                for family in [IpFamily::V4, IpFamily::V6] {
                    let (len, ok, field) = match family {
                        IpFamily::V4 => (v4, v4_ok, "spec.aggregationLength"),
                        IpFamily::V6 => (v6, v6_ok, "spec.aggregationLengthV6"),
                    };
                    let least_specific = nets
                        .iter()
                        .filter(|n| IpFamily::of_net(n) == family)
                        .map(|n| i32::from(n.prefix_len()))
                        .min();
                    if let Some(m) = least_specific
                        && ok
                        && m > len
                    {
                        problems.push(p(field, len.to_string(), format!("invalid aggregation length {len}: prefix {m} in this pool is more specific than the aggregation length for addresses {entry}")));
                    }
                }
            }
        }
        let nodes_sel = (!nodes.is_empty()).then(|| {
            nodes
                .iter()
                .filter(|n| selectors::any_matches(&node_sels, &n.labels))
                .map(|n| n.name.as_str())
                .collect()
        });
        parsed.push(ParsedBgpAd {
            ad,
            name,
            pools: selected,
            nodes: nodes_sel,
            node_selectors: node_sels,
        });
    }
    check_local_pref(&parsed, pools, problems);
}

fn nodes_intersect(a: &ParsedBgpAd<'_>, b: &ParsedBgpAd<'_>) -> bool {
    match (&a.nodes, &b.nodes) {
        (Some(x), Some(y)) => !x.is_disjoint(y),
        _ => {
            a.node_selectors.is_empty()
                || b.node_selectors.is_empty()
                || a.node_selectors
                    .iter()
                    .any(|s| b.node_selectors.contains(s))
        }
    }
}

/// B6: two advertisements of a pool that send the same kind of update to a common peer from a
/// common node must agree on `localPref`.
fn check_local_pref(ads: &[ParsedBgpAd<'_>], pools: &[ParsedPool], problems: &mut Vec<Problem>) {
    let mut reported = BTreeSet::new();
    for pool in pools {
        let (has4, has6) = (pool.has_family(IpFamily::V4), pool.has_family(IpFamily::V6));
        let of_pool: Vec<&ParsedBgpAd<'_>> = ads
            .iter()
            .filter(|a| a.pools.contains(pool.name.as_str()))
            .collect();
        for (j, b) in of_pool.iter().enumerate() {
            for a in &of_pool[..j] {
                let (sa, sb) = (&a.ad.spec, &b.ad.spec);
                if !sa.service_selectors.is_empty() || !sb.service_selectors.is_empty() {
                    continue;
                }
                let (la, lb) = (sa.local_pref.unwrap_or(0), sb.local_pref.unwrap_or(0));
                if la == lb {
                    continue;
                }
                let d4 = sa.aggregation_length() != sb.aggregation_length();
                let d6 = sa.aggregation_length_v6() != sb.aggregation_length_v6();
                let not_different = match (has4, has6) {
                    (true, false) => !d4,
                    (false, true) => !d6,
                    _ => !(d4 && d6),
                };
                let peers = sa.peers.is_empty()
                    || sb.peers.is_empty()
                    || sa.peers.iter().any(|p| sb.peers.contains(p));
                if not_different
                    && peers
                    && nodes_intersect(a, b)
                    && reported.insert((a.name, b.name))
                {
                    problems.push(Problem::new(
                        Kind::BGPAdvertisement,
                        b.name,
                        "spec.localPref",
                        lb.to_string(),
                        format!("invalid local preference {lb}: local preferernce {la} was already set for the same type of BGP update. Check existing BGP advertisements with common pools and aggregation lengths"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
