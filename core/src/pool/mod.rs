//! Address pools: parsing and validation of `IPAddressPool` specs.
//!
//! Owns the rules of MetalLB's `addressPoolFromCR`/`poolsFor` (`internal/config/config.go`):
//! each `spec.addresses` entry is a CIDR (no surrounding whitespace; host bits are masked,
//! so `10.0.0.7/24` is `10.0.0.0/24`) or an `A-B` range (split at the first `-`, each side
//! trimmed, start ≤ end, same family) summarised into CIDRs; a pool must have at least one
//! entry; no CIDR may equal, contain or be contained in another CIDR of the same or any
//! other pool; pool names are unique; `serviceAllocation` lists have no duplicates and its
//! selectors convert. A `serviceAllocation` with no namespaces and no selectors selects every
//! Service (MetalLB gives it `ServiceSelectors=[Everything]`). The operator converts the CRDs
//! into [`PoolSpec`]s; [`PoolSet::parse`] yields the validated, ordered pools the
//! [`crate::Allocator`] works with.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};

use crate::addr::{self, IpFamily};
use crate::selector::{LabelSelector, SelectorError};

/// `spec.serviceAllocation` of an `IPAddressPool`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAllocation {
    /// Lower positive value = higher priority; 0 (unset) = lowest.
    pub priority: i32,
    /// Namespaces allowed to use the pool.
    pub namespaces: Vec<String>,
    /// Selectors over Namespace labels; a matching namespace is allowed to use the pool.
    pub namespace_selectors: Vec<LabelSelector>,
    /// Selectors over Service labels; a Service matching any of them may use the pool.
    pub service_selectors: Vec<LabelSelector>,
}

impl ServiceAllocation {
    /// Whether the pool is restricted to some namespaces.
    pub fn restricts_namespaces(&self) -> bool {
        !self.namespaces.is_empty() || !self.namespace_selectors.is_empty()
    }

    /// Whether a namespace (with its labels) is listed or selected.
    pub fn selects_namespace(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespaces.iter().any(|n| n == namespace)
            || self.namespace_selectors.iter().any(|s| s.matches(labels))
    }

    /// Whether the Service labels match one of the service selectors (true if there are none).
    pub fn selects_service(&self, labels: &BTreeMap<String, String>) -> bool {
        self.service_selectors.is_empty()
            || self.service_selectors.iter().any(|s| s.matches(labels))
    }
}

/// An `IPAddressPool` as plain data, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    /// `metadata.name`.
    pub name: String,
    /// `spec.addresses`: CIDRs or `A-B` ranges.
    pub addresses: Vec<String>,
    /// `spec.autoAssign` (default true).
    pub auto_assign: bool,
    /// `spec.avoidBuggyIPs` (default false).
    pub avoid_buggy_ips: bool,
    /// `spec.serviceAllocation`.
    pub allocation: Option<ServiceAllocation>,
}

impl PoolSpec {
    /// A pool with the CRD defaults (`autoAssign: true`, `avoidBuggyIPs: false`).
    pub fn new<S: Into<String>>(name: &str, addresses: impl IntoIterator<Item = S>) -> Self {
        Self {
            name: name.to_owned(),
            addresses: addresses.into_iter().map(Into::into).collect(),
            auto_assign: true,
            avoid_buggy_ips: false,
            allocation: None,
        }
    }

    /// Sets `autoAssign`.
    pub fn auto_assign(mut self, v: bool) -> Self {
        self.auto_assign = v;
        self
    }

    /// Sets `avoidBuggyIPs`.
    pub fn avoid_buggy_ips(mut self, v: bool) -> Self {
        self.avoid_buggy_ips = v;
        self
    }

    /// Sets `serviceAllocation`.
    pub fn allocation(mut self, a: ServiceAllocation) -> Self {
        self.allocation = Some(a);
        self
    }

