//! Packet tests: hand-assembled byte vectors (each field commented) for every message type,
//! and one test per RFC 4271 §6 / RFC 7606 error path checking the NOTIFICATION code,
//! subcode and data and the action.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::error::{DecodeError, ErrorAction};
use crate::types::{AsSegment, Family, LargeCommunity, Origin, SegmentKind};

const V4: CodecCtx = CodecCtx {
    four_octet_as: true,
    extended_message: false,
};
const OLD: CodecCtx = CodecCtx {
    four_octet_as: false,
    extended_message: false,
};

/// Marker + length + type + body.
fn frame(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    v.push(ty);
    v.extend_from_slice(body);
    v
}

fn decode_one(bytes: &[u8], ctx: &CodecCtx) -> Result<Message, DecodeError> {
    let (m, used) = decode(bytes, ctx)?.expect("complete message");
    assert_eq!(used, bytes.len());
    Ok(m)
}

fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    b
}

fn update_err(attrs: &[u8], nlri: &[u8]) -> DecodeError {
    let bytes = frame(kind::UPDATE, &update_body(&[], attrs, nlri));
    decode_one(&bytes, &V4).expect_err("invalid UPDATE")
}

fn assert_notif(e: &DecodeError, code: u8, subcode: u8, action: ErrorAction) {
    let n = e.notification();
    assert_eq!((n.code, n.subcode), (code, subcode), "{e}");
    assert_eq!(e.action(), action, "{e}");
}

const ORIGIN_IGP: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH_65000: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 192, 0, 2, 1];

#[test]
fn keepalive_is_bare_header() {
    let bytes = Message::Keepalive.encode(&V4).expect("encode");
    let mut want = vec![0xff; 16];
    want.extend_from_slice(&[0x00, 0x13, 0x04]);
    assert_eq!(bytes, want);
    assert_eq!(decode_one(&bytes, &V4), Ok(Message::Keepalive));
}

#[test]
fn open_bytes_match_hand_assembly() {
    let open = Open {
        my_as: 65000,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::Multiprotocol { afi: 2, safi: 1 },
            Capability::RouteRefresh,
            Capability::FourOctetAs(65000),
            Capability::ExtendedMessage,
        ],
    };
    #[rustfmt::skip]
    let body = [
        4, 0xfd, 0xe8, 0x00, 0x5a, 192, 0, 2, 1, // version, My AS 65000, hold 90, BGP ID
        32,                                       // optional parameters length
        2, 6, 1, 4, 0, 1, 0, 1,                   // MP IPv4 unicast
        2, 6, 1, 4, 0, 2, 0, 1,                   // MP IPv6 unicast
        2, 2, 2, 0,                               // route refresh
        2, 6, 65, 4, 0, 0, 0xfd, 0xe8,            // 4-octet AS 65000
        2, 2, 6, 0,                               // extended message
    ];
    let want = frame(kind::OPEN, &body);
    assert_eq!(want.len(), 61);
    assert_eq!(
        Message::Open(open.clone()).encode(&V4).expect("encode"),
        want
    );
    assert_eq!(decode_one(&want, &V4), Ok(Message::Open(open)));
}

#[test]
fn open_with_four_octet_asn_uses_as_trans_and_gr_capability() {
    let cfg = crate::fsm::SessionConfig {
        graceful_restart: true,
        families: vec![Family::Ipv4Unicast],
        extended_message: false,
        ..crate::fsm::SessionConfig::new(
            4_200_000_000,
            crate::fsm::PeerAsn::External,
            Ipv4Addr::new(10, 0, 0, 1),
        )
    };
    let bytes = Message::Open(cfg.open()).encode(&V4).expect("encode");
    assert_eq!(&bytes[20..22], &[0x5b, 0xa0], "My AS = AS_TRANS 23456");
    // GR: R=0, restart 120 (0x078), IPv4 unicast with F bit.
    let gr = [2, 8, 64, 6, 0x00, 0x78, 0, 1, 1, 0x80];
    assert!(bytes.windows(gr.len()).any(|w| w == gr), "{bytes:02x?}");
    let Ok(Message::Open(open)) = decode_one(&bytes, &V4) else {
        panic!("decode")
    };
    assert_eq!(open.asn(), 4_200_000_000);
}

