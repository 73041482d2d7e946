//! Property tests: decode ∘ encode is the identity for every message kind; decoding
//! arbitrary or mutated bytes never panics; an Adj-RIB-Out diff applied to a model of the
//! peer's table (through the wire) always yields the desired table, every UPDATE within the
//! maximum size.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_bgp::message::update::{Aggregator, FLAG_OPTIONAL, FLAG_PARTIAL, FLAG_TRANSITIVE};
use ferrolb_bgp::message::{
    self, Capability, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, Message, MpReach,
    MpUnreach, NextHop, Open, PathAttrs, RawAttribute, RouteRefresh, Update,
};
use ferrolb_bgp::pack::{AdjRibOut, Packer, RouteAttrs, RouteTable, share};
use ferrolb_bgp::types::{AsSegment, SegmentKind};
use ferrolb_bgp::{CodecCtx, Family, LargeCommunity, Notification, Origin};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::option::of as opt;
use proptest::prelude::*;

fn v4net() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).expect("len").trunc())
}

fn v6net() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).expect("len").trunc())
}

fn unicast_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

fn as_path(four: bool) -> impl Strategy<Value = Vec<AsSegment>> {
    let asn = if four {
        any::<u32>().boxed()
    } else {
        (0u32..=0xffff).boxed()
    };
    let kind = prop_oneof![
        Just(SegmentKind::Set),
        Just(SegmentKind::Sequence),
        Just(SegmentKind::ConfedSequence),
        Just(SegmentKind::ConfedSet)
    ];
    // ≤ 255 per segment: longer ones are split on encode and come back as two segments.
    prop::collection::vec((kind, prop::collection::vec(asn, 1..255)), 0..3).prop_map(|v| {
        v.into_iter()
            .map(|(kind, asns)| AsSegment { kind, asns })
            .collect()
    })
}

fn aggregator(four: bool) -> impl Strategy<Value = Aggregator> {
    let asn = if four {
        any::<u32>().boxed()
    } else {
        (0u32..=0xffff).boxed()
    };
    (asn, any::<u32>()).prop_map(|(asn, a)| Aggregator {
        asn,
        address: Ipv4Addr::from(a),
    })
}

fn next_hop() -> impl Strategy<Value = NextHop> {
    prop_oneof![
        any::<u32>().prop_map(|a| NextHop::V4(Ipv4Addr::from(a))),
        (any::<u128>(), proptest::option::of(any::<u128>())).prop_map(|(g, l)| NextHop::V6 {
            global: Ipv6Addr::from(g),
            link_local: l.map(Ipv6Addr::from),
        }),
    ]
}

fn family_nets() -> impl Strategy<Value = (Family, Vec<IpNet>)> {
    prop_oneof![
        prop::collection::vec(v4net().prop_map(IpNet::V4), 0..20)
            .prop_map(|n| (Family::Ipv4Unicast, n)),
        prop::collection::vec(v6net().prop_map(IpNet::V6), 0..20)
            .prop_map(|n| (Family::Ipv6Unicast, n)),
    ]
}

fn raw_attr() -> impl Strategy<Value = RawAttribute> {
    let known = [1u8, 2, 3, 4, 5, 6, 7, 8, 14, 15, 17, 18, 32];
    (
        any::<u8>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_filter("unknown type", move |(t, ..)| !known.contains(t))
        .prop_map(|(type_code, transitive, partial, value)| RawAttribute {
            flags: FLAG_OPTIONAL
                | if transitive { FLAG_TRANSITIVE } else { 0 }
                | if partial { FLAG_PARTIAL } else { 0 },
            type_code,
            value,
        })
}

fn path_attrs(four: bool) -> impl Strategy<Value = PathAttrs> {
    let origin = prop_oneof![
        Just(Origin::Igp),
        Just(Origin::Egp),
        Just(Origin::Incomplete)
    ];
    let large = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(global, local1, local2)| {
        LargeCommunity {
            global,
            local1,
            local2,
        }
    });
    (
        (
            opt(origin),
            opt(as_path(four)),
            opt(unicast_v4()),
            opt(any::<u32>()),
            opt(any::<u32>()),
        ),
        (
            any::<bool>(),
            opt(aggregator(four)),
            prop::collection::vec(any::<u32>(), 0..70),
        ),
        (opt((family_nets(), next_hop())), opt(family_nets())),
        (
            opt(as_path(true)),
            opt(aggregator(true)),
            prop::collection::vec(large, 0..10),
        ),
        prop::collection::vec(raw_attr(), 0..3),
    )
        .prop_map(|(a, b, c, d, other)| PathAttrs {
            origin: a.0,
            as_path: a.1,
            next_hop: a.2,
            med: a.3,
            local_pref: a.4,
            atomic_aggregate: b.0,
            aggregator: b.1,
            communities: b.2,
            mp_reach: c.0.map(|((family, nlri), next_hop)| MpReach {
                family,
                next_hop,
                nlri,
            }),
            mp_unreach: c
                .1
                .map(|(family, withdrawn)| MpUnreach { family, withdrawn }),
            as4_path: d.0,
            as4_aggregator: d.1,
            large_communities: d.2,
            // A repeated attribute type keeps only the first (RFC 7606 §3.g).
            other: other
                .into_iter()
                .fold(Vec::new(), |mut v: Vec<RawAttribute>, a| {
                    if !v.iter().any(|b| b.type_code == a.type_code) {
                        v.push(a);
                    }
                    v
                }),
        })
}

