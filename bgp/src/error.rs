//! Typed decode errors and their NOTIFICATION mapping (RFC 4271 §6, RFC 7606, RFC 4486).
//!
//! Every way a received message can be wrong is one [`DecodeError`] variant. Each maps to the
//! NOTIFICATION error code/subcode/data RFC 4271 §6 prescribes ([`DecodeError::notification`]),
//! and to the action RFC 7606 revises it to ([`DecodeError::action`]): most malformed path
//! attributes no longer reset the session but make the UPDATE's routes count as withdrawn.

use std::net::Ipv4Addr;

use crate::message::Notification;

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 §5).
pub mod code {
    /// Message Header Error (§6.1).
    pub const MESSAGE_HEADER: u8 = 1;
    /// OPEN Message Error (§6.2).
    pub const OPEN: u8 = 2;
    /// UPDATE Message Error (§6.3).
    pub const UPDATE: u8 = 3;
    /// Hold Timer Expired (§6.5).
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error (§6.6).
    pub const FSM: u8 = 5;
    /// Cease (§6.7).
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub const ROUTE_REFRESH: u8 = 7;
}

/// FSM error subcodes (RFC 6608 §4).
pub mod fsm_subcode {
    /// Receive Unexpected Message in OpenSent State.
    pub const OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486 §4).
pub mod cease {
    /// Maximum Number of Prefixes Reached.
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown.
    pub const ADMIN_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset.
    pub const ADMIN_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIG_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const COLLISION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
}

/// What the receiver does about an error (RFC 7606 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Send the NOTIFICATION and close the session (RFC 4271 §6).
    SessionReset,
    /// Keep the session; the UPDATE's NLRI count as withdrawn (RFC 7606 §2).
    TreatAsWithdraw,
}

