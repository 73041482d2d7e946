//! Fuzz-style property tests: every parser must return a typed error (never panic) on random
//! and mutated input, and encode→parse must round-trip.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferrolb_l2::packet::{
    MacAddr,
    arp::{self, ArpFrame, ArpOp},
    ndp::{self, NdpMessage, NeighborAdvertisement, NeighborSolicitation},
};
use proptest::prelude::*;

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn unicast_v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>()
        .prop_map(Ipv6Addr::from)
        .prop_filter("not multicast", |a| !a.is_multicast())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ArpFrame::parse(&bytes);
        let _ = ndp::parse(&bytes);
        let _ = ferrolb_l2::packet::parse_ethernet(&bytes);
    }

    #[test]
    fn random_bytes_with_valid_headers_never_panic(
        ethertype in prop_oneof![Just(0x0806u16), Just(0x86ddu16)],
        ip_head in any::<[u8; 8]>(),
        tail in proptest::collection::vec(any::<u8>(), 0..150),
        icmp_type in prop_oneof![Just(135u8), Just(136u8), any::<u8>()],
    ) {
        // Plausible headers so the parsers get past the first checks and into options.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(&[0x60, ip_head[1], ip_head[2], ip_head[3], ip_head[4], ip_head[5], 58, 255]);
        f.extend_from_slice(&[0u8; 32]);
        f.push(icmp_type);
        f.extend_from_slice(&tail);
        let _ = ArpFrame::parse(&f);
        let _ = ndp::parse(&f);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        pos in any::<prop::sample::Index>(),
        val in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let ns = NeighborSolicitation::resolve(MacAddr([2, 0, 0, 0, 0, 2]), Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        let mut f = ns.encode();
        let i = pos.index(f.len());
        f[i] = val;
        let f = &f[..cut.index(f.len() + 1)];
        let _ = ndp::parse(f);
        let _ = ArpFrame::parse(f);
    }

    #[test]
    fn arp_roundtrip(dst in mac(), src in mac(), req in any::<bool>(), sm in mac(), tm in mac(), si in any::<u32>(), ti in any::<u32>()) {
        let f = ArpFrame {
            eth_dst: dst,
            eth_src: src,
            op: if req { ArpOp::Request } else { ArpOp::Reply },
            sender_mac: sm,
            sender_ip: Ipv4Addr::from(si),
            target_mac: tm,
            target_ip: Ipv4Addr::from(ti),
        };
        prop_assert_eq!(ArpFrame::parse(&f.encode()), Ok(f));
        if let Ok(reply) = arp::respond(&ArpFrame { op: ArpOp::Request, eth_dst: MacAddr::BROADCAST, ..f }, src, |_| true) {
            prop_assert_eq!(ArpFrame::parse(&reply.encode()), Ok(reply));
        }
    }

    #[test]
    fn ns_roundtrip(m in mac(), dst_mac in mac(), src in unicast_v6(), dst in any::<u128>(), target in unicast_v6(), with_lla in any::<bool>()) {
        prop_assume!(!(src.is_unspecified() && with_lla));
        let ns = NeighborSolicitation {
            eth_dst: dst_mac,
            eth_src: m,
            src,
            dst: Ipv6Addr::from(dst),
            target,
            source_lla: with_lla.then_some(m),
        };
        prop_assert_eq!(ndp::parse(&ns.encode()), Ok(NdpMessage::Solicitation(ns)));
    }

    #[test]
    fn na_roundtrip(m in mac(), d in mac(), src in unicast_v6(), dst in any::<u128>(), target in unicast_v6(), flags in any::<[bool; 3]>(), with_lla in any::<bool>()) {
        let na = NeighborAdvertisement {
            eth_dst: d,
            eth_src: m,
            src,
            dst: Ipv6Addr::from(dst),
            router: flags[0],
            solicited: flags[1],
            override_flag: flags[2],
            target,
            target_lla: with_lla.then_some(m),
        };
        prop_assert_eq!(ndp::parse(&na.encode()), Ok(NdpMessage::Advertisement(na)));
    }
}
