//! Property tests over random sequences of assign / release / set_pools:
//! no address is ever held by incompatible Services, every IP lies in its pool, counters
//! match, valid Services never move on a pool change, the same inputs give the same
//! results, and rebuilding from the Services' statuses gives the live state back.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_core::{
    Allocator, IpFamily, IpFamilyPolicy, LabelSelector, PoolSet, PoolSpec, ServiceAllocation,
    ServicePort, ServiceRequest,
};
use proptest::prelude::*;

const SERVICES: usize = 8;

fn pool_config(i: usize) -> PoolSet {
    let specs = match i {
        0 => vec![
            PoolSpec::new("a", ["10.0.0.0/30"]),
            PoolSpec::new("b", ["10.0.1.0-10.0.1.2", "fd00::/126"]),
            PoolSpec::new("c", ["fd01::/127"]).auto_assign(false),
        ],
        1 => vec![
            PoolSpec::new("a", ["10.0.0.0/31"]),
            PoolSpec::new("b", ["10.0.1.0-10.0.1.2", "fd00::/126"]),
            PoolSpec::new("c", ["fd01::/127", "10.0.2.0/32"]).allocation(ServiceAllocation {
                priority: 1,
                service_selectors: vec![LabelSelector::from_labels([("app", "web")])],
                ..Default::default()
            }),
        ],
        2 => vec![
            PoolSpec::new("b", ["10.0.1.0/32", "fd00::/126"]),
            PoolSpec::new("a", ["10.0.0.0/30"]).avoid_buggy_ips(true),
        ],
        _ => vec![],
    };
    PoolSet::parse(&specs).expect("valid pools")
}

#[derive(Debug, Clone)]
enum Op {
    Assign {
        svc: usize,
        req: ReqShape,
        pass_status: bool,
    },
    Release(usize),
    SetPools(usize),
}

#[derive(Debug, Clone)]
struct ReqShape {
    sharing: Option<&'static str>,
    ports: Vec<ServicePort>,
    backend: &'static str,
    families: u8,
    requested: Option<&'static str>,
    pool: Option<&'static str>,
    web: bool,
}

fn req_shape() -> impl Strategy<Value = ReqShape> {
    (
        prop::sample::select(vec![None, Some("k1"), Some("k2")]),
        prop::sample::subsequence(
            vec![
                ServicePort::tcp(80),
                ServicePort::tcp(443),
                ServicePort::udp(53),
            ],
            0..=3,
        ),
        prop::sample::select(vec!["", "app=x"]),
        0u8..4,
        prop::sample::select(vec![
            None,
            None,
            Some("10.0.0.1"),
            Some("10.0.1.0"),
            Some("fd00::1"),
            Some("10.9.9.9"),
        ]),
        prop::sample::select(vec![None, None, None, Some("a"), Some("c"), Some("zzz")]),
        any::<bool>(),
    )
        .prop_map(
            |(sharing, ports, backend, families, requested, pool, web)| ReqShape {
                sharing,
                ports,
                backend,
                families,
                requested,
                pool,
                web,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..SERVICES, req_shape(), any::<bool>())
            .prop_map(|(svc, req, pass_status)| Op::Assign { svc, req, pass_status }),
        2 => (0..SERVICES).prop_map(Op::Release),
        1 => (0usize..4).prop_map(Op::SetPools),
    ]
}

fn request(svc: usize, s: &ReqShape) -> ServiceRequest {
    let mut r = ServiceRequest::new(&format!("ns{}", svc % 2), &format!("s{svc}"));
    r.sharing_key = s.sharing.map(str::to_owned);
    r.ports = s.ports.clone();
    r.backend_key = s.backend.to_owned();
    let (fams, policy) = match s.families {
        0 => (vec![IpFamily::V4], IpFamilyPolicy::SingleStack),
        1 => (vec![IpFamily::V6], IpFamilyPolicy::SingleStack),
        2 => (
            vec![IpFamily::V4, IpFamily::V6],
            IpFamilyPolicy::PreferDualStack,
        ),
        _ => (
            vec![IpFamily::V6, IpFamily::V4],
            IpFamilyPolicy::RequireDualStack,
        ),
    };
    r = r.families(&fams, policy);
    if let Some(ip) = s.requested {
        r.requested_ips = vec![ip.parse().expect("valid IP")];
    }
    r.requested_pool = s.pool.map(str::to_owned);
    if s.web {
        r = r.label("app", "web");
    }
    r
}

/// What the operator would see: Service statuses and the last request of each Service.
#[derive(Debug, Default, Clone, PartialEq)]
struct World {
    status: BTreeMap<String, Vec<IpAddr>>,
    requests: BTreeMap<String, ServiceRequest>,
}