/// Why a received message is invalid; see [`DecodeError::notification`] for the wire mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// §6.1: the 16-octet marker is not all ones.
    #[error("message header: marker is not all ones (connection not synchronized)")]
    ConnectionNotSynchronized,
    /// §6.1: the header's length is out of bounds for the message type.
    #[error("message header: length {0} is invalid for this message")]
    BadMessageLength(u16),
    /// §6.1: unknown message type.
    #[error("message header: unknown message type {0}")]
    BadMessageType(u8),
    /// §6.2: OPEN version is not 4.
    #[error("OPEN: unsupported version {0} (only 4)")]
    UnsupportedVersion(u8),
    /// §6.2: the peer's AS is not the configured one.
    #[error("OPEN: bad peer AS {0}")]
    BadPeerAs(u32),
    /// §6.2 / RFC 6286: the BGP identifier is zero (or equals ours on iBGP).
    #[error("OPEN: bad BGP identifier {0}")]
    BadBgpIdentifier(Ipv4Addr),
    /// §6.2: an optional parameter type other than Capabilities (2).
    #[error("OPEN: unsupported optional parameter type {0}")]
    UnsupportedOptionalParameter(u8),
    /// §6.2: hold time 1 or 2 seconds.
    #[error("OPEN: unacceptable hold time {0} s (must be 0 or at least 3)")]
    UnacceptableHoldTime(u16),
    /// RFC 5492 §5: a capability we require is missing; data = the capabilities wanted.
    #[error("OPEN: required capability missing: {reason}")]
    UnsupportedCapability {
        /// Human-readable reason.
        reason: String,
        /// The capability TLVs we require (NOTIFICATION data).
        data: Vec<u8>,
    },
    /// §6.2 subcode 0: an OPEN or one of its parameters/capabilities is malformed.
    #[error("OPEN: malformed {0}")]
    MalformedOpen(&'static str),
    /// §6.3: attribute/withdrawn lengths do not add up.
    #[error("UPDATE: malformed attribute list: {0}")]
    MalformedAttributeList(&'static str),
    /// §6.3: a well-known (non-optional) attribute type we do not know.
    #[error("UPDATE: unrecognized well-known attribute type {type_code}")]
    UnrecognizedWellKnown {
        /// The attribute type code.
        type_code: u8,
        /// The whole attribute (NOTIFICATION data).
        data: Vec<u8>,
    },
    /// §6.3 / RFC 7606 §3.d: a mandatory well-known attribute is missing.
    #[error("UPDATE: missing well-known attribute type {0}")]
    MissingWellKnown(u8),
    /// §6.3: flags conflict with the attribute type.
    #[error("UPDATE: attribute type {type_code} has bad flags")]
    AttributeFlags {
        /// The attribute type code.
        type_code: u8,
        /// The whole attribute.
        data: Vec<u8>,
    },
    /// §6.3: the attribute's length is wrong for its type.
    #[error("UPDATE: attribute type {type_code} has bad length")]
    AttributeLength {
        /// The attribute type code.
        type_code: u8,
        /// The whole attribute.
        data: Vec<u8>,
    },
    /// §6.3: ORIGIN value undefined.
    #[error("UPDATE: invalid ORIGIN")]
    InvalidOrigin(Vec<u8>),
    /// §6.3: NEXT_HOP is not a valid unicast address.
    #[error("UPDATE: invalid NEXT_HOP")]
    InvalidNextHop(Vec<u8>),
    /// §6.3: an optional attribute is malformed (MP_REACH/MP_UNREACH).
    #[error("UPDATE: malformed optional attribute type {type_code}")]
    OptionalAttribute {
        /// The attribute type code.
        type_code: u8,
        /// The whole attribute.
        data: Vec<u8>,
    },
    /// §6.3: an NLRI or withdrawn prefix is malformed.
    #[error("UPDATE: invalid network field")]
    InvalidNetworkField,
    /// §6.3: AS_PATH is syntactically wrong.
    #[error("UPDATE: malformed AS_PATH")]
    MalformedAsPath,
    /// RFC 7313 §5: a ROUTE-REFRESH of invalid length.
    #[error("ROUTE-REFRESH: invalid message length {0}")]
    RouteRefreshLength(u16),
}

impl DecodeError {
    /// The NOTIFICATION RFC 4271 §6 prescribes for this error.
    pub fn notification(&self) -> Notification {
        use DecodeError::*;
        let (code, subcode, data) = match self {
            ConnectionNotSynchronized => (code::MESSAGE_HEADER, 1, vec![]),
            BadMessageLength(l) => (code::MESSAGE_HEADER, 2, l.to_be_bytes().to_vec()),
            BadMessageType(t) => (code::MESSAGE_HEADER, 3, vec![*t]),
            UnsupportedVersion(_) => (code::OPEN, 1, 4u16.to_be_bytes().to_vec()),
            BadPeerAs(_) => (code::OPEN, 2, vec![]),
            BadBgpIdentifier(_) => (code::OPEN, 3, vec![]),
            UnsupportedOptionalParameter(_) => (code::OPEN, 4, vec![]),
            UnacceptableHoldTime(_) => (code::OPEN, 6, vec![]),
            UnsupportedCapability { data, .. } => (code::OPEN, 7, data.clone()),
            MalformedOpen(_) => (code::OPEN, 0, vec![]),
            MalformedAttributeList(_) => (code::UPDATE, 1, vec![]),
            UnrecognizedWellKnown { data, .. } => (code::UPDATE, 2, data.clone()),
            MissingWellKnown(t) => (code::UPDATE, 3, vec![*t]),
            AttributeFlags { data, .. } => (code::UPDATE, 4, data.clone()),
            AttributeLength { data, .. } => (code::UPDATE, 5, data.clone()),
            InvalidOrigin(data) => (code::UPDATE, 6, data.clone()),
            InvalidNextHop(data) => (code::UPDATE, 8, data.clone()),
            OptionalAttribute { data, .. } => (code::UPDATE, 9, data.clone()),
            InvalidNetworkField => (code::UPDATE, 10, vec![]),
            MalformedAsPath => (code::UPDATE, 11, vec![]),
            RouteRefreshLength(l) => (code::ROUTE_REFRESH, 1, l.to_be_bytes().to_vec()),
        };
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// What RFC 7606 says the receiver does: errors confined to well-known/known path
    /// attributes are treat-as-withdraw, everything else resets the session.
    pub fn action(&self) -> ErrorAction {
        use DecodeError::*;
        match self {
            MissingWellKnown(_)
            | AttributeFlags { .. }
            | AttributeLength { .. }
            | InvalidOrigin(_)
            | InvalidNextHop(_)
            | MalformedAsPath => ErrorAction::TreatAsWithdraw,
            _ => ErrorAction::SessionReset,
        }
    }
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message exceeds the negotiated maximum (4,096, or 65,535 with RFC 8654).
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// Encoded length.
        len: usize,
        /// Allowed maximum.
        max: usize,
    },
    /// A field does not fit its wire width (e.g. more than 255 capabilities bytes).
    #[error("field {0} does not fit its wire encoding")]
    FieldOverflow(&'static str),
}