#[test]
fn graceful_restart_capability_with_and_without_the_r_bit() {
    let cfg = crate::fsm::SessionConfig {
        graceful_restart: true,
        ..crate::fsm::SessionConfig::new(
            64512,
            crate::fsm::PeerAsn::External,
            Ipv4Addr::new(10, 0, 0, 1),
        )
    };
    // code 64, length 10: flags+time, then IPv4 unicast and IPv6 unicast with the F bit.
    let without = [64, 10, 0x00, 0x78, 0, 1, 1, 0x80, 0, 2, 1, 0x80];
    let with_r = [64, 10, 0x80, 0x78, 0, 1, 1, 0x80, 0, 2, 1, 0x80];
    for (restarting, want) in [(false, without), (true, with_r)] {
        let open = cfg.open_with(restarting);
        let bytes = Message::Open(open.clone()).encode(&V4).expect("encode");
        assert!(
            bytes.windows(want.len()).any(|w| w == want),
            "R={restarting}: {bytes:02x?}"
        );
        assert_eq!(
            decode_one(&bytes, &V4),
            Ok(Message::Open(open)),
            "round trip"
        );
    }
    assert_eq!(cfg.open(), cfg.open_with(false));
    let off = crate::fsm::SessionConfig {
        graceful_restart: false,
        ..cfg
    };
    assert!(
        !off.open_with(true)
            .capabilities
            .iter()
            .any(|c| matches!(c, Capability::GracefulRestart(_))),
        "no capability (and so no R bit) without enableGracefulRestart"
    );
}

#[test]
fn peer_graceful_restart_capabilities_are_decoded() {
    // FRR's helper-only capability: flags 0 + restart time 120, no family.
    let helper = [2, 4, 64, 2, 0x00, 0x78];
    // A restarting peer: R and N bits, time 0xfff, IPv4 unicast F=1, IPv6 unicast F=0.
    let restarting = [2, 12, 64, 10, 0xcf, 0xff, 0, 1, 1, 0x80, 0, 2, 1, 0x00];
    let mut params = helper.to_vec();
    params.extend_from_slice(&restarting);
    let mut body = vec![4, 0xfc, 0x01, 0, 90, 10, 0, 0, 2, params.len() as u8];
    body.extend_from_slice(&params);
    let Ok(Message::Open(open)) = decode_one(&frame(kind::OPEN, &body), &V4) else {
        panic!("decode")
    };
    assert_eq!(
        open.capabilities,
        vec![
            Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: false,
                restart_time: 120,
                families: vec![],
            }),
            Capability::GracefulRestart(GracefulRestart {
                restarting: true,
                notification: true,
                restart_time: 0xfff,
                families: vec![
                    GracefulRestartFamily {
                        afi: 1,
                        safi: 1,
                        forwarding_preserved: true
                    },
                    GracefulRestartFamily {
                        afi: 2,
                        safi: 1,
                        forwarding_preserved: false
                    },
                ],
            }),
        ]
    );
    // A value that is not 2 + 4n octets is a malformed OPEN (§6.2 subcode 0).
    let mut body = vec![4, 0xfc, 0x01, 0, 90, 10, 0, 0, 2, 7];
    body.extend_from_slice(&[2, 5, 64, 3, 0x00, 0x78, 0]);
    assert!(decode_one(&frame(kind::OPEN, &body), &V4).is_err());
}

#[test]
fn open_extended_parameters_round_trip() {
    // 70 unknown capabilities of 4 bytes each do not fit a 1-octet parameters length.
    let caps = (0..70)
        .map(|i| Capability::Unknown {
            code: 200,
            data: vec![i, 0],
        })
        .collect();
    let open = Open {
        my_as: 1,
        hold_time: 0,
        bgp_id: Ipv4Addr::new(1, 1, 1, 1),
        capabilities: caps,
    };
    let bytes = Message::Open(open.clone()).encode(&V4).expect("encode");
    assert_eq!(&bytes[28..30], &[255, 255], "RFC 9072 marker");
    assert_eq!(decode_one(&bytes, &V4), Ok(Message::Open(open)));
}

