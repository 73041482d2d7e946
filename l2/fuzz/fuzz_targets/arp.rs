//! Arbitrary bytes as an Ethernet frame carrying ARP: `parse_ethernet` and `ArpFrame::parse`
//! never panic, agree on the Ethernet header, and whatever parses re-encodes to the same
//! frame (the first 42 bytes byte for byte: padding is not ours) which parses back equal.
//! The second pass forces a plausible ARP header (ethertype, htype/ptype/hlen/plen) so the
//! fuzzer spends its time past the format checks; `respond` to a parsed request must answer
//! with a reply that round-trips too.
#![no_main]

use ferrolb_l2::packet::arp::{self, ArpFrame, ArpOp};
use ferrolb_l2::packet::{MacAddr, parse_ethernet};
use libfuzzer_sys::fuzz_target;

/// Ethernet header + ARP for IPv4 over Ethernet.
const ARP_LEN: usize = 42;

fn check(frame: &[u8]) {
    let eth = parse_ethernet(frame);
    let Ok(f) = ArpFrame::parse(frame) else {
        return;
    };
    assert_eq!(eth, Ok((f.eth_dst, f.eth_src, 0x0806)));
    let enc = f.encode();
    assert_eq!(
        enc[..ARP_LEN],
        frame[..ARP_LEN],
        "re-encoding changed the frame"
    );
    assert_eq!(ArpFrame::parse(&enc), Ok(f));
    if f.op == ArpOp::Request {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        if let Ok(reply) = arp::respond(&f, mac, |_| true) {
            assert_eq!(reply.op, ArpOp::Reply);
            assert_eq!(reply.sender_ip, f.target_ip);
            assert_eq!(ArpFrame::parse(&reply.encode()), Ok(reply));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= ARP_LEN {
        let mut f = data.to_vec();
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        f[14..20].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        f[20] = 0;
        // Op: request or reply; bit 1 of the same byte makes it broadcast (so `respond` answers).
        if f[21] & 2 != 0 {
            f[0..6].fill(0xff);
        }
        f[21] = 1 + (f[21] & 1);
        assert!(
            ArpFrame::parse(&f).is_ok(),
            "a well-formed ARP frame was refused"
        );
        check(&f);
    }
});
