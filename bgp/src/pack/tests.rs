//! Packing bounds (every UPDATE within the maximum, fewest messages, nothing lost or
//! duplicated) and Adj-RIB-Out diffs.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::*;
use crate::message::{self, Message};

const CTX: CodecCtx = CodecCtx {
    four_octet_as: true,
    extended_message: false,
};
const EBGP: Packer = Packer {
    ctx: CTX,
    local_asn: 64512,
    ibgp: false,
    ipv4_over_ipv6_next_hop: false,
};
const NH4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const NH6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

fn v4(i: u32) -> IpNet {
    IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 32).expect("net")
}

fn v6(i: u32) -> IpNet {
    let a = Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i));
    IpNet::new(IpAddr::V6(a), 128).expect("net")
}

fn encoded(u: &Update, ctx: &CodecCtx) -> Vec<u8> {
    Message::Update(Box::new(u.clone()))
        .encode(ctx)
        .expect("encodes within the maximum")
}

/// Announced and withdrawn prefixes of a batch, after a wire round trip.
fn wire_prefixes(updates: &[Update], ctx: &CodecCtx) -> (Vec<IpNet>, Vec<IpNet>) {
    let (mut ann, mut wd) = (Vec::new(), Vec::new());
    for u in updates {
        let bytes = encoded(u, ctx);
        assert!(bytes.len() <= ctx.max_update_len(), "{} bytes", bytes.len());
        let Ok(Some((Message::Update(d), _))) = message::decode(&bytes, ctx) else {
            panic!("decodes")
        };
        ann.extend(d.nlri.iter().map(|n| IpNet::V4(*n)));
        ann.extend(d.attrs.mp_reach.iter().flat_map(|m| m.nlri.clone()));
        wd.extend(d.withdrawn.iter().map(|n| IpNet::V4(*n)));
        wd.extend(d.attrs.mp_unreach.iter().flat_map(|m| m.withdrawn.clone()));
    }
    (ann, wd)
}

/// The fewest messages: total prefix bytes over the room one message leaves for them.
fn fewest(prefixes: &[IpNet], empty_len: usize, max: usize) -> usize {
    let total: usize = prefixes.iter().map(prefix_wire_len).sum();
    total.div_ceil(max - empty_len)
}

fn empty_announce_len(family: Family, attrs: &RouteAttrs, packer: &Packer) -> usize {
    let u = Update {
        attrs: packer.wire_attrs(family, attrs),
        ..Update::default()
    };
    encoded(&u, &packer.ctx).len()
}

#[test]
fn thousand_ipv4_prefixes_pack_into_fewest_4096_byte_updates() {
    let attrs = RouteAttrs::new(NH4);
    let nets: Vec<IpNet> = (0..1000).map(v4).collect();
    let packed = EBGP.announce(nets.iter().map(|p| (*p, &attrs)));
    assert!(packed.rejected.is_empty());
    let (ann, wd) = wire_prefixes(&packed.updates, &CTX);
    assert_eq!(ann, nets);
    assert!(wd.is_empty());
    let want = fewest(
        &nets,
        empty_announce_len(Family::Ipv4Unicast, &attrs, &EBGP),
        4096,
    );
    assert_eq!(packed.updates.len(), want);
    assert!(want < 3, "~800 /32 per 4 KB");
}

#[test]
fn thousand_ipv6_prefixes_pack_in_mp_reach() {
    let attrs = RouteAttrs::new(NH6);
    let nets: Vec<IpNet> = (0..1000).map(v6).collect();
    let packed = EBGP.announce(nets.iter().map(|p| (*p, &attrs)));
    let (ann, _) = wire_prefixes(&packed.updates, &CTX);
    assert_eq!(ann, nets);
    let want = fewest(
        &nets,
        empty_announce_len(Family::Ipv6Unicast, &attrs, &EBGP),
        4096,
    );
    assert_eq!(packed.updates.len(), want);
}

#[test]
fn groups_by_attributes_and_fills_4096_even_with_extended_messages() {
    let a = RouteAttrs::new(NH4);
    let b = RouteAttrs {
        communities: vec![1, 2, 3],
        ..RouteAttrs::new(NH4)
    };
    let nets: Vec<IpNet> = (0..2000).map(v4).collect();
    let routes = || {
        nets.iter()
            .enumerate()
            .map(|(i, p)| (*p, if i % 2 == 0 { &a } else { &b }))
    };
    let packed = EBGP.announce(routes());
    for u in &packed.updates {
        let one_group = u.attrs == EBGP.wire_attrs(Family::Ipv4Unicast, &a)
            || u.attrs == EBGP.wire_attrs(Family::Ipv4Unicast, &b);
        assert!(one_group);
    }
    let (mut ann, _) = wire_prefixes(&packed.updates, &CTX);
    ann.sort();
    assert_eq!(ann, nets);
    let ext = Packer {
        ctx: CodecCtx {
            extended_message: true,
            ..CTX
        },
        ..EBGP
    };
    let classic = packed.updates.len();
    let packed = ext.announce(routes());
    assert_eq!(
        packed.updates.len(),
        classic,
        "RFC 8654 negotiated: still filled to 4,096 octets"
    );
    for u in &packed.updates {
        assert!(encoded(u, &ext.ctx).len() <= 4096);
    }
    let (mut ann, _) = wire_prefixes(&packed.updates, &ext.ctx);
    ann.sort();
    assert_eq!(ann, nets);
}