fn update(four: bool) -> impl Strategy<Value = Update> {
    (
        prop::collection::vec(v4net(), 0..30),
        path_attrs(four),
        prop::collection::vec(v4net(), 0..30),
    )
        .prop_map(|(withdrawn, mut attrs, nlri)| {
            // Announcements need the mandatory well-known attributes (else treat-as-withdraw).
            let mp = attrs.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
            if !nlri.is_empty() || mp {
                attrs.origin.get_or_insert(Origin::Igp);
                attrs.as_path.get_or_insert_with(Vec::new);
            }
            if !nlri.is_empty() {
                attrs.next_hop.get_or_insert(Ipv4Addr::new(192, 0, 2, 1));
            }
            Update {
                withdrawn,
                attrs,
                nlri,
            }
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    let gr_fam = (any::<u16>(), any::<u8>(), any::<bool>()).prop_map(|(afi, safi, f)| {
        GracefulRestartFamily {
            afi,
            safi,
            forwarding_preserved: f,
        }
    });
    let gr = (
        any::<bool>(),
        any::<bool>(),
        0u16..4096,
        prop::collection::vec(gr_fam, 0..5),
    )
        .prop_map(
            |(restarting, notification, restart_time, families)| GracefulRestart {
                restarting,
                notification,
                restart_time,
                families,
            },
        );
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        prop::collection::vec((any::<u16>(), any::<u16>(), any::<u16>()), 1..5).prop_map(|v| {
            Capability::ExtendedNextHop(
                v.into_iter()
                    .map(|(afi, safi, next_hop_afi)| ExtendedNextHop {
                        afi,
                        safi,
                        next_hop_afi,
                    })
                    .collect(),
            )
        }),
        gr.prop_map(Capability::GracefulRestart),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..20))
            .prop_filter("unknown code", |(c, _)| ![1, 2, 5, 6, 64, 65].contains(c))
            .prop_map(|(code, data)| Capability::Unknown { code, data }),
    ]
}

fn message(four: bool) -> impl Strategy<Value = Message> {
    let hold = prop_oneof![Just(0u16), 3u16..];
    let open = (
        any::<u16>(),
        hold,
        1u32..,
        prop::collection::vec(capability(), 0..80),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        });
    let notification = (
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(code, subcode, data)| Notification {
            code,
            subcode,
            data,
        });
    let rr = (any::<u16>(), any::<u8>(), any::<u8>())
        .prop_map(|(afi, subtype, safi)| RouteRefresh { afi, subtype, safi });
    prop_oneof![
        open.prop_map(Message::Open),
        update(four).prop_map(|u| Message::Update(Box::new(u))),
        notification.prop_map(Message::Notification),
        Just(Message::Keepalive),
        rr.prop_map(Message::RouteRefresh),
    ]
}

