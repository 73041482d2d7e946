//! One test (or a few) per allocation rule of the MetalLB reference.

use std::net::IpAddr;

use super::*;
use crate::pool::{PoolSpec, ServiceAllocation};
use crate::selector::LabelSelector;
use crate::service::ServicePort;
use crate::sharing::SharingError;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

fn set(specs: Vec<PoolSpec>) -> PoolSet {
    PoolSet::parse(&specs).unwrap()
}

fn alloc(specs: Vec<PoolSpec>) -> Allocator {
    Allocator::new(set(specs))
}

fn svc(name: &str) -> ServiceRequest {
    ServiceRequest::new("default", name)
}

fn new_ips(a: &mut Allocator, req: &ServiceRequest) -> Vec<IpAddr> {
    a.assign(req, &[]).unwrap().ips
}

fn dual(req: ServiceRequest, policy: IpFamilyPolicy) -> ServiceRequest {
    req.families(&[IpFamily::V4, IpFamily::V6], policy)
}

#[test]
fn lowest_free_first_and_freed_reused_immediately() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/30"])]);
    assert_eq!(
        new_ips(&mut a, &svc("a")),
        ips(&["10.0.0.0"]),
        "network address not skipped"
    );
    assert_eq!(new_ips(&mut a, &svc("b")), ips(&["10.0.0.1"]));
    assert_eq!(new_ips(&mut a, &svc("c")), ips(&["10.0.0.2"]));
    assert_eq!(a.release("default/a"), ips(&["10.0.0.0"]));
    assert!(a.release("default/a").is_empty());
    assert_eq!(new_ips(&mut a, &svc("d")), ips(&["10.0.0.0"]));
    assert_eq!(new_ips(&mut a, &svc("e")), ips(&["10.0.0.3"]));
    assert_eq!(
        a.assign(&svc("f"), &[]),
        Err(AllocError::NoAvailableIps {
            tried: vec!["p".into()]
        })
    );
    assert_eq!(a.ips_of("default/f"), None);
}

#[test]
fn pools_and_cidrs_in_declared_order() {
    let mut a = alloc(vec![
        PoolSpec::new("first", ["10.9.0.0/31", "10.1.0.0/31"]),
        PoolSpec::new("second", ["10.0.0.0/24"]),
    ]);
    let got: Vec<_> = (0..5)
        .map(|i| new_ips(&mut a, &svc(&format!("s{i}")))[0])
        .collect();
    assert_eq!(
        got,
        ips(&["10.9.0.0", "10.9.0.1", "10.1.0.0", "10.1.0.1", "10.0.0.0"])
    );
    assert_eq!(a.pool_of("default/s4"), Some("second"));
}

#[test]
fn auto_assign_false_only_when_explicitly_requested() {
    let mut a = alloc(vec![
        PoolSpec::new("manual", ["10.0.0.0/24"]).auto_assign(false),
        PoolSpec::new("auto", ["10.1.0.0/24"]),
    ]);
    assert_eq!(new_ips(&mut a, &svc("a")), ips(&["10.1.0.0"]));
    let by_pool = a.assign(&svc("b").in_pool("manual"), &[]).unwrap();
    assert_eq!(
        (by_pool.ips, by_pool.pool.as_str()),
        (ips(&["10.0.0.0"]), "manual")
    );
    let by_ip = a
        .assign(&svc("c").requesting(&ips(&["10.0.0.7"])), &[])
        .unwrap();
    assert_eq!(
        (by_ip.ips, by_ip.pool.as_str()),
        (ips(&["10.0.0.7"]), "manual")
    );

    let mut only_manual = alloc(vec![
        PoolSpec::new("manual", ["10.0.0.0/24"]).auto_assign(false),
    ]);
    assert_eq!(
        only_manual.assign(&svc("a"), &[]),
        Err(AllocError::NoAvailableIps { tried: vec![] })
    );
    assert_eq!(
        only_manual.assign(&svc("a"), &[]).unwrap_err().to_string(),
        "no available IPs (no pool is eligible for this service)"
    );
}

