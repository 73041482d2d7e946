//! Which pools a Service may use, and in which order they are tried.
//!
//! Owns MetalLB's `isPoolCompatibleWithService` and `pinnedPoolsForService`
//! (`internal/allocator/allocator.go`): a pool without `serviceAllocation` admits every
//! Service; with one, the Service's namespace must be listed or selected (when the pool
//! restricts namespaces) and its labels must match one service selector (when there are
//! any). Automatic allocation first tries the "pinned" pools (`autoAssign` pools with a
//! `serviceAllocation` that admits the Service) sorted by priority — lower positive value
//! first, 0/unset last — then every `autoAssign` pool without `serviceAllocation`.
//! MetalLB leaves ties and the second list in Go map order (random); ferrolb uses the
//! declared order so allocation is deterministic.
//!
//! `namespaceSelectors` are matched against the Service's namespace labels carried in the
//! [`ServiceRequest`]; MetalLB resolves them into a namespace list when it parses the
//! config, which gives the same result as long as the operator reprocesses Services when
//! namespace labels change. One MetalLB quirk is not reproduced: when namespace selectors
//! match no namespace at all, MetalLB's namespace set is empty and the pool then admits
//! every namespace for explicit requests; here such a pool admits no namespace.

use crate::pool::{Pool, PoolSet};
use crate::service::ServiceRequest;

/// Whether the pool's `serviceAllocation` admits the Service.
pub fn compatible(pool: &Pool, req: &ServiceRequest) -> bool {
    match pool.allocation() {
        None => true,
        Some(a) => {
            (!a.restricts_namespaces()
                || a.selects_namespace(&req.namespace, &req.namespace_labels))
                && a.selects_service(&req.labels)
        }
    }
}

/// Sort key: positive (or negative) priorities ascending, then 0 (unset) last.
fn priority_rank(pool: &Pool) -> (bool, i32) {
    let p = pool.allocation().map_or(0, |a| a.priority);
    (p == 0, p)
}

/// Pinned pools for automatic allocation, in the order they are tried.
pub(crate) fn pinned(pools: &PoolSet, req: &ServiceRequest) -> Vec<usize> {
    let mut v: Vec<usize> = (0..pools.len())
        .filter(|&i| {
            let p = pools.at(i);
            p.auto_assign() && p.allocation().is_some() && compatible(p, req)
        })
        .collect();
    v.sort_by_key(|&i| priority_rank(pools.at(i)));
    v
}

/// Pools open to every Service (`autoAssign` and no `serviceAllocation`), declared order.
pub(crate) fn unrestricted(pools: &PoolSet) -> Vec<usize> {
    (0..pools.len())
        .filter(|&i| {
            let p = pools.at(i);
            p.auto_assign() && p.allocation().is_none()
        })
        .collect()
}
