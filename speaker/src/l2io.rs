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
//! Malformed frames are dropped and counted ([`Counters`]); nothing a peer sends can panic
//! the loop. Only `CAP_NET_RAW` is needed (packet sockets); multicast joins need none.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb_l2::iface::{self, InterfaceInfo};
use ferrolb_l2::liveness::LivenessConfig;
use ferrolb_l2::owner::{Action, GarpSchedule, Interfaces};
use ferrolb_l2::packet::MacAddr;
use ferrolb_l2::packet::arp::{self, ArpFrame};
use ferrolb_l2::packet::ndp::{self, NaSource, NdpMessage};
use ferrolb_l2::{L2Node, Output};
use ferrolb_net::{Filter, PacketSocket, SolicitedNodeGroups};
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::plan::{self, Decisions, Plan};

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

/// Counters (logged periodically and at exit).
#[derive(Debug, Default)]
pub struct Counters {
    /// ARP requests received.
    pub arp_requests: AtomicU64,
    /// ARP replies sent.
    pub arp_replies: AtomicU64,
    /// Neighbor Solicitations received.
    pub ns_received: AtomicU64,
    /// Neighbor Advertisements sent (solicited).
    pub na_sent: AtomicU64,
    /// Gratuitous ARP / unsolicited NA frames sent.
    pub gratuitous_sent: AtomicU64,
    /// Frames dropped because they did not parse.
    pub malformed_frames: AtomicU64,
    /// Heartbeats rejected (bad tag, replay, malformed…).
    pub rejected_heartbeats: AtomicU64,
    /// The Prometheus view (per-IP series under MetalLB's names).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Counters {
    fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// One-line summary.
    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "arp_requests={} arp_replies={} ns_received={} na_sent={} gratuitous_sent={} malformed_frames={} rejected_heartbeats={}",
            g(&self.arp_requests),
            g(&self.arp_replies),
            g(&self.ns_received),
            g(&self.na_sent),
            g(&self.gratuitous_sent),
            g(&self.malformed_frames),
            g(&self.rejected_heartbeats)
        )
    }
}

/// Which IPs are answered on which interfaces (read by the responder tasks).
type View = Arc<RwLock<BTreeMap<IpAddr, Interfaces>>>;

fn answers(view: &View, ip: IpAddr, ifname: &str) -> bool {
    let v = view.read().unwrap_or_else(|e| e.into_inner());
    v.get(&ip).is_some_and(|i| i.contains(ifname))
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
    /// Shared heartbeat secret.
    pub secret: Vec<u8>,
    /// `--ignore-exclude-lb`.
    pub ignore_exclude_lb: bool,
    /// Gratuitous schedule.
    pub garp: GarpSchedule,
    /// Graceful leave grace period (default: 2 heartbeat intervals + 100 ms).
    pub leave_grace: Option<Duration>,
}

struct Raw(PacketSocket);

impl AsRawFd for Raw {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_socket().as_raw_fd()
    }
}

fn open(ifindex: u32, filter: Filter) -> std::io::Result<Arc<AsyncFd<Raw>>> {
    let s = PacketSocket::open(ifindex, filter)?;
    s.set_nonblocking(true)?;
    // `AsyncFd::new` is deprecated in favour of the `unsafe` `register` (this crate forbids
    // unsafe). Its I/O-safety requirement holds here: `Raw` owns the socket, so the fd stays
    // open and unchanged for the whole life of the `AsyncFd`.
    #[allow(deprecated)]
    let fd = AsyncFd::new(Raw(s))?;
    Ok(Arc::new(fd))
}

struct Iface {
    info: InterfaceInfo,
    mac: MacAddr,
    arp: Option<Arc<AsyncFd<Raw>>>,
    ns: Option<Arc<AsyncFd<Raw>>>,
    na_source: NaSource,
    groups: Option<SolicitedNodeGroups>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Iface {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone, Copy)]
enum Proto {
    Arp,
    Ndp,
}

async fn responder(
    fd: Arc<AsyncFd<Raw>>,
    proto: Proto,
    ifname: String,
    mac: MacAddr,
    na_source: NaSource,
    view: View,
    counters: Arc<Counters>,
) {
    let mut buf = [0u8; 1600];
    loop {
        let mut guard = match fd.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(interface = %ifname, error = %e, "responder stopped");
                return;
            }
        };
        loop {
            let n = match guard.try_io(|inner| inner.get_ref().0.recv(&mut buf)) {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    tracing::debug!(interface = %ifname, error = %e, "receive failed");
                    break;
                }
                Err(_would_block) => break,
            };
            let frame = &buf[..n];
            let reply = match proto {
                Proto::Arp => answer_arp(frame, mac, &ifname, &view, &counters),
                Proto::Ndp => answer_ns(frame, mac, na_source, &ifname, &view, &counters),
            };
            if let Some(reply) = reply
                && let Err(e) = fd.get_ref().0.send(&reply)
            {
                tracing::debug!(interface = %ifname, error = %e, "sending reply failed");
            }
        }
    }
}

