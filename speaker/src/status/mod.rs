//! What the speaker writes to the API server, level-based and retried:
//! - one ServiceL2Status per Service this node announces in Layer 2 mode and one
//!   ServiceBGPStatus per Service it advertises over BGP (MetalLB's kinds, names, labels and
//!   owner; `status.interfaces` empty = all, `status.peers` = the BGPPeers it is configured to
//!   be advertised to), written by the one generic writer of "the status objects of this node"
//!   ([`objects`]): recreated at once when someone else deletes or edits them, stale ones
//!   deleted, an earlier Pod's replaced;
//! - one ferrolb.io BGPSessionState per BGP session of this node ([`session`]), event-driven
//!   from the BGP runtime's [`crate::bgp_report::BgpReport`] and paced to ≤ 1 write/s per
//!   object; the BGP objects and events are written by [`bgp::run_bgp_status`];
//! - ConfigurationState `speaker-<node>` with condition `configReconcilerValid` (§1.9), written
//!   by `ferrolb_kube::status::ConfigStateWriter` when the configuration errors change
//!   (`lastTransitionTime` moves only when the condition's status does);
//! - all owned by this speaker's Pod when it is known (`ferrolb_kube::owner`, MetalLB's
//!   ownerReference): deleting the Pod garbage-collects them;
//! - events ([`events`], reporter `metallb-speaker`): Normal `nodeAssigned` when this node
//!   **starts** announcing a Service (protocol `layer2` or `bgp`; MetalLB emits it on every
//!   reconcile, #2387; ferrolb only on change), Warning `announceFailed` when the won Service's
//!   interfaces do not exist here, Warning `ipNotAllowed` (ferrolb's; MetalLB only logs it)
//!   when a Service's ingress IPs are not in one pool, from one node
//!   ([`crate::plan::Decisions::not_allowed`]). Each is emitted when a Service enters the
//!   state, not on every pass.

pub mod bgp;
pub mod events;
pub mod objects;
pub mod session;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::v1beta1::ServiceL2Status;
use ferrolb_kube::events::Recorder;
use ferrolb_kube::metrics::client::ClientMetrics;
use ferrolb_kube::owner::PodOwner;
use ferrolb_kube::status::ConfigStateWriter;
use ferrolb_l2::owner::Interfaces;
use kube::Client;
use tokio::sync::{Notify, watch};

use crate::plan::{Decisions, Plan, ServiceKey};
pub use events::{Events, fresh};
pub use objects::Objects;

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

/// Writes statuses, events and the ConfigurationState.
pub struct StatusWriter {
    objects: Objects<ServiceL2Status>,
    events: Events,
    config: ConfigStateWriter,
    /// `metallb_k8s_client_update{s,_errors}_total`: one per pass.
    counts: ClientMetrics,
}

impl StatusWriter {
    /// A writer for node `node` in `namespace`, owned by the speaker Pod `owner`.
    pub fn new(
        client: Client,
        namespace: String,
        node: String,
        owner: PodOwner,
        recorder: Recorder,
        counts: ClientMetrics,
    ) -> Self {
        let config = ConfigStateWriter::speaker(
            client.clone(),
            &namespace,
            &node,
            owner.clone(),
            FIELD_MANAGER,
        );
        Self {
            objects: Objects::new(client, &namespace, &node, owner),
            events: Events::new(recorder, &node),
            config,
            counts,
        }
    }

    /// Emits the events of what changed since the last decisions (`seen`).
    async fn emit_events(&self, d: &Decisions, seen: &mut Seen) {
        for a in fresh(&d.announce, |a| &a.service, &mut seen.announced) {
            self.events
                .assigned(&a.service, a.uid.clone(), events::LAYER2)
                .await;
        }
        for (key, uid, ip) in fresh(&d.failed, |f| &f.0, &mut seen.failed) {
            let note = format!(
                "the interfaces specified by LB IP \"{ip}\" doesn't exist in assigned node \"{}\" with protocol \"layer2\"",
                self.events.node()
            );
            self.events
                .publish(key, uid.clone(), true, "announceFailed", note)
                .await;
        }
        for n in fresh(&d.not_allowed, |n| &n.service, &mut seen.not_allowed) {
            self.events
                .publish(&n.service, n.uid.clone(), true, "ipNotAllowed", n.message())
                .await;
        }
    }

    /// One pass: events, ServiceL2Status objects and (when the errors changed) the
    /// ConfigurationState. Returns whether every write succeeded.
    async fn pass(&self, d: &Decisions, errors: Vec<String>, seen: &mut Seen) -> bool {
        self.emit_events(d, seen).await;
        let mut ok = true;
        if let Err(e) = self.objects.sync(&wanted(d)).await {
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
        self.counts.wrote(ok);
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
        self.objects.watch(wake.clone());
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

#[cfg(test)]
mod fake_api;
#[cfg(test)]
mod tests;
