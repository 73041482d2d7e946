//! ARP and NDP codecs over Ethernet II, and the responder rules MetalLB applies.
//!
//! - [`arp`]: RFC 826 ARP for IPv4 over Ethernet: request parsing, unicast replies and
//!   gratuitous announcements (`metallb-runtime.md` §2.3).
//! - [`ndp`]: RFC 4861 Neighbor Solicitation parsing (with the §7.1.1 validity checks) and
//!   Neighbor Advertisement encoding (§4.4, §7.2.4, §7.2.6), solicited-node multicast
//!   addresses (RFC 4291 §2.7.1) and their MAC (RFC 2464 §7) (`metallb-runtime.md` §2.4).
//!
//! Parsing is strictly bounds-checked: every malformed or hostile frame yields a
//! [`PacketError`], never a panic (property-tested with random bytes). Encoders return whole
//! Ethernet frames ready for an `AF_PACKET` socket; short frames are zero-padded to the
//! 60-byte Ethernet minimum (without FCS), as NIC drivers and `mdlayher/ethernet` do.

use std::fmt;

pub mod arp;
pub mod ndp;

/// EtherType of ARP (RFC 826 / IEEE registry).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6 (RFC 2464 §3).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Length of an Ethernet II header.
pub const ETH_HEADER_LEN: usize = 14;
/// Minimum Ethernet frame length without the FCS.
pub const ETH_MIN_FRAME: usize = 60;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Whether the group (multicast/broadcast) bit is set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for MacAddr {
    type Err = PacketError;

    /// Parses `aa:bb:cc:dd:ee:ff` (or `-` separated), case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in &mut out {
            let p = parts.next().ok_or(PacketError::BadMac)?;
            if p.len() != 2 {
                return Err(PacketError::BadMac);
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| PacketError::BadMac)?;
        }
        if parts.next().is_some() {
            return Err(PacketError::BadMac);
        }
        Ok(MacAddr(out))
    }
}

/// Why a frame could not be parsed (or a value not built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The buffer ends before a required field.
    #[error("failed to parse frame: truncated, need {need} bytes, got {got}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        got: usize,
    },
    /// The Ethernet frame does not carry the expected protocol.
    #[error("failed to parse frame: unexpected ethertype {0:#06x}")]
    EtherType(u16),
    /// ARP for something other than IPv4 over Ethernet.
    #[error(
        "failed to parse ARP: unsupported htype {htype}, ptype {ptype:#06x}, hlen {hlen}, plen {plen}"
    )]
    ArpFormat {
        /// Hardware type (1 = Ethernet).
        htype: u16,
        /// Protocol type (0x0800 = IPv4).
        ptype: u16,
        /// Hardware address length (6).
        hlen: u8,
        /// Protocol address length (4).
        plen: u8,
    },
    /// ARP operation other than request (1) or reply (2).
    #[error("failed to parse ARP: unknown operation {0}")]
    ArpOperation(u16),
    /// The IP header is not IPv6.
    #[error("failed to parse IPv6: version {0}")]
    IpVersion(u8),
    /// The IPv6 next header is not ICMPv6 (extension headers are not supported).
    #[error("failed to parse IPv6: next header {0} is not ICMPv6")]
    NextHeader(u8),
    /// The IPv6 payload length disagrees with the frame.
    #[error(
        "failed to parse IPv6: payload length {declared} exceeds the {available} bytes present"
    )]
    PayloadLength {
        /// Declared payload length.
        declared: usize,
        /// Bytes present after the IPv6 header.
        available: usize,
    },
    /// NDP messages must have hop limit 255 (RFC 4861 §7.1.1, §7.1.2).
    #[error("failed to validate NDP: hop limit {0} is not 255")]
    HopLimit(u8),
    /// Not the expected ICMPv6 type/code.
    #[error("failed to parse NDP: ICMPv6 type {icmp_type} code {code} unexpected")]
    IcmpType {
        /// ICMPv6 type.
        icmp_type: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// The ICMPv6 checksum over the pseudo-header does not verify (RFC 4443 §2.3).
    #[error("failed to validate ICMPv6: bad checksum")]
    Checksum,
    /// An NDP option has length 0 or runs past the end (RFC 4861 §4.6).
    #[error("failed to parse NDP: malformed option")]
    BadOption,
    /// The NS/NA target is a multicast address (RFC 4861 §7.1.1, §7.1.2).
    #[error("failed to validate NDP: multicast target address")]
    MulticastTarget,
    /// An NS from `::` carries a source link-layer address option (RFC 4861 §7.1.1).
    #[error("failed to validate NDP: source link-layer option with unspecified source")]
    SllaWithUnspecifiedSource,
    /// A MAC address string is malformed.
    #[error("failed to parse MAC address")]
    BadMac,
}

/// Reads `N` bytes at `off`, bounds-checked.
pub(crate) fn take<const N: usize>(buf: &[u8], off: usize) -> Result<[u8; N], PacketError> {
    let need = off.checked_add(N).ok_or(PacketError::Truncated {
        need: usize::MAX,
        got: buf.len(),
    })?;
    buf.get(off..need)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(PacketError::Truncated {
            need,
            got: buf.len(),
        })
}

/// Reads a big-endian `u16` at `off`.
pub(crate) fn be16(buf: &[u8], off: usize) -> Result<u16, PacketError> {
    take::<2>(buf, off).map(u16::from_be_bytes)
}

/// Parses the Ethernet II header: `(dst, src, ethertype)`.
pub fn parse_ethernet(buf: &[u8]) -> Result<(MacAddr, MacAddr, u16), PacketError> {
    Ok((
        MacAddr(take(buf, 0)?),
        MacAddr(take(buf, 6)?),
        be16(buf, 12)?,
    ))
}

/// Writes an Ethernet II header into the first 14 bytes of `out` (which must be long enough;
/// only called on buffers this module sized).
pub(crate) fn write_ethernet(out: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) {
    out[0..6].copy_from_slice(&dst.0);
    out[6..12].copy_from_slice(&src.0);
    out[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_display() {
        let m: MacAddr = "02:AB:cd:00:11:ff".parse().unwrap();
        assert_eq!(m.to_string(), "02:ab:cd:00:11:ff");
        assert!("02:ab:cd:00:11".parse::<MacAddr>().is_err());
        assert!("02:ab:cd:00:11:ff:00".parse::<MacAddr>().is_err());
        assert!("02:ab:cd:00:11:fg".parse::<MacAddr>().is_err());
        assert!("2:ab:cd:00:11:ff".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
    }

    #[test]
    fn take_never_overflows() {
        assert!(take::<4>(&[0; 3], 0).is_err());
        assert!(take::<4>(&[0; 3], usize::MAX).is_err());
        assert_eq!(take::<2>(&[1, 2, 3], 1).unwrap(), [2, 3]);
    }
}
