//! Memory of the allocator holding N Services (default 100,000): resident set size before and
//! after, read from `/proc/self/status`.
//!
//! Run: `cargo run --release -p ferrolb-core --example memory -- 100000`.

use ferrolb_core::{Allocator, IpFamily, IpFamilyPolicy, PoolSet, PoolSpec, ServiceRequest};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let reqs: Vec<ServiceRequest> = (0..n)
        .map(|i| {
            ServiceRequest::new("bench", &format!("svc-{i}"))
                .families(&[IpFamily::V4], IpFamilyPolicy::SingleStack)
        })
        .collect();
    let before = rss_kib();
    let mut a = Allocator::new(PoolSet::parse(&[PoolSpec::new("p", ["10.0.0.0/12"])])?);
    let start = std::time::Instant::now();
    for r in &reqs {
        a.assign(r, &[])?;
    }
    let took = start.elapsed();
    let after = rss_kib();
    println!(
        "{n} Services allocated in {:.1} ms ({:.2} µs each); allocator RSS +{} KiB ({:.0} bytes per Service)",
        took.as_secs_f64() * 1e3,
        took.as_secs_f64() * 1e6 / n as f64,
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 * 1024.0 / n as f64
    );
    Ok(())
}
