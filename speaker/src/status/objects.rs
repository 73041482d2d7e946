//! "The status objects of this node", one home for both MetalLB kinds a speaker writes per
//! Service: ServiceL2Status (`l2-…`, `status.interfaces`, `metallb-api.md` §1.7) and
//! ServiceBGPStatus (`bgp-…`, `status.peers`, §1.8). Both are one object per (Service, node),
//! `generateName`d in ferrolb's namespace, labelled `metallb.io/node`,
//! `metallb.io/service-name`, `metallb.io/service-namespace`, owned by the speaker Pod, as in
//! MetalLB's `layer2_status_controller.go` / `bgp_status_controller.go`.
//!
//! Level-based: [`diff`] compares the listed objects with what this node announces (pure);
//! [`Objects::sync`] does the writes. The speaker watches its own objects ([`Objects::watch`],
//! label `metallb.io/node=<node>`), so one deleted or edited by someone else is written back at
//! once; one deleted between the list and its update is created again ([`gone`]). A node
//! deletes its stale objects and, in Layer 2 mode only (one announcer per Service), other
//! nodes' objects for the Services it announces (`metallb-runtime.md` §2.8); an object of this node written by an earlier Pod is replaced
//! (deleted and created again) so it is never collected with the old Pod while still announced.
//!
//! Split brain: two nodes that both announce a Service (a partition between speakers, a
//! speaker with another heartbeat key) would delete each other's object forever — each
//! deletion wakes the other node's watch, which recreates its own object and deletes the
//! other's again, a write storm on the API server for every such Service. So a node deletes
//! another node's object for a Service at most once while it announces that Service
//! ([`Evicted`]): an object that comes back was recreated by a node that announces too, and
//! both objects then stay, showing the two announcers. When the partition heals the node that
//! stops announcing deletes its own.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

use ferrolb_api::names::{
    LABEL_STATUS_NODE, LABEL_STATUS_SERVICE_NAME, LABEL_STATUS_SERVICE_NAMESPACE,
};
use ferrolb_api::v1beta1::{
    ServiceBGPStatus, ServiceBGPStatusSpec, ServiceL2Status, ServiceL2StatusSpec,
};
use ferrolb_kube::owner::PodOwner;
use futures::StreamExt as _;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::plan::ServiceKey;

/// What a per-Service status object says, whatever its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusView {
    /// `status.node`.
    pub node: Option<String>,
    /// `status.serviceName`.
    pub service_name: Option<String>,
    /// `status.serviceNamespace`.
    pub service_namespace: Option<String>,
    /// The per-kind list: interface names (L2) or BGPPeer names (BGP).
    pub values: Vec<String>,
}

/// A per-Service status kind: ServiceL2Status or ServiceBGPStatus.
pub trait ServiceStatusKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// `generateName` of new objects (MetalLB's `l2-` / `bgp-`).
    const GENERATE_NAME: &'static str;
    /// Whether one node at a time announces a Service (Layer 2): this node then deletes other
    /// nodes' objects for the Services it announces. In BGP mode every eligible node
    /// advertises, so each node keeps to its own objects (deleting the others' would make the
    /// nodes delete each other's objects forever).
    const EXCLUSIVE: bool;
    /// A new object with `meta` and no status.
    fn empty(meta: ObjectMeta) -> Self;
    /// What the object says.
    fn view(&self) -> StatusView;
    /// The `status` fields other than node and Service, for `values`.
    fn values_json(values: &[String]) -> (&'static str, Value);
}

impl ServiceStatusKind for ServiceL2Status {
    const GENERATE_NAME: &'static str = "l2-";
    const EXCLUSIVE: bool = true;
    fn empty(metadata: ObjectMeta) -> Self {
        ServiceL2Status {
            metadata,
            spec: ServiceL2StatusSpec {},
            status: None,
        }
    }
    fn view(&self) -> StatusView {
        let st = self.status.clone().unwrap_or_default();
        StatusView {
            node: st.node,
            service_name: st.service_name,
            service_namespace: st.service_namespace,
            values: st.interfaces.into_iter().map(|i| i.name).collect(),
        }
    }
    fn values_json(values: &[String]) -> (&'static str, Value) {
        let ifs: Vec<Value> = values.iter().map(|n| json!({"name": n})).collect();
        ("interfaces", Value::Array(ifs))
    }
}

impl ServiceStatusKind for ServiceBGPStatus {
    const GENERATE_NAME: &'static str = "bgp-";
    const EXCLUSIVE: bool = false;
    fn empty(metadata: ObjectMeta) -> Self {
        ServiceBGPStatus {
            metadata,
            spec: ServiceBGPStatusSpec {},
            status: None,
        }
    }
    fn view(&self) -> StatusView {
        let st = self.status.clone().unwrap_or_default();
        StatusView {
            node: st.node,
            service_name: st.service_name,
            service_namespace: st.service_namespace,
            values: st.peers,
        }
    }
    fn values_json(values: &[String]) -> (&'static str, Value) {
        ("peers", json!(values))
    }
}

