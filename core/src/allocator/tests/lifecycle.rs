//! Keeping or replacing current IPs, preconditions, `set_pools`, `rebuild` and pool stats.

use super::*;

#[test]
fn cluster_ip_and_pool_preconditions() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    let none = svc("n").families(&[], IpFamilyPolicy::SingleStack);
    assert_eq!(a.assign(&none, &[]), Err(AllocError::NoClusterIps));
    let one = svc("o").families(&[IpFamily::V4], IpFamilyPolicy::RequireDualStack);
    assert_eq!(a.assign(&one, &[]), Err(AllocError::NotEnoughClusterIps));
    let mut empty = Allocator::new(PoolSet::default());
    assert_eq!(empty.assign(&svc("x"), &[]), Err(AllocError::NoPools));
}

#[test]
fn deleting_every_pool_removes_all_ips() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    new_ips(&mut a, &svc("a"));
    let invalid = a.set_pools(PoolSet::default());
    assert_eq!(invalid, vec![("default/a".to_owned(), AllocError::NoPools)]);
    assert!(a.is_empty());
    assert_eq!(
        a.assign(&svc("a"), &ips(&["10.0.0.0"])),
        Err(AllocError::NoPools)
    );
}

#[test]
fn valid_current_ip_is_kept() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    // Status says .9 (e.g. after a restart): kept although .0 is free.
    let got = a.assign(&svc("a"), &ips(&["10.0.0.9"])).unwrap();
    assert_eq!((got.ips, got.change), (ips(&["10.0.0.9"]), Change::Kept));
    // Status not yet written back: the held IP is kept (no churn, MetalLB #2723).
    let got = a.assign(&svc("a"), &[]).unwrap();
    assert_eq!((got.ips, got.change), (ips(&["10.0.0.9"]), Change::Kept));
    assert_eq!(new_ips(&mut a, &svc("b")), ips(&["10.0.0.0"]));
}

#[test]
fn invalid_current_ip_is_replaced_with_reason() {
    let mut a = alloc(vec![
        PoolSpec::new("p", ["10.0.0.0/24"]),
        PoolSpec::new("q", ["10.1.0.0/24"]),
    ]);
    let got = a.assign(&svc("a"), &ips(&["192.168.0.1"])).unwrap();
    assert_eq!(got.ips, ips(&["10.0.0.0"]));
    assert_eq!(
        got.change,
        Change::Reallocated {
            previous: ips(&["192.168.0.1"]),
            reason: AllocError::NotInAnyPool(ips(&["192.168.0.1"]))
        }
    );
    // Requested IP changed.
    let got = a
        .assign(&svc("a").requesting(&ips(&["10.0.0.5"])), &got.ips)
        .unwrap();
    assert_eq!(got.ips, ips(&["10.0.0.5"]));
    assert!(matches!(
        got.change,
        Change::Reallocated {
            reason: AllocError::RequestedIpsChanged { .. },
            ..
        }
    ));
    // Pool annotation changed.
    let got = a.assign(&svc("a").in_pool("q"), &got.ips).unwrap();
    assert_eq!(
        (got.ips.clone(), got.pool.as_str()),
        (ips(&["10.1.0.0"]), "q")
    );
    assert!(matches!(
        got.change,
        Change::Reallocated {
            reason: AllocError::PoolChanged { .. },
            ..
        }
    ));
    // Family changed (IPv4 status for a now IPv6 Service).
    let v6 = svc("a").families(&[IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert_eq!(
        a.assign(&v6, &got.ips),
        Err(AllocError::NoAvailableIps {
            tried: vec!["p".into(), "q".into()]
        })
    );
    assert_eq!(a.ips_of("default/a"), None);
    // Status IP taken by an incompatible Service.
    new_ips(&mut a, &svc("holder"));
    let got = a.assign(&svc("b"), &ips(&["10.0.0.0"])).unwrap();
    assert!(matches!(
        got.change,
        Change::Reallocated {
            reason: AllocError::IpInUse { .. },
            ..
        }
    ));
    assert_eq!(got.ips, ips(&["10.0.0.1"]));
}

#[test]
fn set_pools_moves_only_invalidated_services() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    for n in ["a", "b", "c"] {
        new_ips(&mut a, &svc(n));
    }
    // Drop 10.0.0.1 (b) from the pool; a and c keep their IPs, c re-homed to a new pool.
    let invalid = a.set_pools(set(vec![
        PoolSpec::new("p", ["10.0.0.0/32", "10.0.0.3-10.0.0.9"]),
        PoolSpec::new("p2", ["10.0.0.2/32"]),
    ]));
    assert_eq!(
        invalid,
        vec![(
            "default/b".to_owned(),
            AllocError::NotInAnyPool(ips(&["10.0.0.1"]))
        )]
    );
    assert_eq!(a.ips_of("default/a"), Some(&ips(&["10.0.0.0"])[..]));
    assert_eq!(a.ips_of("default/c"), Some(&ips(&["10.0.0.2"])[..]));
    assert_eq!(a.pool_of("default/c"), Some("p2"));
    assert_eq!(a.ips_of("default/b"), None);
    assert_eq!(new_ips(&mut a, &svc("b")), ips(&["10.0.0.3"]));
    assert_eq!(a.pool_stats("p").unwrap().assigned_v4, 2);
    assert_eq!(a.pool_stats("p2").unwrap().assigned_v4, 1);
}

#[test]
fn set_pools_invalidates_on_new_restrictions() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    new_ips(&mut a, &ServiceRequest::new("x", "s"));
    new_ips(&mut a, &ServiceRequest::new("y", "s"));
    let invalid = a.set_pools(set(vec![PoolSpec::new("p", ["10.0.0.0/24"]).allocation(
        ServiceAllocation {
            namespaces: vec!["x".into()],
            ..Default::default()
        },
    )]));
    assert_eq!(
        invalid,
        vec![("y/s".to_owned(), AllocError::PoolNotCompatible("p".into()))]
    );
    // autoAssign turning false does not invalidate.
    let invalid = a.set_pools(set(vec![
        PoolSpec::new("p", ["10.0.0.0/24"]).auto_assign(false),
    ]));
    assert!(invalid.is_empty());
    assert_eq!(a.ips_of("x/s"), Some(&ips(&["10.0.0.0"])[..]));
}