#[test]
fn avoid_buggy_ips_skips_dot0_and_dot255() {
    let mut a = alloc(vec![
        PoolSpec::new("p", ["10.0.0.254-10.0.1.1"]).avoid_buggy_ips(true),
    ]);
    assert_eq!(new_ips(&mut a, &svc("a")), ips(&["10.0.0.254"]));
    assert_eq!(new_ips(&mut a, &svc("b")), ips(&["10.0.1.1"]));
    assert!(matches!(
        a.assign(&svc("c"), &[]),
        Err(AllocError::NoAvailableIps { .. })
    ));
    // A buggy address cannot even be requested.
    assert_eq!(
        a.assign(&svc("d").requesting(&ips(&["10.0.0.255"])), &[]),
        Err(AllocError::NotInAnyPool(ips(&["10.0.0.255"])))
    );
    assert_eq!(a.pool_stats("p").unwrap().available_v4, 0);

    let mut plain = alloc(vec![PoolSpec::new("p", ["10.0.0.255-10.0.1.1"])]);
    assert_eq!(new_ips(&mut plain, &svc("a")), ips(&["10.0.0.255"]));
    assert_eq!(new_ips(&mut plain, &svc("b")), ips(&["10.0.1.0"]));
}

fn prio(priority: i32) -> ServiceAllocation {
    ServiceAllocation {
        priority,
        ..Default::default()
    }
}

#[test]
fn priority_orders_pinned_pools_then_unrestricted() {
    let mut a = alloc(vec![
        PoolSpec::new("open", ["10.0.0.0/32"]),
        PoolSpec::new("p0", ["10.0.1.0/32"]).allocation(prio(0)),
        PoolSpec::new("p10", ["10.0.2.0/32"]).allocation(prio(10)),
        PoolSpec::new("p5", ["10.0.3.0/32"]).allocation(prio(5)),
    ]);
    let order: Vec<_> = (0..4)
        .map(|i| a.assign(&svc(&format!("s{i}")), &[]).unwrap().pool)
        .collect();
    assert_eq!(order, ["p5", "p10", "p0", "open"]);
    assert_eq!(
        a.assign(&svc("x"), &[]),
        Err(AllocError::NoAvailableIps {
            tried: vec!["p5".into(), "p10".into(), "p0".into(), "open".into()]
        })
    );
}

#[test]
fn equal_priorities_use_declared_order() {
    let mut a = alloc(vec![
        PoolSpec::new("b", ["10.0.1.0/32"]).allocation(prio(3)),
        PoolSpec::new("a", ["10.0.0.0/32"]).allocation(prio(3)),
    ]);
    assert_eq!(a.assign(&svc("s"), &[]).unwrap().pool, "b");
}

#[test]
fn namespaces_restrict_and_pin_pools() {
    let ns_pool = ServiceAllocation {
        namespaces: vec!["team-a".into()],
        ..Default::default()
    };
    let sel_pool = ServiceAllocation {
        namespace_selectors: vec![LabelSelector::from_labels([("team", "b")])],
        ..Default::default()
    };
    let mut a = alloc(vec![
        PoolSpec::new("open", ["10.0.0.0/24"]),
        PoolSpec::new("for-a", ["10.1.0.0/24"]).allocation(ns_pool),
        PoolSpec::new("for-b", ["10.2.0.0/24"]).allocation(sel_pool),
    ]);
    let in_a = ServiceRequest::new("team-a", "s");
    let in_b = ServiceRequest::new("team-b", "s").namespace_label("team", "b");
    let other = ServiceRequest::new("other", "s");
    assert_eq!(a.assign(&in_a, &[]).unwrap().pool, "for-a");
    assert_eq!(a.assign(&in_b, &[]).unwrap().pool, "for-b");
    assert_eq!(a.assign(&other, &[]).unwrap().pool, "open");
    let err = a.assign(&ServiceRequest::new("other", "t").in_pool("for-a"), &[]);
    assert_eq!(err, Err(AllocError::PoolNotCompatible("for-a".into())));
    assert_eq!(
        err.unwrap_err().to_string(),
        "pool for-a not compatible for ip assignment"
    );
    let err = a.assign(
        &ServiceRequest::new("other", "u").requesting(&ips(&["10.2.0.9"])),
        &[],
    );
    assert_eq!(err, Err(AllocError::PoolNotCompatible("for-b".into())));
}

