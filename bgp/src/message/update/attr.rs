//! Path attribute TLVs (RFC 4271 §4.3): flag checks, per-type validation with the RFC 7606
//! error handling, and the encoder (attributes in type-code order, extended length when a
//! value exceeds 255 octets and always for MP_* so the packer can size them up front).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    Aggregator, FLAG_EXTENDED_LENGTH, FLAG_OPTIONAL, FLAG_TRANSITIVE, MpReach, MpUnreach, NextHop,
    PathAttrs, RawAttribute, decode_as_path, encode_as_path,
};
use crate::error::{DecodeError, ErrorAction};
use crate::message::CodecCtx;
use crate::types::{Family, LargeCommunity, Origin, decode_prefixes, encode_prefix};
use crate::wire::Reader;

/// Path attribute type codes (IANA).
pub mod type_code {
    /// ORIGIN.
    pub const ORIGIN: u8 = 1;
    /// AS_PATH.
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP.
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC.
    pub const MED: u8 = 4;
    /// LOCAL_PREF.
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE.
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR.
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES.
    pub const COMMUNITIES: u8 = 8;
    /// MP_REACH_NLRI.
    pub const MP_REACH: u8 = 14;
    /// MP_UNREACH_NLRI.
    pub const MP_UNREACH: u8 = 15;
    /// AS4_PATH.
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR.
    pub const AS4_AGGREGATOR: u8 = 18;
    /// LARGE_COMMUNITY.
    pub const LARGE_COMMUNITY: u8 = 32;
}

use type_code as tc;

/// The optional/transitive bits each known type must carry (RFC 4271 §5, RFC 4760, 8092).
fn expected_flags(ty: u8) -> Option<u8> {
    match ty {
        tc::ORIGIN | tc::AS_PATH | tc::NEXT_HOP | tc::LOCAL_PREF | tc::ATOMIC_AGGREGATE => {
            Some(FLAG_TRANSITIVE)
        }
        tc::MED | tc::MP_REACH | tc::MP_UNREACH => Some(FLAG_OPTIONAL),
        tc::AGGREGATOR
        | tc::COMMUNITIES
        | tc::AS4_PATH
        | tc::AS4_AGGREGATOR
        | tc::LARGE_COMMUNITY => Some(FLAG_OPTIONAL | FLAG_TRANSITIVE),
        _ => None,
    }
}

/// Decode the attribute list. Treat-as-withdraw errors go to `soft` (first one kept);
/// session-reset errors are returned.
pub(super) fn decode_all(
    buf: &[u8],
    ctx: &CodecCtx,
    soft: &mut Option<DecodeError>,
) -> Result<PathAttrs, DecodeError> {
    let mut r = Reader::new(buf);
    let mut attrs = PathAttrs::default();
    let mut seen = [false; 256];
    let list = DecodeError::MalformedAttributeList;
    while !r.is_empty() {
        let start = r.rest();
        let flags = r.u8().ok_or(list("attribute flags"))?;
        let ty = r.u8().ok_or(list("attribute type"))?;
        let len = if flags & FLAG_EXTENDED_LENGTH != 0 {
            r.u16().ok_or(list("attribute length"))?
        } else {
            u16::from(r.u8().ok_or(list("attribute length"))?)
        };
        let value = r
            .take(usize::from(len))
            .ok_or(list("attribute length exceeds the list"))?;
        let raw = &start[..start.len() - r.remaining()];
        if std::mem::replace(&mut seen[usize::from(ty)], true) {
            if ty == tc::MP_REACH || ty == tc::MP_UNREACH {
                return Err(list("repeated MP_REACH_NLRI/MP_UNREACH_NLRI"));
            }
            continue; // RFC 7606 §3.g: keep the first
        }
        let res = match expected_flags(ty) {
            Some(want) if flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) != want => {
                Err(DecodeError::AttributeFlags {
                    type_code: ty,
                    data: raw.to_vec(),
                })
            }
            Some(_) => decode_known(&mut attrs, ty, value, raw, ctx),
            None if flags & FLAG_OPTIONAL == 0 => Err(DecodeError::UnrecognizedWellKnown {
                type_code: ty,
                data: raw.to_vec(),
            }),
            None => {
                attrs.other.push(RawAttribute {
                    flags: flags & !FLAG_EXTENDED_LENGTH,
                    type_code: ty,
                    value: value.to_vec(),
                });
                Ok(())
            }
        };
        match res {
            Err(e) if e.action() == ErrorAction::TreatAsWithdraw => {
                soft.get_or_insert(e);
            }
            other => other?,
        }
    }
    Ok(attrs)
}

