//! One test (or a few) per allocation rule of the MetalLB reference: pool order,
//! autoAssign, avoidBuggyIPs, priority, namespace/service selectors, requested IPs and pools.
//! Sharing and dual-stack rules are in `sharing_dual`, state changes in `lifecycle`.

use std::net::IpAddr;

use super::*;

mod lifecycle;
mod sharing_dual;
use crate::pool::{PoolSpec, ServiceAllocation};
use crate::selector::LabelSelector;
use crate::service::{IpFamilyPolicy, ServicePort};
use crate::sharing::SharingError;

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

pub(super) fn set(specs: Vec<PoolSpec>) -> PoolSet {
    PoolSet::parse(&specs).unwrap()
}

pub(super) fn alloc(specs: Vec<PoolSpec>) -> Allocator {
    Allocator::new(set(specs))
}

pub(super) fn svc(name: &str) -> ServiceRequest {
    ServiceRequest::new("default", name)
}

pub(super) fn new_ips(a: &mut Allocator, req: &ServiceRequest) -> Vec<IpAddr> {
    a.assign(req, &[]).unwrap().ips
}

pub(super) fn dual(req: ServiceRequest, policy: IpFamilyPolicy) -> ServiceRequest {
    req.families(&[IpFamily::V4, IpFamily::V6], policy)
}

pub(super) fn prio(priority: i32) -> ServiceAllocation {
    ServiceAllocation {
        priority,
        ..Default::default()
    }
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