#[test]
fn withdrawals_split_at_4096_bytes() {
    let nets: Vec<IpNet> = (0..1000).map(v4).chain((0..1000).map(v6)).collect();
    let ext = Packer {
        ctx: CodecCtx {
            extended_message: true,
            ..CTX
        },
        ..EBGP
    };
    assert_eq!(
        ext.withdraw(nets.clone()),
        EBGP.withdraw(nets.clone()),
        "the same split with RFC 8654 negotiated"
    );
    let updates = EBGP.withdraw(nets.clone());
    let (ann, wd) = wire_prefixes(&updates, &CTX);
    assert!(ann.is_empty());
    assert_eq!(wd, nets);
    let empty_v4 = encoded(&Update::default(), &CTX).len();
    let empty_v6 = encoded(&Update::end_of_rib(Family::Ipv6Unicast), &CTX).len();
    let want = fewest(&nets[..1000], empty_v4, 4096) + fewest(&nets[1000..], empty_v6, 4096);
    assert_eq!(updates.len(), want);
}

#[test]
fn ebgp_prepends_local_as_and_ibgp_sends_local_pref() {
    let attrs = RouteAttrs {
        as_path: vec![65001],
        local_pref: Some(200),
        ..RouteAttrs::new(NH4)
    };
    let e = EBGP.wire_attrs(Family::Ipv4Unicast, &attrs);
    assert_eq!(e.as_path.expect("as path")[0].asns, vec![64512, 65001]);
    assert_eq!(e.local_pref, None);
    assert_eq!(e.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)));
    let ibgp = Packer { ibgp: true, ..EBGP };
    let i = ibgp.wire_attrs(Family::Ipv4Unicast, &attrs);
    assert_eq!(i.as_path.expect("as path")[0].asns, vec![65001]);
    assert_eq!(i.local_pref, Some(200));
    let unset = ibgp.wire_attrs(Family::Ipv4Unicast, &RouteAttrs::new(NH4));
    assert_eq!(unset.local_pref, Some(DEFAULT_LOCAL_PREF));
    assert_eq!(unset.as_path, Some(vec![]));
}

#[test]
fn mismatched_next_hop_and_oversized_attributes_are_rejected() {
    let wrong = RouteAttrs::new(NH6);
    let huge = RouteAttrs {
        communities: (0..1100).collect(),
        ..RouteAttrs::new(NH4)
    };
    let ok = RouteAttrs::new(NH4);
    let multicast: IpNet = "224.0.0.0/24".parse().expect("net");
    let multicast6: IpNet = "ff02::/16".parse().expect("net");
    let r6 = RouteAttrs::new(NH6);
    let packed = EBGP.announce([
        (v4(1), &wrong),
        (v4(2), &huge),
        (multicast, &ok),
        (multicast6, &r6),
    ]);
    assert!(packed.updates.is_empty());
    let mut rejected = packed.rejected;
    rejected.sort();
    assert_eq!(rejected, vec![v4(1), v4(2), multicast, multicast6]);
    let ext = Packer {
        ctx: CodecCtx {
            extended_message: true,
            ..CTX
        },
        ..EBGP
    };
    let packed = ext.announce([(v4(2), &huge)]);
    assert_eq!(packed.updates.len(), 1, "fits with RFC 8654");
    // header+lengths, ORIGIN, AS_PATH, NEXT_HOP, COMMUNITIES (extended length), one /32

    assert_eq!(
        encoded(&packed.updates[0], &ext.ctx).len(),
        19 + 4 + 4 + 9 + 7 + (4 + 4400) + 5
    );
}

#[test]
fn rfc_8950_sends_ipv4_prefixes_with_an_ipv6_next_hop() {
    let attrs = RouteAttrs::new(NH6);
    assert_eq!(EBGP.announce([(v4(1), &attrs)]).rejected, vec![v4(1)]);
    let p = Packer {
        ipv4_over_ipv6_next_hop: true,
        ..EBGP
    };
    let packed = p.announce((0..1000).map(|i| (v4(i), &attrs)));
    assert!(packed.rejected.is_empty());
    let (ann, _) = wire_prefixes(&packed.updates, &CTX);
    assert_eq!(ann.len(), 1000);
    let mp = packed.updates[0]
        .attrs
        .mp_reach
        .as_ref()
        .expect("MP_REACH_NLRI");
    assert_eq!(mp.family, Family::Ipv4Unicast);
    assert!(packed.updates[0].nlri.is_empty() && packed.updates[0].attrs.next_hop.is_none());
    let empty = empty_announce_len(Family::Ipv4Unicast, &attrs, &p);
    let nets: Vec<IpNet> = (0..1000).map(v4).collect();
    assert_eq!(packed.updates.len(), fewest(&nets, empty, 4096));
}

