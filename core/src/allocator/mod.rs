//! The allocator: which Service holds which IPs, and every allocation decision.
//!
//! Owns the in-memory state MetalLB keeps in `internal/allocator.Allocator` (assignments
//! per Service, users of each IP, per-pool counters) and the decision flow of
//! `controller/service.go convergeBalancer` minus the Kubernetes I/O:
//!
//! * a Service keeps its current IPs while they stay valid (right family, equal to the
//!   requested IPs if any, from the requested pool if any, inside a pool that admits the
//!   Service, sharing rules satisfied); otherwise they are released and new ones are
//!   allocated (MetalLB's `ClearAssignment`), reported as [`Change::Reallocated`];
//! * a `PreferDualStack` Service holding one IP gets the other family from the same pool
//!   when it becomes available;
//! * requested IPs must lie in one pool that admits the Service (`autoAssign: false` does
//!   not block them) and in the requested pool if one is named;
//! * a requested pool is used regardless of `autoAssign`;
//! * otherwise the pinned pools by priority, then the unrestricted pools in declared order
//!   ([`crate::select`]); in each pool the CIDRs in declared order and the lowest usable
//!   address (first fit, freed addresses reused at once, `.0`/`.255` skipped with
//!   `avoidBuggyIPs`, an address held by a compatible sharing Service is usable);
//! * dual-stack per `findBestPoolForService`/`selectIPsForFamilyAndPolicy`.
//!
//! Deviations, all towards stability: candidate order is the declared order instead of Go
//! map order; when the operator passes no current IPs but the allocator still holds the
//! Service's IPs (status write not yet observed, MetalLB #2723) the held IPs are kept; a
//! `PreferDualStack` Service whose IP pair became invalid keeps the IP that is still valid
//! on its own (MetalLB releases both and may hand out a different IPv4).

mod find;
mod need;
mod state;

pub(crate) use need::Need;
use need::{check_ip_set, same_set};

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::addr::IpFamily;
use crate::error::AllocError;
use crate::index::UsedRuns;
use crate::pool::PoolSet;
use crate::select;
use crate::service::ServiceRequest;
use crate::sharing::IpUse;
use crate::stats::PoolStats;

/// What [`Allocator::assign`] decided for a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The Service's IPs (primary family first): write them to `status.loadBalancer.ingress`.
    pub ips: Vec<IpAddr>,
    /// Pool they come from: write it to `metallb.io/ip-allocated-from-pool`.
    pub pool: String,
    /// How the assignment came about (for events).
    pub change: Change,
}

/// How an [`Assignment`] came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The current IPs are still valid and kept.
    Kept,
    /// The Service had no IP; new ones were allocated (event `IPAllocated`).
    Allocated,
    /// The current IPs were no longer valid (event `ClearAssignment` with `reason`) and new
    /// ones were allocated.
    Reallocated {
        /// The IPs given up.
        previous: Vec<IpAddr>,
        /// Why they were invalid.
        reason: AllocError,
    },
    /// A `PreferDualStack` Service got the missing family (event `IPAllocated` "Assigned
    /// additional IP").
    AddedFamily(IpAddr),
}

/// Outcome of re-validating IPs a Service holds.
enum Validity {
    /// All valid, from this pool.
    Valid(usize),
    /// `PreferDualStack` pair invalid, but this IP alone is valid.
    Partial {
        pool: usize,
        ip: IpAddr,
        reason: AllocError,
    },
    /// Invalid.
    Invalid(AllocError),
}

/// One Service's allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    pool: usize,
    ips: Vec<IpAddr>,
    request: ServiceRequest,
}

/// IP allocation state and decisions. Deterministic: the same calls give the same results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocator {
    pools: PoolSet,
    records: BTreeMap<String, Record>,
    ips: BTreeMap<IpAddr, IpUse>,
    used_v4: UsedRuns,
    used_v6: UsedRuns,
    /// Addresses by sharing key, to find a shareable address without scanning.
    shared: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Addresses in use per pool index: `[v4, v6]`.
    assigned: Vec<[u128; 2]>,
}

