//! BFD control packets (RFC 5880 §4.1): encode, decode, and the §6.8.6 reception checks that
//! need no session state.
//!
//! ```text
//!  0                   1                   2                   3
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! ```
//!
//! [`ControlPacket::decode`] discards (returns a [`DecodeError`]) exactly as §6.8.6 says for
//! a system without authentication: version ≠ 1, Length < 24 or > the datagram, Detect Mult
//! 0, M bit set, My Discriminator 0, Your Discriminator 0 outside Down/AdminDown, A bit set.
//! Bytes after Length are ignored. Intervals are microseconds on the wire.

#[cfg(test)]
mod tests;

/// Length of a control packet without authentication.
pub const PACKET_LEN: usize = 24;
/// The protocol version (§4.1).
pub const VERSION: u8 = 1;

/// Session states (§4.1 "Sta", §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Administratively down (0).
    AdminDown,
    /// Down (1).
    Down,
    /// Handshake in progress (2).
    Init,
    /// Up (3).
    Up,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The name FRR's `show bfd peers` uses (`up`, `down`, `init`, `shutdown`).
    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "shutdown",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

/// Diagnostic codes (§4.1 "Diag").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Diag {
    /// 0: No Diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    DetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborDown,
    /// 4: Forwarding Plane Reset.
    ForwardingReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdminDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9–31: reserved values, kept as received.
    Reserved(u8),
}

impl Diag {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::DetectionTimeExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborDown => 3,
            Diag::ForwardingReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(c) => c & 0x1f,
        }
    }

    /// The diagnostic of a 5-bit code.
    pub fn from_code(c: u8) -> Diag {
        match c & 0x1f {
            0 => Diag::None,
            1 => Diag::DetectionTimeExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborDown,
            4 => Diag::ForwardingReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Reserved(c),
        }
    }
}

/// Why a received datagram is discarded (§6.8.6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the 24-byte mandatory section.
    #[error("BFD packet of {0} bytes is shorter than 24")]
    Truncated(usize),
    /// Version field other than 1.
    #[error("BFD version {0} (only version 1 is supported)")]
    Version(u8),
    /// Length field below the minimum (24, or 26 with the A bit).
    #[error("BFD Length field {0} is below the minimum of 24")]
    LengthTooSmall(u8),
    /// Length field larger than the datagram.
    #[error("BFD Length field {length} exceeds the {datagram}-byte datagram")]
    LengthTooLarge {
        /// The Length field.
        length: u8,
        /// The datagram's size.
        datagram: usize,
    },
    /// Detect Mult of zero.
    #[error("BFD Detect Mult is 0")]
    ZeroDetectMult,
    /// Multipoint bit set.
    #[error("BFD Multipoint (M) bit is set")]
    Multipoint,
    /// My Discriminator of zero.
    #[error("BFD My Discriminator is 0")]
    ZeroMyDiscriminator,
    /// Your Discriminator zero while the sender is Init or Up.
    #[error("BFD Your Discriminator is 0 in state {0:?}")]
    ZeroYourDiscriminator(State),
    /// Authentication present: not configured here, so discarded.
    #[error("BFD Authentication Present (A) bit set but no authentication is configured")]
    Authentication,
}

/// One control packet (without authentication section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    /// Diagnostic.
    pub diag: Diag,
    /// Sender's state.
    pub state: State,
    /// Poll (P).
    pub poll: bool,
    /// Final (F).
    pub final_: bool,
    /// Control Plane Independent (C).
    pub cpi: bool,
    /// Demand (D).
    pub demand: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator.
    pub my_discr: u32,
    /// Your Discriminator.
    pub your_discr: u32,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, µs.
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, µs.
    pub required_min_echo_rx_us: u32,
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

impl ControlPacket {
    /// The 24 bytes on the wire (version 1, no authentication).
    pub fn encode(&self) -> [u8; PACKET_LEN] {
        let mut b = [0u8; PACKET_LEN];
        b[0] = (VERSION << 5) | self.diag.code();
        b[1] = (self.state.bits() << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(self.demand) << 1);
        b[2] = self.detect_mult;
        b[3] = PACKET_LEN as u8;
        b[4..8].copy_from_slice(&self.my_discr.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_discr.to_be_bytes());
        b[12..16].copy_from_slice(&self.desired_min_tx_us.to_be_bytes());
        b[16..20].copy_from_slice(&self.required_min_rx_us.to_be_bytes());
        b[20..24].copy_from_slice(&self.required_min_echo_rx_us.to_be_bytes());
        b
    }

    /// Decodes and checks one datagram's payload (§6.8.6, the session-independent part).
    pub fn decode(b: &[u8]) -> Result<ControlPacket, DecodeError> {
        if b.len() < PACKET_LEN {
            return Err(DecodeError::Truncated(b.len()));
        }
        let version = b[0] >> 5;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let auth = b[1] & 0x04 != 0;
        let length = b[3];
        let min = if auth { PACKET_LEN + 2 } else { PACKET_LEN };
        if usize::from(length) < min {
            return Err(DecodeError::LengthTooSmall(length));
        }
        if usize::from(length) > b.len() {
            return Err(DecodeError::LengthTooLarge {
                length,
                datagram: b.len(),
            });
        }
        let p = ControlPacket {
            diag: Diag::from_code(b[0]),
            state: State::from_bits(b[1] >> 6),
            poll: b[1] & 0x20 != 0,
            final_: b[1] & 0x10 != 0,
            cpi: b[1] & 0x08 != 0,
            demand: b[1] & 0x02 != 0,
            detect_mult: b[2],
            my_discr: be32(b, 4),
            your_discr: be32(b, 8),
            desired_min_tx_us: be32(b, 12),
            required_min_rx_us: be32(b, 16),
            required_min_echo_rx_us: be32(b, 20),
        };
        if p.detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        if b[1] & 0x01 != 0 {
            return Err(DecodeError::Multipoint);
        }
        if p.my_discr == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        if p.your_discr == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(DecodeError::ZeroYourDiscriminator(p.state));
        }
        if auth {
            return Err(DecodeError::Authentication);
        }
        Ok(p)
    }
}
