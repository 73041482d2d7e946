//! Arbitrary bytes as an Ethernet frame carrying an NDP Neighbor Solicitation/Advertisement.
//! Raw bytes almost never carry a valid ICMPv6 checksum, so the second pass makes the frame
//! well-formed up to the options — EtherType IPv6, version 6, payload length = the bytes
//! present, next header ICMPv6, hop limit 255, type 135/136 code 0 — and writes the correct
//! checksum (RFC 4443 §2.3, computed here independently of the crate), so the fuzzer explores
//! the option walk and the RFC 4861 §7.1.1/§7.1.2 checks. Asserted: `ndp::parse` never panics;
//! a fixed-up frame is never refused for its header or checksum; whatever parses re-encodes to a
//! frame that parses back equal; `respond` to a parsed solicitation yields an NA that
//! round-trips.
#![no_main]

use std::net::Ipv6Addr;

use ferrolb_l2::PacketError;
use ferrolb_l2::packet::MacAddr;
use ferrolb_l2::packet::ndp::{self, NaSource, NdpMessage};
use libfuzzer_sys::fuzz_target;

/// Ethernet (14) + IPv6 (40).
const ICMP_OFF: usize = 54;

fn check(frame: &[u8]) -> Result<NdpMessage, PacketError> {
    let parsed = ndp::parse(frame);
    if let Ok(msg) = &parsed {
        let enc = match msg {
            NdpMessage::Solicitation(ns) => ns.encode(),
            NdpMessage::Advertisement(na) => na.encode(),
        };
        assert_eq!(
            ndp::parse(&enc).as_ref(),
            Ok(msg),
            "re-encoded message differs"
        );
        if let NdpMessage::Solicitation(ns) = msg {
            let mac = MacAddr([2, 0, 0, 0, 0, 1]);
            for source in [NaSource::Target, NaSource::LinkLocal(Ipv6Addr::LOCALHOST)] {
                if let Ok(na) = ndp::respond(ns, mac, source, true, |_| true) {
                    assert_eq!(na.target, ns.target);
                    assert_eq!(ndp::parse(&na.encode()), Ok(NdpMessage::Advertisement(na)));
                }
            }
        }
    }
    parsed
}

/// One's-complement checksum of the IPv6 pseudo-header (RFC 8200 §8.1) and `icmp`.
fn icmpv6_checksum(src: &[u8], dst: &[u8], icmp: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(src);
    add(dst);
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(icmp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fuzz_target!(|data: &[u8]| {
    let _ = check(data);
    // Room for type, code and checksum; the fuzzer decides the rest (flags, target, options).
    if data.len() < ICMP_OFF + 4 || data.len() > ICMP_OFF + usize::from(u16::MAX) {
        return;
    }
    let mut f = data.to_vec();
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60 | (f[14] & 0x0f);
    let payload = (f.len() - ICMP_OFF) as u16;
    f[18..20].copy_from_slice(&payload.to_be_bytes());
    f[20] = 58;
    f[21] = 255;
    f[ICMP_OFF] = if f[ICMP_OFF] & 1 == 0 { 135 } else { 136 };
    f[ICMP_OFF + 1] = 0;
    f[ICMP_OFF + 2..ICMP_OFF + 4].fill(0);
    let c = icmpv6_checksum(&f[22..38], &f[38..54], &f[ICMP_OFF..]);
    f[ICMP_OFF + 2..ICMP_OFF + 4].copy_from_slice(&c.to_be_bytes());
    match check(&f) {
        Ok(_)
        | Err(
            PacketError::Truncated { .. }
            | PacketError::BadOption
            | PacketError::MulticastTarget
            | PacketError::SllaWithUnspecifiedSource,
        ) => {}
        Err(e) => panic!("a well-formed frame was refused before its body: {e:?}"),
    }
});
