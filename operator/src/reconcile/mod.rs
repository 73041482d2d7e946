//! One reconcile pass of the controller, as a pure function of the watched objects: it feeds
//! pools and Services to the `ferrolb-core` allocator and returns the writes to make
//! ([`Action`]s). The I/O adapter (`apply`) executes them. Reproduces MetalLB's
//! `convergeBalancer` flow (`controller/service.go`) and pool status controller, with two
//! deliberate improvements: an invalid configuration never changes the allocator (the last good
//! pools keep serving; MetalLB does the same) and every write is skipped when the object already
//! says it, so a pass over an unchanged cluster writes nothing and emits no event.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::names::ANNOTATION_IP_ALLOCATED_FROM_POOL;
use ferrolb_api::status::{CONDITION_READY, REASON_CONFIGURATION_ERROR, REASON_RECONCILED};
use ferrolb_api::v1beta1::{IPAddressPool, IPAddressPoolStatus};
use ferrolb_core::service::is_handled;
use ferrolb_core::{Allocator, Change, PoolSet, PoolSpec, parse_service};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use ferrolb_kube::convert::{ingress_ips, key, pool_spec, service_view};

/// Everything a pass looks at.
#[derive(Default, Clone)]
pub struct Snapshot {
    /// All Services in the cluster.
    pub services: Vec<Arc<Service>>,
    /// IPAddressPools in ferrolb's namespace.
    pub pools: Vec<Arc<IPAddressPool>>,
    /// Namespace name → labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// Namespaces being deleted (`metadata.deletionTimestamp` set).
    pub terminating: BTreeSet<String>,
}

/// A write the adapter should make.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set `status.loadBalancer.ingress` to these IPs (empty: clear it).
    ServiceStatus {
        /// Service namespace.
        namespace: String,
        /// Service name.
        name: String,
        /// IPs to publish.
        ips: Vec<IpAddr>,
    },
    /// Set (or with `None` remove) `metallb.io/ip-allocated-from-pool`.
    PoolAnnotation {
        /// Service namespace.
        namespace: String,
        /// Service name.
        name: String,
        /// Pool name.
        pool: Option<String>,
    },
    /// Publish an event on a Service.
    Event {
        /// The Service.
        object: ObjectReference,
        /// Warning (true) or Normal.
        warning: bool,
        /// MetalLB's reason string.
        reason: &'static str,
        /// Human-readable note.
        note: String,
    },
    /// Replace an IPAddressPool's status.
    PoolStatus {
        /// Pool name.
        name: String,
        /// The new status.
        status: IPAddressPoolStatus,
    },
    /// Update the controller's ConfigurationState (`None`: configuration valid).
    ControllerState {
        /// Configuration error, if any.
        error: Option<String>,
    },
}

/// Controller state kept across passes.
pub struct Reconciler {
    lb_class: Option<String>,
    alloc: Option<Allocator>,
    applied: Option<Vec<PoolSpec>>,
    config_error: Option<String>,
    pool_errors: BTreeMap<String, String>,
    reported_state: Option<Option<String>>,
    failures: BTreeMap<String, String>,
    deprecated_warned: BTreeSet<String>,
    /// Services whose last evaluation needed no write and reported no failure, by key →
    /// `resourceVersion`. They are skipped while their resourceVersion, the pools and the
    /// namespaces' labels stay the same: every input of their allocation is unchanged, so the
    /// result would be too. This keeps a pass proportional to what changed, not to the
    /// cluster's size.
    settled: HashMap<String, String>,
    /// Fingerprint of the namespaces' labels the settled results were computed with.
    settled_namespaces: u64,
}

impl Reconciler {
    /// A controller handling Services of `lb_class` (`None`: Services without a class).
    pub fn new(lb_class: Option<String>) -> Self {
        Self {
            lb_class,
            alloc: None,
            applied: None,
            config_error: None,
            pool_errors: BTreeMap::new(),
            reported_state: None,
            failures: BTreeMap::new(),
            deprecated_warned: BTreeSet::new(),
            settled: HashMap::new(),
            settled_namespaces: 0,
        }
    }

