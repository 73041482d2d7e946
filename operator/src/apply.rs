//! Executes the [`Action`]s of a reconcile pass against the API server. Service writes are
//! JSON merge patches limited to `status.loadBalancer` and one annotation (ferrolb never touches
//! a Service's spec); ferrolb's own objects are written with server-side apply under one field
//! manager.
//!
//! Writes are pipelined: [`Applier::submit`] starts them (at most [`PARALLEL_WRITES`] at once)
//! and returns, so the next pass does not wait for a slow write and a Service created during
//! a burst gets its IP as soon as a pass sees it. The [`Gate`](crate::gate::Gate) keeps one
//! write per object in flight and drops repeats the cache has not caught up with yet.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, Semaphore};

use ferrolb_api::names::{ANNOTATION_IP_ALLOCATED_FROM_POOL, LABEL_COMPONENT_TYPE};
use ferrolb_api::v1beta1::{ConfigurationState, ConfigurationStateStatus, IPAddressPool};
use ferrolb_kube::owner::PodOwner;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource};
use serde_json::json;

use crate::gate::{Admit, Gate, WriteKey, fingerprint};
use crate::metrics::Metrics;
use crate::reconcile::Action;

/// Field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "ferrolb-controller";
/// Name of the controller's ConfigurationState.
pub const STATE_NAME: &str = "controller";
/// Condition type MetalLB's pool reconciler reports.
pub const POOL_CONDITION: &str = "poolReconcilerValid";

/// How many writes run at once.
pub const PARALLEL_WRITES: usize = 32;

/// At most one status write per IPAddressPool in this interval: during a burst the counters
/// change with every allocation, and a write per pass would compete with the Service writes.
/// The last counts are always written (a pass is woken when the interval ends).
pub const POOL_STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The pending writes to one Service.
#[derive(Default, Hash)]
struct ServiceWrite {
    ips: Option<Vec<IpAddr>>,
    pool: Option<Option<String>>,
}

/// A failed write, naming the object.
#[derive(Debug, thiserror::Error)]
#[error("{what} {object}: {source}")]
pub struct ApplyError {
    what: &'static str,
    object: String,
    #[source]
    source: kube::Error,
}

/// One write, as a task runs it.
enum Write {
    Service(String, String, ServiceWrite),
    Other(Action),
}

/// Starts the writes of each pass; failures are logged and counted, and the next pass
/// retries them (writes are level-based).
pub struct Applier {
    api: Arc<Writer>,
    gate: Arc<Mutex<Gate>>,
    permits: Arc<Semaphore>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
}

/// What a write task needs to talk to the API server.
struct Writer {
    client: Client,
    namespace: String,
    recorder: Recorder,
    /// The controller's Pod, owner of ConfigurationState `controller`.
    owner: PodOwner,
}

