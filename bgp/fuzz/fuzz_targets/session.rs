//! Arbitrary bytes from the peer into a session after the OPEN exchange: never panics, and
//! whenever the session falls back to Idle it closes the connection.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use ferrolb_bgp::CodecCtx;
use ferrolb_bgp::fsm::{Action, Event, PeerAsn, Session, SessionConfig, State};
use ferrolb_bgp::message::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new(SessionConfig::new(
        64512,
        PeerAsn::External,
        Ipv4Addr::new(10, 0, 0, 1),
    ));
    let t = Duration::ZERO;
    s.handle(t, Event::ManualStart);
    s.handle(t, Event::TcpConnected);
    let peer = SessionConfig::new(64513, PeerAsn::External, Ipv4Addr::new(10, 0, 0, 2)).open();
    let open = Message::Open(peer)
        .encode(&CodecCtx::default())
        .expect("encode");
    s.receive(t, &open);
    if data.first().is_some_and(|b| b & 1 == 1) {
        let ka = Message::Keepalive
            .encode(&CodecCtx::default())
            .expect("encode");
        s.receive(t, &ka);
    }
    for (i, chunk) in data.chunks(97).enumerate() {
        let now = Duration::from_millis(i as u64 * 10);
        let mut actions = s.receive(now, chunk);
        actions.extend(s.tick(now));
        if s.state() == State::Idle {
            assert!(actions.contains(&Action::Close), "{actions:?}");
            break;
        }
    }
});
