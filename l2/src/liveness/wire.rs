//! Heartbeat wire format (version 1) and its HMAC-SHA256 authentication; see the parent
//! module for the layout and the security properties.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{LivenessError, MAX_NAME_LEN, MIN_SECRET_LEN};

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8; 4] = b"FLBH";
const VERSION: u8 = 1;
const FLAG_LEAVING: u8 = 1;
const TAG_LEN: usize = 32;

/// A decoded, authenticated heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Sender node name.
    pub name: String,
    /// Sender incarnation.
    pub incarnation: u64,
    /// Sequence number within the incarnation.
    pub sequence: u64,
    /// Sender wall clock, ms since the Unix epoch.
    pub wall_ms: u64,
    /// The sender is leaving gracefully.
    pub leaving: bool,
}

/// Encodes and signs a heartbeat. Names longer than [`MAX_NAME_LEN`] are truncated at a
/// character boundary (construction of [`super::Membership`] already rejects them).
pub fn encode(hb: &Heartbeat, key: &HeartbeatKey) -> Vec<u8> {
    let mut end = hb.name.len().min(MAX_NAME_LEN);
    while !hb.name.is_char_boundary(end) {
        end -= 1;
    }
    let name = &hb.name.as_bytes()[..end];
    let mut out = Vec::with_capacity(7 + name.len() + 24 + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(if hb.leaving { FLAG_LEAVING } else { 0 });
    out.push(name.len() as u8); // <= 253
    out.extend_from_slice(name);
    out.extend_from_slice(&hb.incarnation.to_be_bytes());
    out.extend_from_slice(&hb.sequence.to_be_bytes());
    out.extend_from_slice(&hb.wall_ms.to_be_bytes());
    let mut m = key.0.clone();
    m.update(&out);
    out.extend_from_slice(&m.finalize().into_bytes());
    out
}

/// Verifies and decodes a heartbeat.
pub fn decode(buf: &[u8], key: &HeartbeatKey) -> Result<Heartbeat, LivenessError> {
    let [m0, m1, m2, m3, version, flags, name_len, rest @ ..] = buf else {
        return Err(LivenessError::Malformed("too short"));
    };
    if [*m0, *m1, *m2, *m3] != *MAGIC {
        return Err(LivenessError::Malformed("bad magic"));
    }
    if *version != VERSION {
        return Err(LivenessError::Malformed("unsupported version"));
    }
    let name_len = usize::from(*name_len);
    if name_len == 0 || name_len > MAX_NAME_LEN {
        return Err(LivenessError::Malformed("bad name length"));
    }
    if rest.len() != name_len + 24 + TAG_LEN {
        return Err(LivenessError::Malformed("bad length"));
    }
    let signed_len = buf.len() - TAG_LEN;
    let mut m = key.0.clone();
    m.update(&buf[..signed_len]);
    m.verify_slice(&buf[signed_len..])
        .map_err(|_| LivenessError::BadTag)?;
    if flags & !FLAG_LEAVING != 0 {
        return Err(LivenessError::Malformed("unknown flags"));
    }
    let name = std::str::from_utf8(&rest[..name_len])
        .map_err(|_| LivenessError::Malformed("name is not UTF-8"))?
        .to_owned();
    let u64_at = |off: usize| -> Result<u64, LivenessError> {
        rest.get(name_len + off..name_len + off + 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_be_bytes)
            .ok_or(LivenessError::Malformed("bad length"))
    };
    Ok(Heartbeat {
        name,
        incarnation: u64_at(0)?,
        sequence: u64_at(8)?,
        wall_ms: u64_at(16)?,
        leaving: flags & FLAG_LEAVING != 0,
    })
}

/// The keyed HMAC-SHA256 state used by [`encode`] and [`decode`].
#[derive(Clone)]
pub struct HeartbeatKey(HmacSha256);

impl HeartbeatKey {
    /// Keys HMAC-SHA256 with `secret` (at least [`MIN_SECRET_LEN`] bytes).
    pub fn new(secret: &[u8]) -> Result<Self, LivenessError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(LivenessError::Config("secret must be at least 16 bytes"));
        }
        HmacSha256::new_from_slice(secret)
            .map(Self)
            .map_err(|_| LivenessError::Config("invalid HMAC key"))
    }
}

impl std::fmt::Debug for HeartbeatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeartbeatKey(..)")
    }
}
