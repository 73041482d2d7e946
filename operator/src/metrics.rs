//! Prometheus metrics under MetalLB's names (`internal/allocator/stats.go`,
//! `internal/k8s/controllers/stats.go`), served with the probes by `ferrolb_kube::metrics`.
//! This file is the one home of the controller's metric names; each is registered as MetalLB's
//! Go client exposes it (name, `# TYPE`, labels): the allocator gauges
//! `metallb_allocator_{,ipv4_,ipv6_}addresses{,_in_use}_total{pool}`, MetalLB's
//! `metallb_k8s_client_*` (`ferrolb_kube::metrics::client`: successful and failed writes,
//! configuration loaded / stale), plus the
//! Go client's `process_*` metrics every `ferrolb_kube` exporter carries. `docs/metrics.md`
//! lists them for operators.
//!
//! Served as plain HTTP: `/metrics` on `--port` (MetalLB ≤ v0.15's `monitoring` port 7472;
//! v0.16 moved to HTTPS with authn/authz on 9120 — put a NetworkPolicy or kube-rbac-proxy in
//! front if you need that), `/healthz` and `/readyz` on `--health-probe-port` (17472, as v0.16).

use ferrolb_core::Allocator;
use ferrolb_kube::metrics::client::ClientMetrics;
use ferrolb_kube::metrics::{Exporter, ExporterBuilder};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

/// The `pool` label of the allocator gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    /// Pool name.
    pub pool: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    /// The registry and readiness (set once the caches are synced and the first pass ran).
    pub exporter: Exporter,
    addresses_total: Family<PoolLabel, Gauge>,
    ipv4_addresses_total: Family<PoolLabel, Gauge>,
    ipv6_addresses_total: Family<PoolLabel, Gauge>,
    in_use_total: Family<PoolLabel, Gauge>,
    ipv4_in_use_total: Family<PoolLabel, Gauge>,
    ipv6_in_use_total: Family<PoolLabel, Gauge>,
    /// `metallb_k8s_client_*`: writes to the API server, configuration loaded / stale.
    pub client: ClientMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut b = ExporterBuilder::default();
        let m = Self {
            addresses_total: Family::default(),
            ipv4_addresses_total: Family::default(),
            ipv6_addresses_total: Family::default(),
            in_use_total: Family::default(),
            ipv4_in_use_total: Family::default(),
            ipv6_in_use_total: Family::default(),
            client: ClientMetrics::default(),
            exporter: ExporterBuilder::default().build(),
        };
        for (name, help, family) in [
            (
                "metallb_allocator_addresses_total",
                "Number of usable IP addresses, per pool",
                &m.addresses_total,
            ),
            (
                "metallb_allocator_ipv4_addresses_total",
                "Number of usable IPv4 addresses, per pool",
                &m.ipv4_addresses_total,
            ),
            (
                "metallb_allocator_ipv6_addresses_total",
                "Number of usable IPv6 addresses, per pool",
                &m.ipv6_addresses_total,
            ),
            (
                "metallb_allocator_addresses_in_use_total",
                "Number of IP addresses in use, per pool",
                &m.in_use_total,
            ),
            (
                "metallb_allocator_ipv4_addresses_in_use_total",
                "Number of IPv4 addresses in use, per pool",
                &m.ipv4_in_use_total,
            ),
            (
                "metallb_allocator_ipv6_addresses_in_use_total",
                "Number of IPv6 addresses in use, per pool",
                &m.ipv6_in_use_total,
            ),
        ] {
            b.register(name, help, family.clone());
        }
        m.client.register(&mut b);
        Self {
            exporter: b.build(),
            ..m
        }
    }

    /// Updates the allocator gauges and configuration state after a pass.
    pub fn observe(&self, alloc: Option<&Allocator>, config_error: bool) {
        self.client.config(alloc.is_some(), config_error);
        let Some(alloc) = alloc else { return };
        for family in [
            &self.addresses_total,
            &self.ipv4_addresses_total,
            &self.ipv6_addresses_total,
            &self.in_use_total,
            &self.ipv4_in_use_total,
            &self.ipv6_in_use_total,
        ] {
            family.clear();
        }
        for (pool, s) in alloc.all_pool_stats() {
            let l = PoolLabel {
                pool: pool.to_owned(),
            };
            self.addresses_total
                .get_or_create(&l)
                .set(s.total_v4.saturating_add(s.total_v6));
            self.ipv4_addresses_total.get_or_create(&l).set(s.total_v4);
            self.ipv6_addresses_total.get_or_create(&l).set(s.total_v6);
            self.in_use_total
                .get_or_create(&l)
                .set(s.assigned_v4.saturating_add(s.assigned_v6));
            self.ipv4_in_use_total.get_or_create(&l).set(s.assigned_v4);
            self.ipv6_in_use_total.get_or_create(&l).set(s.assigned_v6);
        }
    }
}

#[cfg(test)]
mod tests;
