//! `flood` mode (issue 19): ARP requests for every `--ipv4` VIP (from `--src`) and Neighbor
//! Solicitations for every `--ipv6` target (from the interface's link-local address), sent back
//! to back for `--secs` (at most 60) and at most `--max` frames, from the interface's MAC or,
//! with `--spoof`, from a new locally administered MAC for every frame (what a hostile or
//! broken host, or a scan, puts on a LAN). Prints `flood sent <n> dropped <n> secs <s>` at the
//! end. Only for the rig's namespaces: never run it on a host interface.

use std::{
    io,
    time::{Duration, Instant},
};

use ferrolb_l2::packet::{MacAddr, arp::ArpFrame, ndp::NeighborSolicitation};
use ferrolb_net::{Filter, PacketSocket, interfaces};

use super::Args;

/// A small xorshift generator: spoofed MACs need variety, not quality.
struct Macs(u64);

impl Macs {
    fn next(&mut self) -> MacAddr {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let b = self.0.to_be_bytes();
        // Locally administered, unicast.
        MacAddr([0x02, b[3], b[4], b[5], b[6], b[7]])
    }
}

pub(super) fn run(a: &Args) -> io::Result<()> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_owned());
    if a.v4.is_empty() && a.v6.is_empty() {
        return Err(invalid("--ipv4 or --ipv6 is required"));
    }
    let info = interfaces::by_name(&a.iface)?;
    let own = info
        .mac
        .ok_or_else(|| io::Error::other("interface has no MAC"))?;
    let src = match a.v4.is_empty() {
        true => None,
        false => Some(
            a.src
                .ok_or_else(|| invalid("--src is required with --ipv4"))?,
        ),
    };
    let ll = match a.v6.is_empty() {
        true => None,
        false => Some(
            info.link_local
                .ok_or_else(|| io::Error::other("no link-local address"))?,
        ),
    };
    let sock = PacketSocket::open(info.index, Filter::ArpRequests)?;
    let mut macs = Macs(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let start = Instant::now();
    let end = start + Duration::from_secs(a.secs);
    let (mut sent, mut dropped) = (0u64, 0u64);
    println!("ready flood");
    'outer: while sent + dropped < a.max {
        if (sent + dropped) % 1024 == 0 && Instant::now() >= end {
            break;
        }
        let mac = if a.spoof { macs.next() } else { own };
        let frames =
            a.v4.iter()
                .zip(std::iter::repeat(src))
                .filter_map(|(vip, s)| Some(ArpFrame::request(mac, s?, *vip).encode().to_vec()))
                .chain(a.v6.iter().zip(std::iter::repeat(ll)).filter_map(|(t, l)| {
                    Some(NeighborSolicitation::resolve(mac, l?, *t).encode())
                }));
        for f in frames {
            match sock.send(&f) {
                Ok(_) => sent += 1,
                Err(e) if matches!(e.raw_os_error(), Some(105 | 11)) => dropped += 1, // ENOBUFS, EAGAIN
                Err(e) => return Err(e),
            }
            if sent + dropped >= a.max {
                break 'outer;
            }
        }
    }
    println!(
        "flood sent {sent} dropped {dropped} secs {:.1}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
