//! OPEN (RFC 4271 §4.2) with optional parameters (incl. the RFC 9072 extended length form on
//! decode) and the capabilities (RFC 5492) ferrolb speaks: multiprotocol (RFC 4760 §8),
//! route refresh (RFC 2918 §2), extended next hop (RFC 8950 §3), extended message (RFC 8654),
//! graceful restart (RFC 4724 §3) and 4-octet AS (RFC 6793 §9). Unknown capabilities are kept opaque and ignored (RFC 5492
//! §5); any other optional parameter type is §6.2 subcode 4.

use std::net::Ipv4Addr;

use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

/// Optional parameter type "Capabilities" (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 extended optional parameters marker.
const PARAM_EXTENDED: u8 = 255;

/// Capability codes (IANA).
pub mod cap_code {
    /// Multiprotocol extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended next hop encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// Graceful restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// "My Autonomous System": the ASN, or AS_TRANS when it needs 4 octets.
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or ≥ 3).
    pub hold_time: u16,
    /// BGP identifier (router ID).
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in the order received/sent.
    pub capabilities: Vec<Capability>,
}

/// A capability (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol extensions for one AFI/SAFI.
    Multiprotocol {
        /// AFI.
        afi: u16,
        /// SAFI.
        safi: u8,
    },
    /// Route refresh (code 2).
    RouteRefresh,
    /// Extended next hop encoding (code 5): NLRI AFI/SAFI that may carry a next hop of
    /// another AFI.
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Extended message (code 6).
    ExtendedMessage,
    /// Graceful restart (code 64).
    GracefulRestart(GracefulRestart),
    /// 4-octet AS number (code 65) carrying the real ASN.
    FourOctetAs(u32),
    /// Any other capability, kept opaque.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        data: Vec<u8>,
    },
}

/// One entry of the extended next hop capability (RFC 8950 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtendedNextHop {
    /// NLRI AFI.
    pub afi: u16,
    /// NLRI SAFI (2 octets here).
    pub safi: u16,
    /// Next hop AFI.
    pub next_hop_afi: u16,
}

impl ExtendedNextHop {
    /// IPv4 unicast NLRI with an IPv6 next hop.
    pub const IPV4_OVER_IPV6: ExtendedNextHop = ExtendedNextHop {
        afi: crate::types::AFI_IPV4,
        safi: crate::types::SAFI_UNICAST as u16,
        next_hop_afi: crate::types::AFI_IPV6,
    };
}

/// The graceful-restart capability value (RFC 4724 §3, N bit RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// Restart State (R) bit: the sender has restarted.
    pub restarting: bool,
    /// Graceful Notification (N) bit (RFC 8538).
    pub notification: bool,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Per-AFI/SAFI entries.
    pub families: Vec<GracefulRestartFamily>,
}

/// One AFI/SAFI of the graceful-restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    /// AFI.
    pub afi: u16,
    /// SAFI.
    pub safi: u8,
    /// Forwarding state (F) bit: forwarding was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// Decode an OPEN body (after the header).
