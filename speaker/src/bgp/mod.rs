//! The speaker's BGP runtime: one tokio task per session ([`session`]), driven by the plan.
//!
//! On every new [`Plan`] the manager computes this node's BGP decisions
//! ([`crate::plan::BgpInputs::announce`]: MetalLB's `ShouldAnnounce`, the node's peers by
//! `nodeSelectors`, per peer its routes) and the wanted sessions, keyed by BGPPeer name with
//! their [`SessionIdentity`] (FSM + socket configuration). [`diff_sessions`] decides: an
//! unchanged identity keeps its session and only gets the new routes (UPDATEs for the
//! difference, no reset — MetalLB's FRR modes flap sessions on Service churn, #1944/#2049); a
//! changed identity closes the session (NOTIFICATION Cease) and starts a new one; a peer no
//! longer selecting this node is closed (Cease).
//!
//! On shutdown each session ends as [`ferrolb_bgp::fsm::stop_mode`] decides (see [`session`]):
//! when this node is draining — cordoned (`spec.unschedulable` or the
//! `node.kubernetes.io/unschedulable` taint), marked for deletion or shutting down (see
//! `ferrolb_kube::convert::bgp::node_draining`), or `--drain-on-stop` — every session withdraws
//! its routes, waits `--drain-delay` for the routers to converge on the other nodes, then
//! sends Cease. Otherwise (an upgrade or restart on a healthy node) a session with graceful
//! restart negotiated is closed without a NOTIFICATION, so the router keeps the routes for the
//! restart time, and its report (and BGPSessionState, `Established`) is left as it was: the
//! restarted speaker reads it back to set the R bit ([`restart`]). Any other session sends
//! Cease.
//!
//! What the sessions report is merged into one [`BgpReport`], published on a
//! `tokio::sync::watch` channel whenever it changes (the status writers subscribe), and the
//! session metrics and `metallb_speaker_announced{protocol="bgp"}` are set from the same facts
//! ([`crate::metrics`]).

pub mod restart;
pub mod session;
pub mod trace;
pub mod transport;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_bgp::announce::{self, PeerSpec, ServiceDecision, SessionIdentity, peers_for_node};
use ferrolb_bgp::fsm::{State, StopMode};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::bgp_report::{BgpReport, PeerNames, SessionReport};
use crate::metrics::Metrics;
use crate::plan::Plan;
use session::{PeerRoutes, ReportMsg, SessionTask, Stop};

/// How long shutdown waits for the sessions' Cease (after the drain delay, when draining).
const STOP_GRACE: Duration = Duration::from_secs(2);
/// A session replacing a closed one (changed identity) connects after this delay, so the
/// router has torn the old one down (FRR mishandles a dynamic neighbour reconnecting at once).
const REPLACE_DELAY: Duration = Duration::from_secs(1);

/// The runtime's settings.
#[derive(Debug, Clone)]
pub struct BgpConfig {
    /// This node.
    pub node: String,
    /// `--ignore-exclude-lb`.
    pub ignore_exclude_lb: bool,
    /// `--drain-on-stop`: drain on every stop, whatever the node's state.
    pub drain_on_stop: bool,
    /// `--drain-delay`: how long drained sessions stay up after their withdrawals.
    pub drain_delay: Duration,
    /// This speaker restarted ([`restart`]): the first sessions set the R bit.
    pub restarted: bool,
}

impl BgpConfig {
    /// The longest the runtime's shutdown can take (drain delay + the Cease's grace).
    pub fn max_shutdown(&self) -> Duration {
        self.drain_delay + STOP_GRACE
    }
}

/// What to do with the sessions, by peer name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionDiff {
    /// New peers: start a session.
    pub start: Vec<String>,
    /// Changed identity: close and start again.
    pub restart: Vec<String>,
    /// Gone: close.
    pub stop: Vec<String>,
    /// Unchanged: keep (routes only).
    pub keep: Vec<String>,
}

