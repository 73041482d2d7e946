//! Kubernetes Events as both binaries publish them (MetalLB's reasons and notes are chosen by
//! the caller): one constructor, so the Normal/Warning mapping lives once, the reference to
//! the Service an event is about, and [`Recorder`], the `events.k8s.io/v1` publisher.
//!
//! [`Recorder`] replaces kube-runtime's `Recorder`, which remembers every event it sent, whole,
//! for 6 minutes (a burst of 1,000 Services kept ~3.2 MB alive in the speaker, BENCHMARKS.md
//! "Heap profile"). Ours keeps the same deduplication — an event equal to one published less
//! than [`DEDUP_TTL`] ago becomes a `series` (count, lastObservedTime) merge-patch of that
//! Event instead of a new object, as kube-runtime and client-go's correlator do — with a
//! bounded cache ([`DedupCache`], at most [`DEDUP_CAPACITY`] entries, the least recently seen
//! evicted first) holding only the key and the Event's name. Unlike kube-runtime's, the note
//! is part of the key (client-go's correlator, which MetalLB uses, compares the message too),
//! so a new note is a new Event, not a repeat of an older text.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Client, Resource};

use crate::convert::ServiceKey;

/// How long a published event is remembered for deduplication (kube-runtime's `CACHE_TTL`).
pub const DEDUP_TTL: SignedDuration = SignedDuration::from_mins(6);
/// At most this many events are remembered (the speaker emits an event when a Service enters
/// a state, so repeats within the TTL are rare; client-go's correlator keeps 4,096).
pub const DEDUP_CAPACITY: usize = 256;

/// The reference of an event about Service `key` (with its `uid` when known, so the event
/// follows that Service object and not a later one of the same name).
pub fn service_reference(key: &ServiceKey, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some(Service::api_version(&()).into_owned()),
        kind: Some(Service::kind(&()).into_owned()),
        namespace: Some(key.namespace.clone()),
        name: Some(key.name.clone()),
        uid,
        ..ObjectReference::default()
    }
}

/// An Event: Warning when `warning`, else Normal; `action` says what the binary was doing
/// (e.g. `Allocate`, `Announce`, `Migrate`).
pub fn event(warning: bool, reason: &str, note: String, action: &str) -> Event {
    Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    }
}

/// What makes two events the same: type, reason, action, note, the object it is about and
/// the secondary object (the reporter is the recorder's own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupKey {
    warning: bool,
    reason: String,
    action: String,
    note: Option<String>,
    regarding: [Option<String>; 5],
    related: Option<[Option<String>; 5]>,
}

/// The identifying fields of a reference (api version, kind, namespace, name, uid).
fn ref_key(r: &ObjectReference) -> [Option<String>; 5] {
    [
        r.api_version.clone(),
        r.kind.clone(),
        r.namespace.clone(),
        r.name.clone(),
        r.uid.clone(),
    ]
}

impl DedupKey {
    /// The key of `ev` about `regarding`.
    pub fn new(ev: &Event, regarding: &ObjectReference) -> Self {
        Self {
            warning: ev.type_ == EventType::Warning,
            reason: ev.reason.clone(),
            action: ev.action.clone(),
            note: ev.note.clone(),
            regarding: ref_key(regarding),
            related: ev.secondary.as_ref().map(ref_key),
        }
    }
}

/// A remembered Event: its object name, how often it was seen, when last.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    name: String,
    count: i32,
    last: Timestamp,
}

/// The bounded deduplication cache of [`Recorder`] (sans-IO: the caller passes the time).
#[derive(Debug)]
pub struct DedupCache {
    entries: HashMap<DedupKey, Seen>,
    capacity: usize,
    ttl: SignedDuration,
}

impl DedupCache {
    /// A cache of at most `capacity` entries (at least 1), each forgotten `ttl` after it was
    /// last seen.
    pub fn new(capacity: usize, ttl: SignedDuration) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// How many events are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no event is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets the entries last seen `ttl` or longer before `now`.
    fn expire(&mut self, now: Timestamp) {
        let ttl = self.ttl;
        self.entries.retain(|_, s| s.last + ttl > now);
    }

    /// Whether `key` repeats a remembered event at `now`: that Event's name and the series
    /// count the repeat makes it (2 for the first repeat).
    pub fn repeat_of(&mut self, key: &DedupKey, now: Timestamp) -> Option<(String, i32)> {
        self.expire(now);
        self.entries
            .get(key)
            .map(|s| (s.name.clone(), s.count.saturating_add(1)))
    }

    /// Records that the Event `name` for `key` was published (`count` 1) or repeated at `now`;
    /// when full, the least recently seen entry is forgotten first.
    pub fn record(&mut self, key: DedupKey, name: String, count: i32, now: Timestamp) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.expire(now);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, s)| s.last)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(
            key,
            Seen {
                name,
                count,
                last: now,
            },
        );
    }
}

/// The `events.k8s.io/v1` Event `ev` about `regarding` from `reporter`, first seen at `now`
/// (kube-runtime's shape: name `<object>.<nanoseconds in hex>`, in the object's namespace).
pub fn new_event(
    ev: &Event,
    regarding: &ObjectReference,
    reporter: &Reporter,
    now: Timestamp,
) -> K8sEvent {
    K8sEvent {
        action: Some(ev.action.clone()),
        reason: Some(ev.reason.clone()),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        note: ev.note.clone(),
        metadata: ObjectMeta {
            namespace: regarding.namespace.clone(),
            name: Some(format!(
                "{}.{:x}",
                regarding.name.as_ref().unwrap_or(&reporter.controller),
                now.as_nanosecond()
            )),
            ..ObjectMeta::default()
        },
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(
            reporter
                .instance
                .clone()
                .unwrap_or_else(|| reporter.controller.clone()),
        ),
        type_: Some(
            match ev.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        related: ev.secondary.clone(),
        ..K8sEvent::default()
    }
}

/// The merge patch that makes a remembered Event a series of `count` observations, the last
/// at `now`.
pub fn series_patch(count: i32, now: Timestamp) -> serde_json::Value {
    serde_json::json!({
        "series": EventSeries {
            count,
            last_observed_time: MicroTime(now),
        }
    })
}

/// Publishes `events.k8s.io/v1` Events for one reporter, deduplicating repeats into series
/// with a bounded cache (module docs). Cheap to clone: clones share the cache.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    cache: std::sync::Arc<Mutex<DedupCache>>,
}

impl Recorder {
    /// A recorder publishing as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            cache: std::sync::Arc::new(Mutex::new(DedupCache::new(DEDUP_CAPACITY, DEDUP_TTL))),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, DedupCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `ev` about `regarding`: a new Event, or a series patch of the same Event
    /// published less than [`DEDUP_TTL`] ago.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = DedupKey::new(ev, regarding);
        let repeat = self.cache().repeat_of(&key, now);
        let ns = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), ns);
        if let Some((name, count)) = repeat {
            let patch = Patch::Merge(series_patch(count, now));
            match events.patch(&name, &PatchParams::default(), &patch).await {
                Ok(_) => {
                    self.cache().record(key, name, count, now);
                    return Ok(());
                }
                // Deleted meanwhile (the API server's event TTL, or by hand): a new Event.
                Err(kube::Error::Api(s)) if s.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let e = new_event(ev, regarding, &self.reporter, now);
        let created = events.create(&PostParams::default(), &e).await?;
        let name = created
            .metadata
            .name
            .or(e.metadata.name)
            .unwrap_or_default();
        self.cache().record(key, name, 1, now);
        Ok(())
    }
}
