//! The control-plane VIP loop: the L2 mode's sans-IO core (`ferrolb_l2::L2Node`: the same
//! authenticated heartbeats, election and gratuitous schedule) and its interface shell
//! ([`crate::l2io::shell`]: the same ARP/NDP responders and gratuitous frames), fed a one-IP
//! plan instead of Services, and gated by the local API server's health ([`super::health`]).
//!
//! - **Candidate** (`/readyz` healthy `--health-rise` times): an `L2Node` runs; the election
//!   is [`ferrolb_l2::election::should_announce`] for the VIP over the live members (every
//!   member is eligible: all of them are healthy, or they would not be members). The winner
//!   adds the VIP as a host address on `--interface` (so the node accepts the traffic,
//!   `ferrolb_net::address`), answers ARP/NDP and sends its gratuitous burst.
//! - **Withdrawn** (`--health-fall` failures, or one refused connection): the node leaves with no grace period — its
//!   API server is down, so answering longer would only black-hole clients: it stops
//!   answering and removes the address first, and only then sends `leaving` heartbeats (peers
//!   re-elect at once instead of after `--dead-after`; since they hear of it only after this
//!   node stopped, two nodes never answer together), then stops heartbeating.
//!   A withdrawn node is no member, so no peer ever elects it: the VIP never goes to a node
//!   whose API server is down.
//! - **Back to candidate**: a new `L2Node` (new incarnation) joins; like a restarted speaker
//!   it claims nothing before its view settles (`--dead-after`), while the peers already hear
//!   it and re-elect. The election has no stickiness: if the returning node ranks first for
//!   the VIP it takes it back (a break-before-make handover, see docs/control-plane-vip.md).
//! - SIGTERM: a make-before-break leave as in L2 mode (the default grace period), then exit.
//!   The address is removed on exit and at start (left over by a crash).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_l2::election::{Decision, NodeCandidate, ServiceInput, TrafficPolicy, should_announce};
use ferrolb_l2::liveness::{LivenessConfig, QuorumPolicy};
use ferrolb_l2::owner::{Action, GarpSchedule, Interfaces};
use ferrolb_l2::{L2Node, Output};
use ferrolb_net::address::{self, Op};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::health::{HealthGate, Transition};
use super::probe::{Failure, Prober};
use crate::l2io::shell::Shell;
use crate::l2io::wall_ms;
use crate::metrics::Metrics;

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct CpConfig {
    /// Name in the election.
    pub node: String,
    /// Heartbeat socket address.
    pub bind: SocketAddr,
    /// The other nodes' heartbeat addresses.
    pub peers: Vec<SocketAddr>,
    /// The VIP.
    pub vip: IpAddr,
    /// Its interface.
    pub interface: String,
    /// Heartbeat timers.
    pub interval: Duration,
    /// Silence after which a node is dead.
    pub dead_after: Duration,
    /// Shared heartbeat key.
    pub secret: Vec<u8>,
    /// Probes.
    pub health_interval: Duration,
    /// Rise/fall thresholds.
    pub rise: u32,
    /// See `rise`.
    pub fall: u32,
}