/// Writes to do, computed from the existing objects (pure).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StatusDiff {
    /// Object names to delete.
    pub delete: Vec<String>,
    /// Services needing a new object.
    pub create: Vec<ServiceKey>,
    /// Objects whose values must be updated: name, Service, values.
    pub update: Vec<(String, ServiceKey, Vec<String>)>,
    /// Other nodes' objects among `delete` (Layer 2): Service, node ([`remember`]).
    pub evicted: Vec<(ServiceKey, String)>,
}

/// Per Service this node announces, the nodes whose object for it this node already deleted
/// (see the module docs): such a node's object is left alone from then on.
pub type Evicted = BTreeMap<ServiceKey, BTreeSet<String>>;

/// Records the other nodes' objects `d` deleted.
pub fn remember(evicted: &mut Evicted, d: &StatusDiff) {
    for (key, node) in &d.evicted {
        evicted.entry(key.clone()).or_default().insert(node.clone());
    }
}

/// Forgets the Services this node no longer announces: when it announces one again, another
/// node's object for it is deleted again (once).
pub fn forget_unwanted<V>(evicted: &mut Evicted, want: &BTreeMap<ServiceKey, V>) {
    evicted.retain(|k, _| want.contains_key(k));
}

/// The node and Service an object is about: its status, else its labels.
fn identity<K: ServiceStatusKind>(obj: &K, view: &StatusView) -> (Option<String>, ServiceKey) {
    let labels = obj.meta().labels.clone().unwrap_or_default();
    let label = |k: &str| labels.get(k).cloned();
    let node = view.node.clone().or_else(|| label(LABEL_STATUS_NODE));
    let key = ServiceKey::new(
        view.service_namespace
            .clone()
            .or_else(|| label(LABEL_STATUS_SERVICE_NAMESPACE))
            .unwrap_or_default(),
        view.service_name
            .clone()
            .or_else(|| label(LABEL_STATUS_SERVICE_NAME))
            .unwrap_or_default(),
    );
    (node, key)
}

/// Diffs existing objects of one kind against what this node announces (Service → values);
/// `owner` is this speaker's Pod (an object of this node not owned by it is replaced). Without
/// the memory of [`diff_sparing`] (tests of a single pass).
#[cfg(test)]
pub fn diff<K: ServiceStatusKind, V: AsRef<[String]>>(
    me: &str,
    owner: &PodOwner,
    existing: &[K],
    want: &BTreeMap<ServiceKey, V>,
) -> StatusDiff {
    diff_sparing(me, owner, existing, want, &Evicted::new())
}

/// [`diff`] that leaves alone the other nodes' objects this node already deleted once
/// (`evicted`, see the module docs).
pub fn diff_sparing<K: ServiceStatusKind, V: AsRef<[String]>>(
    me: &str,
    owner: &PodOwner,
    existing: &[K],
    want: &BTreeMap<ServiceKey, V>,
    evicted: &Evicted,
) -> StatusDiff {
    let mut out = StatusDiff::default();
    let mut have = BTreeSet::new();
    for obj in existing {
        let Some(name) = obj.meta().name.clone() else {
            continue;
        };
        let view = obj.view();
        let (node, key) = identity(obj, &view);
        let mine = node.as_deref() == Some(me);
        let current = owner.owns(obj.meta().owner_references.as_deref());
        match want.get(&key) {
            Some(values) if mine && current && !have.contains(&key) => {
                if view.values.as_slice() != values.as_ref() || view.node.is_none() {
                    out.update
                        .push((name, key.clone(), values.as_ref().to_vec()));
                }
                have.insert(key);
            }
            // Another node's object for a Service every node advertises (BGP).
            Some(_) if !mine && !K::EXCLUSIVE => {}
            // Another node's object for a Service we own (L2): deleted once; back again, that
            // node announces too (split brain) and its object stays.
            Some(_) if !mine => {
                let spared = node
                    .as_ref()
                    .is_some_and(|n| evicted.get(&key).is_some_and(|s| s.contains(n)));
                if !spared {
                    out.delete.push(name);
                    if let Some(n) = node {
                        out.evicted.push((key, n));
                    }
                }
            }
            // Ours but stale, duplicate or from an earlier Pod.
            Some(_) => out.delete.push(name),
            None if mine => out.delete.push(name),
            None => {}
        }
    }
    out.create = want
        .keys()
        .filter(|k| !have.contains(*k))
        .cloned()
        .collect();
    out
}

/// Whether a write failed because the object is gone (deleted by someone else since the
/// list): the object is created again instead of reporting an error.
pub fn gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found())
}

/// The label selector of this node's status objects (MetalLB's `metallb.io/node`).
pub fn own_objects(node: &str) -> String {
    format!("{LABEL_STATUS_NODE}={node}")
}

/// The merge patch of an object's status.
pub fn status_body<K: ServiceStatusKind>(me: &str, key: &ServiceKey, values: &[String]) -> Value {
    let (field, list) = K::values_json(values);
    let mut status = json!({
        "node": me,
        "serviceName": key.name,
        "serviceNamespace": key.namespace,
    });
    status[field] = list;
    json!({ "status": status })
}

