//! What the speaker writes to the API server, level-based and retried:
//! - one ServiceL2Status per Service this node announces (`generateName: l2-`, MetalLB's labels
//!   `metallb.io/node`, `metallb.io/service-name`, `metallb.io/service-namespace`, in ferrolb's
//!   namespace; `status.interfaces` empty = all). The speaker watches its own objects (label
//!   `metallb.io/node=<node>`), so one deleted or edited by someone else is written back at once
//!   (not at the next periodic pass), and one deleted between the list and its update is
//!   created again ([`gone`]) rather than reported as an error. As in MetalLB's
//!   `layer2_status_controller.go`, a node deletes its own stale objects and the owner deletes
//!   other nodes' objects for the Services it announces (`metallb-runtime.md` §2.8);
//! - ConfigurationState `speaker-<node>` with condition `configReconcilerValid` (§1.9), written
//!   by `ferrolb_kube::status::ConfigStateWriter` when the configuration errors change
//!   (`lastTransitionTime` moves only when the condition's status does);
//! - both owned by this speaker's Pod when it is known (`ferrolb_kube::owner`, MetalLB's
//!   ownerReference): deleting the Pod garbage-collects them. An object of this node written
//!   by an earlier Pod is replaced (deleted and created again) so it is never collected with
//!   the old Pod while still announced;
//! - events (reporter `metallb-speaker`): Normal `nodeAssigned` when this node **starts**
//!   announcing a Service (MetalLB emits it on every reconcile, #2387; ferrolb only on change),
//!   Warning `announceFailed` when the won Service's interfaces do not exist here, Warning
//!   `ipNotAllowed` (ferrolb's; MetalLB only logs it) when a Service's ingress IPs are not in
//!   one pool, from one node ([`crate::plan::Decisions::not_allowed`]). Each is emitted when a
//!   Service enters the state, not on every pass.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::names::{
    LABEL_STATUS_NODE, LABEL_STATUS_SERVICE_NAME, LABEL_STATUS_SERVICE_NAMESPACE,
};
use ferrolb_api::v1beta1::{ServiceL2Status, ServiceL2StatusSpec};
use ferrolb_kube::owner::PodOwner;
use ferrolb_kube::status::ConfigStateWriter;
use ferrolb_l2::owner::Interfaces;
use futures::StreamExt as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::events::Recorder;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::plan::{Decisions, Plan, ServiceKey};

/// Field manager of the speaker's writes (MetalLB's config reconciler field owner).
pub const FIELD_MANAGER: &str = "configReconciler";

/// `status.interfaces` for an interface set (empty = all).
pub fn interface_names(i: &Interfaces) -> Vec<String> {
    match i {
        Interfaces::All => Vec::new(),
        Interfaces::Named(s) => s.iter().cloned().collect(),
    }
}

/// What the status objects should be: Service → interface names.
pub fn wanted(d: &Decisions) -> BTreeMap<ServiceKey, Vec<String>> {
    d.announce
        .iter()
        .map(|a| (a.service.clone(), interface_names(&a.interfaces)))
        .collect()
}

/// Writes to do, computed from the existing objects (pure).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StatusDiff {
    /// Object names to delete.
    pub delete: Vec<String>,
    /// Services needing a new object.
    pub create: Vec<ServiceKey>,
    /// Objects whose interfaces must be updated: name, Service, interfaces.
    pub update: Vec<(String, ServiceKey, Vec<String>)>,
}