    /// Validates this pool on its own (overlaps with other pools are checked by
    /// [`PoolSet::new`]).
    pub fn parse(&self) -> Result<Pool, PoolError> {
        let name = &self.name;
        if self.addresses.is_empty() {
            return Err(PoolError::Empty { pool: name.clone() });
        }
        let mut cidrs = Vec::new();
        for entry in &self.addresses {
            cidrs.extend(
                parse_entry(entry).map_err(|reason| PoolError::InvalidAddress {
                    pool: name.clone(),
                    entry: entry.clone(),
                    reason,
                })?,
            );
        }
        let allocation = self
            .allocation
            .as_ref()
            .map(|a| parse_allocation(name, a))
            .transpose()?;
        let (mut total_v4, mut total_v6) = (0u128, 0u128);
        for net in &cidrs {
            let mut size = addr::net_size(net);
            match IpFamily::of_net(net) {
                IpFamily::V4 => {
                    if self.avoid_buggy_ips {
                        size -= addr::buggy_count(net);
                    }
                    total_v4 = total_v4.saturating_add(size);
                }
                IpFamily::V6 => total_v6 = total_v6.saturating_add(size),
            }
        }
        Ok(Pool {
            name: name.clone(),
            cidrs,
            auto_assign: self.auto_assign,
            avoid_buggy_ips: self.avoid_buggy_ips,
            allocation,
            total_v4,
            total_v6,
        })
    }
}

/// Why one `spec.addresses` entry is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not a CIDR (and no `-`).
    #[error("invalid CIDR {0:?}")]
    InvalidCidr(String),
    /// Range start is not an IP.
    #[error("invalid IP range {range:?}: invalid start IP {ip:?}")]
    InvalidStart {
        /// The whole range.
        range: String,
        /// The start side.
        ip: String,
    },
    /// Range end is not an IP.
    #[error("invalid IP range {range:?}: invalid end IP {ip:?}")]
    InvalidEnd {
        /// The whole range.
        range: String,
        /// The end side.
        ip: String,
    },
    /// Range start after end.
    #[error("invalid IP range {range:?}: start IP {start:?} is after the end IP {end:?}")]
    StartAfterEnd {
        /// The whole range.
        range: String,
        /// Start.
        start: String,
        /// End.
        end: String,
    },
    /// Range start and end of different families.
    #[error("invalid IP range {0:?}: start and end IPs are of different families")]
    MixedFamilies(String),
}

/// Which selector list of a `serviceAllocation` an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorKind {
    /// `namespaceSelectors`.
    Namespace,
    /// `serviceSelectors`.
    Service,
}

impl std::fmt::Display for SelectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Namespace => "namespace",
            Self::Service => "service",
        })
    }
}

/// Why a pool (or the set of pools) is rejected. Messages follow MetalLB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// `spec.addresses` is empty.
    #[error("parsing address pool {pool}: pool has no prefixes defined")]
    Empty {
        /// Pool name.
        pool: String,
    },
    /// An entry of `spec.addresses` does not parse.
    #[error("invalid CIDR {entry:?} in pool {pool:?}: {reason}")]
    InvalidAddress {
        /// Pool name.
        pool: String,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: AddressError,
    },
    /// Two CIDRs (in the same or different pools) overlap.
    #[error(
        "CIDR {cidr:?} in pool {pool:?} overlaps with already defined CIDR {existing:?} (pool {existing_pool:?})"
    )]
    Overlap {
        /// The later-declared CIDR.
        cidr: String,
        /// Its pool.
        pool: String,
        /// The earlier-declared CIDR.
        existing: String,
        /// Its pool.
        existing_pool: String,
    },
    /// Two pools with the same name.
    #[error("duplicate definition of pool {0:?}")]
    DuplicatePool(String),
    /// A namespace listed twice in `serviceAllocation.namespaces`.
    #[error("duplicate definition in namespaces field: {namespace:?} in pool {pool:?}")]
    DuplicateNamespace {
        /// Pool name.
        pool: String,
        /// The namespace.
        namespace: String,
    },
    /// A selector listed twice.
    #[error("duplicate definition of {kind}Selectors {selector:?} in ip pool {pool}")]
    DuplicateSelector {
        /// Pool name.
        pool: String,
        /// Which list.
        kind: SelectorKind,
        /// The selector's string form.
        selector: String,
    },
    /// A selector does not convert.
    #[error("invalid {kind} label selector {selector:?} in ip pool {pool}: {source}")]
    InvalidSelector {
        /// Pool name.
        pool: String,
        /// Which list.
        kind: SelectorKind,
        /// The selector's string form.
        selector: String,
        /// The conversion error.
        source: SelectorError,
    },
}

