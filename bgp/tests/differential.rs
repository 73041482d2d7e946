//! Differential tests against an established codec, netgauze-bgp-pkt 0.13 (test-only
//! dev-dependency): everything ferrolb-bgp sends (OPENs from random session configs, packed
//! UPDATEs of random tables, withdrawals, End-of-RIB, NOTIFICATION, KEEPALIVE,
//! ROUTE-REFRESH) must parse completely in netgauze, and netgauze must serialize what it
//! parsed back to exactly our bytes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_bgp::fsm::{PeerAsn, SessionConfig};
use ferrolb_bgp::message::{Message, RouteRefresh, Update};
use ferrolb_bgp::pack::{Packer, RouteAttrs};
use ferrolb_bgp::{CodecCtx, Family, LargeCommunity, Notification};
use ipnet::IpNet;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use proptest::prelude::*;

/// Parse with netgauze, re-serialize with netgauze, compare with our bytes.
fn oracle(bytes: &[u8], four_octet_as: bool) -> Result<BgpMessage, TestCaseError> {
    let mut ctx = if four_octet_as {
        BgpParsingContext::default()
    } else {
        BgpParsingContext::asn2_default()
    };
    let mut cur = SliceReader::new(bytes);
    let parsed = BgpMessage::parse(&mut cur, &mut ctx)
        .map_err(|e| TestCaseError::fail(format!("netgauze rejects {bytes:02x?}: {e}")))?;
    prop_assert!(cur.is_empty(), "netgauze left bytes unparsed");
    let mut again = Vec::new();
    parsed
        .write(&mut again)
        .map_err(|e| TestCaseError::fail(format!("netgauze write: {e:?}")))?;
    prop_assert_eq!(
        &again[..],
        bytes,
        "netgauze re-serialization differs: {:?}",
        parsed
    );
    Ok(parsed)
}

fn config() -> impl Strategy<Value = SessionConfig> {
    let families = prop_oneof![
        Just(vec![Family::Ipv4Unicast]),
        Just(vec![Family::Ipv6Unicast]),
        Just(Family::ALL.to_vec()),
    ];
    (
        (any::<u32>(), any::<bool>()),
        0u64..=600,
        // netgauze insists on a unicast BGP identifier (RFC 4271); RFC 6286 allows any
        // non-zero value, and so does ferrolb-bgp.
        0x0100_0000u32..0xe000_0000,
        families,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |((asn, extended_next_hop), hold, id, families, graceful_restart, extended_message)| {
                SessionConfig {
                    extended_next_hop,
                    hold_time: std::time::Duration::from_secs(if hold < 3 { 0 } else { hold }),
                    families,
                    graceful_restart,
                    extended_message,
                    ..SessionConfig::new(asn, PeerAsn::External, Ipv4Addr::from(id))
                }
            },
        )
}

