//! One reconcile pass of the controller, as a pure function of the watched objects: it feeds
//! pools and Services to the `ferrolb-core` allocator and returns the writes to make
//! ([`Action`]s). The I/O adapter (`apply`) executes them. Reproduces MetalLB's
//! `convergeBalancer` flow (`controller/service.go`) and pool status controller, with two
//! deliberate improvements: an invalid configuration never changes the allocator (the last good
//! pools keep serving; MetalLB does the same) and every write is skipped when the object already
//! says it, so a pass over an unchanged cluster writes nothing and emits no event. A Service
//! that is not ours (type, `loadBalancerClass`) is never written unless this controller
//! allocated its IPs: another implementation (MetalLB included, which writes the same pool
//! annotation) may own it.
//!
//! A pass's Service step, in order: `services` picks the Services whose inputs
//! changed, oldest first; each is handled by `service` (not ours → `not_ours`; parse; deprecated
//! annotations; going away; `assign`), giving at most one [`Action::Service`] write; then the
//! IPs of deleted Services are released.
//!
//! Pools are applied only when every migration set they carry is complete ([`sets`]): a pass
//! that saw only some of the pools of a migrated ConfigMap would move the IPs of the others.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_api::names::ANNOTATION_IP_ALLOCATED_FROM_POOL;
use ferrolb_api::v1beta1::{ConfigurationState, IPAddressPool, IPAddressPoolStatus};
use ferrolb_core::service::is_handled;
use ferrolb_core::{Allocator, Change, PoolSet, PoolSpec, parse_service};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use ferrolb_kube::convert::{ServiceKey, ingress_ips, pool_spec, service_view};
use ferrolb_kube::status::{CONTROLLER_CONDITION, object_conditions, state_shows};

mod sets;

use sets::{Gate, SetGate};

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
    /// ConfigurationState `controller` as the watch shows it (`None`: absent).
    pub controller_state: Option<Arc<ConfigurationState>>,
}

/// A write the adapter should make.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// One write to a Service: its status and its pool annotation, in one request.
    Service {
        /// The Service.
        key: ServiceKey,
        /// What to change.
        write: ServiceWrite,
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

/// The changes of one Service write (`None`: leave that part as it is). MetalLB writes both
/// with one `UpdateStatus` call; so does the adapter, so the two never disagree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ServiceWrite {
    /// New `status.loadBalancer.ingress` IPs (empty: clear it).
    pub ips: Option<Vec<IpAddr>>,
    /// New `metallb.io/ip-allocated-from-pool` (`Some(None)`: remove it).
    pub pool: Option<Option<String>>,
}

impl ServiceWrite {
    /// Whether the write changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ips.is_none() && self.pool.is_none()
    }
}

/// What a Service says now: its ingress IPs and its pool annotation.
struct Published {
    ips: Vec<IpAddr>,
    pool: Option<String>,
}

impl Published {
    fn of(svc: &Service) -> Self {
        Published {
            ips: ingress_ips(svc),
            pool: svc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_IP_ALLOCATED_FROM_POOL))
                .cloned(),
        }
    }

    /// The write that makes the Service say `ips` from `pool`, if it does not already.
    fn write_to(&self, key: &ServiceKey, ips: &[IpAddr], pool: Option<&str>) -> Option<Action> {
        let write = ServiceWrite {
            ips: (self.ips != ips).then(|| ips.to_vec()),
            pool: (self.pool.as_deref() != pool).then(|| pool.map(str::to_owned)),
        };
        (!write.is_empty()).then(|| Action::Service {
            key: key.clone(),
            write,
        })
    }

    /// The write that removes what an allocation left on the Service, if anything.
    fn clear(&self, key: &ServiceKey) -> Option<Action> {
        self.write_to(key, &[], None)
    }
}

