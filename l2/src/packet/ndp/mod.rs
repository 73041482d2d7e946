//! IPv6 Neighbor Discovery (RFC 4861) over Ethernet, as MetalLB's NDP responder uses it.
//!
//! Frames are Ethernet (EtherType `0x86dd`, RFC 2464) + a fixed 40-byte IPv6 header (no
//! extension headers) + ICMPv6. Checksums cover the IPv6 pseudo-header (RFC 8200 §8.1,
//! RFC 4443 §2.3).
//!
//! Validation of received solicitations follows RFC 4861 §7.1.1: hop limit 255, valid
//! checksum, code 0, ICMP length ≥ 24, non-multicast target, every option length > 0, and no
//! source link-layer address option when the source is `::`.
//!
//! MetalLB behaviour reproduced (`internal/layer2/ndp.go`, `metallb-runtime.md` §2.4):
//! - [`respond`] answers only solicitations that carry a **Source Link-Layer Address** option
//!   (so DAD probes from `::` are ignored) for owned targets, with a unicast NA
//!   `Router=0, Solicited=1, Override=0` plus a Target Link-Layer Address option. `Override=0` is MetalLB's choice ([`METALLB_SOLICITED_OVERRIDE`]);
//!   RFC 4861 §7.2.4 says O SHOULD be set unless the target is anycast, and with O=0 a
//!   REACHABLE entry is not replaced (§7.2.5), so callers may pass `true` to speed up failover.
//! - [`unsolicited`] builds the takeover NA: to `ff02::1` (MAC `33:33:00:00:00:01`),
//!   `Router=0, Solicited=0, Override=1`, Target LLA option (RFC 4861 §7.2.6).
//!
//! IPv6 source of our NAs: MetalLB sends from the interface's **link-local** address. The
//! Linux kernel, answering for its own addresses, uses the **target** address as source, and
//! `ndisc6` (the usual diagnostic tool, `testbed.md` §6) ignores unicast replies whose source
//! is not the target — verified in a netns: link-local-sourced replies time out, target-sourced
//! ones are accepted. Receivers' neighbour caches accept either (RFC 4861 §7.2.5 does not look
//! at the source). The source is therefore a parameter; [`NaSource::Target`] is ferrolb's
//! recommended default, [`NaSource::LinkLocal`] reproduces MetalLB byte for byte.
//! - [`solicited_node_multicast`] (RFC 4291 §2.7.1) is the group to join per owned IP, and
//!   [`multicast_mac`] (RFC 2464 §7) its Ethernet address.

use std::net::Ipv6Addr;

use super::{
    ETH_HEADER_LEN, ETHERTYPE_IPV6, MacAddr, PacketError, be16, parse_ethernet, take,
    write_ethernet,
};

/// MetalLB sends solicited NAs with `Override=0`.
pub const METALLB_SOLICITED_OVERRIDE: bool = false;
/// Which IPv6 source address our Neighbor Advertisements use (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NaSource {
    /// The advertised target address itself (Linux kernel behaviour; accepted by `ndisc6`).
    #[default]
    Target,
    /// The interface's link-local address (MetalLB behaviour).
    LinkLocal(Ipv6Addr),
}

impl NaSource {
    /// The source address for an NA about `target`.
    pub fn address(self, target: Ipv6Addr) -> Ipv6Addr {
        match self {
            NaSource::Target => target,
            NaSource::LinkLocal(ll) => ll,
        }
    }
}

/// ICMPv6 next-header value.
pub const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbor Solicitation.
pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// `ff02::1`, the link-local all-nodes group.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const IPV6_HEADER_LEN: usize = 40;
const ICMP_OFF: usize = ETH_HEADER_LEN + IPV6_HEADER_LEN;
/// NS/NA fixed part: type, code, checksum, flags/reserved (4), target (16).
const NDP_FIXED_LEN: usize = 24;
const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;

