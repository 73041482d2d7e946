//! Arbitrary datagrams into the heartbeat decoder (`liveness::wire::decode`) with a fixed test
//! key. Raw bytes never carry a valid HMAC, so each input is also signed with the test key —
//! as is, and with its header made plausible (magic, version 1, a name length matching the
//! size) — so the fuzzer reaches the flag, UTF-8 and field checks past the tag. Asserted:
//! decode never panics; unsigned raw bytes are never accepted; whatever decodes re-encodes to
//! the exact same datagram; a datagram signed with another key is refused with `BadTag`.
#![no_main]

use ferrolb_l2::LivenessError;
use ferrolb_l2::liveness::{HeartbeatKey, decode, encode};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const SECRET: &[u8] = b"ferrolb-fuzz-test-key-0123456789";
const OTHER: &[u8] = b"some-other-secret-of-32-bytes!!!";
/// Magic, version, flags, name length.
const HEAD: usize = 7;
/// Incarnation, sequence, wall clock.
const FIELDS: usize = 24;

/// `body` followed by its HMAC-SHA256 tag under `secret` (an independent signer: the `hmac`
/// crate directly, not the crate's encoder).
fn sign(body: &[u8], secret: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    m.update(body);
    let mut out = body.to_vec();
    out.extend_from_slice(&m.finalize().into_bytes());
    out
}

fn check(datagram: &[u8], key: &HeartbeatKey, other: &HeartbeatKey) {
    let Ok(hb) = decode(datagram, key) else {
        return;
    };
    assert_eq!(
        encode(&hb, key),
        datagram,
        "re-encoding changed the datagram"
    );
    assert_eq!(decode(datagram, other), Err(LivenessError::BadTag));
}

fuzz_target!(|data: &[u8]| {
    let (Ok(key), Ok(other)) = (HeartbeatKey::new(SECRET), HeartbeatKey::new(OTHER)) else {
        panic!("test keys are long enough");
    };
    // Raw: a forged tag is a 2^-256 event, so anything accepted is a bug.
    assert!(decode(data, &key).is_err(), "unsigned datagram accepted");
    check(&sign(data, SECRET), &key, &other);
    if let Some(name_len) = data.len().checked_sub(HEAD + FIELDS)
        && (1..=253).contains(&name_len)
    {
        let mut body = data.to_vec();
        body[..5].copy_from_slice(b"FLBH\x01");
        body[6] = name_len as u8;
        let signed = sign(&body, SECRET);
        let decoded = decode(&signed, &key);
        // Past the tag only the flags and the name's UTF-8 can be refused.
        let utf8 = std::str::from_utf8(&body[HEAD..HEAD + name_len]).is_ok();
        assert_eq!(decoded.is_ok(), utf8 && body[5] & !1 == 0, "{decoded:?}");
        check(&signed, &key, &other);
    }
});
