//! Measures the heap one session's route tables take: 2,000 prefixes (1,000 IPv4 /32 +
//! 1,000 IPv6 /128, two distinct community values), the desired table (equal attributes
//! shared, `pack::share`) and the Adj-RIB-Out after the
//! initial packing. dhat's allocator reports live bytes; the figures feed
//! BENCHMARKS.md ("Speaker BGP memory").
//!
//! Run: `cargo run --release -p ferrolb-bgp --example rib_memory`

#![allow(missing_docs)]

use ferrolb_bgp::pack::{AdjRibOut, Packer, RouteAttrs};
use ferrolb_bgp::{CodecCtx, Family};
use ipnet::IpNet;

#[path = "../benches/support/table.rs"]
mod support;
use support::{PER_FAMILY, table};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Live heap bytes.
fn live() -> isize {
    dhat::HeapStats::get().curr_bytes as isize
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let prefixes = 2 * PER_FAMILY as isize;
    println!(
        "size_of RouteAttrs {} B, IpNet {} B",
        std::mem::size_of::<RouteAttrs>(),
        std::mem::size_of::<IpNet>()
    );
    let base = live();
    let desired = table();
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
