//! IPAddressPool rules of MetalLB's `addressPoolFromCR`/`poolsFor` (`internal/config/config.go`,
//! rules A1–A6): non-empty `addresses`, each entry a CIDR or an `A-B` range
//! ([`ferrolb_core::pool::parse_entry`], the parser the allocator uses), no CIDR equal to,
//! containing or contained in any other CIDR of the same or another pool (A3, *all* overlaps are
//! reported, not only the first), no duplicate `serviceAllocation` namespaces or selectors.

use std::collections::BTreeMap;

use ferrolb_api::v1beta1::IPAddressPool;
use ferrolb_core::addr::IpFamily;
use ferrolb_core::pool::{AddressError, PoolError, parse_entry};
use ipnet::IpNet;

use crate::model::{Kind, Problem, name_of};
use crate::selectors;

/// A pool whose entries were parsed (invalid entries left out).
#[derive(Debug, Clone)]
pub struct ParsedPool {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Each valid `spec.addresses` entry with its CIDRs.
    pub entries: Vec<(String, Vec<IpNet>)>,
}

impl ParsedPool {
    /// Whether any CIDR is of `family`.
    pub fn has_family(&self, family: IpFamily) -> bool {
        self.entries
            .iter()
            .flat_map(|(_, nets)| nets)
            .any(|n| IpFamily::of_net(n) == family)
    }

    /// Whether the pool contains `ip`.
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        self.entries
            .iter()
            .flat_map(|(_, nets)| nets)
            .any(|n| n.contains(ip))
    }
}

/// Parses one pool on its own.
pub fn check_pool(pool: &IPAddressPool, problems: &mut Vec<Problem>) -> ParsedPool {
    let name = name_of(&pool.metadata);
    let p = |field: String, value: String, reason: String| {
        Problem::new(Kind::IPAddressPool, name, field, value, reason)
    };
    if pool.spec.addresses.is_empty() {
        problems.push(p(
            "spec.addresses".into(),
            String::new(),
            PoolError::Empty {
                pool: name.to_owned(),
            }
            .to_string(),
        ));
    }
    let mut entries = Vec::new();
    for (i, entry) in pool.spec.addresses.iter().enumerate() {
        match parse_entry(entry) {
            Ok(nets) => entries.push((entry.clone(), nets)),
            Err(reason) => problems.push(p(
                format!("spec.addresses[{i}]"),
                entry.clone(),
                invalid_address(name, entry, reason),
            )),
        }
    }
    if let Some(a) = &pool.spec.service_allocation {
        let mut seen = std::collections::BTreeSet::new();
        for (i, ns) in a.namespaces.iter().enumerate() {
            if !seen.insert(ns) {
                problems.push(p(
                    format!("spec.serviceAllocation.namespaces[{i}]"),
                    ns.clone(),
                    "duplicate definition in namespaces field".into(),
                ));
            }
        }
        for (list, kind, sels) in [
            ("namespaceSelectors", "namespace", &a.namespace_selectors),
            ("serviceSelectors", "service", &a.service_selectors),
        ] {
            let mut found = Vec::new();
            selectors::check_list(
                Kind::IPAddressPool,
                name,
                &format!("serviceAllocation.{list}"),
                sels,
                &format!("invalid {kind} label selector in ip pool {name}"),
                &mut found,
            );
            // MetalLB names the list without the `serviceAllocation.` prefix.
            for mut pr in found {
                pr.reason = pr
                    .reason
                    .replace(&format!("serviceAllocation.{list}"), list);
                problems.push(pr);
            }
        }
    }
    ParsedPool {
        name: name.to_owned(),
        labels: pool.metadata.labels.clone().unwrap_or_default(),
        entries,
    }
}

fn invalid_address(pool: &str, entry: &str, reason: AddressError) -> String {
    PoolError::InvalidAddress {
        pool: pool.to_owned(),
        entry: entry.to_owned(),
        reason,
    }
    .to_string()
}

fn sort_key(net: &IpNet) -> (bool, u128, u8) {
    match net {
        IpNet::V4(n) => (false, u128::from(u32::from(n.network())), n.prefix_len()),
        IpNet::V6(n) => (true, u128::from(n.network()), n.prefix_len()),
    }
}

/// A3: reports every CIDR that equals, contains or is contained in an earlier-declared one.
pub fn check_overlaps(pools: &[ParsedPool], problems: &mut Vec<Problem>) {
    // (declared position, entry index, net)
    let mut all: Vec<((usize, usize, usize), usize, IpNet)> = Vec::new();
    for (pi, pool) in pools.iter().enumerate() {
        for (ei, (_, nets)) in pool.entries.iter().enumerate() {
            for (ni, net) in nets.iter().enumerate() {
                all.push(((pi, ei, ni), ei, *net));
            }
        }
    }
    all.sort_by_key(|(pos, _, net)| (sort_key(net), *pos));
    let mut widest: Option<&((usize, usize, usize), usize, IpNet)> = None;
    // One finding per pair of entries, however many of their CIDRs overlap.
    let mut reported = std::collections::BTreeSet::new();
    for e in &all {
        let Some(w) = widest.filter(|w| w.2.contains(&e.2)) else {
            widest = Some(e);
            continue;
        };
        let (earlier, later) = if w.0 < e.0 { (w, e) } else { (e, w) };
        if !reported.insert((later.0.0, later.0.1, earlier.0.0, earlier.0.1)) {
            continue;
        }
        let (ep, lp) = (&pools[earlier.0.0], &pools[later.0.0]);
        problems.push(Problem::new(
            Kind::IPAddressPool,
            &lp.name,
            format!("spec.addresses[{}]", later.1),
            lp.entries[later.1].0.clone(),
            PoolError::Overlap {
                cidr: later.2.to_string(),
                pool: lp.name.clone(),
                existing: earlier.2.to_string(),
                existing_pool: ep.name.clone(),
            }
            .to_string(),
        ));
    }
}

#[cfg(test)]
mod tests;
