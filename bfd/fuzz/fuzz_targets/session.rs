//! Arbitrary datagrams and time steps into one session: decoding never panics, whatever
//! decodes re-encodes to the same packet, and the session never panics, always has a
//! deadline while it may transmit, and never sends a packet that fails its own checks.
#![no_main]

use std::time::Duration;

use ferrolb_bfd::{Action, ControlPacket, Params, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let params = Params {
        passive: first & 1 == 1,
        transmit_interval: Duration::from_millis(10 + u64::from(first >> 1)),
        ..Params::DEFAULT
    };
    let mut now = Duration::ZERO;
    let mut s = Session::new(params.session_config(), 7, u64::from(first), now);
    for chunk in rest.chunks(25) {
        // First byte: time step in ms; the rest: one datagram.
        let Some((&step, dgram)) = chunk.split_first() else {
            continue;
        };
        now += Duration::from_millis(u64::from(step));
        let mut out = s.tick(now);
        if let Ok(p) = ControlPacket::decode(dgram) {
            assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
            out.extend(s.receive(&p, now));
        }
        for a in out {
            if let Action::Send(p) = a {
                let enc = p.encode();
                // Our own packets only fail the Your Discriminator rule when the peer is
                // unknown, which we only send in Down/AdminDown.
                assert_eq!(ControlPacket::decode(&enc), Ok(p));
            }
        }
        if let Some(d) = s.next_deadline() {
            assert!(d >= now);
        }
    }
});