fn table(range: std::ops::Range<u32>, attrs: &RouteAttrs) -> RouteTable {
    share(range.flat_map(|i| {
        [
            (v4(i), attrs.clone()),
            (
                v6(i),
                RouteAttrs {
                    next_hop: NH6,
                    ..attrs.clone()
                },
            ),
        ]
    }))
}

#[test]
fn adj_rib_out_initial_table_ends_with_end_of_rib_per_family() {
    let mut rib = AdjRibOut::new(EBGP, Family::ALL);
    let desired = table(0..10, &RouteAttrs::new(NH4));
    let packed = rib.initial(&desired);
    let eors: Vec<Family> = packed
        .updates
        .iter()
        .filter_map(|u| u.end_of_rib_family())
        .collect();
    assert_eq!(eors, Family::ALL.to_vec());
    let n = packed.updates.len();
    assert!(
        packed.updates[..n - 2]
            .iter()
            .all(|u| u.end_of_rib_family().is_none())
    );
    assert_eq!(rib.sent(), &desired);
    assert!(
        rib.update(&desired).updates.is_empty(),
        "no change, no UPDATE"
    );
}

#[test]
fn adj_rib_out_sends_only_the_difference() {
    let base = RouteAttrs::new(NH4);
    let mut rib = AdjRibOut::new(EBGP, Family::ALL);
    rib.initial(&table(0..100, &base));
    let mut desired = table(0..100, &base);
    desired.remove(&v4(5));
    desired.remove(&v6(6));
    desired.insert(
        v4(7),
        Arc::new(RouteAttrs {
            med: Some(5),
            ..base.clone()
        }),
    );
    desired.insert(v4(500), Arc::new(base.clone()));
    let packed = rib.update(&desired);
    let (ann, wd) = wire_prefixes(&packed.updates, &CTX);
    assert_eq!(
        wd.into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([v4(5), v6(6)])
    );
    assert_eq!(
        ann.into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([v4(7), v4(500)])
    );
    assert_eq!(
        packed.updates.len(),
        4,
        "v4 withdraw, v6 withdraw, two attribute sets"
    );
    assert_eq!(rib.sent(), &desired);
}

#[test]
fn adj_rib_out_skips_unnegotiated_families_and_refreshes_one_family() {
    let mut rib = AdjRibOut::new(EBGP, [Family::Ipv4Unicast]);
    let desired = table(0..50, &RouteAttrs::new(NH4));
    let packed = rib.initial(&desired);
    let (ann, _) = wire_prefixes(&packed.updates, &CTX);
    assert!(ann.iter().all(|p| matches!(p, IpNet::V4(_))));
    assert_eq!(ann.len(), 50);
    assert_eq!(rib.sent().len(), 50);
    let refreshed = rib.refresh(Family::Ipv4Unicast);
    assert_eq!(
        wire_prefixes(&refreshed, &CTX).0,
        ann,
        "full re-send (RFC 2918)"
    );
    assert!(rib.refresh(Family::Ipv6Unicast).is_empty());
}

#[test]
fn adj_rib_out_withdraws_a_sent_prefix_that_becomes_unsendable() {
    let mut rib = AdjRibOut::new(EBGP, Family::ALL);
    rib.initial(&share([(v4(1), RouteAttrs::new(NH4))]));
    let packed = rib.update(&share([(v4(1), RouteAttrs::new(NH6))]));
    assert_eq!(packed.rejected, vec![v4(1)]);
    assert_eq!(wire_prefixes(&packed.updates, &CTX).1, vec![v4(1)]);
    assert!(rib.sent().is_empty());
}

#[test]
fn equal_attributes_share_one_allocation_through_the_adj_rib_out() {
    let attrs = RouteAttrs {
        communities: vec![64512 << 16 | 1],
        ..RouteAttrs::new(NH4)
    };
    let desired = share((0..1000).map(|i| (v4(i), attrs.clone())));
    let one = Arc::clone(&desired[&v4(0)]);
    assert!(desired.values().all(|a| Arc::ptr_eq(a, &one)));
    assert_eq!(
        Arc::strong_count(&one),
        1001,
        "1,000 prefixes, one attribute set"
    );

    let mut rib = AdjRibOut::new(EBGP, Family::ALL);
    rib.initial(&desired);
    assert!(rib.sent().values().all(|a| Arc::ptr_eq(a, &one)));
    assert_eq!(
        Arc::strong_count(&one),
        2001,
        "the Adj-RIB-Out holds no copies"
    );

    // A rebuilt, equal table: nothing sent, and the Adj-RIB-Out moves to its allocation.
    let rebuilt = share((0..1000).map(|i| (v4(i), attrs.clone())));
    assert!(rib.update(&rebuilt).updates.is_empty());
    assert_eq!(Arc::strong_count(&rebuilt[&v4(0)]), 2000);
    drop(desired);
    assert_eq!(Arc::strong_count(&one), 1, "the old attribute set is freed");
}
