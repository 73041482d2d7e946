//! `ferrolb.io/v1alpha1` BGPSessionState: one object per BGP session of this node (issue 15's
//! "per-session status object users can `kubectl get`"), written from the BGP runtime's
//! [`BgpReport`] whenever a session's state, counters or last error change — event-driven,
//! where frr-k8s's BGPSessionState polls every 2 minutes.
//!
//! - **Names**: `<node>-<peer>-<crc32(node NUL peer) as 8 hex digits>`, the readable part cut so
//!   the whole stays a DNS-1123 subdomain of ≤ 253 characters. The hash is always there: node
//!   and BGPPeer names may both contain `-` and `.`, so `a-b` + `c` and `a` + `b-c` would
//!   otherwise collide between two nodes. Deterministic, so a restarted speaker finds its
//!   objects again and no `generateName` object can be left behind twice.
//! - **Labels**: `metallb.io/node` (the selector of this node's objects, as on ServiceL2Status)
//!   and `ferrolb.io/peer` = the BGPPeer name when it fits a label value (≤ 63 characters).
//! - **Owner**: the speaker Pod, as the other status objects; an object of an earlier Pod is
//!   adopted (server-side apply replaces the owner reference this field manager set).
//! - **Pacing**: at most one write per object per [`MIN_INTERVAL`]; a change arriving sooner
//!   is written when the interval ends, with the then-current values (coalesced), so a
//!   flapping session or a 1,000-Service burst costs ≤ 1 write/s per session ([`Pacer`]).
//!   Deletions (session no longer configured) are not paced.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrolb_api::ferrolb::LABEL_PEER;
use ferrolb_api::ferrolb::v1alpha1::{BGPSessionState, BGPSessionStateStatus};
use ferrolb_api::names::LABEL_STATUS_NODE;
use ferrolb_bgp::fsm::State;
use ferrolb_kube::owner::PodOwner;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, Resource};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::FIELD_MANAGER;
use super::objects::{delete_quietly, gone, own_objects, watch_selected};
use crate::bgp_report::SessionReport;

/// Least time between two writes of one BGPSessionState.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Longest Kubernetes object name (DNS-1123 subdomain).
const MAX_NAME: usize = 253;
/// Longest label value.
const MAX_LABEL_VALUE: usize = 63;

/// The object name of `node`'s session with BGPPeer `peer` (see the module doc).
pub fn session_name(node: &str, peer: &str) -> String {
    let hash = ferrolb_bgp::announce::peer::crc32_ieee(format!("{node}\0{peer}").as_bytes());
    let suffix = format!("-{hash:08x}");
    let base = format!("{node}-{peer}");
    let mut cut = base.len().min(MAX_NAME - suffix.len());
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    let readable = base[..cut].trim_end_matches(['-', '.']);
    format!("{readable}{suffix}")
}

/// The labels of `node`'s session object with BGPPeer `peer`.
pub fn session_labels(node: &str, peer: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(LABEL_STATUS_NODE.to_owned(), node.to_owned())]);
    if peer.len() <= MAX_LABEL_VALUE {
        labels.insert(LABEL_PEER.to_owned(), peer.to_owned());
    }
    labels
}

/// FRR's name of a state (`show bgp neighbor`, frr-k8s's `bgpStatus`).
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
    }
}

/// RFC 3339 in whole seconds (the precision of Kubernetes timestamps).
pub fn rfc3339(t: SystemTime) -> Option<String> {
    let ts = k8s_openapi::jiff::Timestamp::try_from(t).ok()?;
    let secs = k8s_openapi::jiff::Timestamp::from_second(ts.as_second()).ok()?;
    Some(secs.to_string())
}

/// The status of one session.
pub fn session_status(node: &str, s: &SessionReport) -> BGPSessionStateStatus {
    BGPSessionStateStatus {
        node: Some(node.to_owned()),
        peer: Some(s.address.ip().to_string()),
        peer_port: Some(s.address.port()),
        peer_name: Some(s.peer.clone()),
        bgp_status: Some(state_name(s.state).to_owned()),
        established_since: s.established_since.and_then(rfc3339),
        prefixes_sent: Some(s.prefixes_sent),
        updates_sent: Some(s.updates_sent),
        last_error: s.last_error.clone(),
        bfd_status: None,
    }
}