/// Parse one attribute of a known type into `attrs`.
fn decode_known(
    attrs: &mut PathAttrs,
    ty: u8,
    value: &[u8],
    raw: &[u8],
    ctx: &CodecCtx,
) -> Result<(), DecodeError> {
    let bad_len = || DecodeError::AttributeLength {
        type_code: ty,
        data: raw.to_vec(),
    };
    let u32_of = |v: &[u8]| {
        <[u8; 4]>::try_from(v)
            .map(u32::from_be_bytes)
            .map_err(|_| bad_len())
    };
    match ty {
        tc::ORIGIN => {
            let v = match value {
                [v] => *v,
                _ => return Err(bad_len()),
            };
            attrs.origin =
                Some(Origin::from_u8(v).ok_or(DecodeError::InvalidOrigin(raw.to_vec()))?);
        }
        tc::AS_PATH => {
            let p = decode_as_path(value, ctx.four_octet_as).ok_or(DecodeError::MalformedAsPath)?;
            attrs.as_path = Some(p);
        }
        tc::NEXT_HOP => {
            let nh = Ipv4Addr::from(u32_of(value)?);
            if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
                return Err(DecodeError::InvalidNextHop(raw.to_vec()));
            }
            attrs.next_hop = Some(nh);
        }
        tc::MED => attrs.med = Some(u32_of(value)?),
        tc::LOCAL_PREF => attrs.local_pref = Some(u32_of(value)?),
        // RFC 7606 §7.6, §7.7, RFC 6793 §6: malformed ones are discarded.
        tc::ATOMIC_AGGREGATE => attrs.atomic_aggregate |= value.is_empty(),
        tc::AGGREGATOR => attrs.aggregator = decode_aggregator(value, ctx.four_octet_as),
        tc::AS4_AGGREGATOR => attrs.as4_aggregator = decode_aggregator(value, true),
        tc::AS4_PATH => attrs.as4_path = decode_as_path(value, true),
        tc::COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(4) {
                return Err(bad_len());
            }
            let c = value.chunks_exact(4);
            attrs.communities = c
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
        tc::LARGE_COMMUNITY => {
            if value.is_empty() || !value.len().is_multiple_of(12) {
                return Err(bad_len());
            }
            attrs.large_communities = value.chunks_exact(12).map(large_community).collect();
        }
        tc::MP_REACH => decode_mp_reach(attrs, value, raw)?,
        _ => decode_mp_unreach(attrs, value, raw)?,
    }
    Ok(())
}

fn large_community(c: &[u8]) -> LargeCommunity {
    let w = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
    LargeCommunity {
        global: w(0),
        local1: w(4),
        local2: w(8),
    }
}

fn decode_aggregator(value: &[u8], four: bool) -> Option<Aggregator> {
    let mut r = Reader::new(value);
    let asn = if four { r.u32()? } else { u32::from(r.u16()?) };
    let address = Ipv4Addr::from(r.u32()?);
    r.is_empty().then_some(Aggregator { asn, address })
}

fn mp_error(raw: &[u8]) -> DecodeError {
    DecodeError::OptionalAttribute {
        type_code: raw.get(1).copied().unwrap_or_default(),
        data: raw.to_vec(),
    }
}

