//! `speaker` mode: a miniature Layer-2 speaker — `ferrolb_l2::L2Node` plus real sockets.
//!
//! Loop (single thread, a few ms granularity): feed received heartbeats to the node, poll it
//! (heartbeats to send, ownership actions, re-election among the live members), perform the
//! actions (gratuitous ARP / unsolicited NA, solicited-node joins) and answer ARP requests and
//! Neighbor Solicitations for owned VIPs. At the end of `--secs` it leaves gracefully
//! (make-before-break) and exits once the node has released everything.

use std::{
    collections::BTreeSet,
    io,
    net::{IpAddr, UdpSocket},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ferrolb_l2::{
    L2Node, Output,
    election::{NodeCandidate, TrafficPolicy, elect},
    liveness::LivenessConfig,
    owner::{Action, GarpSchedule, Interfaces},
    packet::{
        MacAddr,
        arp::{self, ArpFrame},
        ndp::{self, NaSource, NdpMessage},
    },
};
use ferrolb_net::{Filter, PacketSocket, SolicitedNodeGroups, interfaces};

use super::{Args, recv};

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

struct Io {
    mac: MacAddr,
    udp: UdpSocket,
    peers: Vec<std::net::SocketAddr>,
    arp: PacketSocket,
    ns: PacketSocket,
    groups: SolicitedNodeGroups,
}

pub(super) fn run(a: &Args) -> io::Result<()> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_owned());
    let bind = a.bind.ok_or_else(|| invalid("--bind is required"))?;
    let info = interfaces::by_name(&a.iface)?;
    let mut io = Io {
        mac: info
            .mac
            .ok_or_else(|| io::Error::other("interface has no MAC"))?,
        udp: UdpSocket::bind(bind)?,
        peers: a.peers.clone(),
        arp: PacketSocket::open(info.index, Filter::ArpRequests)?,
        ns: PacketSocket::open(info.index, Filter::NeighborSolicitations)?,
        groups: SolicitedNodeGroups::new(info.index)?,
    };
    io.udp.set_nonblocking(true)?;
    io.arp.set_read_timeout(Some(Duration::from_millis(1)))?;
    io.ns.set_read_timeout(Some(Duration::from_millis(1)))?;

    // The VIPs form one (possibly dual-stack) service: like MetalLB, the election uses the
    // first IP and all IPs move together.
    let vips: Vec<IpAddr> =
        a.v4.iter()
            .map(|v| IpAddr::V4(*v))
            .chain(a.v6.iter().map(|v| IpAddr::V6(*v)))
            .collect();
    let first_ip = *vips
        .first()
        .ok_or_else(|| invalid("--ipv4 or --ipv6 is required"))?;
    let ifs = Interfaces::Named(BTreeSet::from([a.iface.clone()]));

    let start = Instant::now();
    let config = LivenessConfig::default();
    let mut node = L2Node::new(
        &a.name,
        wall_ms(),
        a.secret.as_bytes(),
        config,
        GarpSchedule::fast(),
        start,
    )
    .map_err(|e| invalid(&e.to_string()))?;
    let deadline = start + Duration::from_secs(a.secs);
    let mut buf = [0u8; 2048];
    let mut left = false;
    println!("ready {} {} {}", a.name, a.iface, io.mac);

    while !node.is_finished() {
        let now = Instant::now();
        if now >= deadline && !left {
            left = true;
            let bye = node.leave(now, wall_ms());
            for _ in 0..3 {
                io.send_heartbeat(&bye);
            }
            println!("leaving {}", wall_ns());
        }
        // Drain pending heartbeats (bounded).
        for _ in 0..64 {
            match io.udp.recv_from(&mut buf) {
                Ok((n, _)) => match node.handle_datagram(&buf[..n], Instant::now(), wall_ms()) {
                    Ok(Some(ev)) => println!("member {ev:?} {}", wall_ns()),
                    Ok(None) => {}
                    Err(e) => println!("rejected {e}"),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        let outputs = node.poll(Instant::now(), wall_ms(), |m| {
            let cands = m.alive_members().map(NodeCandidate::eligible);
            if elect(first_ip, TrafficPolicy::Cluster, cands) == Some(a.name.as_str()) {
                vips.iter().map(|ip| (*ip, ifs.clone())).collect()
            } else {
                Vec::new()
            }
        });
        for out in outputs {
            match out {
                Output::Heartbeat(d) => io.send_heartbeat(&d),
                Output::Owner(act) => io.perform(&act)?,
                Output::Member(ev) => println!("member {ev:?} {}", wall_ns()),
            }
        }
        io.answer(&node, &a.iface, &mut buf)?;
    }
    println!("stats {:?}", node.membership().stats());
    Ok(())
}

impl Io {
    fn send_heartbeat(&self, datagram: &[u8]) {
        for p in &self.peers {
            // A peer that is gone makes send_to fail (ECONNREFUSED/EHOSTUNREACH): ignore.
            let _ = self.udp.send_to(datagram, p);
        }
    }

    fn perform(&mut self, act: &Action) -> io::Result<()> {
        match act {
            Action::StartAnswering { ip, .. } => {
                if let IpAddr::V6(v6) = ip {
                    self.groups.watch(*v6)?;
                }
                println!("owner gained {ip} {}", wall_ns());
            }
            Action::StopAnswering { ip } => {
                if let IpAddr::V6(v6) = ip {
                    self.groups.unwatch(*v6)?;
                }
                println!("owner lost {ip} {}", wall_ns());
            }
            Action::SendGratuitous {
                ip: IpAddr::V4(v4), ..
            } => {
                for f in arp::gratuitous(self.mac, *v4) {
                    self.arp.send(&f.encode())?;
                }
            }
            Action::SendGratuitous {
                ip: IpAddr::V6(v6), ..
            } => {
                self.ns
                    .send(&ndp::unsolicited(self.mac, NaSource::Target, *v6).encode())?;
            }
        }
        Ok(())
    }

    /// Answers at most one ARP request and one NS (each socket waits up to 1 ms).
    fn answer(&self, node: &L2Node, iface: &str, buf: &mut [u8]) -> io::Result<()> {
        let owner = node.owner();
        if let Some(n) = recv(&self.arp, buf)?
            && let Ok(req) = ArpFrame::parse(&buf[..n])
            && let Ok(rep) =
                arp::respond(&req, self.mac, |ip| owner.answers_on(IpAddr::V4(ip), iface))
        {
            self.arp.send(&rep.encode())?;
        }
        if let Some(n) = recv(&self.ns, buf)?
            && let Ok(NdpMessage::Solicitation(ns)) = ndp::parse(&buf[..n])
            && let Ok(na) = ndp::respond(&ns, self.mac, NaSource::Target, false, |ip| {
                owner.answers_on(IpAddr::V6(ip), iface)
            })
        {
            self.ns.send(&na.encode())?;
        }
        Ok(())
    }
}
