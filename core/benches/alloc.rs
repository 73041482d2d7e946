//! Allocator benchmarks: 10,000 Services in an IPv4 /16 and in an IPv6 /64, one allocation
//! in a nearly full (and a full) /16, and 100,000 Services allocated and released.
//!
//! Run: `cargo bench -p ferrolb-core --bench alloc`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ferrolb_core::{Allocator, IpFamily, IpFamilyPolicy, PoolSet, PoolSpec, ServiceRequest};

fn pools(addresses: &str, avoid_buggy: bool) -> PoolSet {
    PoolSet::parse(&[PoolSpec::new("p", [addresses]).avoid_buggy_ips(avoid_buggy)])
        .expect("valid pool")
}

fn services(n: usize, family: IpFamily) -> Vec<ServiceRequest> {
    (0..n)
        .map(|i| {
            ServiceRequest::new("bench", &format!("svc-{i}"))
                .families(&[family], IpFamilyPolicy::SingleStack)
        })
        .collect()
}

fn allocate_10k(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocate_10k");
    g.sample_size(20);
    for (name, addresses, family) in [
        ("ipv4_slash16", "10.0.0.0/16", IpFamily::V4),
        ("ipv6_slash64", "fd00:1:2:3::/64", IpFamily::V6),
    ] {
        let set = pools(addresses, false);
        let reqs = services(10_000, family);
        g.bench_function(name, |b| {
            b.iter_batched(
                || Allocator::new(set.clone()),
                |mut a| {
                    for r in &reqs {
                        black_box(a.assign(r, &[]).expect("free address"));
                    }
                    a
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

/// A /16 with every address but the last one in use; measures one assign (+ its release,
/// to restore the state for the next iteration).
fn nearly_full(c: &mut Criterion) {
    let mut g = c.benchmark_group("single_allocation");
    for (name, avoid_buggy, used) in [
        ("nearly_full_slash16", false, 65_535usize),
        ("nearly_full_slash16_avoid_buggy", true, 256 * 254 - 1),
    ] {
        let mut a = Allocator::new(pools("10.0.0.0/16", avoid_buggy));
        for r in services(used, IpFamily::V4) {
            a.assign(&r, &[]).expect("prefill");
        }
        let probe = ServiceRequest::new("bench", "probe");
        g.bench_function(name, |b| {
            b.iter(|| {
                let got = a.assign(black_box(&probe), &[]).expect("last free address");
                a.release(&probe.key);
                got
            });
        });
    }
    let mut full = Allocator::new(pools("10.0.0.0/16", false));
    for r in services(65_536, IpFamily::V4) {
        full.assign(&r, &[]).expect("prefill");
    }
    let probe = ServiceRequest::new("bench", "probe");
    g.bench_function("full_slash16_failure", |b| {
        b.iter(|| {
            full.assign(black_box(&probe), &[])
                .expect_err("pool is full")
        });
    });
    g.finish();
}

/// 100,000 Services allocated then released, in an IPv4 /8-sized pool and an IPv6 /64.
fn allocate_release_100k(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocate_release_100k");
    g.sample_size(10);
    for (name, addresses, family) in [
        ("ipv4_slash12", "10.0.0.0/12", IpFamily::V4),
        ("ipv6_slash64", "fd00:1:2:3::/64", IpFamily::V6),
    ] {
        let set = pools(addresses, false);
        let reqs = services(100_000, family);
        g.bench_function(name, |b| {
            b.iter_batched(
                || Allocator::new(set.clone()),
                |mut a| {
                    for r in &reqs {
                        black_box(a.assign(r, &[]).expect("free address"));
                    }
                    for r in &reqs {
                        black_box(a.release(&r.key));
                    }
                    a
                },
                BatchSize::LargeInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, allocate_10k, nearly_full, allocate_release_100k);
criterion_main!(benches);