/// Errors that stop the loop.
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// The heartbeat socket could not be opened.
    #[error("heartbeat socket {bind}: {source}")]
    Bind {
        /// Address.
        bind: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The liveness configuration is invalid (key too short, name too long).
    #[error(transparent)]
    Liveness(#[from] ferrolb_l2::LivenessError),
}

/// The VIP this node wants given the live members: [`should_announce`] for one IP.
pub fn desired(me: &str, vip: IpAddr, iface: &str, alive: &[&str]) -> Vec<(IpAddr, Interfaces)> {
    let input = ServiceInput {
        first_ip: vip,
        traffic_policy: TrafficPolicy::Cluster,
        any_serving_endpoint: true,
    };
    let cands = alive.iter().map(|n| NodeCandidate::eligible(n));
    match should_announce(me, true, &input, cands) {
        Decision::Announce => vec![(vip, Interfaces::Named([iface.to_owned()].into()))],
        Decision::NotOwner(_) => Vec::new(),
    }
}

struct Vip {
    cfg: CpConfig,
    node: Option<L2Node>,
    shell: Shell,
    udp: UdpSocket,
    gate: HealthGate,
    last_error: Option<String>,
    stopping: bool,
}

impl Vip {
    fn liveness(&self) -> LivenessConfig {
        LivenessConfig {
            interval: self.cfg.interval,
            dead_after: self.cfg.dead_after,
            quorum: QuorumPolicy::Disabled,
            max_clock_skew: None,
        }
    }

    fn set_address(&self, op: Op) {
        let index = ferrolb_net::list_interfaces()
            .ok()
            .and_then(|l| l.into_iter().find(|i| i.name == self.cfg.interface))
            .map(|i| i.index);
        let Some(index) = index else {
            return tracing::warn!(interface = %self.cfg.interface, "no such interface: the VIP address is not set");
        };
        if let Err(e) = address::set(op, index, self.cfg.vip) {
            tracing::warn!(vip = %self.cfg.vip, interface = %self.cfg.interface, ?op, error = %e, "setting the VIP address failed (CAP_NET_ADMIN?)");
        }
    }

    fn perform(&mut self, act: Action) {
        match &act {
            Action::StartAnswering { .. } => self.set_address(Op::Add),
            Action::StopAnswering { .. } => self.set_address(Op::Remove),
            Action::SendGratuitous { .. } => {}
        }
        self.shell.perform(act);
    }

    fn send(&self, hb: &[u8]) {
        for p in &self.cfg.peers {
            let _ = self.udp.try_send_to(hb, *p);
        }
    }

    fn poll(&mut self) {
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let (me, vip, iface) = (&self.cfg.node, self.cfg.vip, &self.cfg.interface);
        let outs = node.poll(Instant::now(), wall_ms(), |m| {
            let alive: Vec<&str> = m.alive_members().collect();
            desired(me, vip, iface, &alive)
        });
        let finished = node.is_finished();
        // Ownership first: a `leaving` heartbeat must never overtake the release.
        let mut heartbeats = Vec::new();
        for out in outs {
            match out {
                Output::Heartbeat(hb) => heartbeats.push(hb),
                Output::Owner(act) => self.perform(act),
                Output::Member(ev) => tracing::info!(event = ?ev, "membership changed"),
            }
        }
        for hb in heartbeats {
            self.send(&hb);
        }
        if finished {
            self.node = None;
        }
    }

    fn join(&mut self) -> Result<(), CpError> {
        let node = L2Node::new(
            &self.cfg.node,
            wall_ms(),
            &self.cfg.secret,
            self.liveness(),
            GarpSchedule::fast(),
            Instant::now(),
        )?
        .with_leave_grace(Duration::ZERO);
        self.node = Some(node);
        Ok(())
    }

    /// Leaves the election (`grace`: how long to keep answering). With no grace (health
    /// withdrawal) the VIP is released *before* the `leaving` heartbeats go out, so no peer
    /// can start answering while this node still does (break-before-make).
    fn leave(&mut self, grace: Duration) {
        let Some(node) = self.node.take() else { return };
        let mut node = node.with_leave_grace(grace);
        let bye = node.leave(Instant::now(), wall_ms());
        self.node = Some(node);
        if grace.is_zero() {
            // The grace period is over at once: this poll stops answering and removes the
            // address.
            self.poll();
        }
        for _ in 0..3 {
            self.send(&bye);
        }
    }

    fn on_probe(&mut self, result: Result<(), Failure>) -> Result<(), CpError> {
        match &result {
            Err(f) if self.last_error.as_ref() != Some(&f.why) => {
                tracing::warn!(error = %f.why, "kube-apiserver /readyz failed");
                self.last_error = Some(f.why.clone());
            }
            Ok(()) if self.last_error.take().is_some() => {
                tracing::info!("kube-apiserver /readyz answers again");
            }
            _ => {}
        }
        let change = match &result {
            Err(f) if f.refused => self.gate.refused(),
            r => self.gate.observe(r.is_ok()),
        };
        match change {
            Some(Transition::BecameCandidate) if !self.stopping => {
                tracing::info!(node = %self.cfg.node, vip = %self.cfg.vip, "local kube-apiserver ready: candidate for the VIP");
                // A node still leaving (grace 0: finished at the next poll) is replaced.
                self.join()?;
            }
            Some(Transition::Withdrew) => {
                tracing::warn!(node = %self.cfg.node, vip = %self.cfg.vip, "local kube-apiserver not ready: withdrawing from the VIP election");
                self.leave(Duration::ZERO);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_datagram(&mut self, r: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        let (n, from) = match r {
            Ok(x) => x,
            Err(e) => return tracing::debug!(error = %e, "heartbeat receive failed"),
        };
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let ip = from.ip().to_canonical();
        if let Err(e) = node.handle_datagram_from(&buf[..n], ip, Instant::now(), wall_ms()) {
            tracing::debug!(error = %e, %from, "heartbeat rejected");
        }
    }
}

/// Probes the API server every `every` and sends each result.
async fn probe_loop(prober: Prober, every: Duration, tx: mpsc::Sender<Result<(), Failure>>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tx.send(prober.probe().await).await.is_err() {
            return;
        }
    }
}

/// Runs the control-plane VIP until `shutdown` resolves and the handover is over.
pub async fn run(
    cfg: CpConfig,
    prober: Prober,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CpError> {
    let udp = UdpSocket::bind(cfg.bind)
        .await
        .map_err(|source| CpError::Bind {
            bind: cfg.bind,
            source,
        })?;
    let exclude = ferrolb_l2::iface::ExcludeList::new::<&str>(&[]).unwrap_or_default();
    let mut shell = Shell::new(&cfg.node, Arc::new(Metrics::default()), exclude);
    shell.rescan();
    let gate = HealthGate::new(cfg.rise, cfg.fall);
    let (tx, mut results) = mpsc::channel(4);
    tokio::spawn(probe_loop(prober, cfg.health_interval, tx));
    let mut vip = Vip {
        cfg,
        node: None,
        shell,
        udp,
        gate,
        last_error: None,
        stopping: false,
    };
    // A crashed predecessor may have left the address behind.
    vip.set_address(Op::Remove);
    tracing::info!(node = %vip.cfg.node, vip = %vip.cfg.vip, interface = %vip.cfg.interface, peers = ?vip.cfg.peers, "control-plane VIP mode running (waiting for the local kube-apiserver)");
    let mut rescan = tokio::time::interval(Duration::from_secs(10));
    rescan.tick().await;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut buf = [0u8; 2048];
    loop {
        vip.poll();
        if vip.stopping && vip.node.is_none() {
            break;
        }
        let far = Instant::now() + Duration::from_secs(3600);
        let deadline = vip.node.as_ref().map_or(far, L2Node::next_deadline);
        tokio::select! {
            r = vip.udp.recv_from(&mut buf) => vip.on_datagram(r, &buf),
            Some(r) = results.recv() => vip.on_probe(r)?,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
            _ = rescan.tick() => {
                if vip.shell.rescan() && let Some(n) = vip.node.as_mut() {
                    n.invalidate();
                }
            }
            _ = &mut shutdown, if !vip.stopping => {
                tracing::info!(health = ?vip.gate.state(), "stopping: handing the VIP over");
                vip.stopping = true;
                let grace = ferrolb_l2::node::default_leave_grace(&vip.liveness());
                vip.leave(grace);
            }
        }
    }
    vip.set_address(Op::Remove);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_member_of_the_live_set_wants_the_vip() {
        let vip: IpAddr = "192.0.2.100".parse().unwrap();
        let alive = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
        let owners: Vec<&str> = alive
            .iter()
            .filter(|me| !desired(me, vip, "eth0", &alive).is_empty())
            .copied()
            .collect();
        assert_eq!(owners.len(), 1, "{owners:?}");
        let want = desired(owners[0], vip, "eth0", &alive);
        assert_eq!(
            want,
            vec![(vip, Interfaces::Named(["eth0".to_owned()].into()))]
        );
        // Without the owner (withdrawn), another member takes it.
        let rest: Vec<&str> = alive.iter().copied().filter(|n| *n != owners[0]).collect();
        let next: Vec<&str> = rest
            .iter()
            .filter(|me| !desired(me, vip, "eth0", &rest).is_empty())
            .copied()
            .collect();
        assert_eq!(next.len(), 1);
        assert_ne!(next[0], owners[0]);
    }

    #[test]
    fn a_node_outside_the_live_set_never_wants_the_vip() {
        let vip: IpAddr = "192.0.2.100".parse().unwrap();
        for me in ["10.0.0.1", "10.0.0.2"] {
            assert!(desired(me, vip, "eth0", &["10.0.0.3"]).is_empty());
        }
    }
}