#[test]
fn ipv4_update_bytes_match_hand_assembly() {
    let mut attrs = ORIGIN_IGP.to_vec();
    attrs.extend_from_slice(&AS_PATH_65000);
    attrs.extend_from_slice(&NEXT_HOP);
    attrs.extend_from_slice(&[0xc0, 8, 4, 0xfd, 0xe8, 0x00, 0x64]); // COMMUNITIES 65000:100
    let nlri = [32, 198, 51, 100, 1, 24, 203, 0, 113];
    let want = frame(kind::UPDATE, &update_body(&[], &attrs, &nlri));
    assert_eq!(want.len(), 59);
    let u = Update {
        withdrawn: vec![],
        attrs: PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![65000],
            }]),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            communities: vec![65000 << 16 | 100],
            ..PathAttrs::default()
        },
        nlri: vec![
            "198.51.100.1/32".parse().expect("net"),
            "203.0.113.0/24".parse().expect("net"),
        ],
    };
    let msg = Message::Update(Box::new(u));
    assert_eq!(msg.encode(&V4).expect("encode"), want);
    assert_eq!(decode_one(&want, &V4), Ok(msg));
}

#[test]
fn ipv6_update_uses_mp_reach_with_extended_length() {
    let u = Update {
        attrs: PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(vec![]),
            mp_reach: Some(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: NextHop::V6 {
                    global: "2001:db8::1".parse().expect("v6"),
                    link_local: None,
                },
                nlri: vec!["2001:db8:1::/48".parse().expect("net")],
            }),
            large_communities: vec![LargeCommunity {
                global: 64512,
                local1: 1,
                local2: 2,
            }],
            ..PathAttrs::default()
        },
        ..Update::default()
    };
    #[rustfmt::skip]
    let mut attrs = vec![
        0x40, 1, 1, 0,                    // ORIGIN IGP
        0x40, 2, 0,                       // empty AS_PATH (iBGP)
        0x90, 14, 0, 28,                  // MP_REACH_NLRI, optional + extended length
        0, 2, 1, 16,                      // AFI 2, SAFI 1, next hop length 16
    ];
    attrs.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("v6").octets());
    attrs.extend_from_slice(&[0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1]); // reserved, 2001:db8:1::/48
    attrs.extend_from_slice(&[0xc0, 32, 12, 0, 0, 0xfc, 0, 0, 0, 0, 1, 0, 0, 0, 2]);
    let want = frame(kind::UPDATE, &update_body(&[], &attrs, &[]));
    let msg = Message::Update(Box::new(u));
    assert_eq!(msg.encode(&V4).expect("encode"), want);
    assert_eq!(decode_one(&want, &V4), Ok(msg));
}

#[test]
fn ipv4_over_ipv6_next_hop_uses_mp_reach_afi_1() {
    let u = Update {
        attrs: PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(vec![]),
            mp_reach: Some(MpReach {
                family: Family::Ipv4Unicast,
                next_hop: NextHop::V6 {
                    global: "2001:db8::1".parse().expect("v6"),
                    link_local: None,
                },
                nlri: vec!["198.51.100.0/24".parse().expect("net")],
            }),
            ..PathAttrs::default()
        },
        ..Update::default()
    };
    #[rustfmt::skip]
    let mut attrs = vec![
        0x40, 1, 1, 0,                    // ORIGIN IGP
        0x40, 2, 0,                       // empty AS_PATH
        0x90, 14, 0, 25,                  // MP_REACH_NLRI: 2+1+1+16+1+4 octets
        0, 1, 1, 16,                      // AFI 1, SAFI 1, next hop length 16 (RFC 8950 §4)
    ];
    attrs.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("v6").octets());
    attrs.extend_from_slice(&[0, 24, 198, 51, 100]);
    let want = frame(kind::UPDATE, &update_body(&[], &attrs, &[]));
    let msg = Message::Update(Box::new(u));
    assert_eq!(msg.encode(&V4).expect("encode"), want);
    assert_eq!(decode_one(&want, &V4), Ok(msg));
}

#[test]
fn extended_next_hop_capability_bytes() {
    let mut v = Vec::new();
    Capability::ExtendedNextHop(vec![ExtendedNextHop::IPV4_OVER_IPV6])
        .encode(&mut v)
        .expect("encode");
    assert_eq!(v, [5, 6, 0, 1, 0, 1, 0, 2]);
    let bad = [2, 7, 5, 5, 0, 1, 0, 1, 0];
    let e = open_err(&open_body(4, 90, [1; 4], &bad));
    assert_notif(&e, 2, 0, ErrorAction::SessionReset);
}