/// Compares the running sessions with the wanted ones.
pub fn diff_sessions(
    running: &BTreeMap<String, SessionIdentity>,
    wanted: &BTreeMap<String, SessionIdentity>,
) -> SessionDiff {
    let mut d = SessionDiff::default();
    for (name, id) in wanted {
        match running.get(name) {
            None => d.start.push(name.clone()),
            Some(old) if old == id => d.keep.push(name.clone()),
            Some(_) => d.restart.push(name.clone()),
        }
    }
    d.stop = running
        .keys()
        .filter(|n| !wanted.contains_key(*n))
        .cloned()
        .collect();
    d
}

/// Wanted sessions by peer name: the peer and its session identity.
pub type Wanted<'a> = BTreeMap<String, (&'a PeerSpec, SessionIdentity)>;

/// The wanted sessions of a node: identity per peer name (a peer whose identity cannot be
/// built is left out and `(peer, error)` returned).
pub fn wanted_sessions<'a>(
    peers: &[&'a PeerSpec],
    node: &str,
    local: impl Fn(&PeerSpec) -> announce::LocalAddresses,
) -> (Wanted<'a>, Vec<(String, String)>) {
    let mut ok = BTreeMap::new();
    let mut errors = Vec::new();
    for p in peers {
        match p.identity(node, &local(p)) {
            Ok(id) => {
                ok.insert(p.name.clone(), (*p, id));
            }
            Err(e) => errors.push((p.name.clone(), e.to_string())),
        }
    }
    (ok, errors)
}

struct Running {
    identity: SessionIdentity,
    generation: u64,
    routes: watch::Sender<Arc<PeerRoutes>>,
    stop: Option<oneshot::Sender<Stop>>,
    bfd_down: mpsc::UnboundedSender<()>,
    join: JoinHandle<StopMode>,
}

struct Manager {
    cfg: BgpConfig,
    metrics: Arc<Metrics>,
    running: BTreeMap<String, Running>,
    reports: BTreeMap<String, SessionReport>,
    /// Identity errors of peers, reported as their sessions' last error.
    broken: BTreeMap<String, SessionReport>,
    services: BTreeMap<crate::plan::ServiceKey, PeerNames>,
    generation: u64,
    tx: mpsc::UnboundedSender<ReportMsg>,
    out: watch::Sender<Arc<BgpReport>>,
    stopping: Vec<JoinHandle<StopMode>>,
    /// The latest plan says this node is draining.
    node_draining: bool,
    /// Sessions started now set the R bit (this speaker restarted, first plan).
    restarting: bool,
}

/// Starts the BGP runtime: returns the report channel and the task (it ends, after closing
/// every session, when `shutdown` turns true or the plan channel closes). `bfd_down` carries
/// the names of peers whose BFD session failed.
pub fn spawn(
    cfg: BgpConfig,
    plan_rx: watch::Receiver<Arc<Plan>>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    bfd_down: mpsc::UnboundedReceiver<String>,
) -> (watch::Receiver<Arc<BgpReport>>, JoinHandle<()>) {
    let cfg_restarted = cfg.restarted;
    let (out, report_rx) = watch::channel(Arc::new(BgpReport::default()));
    let (tx, rx) = mpsc::unbounded_channel();
    let m = Manager {
        cfg,
        metrics,
        running: BTreeMap::new(),
        reports: BTreeMap::new(),
        broken: BTreeMap::new(),
        services: BTreeMap::new(),
        generation: 0,
        tx,
        out,
        stopping: Vec::new(),
        node_draining: false,
        restarting: cfg_restarted,
    };
    (
        report_rx,
        tokio::spawn(m.run(plan_rx, rx, shutdown, bfd_down)),
    )
}