    /// The allocator, once a valid configuration has been seen.
    pub fn allocator(&self) -> Option<&Allocator> {
        self.alloc.as_ref()
    }

    /// Whether the latest configuration failed to load (the last good one keeps serving).
    pub fn config_error(&self) -> Option<&str> {
        self.config_error.as_deref()
    }

    /// Runs one pass and returns the writes to make. `now` stamps changed conditions.
    pub fn pass(&mut self, snap: &Snapshot, now: &Time) -> Vec<Action> {
        let mut actions = Vec::new();
        self.update_pools(snap);
        if self.alloc.is_some() {
            self.services(snap, &mut actions);
        }
        self.pool_statuses(snap, now, &mut actions);
        let state = self.config_error.clone();
        if self.reported_state.as_ref() != Some(&state) {
            self.reported_state = Some(state.clone());
            actions.push(Action::ControllerState { error: state });
        }
        actions
    }

    /// Parses the pools; on success hands them to the allocator (creating and rebuilding it
    /// from Service statuses the first time), else keeps the last good set.
    fn update_pools(&mut self, snap: &Snapshot) {
        let mut pools: Vec<&IPAddressPool> = snap.pools.iter().map(Arc::as_ref).collect();
        pools.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut specs = Vec::new();
        self.pool_errors.clear();
        for p in pools {
            let name = p.metadata.name.clone().unwrap_or_default();
            match pool_spec(p).and_then(|s| {
                s.parse()
                    .map(|_| s)
                    .map_err(|e| ferrolb_kube::convert::ConvertError {
                        pool: name.clone(),
                        field: "spec.addresses".into(),
                        message: e.to_string(),
                    })
            }) {
                Ok(spec) => specs.push(spec),
                Err(e) => {
                    self.pool_errors.insert(name, e.to_string());
                }
            }
        }
        if !self.pool_errors.is_empty() {
            let all: Vec<&str> = self.pool_errors.values().map(String::as_str).collect();
            self.config_error = Some(all.join("\n"));
            return;
        }
        if self.applied.as_ref() == Some(&specs) {
            self.config_error = None;
            return;
        }
        match PoolSet::parse(&specs) {
            Err(e) => self.config_error = Some(e.to_string()),
            Ok(set) => {
                self.config_error = None;
                let no_pools = specs.is_empty();
                self.applied = Some(specs);
                match &mut self.alloc {
                    Some(alloc) => {
                        // Services returned here are re-validated by `assign` below, which
                        // reports them as `Reallocated` (event ClearAssignment).
                        alloc.set_pools(set);
                        self.settled.clear();
                    }
                    // Until the first pools appear (at start, or while a migration from the
                    // legacy ConfigMap is creating them) nothing is allocated and nothing is
                    // cleared: Services keep the IPs their status holds.
                    None if no_pools => {}
                    None => {
                        let mut alloc = Allocator::new(set);
                        alloc.rebuild(self.existing(snap));
                        self.alloc = Some(alloc);
                    }
                }
            }
        }
    }

    /// (request, status IPs) of every handled Service, for [`Allocator::rebuild`].
    fn existing(&self, snap: &Snapshot) -> Vec<(ferrolb_core::ServiceRequest, Vec<IpAddr>)> {
        snap.services
            .iter()
            .filter_map(|svc| {
                let ns = svc.metadata.namespace.clone().unwrap_or_default();
                let view = service_view(svc, snap.namespaces.get(&ns).unwrap_or(&BTreeMap::new()));
                if !is_handled(&view, self.lb_class.as_deref()) {
                    return None;
                }
                let ips = ingress_ips(svc);
                let parsed = parse_service(&view).ok()?;
                Some((parsed.request, ips))
            })
            .collect()
    }