impl Allocator {
    /// An allocator with these pools and no assignment.
    pub fn new(pools: PoolSet) -> Self {
        let assigned = vec![[0, 0]; pools.len()];
        Self {
            pools,
            assigned,
            ..Self::default()
        }
    }

    /// The current pools.
    pub fn pools(&self) -> &PoolSet {
        &self.pools
    }

    /// IPs held by a Service.
    pub fn ips_of(&self, key: &str) -> Option<&[IpAddr]> {
        self.records.get(key).map(|r| r.ips.as_slice())
    }

    /// Pool a Service's IPs come from.
    pub fn pool_of(&self, key: &str) -> Option<&str> {
        self.records.get(key).map(|r| self.pools.at(r.pool).name())
    }

    /// Every Service holding IPs: `(key, pool, ips)`, ordered by key.
    pub fn assignments(&self) -> impl Iterator<Item = (&str, &str, &[IpAddr])> {
        self.records
            .iter()
            .map(|(k, r)| (k.as_str(), self.pools.at(r.pool).name(), r.ips.as_slice()))
    }

    /// Keys of the Services using an address, ordered.
    pub fn users_of(&self, ip: &IpAddr) -> impl Iterator<Item = &str> {
        self.ips
            .get(ip)
            .into_iter()
            .flat_map(|u| u.services.iter().map(String::as_str))
    }

    /// Number of Services holding IPs.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no Service holds an IP.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Decides the IPs of a Service (MetalLB `convergeBalancer` steps 2–7).
    ///
    /// `current_ips` are the Service's `status.loadBalancer.ingress` IPs. If empty, the IPs
    /// the allocator already holds for the Service (if any) count as current. On error the
    /// Service holds no IP afterwards (the operator clears its status).
    pub fn assign(
        &mut self,
        req: &ServiceRequest,
        current_ips: &[IpAddr],
    ) -> Result<Assignment, AllocError> {
        let result = self.assign_inner(req, current_ips);
        if result.is_err() {
            self.unregister(&req.key);
        }
        result
    }

    fn assign_inner(
        &mut self,
        req: &ServiceRequest,
        current_ips: &[IpAddr],
    ) -> Result<Assignment, AllocError> {
        if self.pools.is_empty() {
            return Err(AllocError::NoPools);
        }
        let need = Need::of(req)?;
        let current = if current_ips.is_empty() {
            self.ips_of(&req.key)
                .map(<[IpAddr]>::to_vec)
                .unwrap_or_default()
        } else {
            current_ips.to_vec()
        };
        let mut previous = None;
        if !current.is_empty() {
            match self.validate(req, need, &current) {
                Validity::Valid(pool) => return Ok(self.keep(req, need, pool, current)),
                Validity::Partial { pool, ip, reason } => {
                    let mut kept = self.keep(req, need, pool, vec![ip]);
                    kept.change = Change::Reallocated {
                        previous: current,
                        reason,
                    };
                    return Ok(kept);
                }
                Validity::Invalid(reason) => {
                    self.unregister(&req.key);
                    previous = Some((current, reason));
                }
            }
        }
        let (pool, ips) = self.allocate_new(req, need)?;
        self.register(req, pool, ips.clone());
        Ok(Assignment {
            ips,
            pool: self.pools.at(pool).name().to_owned(),
            change: match previous {
                Some((previous, reason)) => Change::Reallocated { previous, reason },
                None => Change::Allocated,
            },
        })
    }

    /// Keeps valid current IPs; adds the missing family of a `PreferDualStack` Service.
    fn keep(
        &mut self,
        req: &ServiceRequest,
        need: Need,
        pool: usize,
        mut ips: Vec<IpAddr>,
    ) -> Assignment {
        self.register(req, pool, ips.clone());
        let mut change = Change::Kept;
        if let Need::Dual { primary, .. } = need
            && ips.len() == 1
            && req.requested_ips.is_empty()
        {
            let missing = IpFamily::of(&ips[0]).other();
            if let Some(ip) = self.free_ip(pool, req, missing) {
                if missing == primary {
                    ips.insert(0, ip);
                } else {
                    ips.push(ip);
                }
                self.register(req, pool, ips.clone());
                change = Change::AddedFamily(ip);
            }
        }
        Assignment {
            ips,
            pool: self.pools.at(pool).name().to_owned(),
            change,
        }
    }

