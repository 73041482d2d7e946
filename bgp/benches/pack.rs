//! Benchmark: the initial Adj-RIB-Out table of 2,000 prefixes (1,000 IPv4 /32 + 1,000 IPv6
//! /128 in 4 attribute groups) packed and encoded into UPDATEs, and a 10 % churn diff.
//!
//! Run: `cargo bench -p ferrolb-bgp --bench pack`

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use ferrolb_bgp::message::Message;
use ferrolb_bgp::pack::{AdjRibOut, Packer, RouteAttrs, RouteTable, share};
use ferrolb_bgp::{CodecCtx, Family};
use ipnet::IpNet;

fn table() -> RouteTable {
    let mut t = BTreeMap::new();
    let v4 = RouteAttrs::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let v6 = RouteAttrs::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    for i in 0..1000u32 {
        let mut a4 = v4.clone();
        let mut a6 = v6.clone();
        a4.communities = vec![64512 << 16 | (i % 2)];
        a6.communities = a4.communities.clone();
        let p4 = IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 32).expect("v4");
        let p6 = IpNet::new(
            IpAddr::V6(Ipv6Addr::from(0x2001_0db8_0001_u128 << 80 | u128::from(i))),
            128,
        )
        .expect("v6");
        t.insert(p4, a4);
        t.insert(p6, a6);
    }
    share(t)
}

fn pack(c: &mut Criterion) {
    let desired = table();
    let ctx = CodecCtx {
        four_octet_as: true,
        extended_message: false,
    };
    let packer = Packer {
        ctx,
        local_asn: 64512,
        ibgp: false,
        ipv4_over_ipv6_next_hop: false,
    };
    c.bench_function("adj_rib_out_initial_2000_prefixes_encoded", |b| {
        b.iter(|| {
            let mut rib = AdjRibOut::new(packer, Family::ALL);
            let packed = rib.initial(black_box(&desired));
            let bytes: usize = packed
                .updates
                .into_iter()
                .map(|u| {
                    Message::Update(Box::new(u))
                        .encode(&ctx)
                        .map_or(0, |v| v.len())
                })
                .sum();
            black_box(bytes)
        })
    });
    let mut churned = desired.clone();
    let keys: Vec<IpNet> = churned.keys().copied().step_by(10).collect();
    for k in keys {
        churned.remove(&k);
    }
    let mut base = AdjRibOut::new(packer, Family::ALL);
    base.initial(&desired);
    c.bench_function("adj_rib_out_diff_2000_prefixes_10pct_removed", |b| {
        b.iter(|| {
            let mut rib = base.clone();
            black_box(rib.update(black_box(&churned)).updates.len())
        })
    });
}

criterion_group!(benches, pack);
criterion_main!(benches);
