//! The BFD thread: sockets, timers and the sessions (see the parent module).

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferrolb_bfd::{Action, ControlPacket, Demux, Session, State};
use ferrolb_net::bfd as net;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{BfdReport, BfdSessionReport, Key, Want, takes_bgp_down, wanted};
use crate::metrics::{BfdCounters, Metrics};
use crate::plan::Plan;

/// Nice value of the BFD thread (if the speaker may lower it).
const BFD_NICE: i32 = -10;

/// UDP ports (RFC 5881 / 5883 by default; tests use others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Where single-hop packets are received.
    pub listen_single: u16,
    /// Where multihop packets are received.
    pub listen_multi: u16,
    /// Where single-hop packets are sent.
    pub peer_single: u16,
    /// Where multihop packets are sent.
    pub peer_multi: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            listen_single: net::SINGLE_HOP_PORT,
            listen_multi: net::MULTI_HOP_PORT,
            peer_single: net::SINGLE_HOP_PORT,
            peer_multi: net::MULTI_HOP_PORT,
        }
    }
}

/// The runtime's settings.
#[derive(Debug, Clone)]
pub struct BfdConfig {
    /// This node.
    pub node: String,
    /// UDP ports.
    pub ports: Ports,
    /// Address the receive sockets bind (`None`: the unspecified address of each family).
    pub listen: Option<IpAddr>,
}

/// One received datagram, as the reader tasks hand it over.
struct Datagram {
    multihop: bool,
    got: net::Received,
    bytes: [u8; 64],
}

struct Live {
    want: Want,
    session: Session,
    sender: Option<UdpSocket>,
    counters: BfdCounters,
    error: Option<String>,
}

struct Runner {
    cfg: BfdConfig,
    metrics: Arc<Metrics>,
    bgp_down: mpsc::UnboundedSender<String>,
    out: watch::Sender<Arc<BfdReport>>,
    epoch: Instant,
    seeds: RandomState,
    demux: Demux<Key>,
    live: BTreeMap<Key, Live>,
    /// Receive sockets started, by (IPv6, multihop); `Err` if binding failed.
    listeners: BTreeMap<(bool, bool), Result<(), String>>,
    rx_tx: mpsc::Sender<Datagram>,
}

