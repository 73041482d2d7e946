//! Executes the [`Action`]s of a reconcile pass against the API server. Service writes are
//! JSON merge patches limited to `status.loadBalancer` and one annotation (ferrolb never touches
//! a Service's spec); ferrolb's own objects are written with server-side apply under one field
//! manager.
//!
//! Writes are pipelined: [`Applier::submit`] starts them (at most [`PARALLEL_WRITES`] at once)
//! and returns, so the next pass does not wait for a slow write and a Service created during
//! a burst gets its IP as soon as a pass sees it. The [`Gate`](super::gate::Gate) keeps one
//! write per object in flight and drops repeats the cache has not caught up with yet.
//!
//! Only the leader writes: a write waiting for a permit when leadership lapses is dropped
//! (the [`Leadership`] deadline is checked just before each request is sent).

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, Semaphore};

use ferrolb_api::names::ANNOTATION_IP_ALLOCATED_FROM_POOL;
use ferrolb_api::v1beta1::IPAddressPool;
use ferrolb_kube::convert::ServiceKey;
use ferrolb_kube::events::event;
use ferrolb_kube::lease::shell::Leadership;
use ferrolb_kube::status::ConfigStateWriter;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::Recorder;
use kube::{Client, Resource};
use serde_json::json;

use super::gate::{Admit, Gate, WriteKey, fingerprint};
use super::reconcile::{Action, ServiceWrite};
use crate::metrics::Metrics;

/// Field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "ferrolb-controller";

/// How many writes run at once.
pub const PARALLEL_WRITES: usize = 32;

/// At most one status write per IPAddressPool in this interval: during a burst the counters
/// change with every allocation, and a write per pass would compete with the Service writes.
/// The last counts are always written (a pass is woken when the interval ends).
pub const POOL_STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// A failed write, naming the object.
#[derive(Debug, thiserror::Error)]
#[error("{what} {object}: {source}")]
pub struct ApplyError {
    what: &'static str,
    object: String,
    #[source]
    source: kube::Error,
}

/// Starts the writes of each pass; failures are logged and counted, and the next pass
/// retries them (writes are level-based).
pub struct Applier {
    api: Arc<Writer>,
    gate: Arc<Mutex<Gate>>,
    permits: Arc<Semaphore>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    leadership: Leadership,
}

/// What a write task needs to talk to the API server.
struct Writer {
    client: Client,
    namespace: String,
    recorder: Recorder,
    /// ConfigurationState `controller`.
    state: ConfigStateWriter,
}

impl Applier {
    /// An applier writing ferrolb's objects in `namespace`; `wake` is notified when a pass
    /// must run again because a newer write waited for an in-flight one. Writes are sent only
    /// while `leadership` holds.
    pub fn new(
        client: Client,
        namespace: String,
        recorder: Recorder,
        state: ConfigStateWriter,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
        leadership: Leadership,
    ) -> Self {
        Self {
            api: Arc::new(Writer {
                client,
                namespace,
                recorder,
                state,
            }),
            gate: Arc::new(Mutex::new(Gate::default())),
            permits: Arc::new(Semaphore::new(PARALLEL_WRITES)),
            wake,
            metrics,
            leadership,
        }
    }

    /// Starts every action's write and returns at once; writes to an object with a write in
    /// flight wait for the next pass, pool status writes are throttled.
    pub fn submit(&self, actions: Vec<Action>) {
        let t = Instant::now();
        let mut admitted = Vec::new();
        let mut wake_at = Vec::new();
        {
            let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            gate.purge(t);
            for a in actions {
                let key = match &a {
                    Action::Service { key, write } => {
                        let key = WriteKey::Service(key.clone());
                        gate.admit(key.clone(), fingerprint(write), t)
                            .then_some(key)
                    }
                    Action::PoolStatus { name, status } => {
                        let key = WriteKey::Pool(name.clone());
                        let fp = fingerprint(&serde_json::to_string(status).unwrap_or_default());
                        match gate.admit_throttled(key.clone(), fp, t, POOL_STATUS_INTERVAL) {
                            Admit::Now => Some(key),
                            Admit::Drop => None,
                            Admit::At(due) => {
                                wake_at.push(due);
                                None
                            }
                        }
                    }
                    Action::ControllerState { error } => gate
                        .admit(WriteKey::State, fingerprint(error), t)
                        .then_some(WriteKey::State),
                    // Events are emitted once by the reconciler: always sent.
                    Action::Event { .. } => {
                        admitted.push((None, a));
                        continue;
                    }
                };
                if let Some(key) = key {
                    admitted.push((Some(key), a));
                }
            }
        }
        for due in wake_at {
            let wake = self.wake.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(due.into()).await;
                wake.notify_one();
            });
        }
        for (key, action) in admitted {
            self.spawn(key, action);
        }
    }

    fn spawn(&self, key: Option<WriteKey>, action: Action) {
        let api = self.api.clone();
        let gate = self.gate.clone();
        let permits = self.permits.clone();
        let wake = self.wake.clone();
        let metrics = self.metrics.clone();
        let leadership = self.leadership.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            if !leadership.is_leader() {
                if let Some(k) = key {
                    let mut gate = gate.lock().unwrap_or_else(PoisonError::into_inner);
                    gate.finish(&k, false, Instant::now());
                }
                tracing::debug!("not the leader any more: write dropped");
                return;
            }
            log_action(&action);
            let result = api.one(action).await;
            match &result {
                Ok(()) => metrics.client.wrote(true),
                Err(e) => {
                    metrics.client.wrote(false);
                    tracing::warn!(error = %e, "write failed; the next pass retries it");
                }
            };
            if let Some(k) = key {
                let again = gate.lock().unwrap_or_else(PoisonError::into_inner).finish(
                    &k,
                    result.is_ok(),
                    Instant::now(),
                );
                if again {
                    wake.notify_one();
                }
            }
        });
    }

    /// Writes in flight (for tests and logs).
    pub fn in_flight(&self) -> usize {
        self.gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight()
    }
}