#[test]
fn end_of_rib_markers() {
    let v4 = Message::Update(Box::new(Update::end_of_rib(Family::Ipv4Unicast)));
    assert_eq!(
        v4.encode(&V4).expect("encode"),
        frame(kind::UPDATE, &[0, 0, 0, 0])
    );
    let v6 = Update::end_of_rib(Family::Ipv6Unicast);
    let bytes = Message::Update(Box::new(v6.clone()))
        .encode(&V4)
        .expect("encode");
    assert_eq!(
        bytes,
        frame(kind::UPDATE, &[0, 0, 0, 7, 0x90, 15, 0, 3, 0, 2, 1])
    );
    assert_eq!(v6.end_of_rib_family(), Some(Family::Ipv6Unicast));
    let not = Update {
        withdrawn: vec!["10.0.0.0/8".parse().expect("net")],
        ..Update::default()
    };
    assert_eq!(not.end_of_rib_family(), None);
}

#[test]
fn two_octet_session_substitutes_as_trans_and_adds_as4_path() {
    let u = Update {
        attrs: PathAttrs {
            origin: Some(Origin::Igp),
            as_path: Some(vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns: vec![4_200_000_000],
            }]),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..PathAttrs::default()
        },
        nlri: vec!["10.0.0.0/8".parse().expect("net")],
        ..Update::default()
    };
    let bytes = Message::Update(Box::new(u.clone()))
        .encode(&OLD)
        .expect("encode");
    let as_path = [0x40, 2, 4, 2, 1, 0x5b, 0xa0];
    let as4_path = [0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0x00];
    assert!(bytes.windows(7).any(|w| w == as_path), "{bytes:02x?}");
    assert!(bytes.windows(9).any(|w| w == as4_path), "{bytes:02x?}");
    let Ok(Message::Update(d)) = decode_one(&bytes, &OLD) else {
        panic!("decode")
    };
    assert_eq!(d.attrs.as_path.expect("as path")[0].asns, vec![23456]);
    assert_eq!(d.attrs.as4_path, u.attrs.as_path);
}

#[test]
fn notification_and_route_refresh_bytes() {
    let n = Message::Notification(Notification::new(4, 0));
    let want = frame(kind::NOTIFICATION, &[4, 0]);
    assert_eq!(want[16..19], [0, 21, 3]);
    assert_eq!(n.encode(&V4).expect("encode"), want);
    assert_eq!(decode_one(&want, &V4), Ok(n));
    let rr = Message::RouteRefresh(RouteRefresh {
        afi: 2,
        subtype: 0,
        safi: 1,
    });
    let want = frame(kind::ROUTE_REFRESH, &[0, 2, 0, 1]);
    assert_eq!(rr.encode(&V4).expect("encode"), want);
    assert_eq!(decode_one(&want, &V4), Ok(rr));
}

#[test]
fn partial_input_waits_for_more_bytes() {
    let bytes = Message::Keepalive.encode(&V4).expect("encode");
    assert_eq!(decode(&bytes[..10], &V4), Ok(None));
    let open = Message::Open(
        crate::fsm::SessionConfig::new(1, crate::fsm::PeerAsn::Fixed(2), Ipv4Addr::new(1, 2, 3, 4))
            .open(),
    );
    let bytes = open.encode(&V4).expect("encode");
    assert_eq!(decode(&bytes[..bytes.len() - 1], &V4), Ok(None));
}

// ---- §6.1 message header errors ----

#[test]
fn header_errors() {
    let mut bad_marker = Message::Keepalive.encode(&V4).expect("encode");
    bad_marker[3] = 0;
    let e = decode(&bad_marker, &V4).expect_err("marker");
    assert_notif(&e, 1, 1, ErrorAction::SessionReset);

    let mut short = Message::Keepalive.encode(&V4).expect("encode");
    short[17] = 18;
    let e = decode(&short, &V4).expect_err("length");
    assert_notif(&e, 1, 2, ErrorAction::SessionReset);
    assert_eq!(e.notification().data, vec![0, 18]);

    let long_keepalive = frame(kind::KEEPALIVE, &[0]);
    assert_notif(
        &decode(&long_keepalive, &V4).expect_err("len"),
        1,
        2,
        ErrorAction::SessionReset,
    );

    let e = decode(&frame(9, &[]), &V4).expect_err("type");
    assert_notif(&e, 1, 3, ErrorAction::SessionReset);
    assert_eq!(e.notification().data, vec![9]);
}

