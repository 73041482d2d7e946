//! Decode arbitrary bytes as a stream of BGP messages (both AS widths): never panics, and
//! whatever decodes survives encode → decode unchanged.
#![no_main]

use ferrolb_bgp::message::{self, Message};
use ferrolb_bgp::{CodecCtx, EncodeError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for four_octet_as in [false, true] {
        let ctx = CodecCtx {
            four_octet_as,
            extended_message: data.first().is_some_and(|b| b & 1 == 1),
        };
        let mut rest = data;
        while let Ok(Some((msg, used))) = message::decode(rest, &ctx) {
            rest = &rest[used..];
            round_trip(&msg, four_octet_as);
        }
    }
});

fn round_trip(msg: &Message, four_octet_as: bool) {
    // Re-encoding may grow a message by a few bytes (one capability per parameter, MP_*
    // always with extended length), so allow extended messages for the second pass.
    let ctx = CodecCtx {
        four_octet_as,
        extended_message: true,
    };
    match msg.encode(&ctx) {
        Ok(bytes) => {
            let again = message::decode(&bytes, &ctx);
            match again {
                Ok(Some((m, used))) => {
                    assert_eq!(used, bytes.len());
                    assert_eq!(&m, msg);
                }
                other => panic!("re-encoded message does not decode: {other:?}"),
            }
        }
        Err(EncodeError::TooLong { .. }) => {}
        Err(e) => panic!("decoded message does not encode: {e}"),
    }
}
