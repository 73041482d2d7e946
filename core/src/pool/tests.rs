//! Tests of the parent module.

use super::*;
use crate::selector::Operator;

fn nets(entry: &str) -> Vec<String> {
    parse_entry(entry)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn cidr_and_range_entries() {
    assert_eq!(nets("10.0.0.7/24"), ["10.0.0.0/24"]);
    assert_eq!(
        nets("192.168.0.200-192.168.0.250"),
        [
            "192.168.0.200/29",
            "192.168.0.208/28",
            "192.168.0.224/28",
            "192.168.0.240/29",
            "192.168.0.248/31",
            "192.168.0.250/32"
        ]
    );
    assert_eq!(nets(" 10.0.0.1 - 10.0.0.1 "), ["10.0.0.1/32"]);
    assert_eq!(nets("fd00::1-fd00::2"), ["fd00::1/128", "fd00::2/128"]);
    assert_eq!(nets("fd00::/64"), ["fd00::/64"]);
}

#[test]
fn bad_entries() {
    assert_eq!(
        parse_entry("10.1.1.0/33"),
        Err(AddressError::InvalidCidr("10.1.1.0/33".into()))
    );
    assert_eq!(
        parse_entry(" 10.1.1.0/24"),
        Err(AddressError::InvalidCidr(" 10.1.1.0/24".into()))
    );
    assert!(matches!(
        parse_entry("10.1.1.50-10.1.1.10"),
        Err(AddressError::StartAfterEnd { .. })
    ));
    assert!(matches!(
        parse_entry("10.1.1.x-10.1.1.10"),
        Err(AddressError::InvalidStart { .. })
    ));
    assert!(matches!(
        parse_entry("10.1.1.1-"),
        Err(AddressError::InvalidEnd { .. })
    ));
    assert!(matches!(
        parse_entry("10.1.1.1-fd00::1"),
        Err(AddressError::MixedFamilies(_))
    ));
    let err = PoolSpec::new("p", ["10.1.1.50-10.1.1.10"])
        .parse()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid CIDR \"10.1.1.50-10.1.1.10\" in pool \"p\": invalid IP range \
         \"10.1.1.50-10.1.1.10\": start IP \"10.1.1.50\" is after the end IP \"10.1.1.10\""
    );
}

#[test]
fn empty_pool_rejected() {
    let err = PoolSpec::new("p", Vec::<String>::new())
        .parse()
        .unwrap_err();
    assert_eq!(err, PoolError::Empty { pool: "p".into() });
    assert_eq!(
        err.to_string(),
        "parsing address pool p: pool has no prefixes defined"
    );
}