fn ctx_and_message() -> impl Strategy<Value = (CodecCtx, Message)> {
    (any::<bool>(), any::<bool>()).prop_flat_map(|(four, ext)| {
        let ctx = CodecCtx {
            four_octet_as: four,
            extended_message: ext,
        };
        message(four).prop_map(move |m| (ctx, m))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_encode_round_trip((ctx, msg) in ctx_and_message()) {
        // Oversized messages are refused by the encoder; everything else must round-trip.
        let Ok(bytes) = msg.encode(&ctx) else { return Ok(()) };
        let (decoded, used) = message::decode(&bytes, &ctx)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?
            .ok_or_else(|| TestCaseError::fail("incomplete"))?;
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(decoded, msg);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..600), ty in 0u8..7, four: bool) {
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        bytes.push(ty);
        bytes.extend_from_slice(&body);
        let ctx = CodecCtx { four_octet_as: four, extended_message: false };
        let _ = message::decode(&bytes, &ctx);
    }

    #[test]
    fn mutated_messages_never_panic((ctx, msg) in ctx_and_message(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let Ok(mut bytes) = msg.encode(&ctx) else { return Ok(()) };
        for (at, v) in flips {
            let i = 18 + at % (bytes.len() - 18);
            bytes[i] = v;
        }
        if let Ok(Some((m, _))) = message::decode(&bytes, &ctx) {
            // Whatever decodes must encode again.
            let ext = CodecCtx { extended_message: true, ..ctx };
            let again = m.encode(&ext);
            prop_assert!(again.is_ok(), "{:?}", again);
        }
    }
}

fn table_strategy() -> impl Strategy<Value = BTreeMap<IpNet, RouteAttrs>> {
    let attrs = (0u32..4, proptest::option::of(0u32..3)).prop_map(|(c, med)| RouteAttrs {
        communities: (0..c).collect(),
        med,
        ..RouteAttrs::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    });
    let net = prop_oneof![
        (0u32..3000).prop_map(|i| IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 32)),
        (0u32..3000).prop_map(|i| IpNet::new(
            IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i))),
            128
        )),
    ]
    .prop_map(|n| n.expect("len"));
    prop::collection::btree_map(net, attrs, 0..1500).prop_map(|mut t| {
        for (p, a) in t.iter_mut() {
            if matches!(p, IpNet::V6(_)) {
                a.next_hop = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
            }
        }
        t
    })
}

/// Apply UPDATEs (through the wire) to a model of the peer's Adj-RIB-In (prefix → MED).
fn apply(
    peer: &mut BTreeMap<IpNet, Option<u32>>,
    updates: &[Update],
    ctx: &CodecCtx,
) -> Result<(), TestCaseError> {
    for u in updates {
        let bytes = Message::Update(Box::new(u.clone()))
            .encode(ctx)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(bytes.len() <= 4096);
        let Ok(Some((Message::Update(d), _))) = message::decode(&bytes, ctx) else {
            return Err(TestCaseError::fail("decode"));
        };
        let withdrawn = d
            .withdrawn
            .iter()
            .map(|n| IpNet::V4(*n))
            .chain(d.attrs.mp_unreach.iter().flat_map(|m| m.withdrawn.clone()));
        for p in withdrawn {
            peer.remove(&p);
        }
        let announced = d
            .nlri
            .iter()
            .map(|n| IpNet::V4(*n))
            .chain(d.attrs.mp_reach.iter().flat_map(|m| m.nlri.clone()));
        for p in announced {
            peer.insert(p, d.attrs.med);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn adj_rib_out_converges_the_peer_to_the_desired_table(a in table_strategy(), b in table_strategy()) {
        let ctx = CodecCtx { four_octet_as: true, extended_message: false };
        let packer = Packer { ctx, local_asn: 64512, ibgp: false, ipv4_over_ipv6_next_hop: false };
        let mut rib = AdjRibOut::new(packer, Family::ALL);
        let (a, b) = (share(a), share(b));
        let mut peer = BTreeMap::new();
        let first = rib.initial(&a);
        prop_assert!(first.rejected.is_empty());
        apply(&mut peer, &first.updates, &ctx)?;
        let want = |t: &RouteTable| t.iter().map(|(p, r)| (*p, r.med)).collect::<BTreeMap<_, _>>();
        prop_assert_eq!(&peer, &want(&a));
        let second = rib.update(&b);
        apply(&mut peer, &second.updates, &ctx)?;
        prop_assert_eq!(&peer, &want(&b));
        prop_assert!(rib.update(&b).updates.is_empty());
    }
}
