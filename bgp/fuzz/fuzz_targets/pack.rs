//! Arbitrary desired tables (two in a row) through the Adj-RIB-Out: every UPDATE encodes
//! within the maximum size and decodes again; the second diff of an unchanged table is empty.
#![no_main]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_bgp::message::{self, Message};
use ferrolb_bgp::pack::{AdjRibOut, Packer, RouteAttrs, RouteTable, share};
use ferrolb_bgp::{CodecCtx, Family};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

fn table(data: &[u8]) -> RouteTable {
    let mut t = BTreeMap::new();
    for c in data.chunks_exact(7) {
        let len = c[0];
        let addr = u32::from_be_bytes([c[1], c[2], c[3], c[4]]);
        let mut a = RouteAttrs::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        a.communities = (0..u32::from(c[5] % 8)).collect();
        a.med = (c[6] & 1 == 1).then_some(u32::from(c[6]));
        let net = if len & 0x80 == 0 {
            if c[6] & 2 == 2 {
                a.next_hop = IpAddr::V6(Ipv6Addr::LOCALHOST); // RFC 8950 when negotiated
            }
            IpNet::new(IpAddr::V4(Ipv4Addr::from(addr)), len % 33)
        } else {
            a.next_hop = IpAddr::V6(Ipv6Addr::LOCALHOST);
            let v6 = Ipv6Addr::from(u128::from(addr) << 96 | u128::from(c[5]));
            IpNet::new(IpAddr::V6(v6), (len & 0x7f) % 129)
        };
        if let Ok(n) = net {
            t.insert(n.trunc(), a);
        }
    }
    share(t)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let ctx = CodecCtx {
        four_octet_as: flags & 1 == 1,
        extended_message: flags & 2 == 2,
    };
    let packer = Packer {
        ctx,
        local_asn: 4_200_000_000,
        ibgp: flags & 4 == 4,
        ipv4_over_ipv6_next_hop: flags & 8 == 8,
    };
    let (a, b) = rest.split_at(rest.len() / 2);
    let mut rib = AdjRibOut::new(packer, Family::ALL);
    for (i, t) in [table(a), table(b)].iter().enumerate() {
        let packed = if i == 0 {
            rib.initial(t)
        } else {
            rib.update(t)
        };
        for u in packed.updates {
            let bytes = Message::Update(Box::new(u))
                .encode(&ctx)
                .expect("within the maximum");
            assert!(bytes.len() <= ctx.max_update_len());
            assert!(matches!(message::decode(&bytes, &ctx), Ok(Some(_))));
        }
        assert!(rib.update(t).updates.is_empty());
    }
});
