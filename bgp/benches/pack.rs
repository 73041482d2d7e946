//! Benchmark: the initial Adj-RIB-Out table of 2,000 prefixes (1,000 IPv4 /32 + 1,000 IPv6
//! /128 in 4 attribute groups) packed and encoded into UPDATEs, and a 10 % churn diff.
//!
//! Run: `cargo bench -p ferrolb-bgp --bench pack`

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ferrolb_bgp::message::Message;
use ferrolb_bgp::pack::{AdjRibOut, Packer};
use ferrolb_bgp::{CodecCtx, Family};
use ipnet::IpNet;

#[path = "support/table.rs"]
mod support;
use support::table;

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