fn decode_mp_reach(attrs: &mut PathAttrs, value: &[u8], raw: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(value);
    let afi = r.u16().ok_or_else(|| mp_error(raw))?;
    let safi = r.u8().ok_or_else(|| mp_error(raw))?;
    let Some(family) = Family::from_afi_safi(afi, safi) else {
        attrs.other.push(raw_of(FLAG_OPTIONAL, tc::MP_REACH, value));
        return Ok(());
    };
    let nh_len = r.u8().ok_or_else(|| mp_error(raw))?;
    let nh = r.take(usize::from(nh_len)).ok_or_else(|| mp_error(raw))?;
    let next_hop = match nh.len() {
        4 => NextHop::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(nh).map_err(|_| mp_error(raw))?,
        )),
        16 | 32 => NextHop::V6 {
            global: v6_at(nh, 0),
            link_local: (nh.len() == 32).then(|| v6_at(nh, 16)),
        },
        _ => return Err(mp_error(raw)),
    };
    r.u8().ok_or_else(|| mp_error(raw))?; // reserved
    let nlri = decode_prefixes(r.rest(), family).ok_or(DecodeError::InvalidNetworkField)?;
    attrs.mp_reach = Some(MpReach {
        family,
        next_hop,
        nlri,
    });
    Ok(())
}

fn v6_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(o)
}

fn decode_mp_unreach(attrs: &mut PathAttrs, value: &[u8], raw: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(value);
    let afi = r.u16().ok_or_else(|| mp_error(raw))?;
    let safi = r.u8().ok_or_else(|| mp_error(raw))?;
    let Some(family) = Family::from_afi_safi(afi, safi) else {
        attrs
            .other
            .push(raw_of(FLAG_OPTIONAL, tc::MP_UNREACH, value));
        return Ok(());
    };
    let withdrawn = decode_prefixes(r.rest(), family).ok_or(DecodeError::InvalidNetworkField)?;
    attrs.mp_unreach = Some(MpUnreach { family, withdrawn });
    Ok(())
}

fn raw_of(flags: u8, type_code: u8, value: &[u8]) -> RawAttribute {
    RawAttribute {
        flags,
        type_code,
        value: value.to_vec(),
    }
}

/// Append one attribute TLV; `force_ext` always uses the 2-octet length.
pub(crate) fn push_attr(out: &mut Vec<u8>, flags: u8, ty: u8, value: &[u8], force_ext: bool) {
    if force_ext || value.len() > 255 {
        out.extend_from_slice(&[flags | FLAG_EXTENDED_LENGTH, ty]);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[flags & !FLAG_EXTENDED_LENGTH, ty, value.len() as u8]);
    }
    out.extend_from_slice(value);
}

/// Encode all attributes in type-code order (RFC 4271 §5 recommends ascending order).
pub(super) fn encode_all(a: &PathAttrs, ctx: &CodecCtx, out: &mut Vec<u8>) {
    const WK: u8 = FLAG_TRANSITIVE;
    const OT: u8 = FLAG_OPTIONAL | FLAG_TRANSITIVE;
    if let Some(o) = a.origin {
        push_attr(out, WK, tc::ORIGIN, &[o.to_u8()], false);
    }
    if let Some(p) = &a.as_path {
        let mut v = Vec::new();
        encode_as_path(p, ctx.four_octet_as, &mut v);
        push_attr(out, WK, tc::AS_PATH, &v, false);
    }
    if let Some(nh) = a.next_hop {
        push_attr(out, WK, tc::NEXT_HOP, &nh.octets(), false);
    }
    if let Some(m) = a.med {
        push_attr(out, FLAG_OPTIONAL, tc::MED, &m.to_be_bytes(), false);
    }
    if let Some(lp) = a.local_pref {
        push_attr(out, WK, tc::LOCAL_PREF, &lp.to_be_bytes(), false);
    }
    if a.atomic_aggregate {
        push_attr(out, WK, tc::ATOMIC_AGGREGATE, &[], false);
    }
    if let Some(ag) = a.aggregator {
        push_attr(
            out,
            OT,
            tc::AGGREGATOR,
            &aggregator(ag, ctx.four_octet_as),
            false,
        );
    }
    if !a.communities.is_empty() {
        let v: Vec<u8> = a.communities.iter().flat_map(|c| c.to_be_bytes()).collect();
        push_attr(out, OT, tc::COMMUNITIES, &v, false);
    }
    if let Some(m) = &a.mp_reach {
        push_attr(out, FLAG_OPTIONAL, tc::MP_REACH, &mp_reach_value(m), true);
    }
    if let Some(m) = &a.mp_unreach {
        let mut v = mp_head(m.family);
        m.withdrawn.iter().for_each(|p| encode_prefix(p, &mut v));
        push_attr(out, FLAG_OPTIONAL, tc::MP_UNREACH, &v, true);
    }
    encode_as4(a, ctx, out);
    if !a.large_communities.is_empty() {
        let v: Vec<u8> = a
            .large_communities
            .iter()
            .flat_map(|c| [c.global, c.local1, c.local2])
            .flat_map(u32::to_be_bytes)
            .collect();
        push_attr(out, OT, tc::LARGE_COMMUNITY, &v, false);
    }
    for o in &a.other {
        push_attr(out, o.flags, o.type_code, &o.value, false);
    }
}