/// The solicited-node multicast address of `ip`: `ff02::1:ffXX:XXXX` with the low 24 bits of
/// `ip` (RFC 4291 §2.7.1).
pub fn solicited_node_multicast(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet address of an IPv6 multicast group: `33:33` + the low 32 bits (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// A parsed Neighbor Solicitation with its Ethernet and IPv6 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborSolicitation {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// IPv6 source (`::` for DAD).
    pub src: Ipv6Addr,
    /// IPv6 destination (solicited-node multicast or unicast).
    pub dst: Ipv6Addr,
    /// Target address being resolved.
    pub target: Ipv6Addr,
    /// Source Link-Layer Address option, if present.
    pub source_lla: Option<MacAddr>,
}

/// A Neighbor Advertisement with its Ethernet and IPv6 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvertisement {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// IPv6 source (the interface's link-local address).
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// Router flag (R).
    pub router: bool,
    /// Solicited flag (S).
    pub solicited: bool,
    /// Override flag (O).
    pub override_flag: bool,
    /// Target address.
    pub target: Ipv6Addr,
    /// Target Link-Layer Address option, if present.
    pub target_lla: Option<MacAddr>,
}

/// An NDP message this module understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpMessage {
    /// Type 135.
    Solicitation(NeighborSolicitation),
    /// Type 136.
    Advertisement(NeighborAdvertisement),
}

/// The IPv6 header fields NDP validation needs, and the ICMPv6 message (`payload length`
/// bytes after the header).
struct Ipv6Packet<'a> {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    icmp: &'a [u8],
}

/// Ethernet + IPv6 header of a frame carrying ICMPv6 (RFC 8200 §3).
fn parse_ipv6(buf: &[u8]) -> Result<(MacAddr, MacAddr, Ipv6Packet<'_>), PacketError> {
    let (eth_dst, eth_src, ethertype) = parse_ethernet(buf)?;
    if ethertype != ETHERTYPE_IPV6 {
        return Err(PacketError::EtherType(ethertype));
    }
    let ip = take::<IPV6_HEADER_LEN>(buf, ETH_HEADER_LEN)?;
    if ip[0] >> 4 != 6 {
        return Err(PacketError::IpVersion(ip[0] >> 4));
    }
    let declared = usize::from(be16(&ip, 4)?);
    let available = buf.len() - ICMP_OFF; // take() above guarantees len >= ICMP_OFF
    if declared > available {
        return Err(PacketError::PayloadLength {
            declared,
            available,
        });
    }
    if ip[6] != IPPROTO_ICMPV6 {
        return Err(PacketError::NextHeader(ip[6]));
    }
    let packet = Ipv6Packet {
        src: Ipv6Addr::from(take::<16>(&ip, 8)?),
        dst: Ipv6Addr::from(take::<16>(&ip, 24)?),
        hop_limit: ip[7],
        icmp: &buf[ICMP_OFF..ICMP_OFF + declared],
    };
    Ok((eth_dst, eth_src, packet))
}

/// The ICMPv6 type of an NS or NA with code 0 and at least the fixed NDP part.
fn ndp_type(icmp: &[u8]) -> Result<u8, PacketError> {
    let (icmp_type, code) = match icmp {
        [t, c, ..] => (*t, *c),
        _ => {
            return Err(PacketError::Truncated {
                need: ICMP_OFF + 2,
                got: ICMP_OFF + icmp.len(),
            });
        }
    };
    if !matches!(
        icmp_type,
        ICMPV6_NEIGHBOR_SOLICITATION | ICMPV6_NEIGHBOR_ADVERTISEMENT
    ) || code != 0
    {
        return Err(PacketError::IcmpType { icmp_type, code });
    }
    if icmp.len() < NDP_FIXED_LEN {
        return Err(PacketError::Truncated {
            need: ICMP_OFF + NDP_FIXED_LEN,
            got: ICMP_OFF + icmp.len(),
        });
    }
    Ok(icmp_type)
}