impl Applier {
    /// An applier writing ferrolb's objects in `namespace`; `wake` is notified when a pass
    /// must run again because a newer write waited for an in-flight one.
    pub fn new(
        client: Client,
        namespace: String,
        recorder: Recorder,
        owner: PodOwner,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            api: Arc::new(Writer {
                client,
                namespace,
                recorder,
                owner,
            }),
            gate: Arc::new(Mutex::new(Gate::default())),
            permits: Arc::new(Semaphore::new(PARALLEL_WRITES)),
            wake,
            metrics,
        }
    }

    /// Starts every action's write and returns at once. Writes to one Service are merged into
    /// a single request; writes to an object with a write in flight wait for the next pass.
    pub fn submit(&self, actions: Vec<Action>, now: &Time) {
        let mut services: BTreeMap<(String, String), ServiceWrite> = BTreeMap::new();
        let mut others = Vec::new();
        for action in actions {
            match action {
                Action::ServiceStatus {
                    namespace,
                    name,
                    ips,
                } => {
                    services.entry((namespace, name)).or_default().ips = Some(ips);
                }
                Action::PoolAnnotation {
                    namespace,
                    name,
                    pool,
                } => {
                    services.entry((namespace, name)).or_default().pool = Some(pool);
                }
                other => others.push(other),
            }
        }
        let t = Instant::now();
        let mut admitted = Vec::new();
        let mut wake_at = Vec::new();
        {
            let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            gate.purge(t);
            for ((ns, name), w) in services {
                let key = WriteKey::Service(ns.clone(), name.clone());
                if gate.admit(key.clone(), fingerprint(&w), t) {
                    admitted.push((Some(key), Write::Service(ns, name, w)));
                }
            }
            for a in others {
                match &a {
                    Action::PoolStatus { name, status } => {
                        let key = WriteKey::Pool(name.clone());
                        let fp = fingerprint(&serde_json::to_string(status).unwrap_or_default());
                        match gate.admit_throttled(key.clone(), fp, t, POOL_STATUS_INTERVAL) {
                            Admit::Now => admitted.push((Some(key), Write::Other(a))),
                            Admit::Drop => {}
                            Admit::At(due) => wake_at.push(due),
                        }
                    }
                    Action::ControllerState { error } => {
                        if gate.admit(WriteKey::State, fingerprint(error), t) {
                            admitted.push((Some(WriteKey::State), Write::Other(a)));
                        }
                    }
                    // Events are emitted once by the reconciler: always sent.
                    _ => admitted.push((None, Write::Other(a))),
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
        for (key, write) in admitted {
            self.spawn(key, write, now.clone());
        }
    }

    fn spawn(&self, key: Option<WriteKey>, write: Write, now: Time) {
        let api = self.api.clone();
        let gate = self.gate.clone();
        let permits = self.permits.clone();
        let wake = self.wake.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let result = match write {
                Write::Service(ns, name, w) => api.service(ns, name, w).await,
                Write::Other(a) => api.one(a, &now).await,
            };
            match &result {
                Ok(()) => {
                    metrics.updates.inc();
                }
                Err(e) => {
                    metrics.update_errors.inc();
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
    async fn service(
        &self,
        namespace: String,
        name: String,
        w: ServiceWrite,
    ) -> Result<(), ApplyError> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), &namespace);
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
        api.patch_status(&name, &params, &Patch::Merge(&body))
            .await
            .map(drop)
            .map_err(|source| ApplyError {
                what: "updating status of Service",
                object: format!("{namespace}/{name}"),
                source,
            })
    }

    async fn one(&self, action: Action, now: &Time) -> Result<(), ApplyError> {
        let ssa = PatchParams::apply(FIELD_MANAGER).force();
        match action {
            // Merged into one request per Service by `run`.
            Action::ServiceStatus { .. } | Action::PoolAnnotation { .. } => Ok(()),
            Action::Event {
                object,
                warning,
                reason,
                note,
            } => {
                let ev = Event {
                    type_: if warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: reason.into(),
                    note: Some(note),
                    action: "Allocate".into(),
                    secondary: None,
                };
                let obj = format!(
                    "{}/{}",
                    object.namespace.as_deref().unwrap_or_default(),
                    object.name.as_deref().unwrap_or_default()
                );
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
            Action::ControllerState { error } => self.controller_state(error, now, &ssa).await,
        }
    }

    async fn controller_state(
        &self,
        error: Option<String>,
        now: &Time,
        ssa: &PatchParams,
    ) -> Result<(), ApplyError> {
        let api: Api<ConfigurationState> = Api::namespaced(self.client.clone(), &self.namespace);
        let wrap = |source| ApplyError {
            what: "writing ConfigurationState",
            object: STATE_NAME.into(),
            source,
        };
        let object = json!({
            "apiVersion": ConfigurationState::api_version(&()), "kind": ConfigurationState::kind(&()),
            "metadata": {
                "name": STATE_NAME,
                "labels": {LABEL_COMPONENT_TYPE: "controller"},
                "ownerReferences": self.owner.references(),
            },
        });
        api.patch(STATE_NAME, ssa, &Patch::Apply(&object))
            .await
            .map_err(wrap)?;
        let condition = Condition {
            type_: POOL_CONDITION.into(),
            status: if error.is_some() { "False" } else { "True" }.into(),
            reason: if error.is_some() {
                "ConfigurationError"
            } else {
                "Reconciled"
            }
            .into(),
            message: error.unwrap_or_default(),
            observed_generation: None,
            last_transition_time: now.clone(),
        };
        let status = ConfigurationStateStatus::summarize(vec![condition]);
        let body = json!({
            "apiVersion": ConfigurationState::api_version(&()), "kind": ConfigurationState::kind(&()),
            "status": status,
        });
        api.patch_status(STATE_NAME, ssa, &Patch::Apply(&body))
            .await
            .map(drop)
            .map_err(wrap)
    }
}

fn ingress(ips: &[IpAddr]) -> serde_json::Value {
    if ips.is_empty() {
        serde_json::Value::Null
    } else {
        ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect()
    }
}
