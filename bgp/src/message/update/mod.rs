//! UPDATE (RFC 4271 §4.3) and its path attributes: ORIGIN, AS_PATH, NEXT_HOP, MED,
//! LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES (RFC 1997), MP_REACH_NLRI /
//! MP_UNREACH_NLRI (RFC 4760 §3–4), AS4_PATH / AS4_AGGREGATOR (RFC 6793 §3) and
//! LARGE_COMMUNITY (RFC 8092). Unknown optional attributes are kept opaque.
//!
//! Decoding validates everything and applies RFC 7606: malformed attributes of the
//! treat-as-withdraw kind are remembered while parsing continues (a later session-reset error
//! wins, §3.j); malformed ATOMIC_AGGREGATE/AGGREGATOR/AS4_* are discarded (§7.6, §7.7,
//! RFC 6793 §6); repeated attributes other than MP_* keep the first (§3.g).

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::error::{DecodeError, EncodeError};
use crate::message::CodecCtx;
use crate::types::{
    AS_TRANS, AsSegment, Family, LargeCommunity, Origin, SegmentKind, decode_prefixes,
    encode_prefix,
};
use crate::wire::Reader;

pub(crate) mod attr;

pub use attr::type_code;

/// Attribute flag: optional.
pub const FLAG_OPTIONAL: u8 = 0x80;
/// Attribute flag: transitive.
pub const FLAG_TRANSITIVE: u8 = 0x40;
/// Attribute flag: partial.
pub const FLAG_PARTIAL: u8 = 0x20;
/// Attribute flag: extended (2-octet) length.
pub const FLAG_EXTENDED_LENGTH: u8 = 0x10;

/// An UPDATE message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// IPv4 unicast withdrawn routes (IPv6 ones are in [`PathAttrs::mp_unreach`]).
    pub withdrawn: Vec<Ipv4Net>,
    /// Path attributes.
    pub attrs: PathAttrs,
    /// IPv4 unicast NLRI (IPv6 ones are in [`PathAttrs::mp_reach`]).
    pub nlri: Vec<Ipv4Net>,
}

/// The path attributes of an UPDATE, typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttrs {
    /// ORIGIN (type 1).
    pub origin: Option<Origin>,
    /// AS_PATH (type 2), ASNs held as 4 octets whatever the wire width.
    pub as_path: Option<Vec<AsSegment>>,
    /// NEXT_HOP (type 3).
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC (type 4).
    pub med: Option<u32>,
    /// LOCAL_PREF (type 5, iBGP only).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE (type 6).
    pub atomic_aggregate: bool,
    /// AGGREGATOR (type 7).
    pub aggregator: Option<Aggregator>,
    /// COMMUNITIES (type 8); empty = absent (an empty attribute is malformed, RFC 7606 §7.8).
    pub communities: Vec<u32>,
    /// MP_REACH_NLRI (type 14).
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI (type 15).
    pub mp_unreach: Option<MpUnreach>,
    /// AS4_PATH (type 17).
    pub as4_path: Option<Vec<AsSegment>>,
    /// AS4_AGGREGATOR (type 18).
    pub as4_aggregator: Option<Aggregator>,
    /// LARGE_COMMUNITY (type 32); empty = absent.
    pub large_communities: Vec<LargeCommunity>,
    /// Other attributes (unknown optional ones, MP_* of families we do not carry), in order.
    pub other: Vec<RawAttribute>,
}

/// AGGREGATOR / AS4_AGGREGATOR value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// The aggregating AS.
    pub asn: u32,
    /// The aggregating speaker's BGP identifier.
    pub address: Ipv4Addr,
}

/// An attribute kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Flags (the extended-length bit is recomputed on encode).
    pub flags: u8,
    /// Type code.
    pub type_code: u8,
    /// Value.
    pub value: Vec<u8>,
}

/// A next hop of MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3 for the link-local one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    /// A 4-octet IPv4 next hop.
    V4(Ipv4Addr),
    /// A global IPv6 next hop, optionally followed by a link-local one.
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address (32-octet form).
        link_local: Option<Ipv6Addr>,
    },
}

/// MP_REACH_NLRI for IPv4/IPv6 unicast.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// The family (AFI/SAFI).
    pub family: Family,
    /// The next hop.
    pub next_hop: NextHop,
    /// Announced prefixes (all of `family`).
    pub nlri: Vec<IpNet>,
}

/// MP_UNREACH_NLRI for IPv4/IPv6 unicast (empty `withdrawn` = End-of-RIB, RFC 4724 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// The family (AFI/SAFI).
    pub family: Family,
    /// Withdrawn prefixes (all of `family`).
    pub withdrawn: Vec<IpNet>,
}

