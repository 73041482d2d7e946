//! A binary's Prometheus registry and readiness flag, and the two plain-HTTP servers that
//! expose them ([`crate::http`]): `/metrics` on the monitoring port (MetalLB ≤ v0.15: 7472) and
//! `/healthz` + `/readyz` on the health-probe port (17472). Each binary declares its own metrics
//! (under MetalLB's names), registers them here and serves them with [`Exporter::serve`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Metric;
use prometheus_client::registry::Registry;

/// Collects metrics while a binary builds its metric set ([`ExporterBuilder::build`]).
#[derive(Default)]
pub struct ExporterBuilder {
    registry: Registry,
}

impl ExporterBuilder {
    /// Registers `metric` as `name` (prometheus-client appends `_total` to counters).
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
    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
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

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[test]
    fn renders_what_was_registered_and_tracks_readiness() {
        let hits = Counter::<u64>::default();
        let mut b = ExporterBuilder::default();
        b.register("demo_hits", "Hits", hits.clone());
        let e = b.build();
        assert!(!e.is_ready());
        hits.inc();
        assert!(e.render().contains("demo_hits_total 1"), "{}", e.render());
        e.clone().set_ready();
        assert!(e.is_ready(), "clones share the flag");
    }
}
