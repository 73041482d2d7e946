//! Everything the speaker writes about its BGP side, from the runtime's
//! [`BgpReport`] (issue 15): one ServiceBGPStatus per Service this node advertises
//! (`status.peers` = `BgpReport::services`, MetalLB's desired peers, through the generic
//! [`Objects`] writer shared with ServiceL2Status), one BGPSessionState per session
//! ([`super::session`], paced), and Normal `nodeAssigned` with protocol `bgp` when this node
//! starts advertising a Service ([`super::events`]).
//!
//! Level-based like the L2 writer: a pass runs on every report, on every change of this node's
//! objects (someone deleted or edited one: written back at once), when a paced session write is
//! due, and at least every 30 s (2 s after a failed write). A report whose Services did not
//! change since they were last written completely does not list the ServiceBGPStatuses again
//! (session counters change often), and only this node's objects are listed (label
//! `metallb.io/node`): in BGP mode every node keeps to its own. When the report channel closes (the
//! runtime stopped) this node's BGP objects are removed. The BFD runtime's [`BfdReport`] adds
//! `bfdStatus` to the BGPSessionStates of peers with a `bfdProfile`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_api::v1beta1::ServiceBGPStatus;
use ferrolb_kube::events::Recorder;
use ferrolb_kube::owner::PodOwner;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::Api;
use tokio::sync::{Notify, watch};

use super::events::{self, Events};
use super::objects::Objects;
use super::session::SessionWriter;
use crate::bfd::BfdReport;
use crate::bgp_report::{BgpReport, PeerNames, SessionReport};
use crate::plan::{Plan, ServiceKey};

/// What [`run_bgp_status`] needs besides the channels.
pub struct BgpStatusConfig {
    /// API client.
    pub client: Client,
    /// ferrolb's namespace (where the objects live).
    pub namespace: String,
    /// This node.
    pub node: String,
    /// The speaker Pod, owner of the objects.
    pub owner: PodOwner,
    /// The speaker's event recorder.
    pub recorder: Recorder,
}

impl BgpStatusConfig {
    /// The writer settings of node `node` in `namespace`, owned by the speaker Pod `owner`.
    pub fn new(client: &Client, namespace: &str, node: &str, owner: PodOwner) -> Self {
        Self {
            client: client.clone(),
            namespace: namespace.to_owned(),
            node: node.to_owned(),
            owner,
            recorder: events::recorder(client.clone(), node),
        }
    }
}

/// The Services of `report` that were not advertised by the last report (`seen` becomes the
/// Services of `report`): their `nodeAssigned` events are due.
pub fn newly_advertised(report: &BgpReport, seen: &mut BTreeSet<ServiceKey>) -> Vec<ServiceKey> {
    let keys: Vec<ServiceKey> = report.services.keys().cloned().collect();
    events::fresh(&keys, |k| k, seen)
        .into_iter()
        .cloned()
        .collect()
}

struct BgpStatus {
    client: Client,
    services: Objects<ServiceBGPStatus>,
    sessions: SessionWriter,
    events: Events,
    advertised: BTreeSet<ServiceKey>,
    written: Written,
}

/// What the last passes wrote completely: a report that differs only in session counters does
/// not list the ServiceBGPStatuses again, and one that changes nothing lists nothing. Cleared
/// when a watch of this node's objects or the periodic timer wakes the loop (level-based).
#[derive(Debug, Default)]
struct Written {
    services: Option<BTreeMap<ServiceKey, PeerNames>>,
    sessions: Option<(Vec<SessionReport>, BTreeMap<String, String>)>,
}

impl BgpStatus {
    /// The UID of Service `key` (the event's target, so `kubectl describe service` shows it):
    /// from the plan when the Layer 2 half knows the Service, else read from the API server
    /// (metadata only, once per Service that starts being advertised).
    async fn uid(&self, plan: &Plan, key: &ServiceKey) -> Option<String> {
        if let Some(s) = plan.services.iter().find(|s| &s.key == key) {
            return s.uid.clone();
        }
        let api: Api<Service> = Api::namespaced(self.client.clone(), &key.namespace);
        match api.get_metadata_opt(&key.name).await {
            Ok(m) => m.and_then(|m| m.metadata.uid),
            Err(e) => {
                tracing::debug!(service = %key, error = %e, "reading the Service's UID failed");
                None
            }
        }
    }

    /// One pass; returns when the next pass is due.
    async fn pass(&mut self, report: &BgpReport, plan: &Plan) -> Duration {
        for key in newly_advertised(report, &mut self.advertised) {
            let uid = self.uid(plan, &key).await;
            self.events.assigned(&key, uid, events::BGP).await;
        }
        let mut next = Duration::from_secs(30);
        if self.written.services.as_ref() != Some(&report.services) {
            self.written.services = None;
            match self.services.sync(&report.services).await {
                Ok(()) => self.written.services = Some(report.services.clone()),
                Err(e) => {
                    next = Duration::from_secs(2);
                    tracing::warn!(error = %e, "writing ServiceBGPStatus failed; will retry");
                }
            }
        }
        let current = (report.sessions.clone(), self.sessions.bfd.clone());
        if self.written.sessions.as_ref() != Some(&current) {
            self.written.sessions = None;
            match self.sessions.sync(&report.sessions, Instant::now()).await {
                Ok(None) => self.written.sessions = Some(current),
                Ok(Some(due)) => next = next.min(due),
                Err(e) => {
                    next = Duration::from_secs(2);
                    tracing::warn!(error = %e, "writing BGPSessionState failed; will retry");
                }
            }
        }
        next
    }
}

/// Writes this node's ServiceBGPStatus and BGPSessionState objects and its BGP events from
/// `report` until the channel closes; `plan` gives the Services' UIDs (event targets).
pub async fn run_bgp_status(
    cfg: BgpStatusConfig,
    mut report: watch::Receiver<Arc<BgpReport>>,
    mut bfd: watch::Receiver<Arc<BfdReport>>,
    plan: watch::Receiver<Arc<Plan>>,
) {
    let mut status = BgpStatus {
        client: cfg.client.clone(),
        services: Objects::new(
            cfg.client.clone(),
            &cfg.namespace,
            &cfg.node,
            cfg.owner.clone(),
        ),
        sessions: SessionWriter::new(cfg.client, &cfg.namespace, &cfg.node, cfg.owner),
        events: Events::new(cfg.recorder, &cfg.node),
        advertised: BTreeSet::new(),
        written: Written::default(),
    };
    let wake = Arc::new(Notify::new());
    status.services.watch(wake.clone());
    status.sessions.watch(wake.clone());
    loop {
        let r = report.borrow_and_update().clone();
        status.sessions.bfd = bfd_states(&bfd.borrow_and_update());
        let p = plan.borrow().clone();
        let wait = status.pass(&r, &p).await;
        tokio::select! {
            changed = report.changed() => if changed.is_err() { break },
            Ok(()) = bfd.changed() => {}
            () = wake.notified() => status.written = Written::default(),
            () = tokio::time::sleep(wait) => status.written = Written::default(),
        }
    }
    // The runtime stopped: nothing is advertised from here any more.
    status.written = Written::default();
    status.pass(&BgpReport::default(), &Plan::default()).await;
}

/// BGPPeer name → BFD state name (FRR's), from the BFD runtime's report.
pub fn bfd_states(r: &BfdReport) -> BTreeMap<String, String> {
    r.sessions
        .values()
        .map(|s| (s.peer_name.clone(), s.state.name().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests;
