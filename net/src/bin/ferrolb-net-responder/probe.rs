//! `probe` mode: broadcast an ARP request (`--ipv4`) or multicast a Neighbor Solicitation
//! (`--ipv6`, from the interface's link-local address) for the VIP every `--interval-ms` and
//! print `reply <unix-ns> <mac>` for every ARP reply / Neighbor Advertisement about it
//! (gratuitous ones included), the same measurement as `testbed-files/l2probe.py`. Bounded by
//! `--secs`.

use std::{
    io,
    net::IpAddr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ferrolb_l2::packet::{
    MacAddr,
    arp::{ArpFrame, ArpOp},
    ndp::{self, NdpMessage, NeighborSolicitation},
};
use ferrolb_net::{Filter, PacketSocket, interfaces};

use super::{Args, recv};

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

pub(super) fn run(a: &Args) -> io::Result<()> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_owned());
    let info = interfaces::by_name(&a.iface)?;
    let mac = info
        .mac
        .ok_or_else(|| io::Error::other("interface has no MAC"))?;
    // The request to send, the socket to listen on, and how to recognise an answer.
    let (request, sock, vip): (Vec<u8>, PacketSocket, IpAddr) = match (a.v4.first(), a.v6.first()) {
        (Some(vip), _) => {
            let src = a
                .src
                .ok_or_else(|| invalid("--src is required with --ipv4"))?;
            let sock = PacketSocket::open(info.index, Filter::ArpAll)?;
            (
                ArpFrame::request(mac, src, *vip).encode().to_vec(),
                sock,
                IpAddr::V4(*vip),
            )
        }
        (None, Some(vip)) => {
            let ll = info
                .link_local
                .ok_or_else(|| io::Error::other("no link-local address"))?;
            let sock = PacketSocket::open(info.index, Filter::NeighborAdvertisements)?;
            (
                NeighborSolicitation::resolve(mac, ll, *vip).encode(),
                sock,
                IpAddr::V6(*vip),
            )
        }
        (None, None) => return Err(invalid("--ipv4 or --ipv6 is required")),
    };
    sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    let interval = Duration::from_millis(a.interval_ms.clamp(1, 1000));
    let end = Instant::now() + Duration::from_secs(a.secs);
    let mut next = Instant::now();
    let mut buf = [0u8; 2048];
    println!("ready probe {vip}");
    while Instant::now() < end {
        if Instant::now() >= next {
            sock.send(&request)?;
            next += interval;
        }
        if let Some(n) = recv(&sock, &mut buf)?
            && let Some(answer) = answer_mac(&buf[..n], vip)
        {
            println!("reply {} {answer}", now_ns());
        }
    }
    Ok(())
}

/// The MAC a frame advertises for `vip`, if it is an ARP reply or NA about it.
fn answer_mac(frame: &[u8], vip: IpAddr) -> Option<MacAddr> {
    match vip {
        IpAddr::V4(v4) => {
            let f = ArpFrame::parse(frame).ok()?;
            (f.op == ArpOp::Reply && f.sender_ip == v4).then_some(f.sender_mac)
        }
        IpAddr::V6(v6) => match ndp::parse(frame).ok()? {
            NdpMessage::Advertisement(na) if na.target == v6 => {
                Some(na.target_lla.unwrap_or(na.eth_src))
            }
            _ => None,
        },
    }
}
