//! A small stand-alone ARP/NDP responder and capture tool, used by the network-namespace tests
//! and handy for manual checks. Every run is bounded in time (`--secs`, at most 60).
//!
//! ```text
//! ferrolb-net-responder answer  --iface IF [--ipv4 A]... [--ipv6 A]... [--secs N] [--override]
//!                               [--na-from-link-local]
//! ferrolb-net-responder capture --iface IF [--secs N]
//! ferrolb-net-responder speaker --iface IF --name NODE --bind IP:PORT [--peer IP:PORT]...
//!                               --secret S [--ipv4 A]... [--secs N]
//! ferrolb-net-responder probe   --iface IF --src IP --ipv4 VIP [--interval-ms N] [--secs N]
//! ferrolb-net-responder flood   --iface IF [--src IP --ipv4 VIP]... [--ipv6 A]... [--spoof]
//!                               [--max N] [--secs N]
//! ```
//!
//! `speaker` is a miniature L2 speaker wiring the `ferrolb-l2` pieces together (heartbeat
//! liveness over UDP, election, ownership table, ARP answering, graceful leave at the end of
//! `--secs`), used to measure failover. `probe` sends an ARP request every `--interval-ms` and
//! prints `reply <unix-ns> <mac>` for every answer, like `testbed-files/l2probe.py`. `flood`
//! sends ARP requests / Neighbor Solicitations back to back (see `flood.rs`).
//!
//! `answer` takes ownership of the addresses at start (StartAnswering + gratuitous burst on
//! ferrolb's default schedule), answers ARP requests and Neighbor Solicitations for them, and
//! prints one line per frame sent. `capture` prints ARP frames and Neighbor Advertisements seen
//! on the interface. Never run it on a host interface: it sends real frames.

use std::{
    collections::BTreeSet,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    process::ExitCode,
    time::{Duration, Instant},
};

use ferrolb_l2::{
    owner::{Action, GarpSchedule, Interfaces, OwnerTable},
    packet::{
        MacAddr,
        arp::{self, ArpFrame},
        ndp::{self, NaSource, NdpMessage},
    },
};
use ferrolb_net::{Filter, PacketSocket, SolicitedNodeGroups, interfaces};

mod flood;
mod probe;
mod speaker;

struct Args {
    mode: String,
    iface: String,
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    secs: u64,
    override_flag: bool,
    metallb_na_source: bool,
    name: String,
    bind: Option<SocketAddr>,
    peers: Vec<SocketAddr>,
    secret: String,
    src: Option<Ipv4Addr>,
    interval_ms: u64,
    spoof: bool,
    max: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it
        .next()
        .ok_or("missing mode (answer|capture|speaker|probe|flood)")?;
    let mut a = Args {
        mode,
        iface: String::new(),
        v4: vec![],
        v6: vec![],
        secs: 5,
        override_flag: false,
        metallb_na_source: false,
        name: String::new(),
        bind: None,
        peers: vec![],
        secret: String::new(),
        src: None,
        interval_ms: 10,
        spoof: false,
        max: 100_000_000,
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--iface" => a.iface = val()?,
            "--ipv4" => {
                a.v4.push(val()?.parse().map_err(|e| format!("--ipv4: {e}"))?)
            }
            "--ipv6" => {
                a.v6.push(val()?.parse().map_err(|e| format!("--ipv6: {e}"))?)
            }
            "--secs" => a.secs = val()?.parse().map_err(|e| format!("--secs: {e}"))?,
            "--override" => a.override_flag = true,
            "--na-from-link-local" => a.metallb_na_source = true,
            "--name" => a.name = val()?,
            "--bind" => a.bind = Some(val()?.parse().map_err(|e| format!("--bind: {e}"))?),
            "--peer" => a
                .peers
                .push(val()?.parse().map_err(|e| format!("--peer: {e}"))?),
            "--secret" => a.secret = val()?,
            "--src" => a.src = Some(val()?.parse().map_err(|e| format!("--src: {e}"))?),
            "--spoof" => a.spoof = true,
            "--max" => a.max = val()?.parse().map_err(|e| format!("--max: {e}"))?,
            "--interval-ms" => {
                a.interval_ms = val()?.parse().map_err(|e| format!("--interval-ms: {e}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.iface.is_empty() {
        return Err("--iface is required".into());
    }
    a.secs = a.secs.clamp(1, 60);
    Ok(a)
}

fn main() -> ExitCode {
    let result = parse_args()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        .and_then(|a| match a.mode.as_str() {
            "answer" => answer(&a),
            "capture" => capture(&a),
            "speaker" => speaker::run(&a),
            "probe" => probe::run(&a),
            "flood" => flood::run(&a),
            m => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown mode {m}"),
            )),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrolb-net-responder: {e}");
            ExitCode::FAILURE
        }
    }
}

fn answer(a: &Args) -> io::Result<()> {
    let info = interfaces::by_name(&a.iface)?;
    let mac = info
        .mac
        .ok_or_else(|| io::Error::other("interface has no MAC"))?;
    let arp_sock = PacketSocket::open(info.index, Filter::ArpRequests)?;
    let ns_sock = PacketSocket::open(info.index, Filter::NeighborSolicitations)?;
    let tick = Some(Duration::from_millis(5));
    arp_sock.set_read_timeout(tick)?;
    ns_sock.set_read_timeout(tick)?;
    let mut groups = SolicitedNodeGroups::new(info.index)?;
    let na_source = match (a.metallb_na_source, info.link_local) {
        (true, Some(ll)) => NaSource::LinkLocal(ll),
        (true, None) => return Err(io::Error::other("interface has no IPv6 link-local address")),
        (false, _) => NaSource::Target,
    };

    let start = Instant::now();
    let mut table = OwnerTable::new(GarpSchedule::fast());
    let ifs = Interfaces::Named(BTreeSet::from([a.iface.clone()]));
    let desired =
        a.v4.iter()
            .map(|ip| IpAddr::V4(*ip))
            .chain(a.v6.iter().map(|ip| IpAddr::V6(*ip)));
    let actions = table.reconcile(desired.map(|ip| (ip, ifs.clone())), start);
    let mut ctx = Ctx {
        mac,
        na_source,
        arp_sock: &arp_sock,
        ns_sock: &ns_sock,
    };
    for act in actions {
        ctx.perform(&act, &mut groups)?;
    }
    println!("ready {} {mac}", a.iface);

    let deadline = start + Duration::from_secs(a.secs);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        for act in table.poll(Instant::now()) {
            ctx.perform(&act, &mut groups)?;
        }
        if let Some(n) = recv(&arp_sock, &mut buf)? {
            let Ok(req) = ArpFrame::parse(&buf[..n]) else {
                continue;
            };
            if let Ok(rep) = arp::respond(&req, mac, |ip| table.is_owned(IpAddr::V4(ip))) {
                arp_sock.send(&rep.encode())?;
                println!(
                    "arp-reply {} is-at {mac} to {}",
                    rep.sender_ip, rep.target_mac
                );
            }
        }
        if let Some(n) = recv(&ns_sock, &mut buf)? {
            let Ok(NdpMessage::Solicitation(ns)) = ndp::parse(&buf[..n]) else {
                continue;
            };
            let owned = |ip| table.is_owned(IpAddr::V6(ip));
            if let Ok(na) = ndp::respond(&ns, mac, ctx.na_source, a.override_flag, owned) {
                ns_sock.send(&na.encode())?;
                println!("na-reply {} is-at {mac} to {}", na.target, na.dst);
            }
        }
    }
    for act in table.release_all() {
        ctx.perform(&act, &mut groups)?;
    }
    Ok(())
}

