use super::decide::Announcement;
use super::*;
use ferrolb_l2::owner::Interfaces;
use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition, NodeStatus, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointConditions;
use serde_json::json;

fn node(name: &str, ip: &str, labels: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMetaLite::meta(name, None, labels),
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            }]),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

struct ObjectMetaLite;
impl ObjectMetaLite {
    fn meta(
        name: &str,
        ns: Option<&str>,
        labels: &[(&str, &str)],
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(Into::into),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }
}

fn service(name: &str, ip: &str, etp: &str, class: Option<&str>) -> Service {
    Service {
        metadata: ObjectMetaLite::meta(name, Some("ns"), &[("app", name)]),
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            external_traffic_policy: Some(etp.into()),
            load_balancer_class: class.map(Into::into),
            ..ServiceSpec::default()
        }),
        status: serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": ip}]}}))
            .expect("status"),
    }
}

fn slice(svc: &str, eps: &[(&str, Option<bool>)]) -> Slice {
    Slice {
        metadata: ObjectMetaLite::meta(
            &format!("{svc}-x"),
            Some("ns"),
            &[("kubernetes.io/service-name", svc)],
        ),
        endpoints: eps
            .iter()
            .map(|(n, ready)| SliceEndpoint {
                node_name: Some(n.to_string()),
                conditions: Some(EndpointConditions {
                    ready: *ready,
                    ..EndpointConditions::default()
                }),
            })
            .collect(),
        service: None,
    }
}

fn pool(name: &str, addr: &str) -> IPAddressPool {
    serde_json::from_value(json!({
        "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "metallb-system", "labels": {"p": name}},
        "spec": {"addresses": [addr]},
    }))
    .expect("pool")
}

fn ad(name: &str, spec: serde_json::Value) -> L2Advertisement {
    serde_json::from_value(json!({
        "apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": "metallb-system"},
        "spec": spec,
    }))
    .expect("ad")
}

struct World {
    services: Vec<Service>,
    slices: Vec<Slice>,
    nodes: Vec<Node>,
    pools: Vec<IPAddressPool>,
    ads: Vec<L2Advertisement>,
}

impl World {
    fn new() -> Self {
        World {
            services: vec![service("web", "172.18.255.200", "Cluster", None)],
            slices: vec![slice("web", &[("node-2", None)])],
            nodes: (1..=3)
                .map(|i| node(&format!("node-{i}"), &format!("172.18.0.2{i}"), &[]))
                .collect(),
            pools: vec![pool("p1", "172.18.255.200-172.18.255.250")],
            ads: vec![ad("a", json!({}))],
        }
    }

    fn plan(&self, class: Option<&str>) -> Plan {
        self.plan_after(class, &Plan::default())
    }

    fn plan_after(&self, class: Option<&str>, last: &Plan) -> Plan {
        let services: Vec<&Service> = self.services.iter().collect();
        let slices: Vec<&Slice> = self.slices.iter().collect();
        let nodes: Vec<&Node> = self.nodes.iter().collect();
        let pools: Vec<&IPAddressPool> = self.pools.iter().collect();
        let ads: Vec<&L2Advertisement> = self.ads.iter().collect();
        build(&Inputs {
            services: &services,
            slices: &slices,
            nodes: &nodes,
            pools: &pools,
            ads: &ads,
            lb_class: class,
            last_pools: &last.pools,
            bgp: Default::default(),
        })
    }
}

fn all_alive() -> BTreeSet<&'static str> {
    BTreeSet::from(["node-1", "node-2", "node-3"])
}

