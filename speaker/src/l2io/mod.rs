//! The thin I/O shell around `ferrolb_l2::L2Node`: UDP heartbeats, AF_PACKET ARP/NDP
//! responders (one tokio task per interface and protocol, answering straight from a shared
//! ownership view), gratuitous ARP / unsolicited NA, solicited-node multicast joins.
//!
//! MetalLB behaviour reproduced (`internal/layer2/announcer.go`, `arp.go`, `ndp.go`;
//! `metallb-runtime.md` §2.2–2.5):
//! - responders on every interface `ferrolb_l2::iface::responders` allows (UP, not enslaved, not
//!   NOARP, not in the default exclusion list; ARP with `IFF_BROADCAST`, NDP with a link-local
//!   address), rescanned every 10 s;
//! - ARP requests answered with a unicast reply; Neighbor Solicitations with a Source LLA option
//!   answered with a unicast NA (`S=1, O=0` like MetalLB; sourced from the target address,
//!   ferrolb's default, because `ndisc6` ignores MetalLB's link-local-sourced replies — see
//!   `ferrolb_l2::packet::ndp`); the
//!   solicited-node group of every owned IPv6 address is joined on the interfaces it is
//!   announced on;
//! - gratuitous frames only when ownership is gained (the `OwnerTable` schedule), never on
//!   every reconcile (MetalLB #2387); losing ownership removes the IP from the view before the
//!   next frame is read, so answering stops at once.
//!
//! Malformed frames are dropped and counted (in [`crate::metrics::Metrics`], the speaker's one
//! set of counters); nothing a peer sends can panic the loop. Only `CAP_NET_RAW` is needed
//! (packet sockets); multicast joins need none.
//!
//! Layout: [`responder`] (packet sockets and the per-interface answering tasks), [`shell`]
//! (interfaces, ownership view, multicast groups, gratuitous frames, heartbeat targets) and
//! here the one loop: [`run`] waits for the next event and hands it to a named handler of
//! [`Speaker`] (datagram, plan, rescan, stats, shutdown), then polls the sans-IO core.

pub mod exclude;
mod responder;
pub(crate) mod shell;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb_l2::liveness::LivenessConfig;
use ferrolb_l2::owner::{Action, GarpSchedule};
use ferrolb_l2::{L2Node, Output};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::plan::{self, Decisions, Plan};
use shell::Shell;