#[test]
fn rebuild_restores_before_new_allocations() {
    let specs = vec![PoolSpec::new("p", ["10.0.0.0/24", "fd00::/64"])];
    let mut a = alloc(specs.clone());
    let d = dual(svc("d"), IpFamilyPolicy::RequireDualStack);
    let failed = a.rebuild(vec![
        (svc("b"), ips(&["10.0.0.1"])),
        (svc("a"), ips(&["10.0.0.0"])),
        (svc("pending"), vec![]),
        (d.clone(), ips(&["10.0.0.0", "fd00::5"])),
        (svc("outside"), ips(&["192.168.0.1"])),
    ]);
    // d (two IPs) is restored first; a then conflicts on 10.0.0.0.
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].0, "default/a");
    assert!(matches!(failed[0].1, AllocError::IpInUse { .. }));
    assert_eq!(
        failed[1],
        (
            "default/outside".to_owned(),
            AllocError::NotInAnyPool(ips(&["192.168.0.1"]))
        )
    );
    assert_eq!(
        a.ips_of("default/d"),
        Some(&ips(&["10.0.0.0", "fd00::5"])[..])
    );
    assert_eq!(a.ips_of("default/b"), Some(&ips(&["10.0.0.1"])[..]));
    assert_eq!(new_ips(&mut a, &svc("pending")), ips(&["10.0.0.2"]));
    let s = a.pool_stats("p").unwrap();
    assert_eq!((s.assigned_v4, s.assigned_v6), (3, 1));
}

#[test]
fn stats_saturate_for_ipv6_pools() {
    let mut a = alloc(vec![
        PoolSpec::new("big", ["fd00::/64", "fd01::/48", "10.0.0.0/24"]).avoid_buggy_ips(true),
        PoolSpec::new("small6", ["fd02::/120"]),
    ]);
    let v6 = |n: &str| svc(n).families(&[IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert_eq!(new_ips(&mut a, &v6("a")), ips(&["fd00::"]));
    assert_eq!(new_ips(&mut a, &v6("b")), ips(&["fd00::1"]));
    new_ips(&mut a, &svc("c"));
    let s = a.pool_stats("big").unwrap();
    assert_eq!(s.assigned_v6, 2);
    assert_eq!(s.available_v6, i64::MAX);
    assert_eq!(s.total_v6, i64::MAX);
    assert_eq!((s.assigned_v4, s.available_v4, s.total_v4), (1, 253, 254));
    let s = a.pool_stats("small6").unwrap();
    assert_eq!((s.assigned_v6, s.available_v6), (0, 256));
    assert_eq!(a.pool_stats("nope"), None);
    let all: Vec<(&str, i64, i64)> = a
        .all_pool_stats()
        .map(|(n, s)| (n, s.assigned_v4, s.assigned_v6))
        .collect();
    assert_eq!(all, [("big", 1, 2), ("small6", 0, 0)]);
}

#[test]
fn huge_ipv6_pool_allocation_is_immediate() {
    let mut a = alloc(vec![PoolSpec::new("p", ["::/0"])]);
    let v6 = |n: &str| svc(n).families(&[IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert_eq!(
        a.assign(
            &v6("a").requesting(&ips(&["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])),
            &[]
        )
        .unwrap()
        .ips,
        ips(&["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
    );
    assert_eq!(new_ips(&mut a, &v6("b")), ips(&["::"]));
    assert_eq!(a.pool_stats("p").unwrap().available_v6, i64::MAX);
}