pub(crate) fn decode(body: &[u8]) -> Result<Open, DecodeError> {
    let mut r = Reader::new(body);
    let short = DecodeError::MalformedOpen("fixed fields");
    let version = r.u8().ok_or(short.clone())?;
    let my_as = r.u16().ok_or(short.clone())?;
    let hold_time = r.u16().ok_or(short.clone())?;
    let bgp_id = Ipv4Addr::from(r.u32().ok_or(short.clone())?);
    let opt_len = r.u8().ok_or(short)?;
    if version != 4 {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    if hold_time == 1 || hold_time == 2 {
        return Err(DecodeError::UnacceptableHoldTime(hold_time));
    }
    if bgp_id.is_unspecified() {
        return Err(DecodeError::BadBgpIdentifier(bgp_id));
    }
    let extended = opt_len == 255 && r.rest().first() == Some(&PARAM_EXTENDED);
    let params = if extended {
        r.u8();
        let len = r
            .u16()
            .ok_or(DecodeError::MalformedOpen("extended parameters length"))?;
        r.take(usize::from(len))
    } else {
        r.take(usize::from(opt_len))
    }
    .ok_or(DecodeError::MalformedOpen("optional parameters length"))?;
    if !r.is_empty() {
        return Err(DecodeError::MalformedOpen(
            "trailing bytes after parameters",
        ));
    }
    let capabilities = decode_params(params, extended)?;
    Ok(Open {
        my_as,
        hold_time,
        bgp_id,
        capabilities,
    })
}

fn decode_params(params: &[u8], extended: bool) -> Result<Vec<Capability>, DecodeError> {
    let mut r = Reader::new(params);
    let mut caps = Vec::new();
    let bad = DecodeError::MalformedOpen("optional parameter");
    while !r.is_empty() {
        let ty = r.u8().ok_or(bad.clone())?;
        let len = if extended {
            r.u16().ok_or(bad.clone())?
        } else {
            u16::from(r.u8().ok_or(bad.clone())?)
        };
        let value = r.take(usize::from(len)).ok_or(bad.clone())?;
        if ty != PARAM_CAPABILITIES {
            return Err(DecodeError::UnsupportedOptionalParameter(ty));
        }
        decode_capabilities(value, &mut caps)?;
    }
    Ok(caps)
}

fn decode_capabilities(buf: &[u8], caps: &mut Vec<Capability>) -> Result<(), DecodeError> {
    let mut r = Reader::new(buf);
    let bad = DecodeError::MalformedOpen("capability");
    while !r.is_empty() {
        let code = r.u8().ok_or(bad.clone())?;
        let len = r.u8().ok_or(bad.clone())?;
        let value = r.take(usize::from(len)).ok_or(bad.clone())?;
        caps.push(decode_capability(code, value)?);
    }
    Ok(())
}

fn decode_capability(code: u8, value: &[u8]) -> Result<Capability, DecodeError> {
    let mut r = Reader::new(value);
    let exact = |want: usize, what| {
        if value.len() == want {
            Ok(())
        } else {
            Err(DecodeError::MalformedOpen(what))
        }
    };
    Ok(match code {
        cap_code::MULTIPROTOCOL => {
            exact(4, "multiprotocol capability length")?;
            let afi = r.u16().unwrap_or_default();
            r.u8();
            let safi = r.u8().unwrap_or_default();
            Capability::Multiprotocol { afi, safi }
        }
        cap_code::ROUTE_REFRESH => {
            exact(0, "route refresh capability length")?;
            Capability::RouteRefresh
        }
        cap_code::EXTENDED_MESSAGE => {
            exact(0, "extended message capability length")?;
            Capability::ExtendedMessage
        }
        cap_code::FOUR_OCTET_AS => {
            exact(4, "4-octet AS capability length")?;
            Capability::FourOctetAs(r.u32().unwrap_or_default())
        }
        cap_code::GRACEFUL_RESTART => Capability::GracefulRestart(decode_gr(value)?),
        cap_code::EXTENDED_NEXT_HOP => {
            if value.is_empty() || !value.len().is_multiple_of(6) {
                return Err(DecodeError::MalformedOpen(
                    "extended next hop capability length",
                ));
            }
            let w = |c: &[u8], i: usize| u16::from_be_bytes([c[i], c[i + 1]]);
            let entries = value.chunks_exact(6).map(|c| ExtendedNextHop {
                afi: w(c, 0),
                safi: w(c, 2),
                next_hop_afi: w(c, 4),
            });
            Capability::ExtendedNextHop(entries.collect())
        }
        _ => Capability::Unknown {
            code,
            data: value.to_vec(),
        },
    })
}

fn decode_gr(value: &[u8]) -> Result<GracefulRestart, DecodeError> {
    if value.len() < 2 || !(value.len() - 2).is_multiple_of(4) {
        return Err(DecodeError::MalformedOpen(
            "graceful restart capability length",
        ));
    }
    let head = u16::from_be_bytes([value[0], value[1]]);
    let families = value[2..]
        .chunks_exact(4)
        .map(|c| GracefulRestartFamily {
            afi: u16::from_be_bytes([c[0], c[1]]),
            safi: c[2],
            forwarding_preserved: c[3] & 0x80 != 0,
        })
        .collect();
    Ok(GracefulRestart {
        restarting: head & 0x8000 != 0,
        notification: head & 0x4000 != 0,
        restart_time: head & 0x0fff,
        families,
    })
}

impl Capability {
    /// Encode one capability TLV (code, length, value).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let (code, value) = match self {
            Capability::Multiprotocol { afi, safi } => {
                let a = afi.to_be_bytes();
                (cap_code::MULTIPROTOCOL, vec![a[0], a[1], 0, *safi])
            }
            Capability::RouteRefresh => (cap_code::ROUTE_REFRESH, vec![]),
            Capability::ExtendedNextHop(e) => (
                cap_code::EXTENDED_NEXT_HOP,
                e.iter()
                    .flat_map(|x| [x.afi, x.safi, x.next_hop_afi])
                    .flat_map(u16::to_be_bytes)
                    .collect(),
            ),
            Capability::ExtendedMessage => (cap_code::EXTENDED_MESSAGE, vec![]),
            Capability::FourOctetAs(asn) => (cap_code::FOUR_OCTET_AS, asn.to_be_bytes().to_vec()),
            Capability::GracefulRestart(gr) => (cap_code::GRACEFUL_RESTART, gr.encode_value()),
            Capability::Unknown { code, data } => (*code, data.clone()),
        };
        let len =
            u8::try_from(value.len()).map_err(|_| EncodeError::FieldOverflow("capability"))?;
        out.extend_from_slice(&[code, len]);
        out.extend_from_slice(&value);
        Ok(())
    }
}