/// Parses one `spec.addresses` entry into CIDRs.
pub fn parse_entry(entry: &str) -> Result<Vec<IpNet>, AddressError> {
    let Some((start, end)) = entry.split_once('-') else {
        let net: IpNet = entry
            .parse()
            .map_err(|_| AddressError::InvalidCidr(entry.to_owned()))?;
        return Ok(vec![net.trunc()]);
    };
    let (start, end) = (start.trim(), end.trim());
    let s: IpAddr = start.parse().map_err(|_| AddressError::InvalidStart {
        range: entry.to_owned(),
        ip: start.to_owned(),
    })?;
    let e: IpAddr = end.parse().map_err(|_| AddressError::InvalidEnd {
        range: entry.to_owned(),
        ip: end.to_owned(),
    })?;
    let after = || AddressError::StartAfterEnd {
        range: entry.to_owned(),
        start: start.to_owned(),
        end: end.to_owned(),
    };
    match (s, e) {
        (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => {
            Ok(Ipv4Subnets::new(s, e, 0).map(IpNet::V4).collect())
        }
        (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => {
            Ok(Ipv6Subnets::new(s, e, 0).map(IpNet::V6).collect())
        }
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Err(after()),
        _ => Err(AddressError::MixedFamilies(entry.to_owned())),
    }
}

fn parse_allocation(pool: &str, a: &ServiceAllocation) -> Result<ServiceAllocation, PoolError> {
    let mut seen = BTreeSet::new();
    for ns in &a.namespaces {
        if !seen.insert(ns) {
            return Err(PoolError::DuplicateNamespace {
                pool: pool.to_owned(),
                namespace: ns.clone(),
            });
        }
    }
    for (kind, list) in [
        (SelectorKind::Namespace, &a.namespace_selectors),
        (SelectorKind::Service, &a.service_selectors),
    ] {
        let mut seen = BTreeSet::new();
        for sel in list {
            sel.validate()
                .map_err(|source| PoolError::InvalidSelector {
                    pool: pool.to_owned(),
                    kind,
                    selector: sel.to_string(),
                    source,
                })?;
            if !seen.insert(sel.canonical()) {
                return Err(PoolError::DuplicateSelector {
                    pool: pool.to_owned(),
                    kind,
                    selector: sel.to_string(),
                });
            }
        }
    }
    let mut out = a.clone();
    if out.namespaces.is_empty()
        && out.namespace_selectors.is_empty()
        && out.service_selectors.is_empty()
    {
        out.service_selectors.push(LabelSelector::everything());
    }
    Ok(out)
}

/// A validated address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    name: String,
    cidrs: Vec<IpNet>,
    auto_assign: bool,
    avoid_buggy_ips: bool,
    allocation: Option<ServiceAllocation>,
    total_v4: u128,
    total_v6: u128,
}

impl Pool {
    /// Pool name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// CIDRs in declared order (ranges summarised ascending).
    pub fn cidrs(&self) -> &[IpNet] {
        &self.cidrs
    }

    /// `autoAssign`.
    pub fn auto_assign(&self) -> bool {
        self.auto_assign
    }

    /// `avoidBuggyIPs`.
    pub fn avoid_buggy_ips(&self) -> bool {
        self.avoid_buggy_ips
    }

    /// `serviceAllocation` (an empty one has been given a select-all service selector).
    pub fn allocation(&self) -> Option<&ServiceAllocation> {
        self.allocation.as_ref()
    }

    /// Number of usable IPv4 addresses (buggy ones excluded when `avoidBuggyIPs`).
    pub fn total_v4(&self) -> u128 {
        self.total_v4
    }

    /// Number of IPv6 addresses (saturating at `u128::MAX`).
    pub fn total_v6(&self) -> u128 {
        self.total_v6
    }

    /// Whether the pool has a CIDR of this family.
    pub fn has_family(&self, family: IpFamily) -> bool {
        self.cidrs.iter().any(|c| IpFamily::of_net(c) == family)
    }

    /// Whether `ip` belongs to the pool (MetalLB `poolFor`: `.0`/`.255` IPv4 addresses do
    /// not belong to an `avoidBuggyIPs` pool).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        !(self.avoid_buggy_ips && addr::ip_is_buggy(ip))
            && self.cidrs.iter().any(|c| c.contains(ip))
    }
}