    fn services(&mut self, snap: &Snapshot, out: &mut Vec<Action>) {
        let Some(alloc) = self.alloc.as_mut() else {
            return;
        };
        let namespaces = {
            let mut h = DefaultHasher::new();
            snap.namespaces.hash(&mut h);
            snap.terminating.hash(&mut h);
            h.finish()
        };
        if namespaces != self.settled_namespaces {
            self.settled_namespaces = namespaces;
            self.settled.clear();
        }
        let mut seen = HashSet::with_capacity(snap.services.len());
        let mut services: Vec<(Option<k8s_openapi::jiff::Timestamp>, String, &Service)> =
            Vec::new();
        for svc in snap.services.iter().map(Arc::as_ref) {
            let k = key(&svc.metadata);
            let rv = svc.metadata.resource_version.as_ref();
            if rv.is_some() && self.settled.get(&k) == rv {
                seen.insert(k);
                continue;
            }
            seen.insert(k.clone());
            let created = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
            services.push((created, k, svc));
        }
        // First come, first served: older Services get the lower addresses.
        services.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let empty = BTreeMap::new();
        for (_, k, svc) in services {
            let before = out.len();
            'svc: {
                let ns = svc.metadata.namespace.clone().unwrap_or_default();
                let name = svc.metadata.name.clone().unwrap_or_default();
                let view = service_view(svc, snap.namespaces.get(&ns).unwrap_or(&empty));
                let current = ingress_ips(svc);
                let annotated = svc
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(ANNOTATION_IP_ALLOCATED_FROM_POOL))
                    .cloned();
                let clear = |out: &mut Vec<Action>| {
                    if !current.is_empty() {
                        out.push(Action::ServiceStatus {
                            namespace: ns.clone(),
                            name: name.clone(),
                            ips: vec![],
                        });
                    }
                    if annotated.is_some() {
                        out.push(Action::PoolAnnotation {
                            namespace: ns.clone(),
                            name: name.clone(),
                            pool: None,
                        });
                    }
                };
                if !is_handled(&view, self.lb_class.as_deref()) {
                    let had = !alloc.release(&k).is_empty();
                    self.failures.remove(&k);
                    // Only undo what ferrolb wrote: another implementation may own this Service.
                    if had || annotated.is_some() {
                        clear(out);
                    }
                    break 'svc;
                }
                let object = reference(svc);
                let parsed = match parse_service(&view) {
                    Ok(p) => p,
                    Err(e) => {
                        alloc.release(&k);
                        fail(&mut self.failures, &k, &object, e.to_string(), out);
                        clear(out);
                        break 'svc;
                    }
                };
                for annotation in &parsed.deprecated_annotations {
                    if self.deprecated_warned.insert(format!("{k}#{annotation}")) {
                        out.push(Action::Event {
                            object: object.clone(),
                            warning: true,
                            reason: "deprecatedAnnotation",
                            note: format!("Service uses deprecated annotation {annotation}"),
                        });
                    }
                }
                // Going away (the Service or its namespace is being deleted): keep what it
                // has until it is gone, but never hand it a new address — one a Service
                // created a moment later would then wait for. MetalLB allocates to these too.
                if current.is_empty()
                    && (svc.metadata.deletion_timestamp.is_some() || snap.terminating.contains(&ns))
                {
                    alloc.release(&k);
                    self.failures.remove(&k);
                    break 'svc;
                }
                match alloc.assign(&parsed.request, &current) {
                    Ok(a) => {
                        self.failures.remove(&k);
                        match &a.change {
                            Change::Kept => {}
                            Change::Allocated => out.push(allocated(&object, &a.ips)),
                            Change::Reallocated { reason, .. } => {
                                out.push(Action::Event {
                                    object: object.clone(),
                                    warning: false,
                                    reason: "ClearAssignment",
                                    note: format!("current IP for {k:?} not allowed by config, will attempt for new IP assignment: {reason}"),
                                });
                                out.push(allocated(&object, &a.ips));
                            }
                            Change::AddedFamily(ip) => out.push(Action::Event {
                                object: object.clone(),
                                warning: false,
                                reason: "IPAllocated",
                                note: format!("Assigned additional IP {ip}"),
                            }),
                        }
                        if current != a.ips {
                            out.push(Action::ServiceStatus {
                                namespace: ns.clone(),
                                name: name.clone(),
                                ips: a.ips.clone(),
                            });
                        }
                        if annotated.as_deref() != Some(a.pool.as_str()) {
                            out.push(Action::PoolAnnotation {
                                namespace: ns.clone(),
                                name: name.clone(),
                                pool: Some(a.pool.clone()),
                            });
                        }
                    }
                    Err(e) => {
                        let note = format!("Failed to allocate IP for {k:?}: {e}");
                        fail(&mut self.failures, &k, &object, note, out);
                        clear(out);
                    }
                }
            }
            match svc.metadata.resource_version.clone() {
                Some(rv) if out.len() == before && !self.failures.contains_key(&k) => {
                    self.settled.insert(k, rv);
                }
                _ => {
                    self.settled.remove(&k);
                }
            }
        }
        // Deleted Services give their IPs back.
        let gone: Vec<String> = alloc
            .assignments()
            .map(|(k, _, _)| k.to_owned())
            .filter(|k| !seen.contains(k))
            .collect();
        for k in gone {
            alloc.release(&k);
        }
        self.failures.retain(|k, _| seen.contains(k));
        self.settled.retain(|k, _| seen.contains(k));
        self.deprecated_warned
            .retain(|k| k.split('#').next().is_some_and(|s| seen.contains(s)));
    }

    fn pool_statuses(&self, snap: &Snapshot, now: &Time, out: &mut Vec<Action>) {
        for pool in &snap.pools {
            let name = pool.metadata.name.clone().unwrap_or_default();
            let stats = self
                .alloc
                .as_ref()
                .and_then(|a| a.pool_stats(&name))
                .unwrap_or_default();
            let error = self.pool_errors.get(&name).cloned().or_else(|| {
                // A set-level error (e.g. overlap) names the pools involved.
                self.config_error
                    .clone()
                    .filter(|e| e.contains(&format!("{name:?}")) || e.contains(&name))
            });
            let old = pool.status.clone().unwrap_or_default();
            let ready = ready_condition(
                error.as_deref(),
                pool.metadata.generation,
                old.conditions.iter().find(|c| c.type_ == CONDITION_READY),
                now,
            );
            let status = IPAddressPoolStatus {
                assigned_ipv4: stats.assigned_v4,
                assigned_ipv6: stats.assigned_v6,
                available_ipv4: stats.available_v4,
                available_ipv6: stats.available_v6,
                conditions: vec![ready],
                observed_generation: pool.metadata.generation,
            };
            if pool.status.as_ref() != Some(&status) {
                out.push(Action::PoolStatus { name, status });
            }
        }
    }
}