/// Starts the BFD thread: returns the report channel and the thread (it ends after sending
/// AdminDown when `shutdown` turns true or the plan channel closes). `bgp_down` receives the
/// name of each BGPPeer whose BFD session failed.
pub fn spawn(
    cfg: BfdConfig,
    plan_rx: watch::Receiver<Arc<Plan>>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    bgp_down: mpsc::UnboundedSender<String>,
) -> io::Result<(watch::Receiver<Arc<BfdReport>>, std::thread::JoinHandle<()>)> {
    let (out, report_rx) = watch::channel(Arc::new(BfdReport::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("bfd".into())
        .spawn(move || {
            // Best effort (needs CAP_SYS_NICE): packets and timers ahead of the rest of the node.
            match net::set_thread_nice(BFD_NICE) {
                Ok(()) => tracing::info!(nice = BFD_NICE, "BFD thread priority raised"),
                Err(e) => {
                    tracing::info!(error = %e, "BFD thread priority not raised (CAP_SYS_NICE)")
                }
            }
            rt.block_on(async move {
                let (rx_tx, rx) = mpsc::channel(1024);
                let seeds = RandomState::new();
                let r = Runner {
                    cfg,
                    metrics,
                    bgp_down,
                    out,
                    epoch: Instant::now(),
                    demux: Demux::new(seed(&seeds, 0) as u32),
                    seeds,
                    live: BTreeMap::new(),
                    listeners: BTreeMap::new(),
                    rx_tx,
                };
                r.run(plan_rx, rx, shutdown).await;
            });
        })?;
    Ok((report_rx, thread))
}

fn seed(s: &RandomState, salt: u64) -> u64 {
    let mut h = s.build_hasher();
    h.write_u64(salt);
    h.finish()
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Reads one receive socket forever, handing datagrams to the runner.
async fn read_loop(sock: UdpSocket, multihop: bool, tx: mpsc::Sender<Datagram>) {
    loop {
        let mut bytes = [0u8; 64];
        let got = sock
            .async_io(Interest::READABLE, || {
                net::recv(&SockRef::from(&sock), &mut bytes)
            })
            .await;
        match got {
            Ok(got) => {
                // A full queue drops the packet (the sessions tolerate loss; no backlog).
                let _ = tx.try_send(Datagram {
                    multihop,
                    got,
                    bytes,
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "BFD receive error");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

fn to_tokio(s: socket2::Socket) -> io::Result<UdpSocket> {
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

impl Runner {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    async fn run(
        mut self,
        mut plan_rx: watch::Receiver<Arc<Plan>>,
        mut rx: mpsc::Receiver<Datagram>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let first = plan_rx.borrow_and_update().clone();
        self.on_plan(&first);
        loop {
            let deadline = self
                .live
                .values()
                .filter_map(|l| l.session.next_deadline())
                .min()
                .map(|d| self.epoch + d);
            tokio::select! {
                biased;
                r = shutdown.wait_for(|s| *s) => {
                    let _ = r;
                    break;
                }
                Some(d) = rx.recv() => self.on_datagram(&d),
                () = sleep_opt(deadline) => self.on_tick(),
                r = plan_rx.changed() => {
                    if r.is_err() { break; }
                    let plan = plan_rx.borrow_and_update().clone();
                    self.on_plan(&plan);
                }
            }
        }
        let keys: Vec<Key> = self.live.keys().copied().collect();
        for k in keys {
            self.remove(k);
        }
        self.publish();
    }

    fn listener(&mut self, key: Key) -> Result<(), String> {
        let slot = (key.peer.is_ipv6(), key.multihop);
        if let Some(r) = self.listeners.get(&slot) {
            return r.clone();
        }
        let ip = self.cfg.listen.unwrap_or(if key.peer.is_ipv6() {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        let port = if key.multihop {
            self.cfg.ports.listen_multi
        } else {
            self.cfg.ports.listen_single
        };
        let addr = SocketAddr::new(ip, port);
        let r = net::listener(addr)
            .and_then(to_tokio)
            .map(|s| {
                tokio::spawn(read_loop(s, key.multihop, self.rx_tx.clone()));
                tracing::info!(%addr, "BFD receive socket open");
            })
            .map_err(|e| format!("BFD receive socket {addr}: {e}"));
        if let Err(e) = &r {
            tracing::error!(error = %e, "BFD sessions of this kind cannot run");
        }
        self.listeners.insert(slot, r.clone());
        r
    }

    fn sender(&self, want: &Want) -> Result<UdpSocket, String> {
        let port = if want.key.multihop {
            self.cfg.ports.peer_multi
        } else {
            self.cfg.ports.peer_single
        };
        let peer = SocketAddr::new(want.key.peer, port);
        let salt = u64::from(u32::from(port)) ^ u64::from(want.key.multihop);
        let port_seed = (seed(&self.seeds, salt ^ hash_ip(want.key.peer)) & 0xffff) as u16;
        net::sender(peer, want.source, port_seed)
            .and_then(to_tokio)
            .map_err(|e| format!("BFD send socket to {peer}: {e}"))
    }

    fn on_plan(&mut self, plan: &Plan) {
        let (want, skipped) = wanted(plan, &self.cfg.node);
        for (peer, why) in skipped {
            tracing::warn!(peer = %peer, reason = %why, "no BFD session for this BGPPeer");
        }
        let gone: Vec<Key> = self
            .live
            .keys()
            .filter(|k| !want.contains_key(k))
            .copied()
            .collect();
        for k in gone {
            self.remove(k);
        }
        let now = self.now();
        for (key, w) in want {
            match self.live.get_mut(&key) {
                Some(l) if l.want == w => {}
                Some(l) if l.want.source == w.source => {
                    let cfg = w.params.session_config();
                    l.want = w;
                    let acts = l.session.set_config(cfg, now);
                    tracing::info!(peer = %key.peer, "BFD profile changed: re-tuning (poll sequence)");
                    self.apply(key, acts);
                }
                Some(_) => {
                    self.remove(key);
                    self.add(w, now);
                }
                None => self.add(w, now),
            }
        }
        self.publish();
    }

    fn add(&mut self, want: Want, now: Duration) {
        let key = want.key;
        let discr = self.demux.insert(key);
        let error = self.listener(key).err();
        let (sender, error) = match (error, self.sender(&want)) {
            (None, Ok(s)) => (Some(s), None),
            (Some(e), _) | (None, Err(e)) => (None, Some(e)),
        };
        let session = Session::new(
            want.params.session_config(),
            discr,
            seed(&self.seeds, u64::from(discr)),
            now,
        );
        tracing::info!(peer = %key.peer, multihop = key.multihop, discriminator = discr,
            bgp_peer = %want.peer_name, error = ?error, "BFD session added");
        let counters = BfdCounters::default();
        self.metrics.set_bfd_session(key.peer, &counters);
        self.live.insert(
            key,
            Live {
                want,
                session,
                sender,
                counters,
                error,
            },
        );
        self.on_tick();
    }

    /// Says AdminDown once and forgets the session.
    fn remove(&mut self, key: Key) {
        let now = self.now();
        if let Some(mut l) = self.live.remove(&key) {
            for a in l.session.admin_down(now) {
                if let (Action::Send(p), Some(s)) = (a, &l.sender) {
                    let _ = s.try_send(&p.encode());
                }
            }
            tracing::info!(peer = %key.peer, "BFD session removed");
        }
        self.demux.remove(&key);
        self.metrics.remove_bfd_session(key.peer);
    }

    fn on_tick(&mut self) {
        let now = self.now();
        let keys: Vec<Key> = self
            .live
            .iter()
            .filter(|(_, l)| l.session.next_deadline().is_some_and(|d| d <= now))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            if let Some(l) = self.live.get_mut(&k) {
                let acts = l.session.tick(now);
                self.apply(k, acts);
            }
        }
        self.publish();
    }

    fn on_datagram(&mut self, d: &Datagram) {
        let len = d.got.len.min(d.bytes.len());
        let pkt = match ControlPacket::decode(&d.bytes[..len]) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(source = %d.got.source, error = %e, "BFD packet discarded");
                return;
            }
        };
        let source = Key {
            peer: d.got.source.ip(),
            multihop: d.multihop,
        };
        let Some(&key) = self.demux.lookup(&pkt, &source) else {
            tracing::debug!(source = %d.got.source, "BFD packet for no session");
            return;
        };
        // A known discriminator from another address or port kind is not our peer.
        if key != source {
            tracing::debug!(source = %d.got.source, "BFD packet from the wrong peer");
            return;
        }
        let now = self.now();
        let Some(l) = self.live.get_mut(&key) else {
            return;
        };
        let min_ttl = if key.multihop {
            l.want.params.minimum_ttl
        } else {
            ferrolb_bfd::SINGLE_HOP_TTL
        };
        if !d.got.ttl_at_least(min_ttl) {
            tracing::debug!(source = %d.got.source, ttl = ?d.got.ttl, min_ttl, "BFD packet dropped (TTL)");
            return;
        }
        l.counters.input += 1;
        let acts = l.session.receive(&pkt, now);
        self.apply(key, acts);
        self.publish();
    }

    fn apply(&mut self, key: Key, actions: Vec<Action>) {
        let Some(l) = self.live.get_mut(&key) else {
            return;
        };
        let mut reset_bgp = false;
        for a in actions {
            match a {
                Action::Send(p) => {
                    if let Some(s) = &l.sender {
                        match s.try_send(&p.encode()) {
                            Ok(_) => l.counters.output += 1,
                            Err(e) => {
                                tracing::debug!(peer = %key.peer, error = %e, "BFD send failed")
                            }
                        }
                    }
                }
                Action::StateChanged { from, to, diag } => {
                    tracing::info!(peer = %key.peer, bgp_peer = %l.want.peer_name,
                        from = from.name(), to = to.name(), ?diag, "BFD session state");
                    if to == State::Up {
                        l.counters.up_events += 1;
                    }
                    if from == State::Up {
                        l.counters.down_events += 1;
                    }
                    reset_bgp |= takes_bgp_down(from, to, diag, l.session.remote_state());
                }
            }
        }
        l.counters.up = l.session.state() == State::Up;
        self.metrics.set_bfd_session(key.peer, &l.counters);
        if reset_bgp {
            let _ = self.bgp_down.send(l.want.peer_name.clone());
        }
    }

    fn publish(&self) {
        let report = BfdReport {
            sessions: self
                .live
                .iter()
                .map(|(k, l)| {
                    (
                        *k,
                        BfdSessionReport {
                            peer_name: l.want.peer_name.clone(),
                            key: *k,
                            state: l.session.state(),
                            diag: l.session.diag(),
                            remote_state: l.session.remote_state(),
                            error: l.error.clone(),
                        },
                    )
                })
                .collect(),
        };
        self.out.send_if_modified(|cur| {
            let changed = **cur != report;
            if changed {
                *cur = Arc::new(report.clone());
            }
            changed
        });
    }
}

fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v as u64) ^ ((v >> 64) as u64)
        }
    }
}