#[test]
fn overlaps_rejected_across_and_within_pools() {
    let err = PoolSet::parse(&[
        PoolSpec::new("a", ["192.168.10.0/24"]),
        PoolSpec::new("b", ["192.168.10.128-192.168.10.130"]),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        PoolError::Overlap {
            cidr: "192.168.10.128/31".into(),
            pool: "b".into(),
            existing: "192.168.10.0/24".into(),
            existing_pool: "a".into(),
        }
    );
    assert!(err.to_string().contains("in pool \"b\" overlaps"));
    // Same pool, equal CIDRs.
    assert!(matches!(
        PoolSet::parse(&[PoolSpec::new("a", ["10.0.0.0/24", "10.0.0.0/24"])]),
        Err(PoolError::Overlap { .. })
    ));
    // Later pool declares the wider CIDR: the earlier one is "already defined".
    let err = PoolSet::parse(&[
        PoolSpec::new("a", ["10.0.0.4/30"]),
        PoolSpec::new("b", ["10.0.0.0/24"]),
    ])
    .unwrap_err();
    assert!(
        matches!(err, PoolError::Overlap { ref pool, ref existing_pool, .. }
        if pool == "b" && existing_pool == "a")
    );
    // Adjacent ranges and different families are fine.
    assert!(
        PoolSet::parse(&[
            PoolSpec::new("a", ["10.0.0.0-10.0.0.9"]),
            PoolSpec::new("b", ["10.0.0.10-10.0.0.20", "::a00:0/120"]),
        ])
        .is_ok()
    );
}

#[test]
fn duplicate_pool_names_rejected() {
    assert_eq!(
        PoolSet::parse(&[
            PoolSpec::new("a", ["10.0.0.0/24"]),
            PoolSpec::new("a", ["10.0.1.0/24"]),
        ]),
        Err(PoolError::DuplicatePool("a".into()))
    );
}

#[test]
fn allocation_validation_and_select_all() {
    let p = PoolSpec::new("a", ["10.0.0.0/24"])
        .allocation(ServiceAllocation {
            priority: 5,
            ..Default::default()
        })
        .parse()
        .unwrap();
    let a = p.allocation().unwrap();
    assert_eq!(a.service_selectors, vec![LabelSelector::everything()]);
    assert!(a.selects_service(&BTreeMap::new()));

    let dup_ns = PoolSpec::new("a", ["10.0.0.0/24"]).allocation(ServiceAllocation {
        namespaces: vec!["x".into(), "x".into()],
        ..Default::default()
    });
    assert!(matches!(
        dup_ns.parse(),
        Err(PoolError::DuplicateNamespace { .. })
    ));
    let bad_sel = PoolSpec::new("a", ["10.0.0.0/24"]).allocation(ServiceAllocation {
        service_selectors: vec![LabelSelector::default().with_expression("k", Operator::In, &[])],
        ..Default::default()
    });
    let err = bad_sel.parse().unwrap_err();
    assert!(matches!(
        err,
        PoolError::InvalidSelector {
            kind: SelectorKind::Service,
            ..
        }
    ));
    assert!(err.to_string().contains("in ip pool a"));
    let dup_sel = PoolSpec::new("a", ["10.0.0.0/24"]).allocation(ServiceAllocation {
        namespace_selectors: vec![
            LabelSelector::from_labels([("a", "b")]),
            LabelSelector::from_labels([("a", "b")]),
        ],
        ..Default::default()
    });
    assert!(matches!(
        dup_sel.parse(),
        Err(PoolError::DuplicateSelector {
            kind: SelectorKind::Namespace,
            ..
        })
    ));
}

#[test]
fn totals_saturate_and_skip_buggy() {
    let p = PoolSpec::new("a", ["10.0.0.0/24", "fd00::/64", "fd01::/64"])
        .avoid_buggy_ips(true)
        .parse()
        .unwrap();
    assert_eq!(p.total_v4(), 254);
    assert_eq!(p.total_v6(), 2u128 << 64);
    let p = PoolSpec::new("a", ["::/0"]).parse().unwrap();
    assert_eq!(p.total_v6(), u128::MAX);
}

#[test]
fn lookup_by_ip() {
    let set = PoolSet::parse(&[
        PoolSpec::new("a", ["10.0.0.0/24"]).avoid_buggy_ips(true),
        PoolSpec::new("b", ["10.0.1.0-10.0.1.10", "fd00::/64"]),
    ])
    .unwrap();
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    assert_eq!(set.pool_for_ip(&ip("10.0.0.5")).map(Pool::name), Some("a"));
    assert_eq!(
        set.pool_for_ip(&ip("10.0.0.0")),
        None,
        "buggy IP not in pool"
    );
    assert_eq!(set.pool_for_ip(&ip("10.0.1.0")).map(Pool::name), Some("b"));
    assert_eq!(set.pool_for_ip(&ip("10.0.1.11")), None);
    assert_eq!(set.pool_for_ip(&ip("9.255.255.255")), None);
    assert_eq!(
        set.pool_for_ip(&ip("fd00::ffff")).map(Pool::name),
        Some("b")
    );
    assert_eq!(
        set.pool_for_ips(&[ip("10.0.1.1"), ip("fd00::1")])
            .map(Pool::name),
        Some("b")
    );
    assert_eq!(set.pool_for_ips(&[ip("10.0.0.1"), ip("fd00::1")]), None);
}