/// Parses and validates an Ethernet frame carrying an NS or NA (RFC 4861 §7.1.1 / §7.1.2).
pub fn parse(buf: &[u8]) -> Result<NdpMessage, PacketError> {
    let (eth_dst, eth_src, ip) = parse_ipv6(buf)?;
    let Ipv6Packet { src, dst, icmp, .. } = ip;
    let icmp_type = ndp_type(icmp)?;
    if ip.hop_limit != 255 {
        return Err(PacketError::HopLimit(ip.hop_limit));
    }
    if checksum(src, dst, icmp) != 0 {
        return Err(PacketError::Checksum);
    }
    let target = Ipv6Addr::from(take::<16>(icmp, 8)?);
    if target.is_multicast() {
        return Err(PacketError::MulticastTarget);
    }
    let want = if icmp_type == ICMPV6_NEIGHBOR_SOLICITATION {
        OPT_SOURCE_LLA
    } else {
        OPT_TARGET_LLA
    };
    let lla = find_lla(&icmp[NDP_FIXED_LEN..], want)?;
    if icmp_type == ICMPV6_NEIGHBOR_SOLICITATION {
        if src.is_unspecified() && lla.is_some() {
            return Err(PacketError::SllaWithUnspecifiedSource);
        }
        Ok(NdpMessage::Solicitation(NeighborSolicitation {
            eth_dst,
            eth_src,
            src,
            dst,
            target,
            source_lla: lla,
        }))
    } else {
        let flags = icmp[4];
        Ok(NdpMessage::Advertisement(NeighborAdvertisement {
            eth_dst,
            eth_src,
            src,
            dst,
            router: flags & 0x80 != 0,
            solicited: flags & 0x40 != 0,
            override_flag: flags & 0x20 != 0,
            target,
            target_lla: lla,
        }))
    }
}

/// Walks the NDP options (RFC 4861 §4.6), validating lengths, and returns the first
/// link-layer address option of kind `want` (Ethernet: exactly 6 address bytes used).
fn find_lla(mut opts: &[u8], want: u8) -> Result<Option<MacAddr>, PacketError> {
    let mut found = None;
    while !opts.is_empty() {
        let (kind, units) = match opts {
            [k, l, ..] => (*k, usize::from(*l)),
            _ => return Err(PacketError::BadOption),
        };
        let len = units * 8;
        if len == 0 || len > opts.len() {
            return Err(PacketError::BadOption);
        }
        if kind == want && found.is_none() {
            // An Ethernet LLA option is 8 bytes; longer ones (other link types) are not ours.
            if len != 8 {
                return Err(PacketError::BadOption);
            }
            found = Some(MacAddr(take(opts, 2)?));
        }
        opts = &opts[len..];
    }
    Ok(found)
}

/// The ICMPv6 checksum over the pseudo-header and `msg`; `0` when verifying a correct message
/// (one's-complement sum of everything including the stored checksum is `0xffff`).
fn checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // Upper-layer length as u32 and next header (RFC 8200 §8.1); msg is at most 65535 bytes.
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds Ethernet + IPv6 (hop limit 255) + ICMPv6 `icmp` with its checksum filled in.
fn frame(
    eth_dst: MacAddr,
    eth_src: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    mut icmp: Vec<u8>,
) -> Vec<u8> {
    icmp[2] = 0;
    icmp[3] = 0;
    let c = checksum(src, dst, &icmp).to_be_bytes();
    icmp[2..4].copy_from_slice(&c);
    let mut out = vec![0u8; ICMP_OFF];
    write_ethernet(&mut out, eth_dst, eth_src, ETHERTYPE_IPV6);
    let ip = &mut out[ETH_HEADER_LEN..ICMP_OFF];
    ip[0] = 0x60;
    // NDP bodies built here are < 100 bytes.
    ip[4..6].copy_from_slice(&(icmp.len() as u16).to_be_bytes());
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    out.extend_from_slice(&icmp);
    out
}