fn answer_arp(
    frame: &[u8],
    mac: MacAddr,
    ifname: &str,
    view: &View,
    c: &Counters,
) -> Option<Vec<u8>> {
    let req = match ArpFrame::parse(frame) {
        Ok(r) => r,
        Err(e) => {
            Counters::inc(&c.malformed_frames);
            c.metrics.malformed_frames.inc();
            tracing::trace!(interface = %ifname, error = %e, "dropped malformed ARP frame");
            return None;
        }
    };
    Counters::inc(&c.arp_requests);
    let rep = arp::respond(&req, mac, |ip| answers(view, IpAddr::V4(ip), ifname)).ok()?;
    Counters::inc(&c.arp_replies);
    // MetalLB counts requests for announced IPs only (`internal/layer2/arp.go`).
    c.metrics.request(IpAddr::V4(req.target_ip));
    c.metrics.response(IpAddr::V4(req.target_ip));
    Some(rep.encode().to_vec())
}

fn answer_ns(
    frame: &[u8],
    mac: MacAddr,
    source: NaSource,
    ifname: &str,
    view: &View,
    c: &Counters,
) -> Option<Vec<u8>> {
    let ns = match ndp::parse(frame) {
        Ok(NdpMessage::Solicitation(ns)) => ns,
        Ok(_) => return None,
        Err(e) => {
            Counters::inc(&c.malformed_frames);
            c.metrics.malformed_frames.inc();
            tracing::trace!(interface = %ifname, error = %e, "dropped malformed NDP frame");
            return None;
        }
    };
    Counters::inc(&c.ns_received);
    let na = ndp::respond(&ns, mac, source, ndp::METALLB_SOLICITED_OVERRIDE, |ip| {
        answers(view, IpAddr::V6(ip), ifname)
    })
    .ok()?;
    Counters::inc(&c.na_sent);
    c.metrics.request(IpAddr::V6(ns.target));
    c.metrics.response(IpAddr::V6(ns.target));
    Some(na.encode())
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

struct Shell {
    me: String,
    ifaces: BTreeMap<String, Iface>,
    all_names: BTreeSet<String>,
    view: View,
    counters: Arc<Counters>,
    joined: BTreeSet<(IpAddr, String)>,
    peers: Vec<SocketAddr>,
    /// Senders of authenticated heartbeats (a Node without an InternalIP yet, or with another
    /// address, is still answered, so peer discovery is never one-sided).
    heard: BTreeMap<SocketAddr, Instant>,
}

impl Shell {
    /// Where heartbeats go: the Nodes' InternalIPs plus every recently heard sender.
    fn targets(&mut self, now: Instant, keep: Duration) -> Vec<SocketAddr> {
        self.heard
            .retain(|_, t| now.saturating_duration_since(*t) < keep);
        let mut all: BTreeSet<SocketAddr> = self.peers.iter().copied().collect();
        all.extend(self.heard.keys().copied());
        all.into_iter().collect()
    }
}

impl Shell {
    /// Rescans interfaces; returns whether the responder set changed.
    fn rescan(&mut self) -> bool {
        let list = match ferrolb_net::list_interfaces() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "listing interfaces failed");
                return false;
            }
        };
        self.all_names = list.iter().map(|i| i.name.clone()).collect();
        let mut changed = false;
        let mut seen = BTreeSet::new();
        for info in list {
            let r = iface::responders(&info, iface::excluded_by_default);
            let Some(mac) = info.mac else { continue };
            if !(r.arp || r.ndp) {
                continue;
            }
            seen.insert(info.name.clone());
            if self
                .ifaces
                .get(&info.name)
                .is_some_and(|i| i.info.index == info.index && i.info.link_local == info.link_local)
            {
                continue;
            }
            match self.open_iface(info.clone(), mac, r.arp, r.ndp) {
                Ok(i) => {
                    tracing::info!(interface = %info.name, arp = r.arp, ndp = r.ndp, %mac, "responders started");
                    self.ifaces.insert(info.name.clone(), i);
                    // Re-join groups on the new socket.
                    self.joined.retain(|(_, n)| *n != info.name);
                    changed = true;
                }
                Err(e) => {
                    tracing::warn!(interface = %info.name, error = %e, "cannot open responders")
                }
            }
        }
        let before = self.ifaces.len();
        self.ifaces.retain(|n, _| seen.contains(n));
        self.joined.retain(|(_, n)| seen.contains(n));
        changed |= before != self.ifaces.len();
        if changed {
            self.sync_groups();
        }
        changed
    }

    fn open_iface(
        &self,
        info: InterfaceInfo,
        mac: MacAddr,
        want_arp: bool,
        want_ndp: bool,
    ) -> std::io::Result<Iface> {
        let mut tasks = Vec::new();
        // Target-sourced NAs (see the module docs): ndisc6 ignores link-local-sourced replies.
        let na_source = NaSource::Target;
        let arp = if want_arp {
            let fd = open(info.index, Filter::ArpRequests)?;
            tasks.push(tokio::spawn(responder(
                fd.clone(),
                Proto::Arp,
                info.name.clone(),
                mac,
                na_source,
                self.view.clone(),
                self.counters.clone(),
            )));
            Some(fd)
        } else {
            None
        };
        let (ns, groups) = if want_ndp {
            let fd = open(info.index, Filter::NeighborSolicitations)?;
            tasks.push(tokio::spawn(responder(
                fd.clone(),
                Proto::Ndp,
                info.name.clone(),
                mac,
                na_source,
                self.view.clone(),
                self.counters.clone(),
            )));
            (Some(fd), Some(SolicitedNodeGroups::new(info.index)?))
        } else {
            (None, None)
        };
        Ok(Iface {
            info,
            mac,
            arp,
            ns,
            na_source,
            groups,
            tasks,
        })
    }

    /// Joins/leaves solicited-node groups so they match the view.
    fn sync_groups(&mut self) {
        let want: BTreeSet<(IpAddr, String)> = {
            let v = self.view.read().unwrap_or_else(|e| e.into_inner());
            v.iter()
                .filter(|(ip, _)| ip.is_ipv6())
                .flat_map(|(ip, ifs)| {
                    self.ifaces
                        .iter()
                        .filter(|(n, i)| i.groups.is_some() && ifs.contains(n))
                        .map(|(n, _)| (*ip, n.clone()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        for (ip, name) in self.joined.difference(&want) {
            if let (IpAddr::V6(v6), Some(g)) = (
                ip,
                self.ifaces.get_mut(name).and_then(|i| i.groups.as_mut()),
            ) && let Err(e) = g.unwatch(*v6)
            {
                tracing::warn!(%ip, interface = %name, error = %e, "leaving solicited-node group failed");
            }
        }
        for (ip, name) in want.difference(&self.joined) {
            if let (IpAddr::V6(v6), Some(g)) = (
                ip,
                self.ifaces.get_mut(name).and_then(|i| i.groups.as_mut()),
            ) && let Err(e) = g.watch(*v6)
            {
                tracing::warn!(%ip, interface = %name, error = %e, "joining solicited-node group failed");
            }
        }
        self.joined = want;
    }

    fn perform(&mut self, act: Action) {
        match act {
            Action::StartAnswering { ip, interfaces } => {
                tracing::info!(%ip, ?interfaces, node = %self.me, "announcing (answering ARP/NDP)");
                self.view
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(ip, interfaces);
            }
            Action::StopAnswering { ip } => {
                tracing::info!(%ip, node = %self.me, "stopped announcing");
                self.view
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&ip);
            }
            Action::SendGratuitous { ip, interfaces } => {
                for (name, i) in &self.ifaces {
                    if !interfaces.contains(name) {
                        continue;
                    }
                    let frames: Vec<Vec<u8>> = match (ip, &i.arp, &i.ns) {
                        (IpAddr::V4(v4), Some(_), _) => arp::gratuitous(i.mac, v4)
                            .iter()
                            .map(|f| f.encode().to_vec())
                            .collect(),
                        (IpAddr::V6(v6), _, Some(_)) => {
                            vec![ndp::unsolicited(i.mac, i.na_source, v6).encode()]
                        }
                        _ => continue,
                    };
                    let sock = if ip.is_ipv4() { &i.arp } else { &i.ns };
                    if let Some(sock) = sock {
                        for f in frames {
                            match sock.get_ref().0.send(&f) {
                                Ok(_) => {
                                    Counters::inc(&self.counters.gratuitous_sent);
                                    self.counters.metrics.gratuitous(ip);
                                }
                                Err(e) => {
                                    tracing::debug!(%ip, interface = %name, error = %e, "gratuitous send failed")
                                }
                            }
                        }
                    }
                }
            }
        }
    }
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

/// Runs the L2 speaker until `shutdown` resolves and the graceful handover is over.
pub async fn run(
    cfg: L2Config,
    mut plan_rx: watch::Receiver<Arc<Plan>>,
    report: watch::Sender<Decisions>,
    shutdown: impl std::future::Future<Output = ()>,
    counters: Arc<Counters>,
) -> Result<(), L2Error> {
    let udp = UdpSocket::bind(cfg.bind)
        .await
        .map_err(|source| L2Error::Io {
            what: format!("heartbeat socket {}", cfg.bind),
            source,
        })?;
    let start = Instant::now();
    let mut node = L2Node::new(
        &cfg.node,
        wall_ms(),
        &cfg.secret,
        cfg.liveness.clone(),
        cfg.garp.clone(),
        start,
    )?;
    if let Some(g) = cfg.leave_grace {
        node = node.with_leave_grace(g);
    }
    let mut shell = Shell {
        me: cfg.node.clone(),
        ifaces: BTreeMap::new(),
        all_names: BTreeSet::new(),
        view: Arc::new(RwLock::new(BTreeMap::new())),
        counters: counters.clone(),
        joined: BTreeSet::new(),
        peers: Vec::new(),
        heard: BTreeMap::new(),
    };
    let keep = cfg.liveness.dead_after * 10;
    shell.rescan();
    if shell.ifaces.is_empty() {
        tracing::warn!("no interface is eligible for ARP/NDP responders");
    }
    let mut plan = plan_rx.borrow_and_update().clone();
    let apply_plan = |node: &mut L2Node, shell: &mut Shell, plan: &Plan| {
        shell.peers = peers(plan, &cfg.node, cfg.bind);
        node.membership_mut()
            .set_expected_peers(plan.nodes.keys().map(String::as_str));
    };
    apply_plan(&mut node, &mut shell, &plan);
    tracing::info!(node = %cfg.node, bind = %cfg.bind, peers = ?shell.peers, "L2 speaker running");

    let mut rescan = tokio::time::interval(Duration::from_secs(10));
    rescan.tick().await;
    let mut stats = tokio::time::interval(Duration::from_secs(60));
    stats.tick().await;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut leaving = false;
    let mut buf = [0u8; 2048];
    let mut plan_open = true;
    loop {
        let mut decisions = None;
        let outs = node.poll(Instant::now(), wall_ms(), |m| {
            let alive: BTreeSet<&str> = m.alive_members().collect();
            let d = plan::decide(
                &plan,
                &cfg.node,
                &alive,
                &shell.all_names,
                cfg.ignore_exclude_lb,
            );
            let want = d.desired();
            decisions = Some(d);
            want
        });
        let mut owner_changed = false;
        for out in outs {
            match out {
                Output::Heartbeat(hb) => {
                    for p in &shell.targets(Instant::now(), keep) {
                        let _ = udp.try_send_to(&hb, *p);
                    }
                }
                Output::Owner(act) => {
                    owner_changed |= !matches!(act, Action::SendGratuitous { .. });
                    shell.perform(act);
                }
                Output::Member(ev) => tracing::info!(event = ?ev, "membership changed"),
            }
        }
        if owner_changed {
            shell.sync_groups();
        }
        if let Some(d) = decisions {
            report.send_if_modified(|cur| {
                let changed = *cur != d;
                *cur = d;
                changed
            });
        }
        if node.is_finished() {
            break;
        }
        let deadline = tokio::time::Instant::from_std(node.next_deadline());
        tokio::select! {
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    match node.handle_datagram(&buf[..n], Instant::now(), wall_ms()) {
                        Ok(_) => {
                            shell.heard.insert(from, Instant::now());
                        }
                        Err(e) => {
                            Counters::inc(&counters.rejected_heartbeats);
                            counters.metrics.rejected_heartbeats.inc();
                            tracing::debug!(error = %e, "heartbeat rejected");
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "heartbeat receive failed"),
            },
            r = plan_rx.changed(), if plan_open => {
                if r.is_err() {
                    plan_open = false;
                } else {
                    plan = plan_rx.borrow_and_update().clone();
                    apply_plan(&mut node, &mut shell, &plan);
                    node.invalidate();
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = rescan.tick() => {
                if shell.rescan() {
                    node.invalidate();
                }
            }
            _ = stats.tick() => tracing::info!(counters = %counters.summary(), membership = ?node.membership().stats(), "stats"),
            _ = &mut shutdown, if !leaving => {
                leaving = true;
                let bye = node.leave(Instant::now(), wall_ms());
                let targets = shell.targets(Instant::now(), keep);
                for _ in 0..3 {
                    for p in &targets {
                        let _ = udp.try_send_to(&bye, *p);
                    }
                }
                tracing::info!("leaving: handing over to the other speakers");
            }
        }
    }
    report.send_replace(Decisions::default());
    tracing::info!(counters = %counters.summary(), membership = ?node.membership().stats(), "L2 speaker stopped");
    Ok(())
}
