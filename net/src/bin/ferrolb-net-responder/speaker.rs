//! `speaker` mode: a miniature Layer-2 speaker built from the `ferrolb-l2` pieces.
//!
//! Loop (single thread, ~5 ms granularity): send/receive authenticated heartbeats over UDP,
//! declare silent peers dead, elect the owner of every VIP among the live members (after the
//! membership view has settled), reconcile the ownership table, perform its actions
//! (gratuitous ARP bursts) and answer ARP requests for owned VIPs. At the end of `--secs` it
//! leaves gracefully: `leaving` heartbeats, keep answering for a grace period while the peer
//! takes over (make-before-break), then stop.

use std::{
    collections::BTreeSet,
    io,
    net::{IpAddr, UdpSocket},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ferrolb_l2::{
    election::{NodeCandidate, TrafficPolicy, elect},
    liveness::{LivenessConfig, Membership},
    owner::{Action, GarpSchedule, Interfaces, OwnerTable},
    packet::{
        MacAddr,
        arp::{self, ArpFrame},
        ndp::{self, NaSource, NdpMessage},
    },
};
use ferrolb_net::{Filter, PacketSocket, SolicitedNodeGroups, interfaces};

use super::{Args, recv};

/// How long a leaving speaker keeps answering (2 × heartbeat interval + 100 ms).
const LEAVE_GRACE: Duration = Duration::from_millis(300);

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

pub(super) fn run(a: &Args) -> io::Result<()> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_owned());
    let bind = a.bind.ok_or_else(|| invalid("--bind is required"))?;
    let info = interfaces::by_name(&a.iface)?;
    let mac = info
        .mac
        .ok_or_else(|| io::Error::other("interface has no MAC"))?;
    let udp = UdpSocket::bind(bind)?;
    udp.set_read_timeout(Some(Duration::from_millis(2)))?;
    let arp_sock = PacketSocket::open(info.index, Filter::ArpRequests)?;
    arp_sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    let ns_sock = PacketSocket::open(info.index, Filter::NeighborSolicitations)?;
    ns_sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    let mut groups = SolicitedNodeGroups::new(info.index)?;

    let start = Instant::now();
    let mut members = Membership::new(
        &a.name,
        wall_ms(),
        a.secret.as_bytes(),
        LivenessConfig::default(),
        start,
    )
    .map_err(|e| invalid(&e.to_string()))?;
    let mut table = OwnerTable::new(GarpSchedule::fast());
    let ifs = Interfaces::Named(BTreeSet::from([a.iface.clone()]));
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
    let deadline = start + Duration::from_secs(a.secs);
    let mut leaving_since: Option<Instant> = None;
    let mut buf = [0u8; 2048];
    println!("ready {} {} {mac}", a.name, a.iface);

    loop {
        let now = Instant::now();
        if leaving_since.is_none() && now >= deadline {
            let bye = members.leave(wall_ms());
            for _ in 0..3 {
                for p in &a.peers {
                    udp.send_to(&bye, p)?;
                }
            }
            println!("leaving {}", wall_ns());
            leaving_since = Some(now);
        }
        if leaving_since.is_some_and(|t| now >= t + LEAVE_GRACE) {
            break;
        }

        if let Some(d) = members.poll_transmit(now, wall_ms()) {
            for p in &a.peers {
                // A peer that is gone makes send_to fail with ECONNREFUSED/EHOSTUNREACH.
                let _ = udp.send_to(&d, p);
            }
        }
        // Drain pending heartbeats (bounded).
        for _ in 0..64 {
            match udp.recv_from(&mut buf) {
                Ok((n, _)) => match members.handle_datagram(&buf[..n], Instant::now(), wall_ms()) {
                    Ok(Some(ev)) => println!("member {ev:?} {}", wall_ns()),
                    Ok(None) => {}
                    Err(e) => println!("rejected {e}"),
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        for ev in members.tick(Instant::now()) {
            println!("member {ev:?} {}", wall_ns());
        }

        // Election, unless leaving (then keep the current state during the grace period).
        let now = Instant::now();
        let mut actions = Vec::new();
        if leaving_since.is_none() {
            let wins = members.is_settled(now) && members.has_quorum() && {
                let cands = members.alive_members().map(NodeCandidate::eligible);
                elect(first_ip, TrafficPolicy::Cluster, cands) == Some(a.name.as_str())
            };
            let desired: Vec<(IpAddr, Interfaces)> = if wins {
                vips.iter().map(|ip| (*ip, ifs.clone())).collect()
            } else {
                Vec::new()
            };
            actions = table.reconcile(desired, now);
        }
        actions.extend(table.poll(now));
        for act in actions {
            perform(&act, mac, &arp_sock, &ns_sock, &mut groups)?;
        }

        if let Some(n) = recv(&arp_sock, &mut buf)?
            && let Ok(req) = ArpFrame::parse(&buf[..n])
            && let Ok(rep) = arp::respond(&req, mac, |ip| table.is_owned(IpAddr::V4(ip)))
        {
            arp_sock.send(&rep.encode())?;
        }
        if let Some(n) = recv(&ns_sock, &mut buf)?
            && let Ok(NdpMessage::Solicitation(ns)) = ndp::parse(&buf[..n])
            && let Ok(na) = ndp::respond(&ns, mac, NaSource::Target, false, |ip| {
                table.is_owned(IpAddr::V6(ip))
            })
        {
            ns_sock.send(&na.encode())?;
        }
    }
    for act in table.release_all() {
        perform(&act, mac, &arp_sock, &ns_sock, &mut groups)?;
    }
    println!("stats {:?}", members.stats());
    Ok(())
}

fn perform(
    act: &Action,
    mac: MacAddr,
    arp_sock: &PacketSocket,
    ns_sock: &PacketSocket,
    groups: &mut SolicitedNodeGroups,
) -> io::Result<()> {
    match act {
        Action::StartAnswering { ip, .. } => {
            if let IpAddr::V6(v6) = ip {
                groups.watch(*v6)?;
            }
            println!("owner gained {ip} {}", wall_ns());
        }
        Action::StopAnswering { ip } => {
            if let IpAddr::V6(v6) = ip {
                groups.unwatch(*v6)?;
            }
            println!("owner lost {ip} {}", wall_ns());
        }
        Action::SendGratuitous {
            ip: IpAddr::V4(v4), ..
        } => {
            for f in arp::gratuitous(mac, *v4) {
                arp_sock.send(&f.encode())?;
            }
        }
        Action::SendGratuitous {
            ip: IpAddr::V6(v6), ..
        } => {
            ns_sock.send(&ndp::unsolicited(mac, NaSource::Target, *v6).encode())?;
        }
    }
    Ok(())
}
