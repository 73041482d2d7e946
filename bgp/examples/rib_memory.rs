//! Measures the heap one session's route tables take: 2,000 prefixes (1,000 IPv4 /32 +
//! 1,000 IPv6 /128, two distinct community values), the desired table (equal attributes
//! shared, `pack::share`) and the Adj-RIB-Out after the
//! initial packing. dhat's allocator reports live bytes; the figures feed
//! BENCHMARKS.md ("Speaker BGP memory").
//!
//! Run: `cargo run --release -p ferrolb-bgp --example rib_memory`

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_bgp::pack::{AdjRibOut, Packer, RouteAttrs, RouteTable, share};
use ferrolb_bgp::{CodecCtx, Family};
use ipnet::IpNet;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Live heap bytes.
fn live() -> isize {
    dhat::HeapStats::get().curr_bytes as isize
}

fn table(n: u32) -> RouteTable {
    let mut t = BTreeMap::new();
    let v4 = RouteAttrs::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let v6 = RouteAttrs::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    for i in 0..n {
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

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let n = 1000;
    let prefixes = 2 * n as isize;
    println!(
        "size_of RouteAttrs {} B, IpNet {} B",
        std::mem::size_of::<RouteAttrs>(),
        std::mem::size_of::<IpNet>()
    );
    let base = live();
    let desired = table(n);
    let t = live() - base;
    println!("desired table: {t} B = {} B per prefix", t / prefixes);
    let packer = Packer {
        ctx: CodecCtx {
            four_octet_as: true,
            extended_message: false,
        },
        local_asn: 64512,
        ibgp: false,
        ipv4_over_ipv6_next_hop: false,
    };
    let before = live();
    let mut rib = AdjRibOut::new(packer, Family::ALL);
    let packed = rib.initial(&desired);
    let with_updates = live() - before;
    let updates = packed.updates.len();
    drop(packed);
    let r = live() - before;
    println!(
        "Adj-RIB-Out after the initial packing: {r} B = {} B per prefix (+{} B of {updates} UPDATEs while sending)",
        r / prefixes,
        with_updates - r
    );
    println!(
        "one session (desired + sent): {} B per prefix",
        (t + r) / prefixes
    );
}
