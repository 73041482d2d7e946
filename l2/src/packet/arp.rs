//! ARP for IPv4 over Ethernet (RFC 826), as MetalLB's responder uses it.
//!
//! Wire layout after the 14-byte Ethernet header (EtherType `0x0806`):
//! `htype=1 (2) | ptype=0x0800 (2) | hlen=6 | plen=4 | op (2) | sha (6) | spa (4) | tha (6) |
//! tpa (4)`, 28 bytes.
//!
//! MetalLB behaviour reproduced (`internal/layer2/arp.go`, `metallb-runtime.md` §2.3):
//! - [`respond`] ignores replies, ignores requests whose Ethernet destination is neither
//!   broadcast nor the interface MAC, and answers owned targets with a **unicast** reply
//!   (Ethernet destination = requester's sender hardware address) carrying the interface MAC.
//! - [`gratuitous`] yields **two broadcast frames**, an ARP request and an ARP reply, both with
//!   sender IP = target IP = the VIP, sender MAC = interface MAC and target MAC = broadcast.

use std::net::Ipv4Addr;

use super::{
    ETH_HEADER_LEN, ETH_MIN_FRAME, ETHERTYPE_ARP, ETHERTYPE_IPV4, MacAddr, PacketError, be16,
    parse_ethernet, take, write_ethernet,
};

/// Length of an ARP-over-Ethernet frame before padding (14 + 28).
pub const ARP_FRAME_LEN: usize = ETH_HEADER_LEN + 28;

/// ARP operation (RFC 826 `ar$op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    /// `ares_op$REQUEST` (1).
    Request,
    /// `ares_op$REPLY` (2).
    Reply,
}

impl ArpOp {
    fn code(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        }
    }
}

/// An ARP packet for IPv4 over Ethernet together with its Ethernet addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// Operation.
    pub op: ArpOp,
    /// Sender hardware address (`sha`).
    pub sender_mac: MacAddr,
    /// Sender protocol address (`spa`).
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (`tha`).
    pub target_mac: MacAddr,
    /// Target protocol address (`tpa`).
    pub target_ip: Ipv4Addr,
}

impl ArpFrame {
    /// Parses an Ethernet frame carrying ARP. Trailing bytes (padding) are ignored.
    pub fn parse(buf: &[u8]) -> Result<Self, PacketError> {
        let (eth_dst, eth_src, ethertype) = parse_ethernet(buf)?;
        if ethertype != ETHERTYPE_ARP {
            return Err(PacketError::EtherType(ethertype));
        }
        let a = take::<28>(buf, ETH_HEADER_LEN)?;
        let htype = be16(&a, 0)?;
        let ptype = be16(&a, 2)?;
        let (hlen, plen) = (a[4], a[5]);
        if htype != 1 || ptype != ETHERTYPE_IPV4 || hlen != 6 || plen != 4 {
            return Err(PacketError::ArpFormat {
                htype,
                ptype,
                hlen,
                plen,
            });
        }
        let op = match be16(&a, 6)? {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            other => return Err(PacketError::ArpOperation(other)),
        };
        Ok(Self {
            eth_dst,
            eth_src,
            op,
            sender_mac: MacAddr(take(&a, 8)?),
            sender_ip: Ipv4Addr::from(take::<4>(&a, 14)?),
            target_mac: MacAddr(take(&a, 18)?),
            target_ip: Ipv4Addr::from(take::<4>(&a, 24)?),
        })
    }

    /// Encodes the frame, zero-padded to the 60-byte Ethernet minimum.
    pub fn encode(&self) -> [u8; ETH_MIN_FRAME] {
        let mut out = [0u8; ETH_MIN_FRAME];
        write_ethernet(&mut out, self.eth_dst, self.eth_src, ETHERTYPE_ARP);
        let a = &mut out[ETH_HEADER_LEN..ARP_FRAME_LEN];
        a[0..2].copy_from_slice(&1u16.to_be_bytes());
        a[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        a[4] = 6;
        a[5] = 4;
        a[6..8].copy_from_slice(&self.op.code().to_be_bytes());
        a[8..14].copy_from_slice(&self.sender_mac.0);
        a[14..18].copy_from_slice(&self.sender_ip.octets());
        a[18..24].copy_from_slice(&self.target_mac.0);
        a[24..28].copy_from_slice(&self.target_ip.octets());
        out
    }

    /// A broadcast who-has request (used by probes and tests).
    pub fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        Self {
            eth_dst: MacAddr::BROADCAST,
            eth_src: sender_mac,
            op: ArpOp::Request,
            sender_mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }
}

/// Why [`respond`] did not answer a frame (MetalLB's `dropReason`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpDrop {
    /// The packet is an ARP reply; replies are ignored.
    NotRequest,
    /// Ethernet destination is neither broadcast nor the interface MAC.
    EthernetDestination,
    /// The target IP is not owned (or not announced on this interface).
    NotOwned,
}