struct Ctx<'a> {
    mac: MacAddr,
    na_source: NaSource,
    arp_sock: &'a PacketSocket,
    ns_sock: &'a PacketSocket,
}

impl Ctx<'_> {
    fn perform(&mut self, act: &Action, groups: &mut SolicitedNodeGroups) -> io::Result<()> {
        match act {
            Action::StartAnswering {
                ip: IpAddr::V6(v6), ..
            } => groups.watch(*v6)?,
            Action::StopAnswering { ip: IpAddr::V6(v6) } => groups.unwatch(*v6)?,
            Action::StartAnswering { .. } | Action::StopAnswering { .. } => {}
            Action::SendGratuitous {
                ip: IpAddr::V4(v4), ..
            } => {
                for f in arp::gratuitous(self.mac, *v4) {
                    self.arp_sock.send(&f.encode())?;
                }
                println!("garp {v4}");
            }
            Action::SendGratuitous {
                ip: IpAddr::V6(v6), ..
            } => {
                self.ns_sock
                    .send(&ndp::unsolicited(self.mac, self.na_source, *v6).encode())?;
                println!("unsolicited-na {v6}");
            }
        }
        Ok(())
    }
}

/// One receive with the socket's timeout; `None` on timeout.
fn recv(sock: &PacketSocket, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match sock.recv(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn capture(a: &Args) -> io::Result<()> {
    let info = interfaces::by_name(&a.iface)?;
    let arp_sock = PacketSocket::open(info.index, Filter::ArpAll)?;
    let na_sock = PacketSocket::open(info.index, Filter::NeighborAdvertisements)?;
    let tick = Some(Duration::from_millis(5));
    arp_sock.set_read_timeout(tick)?;
    na_sock.set_read_timeout(tick)?;
    println!("ready {}", a.iface);
    let deadline = Instant::now() + Duration::from_secs(a.secs);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Some(n) = recv(&arp_sock, &mut buf)?
            && let Ok(f) = ArpFrame::parse(&buf[..n])
        {
            println!(
                "arp {:?} eth_dst {} sender {} {} target {} {}",
                f.op, f.eth_dst, f.sender_mac, f.sender_ip, f.target_mac, f.target_ip
            );
        }
        if let Some(n) = recv(&na_sock, &mut buf)?
            && let Ok(NdpMessage::Advertisement(na)) = ndp::parse(&buf[..n])
        {
            println!(
                "na target {} lla {} dst {} r={} s={} o={}",
                na.target,
                na.target_lla.map(|m| m.to_string()).unwrap_or_default(),
                na.dst,
                u8::from(na.router),
                u8::from(na.solicited),
                u8::from(na.override_flag)
            );
        }
    }
    Ok(())
}