fn winners(plan: &Plan, alive: &BTreeSet<&str>) -> Vec<String> {
    let ifs = BTreeSet::from(["eth0".to_string()]);
    ["node-1", "node-2", "node-3"]
        .iter()
        .filter(|n| alive.contains(*n))
        .filter(|n| !decide(plan, n, alive, &ifs, false).announce.is_empty())
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn exactly_one_node_announces_the_election_winner() {
    let plan = World::new().plan(None);
    assert_eq!(plan.services.len(), 1);
    let ip: IpAddr = "172.18.255.200".parse().expect("ip");
    let names = ["node-1", "node-2", "node-3"];
    let expected = ferrolb_l2::election::elect(
        ip,
        TrafficPolicy::Cluster,
        names.iter().map(|n| ferrolb_l2::NodeCandidate::eligible(n)),
    )
    .expect("winner");
    assert_eq!(winners(&plan, &all_alive()), vec![expected.to_string()]);
    // The winner dies: exactly one other node takes over.
    let alive: BTreeSet<&str> = all_alive().into_iter().filter(|n| *n != expected).collect();
    let w = winners(&plan, &alive);
    assert_eq!(w.len(), 1);
    assert_ne!(w[0], expected);
}

#[test]
fn no_serving_endpoint_means_nobody_announces() {
    let mut w = World::new();
    w.slices = vec![slice("web", &[("node-2", Some(false))])];
    assert!(winners(&w.plan(None), &all_alive()).is_empty());
    w.slices.clear();
    assert!(winners(&w.plan(None), &all_alive()).is_empty());
}

#[test]
fn local_traffic_policy_announces_from_an_endpoint_node() {
    let mut w = World::new();
    w.services = vec![service("web", "172.18.255.200", "Local", None)];
    for ep in ["node-1", "node-2", "node-3"] {
        w.slices = vec![slice("web", &[(ep, Some(true))])];
        assert_eq!(winners(&w.plan(None), &all_alive()), vec![ep.to_string()]);
    }
}

#[test]
fn lb_class_filter() {
    let mut w = World::new();
    w.services = vec![service("web", "172.18.255.200", "Cluster", Some("other"))];
    assert!(w.plan(None).services.is_empty());
    assert_eq!(w.plan(Some("other")).services.len(), 1);
}

#[test]
fn advertisement_pool_and_service_selection() {
    let mut w = World::new();
    w.ads = vec![ad("a", json!({"ipAddressPools": ["other"]}))];
    assert!(w.plan(None).services.is_empty());
    w.ads = vec![ad(
        "a",
        json!({"ipAddressPoolSelectors": [{"matchLabels": {"p": "p1"}}]}),
    )];
    assert_eq!(w.plan(None).services.len(), 1);
    w.ads = vec![ad(
        "a",
        json!({"serviceSelectors": [{"matchLabels": {"app": "nope"}}]}),
    )];
    assert!(w.plan(None).services.is_empty());
    w.ads = vec![];
    assert!(w.plan(None).services.is_empty());
}

#[test]
fn node_selectors_and_exclusions() {
    let mut w = World::new();
    w.nodes[0] = node("node-1", "172.18.0.21", &[("role", "lb")]);
    w.ads = vec![ad(
        "a",
        json!({"nodeSelectors": [{"matchLabels": {"role": "lb"}}]}),
    )];
    assert_eq!(
        winners(&w.plan(None), &all_alive()),
        vec!["node-1".to_string()]
    );
    w.nodes[0] = node(
        "node-1",
        "172.18.0.21",
        &[("role", "lb"), (names::LABEL_EXCLUDE_FROM_LB, "")],
    );
    assert!(winners(&w.plan(None), &all_alive()).is_empty());
    // --ignore-exclude-lb
    let plan = w.plan(None);
    let ifs = BTreeSet::from(["eth0".to_string()]);
    assert_eq!(
        decide(&plan, "node-1", &all_alive(), &ifs, true)
            .announce
            .len(),
        1
    );
    // NetworkUnavailable
    let mut n = node("node-1", "172.18.0.21", &[("role", "lb")]);
    if let Some(s) = n.status.as_mut() {
        s.conditions = Some(vec![NodeCondition {
            type_: "NetworkUnavailable".into(),
            status: "True".into(),
            ..NodeCondition::default()
        }]);
    }
    w.nodes[0] = n;
    assert!(winners(&w.plan(None), &all_alive()).is_empty());
}

#[test]
fn preferred_node_selectors_win() {
    let mut w = World::new();
    w.nodes[2] = node("node-3", "172.18.0.23", &[("fast", "yes")]);
    w.ads = vec![ad(
        "a",
        json!({"preferredNodeSelectors": [{"weight": 50, "preference": {"matchLabels": {"fast": "yes"}}}]}),
    )];
    assert_eq!(
        winners(&w.plan(None), &all_alive()),
        vec!["node-3".to_string()]
    );
}

#[test]
fn interfaces_and_announce_failed() {
    let mut w = World::new();
    w.ads = vec![ad("a", json!({"interfaces": ["eth9"]}))];
    let plan = w.plan(None);
    let winner = winners(&World::new().plan(None), &all_alive())[0].clone();
    let here = BTreeSet::from(["eth0".to_string()]);
    let d = decide(&plan, &winner, &all_alive(), &here, false);
    assert!(d.announce.is_empty());
    assert_eq!(d.failed.len(), 1);
    let here = BTreeSet::from(["eth0".to_string(), "eth9".to_string()]);
    let d = decide(&plan, &winner, &all_alive(), &here, false);
    assert_eq!(
        d.announce[0].interfaces,
        Interfaces::Named(BTreeSet::from(["eth9".to_string()]))
    );
}

#[test]
fn shared_ip_with_service_selector_is_not_announced() {
    let mut w = World::new();
    if let Some(a) = w.services[0].metadata.annotations.as_mut() {
        a.insert("metallb.io/allow-shared-ip".into(), "k".into());
    } else {
        w.services[0].metadata.annotations = Some(BTreeMap::from([(
            "metallb.io/allow-shared-ip".to_string(),
            "k".to_string(),
        )]));
    }
    w.ads = vec![ad(
        "a",
        json!({"serviceSelectors": [{"matchLabels": {"app": "web"}}]}),
    )];
    assert!(winners(&w.plan(None), &all_alive()).is_empty());
}

#[test]
fn shared_ips_merge_interfaces() {
    let d = Decisions {
        announce: vec![
            Announcement {
                service: ServiceKey::new("a", "x"),
                uid: None,
                ips: vec!["10.0.0.1".parse().expect("ip")],
                interfaces: Interfaces::Named(BTreeSet::from(["eth0".to_string()])),
            },
            Announcement {
                service: ServiceKey::new("a", "y"),
                uid: None,
                ips: vec!["10.0.0.1".parse().expect("ip")],
                interfaces: Interfaces::Named(BTreeSet::from(["eth1".to_string()])),
            },
        ],
        ..Decisions::default()
    };
    let want = d.desired();
    assert_eq!(want.len(), 1);
    assert!(want[0].1.contains("eth0") && want[0].1.contains("eth1"));
}

#[test]
fn released_decisions_announce_nothing_and_keep_reports() {
    let ip: IpAddr = "10.0.0.1".parse().expect("ip");
    let d = Decisions {
        announce: vec![Announcement {
            service: ServiceKey::new("a", "x"),
            uid: None,
            ips: vec![ip],
            interfaces: Interfaces::All,
        }],
        failed: vec![(ServiceKey::new("a", "f"), None, ip)],
        not_allowed: vec![NotAllowed {
            service: ServiceKey::new("a", "n"),
            uid: None,
            ips: vec![ip],
        }],
    };
    let r = d.released();
    assert!(r.announce.is_empty() && r.desired().is_empty());
    assert!(r.failed.is_empty());
    assert_eq!(r.not_allowed, d.not_allowed);
    assert_ne!(r, d, "a change the status writer is woken for");
}

#[test]
fn node_plan_reads_internal_ips_and_labels() {
    let n = node_plan(&node(
        "node-1",
        "172.18.0.21",
        &[(names::LABEL_EXCLUDE_FROM_LB, "")],
    ));
    assert!(n.exclude_label);
    assert_eq!(
        n.internal_ips,
        vec!["172.18.0.21".parse::<IpAddr>().expect("ip")]
    );
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().expect("ip")).collect()
}