/// Decides whether to answer `req` received on an interface with MAC `iface_mac`; `owned`
/// tells whether the target IP is announced on this interface. Returns the unicast reply.
pub fn respond(
    req: &ArpFrame,
    iface_mac: MacAddr,
    owned: impl FnOnce(Ipv4Addr) -> bool,
) -> Result<ArpFrame, ArpDrop> {
    if req.op != ArpOp::Request {
        return Err(ArpDrop::NotRequest);
    }
    if req.eth_dst != MacAddr::BROADCAST && req.eth_dst != iface_mac {
        return Err(ArpDrop::EthernetDestination);
    }
    if !owned(req.target_ip) {
        return Err(ArpDrop::NotOwned);
    }
    Ok(ArpFrame {
        eth_dst: req.sender_mac,
        eth_src: iface_mac,
        op: ArpOp::Reply,
        sender_mac: iface_mac,
        sender_ip: req.target_ip,
        target_mac: req.sender_mac,
        target_ip: req.sender_ip,
    })
}

/// The two gratuitous frames MetalLB broadcasts for `ip` on takeover: a request, then a reply.
pub fn gratuitous(iface_mac: MacAddr, ip: Ipv4Addr) -> [ArpFrame; 2] {
    [ArpOp::Request, ArpOp::Reply].map(|op| ArpFrame {
        eth_dst: MacAddr::BROADCAST,
        eth_src: iface_mac,
        op,
        sender_mac: iface_mac,
        sender_ip: ip,
        target_mac: MacAddr::BROADCAST,
        target_ip: ip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const PEER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// A request as `arping` sends it, written out byte by byte (RFC 826 layout).
    const WIRE_REQUEST: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x06, // ethernet
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // htype ptype hlen plen op=request
        0x02, 0, 0, 0, 0, 0x02, 192, 0, 2, 2, // sha spa
        0, 0, 0, 0, 0, 0, 192, 0, 2, 100, // tha tpa
    ];

    #[test]
    fn parses_wire_request() {
        let f = ArpFrame::parse(&WIRE_REQUEST).unwrap();
        assert_eq!(f, ArpFrame::request(PEER, CLIENT, VIP));
        assert_eq!(&f.encode()[..42], &WIRE_REQUEST[..]);
        assert!(f.encode()[42..].iter().all(|b| *b == 0));
    }

    #[test]
    fn reply_is_unicast_with_our_mac() {
        let req = ArpFrame::request(PEER, CLIENT, VIP);
        let rep = respond(&req, OURS, |ip| ip == VIP).unwrap();
        assert_eq!(rep.eth_dst, PEER);
        assert_eq!(rep.eth_src, OURS);
        assert_eq!(rep.op, ArpOp::Reply);
        assert_eq!((rep.sender_mac, rep.sender_ip), (OURS, VIP));
        assert_eq!((rep.target_mac, rep.target_ip), (PEER, CLIENT));
        let bytes = rep.encode();
        assert_eq!(&bytes[20..22], &[0, 2]);
        assert_eq!(ArpFrame::parse(&bytes).unwrap(), rep);
    }

    #[test]
    fn drop_rules() {
        let req = ArpFrame::request(PEER, CLIENT, VIP);
        assert_eq!(respond(&req, OURS, |_| false), Err(ArpDrop::NotOwned));
        let other_dst = ArpFrame {
            eth_dst: MacAddr([2, 9, 9, 9, 9, 9]),
            ..req
        };
        assert_eq!(
            respond(&other_dst, OURS, |_| true),
            Err(ArpDrop::EthernetDestination)
        );
        let to_us = ArpFrame {
            eth_dst: OURS,
            ..req
        };
        assert!(respond(&to_us, OURS, |_| true).is_ok());
        let reply = ArpFrame {
            op: ArpOp::Reply,
            ..req
        };
        assert_eq!(respond(&reply, OURS, |_| true), Err(ArpDrop::NotRequest));
    }

    #[test]
    fn gratuitous_pair() {
        let [rq, rp] = gratuitous(OURS, VIP);
        for (f, op) in [(rq, ArpOp::Request), (rp, ArpOp::Reply)] {
            assert_eq!(f.op, op);
            assert_eq!(f.eth_dst, MacAddr::BROADCAST);
            assert_eq!((f.sender_ip, f.target_ip), (VIP, VIP));
            assert_eq!(f.sender_mac, OURS);
            assert_eq!(ArpFrame::parse(&f.encode()).unwrap(), f);
        }
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            ArpFrame::parse(&WIRE_REQUEST[..41]),
            Err(PacketError::Truncated { .. })
        ));
        let mut ipv6ish = WIRE_REQUEST;
        ipv6ish[17] = 0xdd;
        assert!(matches!(
            ArpFrame::parse(&ipv6ish),
            Err(PacketError::ArpFormat { .. })
        ));
        let mut op = WIRE_REQUEST;
        op[21] = 9;
        assert_eq!(ArpFrame::parse(&op), Err(PacketError::ArpOperation(9)));
        let mut et = WIRE_REQUEST;
        et[13] = 0x00;
        assert_eq!(ArpFrame::parse(&et), Err(PacketError::EtherType(0x0800)));
    }
}