#[test]
fn service_selectors_restrict_and_pin_pools() {
    let web_only = ServiceAllocation {
        service_selectors: vec![LabelSelector::from_labels([("app", "web")])],
        ..Default::default()
    };
    let mut a = alloc(vec![
        PoolSpec::new("open", ["10.0.0.0/24"]),
        PoolSpec::new("web", ["10.1.0.0/24"]).allocation(web_only.clone()),
    ]);
    assert_eq!(
        a.assign(&svc("w").label("app", "web"), &[]).unwrap().pool,
        "web"
    );
    assert_eq!(
        a.assign(&svc("d").label("app", "db"), &[]).unwrap().pool,
        "open"
    );

    // A restricted pool is never a fallback for Services it does not select.
    let mut only = alloc(vec![
        PoolSpec::new("web", ["10.1.0.0/24"]).allocation(web_only),
    ]);
    assert_eq!(
        only.assign(&svc("d"), &[]),
        Err(AllocError::NoAvailableIps { tried: vec![] })
    );
}

#[test]
fn pinned_pool_exhausted_falls_back_to_unrestricted() {
    let mut a = alloc(vec![
        PoolSpec::new("open", ["10.0.0.0/24"]),
        PoolSpec::new("pinned", ["10.1.0.0/32"]).allocation(prio(1)),
    ]);
    assert_eq!(a.assign(&svc("a"), &[]).unwrap().pool, "pinned");
    assert_eq!(a.assign(&svc("b"), &[]).unwrap().pool, "open");
}

#[test]
fn requested_ips_are_honoured_or_rejected_clearly() {
    let mut a = alloc(vec![
        PoolSpec::new("a", ["10.0.0.0/24"]),
        PoolSpec::new("b", ["10.1.0.0/24", "fd00::/120"]),
    ]);
    let got = a
        .assign(&svc("x").requesting(&ips(&["10.0.0.42"])), &[])
        .unwrap();
    assert_eq!(
        (got.ips, got.change),
        (ips(&["10.0.0.42"]), Change::Allocated)
    );

    let err = a
        .assign(&svc("y").requesting(&ips(&["192.168.1.1"])), &[])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "[\"192.168.1.1\"] is not allowed in config: not inside any address pool"
    );
    let err = a
        .assign(&svc("z").requesting(&ips(&["10.0.0.42"])), &[])
        .unwrap_err();
    assert_eq!(
        err,
        AllocError::IpInUse {
            ip: ip("10.0.0.42"),
            source: SharingError::ExistingDoesNotShare
        }
    );
    assert_eq!(
        err.to_string(),
        "IP 10.0.0.42 is in use by another service: existing service does not allow sharing"
    );
    assert_eq!(
        a.assign(&svc("w").requesting(&ips(&["10.0.0.7"])).in_pool("b"), &[]),
        Err(AllocError::RequestedIpsNotInRequestedPool {
            ips: ips(&["10.0.0.7"]),
            pool: "b".into()
        })
    );
    assert_eq!(
        a.assign(&svc("v").requesting(&ips(&["fd00::1"])), &[]),
        Err(AllocError::RequestedFamilyMismatch(ips(&["fd00::1"])))
    );
    // Two IPs in different pools are not "in one pool".
    let d = dual(svc("u"), IpFamilyPolicy::RequireDualStack);
    assert_eq!(
        a.assign(&d.clone().requesting(&ips(&["10.0.0.9", "fd00::9"])), &[]),
        Err(AllocError::NotInAnyPool(ips(&["10.0.0.9", "fd00::9"])))
    );
    let got = a
        .assign(&d.requesting(&ips(&["fd00::9", "10.1.0.9"])), &[])
        .unwrap();
    assert_eq!(
        got.ips,
        ips(&["10.1.0.9", "fd00::9"]),
        "primary family first"
    );
    assert_eq!(
        a.assign(&svc("t").requesting(&ips(&["10.0.0.1", "10.0.0.2"])), &[]),
        Err(AllocError::InvalidIpSet(ips(&["10.0.0.1", "10.0.0.2"])))
    );
    // A failed Service holds nothing.
    assert_eq!(a.ips_of("default/z"), None);
}