/// Applies one op; returns a printable outcome (for determinism checks).
fn apply(a: &mut Allocator, w: &mut World, op: &Op) -> Result<String, TestCaseError> {
    match op {
        Op::Assign {
            svc,
            req,
            pass_status,
        } => {
            let r = request(*svc, req);
            let current = if *pass_status {
                w.status.get(&r.key).cloned().unwrap_or_default()
            } else {
                Vec::new()
            };
            let out = a.assign(&r, &current);
            match &out {
                Ok(asg) => {
                    w.status.insert(r.key.clone(), asg.ips.clone());
                    w.requests.insert(r.key.clone(), r);
                }
                Err(_) => {
                    w.status.remove(&r.key);
                }
            }
            Ok(format!("{out:?}"))
        }
        Op::Release(svc) => {
            let key = format!("ns{}/s{svc}", svc % 2);
            w.status.remove(&key);
            Ok(format!("{:?}", a.release(&key)))
        }
        Op::SetPools(i) => {
            let before: BTreeMap<String, Vec<IpAddr>> = w.status.clone();
            let invalid = a.set_pools(pool_config(*i));
            let gone: BTreeSet<&String> = invalid.iter().map(|(k, _)| k).collect();
            for (k, ips) in &before {
                if gone.contains(k) {
                    // Released, or (PreferDualStack) kept only the IP still valid alone.
                    match a.ips_of(k) {
                        None => {
                            w.status.remove(k);
                        }
                        Some(kept) => {
                            prop_assert!(
                                kept.len() == 1 && ips.len() == 2 && ips.contains(&kept[0])
                            );
                            w.status.insert(k.clone(), kept.to_vec());
                        }
                    }
                } else {
                    prop_assert_eq!(a.ips_of(k), Some(ips.as_slice()), "valid service moved");
                }
            }
            Ok(format!("{invalid:?}"))
        }
    }
}

fn check_invariants(a: &Allocator, w: &World) -> Result<(), TestCaseError> {
    let live: BTreeMap<String, Vec<IpAddr>> = a
        .assignments()
        .map(|(k, _, ips)| (k.to_owned(), ips.to_vec()))
        .collect();
    prop_assert_eq!(&live, &w.status, "allocator and statuses agree");

    let mut users: BTreeMap<IpAddr, Vec<&str>> = BTreeMap::new();
    let mut per_pool: BTreeMap<&str, [BTreeSet<IpAddr>; 2]> = BTreeMap::new();
    for (key, pool, ips) in a.assignments() {
        let p = a.pools().pool_for_ips(ips);
        prop_assert_eq!(
            p.map(|p| p.name()),
            Some(pool),
            "{} IPs {:?} in its pool",
            key,
            ips
        );
        prop_assert!(ips.len() <= 2);
        for ip in ips {
            users.entry(*ip).or_default().push(key);
            let fam = usize::from(ip.is_ipv6());
            per_pool.entry(pool).or_default()[fam].insert(*ip);
        }
    }
    for (ip, keys) in &users {
        let holders: Vec<&str> = a.users_of(ip).collect();
        prop_assert_eq!(&holders, keys);
        for (i, k1) in keys.iter().enumerate() {
            for k2 in &keys[i + 1..] {
                let (r1, r2) = (&w.requests[*k1], &w.requests[*k2]);
                prop_assert!(
                    r1.sharing_key.is_some() && r1.sharing_key == r2.sharing_key,
                    "{ip}: {k1} and {k2} share without a common key"
                );
                prop_assert_eq!(&r1.backend_key, &r2.backend_key);
                prop_assert!(
                    r1.ports.iter().all(|p| !r2.ports.contains(p)),
                    "{ip}: {k1} and {k2} overlap on ports"
                );
            }
        }
    }
    for pool in a.pools().iter() {
        let s = a.pool_stats(pool.name()).expect("pool exists");
        let sets = per_pool.get(pool.name());
        let n = |f: usize| sets.map_or(0, |s| s[f].len()) as i64;
        prop_assert_eq!(
            (s.assigned_v4, s.assigned_v6),
            (n(0), n(1)),
            "pool {}",
            pool.name()
        );
        prop_assert!(s.available_v4 >= 0 && s.available_v6 >= 0);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_incompatible_and_rebuild_equals_live(ops in prop::collection::vec(op(), 1..60)) {
        let mut a = Allocator::new(pool_config(0));
        let mut w = World::default();
        for op in &ops {
            apply(&mut a, &mut w, op)?;
            check_invariants(&a, &w)?;
        }
        // Restart: rebuild from the statuses gives the live state back.
        let mut restarted = Allocator::new(a.pools().clone());
        let failed = restarted.rebuild(
            w.status.iter().map(|(k, ips)| (w.requests[k].clone(), ips.clone())),
        );
        prop_assert!(failed.is_empty(), "rebuild failures: {:?}", failed);
        prop_assert_eq!(&restarted, &a);
    }

    #[test]
    fn deterministic(ops in prop::collection::vec(op(), 1..60)) {
        let run = |ops: &[Op]| -> Result<(Vec<String>, Allocator), TestCaseError> {
            let mut a = Allocator::new(pool_config(0));
            let mut w = World::default();
            let mut outs = Vec::new();
            for op in ops {
                outs.push(apply(&mut a, &mut w, op)?);
            }
            Ok((outs, a))
        };
        let (o1, a1) = run(&ops)?;
        let (o2, a2) = run(&ops)?;
        prop_assert_eq!(o1, o2);
        prop_assert_eq!(a1, a2);
    }

    /// Rebuild is insensitive to the order statuses are listed in.
    #[test]
    fn rebuild_order_independent(ops in prop::collection::vec(op(), 1..40), seed in any::<u64>()) {
        let mut a = Allocator::new(pool_config(0));
        let mut w = World::default();
        for op in &ops {
            apply(&mut a, &mut w, op)?;
        }
        let mut list: Vec<(ServiceRequest, Vec<IpAddr>)> = w
            .status
            .iter()
            .map(|(k, ips)| (w.requests[k].clone(), ips.clone()))
            .collect();
        // Deterministic shuffle from the seed.
        let n = list.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            list.swap(i, j);
        }
        let mut b = Allocator::new(a.pools().clone());
        prop_assert!(b.rebuild(list).is_empty());
        prop_assert_eq!(b, a);
    }
}