impl Writer {
    /// One merge patch on the Service's `/status` carrying both `status.loadBalancer` and the
    /// `ip-allocated-from-pool` annotation, as MetalLB's single `UpdateStatus` call does (the
    /// Service status strategy only resets `spec`, so the annotation is persisted too). One
    /// request means the two can never disagree, even if the controller dies mid-pass.
    async fn service(&self, key: ServiceKey, w: ServiceWrite) -> Result<(), ApplyError> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), &key.namespace);
        let mut body = json!({});
        if let Some(ips) = &w.ips {
            body["status"] = json!({"loadBalancer": {"ingress": ingress(ips)}});
        }
        if let Some(pool) = &w.pool {
            body["metadata"] = json!({"annotations": {ANNOTATION_IP_ALLOCATED_FROM_POOL: pool}});
        }
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        api.patch_status(&key.name, &params, &Patch::Merge(&body))
            .await
            .map(drop)
            .map_err(|source| ApplyError {
                what: "updating status of Service",
                object: key.to_string(),
                source,
            })
    }

    async fn one(&self, action: Action) -> Result<(), ApplyError> {
        let ssa = PatchParams::apply(FIELD_MANAGER).force();
        match action {
            Action::Service { key, write } => self.service(key, write).await,
            Action::Event {
                object,
                warning,
                reason,
                note,
            } => {
                let ev = event(warning, reason, note, "Allocate");
                let obj = ServiceKey::new(
                    object.namespace.clone().unwrap_or_default(),
                    object.name.clone().unwrap_or_default(),
                )
                .to_string();
                self.recorder
                    .publish(&ev, &object)
                    .await
                    .map_err(|source| ApplyError {
                        what: "publishing event on",
                        object: obj,
                        source,
                    })
            }
            Action::PoolStatus { name, status } => {
                let api: Api<IPAddressPool> = Api::namespaced(self.client.clone(), &self.namespace);
                let body = json!({
                    "apiVersion": IPAddressPool::api_version(&()), "kind": IPAddressPool::kind(&()),
                    "status": status,
                });
                api.patch_status(&name, &ssa, &Patch::Apply(&body))
                    .await
                    .map(drop)
                    .map_err(|source| ApplyError {
                        what: "updating status of IPAddressPool",
                        object: name,
                        source,
                    })
            }
            Action::ControllerState { error } => {
                self.state
                    .write(error.as_deref())
                    .await
                    .map_err(|source| ApplyError {
                        what: "writing ConfigurationState",
                        object: self.state.name().to_owned(),
                        source,
                    })
            }
        }
    }
}

/// The log line of an outcome the controller is about to write, as MetalLB's controller logs
/// it (`controller/service.go`: `"event":"ipAllocated"`, `"event":"clearAssignment"`;
/// `controller/main.go`: `"op":"setConfig"` on a configuration error, `"event":"configLoaded"`).
/// Each is written once per change (events are emitted once, the state when it changes), so
/// the log is not flooded.
fn log_action(action: &Action) {
    match action {
        Action::Event {
            object,
            warning,
            reason,
            note,
        } => {
            let service = format!(
                "{}/{}",
                object.namespace.as_deref().unwrap_or_default(),
                object.name.as_deref().unwrap_or_default()
            );
            let event = log_event(reason);
            if *warning {
                tracing::warn!(event = %event, service = %service, "{note}");
            } else {
                tracing::info!(event = %event, service = %service, "{note}");
            }
        }
        Action::ControllerState { error: Some(e) } => {
            tracing::error!(op = "setConfig", error = %e, "applying new configuration failed");
        }
        Action::ControllerState { error: None } => {
            tracing::info!(event = "configLoaded", "config (re)loaded");
        }
        Action::Service { .. } | Action::PoolStatus { .. } => {}
    }
}

/// An event reason as MetalLB's log key spells it: `IPAllocated` → `ipAllocated`,
/// `ClearAssignment` → `clearAssignment` (the leading capitals of a word lowered).
fn log_event(reason: &str) -> String {
    let upper = reason.chars().take_while(char::is_ascii_uppercase).count();
    // `IPAllocated`: lower `IP`, keep the `A` that starts the next word.
    let lower = if upper > 1 && upper < reason.len() {
        upper - 1
    } else {
        upper
    };
    let (head, tail) = reason.split_at(lower);
    format!("{}{tail}", head.to_ascii_lowercase())
}

fn ingress(ips: &[IpAddr]) -> serde_json::Value {
    if ips.is_empty() {
        serde_json::Value::Null
    } else {
        ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect()
    }
}

#[cfg(test)]
mod tests;