fn set_ingress(svc: &mut Service, list: &[&str]) {
    let ingress: Vec<serde_json::Value> = list.iter().map(|ip| json!({"ip": ip})).collect();
    svc.status =
        serde_json::from_value(json!({"loadBalancer": {"ingress": ingress}})).expect("status");
}

#[test]
fn an_ip_written_by_another_load_balancer_is_never_announced() {
    // k3s' ServiceLB writes node IPs into status.loadBalancer.ingress.
    let mut w = World::new();
    set_ingress(&mut w.services[0], &["172.18.0.21"]);
    let plan = w.plan(None);
    assert!(plan.services.is_empty());
    assert_eq!(plan.not_allowed.len(), 1);
    assert_eq!(plan.not_allowed[0].service, ServiceKey::new("ns", "web"));
    assert_eq!(plan.not_allowed[0].ips, ips(&["172.18.0.21"]));
    assert!(winners(&plan, &all_alive()).is_empty());
}

#[test]
fn every_ingress_ip_must_be_in_the_pool() {
    // One IP of ours plus one another implementation appended: the whole Service is withheld
    // (MetalLB's speaker `poolFor` takes every IP), else the winner would answer for the
    // foreign IP too.
    let mut w = World::new();
    set_ingress(&mut w.services[0], &["172.18.255.200", "192.168.1.5"]);
    let plan = w.plan(None);
    assert!(plan.services.is_empty(), "{:?}", plan.services);
    assert_eq!(
        plan.not_allowed[0].ips,
        ips(&["172.18.255.200", "192.168.1.5"])
    );
    assert!(winners(&plan, &all_alive()).is_empty());
    // Dual-stack from one pool is fine.
    w.pools = vec![pool("p1", "172.18.255.200-172.18.255.250")];
    w.pools[0].spec.addresses.push("fc00::/120".into());
    set_ingress(&mut w.services[0], &["172.18.255.200", "fc00::7"]);
    let plan = w.plan(None);
    assert_eq!(plan.services[0].ips, ips(&["172.18.255.200", "fc00::7"]));
    assert!(plan.not_allowed.is_empty());
}