/// One indexed CIDR: family, first and last address, owning pool index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct CidrEntry {
    family: IpFamily,
    lo: u128,
    hi: u128,
    pool: usize,
}

/// The validated pools, in declared order, with a lookup index from address to pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSet {
    pools: Vec<Pool>,
    by_name: BTreeMap<String, usize>,
    /// Sorted by (family, lo); CIDRs never overlap.
    index: Vec<CidrEntry>,
}

impl PoolSet {
    /// Parses and validates all pool specs (declared order is kept).
    pub fn parse(specs: &[PoolSpec]) -> Result<Self, PoolError> {
        Self::new(
            specs
                .iter()
                .map(PoolSpec::parse)
                .collect::<Result<_, _>>()?,
        )
    }

    /// Validates a set of parsed pools: unique names, no overlapping CIDRs.
    pub fn new(pools: Vec<Pool>) -> Result<Self, PoolError> {
        let mut by_name = BTreeMap::new();
        let mut index = Vec::new();
        // Declared position of each CIDR, to report the earlier one as "already defined".
        let mut position = BTreeMap::new();
        for (i, p) in pools.iter().enumerate() {
            if by_name.insert(p.name.clone(), i).is_some() {
                return Err(PoolError::DuplicatePool(p.name.clone()));
            }
            for (j, net) in p.cidrs.iter().enumerate() {
                let (lo, hi) = addr::net_bounds(net);
                let e = CidrEntry {
                    family: IpFamily::of_net(net),
                    lo,
                    hi,
                    pool: i,
                };
                position.insert(e, ((i, j), *net));
                index.push(e);
            }
        }
        index.sort();
        // CIDRs either nest or are disjoint: a sweep finds any containment.
        let mut widest: Option<CidrEntry> = None;
        for e in &index {
            if let Some(w) = widest.filter(|w| w.family == e.family && w.hi >= e.lo) {
                let (a, b) = (position[&w], position[e]);
                let ((earlier, enet), (later, lnet)) = if a.0 < b.0 { (a, b) } else { (b, a) };
                return Err(PoolError::Overlap {
                    cidr: lnet.to_string(),
                    pool: pools[later.0].name.clone(),
                    existing: enet.to_string(),
                    existing_pool: pools[earlier.0].name.clone(),
                });
            }
            widest = Some(*e);
        }
        Ok(Self {
            pools,
            by_name,
            index,
        })
    }

    /// Pools in declared order.
    pub fn iter(&self) -> impl Iterator<Item = &Pool> {
        self.pools.iter()
    }

    /// Number of pools.
    pub fn len(&self) -> usize {
        self.pools.len()
    }

    /// Whether there is no pool.
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// Pool by name.
    pub fn get(&self, name: &str) -> Option<&Pool> {
        self.by_name.get(name).map(|&i| &self.pools[i])
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn at(&self, i: usize) -> &Pool {
        &self.pools[i]
    }

    /// Index of the pool containing `ip` (respecting `avoidBuggyIPs`), by binary search.
    pub(crate) fn index_for_ip(&self, ip: &IpAddr) -> Option<usize> {
        let (family, v) = (IpFamily::of(ip), addr::to_u128(*ip));
        let n = self
            .index
            .partition_point(|e| (e.family, e.lo) <= (family, v));
        let e = self.index[..n].last()?;
        (e.family == family && e.hi >= v && self.pools[e.pool].contains(ip)).then_some(e.pool)
    }

    /// The pool containing `ip`.
    pub fn pool_for_ip(&self, ip: &IpAddr) -> Option<&Pool> {
        self.index_for_ip(ip).map(|i| &self.pools[i])
    }

    /// MetalLB `poolFor`: the pool that contains every one of `ips`.
    pub(crate) fn index_for_ips(&self, ips: &[IpAddr]) -> Option<usize> {
        let (first, rest) = ips.split_first()?;
        let i = self.index_for_ip(first)?;
        rest.iter()
            .all(|ip| self.index_for_ip(ip) == Some(i))
            .then_some(i)
    }

    /// The pool that contains every one of `ips`, if any.
    pub fn pool_for_ips(&self, ips: &[IpAddr]) -> Option<&Pool> {
        self.index_for_ips(ips).map(|i| &self.pools[i])
    }
}

#[cfg(test)]
mod tests;
