//! The speaker's events (reporter `metallb-speaker`, action `Announce`), one path for both
//! modes: Normal `nodeAssigned` "announcing from node %q with protocol %q" (MetalLB's text,
//! protocol `layer2` or `bgp`) when this node **starts** announcing a Service (MetalLB emits it
//! on every reconcile, #2387; ferrolb only on change, see [`fresh`]), and the L2 warnings.
//! Published through `ferrolb_kube::events::Recorder` (bounded deduplication cache).

use std::collections::BTreeSet;

use ferrolb_kube::events::Recorder;
use kube::Client;
use kube::runtime::events::Reporter;

use crate::plan::ServiceKey;

/// MetalLB's protocol name of Layer 2 mode in events.
pub const LAYER2: &str = "layer2";
/// MetalLB's protocol name of BGP mode in events.
pub const BGP: &str = "bgp";

/// The note of `nodeAssigned` (Go's `%q` of the node and protocol).
pub fn assigned_note(node: &str, protocol: &str) -> String {
    format!("announcing from node {node:?} with protocol {protocol:?}")
}

/// The speaker's event recorder (MetalLB's reporter `metallb-speaker`, instance = the node).
pub fn recorder(client: Client, node: &str) -> Recorder {
    let reporter = Reporter {
        controller: "metallb-speaker".into(),
        instance: Some(node.to_owned()),
    };
    Recorder::new(client, reporter)
}

/// Publishes the events of one speaker.
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
    node: String,
}

impl Events {
    /// Events of node `node`.
    pub fn new(recorder: Recorder, node: &str) -> Self {
        Self {
            recorder,
            node: node.to_owned(),
        }
    }

    /// The node the events speak for.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Publishes one event about Service `key`; a failure is logged (events are best effort).
    pub async fn publish(
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

    /// Normal `nodeAssigned`: this node started announcing `key` with `protocol`.
    pub async fn assigned(&self, key: &ServiceKey, uid: Option<String>, protocol: &str) {
        let note = assigned_note(&self.node, protocol);
        self.publish(key, uid, false, "nodeAssigned", note).await;
    }
}

/// The items whose Service is not in `seen`; `seen` becomes the Services of `items` (an event
/// is emitted when a Service enters a state, not on every pass).
pub fn fresh<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> &ServiceKey,
    seen: &mut BTreeSet<ServiceKey>,
) -> Vec<&'a T> {
    let new = items.iter().filter(|i| !seen.contains(key(i))).collect();
    *seen = items.iter().map(|i| key(i).clone()).collect();
    new
}
