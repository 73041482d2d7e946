//! Codec round trips, the wire layout, and every §6.8.6 discard reason.

use proptest::prelude::*;

use super::*;

fn sample() -> ControlPacket {
    ControlPacket {
        diag: Diag::None,
        state: State::Up,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: 0x0102_0304,
        your_discr: 7,
        desired_min_tx_us: 300_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
    }
}

#[test]
fn layout_matches_rfc5880_4_1() {
    let p = ControlPacket {
        diag: Diag::DetectionTimeExpired,
        poll: true,
        ..sample()
    };
    let b = p.encode();
    assert_eq!(b[0], 0x21, "version 1, diag 1");
    assert_eq!(b[1], 0xe0, "state Up (3) << 6 | P");
    assert_eq!(b[2], 3);
    assert_eq!(b[3], 24);
    assert_eq!(&b[4..8], &[1, 2, 3, 4]);
    assert_eq!(&b[8..12], &[0, 0, 0, 7]);
    assert_eq!(&b[12..16], &300_000u32.to_be_bytes());
    assert_eq!(ControlPacket::decode(&b), Ok(p));
}

#[test]
fn trailing_bytes_after_length_are_ignored() {
    let mut b = sample().encode().to_vec();
    b.extend_from_slice(&[0xff; 8]);
    assert_eq!(ControlPacket::decode(&b), Ok(sample()));
}

fn reject(mut edit: impl FnMut(&mut Vec<u8>), want: DecodeError) {
    let mut b = sample().encode().to_vec();
    edit(&mut b);
    assert_eq!(ControlPacket::decode(&b), Err(want));
}

#[test]
fn malformed_packets_are_discarded_with_their_reason() {
    reject(|b| b.truncate(23), DecodeError::Truncated(23));
    reject(|b| b[0] = (2 << 5) | (b[0] & 0x1f), DecodeError::Version(2));
    reject(|b| b[3] = 20, DecodeError::LengthTooSmall(20));
    reject(
        |b| b[3] = 30,
        DecodeError::LengthTooLarge {
            length: 30,
            datagram: 24,
        },
    );
    reject(|b| b[2] = 0, DecodeError::ZeroDetectMult);
    reject(|b| b[1] |= 0x01, DecodeError::Multipoint);
    reject(|b| b[4..8].fill(0), DecodeError::ZeroMyDiscriminator);
    reject(
        |b| b[8..12].fill(0),
        DecodeError::ZeroYourDiscriminator(State::Up),
    );
    reject(
        |b| {
            b[1] = (2 << 6) | (b[1] & 0x3f);
            b[8..12].fill(0);
        },
        DecodeError::ZeroYourDiscriminator(State::Init),
    );
    // A bit: length must also allow the 2-byte auth header minimum.
    reject(|b| b[1] |= 0x04, DecodeError::LengthTooSmall(24));
    reject(
        |b| {
            b[1] |= 0x04;
            b.extend_from_slice(&[1, 2]);
            b[3] = 26;
        },
        DecodeError::Authentication,
    );
}

#[test]
fn your_discriminator_zero_is_fine_when_down() {
    for state in [State::Down, State::AdminDown] {
        let p = ControlPacket {
            state,
            your_discr: 0,
            ..sample()
        };
        assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
    }
}

#[test]
fn errors_name_the_field() {
    assert_eq!(
        DecodeError::ZeroDetectMult.to_string(),
        "BFD Detect Mult is 0"
    );
    assert!(
        DecodeError::LengthTooLarge {
            length: 30,
            datagram: 24
        }
        .to_string()
        .contains("Length field 30")
    );
}

fn arb_state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::AdminDown),
        Just(State::Down),
        Just(State::Init),
        Just(State::Up)
    ]
}

proptest! {
    #[test]
    fn round_trip(
        diag in 0u8..32, state in arb_state(), flags in 0u8..16, mult in 1u8..,
        my in 1u32.., your in any::<u32>(), tx in any::<u32>(), rx in any::<u32>(), echo in any::<u32>(),
    ) {
        let p = ControlPacket {
            diag: Diag::from_code(diag),
            state,
            poll: flags & 1 != 0,
            final_: flags & 2 != 0,
            cpi: flags & 4 != 0,
            demand: flags & 8 != 0,
            detect_mult: mult,
            my_discr: my,
            your_discr: your,
            desired_min_tx_us: tx,
            required_min_rx_us: rx,
            required_min_echo_rx_us: echo,
        };
        let decoded = ControlPacket::decode(&p.encode());
        if your == 0 && matches!(state, State::Init | State::Up) {
            prop_assert_eq!(decoded, Err(DecodeError::ZeroYourDiscriminator(state)));
        } else {
            prop_assert_eq!(decoded, Ok(p));
        }
    }

    #[test]
    fn decode_never_panics_and_reencodes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = ControlPacket::decode(&bytes) {
            prop_assert_eq!(ControlPacket::decode(&p.encode()), Ok(p));
            prop_assert_eq!(&p.encode()[4..24], &bytes[4..24]);
        }
    }
}
