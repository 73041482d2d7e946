//! Finding free addresses in pools (`getIPFromCIDR`, `getIPFromPool`,
//! `findBestPoolForService`, `selectIPsForFamilyAndPolicy`).
//!
//! Within a pool, CIDRs of the wanted family are tried in declared order and the lowest
//! usable address is taken: the lowest unused one (via the run index, no scan) or, for a
//! Service with a sharing key, a lower address already held by compatible Services.
//! Across candidate pools: single-stack takes the first pool with an address;
//! `RequireDualStack` the first pool with both families; `PreferDualStack` the first pool
//! with both, else the first with the primary family, else the first with the other.

use std::net::IpAddr;

use super::{Allocator, Need};
use crate::addr::{self, IpFamily};
use crate::service::ServiceRequest;

impl Allocator {
    /// Lowest usable address of `family` in a pool for `req`.
    pub(super) fn free_ip(
        &self,
        pool: usize,
        req: &ServiceRequest,
        family: IpFamily,
    ) -> Option<IpAddr> {
        let pool = self.pools.at(pool);
        let used = match family {
            IpFamily::V4 => &self.used_v4,
            IpFamily::V6 => &self.used_v6,
        };
        let shared = req.sharing_key.as_ref().and_then(|k| self.shared.get(k));
        let avoid = pool.avoid_buggy_ips();
        for net in pool
            .cidrs()
            .iter()
            .filter(|n| IpFamily::of_net(n) == family)
        {
            let (lo, hi) = addr::net_bounds(net);
            let mut best = used.first_free(family, lo, hi, avoid);
            if let Some(set) = shared {
                let range = addr::from_u128(family, lo)..=addr::from_u128(family, hi);
                for ip in set.range(range) {
                    let v = addr::to_u128(*ip);
                    if best.is_some_and(|b| v > b) {
                        break;
                    }
                    if self.ips.get(ip).is_some_and(|u| u.check(ip, req).is_ok()) {
                        best = Some(v);
                        break;
                    }
                }
            }
            if let Some(v) = best {
                return Some(addr::from_u128(family, v));
            }
        }
        None
    }

    /// First candidate pool (in order) that satisfies the need, with its addresses
    /// (primary family first).
    pub(super) fn pick(
        &self,
        candidates: &[usize],
        req: &ServiceRequest,
        need: Need,
    ) -> Option<(usize, Vec<IpAddr>)> {
        match need {
            Need::Single(f) => candidates
                .iter()
                .find_map(|&p| self.free_ip(p, req, f).map(|ip| (p, vec![ip]))),
            Need::Dual { primary, required } => {
                let mut first_primary = None;
                let mut first_secondary = None;
                for &p in candidates {
                    let a = self.free_ip(p, req, primary);
                    let b = self.free_ip(p, req, primary.other());
                    match (a, b) {
                        (Some(a), Some(b)) => return Some((p, vec![a, b])),
                        (Some(a), None) if first_primary.is_none() => {
                            first_primary = Some((p, vec![a]));
                        }
                        (None, Some(b)) if first_secondary.is_none() => {
                            first_secondary = Some((p, vec![b]));
                        }
                        _ => {}
                    }
                }
                if required {
                    None
                } else {
                    first_primary.or(first_secondary)
                }
            }
        }
    }
}