/// Errors that stop the L2 loop.
#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    /// A socket could not be opened.
    #[error("failed to open {what}: {source}")]
    Io {
        /// Which socket.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The liveness configuration is invalid.
    #[error(transparent)]
    Liveness(#[from] ferrolb_l2::LivenessError),
}

/// Settings of the L2 loop.
#[derive(Debug, Clone)]
pub struct L2Config {
    /// Local node name.
    pub node: String,
    /// UDP address heartbeats are received on.
    pub bind: SocketAddr,
    /// Heartbeat timers and quorum policy.
    pub liveness: LivenessConfig,
    /// Shared heartbeat secret (heartbeats are sent with it).
    pub secret: Vec<u8>,
    /// Also accepted during a key rotation.
    pub previous_secret: Option<Vec<u8>>,
    /// Bound on a peer's incarnation ahead of our clock (`None`: no bound).
    pub max_incarnation_ahead: Option<Duration>,
    /// `--ignore-exclude-lb`.
    pub ignore_exclude_lb: bool,
    /// Gratuitous schedule.
    pub garp: GarpSchedule,
    /// Graceful leave grace period (default: 2 heartbeat intervals + 100 ms).
    pub leave_grace: Option<Duration>,
    /// Interfaces that never get responders (MetalLB's excludel2 list, [`exclude`]).
    pub exclude: ferrolb_l2::iface::ExcludeList,
}

/// The wall clock in ms since the epoch (heartbeat incarnations and timestamps).
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Heartbeat peers: the first InternalIP (of `bind`'s family) of every other Node.
pub fn peers(plan: &Plan, me: &str, bind: SocketAddr) -> Vec<SocketAddr> {
    plan.nodes
        .values()
        .filter(|n| n.name != me)
        .filter_map(|n| {
            n.internal_ips
                .iter()
                .find(|ip| ip.is_ipv4() == bind.is_ipv4())
                .map(|ip| SocketAddr::new(*ip, bind.port()))
        })
        .collect()
}

/// What woke the loop.
enum Event {
    Datagram(std::io::Result<(usize, SocketAddr)>),
    Plan,
    PlanClosed,
    Deadline,
    Rescan,
    Stats,
    Shutdown,
}

/// The running speaker: the sans-IO core, its sockets and the current plan.
struct Speaker {
    cfg: L2Config,
    node: L2Node,
    shell: Shell,
    udp: UdpSocket,
    plan: Arc<Plan>,
    report: watch::Sender<Decisions>,
    metrics: Arc<Metrics>,
    /// How long a heard sender stays a heartbeat target.
    keep: Duration,
    leaving: bool,
}

impl Speaker {
    async fn start(
        cfg: L2Config,
        plan: Arc<Plan>,
        report: watch::Sender<Decisions>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, L2Error> {
        let udp = UdpSocket::bind(cfg.bind)
            .await
            .map_err(|source| L2Error::Io {
                what: format!("heartbeat socket {}", cfg.bind),
                source,
            })?;
        let mut node = L2Node::new(
            &cfg.node,
            wall_ms(),
            &cfg.secret,
            cfg.liveness.clone(),
            cfg.garp.clone(),
            Instant::now(),
        )?;
        node.membership_mut()
            .set_previous_secret(cfg.previous_secret.as_deref())?;
        node.membership_mut()
            .set_max_incarnation_ahead(cfg.max_incarnation_ahead);
        if let Some(g) = cfg.leave_grace {
            node = node.with_leave_grace(g);
        }
        let mut shell = Shell::new(&cfg.node, metrics.clone(), cfg.exclude.clone());
        shell.rescan();
        if shell.is_deaf() {
            tracing::warn!("no interface is eligible for ARP/NDP responders");
        }
        let mut s = Speaker {
            keep: cfg.liveness.dead_after * 10,
            cfg,
            node,
            shell,
            udp,
            plan: Arc::default(),
            report,
            metrics,
            leaving: false,
        };
        s.on_plan(plan);
        tracing::info!(node = %s.cfg.node, bind = %s.cfg.bind, peers = ?s.shell.peers, "L2 speaker running");
        Ok(s)
    }

    /// Polls the core: heartbeats to send, ownership actions, and (when it re-elects) this
    /// node's decisions, reported to the status writer.
    fn poll(&mut self) {
        let mut decisions = None;
        let (plan, cfg, names) = (&self.plan, &self.cfg, &self.shell.all_names);
        let outs = self.node.poll(Instant::now(), wall_ms(), |m| {
            let alive: BTreeSet<&str> = m.alive_members().collect();
            let d = plan::decide(plan, &cfg.node, &alive, names, cfg.ignore_exclude_lb);
            let want = d.desired();
            decisions = Some(d);
            want
        });
        let mut owner_changed = false;
        for out in outs {
            match out {
                Output::Heartbeat(hb) => self.send_heartbeat(&hb),
                Output::Owner(act) => {
                    owner_changed |= !matches!(act, Action::SendGratuitous { .. });
                    self.shell.perform(act);
                }
                Output::Member(ev) => tracing::info!(event = ?ev, "membership changed"),
            }
        }
        if owner_changed {
            self.shell.sync_groups();
        }
        // Without quorum the core released everything without asking `decide`: report that,
        // or the status writer would keep this node's ServiceL2Status objects as if it still
        // announced (and fight the new owner's deletes).
        if decisions.is_none() && !self.node.membership().has_quorum() {
            decisions = Some(self.report.borrow().released());
        }
        if let Some(d) = decisions {
            self.report.send_if_modified(|cur| {
                let changed = *cur != d;
                *cur = d;
                changed
            });
        }
    }

    fn send_heartbeat(&mut self, hb: &[u8]) {
        for p in self.shell.targets(Instant::now(), self.keep) {
            let _ = self.udp.try_send_to(hb, p);
        }
    }

    fn on_datagram(&mut self, r: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        let (n, from) = match r {
            Ok(x) => x,
            Err(e) => return tracing::debug!(error = %e, "heartbeat receive failed"),
        };
        let result = self.node.handle_datagram_from(
            &buf[..n],
            from.ip().to_canonical(),
            Instant::now(),
            wall_ms(),
        );
        // Accepted datagrams move counters too (previous key, restart with an earlier clock).
        self.metrics.heartbeats(&self.node.membership().stats());
        match result {
            Ok(_) => {
                self.shell.heard.insert(from, Instant::now());
            }
            Err(e) => tracing::debug!(error = %e, "heartbeat rejected"),
        }
    }

    fn on_plan(&mut self, plan: Arc<Plan>) {
        self.shell.peers = peers(&plan, &self.cfg.node, self.cfg.bind);
        self.node
            .membership_mut()
            .set_expected_peers(crate::plan::expected_speakers(&plan));
        self.plan = plan;
        self.node.invalidate();
    }

    fn on_rescan(&mut self) {
        if self.shell.rescan() {
            self.node.invalidate();
        }
    }

    fn log_stats(&self, what: &str) {
        tracing::info!(counters = %self.metrics.summary(), membership = ?self.node.membership().stats(), "{what}");
    }

    /// Starts the graceful handover: `leaving` heartbeats (three times), then the core keeps
    /// answering for the grace period.
    fn on_shutdown(&mut self) {
        self.leaving = true;
        let bye = self.node.leave(Instant::now(), wall_ms());
        for _ in 0..3 {
            self.send_heartbeat(&bye);
        }
        tracing::info!("leaving: handing over to the other speakers");
    }
}

/// Runs the L2 speaker until `shutdown` resolves and the graceful handover is over.
pub async fn run(
    cfg: L2Config,
    mut plan_rx: watch::Receiver<Arc<Plan>>,
    report: watch::Sender<Decisions>,
    shutdown: impl std::future::Future<Output = ()>,
    metrics: Arc<Metrics>,
) -> Result<(), L2Error> {
    let plan = plan_rx.borrow_and_update().clone();
    let mut sp = Speaker::start(cfg, plan, report, metrics).await?;
    let mut rescan = tokio::time::interval(Duration::from_secs(10));
    rescan.tick().await;
    let mut stats = tokio::time::interval(Duration::from_secs(60));
    stats.tick().await;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut buf = [0u8; 2048];
    let mut plan_open = true;
    loop {
        sp.poll();
        if sp.node.is_finished() {
            break;
        }
        let deadline = tokio::time::Instant::from_std(sp.node.next_deadline());
        let event = tokio::select! {
            r = sp.udp.recv_from(&mut buf) => Event::Datagram(r),
            r = plan_rx.changed(), if plan_open => if r.is_ok() { Event::Plan } else { Event::PlanClosed },
            _ = tokio::time::sleep_until(deadline) => Event::Deadline,
            _ = rescan.tick() => Event::Rescan,
            _ = stats.tick() => Event::Stats,
            _ = &mut shutdown, if !sp.leaving => Event::Shutdown,
        };
        match event {
            Event::Datagram(r) => sp.on_datagram(r, &buf),
            Event::Plan => sp.on_plan(plan_rx.borrow_and_update().clone()),
            Event::PlanClosed => plan_open = false,
            Event::Deadline => {}
            Event::Rescan => sp.on_rescan(),
            Event::Stats => sp.log_stats("stats"),
            Event::Shutdown => sp.on_shutdown(),
        }
    }
    sp.report.send_replace(Decisions::default());
    sp.log_stats("L2 speaker stopped");
    Ok(())
}