/// The `Ready` condition for an object, keeping `lastTransitionTime` when nothing changed.
pub fn ready_condition(
    error: Option<&str>,
    generation: Option<i64>,
    old: Option<&Condition>,
    now: &Time,
) -> Condition {
    let (status, reason, message) = match error {
        None => ("True", REASON_RECONCILED, String::new()),
        Some(e) => ("False", REASON_CONFIGURATION_ERROR, e.to_owned()),
    };
    let last_transition_time = match old {
        Some(o) if o.status == status => o.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition {
        type_: CONDITION_READY.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// Emits a Warning `AllocationFailed` event unless the same failure was already reported for
/// this Service (MetalLB repeats it on every resync; users see event spam).
fn fail(
    failures: &mut BTreeMap<String, String>,
    k: &str,
    object: &ObjectReference,
    note: String,
    out: &mut Vec<Action>,
) {
    if failures.get(k) != Some(&note) {
        failures.insert(k.to_owned(), note.clone());
        out.push(Action::Event {
            object: object.clone(),
            warning: true,
            reason: "AllocationFailed",
            note,
        });
    }
}

fn allocated(object: &ObjectReference, ips: &[IpAddr]) -> Action {
    let list: Vec<String> = ips
        .iter()
        .map(|ip| format!("{:?}", ip.to_string()))
        .collect();
    Action::Event {
        object: object.clone(),
        warning: false,
        reason: "IPAllocated",
        note: format!("Assigned IP [{}]", list.join(" ")),
    }
}

fn reference(svc: &Service) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        name: svc.metadata.name.clone(),
        namespace: svc.metadata.namespace.clone(),
        uid: svc.metadata.uid.clone(),
        resource_version: svc.metadata.resource_version.clone(),
        field_path: None,
    }
}

#[cfg(test)]
mod tests;