#[test]
fn requested_pool_annotation() {
    let mut a = alloc(vec![
        PoolSpec::new("a", ["10.0.0.0/24"]),
        PoolSpec::new("b", ["10.1.0.0/31"]),
    ]);
    assert_eq!(new_ips(&mut a, &svc("x").in_pool("b")), ips(&["10.1.0.0"]));
    assert_eq!(new_ips(&mut a, &svc("y").in_pool("b")), ips(&["10.1.0.1"]));
    let err = a.assign(&svc("z").in_pool("b"), &[]).unwrap_err();
    assert_eq!(
        err,
        AllocError::PoolExhausted {
            pool: "b".into(),
            family: IpFamily::V4
        }
    );
    assert_eq!(
        err.to_string(),
        "no available IPs in pool \"b\" for family IPv4"
    );
    assert_eq!(
        a.assign(&svc("z").in_pool("nope"), &[])
            .unwrap_err()
            .to_string(),
        "unknown pool \"nope\""
    );
    // IPv6 Service from an IPv4-only pool.
    let v6 = svc("v6").families(&[IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert!(matches!(
        a.assign(&v6.in_pool("a"), &[]),
        Err(AllocError::PoolExhausted {
            family: IpFamily::V6,
            ..
        })
    ));
}

#[test]
fn sharing_same_key_disjoint_ports() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    let http = svc("http").sharing("k").ports(&[ServicePort::tcp(80)]);
    let dns = svc("dns")
        .sharing("k")
        .ports(&[ServicePort::udp(53), ServicePort::tcp(53)]);
    let http2 = svc("http2").sharing("k").ports(&[ServicePort::tcp(80)]);
    let other_key = svc("o").sharing("other").ports(&[ServicePort::tcp(9)]);
    let plain = svc("plain").ports(&[ServicePort::tcp(10)]);
    assert_eq!(new_ips(&mut a, &http), ips(&["10.0.0.0"]));
    assert_eq!(new_ips(&mut a, &dns), ips(&["10.0.0.0"]), "shares");
    assert_eq!(new_ips(&mut a, &http2), ips(&["10.0.0.1"]), "port conflict");
    assert_eq!(
        new_ips(&mut a, &other_key),
        ips(&["10.0.0.2"]),
        "key differs"
    );
    assert_eq!(new_ips(&mut a, &plain), ips(&["10.0.0.3"]), "no key");
    assert_eq!(
        a.users_of(&ip("10.0.0.0")).collect::<Vec<_>>(),
        ["default/dns", "default/http"]
    );
    // Requested shared IP with a conflicting port.
    let err = a
        .assign(
            &svc("bad")
                .sharing("k")
                .ports(&[ServicePort::udp(53)])
                .requesting(&ips(&["10.0.0.0"])),
            &[],
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "IP 10.0.0.0 is in use by another service: port UDP/53 is already in use on \"10.0.0.0\" by default/dns"
    );
    // Shared address counted once; freed when the last user leaves.
    assert_eq!(a.pool_stats("p").unwrap().assigned_v4, 4);
    a.release("default/http");
    assert_eq!(a.pool_stats("p").unwrap().assigned_v4, 4);
    a.release("default/dns");
    assert_eq!(a.pool_stats("p").unwrap().assigned_v4, 3);
    assert_eq!(new_ips(&mut a, &svc("next")), ips(&["10.0.0.0"]));
}

#[test]
fn sharing_prefers_lowest_compatible_address() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    new_ips(&mut a, &svc("a"));
    new_ips(&mut a, &svc("b").sharing("k").ports(&[ServicePort::tcp(1)]));
    new_ips(&mut a, &svc("c"));
    a.release("default/a");
    // 10.0.0.0 is free and lower than the shareable 10.0.0.1: lowest wins.
    assert_eq!(
        new_ips(&mut a, &svc("d").sharing("k").ports(&[ServicePort::tcp(2)])),
        ips(&["10.0.0.0"])
    );
    // Now the lowest usable is the shared 10.0.0.0 (not a free .3).
    assert_eq!(
        new_ips(&mut a, &svc("e").sharing("k").ports(&[ServicePort::tcp(3)])),
        ips(&["10.0.0.0"])
    );
}