/// Controller state kept across passes.
pub struct Reconciler {
    lb_class: Option<String>,
    alloc: Option<Allocator>,
    applied: Option<Vec<PoolSpec>>,
    config_error: Option<String>,
    pool_errors: BTreeMap<String, String>,
    failures: BTreeMap<ServiceKey, String>,
    deprecated_warned: BTreeSet<(ServiceKey, String)>,
    /// Services whose last evaluation needed no write and reported no failure, by key →
    /// `resourceVersion`. They are skipped while their resourceVersion, the pools and the
    /// namespaces' labels stay the same: every input of their allocation is unchanged, so the
    /// result would be too. This keeps a pass proportional to what changed, not to the
    /// cluster's size.
    settled: HashMap<ServiceKey, String>,
    /// Fingerprint of the namespaces' labels the settled results were computed with.
    settled_namespaces: u64,
    /// Holds pool configurations back while a migration set is incomplete.
    sets: SetGate,
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
            failures: BTreeMap::new(),
            deprecated_warned: BTreeSet::new(),
            settled: HashMap::new(),
            settled_namespaces: 0,
            sets: SetGate::default(),
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
        self.update_pools(snap, now);
        if self.alloc.is_some() {
            self.services(snap, &mut actions);
        }
        self.pool_statuses(snap, now, &mut actions);
        let state = self.config_error.clone();
        let shown = snap.controller_state.as_deref();
        if !state_shows(shown, CONTROLLER_CONDITION, state.as_deref()) {
            actions.push(Action::ControllerState { error: state });
        }
        actions
    }

    /// Parses the pools; on success hands them to the allocator (creating and rebuilding it
    /// from Service statuses the first time), else keeps the last good set. While a migration
    /// set is incomplete ([`sets`]) nothing is applied.
    fn update_pools(&mut self, snap: &Snapshot, now: &Time) {
        let gate = self.sets.check(&snap.pools, now);
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
        match gate {
            Gate::Open => {}
            Gate::Wait => {
                self.config_error = None;
                return;
            }
            Gate::Overdue(e) => {
                self.config_error = Some(e);
                return;
            }
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

    /// The Service step of a pass: every Service whose inputs changed since it last settled,
    /// oldest first, then the release of the IPs of Services that are gone.
    fn services(&mut self, snap: &Snapshot, out: &mut Vec<Action>) {
        self.unsettle_on_namespace_change(snap);
        let (seen, changed) = self.changed_services(snap);
        for (key, svc) in changed {
            let before = out.len();
            self.service(snap, &key, svc, out);
            let quiet = out.len() == before && !self.failures.contains_key(&key);
            match &svc.metadata.resource_version {
                Some(rv) if quiet => {
                    self.settled.insert(key, rv.clone());
                }
                _ => {
                    self.settled.remove(&key);
                }
            }
        }
        self.forget_gone(&seen);
    }

    /// Settled results were computed with the namespaces' labels and terminating set: when
    /// those change, every Service is evaluated again.
    fn unsettle_on_namespace_change(&mut self, snap: &Snapshot) {
        let mut h = DefaultHasher::new();
        snap.namespaces.hash(&mut h);
        snap.terminating.hash(&mut h);
        let namespaces = h.finish();
        if namespaces != self.settled_namespaces {
            self.settled_namespaces = namespaces;
            self.settled.clear();
        }
    }

    /// Every Service's key, and the Services not settled at their current resourceVersion, in
    /// allocation order: first come, first served (older Services get the lower addresses).
    fn changed_services<'s>(
        &self,
        snap: &'s Snapshot,
    ) -> (HashSet<ServiceKey>, Vec<(ServiceKey, &'s Service)>) {
        let mut seen = HashSet::with_capacity(snap.services.len());
        let mut changed = Vec::new();
        for svc in snap.services.iter().map(Arc::as_ref) {
            let key = ServiceKey::of(&svc.metadata);
            let rv = svc.metadata.resource_version.as_ref();
            if rv.is_none() || self.settled.get(&key) != rv {
                changed.push((
                    svc.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    key.clone(),
                    svc,
                ));
            }
            seen.insert(key);
        }
        changed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let changed = changed.into_iter().map(|(_, k, s)| (k, s)).collect();
        (seen, changed)
    }

    /// Deleted Services give their IPs back; what is remembered about them is dropped.
    fn forget_gone(&mut self, seen: &HashSet<ServiceKey>) {
        if let Some(alloc) = self.alloc.as_mut() {
            let present: HashSet<String> = seen.iter().map(alloc_key).collect();
            let gone: Vec<String> = alloc
                .assignments()
                .map(|(k, _, _)| k.to_owned())
                .filter(|k| !present.contains(k))
                .collect();
            for k in gone {
                alloc.release(&k);
            }
        }
        self.failures.retain(|k, _| seen.contains(k));
        self.settled.retain(|k, _| seen.contains(k));
        self.deprecated_warned.retain(|(k, _)| seen.contains(k));
    }

    /// One Service: MetalLB's `convergeBalancer`.
    fn service(&mut self, snap: &Snapshot, key: &ServiceKey, svc: &Service, out: &mut Vec<Action>) {
        let empty = BTreeMap::new();
        let view = service_view(svc, snap.namespaces.get(&key.namespace).unwrap_or(&empty));
        let published = Published::of(svc);
        if !is_handled(&view, self.lb_class.as_deref()) {
            self.not_ours(key, &published, out);
            return;
        }
        let object = reference(svc);
        let parsed = match parse_service(&view) {
            Ok(p) => p,
            Err(e) => {
                self.release(key);
                self.fail(key, &object, e.to_string(), out);
                out.extend(published.clear(key));
                return;
            }
        };
        self.warn_deprecated(key, &object, &parsed.deprecated_annotations, out);
        // Going away (the Service or its namespace is being deleted): keep what it has until
        // it is gone, but never hand it a new address — one a Service created a moment later
        // would then wait for. MetalLB allocates to these too.
        let going_away =
            svc.metadata.deletion_timestamp.is_some() || snap.terminating.contains(&key.namespace);
        if published.ips.is_empty() && going_away {
            self.release(key);
            self.failures.remove(key);
            return;
        }
        self.assign(key, &object, &parsed.request, &published, out);
    }

    /// A Service this controller does not handle (type, class): left alone unless this
    /// controller allocated its IPs. Only undo what ferrolb wrote: another implementation may
    /// own the Service, and MetalLB writes `metallb.io/ip-allocated-from-pool` too.
    fn not_ours(&mut self, key: &ServiceKey, published: &Published, out: &mut Vec<Action>) {
        let had = !self.release(key).is_empty();
        self.failures.remove(key);
        if had {
            out.extend(published.clear(key));
        }
    }

    /// A Warning `deprecatedAnnotation` once per Service and annotation.
    fn warn_deprecated(
        &mut self,
        key: &ServiceKey,
        object: &ObjectReference,
        annotations: &[String],
        out: &mut Vec<Action>,
    ) {
        for annotation in annotations {
            if self
                .deprecated_warned
                .insert((key.clone(), annotation.clone()))
            {
                out.push(Action::Event {
                    object: object.clone(),
                    warning: true,
                    reason: "deprecatedAnnotation",
                    note: format!("Service uses deprecated annotation {annotation}"),
                });
            }
        }
    }

    /// Asks the allocator for the Service's IPs; reports the change and writes it.
    fn assign(
        &mut self,
        key: &ServiceKey,
        object: &ObjectReference,
        request: &ferrolb_core::ServiceRequest,
        published: &Published,
        out: &mut Vec<Action>,
    ) {
        let Some(alloc) = self.alloc.as_mut() else {
            return;
        };
        let span = allocation_span(key);
        let _allocation = span.enter();
        match alloc.assign(request, &published.ips) {
            Ok(a) => {
                span.record("pool", a.pool.as_str());
                span.record("ips", join(&a.ips));
                span.record("change", change_word(&a.change));
                self.failures.remove(key);
                out.extend(change_events(key, object, &a.change, &a.ips));
                out.extend(published.write_to(key, &a.ips, Some(&a.pool)));
            }
            Err(e) => {
                span.record("change", "failed");
                span.record("otel.status_code", "ERROR");
                span.record("error", tracing::field::display(&e));
                let note = format!("Failed to allocate IP for {:?}: {e}", key.to_string());
                self.fail(key, object, note, out);
                out.extend(published.clear(key));
            }
        }
    }

    /// Releases the Service's IPs; returns them.
    fn release(&mut self, key: &ServiceKey) -> Vec<IpAddr> {
        self.alloc
            .as_mut()
            .map(|a| a.release(&alloc_key(key)))
            .unwrap_or_default()
    }

    /// Emits a Warning `AllocationFailed` event unless the same failure was already reported
    /// for this Service (MetalLB repeats it on every resync; users see event spam).
    fn fail(
        &mut self,
        key: &ServiceKey,
        object: &ObjectReference,
        note: String,
        out: &mut Vec<Action>,
    ) {
        if self.failures.get(key) != Some(&note) {
            self.failures.insert(key.clone(), note.clone());
            out.push(Action::Event {
                object: object.clone(),
                warning: true,
                reason: "AllocationFailed",
                note,
            });
        }
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
            let conditions = object_conditions(
                error.as_deref(),
                pool.metadata.generation,
                &old.conditions,
                now,
            );
            let status = IPAddressPoolStatus {
                assigned_ipv4: stats.assigned_v4,
                assigned_ipv6: stats.assigned_v6,
                available_ipv4: stats.available_v4,
                available_ipv6: stats.available_v6,
                conditions,
                observed_generation: pool.metadata.generation,
            };
            if pool.status.as_ref() != Some(&status) {
                out.push(Action::PoolStatus { name, status });
            }
        }
    }
}

