//! A binary's Prometheus registry and readiness flag, and the two plain-HTTP servers that
//! expose them ([`crate::http`]): `/metrics` on the monitoring port (MetalLB ≤ v0.15: 7472) and
//! `/healthz` + `/readyz` on the health-probe port (17472). Each binary declares its own metrics
//! (under MetalLB's names), registers them here and serves them with [`Exporter::serve`].
//!
//! The exposition is what MetalLB's Go client (`client_golang`, `promhttp` without OpenMetrics)
//! serves: the Prometheus text format 0.0.4, every family under its full name, `# TYPE` and
//! samples alike. A Go counter named `metallb_layer2_requests_received` is exposed as
//! `# TYPE metallb_layer2_requests_received counter` with samples of that very name, where
//! prometheus-client's own `Counter` would append `_total`: every ferrolb counter is therefore
//! an [`ExactCounter`], registered under the exact name (`_total` included when MetalLB's has
//! it). Every registry also carries the Go client's process metrics ([`process`]); the
//! `metallb_k8s_client_*` metrics of the binaries that reconcile are defined once ([`client`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Metric;
use prometheus_client::registry::Registry;

pub mod client;
pub mod process;

/// A counter exposed as the Go client exposes one: `# TYPE <name> counter` and samples named
/// `<name>` exactly, no `_total` appended (a clone shares the value).
#[derive(Clone, Debug, Default)]
pub struct ExactCounter(Counter<u64>);

impl ExactCounter {
    /// Adds one; returns the previous value.
    pub fn inc(&self) -> u64 {
        self.0.inc()
    }

    /// Adds `v`; returns the previous value.
    pub fn inc_by(&self, v: u64) -> u64 {
        self.0.inc_by(v)
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.get()
    }

    /// Raises the counter to `total`, a statistic counted elsewhere (never lowers it, never
    /// counts twice).
    pub fn catch_up(&self, total: u64) {
        let shown = self.get();
        if total > shown {
            self.inc_by(total - shown);
        }
    }
}

impl TypedMetric for ExactCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ExactCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // A gauge's sample line is `<name>{labels} value`: the Go client's counter line.
        encoder.encode_gauge(&self.get())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// Collects metrics while a binary builds its metric set ([`ExporterBuilder::build`]); starts
/// with the process metrics.
pub struct ExporterBuilder {
    registry: Registry,
}

impl Default for ExporterBuilder {
    fn default() -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(process::ProcessCollector));
        Self { registry }
    }
}

impl ExporterBuilder {
    /// Registers `metric` under exactly `name` (use [`ExactCounter`] for counters:
    /// prometheus-client's `Counter` would expose `<name>_total`).
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) -> &mut Self {
        self.registry.register(name, help, metric);
        self
    }

    /// The exporter of what was registered, not ready yet.
    pub fn build(self) -> Exporter {
        Exporter {
            registry: Arc::new(self.registry),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The registered metrics and the readiness `/readyz` reports; cheap to clone.
#[derive(Clone)]
pub struct Exporter {
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// The text exposition (Prometheus text format 0.0.4, as the Go client) of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        out
    }

    /// Marks the binary ready (`/readyz` answers 200 from now on).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Whether [`Exporter::set_ready`] was called.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Starts `/metrics` on `metrics_port` and the probes on `probe_port` (0 disables either);
    /// `/readyz` answers 503 with `why_not` until ready.
    pub fn serve(&self, metrics_port: u16, probe_port: u16, why_not: &'static str) {
        let registry = self.clone();
        let render = Arc::new(move || registry.render());
        tokio::spawn(crate::http::serve(
            metrics_port,
            crate::http::metrics_router(render),
            "metrics",
        ));
        tokio::spawn(crate::http::serve(
            probe_port,
            crate::http::probes_router(self.ready.clone(), why_not),
            "health probes",
        ));
    }
}

/// The shape of a text exposition: every `# TYPE` line as `name type`, and the name of every
/// sample (before its labels), for tests comparing an exposition with MetalLB's list.
pub fn exposition_shape(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut types = BTreeSet::new();
    let mut samples = BTreeSet::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            types.insert(t.to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            samples.insert(line[..end].to_owned());
        }
    }
    (types, samples)
}

#[cfg(test)]
mod tests;