/// Adds each session's BFD state (`bfd`: BGPPeer name → FRR's state name, from the BFD
/// runtime, `crate::bfd`) to the wanted objects.
pub fn with_bfd(want: &mut BTreeMap<String, Wanted>, bfd: &BTreeMap<String, String>) {
    for w in want.values_mut() {
        w.status.bfd_status = bfd.get(&w.peer).cloned();
    }
}

/// One wanted object.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// The BGPPeer name.
    pub peer: String,
    /// Its status.
    pub status: BGPSessionStateStatus,
}

/// The objects `node` wants for its sessions, by name.
pub fn wanted(node: &str, sessions: &[SessionReport]) -> BTreeMap<String, Wanted> {
    sessions
        .iter()
        .map(|s| {
            let w = Wanted {
                peer: s.peer.clone(),
                status: session_status(node, s),
            };
            (session_name(node, &s.peer), w)
        })
        .collect()
}

/// Writes to do (pure).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SessionDiff {
    /// Objects to write: name, and whether the metadata (labels, owner) must be applied too
    /// (the object is missing or was written by an earlier Pod).
    pub write: Vec<(String, bool)>,
    /// Objects of this node whose session is gone.
    pub delete: Vec<String>,
}

/// Diffs this node's existing objects (listed by its node label) against `want`.
pub fn diff(
    me: &str,
    owner: &PodOwner,
    existing: &[BGPSessionState],
    want: &BTreeMap<String, Wanted>,
) -> SessionDiff {
    let mut out = SessionDiff::default();
    let mut seen = BTreeSet::new();
    for obj in existing {
        let Some(name) = obj.metadata.name.as_deref() else {
            continue;
        };
        let node = obj
            .status
            .as_ref()
            .and_then(|s| s.node.as_deref())
            .or_else(|| {
                let labels = obj.metadata.labels.as_ref();
                labels
                    .and_then(|l| l.get(LABEL_STATUS_NODE))
                    .map(String::as_str)
            });
        if node != Some(me) {
            continue;
        }
        seen.insert(name.to_owned());
        match want.get(name) {
            None => out.delete.push(name.to_owned()),
            Some(w) => {
                let labels = obj.metadata.labels.clone().unwrap_or_default();
                let meta_ok = owner.owns(obj.metadata.owner_references.as_deref())
                    && session_labels(me, &w.peer)
                        .iter()
                        .all(|(k, v)| labels.get(k) == Some(v));
                if !meta_ok || obj.status.as_ref() != Some(&w.status) {
                    out.write.push((name.to_owned(), !meta_ok));
                }
            }
        }
    }
    for name in want.keys().filter(|n| !seen.contains(*n)) {
        out.write.push((name.clone(), true));
    }
    out.write.sort();
    out
}

/// At most one write per object per interval; pure (the caller passes the time).
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    last: BTreeMap<String, Instant>,
}

impl Pacer {
    /// A pacer allowing one write per object per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: BTreeMap::new(),
        }
    }

    /// None when `name` may be written at `now`, else how long until it may.
    pub fn wait(&self, name: &str, now: Instant) -> Option<Duration> {
        let next = *self.last.get(name)? + self.interval;
        (next > now).then(|| next - now)
    }

    /// Records a write of `name` at `now`.
    pub fn wrote(&mut self, name: &str, now: Instant) {
        self.last.insert(name.to_owned(), now);
    }

    /// Forgets objects not in `keep` (deleted sessions).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.last.retain(|n, _| keep(n));
    }

    /// Splits `writes` into those allowed at `now` (recorded as written) and the time until
    /// the first deferred one is due (None when nothing is deferred).
    pub fn admit(
        &mut self,
        writes: Vec<(String, bool)>,
        now: Instant,
    ) -> (Vec<(String, bool)>, Option<Duration>) {
        let mut due: Option<Duration> = None;
        let mut now_writes = Vec::new();
        for w in writes {
            match self.wait(&w.0, now) {
                Some(wait) => due = Some(due.map_or(wait, |d| d.min(wait))),
                None => {
                    self.wrote(&w.0, now);
                    now_writes.push(w);
                }
            }
        }
        (now_writes, due)
    }
}

