//! Bookkeeping of who holds what: registering and forgetting a Service's IPs keeps the
//! per-address users ([`crate::sharing`]), the used-address runs ([`crate::index`]), the
//! sharing-key index and the per-pool counters consistent.

use std::collections::btree_map::Entry;
use std::net::IpAddr;

use super::{Allocator, Record};
use crate::addr::{self, IpFamily};
use crate::index::UsedRuns;
use crate::service::ServiceRequest;
use crate::sharing::IpUse;

impl Allocator {
    fn used_mut(&mut self, family: IpFamily) -> &mut UsedRuns {
        match family {
            IpFamily::V4 => &mut self.used_v4,
            IpFamily::V6 => &mut self.used_v6,
        }
    }

    /// Records that `req` holds `ips` from `pool` (replacing what it held).
    pub(super) fn register(&mut self, req: &ServiceRequest, pool: usize, ips: Vec<IpAddr>) {
        self.unregister(&req.key);
        for ip in &ips {
            let family = IpFamily::of(ip);
            if !self.ips.contains_key(ip) {
                self.used_mut(family).insert(addr::to_u128(*ip));
                if let Some(counts) = self.assigned.get_mut(pool) {
                    counts[family as usize] += 1;
                }
                if let Some(k) = &req.sharing_key {
                    self.shared.entry(k.clone()).or_default().insert(*ip);
                }
            }
            self.ips
                .entry(*ip)
                .or_insert_with(|| IpUse::new(pool, req))
                .add(req);
        }
        self.records.insert(
            req.key.clone(),
            Record {
                pool,
                ips,
                request: req.clone(),
            },
        );
    }

    /// Forgets what `key` holds.
    pub(super) fn unregister(&mut self, key: &str) -> Option<Record> {
        let rec = self.records.remove(key)?;
        for ip in &rec.ips {
            let Entry::Occupied(mut e) = self.ips.entry(*ip) else {
                continue;
            };
            if !e.get_mut().remove(key) {
                continue;
            }
            let gone = e.remove();
            let family = IpFamily::of(ip);
            self.used_mut(family).remove(addr::to_u128(*ip));
            if let Some(counts) = self.assigned.get_mut(gone.pool) {
                counts[family as usize] = counts[family as usize].saturating_sub(1);
            }
            if let Some(k) = gone.sharing_key
                && let Entry::Occupied(mut s) = self.shared.entry(k)
            {
                s.get_mut().remove(ip);
                if s.get().is_empty() {
                    s.remove();
                }
            }
        }
        Some(rec)
    }
}