#[test]
fn the_pool_annotation_does_not_admit_an_ip_outside_the_pool() {
    let mut w = World::new();
    set_ingress(&mut w.services[0], &["10.9.9.9"]);
    w.services[0].metadata.annotations = Some(BTreeMap::from([(
        "metallb.io/ip-allocated-from-pool".to_string(),
        "p1".to_string(),
    )]));
    let plan = w.plan(None);
    assert!(plan.services.is_empty());
    assert_eq!(plan.not_allowed.len(), 1);
    // The annotation still picks the pool among overlapping ones (its ads apply).
    w.pools.push(pool("p0", "172.18.255.0/24"));
    w.ads = vec![ad("a", json!({"ipAddressPools": ["p1"]}))];
    set_ingress(&mut w.services[0], &["172.18.255.200"]);
    assert_eq!(w.plan(None).services.len(), 1, "annotated pool p1 chosen");
    w.services[0].metadata.annotations = None;
    assert!(
        w.plan(None).services.is_empty(),
        "without it the first pool by name (p0) has no ad"
    );
}

#[test]
fn avoid_buggy_ips_are_not_in_the_pool() {
    let mut w = World::new();
    w.pools = vec![pool("p1", "172.18.255.0/24")];
    w.pools[0].spec.avoid_buggy_ips = Some(true);
    set_ingress(&mut w.services[0], &["172.18.255.255"]);
    let plan = w.plan(None);
    assert!(
        plan.services.is_empty(),
        "the allocator never hands out .255"
    );
    assert_eq!(plan.not_allowed.len(), 1);
    set_ingress(&mut w.services[0], &["172.18.255.254"]);
    assert_eq!(w.plan(None).services.len(), 1);
    w.pools[0].spec.avoid_buggy_ips = None;
    set_ingress(&mut w.services[0], &["172.18.255.255"]);
    assert_eq!(
        w.plan(None).services.len(),
        1,
        "without avoidBuggyIPs it is"
    );
}

#[test]
fn pool_entries_the_allocator_rejects_are_rejected() {
    // A bare IP and a padded CIDR are not valid `addresses` (MetalLB and ferrolb-core reject
    // them); the speaker used to accept both.
    for entry in ["172.18.255.200", " 172.18.255.200/32"] {
        let mut w = World::new();
        w.pools = vec![pool("p1", entry)];
        let plan = w.plan(None);
        assert!(plan.services.is_empty(), "{entry:?} accepted");
        assert!(
            plan.errors.iter().any(|e| e.contains("p1")),
            "{entry:?}: {:?}",
            plan.errors
        );
    }
}

#[test]
fn an_invalid_pool_edit_keeps_the_last_valid_version() {
    let mut w = World::new();
    let good = w.plan(None);
    assert_eq!(good.services.len(), 1);
    w.pools = vec![pool("p1", "172.18.255.200-")];
    let bad = w.plan_after(None, &good);
    assert_eq!(bad.services, good.services, "still announced");
    assert_eq!(bad.pools, good.pools);
    assert!(
        bad.errors.iter().any(|e| e.contains("p1")),
        "{:?}",
        bad.errors
    );
    // A pool that was never valid announces nothing.
    assert!(w.plan(None).services.is_empty());
    // Deleting the pool drops it.
    w.pools.clear();
    assert!(w.plan_after(None, &good).pools.is_empty());
}

#[test]
fn one_live_node_reports_an_unannounceable_service() {
    let mut w = World::new();
    set_ingress(&mut w.services[0], &["172.18.0.21"]);
    let plan = w.plan(None);
    let ifs = BTreeSet::from(["eth0".to_string()]);
    let reporters = |alive: &BTreeSet<&str>| -> Vec<&str> {
        ["node-1", "node-2", "node-3"]
            .into_iter()
            .filter(|n| !decide(&plan, n, alive, &ifs, false).not_allowed.is_empty())
            .collect()
    };
    assert_eq!(reporters(&all_alive()), ["node-1"]);
    let alive = BTreeSet::from(["node-2", "node-3"]);
    assert_eq!(reporters(&alive), ["node-2"], "node-1 is dead");
}