/// The metadata of a new object of this node for `key`.
pub fn new_meta<K: ServiceStatusKind>(
    namespace: &str,
    me: &str,
    owner: &PodOwner,
    key: &ServiceKey,
) -> ObjectMeta {
    ObjectMeta {
        generate_name: Some(K::GENERATE_NAME.into()),
        namespace: Some(namespace.to_owned()),
        labels: Some(BTreeMap::from([
            (LABEL_STATUS_NODE.to_owned(), me.to_owned()),
            (LABEL_STATUS_SERVICE_NAME.to_owned(), key.name.clone()),
            (
                LABEL_STATUS_SERVICE_NAMESPACE.to_owned(),
                key.namespace.clone(),
            ),
        ])),
        owner_references: Some(owner.references()),
        ..ObjectMeta::default()
    }
}

/// Wakes `wake` on every change of the objects of `api` matching `selector` (created, edited
/// or deleted by anyone), so a deleted or edited object is written back at once rather than at
/// the next periodic pass. Our own writes wake it too; that pass finds nothing to do.
pub fn watch_selected<K>(api: Api<K>, selector: &str, wake: Arc<Notify>)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let config = watcher::Config::default().labels(selector);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(_) => wake.notify_one(),
                Err(e) => {
                    tracing::debug!(kind = %K::kind(&()), error = %e, "watching own status objects failed; retrying");
                }
            }
        }
    });
}

/// Deletes `name`; an object already gone is not an error.
pub async fn delete_quietly<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes the per-Service status objects of kind `K` of one node.
pub struct Objects<K> {
    api: Api<K>,
    node: String,
    namespace: String,
    owner: PodOwner,
    /// Other nodes' objects deleted once (Layer 2, see the module docs).
    evicted: Mutex<Evicted>,
    kind: PhantomData<K>,
}

impl<K: ServiceStatusKind> Objects<K> {
    /// The writer of node `node`'s objects in `namespace`, owned by the speaker Pod `owner`.
    pub fn new(client: Client, namespace: &str, node: &str, owner: PodOwner) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            node: node.to_owned(),
            namespace: namespace.to_owned(),
            owner,
            evicted: Mutex::new(Evicted::new()),
            kind: PhantomData,
        }
    }

    /// Watches this node's objects, waking `wake` on every change.
    pub fn watch(&self, wake: Arc<Notify>) {
        watch_selected(self.api.clone(), &own_objects(&self.node), wake);
    }

    /// Makes the objects match `want` (Service → values).
    pub async fn sync<V: AsRef<[String]>>(
        &self,
        want: &BTreeMap<ServiceKey, V>,
    ) -> Result<(), kube::Error> {
        // Layer 2 deletes other nodes' objects for its Services, so it lists them all; BGP
        // keeps to this node's.
        let params = if K::EXCLUSIVE {
            ListParams::default()
        } else {
            ListParams::default().labels(&own_objects(&self.node))
        };
        // Paged and trimmed: one object per Service (and node, in BGP mode) can be thousands.
        let existing = ferrolb_kube::list_trimmed(&self.api, &params).await?;
        let d = {
            let mut evicted = self.evicted.lock().unwrap_or_else(PoisonError::into_inner);
            forget_unwanted(&mut evicted, want);
            diff_sparing(&self.node, &self.owner, &existing, want, &evicted)
        };
        for name in &d.delete {
            delete_quietly(&self.api, name).await?;
        }
        remember(
            &mut self.evicted.lock().unwrap_or_else(PoisonError::into_inner),
            &d,
        );
        for (name, key, values) in &d.update {
            match self.patch_status(name, key, values).await {
                Ok(()) => {}
                Err(e) if gone(&e) => {
                    tracing::debug!(kind = %K::kind(&()), %name, service = %key, "deleted meanwhile; creating it again");
                    self.create(key, values).await?;
                }
                Err(e) => return Err(e),
            }
        }
        for key in &d.create {
            self.create(key, want[key].as_ref()).await?;
        }
        Ok(())
    }

    async fn patch_status(
        &self,
        name: &str,
        key: &ServiceKey,
        values: &[String],
    ) -> Result<(), kube::Error> {
        let body = Patch::Merge(status_body::<K>(&self.node, key, values));
        self.api
            .patch_status(name, &PatchParams::default(), &body)
            .await
            .map(drop)
    }

    /// Creates the object of `key` and writes its status. An object deleted again before its
    /// status is written is left to the next pass (the watch of this node's objects wakes it).
    async fn create(&self, key: &ServiceKey, values: &[String]) -> Result<(), kube::Error> {
        let obj = K::empty(new_meta::<K>(&self.namespace, &self.node, &self.owner, key));
        let created = self.api.create(&PostParams::default(), &obj).await?;
        let name = created.meta().name.clone().unwrap_or_default();
        match self.patch_status(&name, key, values).await {
            Err(e) if gone(&e) => {
                tracing::debug!(kind = %K::kind(&()), %name, service = %key, "deleted before its status was written");
                Ok(())
            }
            r => r,
        }
    }
}
