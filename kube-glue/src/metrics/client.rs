//! MetalLB's `metallb_k8s_client_*` metrics (`internal/k8s/controllers/stats.go`), which
//! MetalLB's controller **and** speaker export and its `MetalLBStaleConfig` /
//! `MetalLBConfigNotLoaded` alerts read per Pod: the one definition, registered by every binary
//! that reconciles Kubernetes objects (the controller, the speaker).
//!
//! - `metallb_k8s_client_updates_total` / `_update_errors_total` (counters, exposed without a
//!   second `_total`): passes of writes to the API server that succeeded / failed (the failed
//!   ones are retried by the next pass);
//! - `metallb_k8s_client_config_loaded_bool`: 1 once a configuration was loaded;
//! - `metallb_k8s_client_config_stale_bool`: 1 while part of the latest configuration is
//!   refused and the last good one keeps serving.

use prometheus_client::metrics::gauge::Gauge;

use super::{ExactCounter, ExporterBuilder};

/// The four `metallb_k8s_client_*` metrics (a clone shares the values).
#[derive(Clone, Debug, Default)]
pub struct ClientMetrics {
    updates: ExactCounter,
    update_errors: ExactCounter,
    config_loaded: Gauge,
    config_stale: Gauge,
}

impl ClientMetrics {
    /// Registers the four metrics under MetalLB's names and help texts.
    pub fn register(&self, b: &mut ExporterBuilder) {
        b.register(
            "metallb_k8s_client_updates_total",
            "Number of k8s object updates that have been processed.",
            self.updates.clone(),
        )
        .register(
            "metallb_k8s_client_update_errors_total",
            "Number of k8s object updates that failed for some reason.",
            self.update_errors.clone(),
        )
        .register(
            "metallb_k8s_client_config_loaded_bool",
            "1 if the MetalLB configuration was successfully loaded at least once.",
            self.config_loaded.clone(),
        )
        .register(
            "metallb_k8s_client_config_stale_bool",
            "1 if running on a stale configuration, because the latest config failed to load.",
            self.config_stale.clone(),
        );
    }

    /// Counts one write (or pass of writes): succeeded or failed.
    pub fn wrote(&self, ok: bool) {
        if ok {
            self.updates.inc();
        } else {
            self.update_errors.inc();
        }
    }

    /// Sets the configuration gauges: a configuration was loaded; part of it is refused.
    pub fn config(&self, loaded: bool, stale: bool) {
        self.config_loaded.set(i64::from(loaded));
        self.config_stale.set(i64::from(stale));
    }

    /// Successful writes so far.
    pub fn updates(&self) -> u64 {
        self.updates.get()
    }

    /// Failed writes so far.
    pub fn update_errors(&self) -> u64 {
        self.update_errors.get()
    }
}