impl Manager {
    async fn run(
        mut self,
        mut plan_rx: watch::Receiver<Arc<Plan>>,
        mut rx: mpsc::UnboundedReceiver<ReportMsg>,
        mut shutdown: watch::Receiver<bool>,
        mut bfd_down: mpsc::UnboundedReceiver<String>,
    ) {
        let first = plan_rx.borrow_and_update().clone();
        self.on_plan(&first);
        loop {
            tokio::select! {
                r = plan_rx.changed() => {
                    if r.is_err() { break; }
                    let plan = plan_rx.borrow_and_update().clone();
                    self.on_plan(&plan);
                }
                Some((name, generation, report)) = rx.recv() => {
                    self.on_report(name, generation, report);
                }
                Some(name) = bfd_down.recv() => {
                    if let Some(r) = self.running.get(&name) {
                        tracing::warn!(peer = %name, "BFD down: resetting the BGP session");
                        let _ = r.bfd_down.send(());
                    }
                }
                r = shutdown.wait_for(|s| *s) => {
                    let _ = r;
                    break;
                }
            }
        }
        self.shutdown().await;
    }

    fn on_plan(&mut self, plan: &Plan) {
        let node = plan.nodes.get(&self.cfg.node);
        let draining = node.is_some_and(|n| n.draining);
        if draining != self.node_draining {
            tracing::info!(node = %self.cfg.node, draining, "node drain state changed (while draining, a stop drains the BGP sessions)");
            self.node_draining = draining;
        }
        let decisions = plan.bgp.announce(node, self.cfg.ignore_exclude_lb);
        let facts = announce::NodeFacts {
            name: self.cfg.node.clone(),
            labels: node.map(|n| n.labels.clone()).unwrap_or_default(),
            ..Default::default()
        };
        let peers: Vec<&PeerSpec> = if node.is_some() {
            peers_for_node(&plan.bgp.peers, &facts)
        } else {
            Vec::new()
        };
        let (wanted, errors) = wanted_sessions(&peers, &self.cfg.node, |p| {
            transport::local_addresses(&p.transport())
        });
        self.broken.clear();
        for (name, e) in errors {
            tracing::error!(peer = %name, error = %e, "BGPPeer not usable on this node");
            if let Some(p) = peers.iter().find(|p| p.name == name) {
                self.broken.insert(
                    name.clone(),
                    idle_report(p, &SessionReport::default_for(p), Some(e)),
                );
            }
        }
        let running: BTreeMap<String, SessionIdentity> = self
            .running
            .iter()
            .map(|(n, r)| (n.clone(), r.identity.clone()))
            .collect();
        let ids: BTreeMap<String, SessionIdentity> = wanted
            .iter()
            .map(|(n, (_, id))| (n.clone(), id.clone()))
            .collect();
        let diff = diff_sessions(&running, &ids);
        for name in &diff.stop {
            self.stop(name);
        }
        for name in &diff.restart {
            self.stop_task(name);
        }
        // Peers with equal routes share one table, new sessions included.
        let mut cache = Vec::new();
        for (name, delay) in diff
            .restart
            .iter()
            .map(|n| (n, REPLACE_DELAY))
            .chain(diff.start.iter().map(|n| (n, Duration::ZERO)))
        {
            if let Some((p, id)) = wanted.get(name) {
                tracing::info!(peer = %name, address = %id.transport.peer, ?delay, "starting BGP session");
                let routes = shared(&mut cache, peer_routes(p, &decisions));
                self.start(p, id.clone(), routes, delay);
            }
        }
        for name in &diff.keep {
            if let (Some(r), Some((p, _))) = (self.running.get(name), wanted.get(name)) {
                let routes = shared(&mut cache, peer_routes(p, &decisions));
                r.routes.send_if_modified(|cur| {
                    let changed = *cur != routes;
                    // Equal: take the shared copy anyway (no wake-up, same value).
                    *cur = routes;
                    changed
                });
            }
        }
        self.set_services(plan, &decisions);
        self.publish();
        self.restarting = false;
    }

    fn set_services(&mut self, plan: &Plan, decisions: &announce::Plan) {
        let mut services = BTreeMap::new();
        let mut lists: Vec<PeerNames> = Vec::new();
        let mut announced: Vec<(String, Vec<IpAddr>)> = Vec::new();
        for (key, d) in &decisions.services {
            let (ServiceDecision::Announce { peers, .. }, Some(svc)) = (d, plan.bgp.service(key))
            else {
                continue;
            };
            let list = match lists.iter().find(|l| l.iter().eq(peers.iter())) {
                Some(l) => l.clone(),
                None => {
                    let l: PeerNames = peers.iter().cloned().collect();
                    lists.push(l.clone());
                    l
                }
            };
            services.insert(svc.key.clone(), list);
            announced.push((key.clone(), svc.facts.ips.clone()));
        }
        self.metrics.set_announced_bgp(
            &self.cfg.node,
            announced.iter().map(|(k, ips)| (k.clone(), ips.as_slice())),
        );
        self.services = services;
    }

