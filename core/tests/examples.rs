//! The user flows of `shared/examples/README.md`, with the pool definitions copied from the
//! example YAML files (so the project builds and tests without `shared/`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_core::service::{PortView, ServiceView};
use ferrolb_core::{Allocator, Change, PoolSet, PoolSpec, parse_service};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("valid IP")
}

/// A LoadBalancer Service as `kubectl expose --type=LoadBalancer --port=80` creates it.
fn exposed(namespace: &str, name: &str, cluster_ip: &str) -> ServiceView {
    ServiceView {
        namespace: namespace.into(),
        name: name.into(),
        service_type: "LoadBalancer".into(),
        cluster_ips: vec![cluster_ip.into()],
        ports: vec![PortView {
            protocol: Some("TCP".into()),
            port: 80,
        }],
        selector: BTreeMap::from([("app".to_owned(), name.to_owned())]),
        ..Default::default()
    }
}

fn assign(a: &mut Allocator, svc: &ServiceView) -> Vec<IpAddr> {
    let parsed = parse_service(svc).expect("valid service");
    a.assign(&parsed.request, &[]).expect("allocated").ips
}

/// helm-l2-pool.yaml: `traefik` in kube-system gets the first address of the pool.
#[test]
fn helm_l2_pool_traefik_gets_first_address() {
    let pools = PoolSet::parse(&[PoolSpec::new(
        "ipaddresspool",
        ["192.168.0.200-192.168.0.250"],
    )])
    .unwrap();
    let mut a = Allocator::new(pools);
    let mut traefik = exposed("kube-system", "traefik", "10.43.0.10");
    traefik.ports.push(PortView {
        protocol: Some("TCP".into()),
        port: 443,
    });
    let parsed = parse_service(&traefik).unwrap();
    let got = a.assign(&parsed.request, &[]).unwrap();
    assert_eq!(got.ips, vec![ip("192.168.0.200")]);
    assert_eq!(got.pool, "ipaddresspool");
    assert_eq!(got.change, Change::Allocated);
    // Reconciling again (status now written) keeps it.
    let again = a.assign(&parsed.request, &got.ips).unwrap();
    assert_eq!((again.ips, again.change), (got.ips, Change::Kept));
    let stats = a.pool_stats("ipaddresspool").unwrap();
    assert_eq!((stats.assigned_v4, stats.available_v4), (1, 50));
}

/// kind-l2-pool.yaml: svc1, svc2, svc3 get .200, .201, .202; re-creating one gets its IP back.
#[test]
fn kind_l2_pool_three_services_consecutive() {
    let pools = PoolSet::parse(&[PoolSpec::new(
        "my-ippool",
        ["172.18.255.200-172.18.255.250"],
    )])
    .unwrap();
    let mut a = Allocator::new(pools);
    let got: Vec<IpAddr> = ["svc1", "svc2", "svc3"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            assign(
                &mut a,
                &exposed("default", n, &format!("10.96.0.{}", i + 10)),
            )[0]
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ip("172.18.255.200"),
            ip("172.18.255.201"),
            ip("172.18.255.202")
        ]
    );
    // Delete and re-create svc2: the freed address is reused.
    a.release("default/svc2");
    assert_eq!(
        assign(&mut a, &exposed("default", "svc2", "10.96.0.20")),
        vec![ip("172.18.255.201")]
    );
}

/// legacy-configmap-book.yaml: two exposed deployments get .11 and .12, a third .13.
#[test]
fn legacy_configmap_book_three_addresses() {
    let pools = PoolSet::parse(&[PoolSpec::new(
        "nginx-ip-range",
        ["192.168.1.11-192.168.1.13"],
    )])
    .unwrap();
    let mut a = Allocator::new(pools);
    assert_eq!(
        assign(&mut a, &exposed("default", "lb-hname-pods", "10.96.0.11")),
        vec![ip("192.168.1.11")]
    );
    assert_eq!(
        assign(&mut a, &exposed("default", "lb-ip-pods", "10.96.0.12")),
        vec![ip("192.168.1.12")]
    );
    assert_eq!(
        assign(&mut a, &exposed("default", "third", "10.96.0.13")),
        vec![ip("192.168.1.13")]
    );
    // The pool is exhausted: a fourth gets a clear error and stays pending.
    let fourth = parse_service(&exposed("default", "fourth", "10.96.0.14")).unwrap();
    let err = a.assign(&fourth.request, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no available IPs (tried pools nginx-ip-range)"
    );
}

/// legacy-configmap-kubeflow.yaml: Services switched to LoadBalancer with
/// `loadBalancerIP: 192.168.35.100..103` get exactly those; one without gets the next free.
#[test]
fn legacy_configmap_kubeflow_requested_ips_honoured() {
    let pools =
        PoolSet::parse(&[PoolSpec::new("default", ["192.168.35.100-192.168.35.110"])]).unwrap();
    let mut a = Allocator::new(pools);
    let wanted = [
        ("istio-system", "istio-ingressgateway", "192.168.35.100"),
        ("kubeflow", "minio-service", "192.168.35.101"),
        ("mlflow-system", "mlflow-service", "192.168.35.102"),
        ("monitoring", "grafana", "192.168.35.103"),
    ];
    // Requested in reverse order, to show the request (not arrival order) decides.
    for (i, (ns, name, want)) in wanted.iter().enumerate().rev() {
        let mut svc = exposed(ns, name, &format!("10.96.1.{i}"));
        svc.load_balancer_ip = Some((*want).into());
        assert_eq!(assign(&mut a, &svc), vec![ip(want)], "{ns}/{name}");
    }
    assert_eq!(
        assign(&mut a, &exposed("kubeflow", "other", "10.96.2.1")),
        vec![ip("192.168.35.104")]
    );
    // minio as in the YAML (selector, port 9000) after a restart: its status IP is restored.
    let mut minio = exposed("kubeflow", "minio-service", "10.96.1.1");
    minio.load_balancer_ip = Some("192.168.35.101".into());
    minio.ports = vec![PortView {
        protocol: Some("TCP".into()),
        port: 9000,
    }];
    let req = parse_service(&minio).unwrap().request;
    let mut restarted = Allocator::new(a.pools().clone());
    assert!(
        restarted
            .rebuild([(req.clone(), vec![ip("192.168.35.101")])])
            .is_empty()
    );
    assert_eq!(
        restarted
            .assign(&req, &[ip("192.168.35.101")])
            .unwrap()
            .change,
        Change::Kept
    );
}

/// A legacy address-pool annotation on a Service still selects the pool, and is flagged.
#[test]
fn legacy_address_pool_annotation() {
    let pools = PoolSet::parse(&[
        PoolSpec::new("default", ["192.168.35.100-192.168.35.110"]),
        PoolSpec::new("reserved", ["192.168.36.0/30"]).auto_assign(false),
    ])
    .unwrap();
    let mut a = Allocator::new(pools);
    let mut svc = exposed("kubeflow", "x", "10.96.3.1");
    svc.annotations
        .insert("metallb.universe.tf/address-pool".into(), "reserved".into());
    let parsed = parse_service(&svc).unwrap();
    assert!(parsed.uses_deprecated_annotation());
    let got = a.assign(&parsed.request, &[]).unwrap();
    assert_eq!(
        (got.ips, got.pool.as_str()),
        (vec![ip("192.168.36.0")], "reserved")
    );
}