#[test]
fn sharing_local_backends_must_match() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    let l1 = svc("l1")
        .sharing("k")
        .backend("app=x")
        .ports(&[ServicePort::tcp(1)]);
    let l2 = svc("l2")
        .sharing("k")
        .backend("app=x")
        .ports(&[ServicePort::tcp(2)]);
    let l3 = svc("l3")
        .sharing("k")
        .backend("app=y")
        .ports(&[ServicePort::tcp(3)]);
    let c = svc("c").sharing("k").ports(&[ServicePort::tcp(4)]);
    assert_eq!(new_ips(&mut a, &l1), ips(&["10.0.0.0"]));
    assert_eq!(new_ips(&mut a, &l2), ips(&["10.0.0.0"]));
    assert_eq!(new_ips(&mut a, &l3), ips(&["10.0.0.1"]));
    assert_eq!(new_ips(&mut a, &c), ips(&["10.0.0.2"]));
    assert!(matches!(
        a.assign(&c.clone().requesting(&ips(&["10.0.0.0"])), &[]),
        Err(AllocError::IpInUse {
            source: SharingError::BackendMismatch { .. },
            ..
        })
    ));
}

#[test]
fn sharing_key_change_by_sole_owner_is_kept() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    let s = svc("s").sharing("k1");
    let first = new_ips(&mut a, &s);
    let got = a.assign(&s.clone().sharing("k2"), &first).unwrap();
    assert_eq!((got.ips, got.change), (first.clone(), Change::Kept));
    // With a co-user, a key change makes the current IP invalid: re-IP.
    let t = svc("t").sharing("k2").ports(&[ServicePort::tcp(1)]);
    assert_eq!(new_ips(&mut a, &t), first);
    let got = a.assign(&s.clone().sharing("k3"), &first).unwrap();
    assert!(matches!(
        got.change,
        Change::Reallocated {
            reason: AllocError::IpInUse {
                source: SharingError::KeyChangeBlocked { .. },
                ..
            },
            ..
        }
    ));
    assert_eq!(got.ips, ips(&["10.0.0.1"]));
}

#[test]
fn dual_stack_policies() {
    let mut a = alloc(vec![
        PoolSpec::new("v4", ["10.0.0.0/24"]),
        PoolSpec::new("dual", ["10.1.0.0/24", "fd00::/120"]),
        PoolSpec::new("v6", ["fd01::/120"]),
    ]);
    // RequireDualStack: both from the same (first dual) pool.
    let got = a
        .assign(&dual(svc("r"), IpFamilyPolicy::RequireDualStack), &[])
        .unwrap();
    assert_eq!(
        (got.ips, got.pool.as_str()),
        (ips(&["10.1.0.0", "fd00::"]), "dual")
    );
    // PreferDualStack: a dual pool wins over an earlier single-family pool.
    let got = a
        .assign(&dual(svc("p"), IpFamilyPolicy::PreferDualStack), &[])
        .unwrap();
    assert_eq!(got.ips, ips(&["10.1.0.1", "fd00::1"]));
    // IPv6-primary order.
    let v6first = svc("p6").families(
        &[IpFamily::V6, IpFamily::V4],
        IpFamilyPolicy::PreferDualStack,
    );
    assert_eq!(new_ips(&mut a, &v6first), ips(&["fd00::2", "10.1.0.2"]));
    // Single-stack IPv6 takes the first pool with IPv6.
    let v6 = svc("s6").families(&[IpFamily::V6], IpFamilyPolicy::SingleStack);
    assert_eq!(new_ips(&mut a, &v6), ips(&["fd00::3"]));
    // SingleStack with two cluster IPs families: primary only.
    let single = dual(svc("s"), IpFamilyPolicy::SingleStack);
    assert_eq!(new_ips(&mut a, &single), ips(&["10.0.0.0"]));
}

