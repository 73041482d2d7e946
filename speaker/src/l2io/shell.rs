//! The interfaces side of the L2 shell: which interfaces have responders (rescanned every 10 s,
//! MetalLB's `announcer.go` rules in `ferrolb_l2::iface`), the ownership view the responders
//! answer from, solicited-node multicast groups of the owned IPv6 addresses, gratuitous ARP /
//! unsolicited NA frames, and where heartbeats go.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_l2::iface::{self, InterfaceInfo};
use ferrolb_l2::owner::{Action, Interfaces};
use ferrolb_l2::packet::MacAddr;
use ferrolb_l2::packet::arp;
use ferrolb_l2::packet::ndp::{self, NaSource};
use ferrolb_net::SolicitedNodeGroups;
use tokio::task::JoinHandle;

use super::responder::{Proto, Responder, Socket, View};
use crate::metrics::Metrics;

/// One interface with responders.
struct Iface {
    info: InterfaceInfo,
    mac: MacAddr,
    arp: Option<Socket>,
    ns: Option<Socket>,
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

impl Iface {
    /// The gratuitous frames announcing `ip` here, and the socket they go out on.
    fn gratuitous(&self, ip: IpAddr) -> Option<(&Socket, Vec<Vec<u8>>)> {
        match (ip, &self.arp, &self.ns) {
            (IpAddr::V4(v4), Some(sock), _) => Some((
                sock,
                arp::gratuitous(self.mac, v4)
                    .iter()
                    .map(|f| f.encode().to_vec())
                    .collect(),
            )),
            (IpAddr::V6(v6), _, Some(sock)) => Some((
                sock,
                vec![ndp::unsolicited(self.mac, self.na_source, v6).encode()],
            )),
            _ => None,
        }
    }
}

/// The interfaces, the ownership view and the heartbeat targets of one speaker.
pub struct Shell {
    me: String,
    ifaces: BTreeMap<String, Iface>,
    /// Every local interface name (with or without responders), for `announceFailed`.
    pub all_names: BTreeSet<String>,
    view: View,
    metrics: Arc<Metrics>,
    joined: BTreeSet<(IpAddr, String)>,
    /// The Nodes' InternalIPs (heartbeat peers).
    pub peers: Vec<SocketAddr>,
    /// Senders of authenticated heartbeats (a Node without an InternalIP yet, or with another
    /// address, is still answered, so peer discovery is never one-sided).
    pub heard: BTreeMap<SocketAddr, Instant>,
    /// Interfaces never given responders (MetalLB's excludel2 list).
    exclude: iface::ExcludeList,
}

impl Shell {
    /// A shell with no interfaces yet (see [`Shell::rescan`]).
    pub fn new(me: &str, metrics: Arc<Metrics>, exclude: iface::ExcludeList) -> Self {
        Shell {
            me: me.to_owned(),
            ifaces: BTreeMap::new(),
            all_names: BTreeSet::new(),
            view: View::default(),
            metrics,
            joined: BTreeSet::new(),
            peers: Vec::new(),
            heard: BTreeMap::new(),
            exclude,
        }
    }

    /// Whether no interface has responders.
    pub fn is_deaf(&self) -> bool {
        self.ifaces.is_empty()
    }

    /// Where heartbeats go: the Nodes' InternalIPs plus every sender heard within `keep`.
    pub fn targets(&mut self, now: Instant, keep: Duration) -> Vec<SocketAddr> {
        self.heard
            .retain(|_, t| now.saturating_duration_since(*t) < keep);
        let mut all: BTreeSet<SocketAddr> = self.peers.iter().copied().collect();
        all.extend(self.heard.keys().copied());
        all.into_iter().collect()
    }

    /// Rescans interfaces; returns whether the responder set changed.
    pub fn rescan(&mut self) -> bool {
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
            let r = iface::responders(&info, |n| self.exclude.excluded(n));
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
        // Target-sourced NAs (see the `l2io` module docs): ndisc6 ignores link-local-sourced
        // replies.
        let na_source = NaSource::Target;
        let responder = |proto| Responder {
            proto,
            ifname: info.name.clone(),
            mac,
            na_source,
            view: self.view.clone(),
            metrics: self.metrics.clone(),
        };
        let mut tasks = Vec::new();
        let mut start = |wanted: bool, proto| -> std::io::Result<Option<Socket>> {
            if !wanted {
                return Ok(None);
            }
            let (fd, task) = responder(proto).start(info.index)?;
            tasks.push(task);
            Ok(Some(fd))
        };
        let arp = start(want_arp, Proto::Arp)?;
        let ns = start(want_ndp, Proto::Ndp)?;
        let groups = match ns {
            Some(_) => Some(SolicitedNodeGroups::new(info.index)?),
            None => None,
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
    pub fn sync_groups(&mut self) {
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
        let leave: Vec<_> = self.joined.difference(&want).cloned().collect();
        let join: Vec<_> = want.difference(&self.joined).cloned().collect();
        for ((ip, name), joining) in leave
            .into_iter()
            .map(|k| (k, false))
            .chain(join.into_iter().map(|k| (k, true)))
        {
            self.set_group(ip, &name, joining);
        }
        self.joined = want;
    }

    /// Joins (or leaves) the solicited-node group of `ip` on interface `name`.
    fn set_group(&mut self, ip: IpAddr, name: &str, join: bool) {
        let (IpAddr::V6(v6), Some(g)) = (
            ip,
            self.ifaces.get_mut(name).and_then(|i| i.groups.as_mut()),
        ) else {
            return;
        };
        let (result, what) = if join {
            (g.watch(v6), "joining")
        } else {
            (g.unwatch(v6), "leaving")
        };
        if let Err(e) = result {
            tracing::warn!(%ip, interface = %name, error = %e, "{what} solicited-node group failed");
        }
    }

    /// Performs one ownership action.
    pub fn perform(&mut self, act: Action) {
        let view = || self.view.write().unwrap_or_else(|e| e.into_inner());
        // Trace span `l2.owner_change` (docs/tracing.md): this node takes or gives up an IP.
        let owner_change = |ip: &IpAddr, announcing: bool| tracing::info_span!("l2.owner_change", ip = %ip, node = %self.me, announcing);
        match act {
            Action::StartAnswering { ip, interfaces } => {
                let _change = owner_change(&ip, true).entered();
                tracing::info!(%ip, ?interfaces, node = %self.me, "announcing (answering ARP/NDP)");
                view().insert(ip, interfaces);
            }
            Action::StopAnswering { ip } => {
                let _change = owner_change(&ip, false).entered();
                tracing::info!(%ip, node = %self.me, "stopped announcing");
                view().remove(&ip);
            }
            Action::SendGratuitous { ip, interfaces } => self.send_gratuitous(ip, &interfaces),
        }
    }

    /// Sends the gratuitous frames of `ip` on `interfaces` (the ones with a responder of its
    /// family).
    fn send_gratuitous(&self, ip: IpAddr, interfaces: &Interfaces) {
        let chosen = self.ifaces.iter().filter(|(n, _)| interfaces.contains(n));
        for (name, (sock, frames)) in chosen.filter_map(|(n, i)| Some((n, i.gratuitous(ip)?))) {
            for f in frames {
                match sock.get_ref().send(&f) {
                    Ok(_) => self.metrics.gratuitous(ip),
                    Err(e) => {
                        tracing::debug!(%ip, interface = %name, error = %e, "gratuitous send failed")
                    }
                }
            }
        }
    }
}
