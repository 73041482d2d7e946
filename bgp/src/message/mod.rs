//! BGP-4 messages (RFC 4271 §4): the 19-octet header and framing, KEEPALIVE,
//! NOTIFICATION (§4.5), ROUTE-REFRESH (RFC 2918), and the [`open`] and [`update`] bodies.
//!
//! [`decode`] takes the bytes received so far and returns the first complete message and
//! how many bytes it used (or `None` when more bytes are needed), validating the header as
//! §6.1 demands. [`Message::encode`] writes a whole message. Both take a [`CodecCtx`] with
//! what the session negotiated: 4-octet ASNs (RFC 6793) and extended messages (RFC 8654).

pub mod open;
pub mod update;

#[cfg(test)]
mod tests;

pub use open::{Capability, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, Open};
pub use update::{MpReach, MpUnreach, NextHop, PathAttrs, RawAttribute, Update};

use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

/// Header length: marker (16), length (2), type (1).
pub const HEADER_LEN: usize = 19;
/// The classic maximum message size (RFC 4271 §4.1).
pub const MAX_LEN: usize = 4096;
/// The maximum with the extended message capability (RFC 8654).
pub const MAX_EXTENDED_LEN: usize = 65535;

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
pub mod kind {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH.
    pub const ROUTE_REFRESH: u8 = 5;
}

/// What the session negotiated that changes the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodecCtx {
    /// Both sides advertised the 4-octet AS capability: AS_PATH carries 4-octet ASNs.
    pub four_octet_as: bool,
    /// Both sides advertised extended messages: UPDATEs may be up to 65,535 bytes.
    pub extended_message: bool,
}

impl CodecCtx {
    /// The maximum size of an UPDATE (OPEN and KEEPALIVE stay at 4,096, RFC 8654 §4).
    pub fn max_update_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_LEN
        } else {
            MAX_LEN
        }
    }
}

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN (§4.2).
    Open(Open),
    /// UPDATE (§4.3), boxed: it is by far the largest variant.
    Update(Box<Update>),
    /// NOTIFICATION (§4.5).
    Notification(Notification),
    /// KEEPALIVE (§4.4).
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918 §3).
    RouteRefresh(RouteRefresh),
}

/// A NOTIFICATION: error code, subcode and data (§4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code (see [`crate::error::code`]).
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Diagnostic data.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION without data.
    pub fn new(code: u8, subcode: u8) -> Self {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }
}

/// A ROUTE-REFRESH request for one AFI/SAFI (RFC 2918 §3; the reserved octet is the
/// RFC 7313 message subtype, kept as received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// AFI.
    pub afi: u16,
    /// RFC 7313 subtype (0 = normal request).
    pub subtype: u8,
    /// SAFI.
    pub safi: u8,
}

/// Decode the first complete message in `buf`.
///
/// Returns `Ok(None)` while fewer bytes than the header announces are available, otherwise
/// the message and the number of bytes it occupied. Errors are typed with their §6
/// NOTIFICATION ([`DecodeError::notification`]).
pub fn decode(buf: &[u8], ctx: &CodecCtx) -> Result<Option<(Message, usize)>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[..16].iter().any(|b| *b != 0xff) {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let len = u16::from_be_bytes([buf[16], buf[17]]);
    let ty = buf[18];
    check_length(ty, len, ctx)?;
    let len = usize::from(len);
    if buf.len() < len {
        return Ok(None);
    }
    let body = &buf[HEADER_LEN..len];
    let msg = match ty {
        kind::OPEN => Message::Open(open::decode(body)?),
        kind::UPDATE => Message::Update(Box::new(update::decode(body, ctx)?)),
        kind::NOTIFICATION => Message::Notification(Notification {
            code: body[0],
            subcode: body[1],
            data: body[2..].to_vec(),
        }),
        kind::KEEPALIVE => Message::Keepalive,
        _ => Message::RouteRefresh(decode_route_refresh(body)?),
    };
    Ok(Some((msg, len)))
}

/// §6.1 header length checks per message type (and the type check itself).
fn check_length(ty: u8, len: u16, ctx: &CodecCtx) -> Result<(), DecodeError> {
    let l = usize::from(len);
    let ok = match ty {
        kind::OPEN => (HEADER_LEN + 10..=MAX_LEN).contains(&l),
        kind::UPDATE => (HEADER_LEN + 4..=ctx.max_update_len()).contains(&l),
        kind::NOTIFICATION => (HEADER_LEN + 2..=ctx.max_update_len()).contains(&l),
        kind::KEEPALIVE => l == HEADER_LEN,
        kind::ROUTE_REFRESH => (HEADER_LEN..=ctx.max_update_len()).contains(&l),
        other => return Err(DecodeError::BadMessageType(other)),
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::BadMessageLength(len))
    }
}

fn decode_route_refresh(body: &[u8]) -> Result<RouteRefresh, DecodeError> {
    let mut r = Reader::new(body);
    let bad = || DecodeError::RouteRefreshLength((HEADER_LEN + body.len()) as u16);
    let afi = r.u16().ok_or_else(bad)?;
    let subtype = r.u8().ok_or_else(bad)?;
    let safi = r.u8().ok_or_else(bad)?;
    // RFC 7313 §5: a normal request must be exactly 4 octets of body.
    if !r.is_empty() && subtype == 0 {
        return Err(bad());
    }
    Ok(RouteRefresh { afi, subtype, safi })
}

impl Message {
    /// The message type code.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Open(_) => kind::OPEN,
            Message::Update(_) => kind::UPDATE,
            Message::Notification(_) => kind::NOTIFICATION,
            Message::Keepalive => kind::KEEPALIVE,
            Message::RouteRefresh(_) => kind::ROUTE_REFRESH,
        }
    }

    /// Encode the whole message (header included).
    pub fn encode(&self, ctx: &CodecCtx) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0xff; 16]);
        out.extend_from_slice(&[0, 0, self.kind()]);
        match self {
            Message::Open(o) => o.encode_body(&mut out)?,
            Message::Update(u) => u.encode_body(ctx, &mut out)?,
            Message::Notification(n) => {
                out.extend_from_slice(&[n.code, n.subcode]);
                out.extend_from_slice(&n.data);
            }
            Message::Keepalive => {}
            Message::RouteRefresh(rr) => {
                out.extend_from_slice(&rr.afi.to_be_bytes());
                out.extend_from_slice(&[rr.subtype, rr.safi]);
            }
        }
        let max = match self {
            Message::Open(_) | Message::Keepalive => MAX_LEN,
            _ => ctx.max_update_len(),
        };
        if out.len() > max {
            return Err(EncodeError::TooLong {
                len: out.len(),
                max,
            });
        }
        let len = out.len() as u16;
        out[16..18].copy_from_slice(&len.to_be_bytes());
        Ok(out)
    }
}