impl GracefulRestart {
    fn encode_value(&self) -> Vec<u8> {
        let mut head = self.restart_time & 0x0fff;
        if self.restarting {
            head |= 0x8000;
        }
        if self.notification {
            head |= 0x4000;
        }
        let mut v = head.to_be_bytes().to_vec();
        for f in &self.families {
            v.extend_from_slice(&f.afi.to_be_bytes());
            v.push(f.safi);
            v.push(if f.forwarding_preserved { 0x80 } else { 0 });
        }
        v
    }
}

impl Open {
    /// The peer's real ASN: the 4-octet AS capability if present, else "My AS".
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Encode the body; each capability goes in its own optional parameter (as GoBGP and
    /// FRR send them). More than 255 octets of parameters use the RFC 9072 extended form.
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(4);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        let mut tlvs = Vec::with_capacity(self.capabilities.len());
        for c in &self.capabilities {
            let mut tlv = Vec::new();
            c.encode(&mut tlv)?;
            tlvs.push(tlv);
        }
        let short_len: usize = tlvs.iter().map(|t| t.len() + 2).sum();
        if short_len < 255 {
            out.push(short_len as u8);
            for t in tlvs {
                out.extend_from_slice(&[PARAM_CAPABILITIES, t.len() as u8]);
                out.extend_from_slice(&t);
            }
        } else {
            let long_len: usize = tlvs.iter().map(|t| t.len() + 3).sum();
            let long_len =
                u16::try_from(long_len).map_err(|_| EncodeError::FieldOverflow("parameters"))?;
            out.extend_from_slice(&[255, PARAM_EXTENDED]);
            out.extend_from_slice(&long_len.to_be_bytes());
            for t in tlvs {
                out.push(PARAM_CAPABILITIES);
                out.extend_from_slice(&(t.len() as u16).to_be_bytes());
                out.extend_from_slice(&t);
            }
        }
        Ok(())
    }
}
