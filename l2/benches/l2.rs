//! Benchmarks: election for 1,000 services × 100 nodes, and packet parsing.
//!
//! Run: `cargo bench -p ferrolb-l2 --bench l2`

#![allow(missing_docs)]

use std::{
    hint::black_box,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use ferrolb_l2::{
    LivenessConfig, Membership,
    election::{NodeCandidate, TrafficPolicy, elect},
    owner::{GarpSchedule, Interfaces, OwnerTable},
    packet::{
        MacAddr,
        arp::{self, ArpFrame},
        ndp::{self, NeighborSolicitation},
    },
};

fn election(c: &mut Criterion) {
    let names: Vec<String> = (0..100)
        .map(|i| format!("worker-{i:03}.cluster.example"))
        .collect();
    let nodes: Vec<NodeCandidate<'_>> = names.iter().map(|n| NodeCandidate::eligible(n)).collect();
    let ips: Vec<IpAddr> = (0..1000u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0xC000_0200 + i)))
        .collect();
    c.bench_function("elect 1000 services x 100 nodes", |b| {
        b.iter(|| {
            for ip in &ips {
                black_box(elect(*ip, TrafficPolicy::Cluster, nodes.iter().copied()));
            }
        })
    });
    let v6: Vec<IpAddr> = (0..1000u128)
        .map(|i| {
            IpAddr::V6(Ipv6Addr::from(
                0x2001_0db8_0000_0000_0000_0000_0000_0000 + i,
            ))
        })
        .collect();
    c.bench_function("elect 1000 v6 services x 100 nodes", |b| {
        b.iter(|| {
            for ip in &v6 {
                black_box(elect(*ip, TrafficPolicy::Cluster, nodes.iter().copied()));
            }
        })
    });
}

fn packets(c: &mut Criterion) {
    let m = MacAddr([2, 0, 0, 0, 0, 2]);
    let arp_req = ArpFrame::request(
        m,
        Ipv4Addr::new(192, 0, 2, 2),
        Ipv4Addr::new(192, 0, 2, 100),
    )
    .encode();
    let ns = NeighborSolicitation::resolve(
        m,
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100),
    )
    .encode();
    let ours = MacAddr([2, 0, 0, 0, 0, 1]);
    c.bench_function("arp parse+respond+encode", |b| {
        b.iter(|| {
            let f = ArpFrame::parse(black_box(&arp_req)).ok();
            f.and_then(|f| arp::respond(&f, ours, |_| true).ok())
                .map(|r| r.encode())
        })
    });
    c.bench_function("ndp ns parse (checksum verify)", |b| {
        b.iter(|| ndp::parse(black_box(&ns)))
    });
}

fn liveness(c: &mut Criterion) {
    let t0 = Instant::now();
    let secret = b"0123456789abcdef0123456789abcdef";
    let mut rx = Membership::new("receiver", 1, secret, LivenessConfig::default(), t0).ok();
    let mut tx = Membership::new(
        "worker-042.cluster.example",
        1,
        secret,
        LivenessConfig::default(),
        t0,
    )
    .ok();
    let (Some(rx), Some(tx)) = (rx.as_mut(), tx.as_mut()) else {
        return;
    };
    // Pre-generate datagrams with increasing sequence numbers (each is accepted once).
    let datagrams: Vec<Vec<u8>> = (0..200_000u64)
        .filter_map(|i| tx.poll_transmit(t0 + Duration::from_millis(100 * i), 0))
        .collect();
    let mut it = datagrams.iter().cycle();
    c.bench_function("heartbeat verify+apply (HMAC-SHA256)", |b| {
        b.iter(|| {
            let d = it.next().map(Vec::as_slice).unwrap_or_default();
            black_box(rx.handle_datagram(d, t0, 0).is_ok())
        })
    });
    let mut sender = Membership::new(
        "worker-042.cluster.example",
        2,
        secret,
        LivenessConfig::default(),
        t0,
    )
    .ok();
    let Some(sender) = sender.as_mut() else {
        return;
    };
    let mut i = 0u64;
    c.bench_function("heartbeat encode+sign", |b| {
        b.iter(|| {
            i += 1;
            let d = sender.poll_transmit(t0 + Duration::from_millis(100 * i), 0);
            assert!(d.is_some());
            black_box(d)
        })
    });
}

fn owner(c: &mut Criterion) {
    let t0 = Instant::now();
    let desired: Vec<(IpAddr, Interfaces)> = (0..1000u32)
        .map(|i| (IpAddr::V4(Ipv4Addr::from(0xC000_0200 + i)), Interfaces::All))
        .collect();
    let mut table = OwnerTable::new(GarpSchedule::default());
    table.reconcile(desired.iter().cloned(), t0);
    c.bench_function("owner reconcile 1000 IPs (no change)", |b| {
        b.iter(|| black_box(table.reconcile(desired.iter().cloned(), t0).len()))
    });
}

criterion_group!(benches, election, packets, liveness, owner);
criterion_main!(benches);
