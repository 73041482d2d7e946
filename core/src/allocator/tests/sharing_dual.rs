//! `allow-shared-ip` sharing rules and dual-stack policies.

use super::*;

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
