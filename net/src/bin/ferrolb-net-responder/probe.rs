//! `probe` mode: broadcast an ARP request for the VIP every `--interval-ms` and print
//! `reply <unix-ns> <mac>` for every ARP reply about it (including gratuitous replies), the
//! same measurement as `testbed-files/l2probe.py`. Bounded by `--secs`.

use std::{
    io,
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use ferrolb_l2::packet::arp::{ArpFrame, ArpOp};
use ferrolb_net::{Filter, PacketSocket, interfaces};

use super::{Args, recv};

pub(super) fn run(a: &Args) -> io::Result<()> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_owned());
    let src = a.src.ok_or_else(|| invalid("--src is required"))?;
    let vip: Ipv4Addr = *a.v4.first().ok_or_else(|| invalid("--ipv4 is required"))?;
    let info = interfaces::by_name(&a.iface)?;
    let mac = info
        .mac
        .ok_or_else(|| io::Error::other("interface has no MAC"))?;
    let sock = PacketSocket::open(info.index, Filter::ArpAll)?;
    sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    let request = ArpFrame::request(mac, src, vip).encode();
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
            && let Ok(f) = ArpFrame::parse(&buf[..n])
            && f.op == ArpOp::Reply
            && IpAddr::V4(f.sender_ip) == IpAddr::V4(vip)
        {
            let ns = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            println!("reply {ns} {}", f.sender_mac);
        }
    }
    Ok(())
}