/// AS4_PATH / AS4_AGGREGATOR: as given, or derived from AS_PATH when the session uses
/// 2-octet ASNs and the path holds one above 65,535 (RFC 6793 §4.2.2).
fn encode_as4(a: &PathAttrs, ctx: &CodecCtx, out: &mut Vec<u8>) {
    const OT: u8 = FLAG_OPTIONAL | FLAG_TRANSITIVE;
    let needs_as4 = |p: &Vec<crate::types::AsSegment>| {
        !ctx.four_octet_as && p.iter().any(|s| s.asns.iter().any(|a| *a > 0xffff))
    };
    let as4 = a
        .as4_path
        .as_ref()
        .or(a.as_path.as_ref().filter(|p| needs_as4(p)));
    if let Some(p) = as4 {
        let mut v = Vec::new();
        encode_as_path(p, true, &mut v);
        push_attr(out, OT, tc::AS4_PATH, &v, false);
    }
    let derived = a
        .aggregator
        .filter(|g| !ctx.four_octet_as && g.asn > 0xffff);
    if let Some(ag) = a.as4_aggregator.or(derived) {
        push_attr(out, OT, tc::AS4_AGGREGATOR, &aggregator(ag, true), false);
    }
}

fn aggregator(ag: Aggregator, four: bool) -> Vec<u8> {
    let mut v = Vec::new();
    if four {
        v.extend_from_slice(&ag.asn.to_be_bytes());
    } else {
        let asn = u16::try_from(ag.asn).unwrap_or(crate::types::AS_TRANS);
        v.extend_from_slice(&asn.to_be_bytes());
    }
    v.extend_from_slice(&ag.address.octets());
    v
}

fn mp_head(family: Family) -> Vec<u8> {
    let mut v = family.afi().to_be_bytes().to_vec();
    v.push(family.safi());
    v
}

/// The MP_REACH_NLRI value: AFI, SAFI, next hop length and address(es), reserved, NLRI.
pub(crate) fn mp_reach_value(m: &MpReach) -> Vec<u8> {
    let mut v = mp_head(m.family);
    v.extend_from_slice(&next_hop_bytes(&m.next_hop));
    v.push(0);
    m.nlri.iter().for_each(|p| encode_prefix(p, &mut v));
    v
}

/// Next hop length octet plus the address(es).
pub(crate) fn next_hop_bytes(nh: &NextHop) -> Vec<u8> {
    let mut v = vec![0u8];
    match nh {
        NextHop::V4(a) => v.extend_from_slice(&a.octets()),
        NextHop::V6 { global, link_local } => {
            v.extend_from_slice(&global.octets());
            if let Some(ll) = link_local {
                v.extend_from_slice(&ll.octets());
            }
        }
    }
    v[0] = (v.len() - 1) as u8;
    v
}

/// The next hop of an address.
pub(crate) fn next_hop_of(addr: IpAddr) -> NextHop {
    match addr {
        IpAddr::V4(a) => NextHop::V4(a),
        IpAddr::V6(global) => NextHop::V6 {
            global,
            link_local: None,
        },
    }
}