/// Decode an UPDATE body (after the header).
pub(crate) fn decode(body: &[u8], ctx: &CodecCtx) -> Result<Update, DecodeError> {
    let mut r = Reader::new(body);
    let list = DecodeError::MalformedAttributeList;
    let wlen = r.u16().ok_or(list("withdrawn routes length"))?;
    let withdrawn = r
        .take(usize::from(wlen))
        .ok_or(list("withdrawn routes length exceeds the message"))?;
    let alen = r.u16().ok_or(list("total path attribute length"))?;
    let attr_bytes = r
        .take(usize::from(alen))
        .ok_or(list("total path attribute length exceeds the message"))?;
    let withdrawn = ipv4_prefixes(withdrawn)?;
    let nlri = ipv4_prefixes(r.rest())?;
    let mut soft = None;
    let attrs = attr::decode_all(attr_bytes, ctx, &mut soft)?;
    let reach = !nlri.is_empty() || attrs.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
    if reach && soft.is_none() {
        let missing = [
            (type_code::ORIGIN, attrs.origin.is_none()),
            (type_code::AS_PATH, attrs.as_path.is_none()),
            (
                type_code::NEXT_HOP,
                !nlri.is_empty() && attrs.next_hop.is_none(),
            ),
        ];
        if let Some((t, _)) = missing.iter().find(|(_, m)| *m) {
            soft = Some(DecodeError::MissingWellKnown(*t));
        }
    }
    match soft {
        Some(e) => Err(e),
        None => Ok(Update {
            withdrawn,
            attrs,
            nlri,
        }),
    }
}

fn ipv4_prefixes(buf: &[u8]) -> Result<Vec<Ipv4Net>, DecodeError> {
    let nets = decode_prefixes(buf, Family::Ipv4Unicast).ok_or(DecodeError::InvalidNetworkField)?;
    Ok(nets
        .into_iter()
        .filter_map(|n| match n {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
        .collect())
}

impl Update {
    /// The End-of-RIB marker of a family (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
    /// an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib(family: Family) -> Update {
        let mut u = Update::default();
        if family != Family::Ipv4Unicast {
            u.attrs.mp_unreach = Some(MpUnreach {
                family,
                withdrawn: Vec::new(),
            });
        }
        u
    }

    /// The family this UPDATE is the End-of-RIB marker of, if it is one.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        if self.attrs == PathAttrs::default() {
            return Some(Family::Ipv4Unicast);
        }
        let only_unreach = PathAttrs {
            mp_unreach: self.attrs.mp_unreach.clone(),
            ..PathAttrs::default()
        };
        match &self.attrs.mp_unreach {
            Some(u) if u.withdrawn.is_empty() && only_unreach == self.attrs => Some(u.family),
            _ => None,
        }
    }

    pub(crate) fn encode_body(&self, ctx: &CodecCtx, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut w = Vec::new();
        for p in &self.withdrawn {
            encode_prefix(&IpNet::V4(*p), &mut w);
        }
        let wlen = u16::try_from(w.len()).map_err(|_| EncodeError::FieldOverflow("withdrawn"))?;
        out.extend_from_slice(&wlen.to_be_bytes());
        out.extend_from_slice(&w);
        let mut a = Vec::new();
        attr::encode_all(&self.attrs, ctx, &mut a);
        let alen = u16::try_from(a.len()).map_err(|_| EncodeError::FieldOverflow("attributes"))?;
        out.extend_from_slice(&alen.to_be_bytes());
        out.extend_from_slice(&a);
        for p in &self.nlri {
            encode_prefix(&IpNet::V4(*p), out);
        }
        Ok(())
    }
}

/// Encode AS_PATH segments with 2- or 4-octet ASNs, splitting segments longer than 255.
/// With 2 octets an ASN above 65,535 is written as AS_TRANS (RFC 6793 §4.2.2).
pub(crate) fn encode_as_path(path: &[AsSegment], four: bool, out: &mut Vec<u8>) {
    for seg in path {
        for chunk in seg.asns.chunks(255) {
            out.push(seg.kind.to_u8());
            out.push(chunk.len() as u8);
            for asn in chunk {
                if four {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let a = u16::try_from(*asn).unwrap_or(AS_TRANS);
                    out.extend_from_slice(&a.to_be_bytes());
                }
            }
        }
    }
}

/// Decode AS_PATH segments (RFC 7606 §7.2: a zero-length or truncated segment, or an
/// unknown segment type, is malformed).
pub(crate) fn decode_as_path(value: &[u8], four: bool) -> Option<Vec<AsSegment>> {
    let mut r = Reader::new(value);
    let mut segs = Vec::new();
    while !r.is_empty() {
        let kind = SegmentKind::from_u8(r.u8()?)?;
        let count = r.u8()?;
        if count == 0 {
            return None;
        }
        let mut asns = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            asns.push(if four { r.u32()? } else { u32::from(r.u16()?) });
        }
        segs.push(AsSegment { kind, asns });
    }
    Some(segs)
}