/// The server-side apply body of an object's metadata or status.
fn apply_body(part: &str, value: Value) -> Value {
    let mut body = json!({
        "apiVersion": BGPSessionState::api_version(&()),
        "kind": BGPSessionState::kind(&()),
    });
    body[part] = value;
    body
}

/// Writes this node's BGPSessionState objects.
pub struct SessionWriter {
    api: Api<BGPSessionState>,
    node: String,
    owner: PodOwner,
    pacer: Pacer,
    /// Whether the missing CRD was reported (once, not on every pass).
    crd_missing_reported: bool,
    /// BFD states by BGPPeer name (set by the BGP status loop).
    pub bfd: BTreeMap<String, String>,
}

impl SessionWriter {
    /// The writer of node `node`'s sessions in `namespace`, owned by the speaker Pod `owner`.
    pub fn new(client: Client, namespace: &str, node: &str, owner: PodOwner) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            node: node.to_owned(),
            owner,
            pacer: Pacer::new(MIN_INTERVAL),
            crd_missing_reported: false,
            bfd: BTreeMap::new(),
        }
    }

    /// Watches this node's objects, waking `wake` on every change.
    pub fn watch(&self, wake: Arc<Notify>) {
        watch_selected(self.api.clone(), &own_objects(&self.node), wake);
    }

    /// Makes the objects match `sessions` as far as the pacing allows; returns when the next
    /// deferred write is due.
    pub async fn sync(
        &mut self,
        sessions: &[SessionReport],
        now: Instant,
    ) -> Result<Option<Duration>, kube::Error> {
        let mut want = wanted(&self.node, sessions);
        with_bfd(&mut want, &self.bfd);
        let params = ListParams::default().labels(&own_objects(&self.node));
        let existing = match self.api.list(&params).await {
            Ok(list) => list.items,
            // The CRD is not installed (e.g. a Helm upgrade, which never updates CRDs): the
            // other status keeps working; the next periodic pass looks again.
            Err(e) if gone(&e) => {
                if !self.crd_missing_reported {
                    tracing::warn!(
                        "CRD bgpsessionstates.ferrolb.io not installed: no per-session status until it is"
                    );
                    self.crd_missing_reported = true;
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.crd_missing_reported = false;
        let d = diff(&self.node, &self.owner, &existing, &want);
        for name in &d.delete {
            delete_quietly(&self.api, name).await?;
        }
        self.pacer.retain(|n| want.contains_key(n));
        let (writes, due) = self.pacer.admit(d.write, now);
        for (name, meta) in writes {
            self.write(&name, &want[&name], meta).await?;
        }
        Ok(due)
    }

    async fn write(&self, name: &str, w: &Wanted, meta: bool) -> Result<(), kube::Error> {
        if meta {
            self.apply_meta(name, w).await?;
        }
        match self.apply_status(name, w).await {
            Err(e) if gone(&e) && !meta => {
                tracing::debug!(%name, "BGPSessionState deleted meanwhile; creating it again");
                self.apply_meta(name, w).await?;
                self.apply_status(name, w).await
            }
            r => r,
        }
    }

    /// Creates the object or brings its labels and owner back (server-side apply).
    async fn apply_meta(&self, name: &str, w: &Wanted) -> Result<(), kube::Error> {
        let meta = json!({
            "name": name,
            "labels": session_labels(&self.node, &w.peer),
            "ownerReferences": self.owner.references(),
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let body = Patch::Apply(apply_body("metadata", meta));
        self.api.patch(name, &params, &body).await.map(drop)
    }

    async fn apply_status(&self, name: &str, w: &Wanted) -> Result<(), kube::Error> {
        let status = serde_json::to_value(&w.status).unwrap_or(Value::Null);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let body = Patch::Apply(apply_body("status", status));
        self.api.patch_status(name, &params, &body).await.map(drop)
    }
}

#[cfg(test)]
mod tests;
