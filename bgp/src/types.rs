//! Protocol value types shared by the codec, the packer and the FSM: address families
//! (RFC 4760), ORIGIN, AS_PATH segments (RFC 4271 §4.3), communities (RFC 1997, RFC 8092)
//! and the NLRI prefix encoding (RFC 4271 §4.3, RFC 4760 §5).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::wire::Reader;

/// AFI of IPv4 (IANA address family numbers).
pub const AFI_IPV4: u16 = 1;
/// AFI of IPv6.
pub const AFI_IPV6: u16 = 2;
/// SAFI unicast (RFC 4760).
pub const SAFI_UNICAST: u8 = 1;
/// AS_TRANS, the 2-octet stand-in for a 4-octet ASN (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;

/// An address family this crate carries routes for (AFI/SAFI unicast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 unicast (AFI 1, SAFI 1).
    Ipv4Unicast,
    /// IPv6 unicast (AFI 2, SAFI 1).
    Ipv6Unicast,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    /// The family of an (AFI, SAFI) pair, if we carry it.
    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (AFI_IPV4, SAFI_UNICAST) => Some(Family::Ipv4Unicast),
            (AFI_IPV6, SAFI_UNICAST) => Some(Family::Ipv6Unicast),
            _ => None,
        }
    }

    /// The wire AFI.
    pub fn afi(self) -> u16 {
        match self {
            Family::Ipv4Unicast => AFI_IPV4,
            Family::Ipv6Unicast => AFI_IPV6,
        }
    }

    /// The wire SAFI.
    pub fn safi(self) -> u8 {
        SAFI_UNICAST
    }

    /// The family of a prefix.
    pub fn of(prefix: &IpNet) -> Family {
        match prefix {
            IpNet::V4(_) => Family::Ipv4Unicast,
            IpNet::V6(_) => Family::Ipv6Unicast,
        }
    }

    /// The family of an address.
    pub fn of_addr(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4Unicast,
            IpAddr::V6(_) => Family::Ipv6Unicast,
        }
    }
}

/// ORIGIN values (RFC 4271 §4.3 type code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// 0: learned from an IGP (what MetalLB announces).
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: incomplete.
    Incomplete,
}

impl Origin {
    /// Decode the one-octet value.
    pub fn from_u8(v: u8) -> Option<Origin> {
        match v {
            0 => Some(Origin::Igp),
            1 => Some(Origin::Egp),
            2 => Some(Origin::Incomplete),
            _ => None,
        }
    }

    /// The one-octet value.
    pub fn to_u8(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }
}

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKind {
    /// 1: AS_SET.
    Set,
    /// 2: AS_SEQUENCE.
    Sequence,
    /// 3: AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// 4: AS_CONFED_SET.
    ConfedSet,
}

impl SegmentKind {
    /// Decode the segment type octet.
    pub fn from_u8(v: u8) -> Option<SegmentKind> {
        match v {
            1 => Some(SegmentKind::Set),
            2 => Some(SegmentKind::Sequence),
            3 => Some(SegmentKind::ConfedSequence),
            4 => Some(SegmentKind::ConfedSet),
            _ => None,
        }
    }

    /// The segment type octet.
    pub fn to_u8(self) -> u8 {
        match self {
            SegmentKind::Set => 1,
            SegmentKind::Sequence => 2,
            SegmentKind::ConfedSequence => 3,
            SegmentKind::ConfedSet => 4,
        }
    }
}

/// One AS_PATH segment; at most 255 ASNs on the wire (longer ones are split on encode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentKind,
    /// The ASNs, always held as 4-octet values.
    pub asns: Vec<u32>,
}

/// A large community (RFC 8092): its one home is `ferrolb-core` (the value type shared with the
/// configuration parsers).
pub use ferrolb_core::community::LargeCommunity;

/// Encoded size of one NLRI prefix: the length octet plus the significant octets.
pub fn prefix_wire_len(prefix: &IpNet) -> usize {
    1 + usize::from(prefix.prefix_len()).div_ceil(8)
}

/// Append one prefix in NLRI encoding (RFC 4271 §4.3: length in bits, then the minimum
/// number of octets).
pub fn encode_prefix(prefix: &IpNet, out: &mut Vec<u8>) {
    let len = prefix.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match prefix.addr() {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
    }
}

/// Decode a run of NLRI prefixes of one family filling `buf` exactly; any malformed prefix
/// is [`crate::DecodeError::InvalidNetworkField`] (RFC 7606 §5.3: session reset).
pub fn decode_prefixes(buf: &[u8], family: Family) -> Option<Vec<IpNet>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = r.u8()?;
        let n = usize::from(len).div_ceil(8);
        let bytes = r.take(n)?;
        let net = match family {
            Family::Ipv4Unicast => {
                if len > 32 {
                    return None;
                }
                let mut o = [0u8; 4];
                o[..n].copy_from_slice(bytes);
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(o), len).ok()?)
            }
            Family::Ipv6Unicast => {
                if len > 128 {
                    return None;
                }
                let mut o = [0u8; 16];
                o[..n].copy_from_slice(bytes);
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(o), len).ok()?)
            }
        };
        out.push(net);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_encoding_uses_minimum_octets() {
        let p: IpNet = "10.1.2.0/23".parse().expect("net");
        let mut out = Vec::new();
        encode_prefix(&p, &mut out);
        assert_eq!(out, [23, 10, 1, 2]);
        assert_eq!(prefix_wire_len(&p), 4);
        let d = decode_prefixes(&out, Family::Ipv4Unicast).expect("decode");
        assert_eq!(d, vec![p]);
    }

    #[test]
    fn prefix_length_over_family_max_is_rejected() {
        assert!(decode_prefixes(&[33, 1, 2, 3, 4, 5], Family::Ipv4Unicast).is_none());
        assert!(decode_prefixes(&[24, 1, 2], Family::Ipv4Unicast).is_none());
        let v6 = decode_prefixes(&[0], Family::Ipv6Unicast).expect("default route");
        assert_eq!(v6, vec!["::/0".parse::<IpNet>().expect("net")]);
    }
}