#[test]
fn update_over_4096_needs_extended_message() {
    let mut big = vec![0xff; 16];
    big.extend_from_slice(&5000u16.to_be_bytes());
    big.push(kind::UPDATE);
    let e = decode(&big, &V4).expect_err("too long");
    assert_notif(&e, 1, 2, ErrorAction::SessionReset);
    let ext = CodecCtx {
        extended_message: true,
        ..V4
    };
    assert_eq!(decode(&big, &ext), Ok(None), "allowed, waits for the rest");
    let open_big = [&big[..18], &[kind::OPEN]].concat();
    assert!(
        decode(&open_big, &ext).is_err(),
        "OPEN stays within 4,096 (RFC 8654 §4)"
    );
}

// ---- §6.2 OPEN errors ----

fn open_body(version: u8, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version, 0xfd, 0xe8];
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    b
}

fn open_err(body: &[u8]) -> DecodeError {
    decode_one(&frame(kind::OPEN, body), &V4).expect_err("invalid OPEN")
}

#[test]
fn open_errors() {
    let e = open_err(&open_body(3, 90, [1, 1, 1, 1], &[]));
    assert_notif(&e, 2, 1, ErrorAction::SessionReset);
    assert_eq!(
        e.notification().data,
        vec![0, 4],
        "largest supported version"
    );
    assert_notif(
        &open_err(&open_body(4, 2, [1, 1, 1, 1], &[])),
        2,
        6,
        ErrorAction::SessionReset,
    );
    assert_notif(
        &open_err(&open_body(4, 1, [1, 1, 1, 1], &[])),
        2,
        6,
        ErrorAction::SessionReset,
    );
    assert_notif(
        &open_err(&open_body(4, 90, [0; 4], &[])),
        2,
        3,
        ErrorAction::SessionReset,
    );
    let auth = [1, 2, 0, 0];
    assert_notif(
        &open_err(&open_body(4, 90, [1; 4], &auth)),
        2,
        4,
        ErrorAction::SessionReset,
    );
    let short_mp = [2, 5, 1, 3, 0, 1, 0];
    assert_notif(
        &open_err(&open_body(4, 90, [1; 4], &short_mp)),
        2,
        0,
        ErrorAction::SessionReset,
    );
    let overrun = [2, 9, 1, 4, 0, 1, 0, 1];
    assert_notif(
        &open_err(&open_body(4, 90, [1; 4], &overrun)),
        2,
        0,
        ErrorAction::SessionReset,
    );
    let bad_gr = [2, 5, 64, 3, 0, 120, 0];
    assert_notif(
        &open_err(&open_body(4, 90, [1; 4], &bad_gr)),
        2,
        0,
        ErrorAction::SessionReset,
    );
    assert!(
        decode_one(&frame(kind::OPEN, &open_body(4, 0, [1; 4], &[])), &V4).is_ok(),
        "hold 0"
    );
    let unknown_cap = [2, 3, 99, 1, 7];
    let ok = decode_one(
        &frame(kind::OPEN, &open_body(4, 3, [1; 4], &unknown_cap)),
        &V4,
    );
    let Ok(Message::Open(o)) = ok else {
        panic!("unknown capability is ignored: {ok:?}")
    };
    assert_eq!(
        o.capabilities,
        vec![Capability::Unknown {
            code: 99,
            data: vec![7]
        }]
    );
}

// ---- §6.3 UPDATE errors and RFC 7606 ----

#[test]
fn update_length_errors_reset_the_session() {
    let bytes = frame(kind::UPDATE, &[0, 9, 0, 0]);
    let e = decode_one(&bytes, &V4).expect_err("withdrawn overrun");
    assert_notif(&e, 3, 1, ErrorAction::SessionReset);
    let bytes = frame(kind::UPDATE, &[0, 0, 0, 9, 0x40, 1, 1, 0]);
    assert_notif(
        &decode_one(&bytes, &V4).expect_err("attrs"),
        3,
        1,
        ErrorAction::SessionReset,
    );
    let e = update_err(&[0x40, 1, 5, 0], &[]);
    assert_notif(&e, 3, 1, ErrorAction::SessionReset);
    let mp = [0x80, 15, 3, 0, 2, 1]; // MP_UNREACH_NLRI IPv6, twice
    let e = update_err(&[mp, mp].concat(), &[]);
    assert_notif(&e, 3, 1, ErrorAction::SessionReset);
}