/// Diffs existing ServiceL2Status objects against what this node announces; `owner` is this
/// speaker's Pod (an object of this node not owned by it is replaced).
pub fn diff(
    me: &str,
    owner: &PodOwner,
    existing: &[ServiceL2Status],
    want: &BTreeMap<ServiceKey, Vec<String>>,
) -> StatusDiff {
    let mut out = StatusDiff::default();
    let mut have = BTreeSet::new();
    for obj in existing {
        let Some(name) = obj.metadata.name.clone() else {
            continue;
        };
        let st = obj.status.clone().unwrap_or_default();
        let labels = obj.metadata.labels.clone().unwrap_or_default();
        let node = st
            .node
            .clone()
            .or_else(|| labels.get(LABEL_STATUS_NODE).cloned());
        let key = ServiceKey::new(
            st.service_namespace
                .clone()
                .or_else(|| labels.get(LABEL_STATUS_SERVICE_NAMESPACE).cloned())
                .unwrap_or_default(),
            st.service_name
                .clone()
                .or_else(|| labels.get(LABEL_STATUS_SERVICE_NAME).cloned())
                .unwrap_or_default(),
        );
        let mine = node.as_deref() == Some(me);
        let current = owner.owns(obj.metadata.owner_references.as_deref());
        match want.get(&key) {
            Some(ifs) if mine && current && !have.contains(&key) => {
                let cur: Vec<String> = st.interfaces.iter().map(|i| i.name.clone()).collect();
                if &cur != ifs || st.node.is_none() {
                    out.update.push((name, key.clone(), ifs.clone()));
                }
                have.insert(key);
            }
            // Ours but stale, duplicate or from an earlier Pod; or another node's object for a
            // Service we own.
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

/// The label selector of this node's ServiceL2Status objects (MetalLB's `metallb.io/node`).
pub fn own_objects(node: &str) -> String {
    format!("{LABEL_STATUS_NODE}={node}")
}

/// Wakes `wake` on every change of this node's ServiceL2Status objects (created, edited or
/// deleted by anyone), so a deleted or edited object is written back at once rather than at
/// the next periodic pass. Our own writes wake it too; that pass finds nothing to do.
fn watch_own(client: Client, namespace: &str, node: &str, wake: Arc<Notify>) {
    let api: Api<ServiceL2Status> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().labels(&own_objects(node));
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(_) => wake.notify_one(),
                Err(e) => tracing::debug!(error = %e, "watching ServiceL2Status failed; retrying"),
            }
        }
    });
}

/// Writes statuses, events and the ConfigurationState.
pub struct StatusWriter {
    client: Client,
    namespace: String,
    node: String,
    owner: PodOwner,
    recorder: Recorder,
    config: ConfigStateWriter,
}

fn status_body(me: &str, key: &ServiceKey, ifs: &[String]) -> serde_json::Value {
    json!({"status": {
        "node": me,
        "serviceName": key.name,
        "serviceNamespace": key.namespace,
        "interfaces": ifs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
    }})
}

impl StatusWriter {
    /// A writer for node `node` in `namespace`, owned by the speaker Pod `owner`.
    pub fn new(
        client: Client,
        namespace: String,
        node: String,
        owner: PodOwner,
        recorder: Recorder,
    ) -> Self {
        let config = ConfigStateWriter::speaker(
            client.clone(),
            &namespace,
            &node,
            owner.clone(),
            FIELD_MANAGER,
        );
        Self {
            client,
            namespace,
            node,
            owner,
            recorder,
            config,
        }
    }