    fn start(
        &mut self,
        peer: &PeerSpec,
        identity: SessionIdentity,
        routes: Arc<PeerRoutes>,
        delay: Duration,
    ) {
        self.generation += 1;
        let (routes_tx, routes_rx) = watch::channel(routes);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (bfd_tx, bfd_rx) = mpsc::unbounded_channel();
        if let Some(old) = self
            .reports
            .get(&peer.name)
            .filter(|r| r.address != identity.transport.peer)
        {
            self.metrics.remove_bgp_session(old.address);
        }
        let previous = self
            .reports
            .get(&peer.name)
            .filter(|r| r.address == identity.transport.peer);
        let report = idle_report(
            peer,
            previous.unwrap_or(&SessionReport::default_for(peer)),
            None,
        );
        let report = SessionReport {
            address: identity.transport.peer,
            ..report
        };
        self.reports.insert(peer.name.clone(), report.clone());
        let task = SessionTask {
            name: peer.name.clone(),
            generation: self.generation,
            identity: identity.clone(),
            routes: routes_rx,
            stop: stop_rx,
            bfd_down: bfd_rx,
            reports: self.tx.clone(),
            report,
            delay,
            restarting: self.restarting,
        };
        let join = tokio::spawn(task.run());
        self.running.insert(
            peer.name.clone(),
            Running {
                identity,
                generation: self.generation,
                routes: routes_tx,
                stop: Some(stop_tx),
                bfd_down: bfd_tx,
                join,
            },
        );
    }

    /// Closes a peer's session for good: its report and metric series go.
    fn stop(&mut self, name: &str) {
        self.stop_task(name);
        if let Some(old) = self.reports.remove(name) {
            self.metrics.remove_bgp_session(old.address);
        }
    }

    /// Closes a peer's session task (Cease), keeping its report for a successor.
    fn stop_task(&mut self, name: &str) {
        if let Some(mut r) = self.running.remove(name) {
            tracing::info!(peer = %name, address = %r.identity.transport.peer, "closing BGP session");
            if let Some(s) = r.stop.take() {
                let _ = s.send(Stop::Cease);
            }
            self.stopping.retain(|j| !j.is_finished());
            self.stopping.push(r.join);
        }
    }

    fn on_report(&mut self, name: String, generation: u64, report: SessionReport) {
        let current = self.running.get(&name).map(|r| r.generation);
        if current != Some(generation) {
            return; // a closed session's last words
        }
        self.metrics.set_bgp_session(
            report.address,
            report.state == State::Established,
            report.updates_sent,
            report.prefixes_sent,
            report.pending_prefixes,
        );
        self.reports.insert(name, report);
        self.publish();
    }

    fn publish(&self) {
        let mut sessions: Vec<SessionReport> = self
            .reports
            .values()
            .chain(self.broken.values())
            .cloned()
            .collect();
        sessions.sort_by(|a, b| a.peer.cmp(&b.peer));
        let report = BgpReport {
            sessions,
            services: self.services.clone(),
        };
        self.out.send_if_modified(|cur| {
            let changed = **cur != report;
            if changed {
                *cur = Arc::new(report.clone());
            }
            changed
        });
    }