    /// Like [`Self::check_current`], but when the pair of a `PreferDualStack` Service is
    /// invalid, one of its IPs (primary family first) that is still valid on its own is
    /// kept instead of giving up both.
    fn validate(&self, req: &ServiceRequest, need: Need, ips: &[IpAddr]) -> Validity {
        let reason = match self.check_current(req, need, ips) {
            Ok(pool) => return Validity::Valid(pool),
            Err(reason) => reason,
        };
        if let (
            Need::Dual {
                primary,
                required: false,
            },
            [a, b],
        ) = (need, ips)
            && req.requested_ips.is_empty()
        {
            let (first, second) = if IpFamily::of(a) == primary {
                (a, b)
            } else {
                (b, a)
            };
            for ip in [first, second] {
                if let Ok(pool) = self.check_current(req, need, &[*ip]) {
                    return Validity::Partial {
                        pool,
                        ip: *ip,
                        reason,
                    };
                }
            }
        }
        Validity::Invalid(reason)
    }

    /// Whether IPs the Service holds (or held before a restart) are still valid for it.
    fn check_current(
        &self,
        req: &ServiceRequest,
        need: Need,
        ips: &[IpAddr],
    ) -> Result<usize, AllocError> {
        check_ip_set(ips)?;
        if !need.fits(ips) {
            return Err(AllocError::FamilyChanged(ips.to_vec()));
        }
        if !req.requested_ips.is_empty() && !same_set(ips, &req.requested_ips) {
            return Err(AllocError::RequestedIpsChanged {
                current: ips.to_vec(),
                requested: req.requested_ips.clone(),
            });
        }
        let pool = self.check_exact(req, ips)?;
        if let Some(requested) = &req.requested_pool
            && self.pools.at(pool).name() != requested
        {
            return Err(AllocError::PoolChanged {
                current: self.pools.at(pool).name().to_owned(),
                requested: requested.clone(),
            });
        }
        Ok(pool)
    }

    /// MetalLB `Assign`: the IPs lie in one pool that admits the Service and can be shared.
    fn check_exact(&self, req: &ServiceRequest, ips: &[IpAddr]) -> Result<usize, AllocError> {
        let pool = self
            .pools
            .index_for_ips(ips)
            .ok_or_else(|| AllocError::NotInAnyPool(ips.to_vec()))?;
        if !select::compatible(self.pools.at(pool), req) {
            return Err(AllocError::PoolNotCompatible(
                self.pools.at(pool).name().to_owned(),
            ));
        }
        for ip in ips {
            if let Some(u) = self.ips.get(ip) {
                u.check(ip, req)
                    .map_err(|source| AllocError::IpInUse { ip: *ip, source })?;
            }
        }
        Ok(pool)
    }

    /// MetalLB `allocateIPs`: requested IPs, else requested pool, else automatic.
    fn allocate_new(
        &self,
        req: &ServiceRequest,
        need: Need,
    ) -> Result<(usize, Vec<IpAddr>), AllocError> {
        let requested_pool = match &req.requested_pool {
            Some(name) => Some(
                self.pools
                    .index_of(name)
                    .ok_or_else(|| AllocError::UnknownPool(name.clone()))?,
            ),
            None => None,
        };
        if !req.requested_ips.is_empty() {
            let ips = &req.requested_ips;
            check_ip_set(ips)?;
            if !need.fits(ips) {
                return Err(AllocError::RequestedFamilyMismatch(ips.clone()));
            }
            let pool = self.check_exact(req, ips)?;
            if let Some(rp) = requested_pool
                && rp != pool
            {
                return Err(AllocError::RequestedIpsNotInRequestedPool {
                    ips: ips.clone(),
                    pool: self.pools.at(rp).name().to_owned(),
                });
            }
            let mut ips = ips.clone();
            ips.sort_by_key(|ip| IpFamily::of(ip) != need.primary());
            return Ok((pool, ips));
        }
        if let Some(rp) = requested_pool {
            let pool = self.pools.at(rp);
            if !select::compatible(pool, req) {
                return Err(AllocError::PoolNotCompatible(pool.name().to_owned()));
            }
            return self
                .pick(&[rp], req, need)
                .ok_or_else(|| AllocError::PoolExhausted {
                    pool: pool.name().to_owned(),
                    family: need.primary(),
                });
        }
        let pinned = select::pinned(&self.pools, req);
        if let Some(found) = self.pick(&pinned, req, need) {
            return Ok(found);
        }
        let open = select::unrestricted(&self.pools);
        if let Some(found) = self.pick(&open, req, need) {
            return Ok(found);
        }
        Err(AllocError::NoAvailableIps {
            tried: pinned
                .iter()
                .chain(&open)
                .map(|&i| self.pools.at(i).name().to_owned())
                .collect(),
        })
    }