    async fn sync(&self, want: &BTreeMap<ServiceKey, Vec<String>>) -> Result<(), kube::Error> {
        let api: Api<ServiceL2Status> = Api::namespaced(self.client.clone(), &self.namespace);
        let existing = api.list(&ListParams::default()).await?.items;
        let d = diff(&self.node, &self.owner, &existing, want);
        for name in &d.delete {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        for (name, key, ifs) in &d.update {
            match self.patch_status(&api, name, key, ifs).await {
                Ok(()) => {}
                Err(e) if gone(&e) => {
                    tracing::debug!(%name, service = %key, "ServiceL2Status deleted meanwhile; creating it again");
                    self.create(&api, key, ifs).await?;
                }
                Err(e) => return Err(e),
            }
        }
        for key in &d.create {
            self.create(&api, key, &want[key]).await?;
        }
        Ok(())
    }

    async fn patch_status(
        &self,
        api: &Api<ServiceL2Status>,
        name: &str,
        key: &ServiceKey,
        ifs: &[String],
    ) -> Result<(), kube::Error> {
        let body = Patch::Merge(status_body(&self.node, key, ifs));
        api.patch_status(name, &PatchParams::default(), &body)
            .await
            .map(drop)
    }

    /// Creates the object of `key` and writes its status. An object deleted again before its
    /// status is written is left to the next pass (the watch of this node's objects wakes it).
    async fn create(
        &self,
        api: &Api<ServiceL2Status>,
        key: &ServiceKey,
        ifs: &[String],
    ) -> Result<(), kube::Error> {
        let obj = ServiceL2Status {
            metadata: ObjectMeta {
                generate_name: Some("l2-".into()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([
                    (LABEL_STATUS_NODE.to_owned(), self.node.clone()),
                    (LABEL_STATUS_SERVICE_NAME.to_owned(), key.name.clone()),
                    (
                        LABEL_STATUS_SERVICE_NAMESPACE.to_owned(),
                        key.namespace.clone(),
                    ),
                ])),
                owner_references: Some(self.owner.references()),
                ..ObjectMeta::default()
            },
            spec: ServiceL2StatusSpec {},
            status: None,
        };
        let created = api.create(&PostParams::default(), &obj).await?;
        let name = created.metadata.name.unwrap_or_default();
        match self.patch_status(api, &name, key, ifs).await {
            Err(e) if gone(&e) => {
                tracing::debug!(%name, service = %key, "ServiceL2Status deleted before its status was written");
                Ok(())
            }
            r => r,
        }
    }

    async fn event(
        &self,
        key: &ServiceKey,
        uid: Option<String>,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let reference = ferrolb_kube::events::service_reference(key, uid);
        let ev = ferrolb_kube::events::event(warning, reason, note, "Announce");
        if let Err(e) = self.recorder.publish(&ev, &reference).await {
            tracing::warn!(service = %key, error = %e, "publishing event failed");
        }
    }

    /// Emits the events of what changed since the last decisions (`seen`).
    async fn events(&self, d: &Decisions, seen: &mut Seen) {
        for a in fresh(&d.announce, |a| &a.service, &mut seen.announced) {
            let note = format!(
                "announcing from node \"{}\" with protocol \"layer2\"",
                self.node
            );
            self.event(&a.service, a.uid.clone(), false, "nodeAssigned", note)
                .await;
        }
        for (key, uid, ip) in fresh(&d.failed, |f| &f.0, &mut seen.failed) {
            let note = format!(
                "the interfaces specified by LB IP \"{ip}\" doesn't exist in assigned node \"{}\" with protocol \"layer2\"",
                self.node
            );
            self.event(key, uid.clone(), true, "announceFailed", note)
                .await;
        }
        for n in fresh(&d.not_allowed, |n| &n.service, &mut seen.not_allowed) {
            self.event(&n.service, n.uid.clone(), true, "ipNotAllowed", n.message())
                .await;
        }
    }

    /// One pass: events, ServiceL2Status objects and (when the errors changed) the
    /// ConfigurationState. Returns whether every write succeeded.
    async fn pass(&self, d: &Decisions, errors: Vec<String>, seen: &mut Seen) -> bool {
        self.events(d, seen).await;
        let mut ok = true;
        if let Err(e) = self.sync(&wanted(d)).await {
            ok = false;
            tracing::warn!(error = %e, "writing ServiceL2Status failed; will retry");
        }
        if seen.errors.as_ref() != Some(&errors) {
            let error = (!errors.is_empty()).then(|| errors.join("\n"));
            match self.config.write(error.as_deref()).await {
                Ok(()) => seen.errors = Some(errors),
                Err(e) => {
                    ok = false;
                    tracing::warn!(error = %e, "writing ConfigurationState failed; will retry");
                }
            }
        }
        ok
    }

    /// Runs until `decisions` closes; then removes this node's ServiceL2Status objects.
    pub async fn run(
        self,
        mut decisions: watch::Receiver<Decisions>,
        mut plan: watch::Receiver<Arc<Plan>>,
    ) {
        let mut seen = Seen::default();
        let wake = Arc::new(Notify::new());
        watch_own(
            self.client.clone(),
            &self.namespace,
            &self.node,
            wake.clone(),
        );
        let mut open = true;
        while open {
            let d = decisions.borrow_and_update().clone();
            let errors = plan.borrow_and_update().errors.clone();
            let wait = if self.pass(&d, errors, &mut seen).await {
                Duration::from_secs(30)
            } else {
                Duration::from_secs(2)
            };
            tokio::select! {
                r = decisions.changed() => open = r.is_ok(),
                _ = plan.changed() => {}
                () = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// What the writer already reported.
#[derive(Debug, Default)]
struct Seen {
    announced: BTreeSet<ServiceKey>,
    failed: BTreeSet<ServiceKey>,
    not_allowed: BTreeSet<ServiceKey>,
    /// The configuration errors last written to the ConfigurationState.
    errors: Option<Vec<String>>,
}

/// The items whose Service is not in `seen`; `seen` becomes the Services of `items` (an event
/// is emitted when a Service enters a state, not on every pass).
fn fresh<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> &ServiceKey,
    seen: &mut BTreeSet<ServiceKey>,
) -> Vec<&'a T> {
    let new = items.iter().filter(|i| !seen.contains(key(i))).collect();
    *seen = items.iter().map(|i| key(i).clone()).collect();
    new
}

#[cfg(test)]
mod tests;