fn ndp_body(icmp_type: u8, flags: u8, target: Ipv6Addr, lla: Option<(u8, MacAddr)>) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(NDP_FIXED_LEN + 8);
    icmp.extend_from_slice(&[icmp_type, 0, 0, 0, flags, 0, 0, 0]);
    icmp.extend_from_slice(&target.octets());
    if let Some((kind, mac)) = lla {
        icmp.extend_from_slice(&[kind, 1]);
        icmp.extend_from_slice(&mac.0);
    }
    icmp
}

impl NeighborAdvertisement {
    /// Encodes the NA as an Ethernet frame (86 bytes with a TLLA option).
    pub fn encode(&self) -> Vec<u8> {
        let flags = (u8::from(self.router) << 7)
            | (u8::from(self.solicited) << 6)
            | (u8::from(self.override_flag) << 5);
        let body = ndp_body(
            ICMPV6_NEIGHBOR_ADVERTISEMENT,
            flags,
            self.target,
            self.target_lla.map(|m| (OPT_TARGET_LLA, m)),
        );
        frame(self.eth_dst, self.eth_src, self.src, self.dst, body)
    }
}

impl NeighborSolicitation {
    /// Encodes the NS as an Ethernet frame (used by probes and tests).
    pub fn encode(&self) -> Vec<u8> {
        let body = ndp_body(
            ICMPV6_NEIGHBOR_SOLICITATION,
            0,
            self.target,
            self.source_lla.map(|m| (OPT_SOURCE_LLA, m)),
        );
        frame(self.eth_dst, self.eth_src, self.src, self.dst, body)
    }

    /// A multicast address-resolution NS for `target` from `src`/`mac` (RFC 4861 §7.2.2).
    pub fn resolve(mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Self {
        let dst = solicited_node_multicast(target);
        Self {
            eth_dst: multicast_mac(dst),
            eth_src: mac,
            src,
            dst,
            target,
            source_lla: Some(mac),
        }
    }
}

/// Why [`respond`] did not answer a solicitation (MetalLB's `dropReason`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpDrop {
    /// No Source Link-Layer Address option (includes DAD probes from `::`).
    NoSourceLla,
    /// The target is not owned (or not announced on this interface).
    NotOwned,
}

/// Decides whether to answer `ns` received on an interface with MAC `iface_mac`. Returns the
/// unicast solicited NA (`R=0, S=1, O=override_flag`) sourced according to `source`.
pub fn respond(
    ns: &NeighborSolicitation,
    iface_mac: MacAddr,
    source: NaSource,
    override_flag: bool,
    owned: impl FnOnce(Ipv6Addr) -> bool,
) -> Result<NeighborAdvertisement, NdpDrop> {
    let Some(lla) = ns.source_lla else {
        return Err(NdpDrop::NoSourceLla);
    };
    if !owned(ns.target) {
        return Err(NdpDrop::NotOwned);
    }
    Ok(NeighborAdvertisement {
        eth_dst: lla,
        eth_src: iface_mac,
        src: source.address(ns.target),
        dst: ns.src,
        router: false,
        solicited: true,
        override_flag,
        target: ns.target,
        target_lla: Some(iface_mac),
    })
}

/// The unsolicited NA sent on takeover: to `ff02::1`, `R=0, S=0, O=1`, with a TLLA option.
pub fn unsolicited(
    iface_mac: MacAddr,
    source: NaSource,
    target: Ipv6Addr,
) -> NeighborAdvertisement {
    NeighborAdvertisement {
        eth_dst: multicast_mac(ALL_NODES),
        eth_src: iface_mac,
        src: source.address(target),
        dst: ALL_NODES,
        router: false,
        solicited: false,
        override_flag: true,
        target,
        target_lla: Some(iface_mac),
    }
}

#[cfg(test)]
mod tests;