    /// Gives up a Service's IPs; returns them (empty if it held none).
    pub fn release(&mut self, key: &str) -> Vec<IpAddr> {
        self.unregister(key).map(|r| r.ips).unwrap_or_default()
    }

    /// Replaces the pools. Services whose IPs are still valid keep them (re-homed to the
    /// pool now containing them); the others are released and returned with the reason,
    /// to be reprocessed with [`Allocator::assign`] (MetalLB `SetPools` + `ReprocessAll`).
    /// A `PreferDualStack` Service whose pair became invalid keeps the IP that is still
    /// valid on its own (MetalLB would release both) and is returned too.
    pub fn set_pools(&mut self, pools: PoolSet) -> Vec<(String, AllocError)> {
        let records = std::mem::take(&mut self.records);
        *self = Self::new(pools);
        let mut invalid = Vec::new();
        for (key, rec) in records {
            if let Err(e) = self.restore(&rec.request, rec.ips) {
                invalid.push((key, e));
            }
        }
        invalid
    }

    /// Restores the state after a restart from every Service's request and status IPs,
    /// before anything new is allocated (MetalLB `reprocessAll`: Services holding more IPs
    /// first, then by key). Services whose status IPs are no longer valid hold nothing and
    /// are returned with the reason; [`Allocator::assign`] them afterwards.
    pub fn rebuild(
        &mut self,
        existing: impl IntoIterator<Item = (ServiceRequest, Vec<IpAddr>)>,
    ) -> Vec<(String, AllocError)> {
        *self = Self::new(std::mem::take(&mut self.pools));
        let mut list: Vec<_> = existing
            .into_iter()
            .filter(|(_, ips)| !ips.is_empty())
            .collect();
        list.sort_by(|a, b| {
            b.1.len()
                .cmp(&a.1.len())
                .then_with(|| a.0.key.cmp(&b.0.key))
        });
        let mut invalid = Vec::new();
        for (req, ips) in list {
            if let Err(e) = self.restore(&req, ips) {
                invalid.push((req.key, e));
            }
        }
        invalid
    }

    /// Re-registers IPs a Service held; on error it holds nothing, or only the still valid
    /// IP of a `PreferDualStack` pair.
    fn restore(&mut self, req: &ServiceRequest, ips: Vec<IpAddr>) -> Result<(), AllocError> {
        if self.pools.is_empty() {
            return Err(AllocError::NoPools);
        }
        let need = Need::of(req)?;
        match self.validate(req, need, &ips) {
            Validity::Valid(pool) => {
                self.register(req, pool, ips);
                Ok(())
            }
            Validity::Partial { pool, ip, reason } => {
                self.register(req, pool, vec![ip]);
                Err(reason)
            }
            Validity::Invalid(reason) => Err(reason),
        }
    }

    /// Address counters of every pool, in declared order.
    pub fn all_pool_stats(&self) -> impl Iterator<Item = (&str, PoolStats)> {
        self.pools
            .iter()
            .filter_map(|p| self.pool_stats(p.name()).map(|s| (p.name(), s)))
    }

    /// Address counters of a pool.
    pub fn pool_stats(&self, pool: &str) -> Option<PoolStats> {
        let i = self.pools.index_of(pool)?;
        let p = self.pools.at(i);
        let [v4, v6] = self.assigned.get(i).copied().unwrap_or_default();
        Some(PoolStats::from_counts(v4, v6, p.total_v4(), p.total_v6()))
    }
}

#[cfg(test)]
mod tests;