    /// Stops every session (drain, graceful-restart keep or Cease, see the module doc) and
    /// publishes what is left: the reports and Services of the sessions kept for a graceful
    /// restart, nothing of the others.
    async fn shutdown(mut self) {
        let draining = self.cfg.drain_on_stop || self.node_draining;
        tracing::info!(
            draining,
            node_draining = self.node_draining,
            drain_on_stop = self.cfg.drain_on_stop,
            drain_delay = ?self.cfg.drain_delay,
            "stopping BGP sessions"
        );
        let stop = Stop::Shutdown {
            draining,
            drain_delay: self.cfg.drain_delay,
        };
        let mut names = Vec::new();
        let mut joins = Vec::new();
        // The routes senders live until the sessions ended (a closed channel would stop them).
        let mut routes = Vec::new();
        for (name, mut r) in std::mem::take(&mut self.running) {
            if let Some(s) = r.stop.take() {
                let _ = s.send(stop);
            }
            names.push(name);
            joins.push(r.join);
            routes.push(r.routes);
        }
        let earlier = futures::future::join_all(std::mem::take(&mut self.stopping));
        let all = futures::future::join(futures::future::join_all(joins), earlier);
        let modes = match tokio::time::timeout(self.cfg.max_shutdown(), all).await {
            Ok((modes, _)) => modes,
            Err(_) => {
                tracing::warn!("BGP sessions did not close in time");
                Vec::new()
            }
        };
        drop(routes);
        let kept: BTreeSet<String> = names
            .into_iter()
            .zip(modes)
            .filter(|(_, m)| matches!(m, Ok(StopMode::KeepForRestart)))
            .map(|(n, _)| n)
            .collect();
        keep_only(&mut self.reports, &mut self.services, &kept, |address| {
            self.metrics.remove_bgp_session(address)
        });
        self.publish();
    }
}

/// After shutdown: only the sessions in `kept` (closed for a graceful restart, their routes
/// still held by the routers) keep their reports and their place in the Services' peers;
/// `removed` is called with the address of every other session.
fn keep_only(
    reports: &mut BTreeMap<String, SessionReport>,
    services: &mut BTreeMap<crate::plan::ServiceKey, PeerNames>,
    kept: &BTreeSet<String>,
    mut removed: impl FnMut(std::net::SocketAddr),
) {
    reports.retain(|name, r| {
        let keep = kept.contains(name);
        if !keep {
            removed(r.address);
        }
        keep
    });
    for peers in services.values_mut() {
        *peers = peers
            .iter()
            .filter(|p| kept.contains(*p))
            .cloned()
            .collect();
    }
    services.retain(|_, peers| !peers.is_empty());
}

/// A peer's routes on this node, as its session takes them: without each route's count of
/// Services (the session does not read it), so peers whose routes differ only there still
/// share one table ([`shared`]).
fn peer_routes(peer: &PeerSpec, decisions: &announce::Plan) -> PeerRoutes {
    PeerRoutes {
        routes: decisions
            .routes
            .get(&peer.name)
            .map(|routes| {
                routes
                    .iter()
                    .map(|(prefix, r)| {
                        let route = announce::Route {
                            local_pref: r.local_pref,
                            communities: r.communities.clone(),
                            services: 0,
                        };
                        (*prefix, route)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ibgp: peer.is_ibgp(),
    }
}

/// One copy of equal route tables: sessions whose peers get the same routes (the usual case:
/// one advertisement for every peer) share it. `cache` lives for one plan.
fn shared(cache: &mut Vec<Arc<PeerRoutes>>, routes: PeerRoutes) -> Arc<PeerRoutes> {
    if let Some(a) = cache.iter().find(|a| ***a == routes) {
        return a.clone();
    }
    let a = Arc::new(routes);
    cache.push(a.clone());
    a
}

/// A report of a session that is not up (keeping the counters of `from`).
fn idle_report(peer: &PeerSpec, from: &SessionReport, error: Option<String>) -> SessionReport {
    SessionReport {
        updates_sent: from.updates_sent,
        last_error: error.or_else(|| from.last_error.clone()),
        ..SessionReport::default_for(peer)
    }
}

impl SessionReport {
    /// An empty report of `peer`.
    pub fn default_for(peer: &PeerSpec) -> Self {
        SessionReport {
            peer: peer.name.clone(),
            address: peer.transport().peer,
            state: State::Idle,
            established_since: None,
            prefixes_sent: 0,
            pending_prefixes: 0,
            updates_sent: 0,
            last_error: None,
        }
    }
}
