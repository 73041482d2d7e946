//! Did this speaker restart? The answer sets the graceful-restart Restart State (R) bit in the
//! first OPEN of each session (RFC 4724 §3).
//!
//! The evidence is this node's `ferrolb.io/v1alpha1` BGPSessionState objects
//! (`speaker/src/status/session/`): at start the speaker lists them (label `metallb.io/node`,
//! and `status.node`); any object means a speaker ran on this node moments ago and had
//! sessions: the objects are owned by the speaker Pod and garbage-collected with it, so one
//! that still exists belongs to the previous container of this Pod (a crash, OOM, SIGKILL or a
//! restart) or to a Pod replaced moments ago (the new Pod adopts it) — never to a speaker long
//! gone. Its recorded state does not matter: a speaker killed within a second of its own
//! restart may not have written `Established` yet (writes are paced, one per second), and the
//! R bit means "this speaker restarted", whatever its sessions were doing. A speaker that
//! stopped for a graceful restart leaves its objects as they were (see [`super`]); a drained
//! or Ceased one deletes them with its last status write when it has time (an R bit after a
//! drain is harmless: the router holds no stale routes then).
//!
//! Why not a marker file: an `emptyDir` survives a container restart but not the Pod
//! replacement of an upgrade, the main case of graceful restart; a `hostPath` would need a
//! writable host directory the chart does not mount today. The known gap of the objects: when
//! the garbage collector deletes them before the new Pod starts, the R bit stays clear. That
//! costs nothing at the router: a helper keeps the stale routes because our previous OPEN
//! had the capability, and refreshes them on the new session with the F bit set (§4.2); the R
//! bit only tells it not to wait for our End-of-RIB before sending its own (we ignore received
//! routes anyway). Listing fails or takes longer than [`LIST_TIMEOUT`] → not a restart.

use std::time::Duration;

use ferrolb_api::ferrolb::v1alpha1::BGPSessionState;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::status::objects::own_objects;

/// How long the start waits for the list.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether these objects (this node's BGPSessionStates) show a restart: one of them records a
/// session of `node`.
pub fn restarted(node: &str, objects: &[BGPSessionState]) -> bool {
    objects.iter().any(|o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.node.as_deref() == Some(node))
    })
}

/// Lists this node's BGPSessionStates in `namespace` and applies [`restarted`].
pub async fn detect(client: &Client, namespace: &str, node: &str) -> bool {
    let api: Api<BGPSessionState> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&own_objects(node));
    match tokio::time::timeout(LIST_TIMEOUT, api.list(&params)).await {
        Ok(Ok(list)) => {
            let r = restarted(node, &list.items);
            tracing::info!(%node, restarted = r, objects = list.items.len(), "BGP restart detection (BGPSessionState)");
            r
        }
        Ok(Err(e)) => {
            tracing::warn!(%node, error = %e, "cannot list BGPSessionState: assuming a fresh start (no R bit)");
            false
        }
        Err(_) => {
            tracing::warn!(%node, "listing BGPSessionState timed out: assuming a fresh start (no R bit)");
            false
        }
    }
}

#[cfg(test)]
mod tests;
