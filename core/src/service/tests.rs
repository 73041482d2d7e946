//! Tests of the parent module.

use super::*;

fn svc() -> ServiceView {
    ServiceView {
        namespace: "default".into(),
        name: "web".into(),
        service_type: "LoadBalancer".into(),
        cluster_ips: vec!["10.96.0.10".into()],
        ports: vec![PortView {
            protocol: None,
            port: 80,
        }],
        ..Default::default()
    }
}

fn with_ann(mut s: ServiceView, k: &str, v: &str) -> ServiceView {
    s.annotations.insert(k.into(), v.into());
    s
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn plain_service() {
    let p = parse_service(&svc()).unwrap();
    let r = p.request;
    assert_eq!(r.key, "default/web");
    assert_eq!(r.ip_families, vec![IpFamily::V4]);
    assert_eq!(r.ip_family_policy, IpFamilyPolicy::SingleStack);
    assert_eq!(r.ports, vec![ServicePort::tcp(80)]);
    assert!(r.requested_ips.is_empty());
    assert_eq!(r.requested_pool, None);
    assert_eq!(r.sharing_key, None);
    assert_eq!(r.backend_key, "");
    assert!(!p.deprecated_annotations.iter().any(|_| true));
}

#[test]
fn handled_services() {
    assert!(is_handled(&svc(), None));
    let mut s = svc();
    s.service_type = "ClusterIP".into();
    assert!(!is_handled(&s, None));
    let mut s = svc();
    s.load_balancer_class = Some("other".into());
    assert!(!is_handled(&s, None));
    assert!(is_handled(&s, Some("other")));
    assert!(!is_handled(&svc(), Some("other")));
}

#[test]
fn stable_annotations() {
    let s = with_ann(svc(), ANNOTATION_LOAD_BALANCER_IPS, "10.0.0.1, fd00::1");
    let s = with_ann(s, ANNOTATION_ADDRESS_POOL, "blue");
    let s = with_ann(s, ANNOTATION_ALLOW_SHARED_IP, "k1");
    let p = parse_service(&s).unwrap();
    assert_eq!(p.request.requested_ips, vec![ip("10.0.0.1"), ip("fd00::1")]);
    assert_eq!(p.request.requested_pool.as_deref(), Some("blue"));
    assert_eq!(p.request.sharing_key.as_deref(), Some("k1"));
    assert!(!p.uses_deprecated_annotation());
}

#[test]
fn legacy_annotations_are_honoured_and_flagged() {
    let s = with_ann(svc(), "metallb.universe.tf/address-pool", "old");
    let s = with_ann(s, "metallb.universe.tf/allow-shared-ip", "k");
    let s = with_ann(s, "metallb.universe.tf/loadBalancerIPs", "10.0.0.9");
    let p = parse_service(&s).unwrap();
    assert_eq!(p.request.requested_pool.as_deref(), Some("old"));
    assert_eq!(p.request.sharing_key.as_deref(), Some("k"));
    assert_eq!(p.request.requested_ips, vec![ip("10.0.0.9")]);
    assert!(p.uses_deprecated_annotation());
    assert_eq!(p.deprecated_annotations.len(), 3);
}

#[test]
fn stable_key_shadows_legacy_even_when_empty() {
    let s = with_ann(svc(), "metallb.universe.tf/address-pool", "old");
    let s = with_ann(s, ANNOTATION_ADDRESS_POOL, "new");
    assert_eq!(
        parse_service(&s).unwrap().request.requested_pool.as_deref(),
        Some("new")
    );
    let s = with_ann(svc(), "metallb.universe.tf/allow-shared-ip", "k");
    let s = with_ann(s, ANNOTATION_ALLOW_SHARED_IP, "");
    let p = parse_service(&s).unwrap();
    assert_eq!(p.request.sharing_key, None);
    assert!(p.uses_deprecated_annotation());
}

#[test]
fn spec_load_balancer_ip() {
    let mut s = svc();
    s.load_balancer_ip = Some("192.168.35.101".into());
    assert_eq!(
        parse_service(&s).unwrap().request.requested_ips,
        vec![ip("192.168.35.101")]
    );
    s.load_balancer_ip = Some("192.168.35.999".into());
    assert_eq!(
        parse_service(&s).unwrap_err().to_string(),
        "invalid spec.loadBalancerIP \"192.168.35.999\""
    );
    let mut s = with_ann(svc(), ANNOTATION_LOAD_BALANCER_IPS, "10.0.0.1");
    s.load_balancer_ip = Some("10.0.0.1".into());
    assert_eq!(
        parse_service(&s).unwrap_err().to_string(),
        "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP"
    );
}

#[test]
fn malformed_load_balancer_ips() {
    for (v, want) in [
        (
            "10.0.0.x",
            "invalid metallb.io/loadBalancerIPs: \"10.0.0.x\"",
        ),
        (
            "10.0.0.1,",
            "invalid metallb.io/loadBalancerIPs: \"10.0.0.1,\"",
        ),
        (
            "10.0.0.1,fd00::1,10.0.0.2",
            "more than two addresses requested: \"10.0.0.1,fd00::1,10.0.0.2\"",
        ),
        (
            "10.0.0.1,10.0.0.2",
            "\"10.0.0.1\" \"10.0.0.2\" has the same family",
        ),
    ] {
        let s = with_ann(svc(), ANNOTATION_LOAD_BALANCER_IPS, v);
        assert_eq!(parse_service(&s).unwrap_err().to_string(), want, "{v}");
    }
    let s = with_ann(svc(), "metallb.universe.tf/loadBalancerIPs", "bad");
    assert_eq!(
        parse_service(&s).unwrap_err().to_string(),
        "invalid metallb.universe.tf/loadBalancerIPs: \"bad\""
    );
}

#[test]
fn families_and_policy() {
    let mut s = svc();
    s.cluster_ips = vec!["fd00::10".into(), "10.96.0.10".into()];
    s.ip_family_policy = Some("PreferDualStack".into());
    let r = parse_service(&s).unwrap().request;
    assert_eq!(r.ip_families, vec![IpFamily::V6, IpFamily::V4]);
    assert_eq!(r.ip_family_policy, IpFamilyPolicy::PreferDualStack);
    s.ip_family_policy = Some("RequireDualStack".into());
    assert_eq!(
        parse_service(&s).unwrap().request.ip_family_policy,
        IpFamilyPolicy::RequireDualStack
    );
    s.ip_family_policy = Some("Bogus".into());
    assert!(matches!(
        parse_service(&s),
        Err(ServiceError::InvalidIpFamilyPolicy(_))
    ));
    let mut s = svc();
    s.cluster_ips = vec!["None".into()];
    assert!(parse_service(&s).unwrap().request.ip_families.is_empty());
    s.cluster_ips = vec!["nope".into()];
    assert!(matches!(
        parse_service(&s),
        Err(ServiceError::InvalidClusterIp(_))
    ));
}

#[test]
fn ports_and_backend_key() {
    let mut s = svc();
    s.ports = vec![
        PortView {
            protocol: Some("UDP".into()),
            port: 53,
        },
        PortView {
            protocol: Some("TCP".into()),
            port: 53,
        },
    ];
    s.selector = [
        ("b".to_owned(), "2".to_owned()),
        ("a".to_owned(), "1".to_owned()),
    ]
    .into_iter()
    .collect();
    let r = parse_service(&s).unwrap().request;
    assert_eq!(r.ports, vec![ServicePort::udp(53), ServicePort::tcp(53)]);
    assert_eq!(r.backend_key, "");
    s.external_traffic_policy = Some("Local".into());
    assert_eq!(parse_service(&s).unwrap().request.backend_key, "a=1,b=2");
    s.ports[0].protocol = Some("ICMP".into());
    assert!(matches!(
        parse_service(&s),
        Err(ServiceError::InvalidPort { .. })
    ));
    s.ports[0].protocol = None;
    s.ports[0].port = 70000;
    assert!(matches!(
        parse_service(&s),
        Err(ServiceError::InvalidPort { .. })
    ));
}