/// The trace span of one allocation (docs/tracing.md): the Service, then what it got.
fn allocation_span(key: &ServiceKey) -> tracing::Span {
    use tracing::field::Empty;
    tracing::info_span!(
        "allocate",
        service = %key,
        namespace = %key.namespace,
        name = %key.name,
        pool = Empty,
        ips = Empty,
        change = Empty,
        error = Empty,
        otel.status_code = Empty,
    )
}

/// `kept`, `allocated`, `reallocated` or `added_family` (the allocation span's `change`).
fn change_word(change: &Change) -> &'static str {
    match change {
        Change::Kept => "kept",
        Change::Allocated => "allocated",
        Change::Reallocated { .. } => "reallocated",
        Change::AddedFamily(_) => "added_family",
    }
}

/// IPs as one comma-separated attribute value.
fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The allocator's key of a Service (`ferrolb_core::ServiceRequest::key`: `namespace/name`).
fn alloc_key(key: &ServiceKey) -> String {
    key.to_string()
}

/// The events of an allocation's outcome (MetalLB's `IPAllocated` / `ClearAssignment`).
fn change_events(
    key: &ServiceKey,
    object: &ObjectReference,
    change: &Change,
    ips: &[IpAddr],
) -> Vec<Action> {
    match change {
        Change::Kept => vec![],
        Change::Allocated => vec![allocated(object, ips)],
        Change::Reallocated { reason, .. } => vec![
            Action::Event {
                object: object.clone(),
                warning: false,
                reason: "ClearAssignment",
                note: format!(
                    "current IP for {:?} not allowed by config, will attempt for new IP assignment: {reason}",
                    key.to_string()
                ),
            },
            allocated(object, ips),
        ],
        Change::AddedFamily(ip) => vec![Action::Event {
            object: object.clone(),
            warning: false,
            reason: "IPAllocated",
            note: format!("Assigned additional IP {ip}"),
        }],
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