#[test]
fn unrecognized_well_known_resets() {
    let e = update_err(&[0x40, 99, 1, 0], &[]);
    assert_notif(&e, 3, 2, ErrorAction::SessionReset);
    assert_eq!(e.notification().data, vec![0x40, 99, 1, 0]);
}

#[test]
fn missing_well_known_is_treat_as_withdraw() {
    let attrs = [ORIGIN_IGP.as_slice(), &AS_PATH_65000].concat();
    let e = update_err(&attrs, &[8, 10]);
    assert_notif(&e, 3, 3, ErrorAction::TreatAsWithdraw);
    assert_eq!(e.notification().data, vec![3], "missing NEXT_HOP type");
    let only_withdraw = frame(kind::UPDATE, &update_body(&[8, 10], &[], &[]));
    assert!(
        decode_one(&only_withdraw, &V4).is_ok(),
        "withdrawals need no attributes"
    );
}

fn with_base(extra: &[u8]) -> Vec<u8> {
    [ORIGIN_IGP.as_slice(), &AS_PATH_65000, &NEXT_HOP, extra].concat()
}

#[test]
fn attribute_errors_are_treat_as_withdraw() {
    let cases: [(&[u8], u8); 8] = [
        (&[0xc0, 1, 1, 0], 4),            // ORIGIN flagged optional
        (&[0x40, 1, 2, 0, 0], 5),         // ORIGIN length 2
        (&[0x40, 1, 1, 3], 6),            // ORIGIN 3
        (&[0x40, 3, 4, 0, 0, 0, 0], 8),   // NEXT_HOP 0.0.0.0
        (&[0x40, 3, 4, 224, 0, 0, 1], 8), // NEXT_HOP multicast
        (&[0x40, 2, 3, 7, 1, 0], 11),     // AS_PATH segment type 7
        (&[0xc0, 8, 3, 0, 0, 0], 5),      // COMMUNITIES length 3
        (&[0x80, 4, 2, 0, 0], 5),         // MED length 2
    ];
    for (attr, subcode) in cases {
        // The faulty attribute first, so it is not shadowed by the valid duplicate.
        let attrs = [attr, &with_base(&[])].concat();
        let e = update_err(&attrs, &[8, 10]);
        assert_notif(&e, 3, subcode, ErrorAction::TreatAsWithdraw);
    }
    let e = update_err(
        &with_base(&[0xc0, 32, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        &[8, 10],
    );
    assert_notif(&e, 3, 5, ErrorAction::TreatAsWithdraw);
    let e = update_err(&with_base(&[0xc0, 8, 0]), &[8, 10]);
    assert_notif(&e, 3, 5, ErrorAction::TreatAsWithdraw);
}

#[test]
fn mp_and_nlri_errors_reset_the_session() {
    let bad_nh = [0x80, 14, 9, 0, 2, 1, 5, 1, 2, 3, 4, 5];
    let e = update_err(&with_base(&bad_nh), &[]);
    assert_notif(&e, 3, 9, ErrorAction::SessionReset);
    let e = update_err(&with_base(&[]), &[33, 10, 0, 0, 0, 0]);
    assert_notif(&e, 3, 10, ErrorAction::SessionReset);
    let bad_v6 = [0x80, 15, 4, 0, 2, 1, 129];
    assert_notif(&update_err(&bad_v6, &[]), 3, 10, ErrorAction::SessionReset);
    // RFC 7606 §3.j: a session reset later in the message wins over a treat-as-withdraw.
    let attrs = [[0x40, 1, 1, 3].as_slice(), &with_base(&[])].concat();
    let e = update_err(&attrs, &[40]);
    assert_notif(&e, 3, 10, ErrorAction::SessionReset);
}

#[test]
fn discarded_and_duplicate_attributes_are_tolerated() {
    let bad_aggregator = [0xc0, 7, 3, 0, 0, 1];
    let bad_atomic = [0x40, 6, 1, 0];
    let dup_origin = [0x40, 1, 1, 2];
    let bad_as4 = [0xc0, 17, 1, 9];
    let attrs = with_base(
        &[
            bad_aggregator.as_slice(),
            &bad_atomic,
            &dup_origin,
            &bad_as4,
        ]
        .concat(),
    );
    let bytes = frame(kind::UPDATE, &update_body(&[], &attrs, &[8, 10]));
    let Ok(Message::Update(u)) = decode_one(&bytes, &V4) else {
        panic!("tolerated")
    };
    assert_eq!(u.attrs.aggregator, None);
    assert!(!u.attrs.atomic_aggregate);
    assert_eq!(u.attrs.origin, Some(Origin::Igp), "first ORIGIN kept");
    assert_eq!(u.attrs.as4_path, None);
}

#[test]
fn unknown_optional_attribute_and_family_are_kept_opaque() {
    let ext_comm = [0xc0, 16, 8, 0, 2, 0xfd, 0xe8, 0, 0, 0, 1];
    let vpn = [0x80, 14, 5, 0, 1, 128, 0, 0]; // AFI 1 SAFI 128 (VPN): not ours
    let attrs = with_base(&[ext_comm.as_slice(), &vpn].concat());
    let bytes = frame(kind::UPDATE, &update_body(&[], &attrs, &[8, 10]));
    let Ok(Message::Update(u)) = decode_one(&bytes, &V4) else {
        panic!("decode")
    };
    assert_eq!(u.attrs.other.len(), 2);
    assert_eq!(u.attrs.other[0].type_code, 16);
    assert_eq!(u.attrs.mp_reach, None);
    let again = Message::Update(u.clone()).encode(&V4).expect("encode");
    assert_eq!(decode_one(&again, &V4), Ok(Message::Update(u)));
}

#[test]
fn route_refresh_length_error() {
    let e = decode_one(&frame(kind::ROUTE_REFRESH, &[0, 1, 0, 1, 9]), &V4).expect_err("len");
    assert_notif(&e, 7, 1, ErrorAction::SessionReset);
    let e = decode_one(&frame(kind::ROUTE_REFRESH, &[0, 1]), &V4).expect_err("short");
    assert_notif(&e, 7, 1, ErrorAction::SessionReset);
}

#[test]
fn encode_rejects_oversized_messages() {
    let u = Update {
        attrs: PathAttrs {
            communities: (0..2000).collect(),
            ..PathAttrs::default()
        },
        ..Update::default()
    };
    let msg = Message::Update(Box::new(u));
    assert!(matches!(
        msg.encode(&V4),
        Err(crate::EncodeError::TooLong { max: 4096, .. })
    ));
    let ext = CodecCtx {
        extended_message: true,
        ..V4
    };
    let bytes = msg.encode(&ext).expect("fits 65,535");
    assert_eq!(decode_one(&bytes, &ext), Ok(msg));
}

#[test]
fn open_with_several_capabilities_in_one_parameter() {
    // RFC 5492 §4 form we never send (one parameter, four capabilities); vector from
    // netgauze-bgp-pkt's test suite (test_open_multiple_capabilities_in_one_param).
    #[rustfmt::skip]
    let body = [
        0x04, 0xfe, 0x09, 0x00, 0xb4, 0xc0, 0xa8, 0x00, 0x0f, // version, AS 65033, hold 180, ID
        0x12,                                                 // optional parameters length
        0x02, 0x10,                                           // one capabilities parameter
        0x01, 0x04, 0x00, 0x01, 0x00, 0x01,                   // MP IPv4 unicast
        0x02, 0x00,                                           // route refresh
        0x41, 0x04, 0x00, 0x00, 0xfe, 0x09,                   // 4-octet AS 65033
        0x46, 0x00,                                           // enhanced route refresh (70)
    ];
    let Ok(Message::Open(o)) = decode_one(&frame(kind::OPEN, &body), &V4) else {
        panic!("decode")
    };
    assert_eq!(
        (o.asn(), o.hold_time, o.bgp_id),
        (65033, 180, Ipv4Addr::new(192, 168, 0, 15))
    );
    assert_eq!(
        o.capabilities,
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::RouteRefresh,
            Capability::FourOctetAs(65033),
            Capability::Unknown {
                code: 70,
                data: vec![]
            },
        ]
    );
}