fn table() -> impl Strategy<Value = BTreeMap<IpNet, RouteAttrs>> {
    let attrs = (
        proptest::option::of(any::<u32>()),
        prop::collection::vec(any::<u32>(), 0..100),
        prop::collection::vec((any::<u32>(), any::<u32>(), any::<u32>()), 0..5),
        prop::collection::vec(1u32.., 0..4),
    )
        .prop_map(|(local_pref, communities, large, as_path)| RouteAttrs {
            local_pref,
            communities,
            large_communities: large
                .into_iter()
                .map(|(global, local1, local2)| LargeCommunity {
                    global,
                    local1,
                    local2,
                })
                .collect(),
            as_path,
            med: local_pref.filter(|l| l % 3 == 0),
            ..RouteAttrs::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
        });
    let net = prop_oneof![
        // netgauze also rejects a prefix whose last host is multicast/broadcast (so 0/0).
        (0x0100_0000u32..0xdf00_0000, 8u8..=32)
            .prop_map(|(a, l)| IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), l)),
        (any::<u128>(), 16u8..=128).prop_map(|(a, l)| IpNet::new(IpAddr::V6(Ipv6Addr::from(a)), l)),
    ]
    .prop_map(|n| n.expect("len").trunc());
    prop::collection::btree_map(net, attrs, 1..400).prop_map(|mut t| {
        for (p, a) in t.iter_mut() {
            // IPv6 next hops for IPv6 prefixes and, RFC 8950, for IPv4 ones with a MED.
            if matches!(p, IpNet::V6(_)) || a.med.is_some() {
                a.next_hop = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
            }
        }
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn our_opens_match_netgauze(cfg in config()) {
        let open = cfg.open();
        let bytes = Message::Open(open.clone()).encode(&CodecCtx::default()).expect("encode");
        let BgpMessage::Open(o) = oracle(&bytes, true)? else {
            return Err(TestCaseError::fail("not an OPEN"));
        };
        prop_assert_eq!(o.my_asn4(), cfg.my_asn);
        prop_assert_eq!(o.hold_time(), open.hold_time);
        prop_assert_eq!(o.bgp_id(), cfg.router_id);
    }

    #[test]
    fn our_updates_match_netgauze(t in table(), ibgp: bool, four: bool) {
        let ctx = CodecCtx { four_octet_as: four, extended_message: false };
        let packer = Packer { ctx, local_asn: 4_200_000_000, ibgp, ipv4_over_ipv6_next_hop: true };
        let packed = packer.announce(t.iter().map(|(p, a)| (*p, a)));
        let mut updates = packed.updates.clone();
        updates.extend(packer.withdraw(t.keys().copied().filter(|p| !packed.rejected.contains(p))));
        updates.extend(Family::ALL.map(Update::end_of_rib));
        let mut announced = 0;
        for u in updates {
            let bytes = Message::Update(Box::new(u)).encode(&ctx).expect("encode");
            let BgpMessage::Update(parsed) = oracle(&bytes, four)? else {
                return Err(TestCaseError::fail("not an UPDATE"));
            };
            announced += parsed.nlri().len();
            announced += parsed.path_attributes().iter().map(|a| match a.value() {
                netgauze_bgp_pkt::path_attribute::PathAttributeValue::MpReach(m) => mp_len(m),
                _ => 0,
            }).sum::<usize>();
        }
        prop_assert_eq!(announced, t.len() - packed.rejected.len());
    }

    #[test]
    fn our_small_messages_match_netgauze(which in 0usize..NOTIFICATIONS.len(), data in prop::collection::vec(any::<u8>(), 0..40), v6: bool) {
        let ctx = CodecCtx::default();
        let (code, subcode) = NOTIFICATIONS[which];
        let n = Message::Notification(Notification { code, subcode, data });
        oracle(&n.encode(&ctx).expect("encode"), true)?;
        oracle(&Message::Keepalive.encode(&ctx).expect("encode"), true)?;
        let rr = Message::RouteRefresh(RouteRefresh { afi: if v6 { 2 } else { 1 }, subtype: 0, safi: 1 });
        oracle(&rr.encode(&ctx).expect("encode"), true)?;
    }
}

/// Every NOTIFICATION code/subcode ferrolb-bgp sends (RFC 4271 §6, RFC 6608, RFC 4486,
/// RFC 7313); netgauze rejects unassigned ones.
const NOTIFICATIONS: [(u8, u8); 29] = [
    (1, 1),
    (1, 2),
    (1, 3),
    (2, 0),
    (2, 1),
    (2, 2),
    (2, 3),
    (2, 4),
    (2, 6),
    (2, 7),
    (3, 1),
    (3, 2),
    (3, 3),
    (3, 4),
    (3, 5),
    (3, 6),
    (3, 8),
    (3, 9),
    (3, 10),
    (3, 11),
    (4, 0),
    (5, 1),
    (5, 2),
    (5, 3),
    (6, 2),
    (6, 3),
    (6, 4),
    (6, 6),
    (7, 1),
];

fn mp_len(m: &netgauze_bgp_pkt::path_attribute::MpReach) -> usize {
    use netgauze_bgp_pkt::path_attribute::MpReach as M;
    match m {
        M::Ipv4Unicast { nlri, .. } => nlri.len(),
        M::Ipv6Unicast { nlri, .. } => nlri.len(),
        _ => 0,
    }
}