#[test]
fn dual_stack_without_dual_pool() {
    let specs = vec![
        PoolSpec::new("v4", ["10.0.0.0/24"]),
        PoolSpec::new("v6", ["fd01::/120"]),
    ];
    let mut a = alloc(specs);
    assert_eq!(
        a.assign(&dual(svc("r"), IpFamilyPolicy::RequireDualStack), &[]),
        Err(AllocError::NoAvailableIps {
            tried: vec!["v4".into(), "v6".into()]
        })
    );
    // PreferDualStack falls back to the primary family's first pool.
    assert_eq!(
        new_ips(&mut a, &dual(svc("p"), IpFamilyPolicy::PreferDualStack)),
        ips(&["10.0.0.0"])
    );
    let p6 = svc("p6").families(
        &[IpFamily::V6, IpFamily::V4],
        IpFamilyPolicy::PreferDualStack,
    );
    assert_eq!(new_ips(&mut a, &p6), ips(&["fd01::"]));
}

#[test]
fn prefer_dual_stack_gets_additional_family_when_pool_becomes_dual() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24"])]);
    let s = dual(svc("s"), IpFamilyPolicy::PreferDualStack);
    let first = new_ips(&mut a, &s);
    assert_eq!(first, ips(&["10.0.0.0"]));
    assert_eq!(a.assign(&s, &first).unwrap().change, Change::Kept);
    let invalid = a.set_pools(set(vec![PoolSpec::new("p", ["10.0.0.0/24", "fd00::/64"])]));
    assert!(invalid.is_empty());
    let got = a.assign(&s, &first).unwrap();
    assert_eq!(got.ips, ips(&["10.0.0.0", "fd00::"]));
    assert_eq!(got.change, Change::AddedFamily(ip("fd00::")));
    assert_eq!(a.assign(&s, &got.ips).unwrap().change, Change::Kept);
}

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

#[test]
fn prefer_dual_stack_keeps_the_still_valid_family() {
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24", "fd00::/120"])]);
    let s = dual(svc("s"), IpFamilyPolicy::PreferDualStack);
    new_ips(&mut a, &svc("first"));
    let both = new_ips(&mut a, &s);
    assert_eq!(both, ips(&["10.0.0.1", "fd00::"]));
    a.release("default/first");
    // The IPv6 range goes away: the IPv4 address stays, only IPv6 is lost.
    let invalid = a.set_pools(set(vec![PoolSpec::new("p", ["10.0.0.0/24"])]));
    assert_eq!(invalid.len(), 1);
    assert_eq!(a.ips_of("default/s"), Some(&ips(&["10.0.0.1"])[..]));
    let got = a.assign(&s, &both).unwrap();
    assert_eq!(got.ips, ips(&["10.0.0.1"]));
    assert!(matches!(
        got.change,
        Change::Reallocated {
            reason: AllocError::NotInAnyPool(_),
            ..
        }
    ));
    // A RequireDualStack Service in the same situation loses both and fails.
    let mut a = alloc(vec![PoolSpec::new("p", ["10.0.0.0/24", "fd00::/120"])]);
    let r = dual(svc("r"), IpFamilyPolicy::RequireDualStack);
    let both = new_ips(&mut a, &r);
    a.set_pools(set(vec![PoolSpec::new("p", ["10.0.0.0/24"])]));
    assert_eq!(a.ips_of("default/r"), None);
    assert!(a.assign(&r, &both).is_err());
}
