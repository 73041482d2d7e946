//! The BGP half of the plan from Kubernetes objects, through the one conversion and
//! `ferrolb_bgp::announce`.

use std::net::IpAddr;

use crate::slim::Slice;
use ferrolb_api::v1beta1::{IPAddressPool, L2Advertisement};
use ferrolb_bgp::announce::{NotAnnounced, ServiceDecision};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, Service};
use serde_json::{Value, json};

use super::*;
use crate::plan::{Inputs, Plan, build};

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("object")
}

fn service(name: &str, ip: &str, etp: &str) -> Service {
    obj(json!({
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": name}},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": etp},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}
    }))
}

fn slice(svc: &str, nodes: &[&str]) -> Slice {
    obj(json!({
        "metadata": {"name": format!("{svc}-x"), "namespace": "ns",
            "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": nodes.iter().map(|n| json!({"addresses": ["10.0.0.1"], "nodeName": n,
            "conditions": {"ready": true}})).collect::<Vec<_>>()
    }))
}

struct World {
    services: Vec<Service>,
    slices: Vec<Slice>,
    nodes: Vec<Node>,
    pools: Vec<IPAddressPool>,
    l2ads: Vec<L2Advertisement>,
    peers: Vec<BGPPeer>,
    ads: Vec<BGPAdvertisement>,
    communities: Vec<Community>,
    secrets: Vec<Secret>,
}

impl World {
    fn new() -> Self {
        World {
            services: vec![
                service("web", "172.18.255.200", "Cluster"),
                service("local", "172.18.255.201", "Local"),
                service("outside", "10.1.1.1", "Cluster"),
            ],
            slices: vec![
                slice("web", &["n2"]),
                slice("local", &["n2"]),
                slice("outside", &["n1"]),
            ],
            nodes: ["n1", "n2"]
                .iter()
                .map(|n| obj(json!({"metadata": {"name": n, "labels": {"name": n}}})))
                .collect(),
            pools: vec![obj(
                json!({"metadata": {"name": "p1", "namespace": "metallb-system"},
                "spec": {"addresses": ["172.18.255.200-172.18.255.250"]}}),
            )],
            l2ads: vec![obj(
                json!({"metadata": {"name": "l2", "namespace": "metallb-system"},
                "spec": {"ipAddressPools": ["p1"]}}),
            )],
            peers: vec![obj(
                json!({"metadata": {"name": "frr", "namespace": "metallb-system"},
                "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "172.18.0.1"}}),
            )],
            ads: vec![obj(
                json!({"metadata": {"name": "bgp", "namespace": "metallb-system"},
                "spec": {"ipAddressPools": ["p1"], "communities": ["gold"]}}),
            )],
            communities: vec![obj(
                json!({"metadata": {"name": "c", "namespace": "metallb-system"},
                "spec": {"communities": [{"name": "gold", "value": "65000:1"}]}}),
            )],
            secrets: Vec::new(),
        }
    }

    fn plan_after(&self, last: &Plan) -> Plan {
        let services = refs(&self.services);
        let slices = refs(&self.slices);
        let nodes = refs(&self.nodes);
        let pools = refs(&self.pools);
        let l2ads = refs(&self.l2ads);
        let (peers, ads, communities, secrets) = (
            self.peers.iter().collect::<Vec<_>>(),
            self.ads.iter().collect::<Vec<_>>(),
            self.communities.iter().collect::<Vec<_>>(),
            self.secrets.iter().collect::<Vec<_>>(),
        );
        build(&Inputs {
            services: &services,
            slices: &slices,
            nodes: &nodes,
            pools: &pools,
            ads: &l2ads,
            lb_class: None,
            last_pools: &last.pools,
            bgp: BgpObjects {
                peers: &peers,
                ads: &ads,
                communities: &communities,
                secrets: &secrets,
                bfd_profiles: &[],
                last: Some(&last.bgp),
            },
        })
    }

    fn plan(&self) -> Plan {
        self.plan_after(&Plan::default())
    }
}

fn refs<T>(v: &[T]) -> Vec<&T> {
    v.iter().collect()
}

fn prefix(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

#[test]
fn services_in_a_pool_are_announced_from_every_node_with_aliased_communities() {
    let plan = World::new().plan();
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(plan.bgp.peers.len(), 1);
    assert_eq!(
        plan.bgp.services.keys().collect::<Vec<_>>(),
        vec!["ns/local", "ns/web"],
        "the Service outside every pool is not a BGP candidate"
    );
    for n in ["n1", "n2"] {
        let a = plan.bgp.announce(plan.nodes.get(n), false);
        let routes = &a.routes["frr"];
        let web = &routes[&prefix("172.18.255.200/32")];
        assert_eq!(web.communities.len(), 1, "alias gold resolved");
        assert_eq!(
            routes.contains_key(&prefix("172.18.255.201/32")),
            n == "n2",
            "ETP=Local only from the endpoint's node ({n})"
        );
    }
    let a = plan.bgp.announce(plan.nodes.get("n1"), false);
    assert_eq!(
        a.services["ns/local"],
        ServiceDecision::Skip(NotAnnounced::NoLocalEndpoints)
    );
    assert!(
        plan.bgp.announce(None, false).routes.is_empty(),
        "no Node object: no peers"
    );
}

#[test]
fn l2_and_bgp_on_the_same_pool_both_announce() {
    let plan = World::new().plan();
    assert_eq!(plan.services.len(), 2, "L2 plan has both Services");
    let a = plan.bgp.announce(plan.nodes.get("n2"), false);
    assert_eq!(a.routes["frr"].len(), 2);
}

#[test]
fn no_endpoints_withdraws_and_an_unselected_node_has_no_peer() {
    let mut w = World::new();
    w.slices.clear();
    let plan = w.plan();
    let a = plan.bgp.announce(plan.nodes.get("n1"), false);
    assert!(a.routes["frr"].is_empty());
    assert_eq!(
        a.services["ns/web"],
        ServiceDecision::Skip(NotAnnounced::NoEndpoints)
    );

    let mut w = World::new();
    w.peers[0].spec.node_selectors = vec![obj(json!({"matchLabels": {"name": "n2"}}))];
    let plan = w.plan();
    assert!(
        plan.bgp
            .announce(plan.nodes.get("n1"), false)
            .routes
            .is_empty()
    );
    assert_eq!(
        plan.bgp.announce(plan.nodes.get("n2"), false).routes.len(),
        1
    );
}

#[test]
fn invalid_peers_and_advertisements_keep_their_last_good_version() {
    let w = World::new();
    let good = w.plan();
    let mut bad = World::new();
    bad.peers[0].spec.hold_time = Some("1s".into());
    bad.ads[0].spec.communities = vec!["missing-alias".into()];
    let plan = bad.plan_after(&good);
    assert_eq!(plan.errors.len(), 2, "{:?}", plan.errors);
    assert!(
        plan.errors[0].starts_with("BGPPeer \"frr\": spec.holdTime"),
        "{:?}",
        plan.errors
    );
    assert!(
        plan.errors[1].starts_with("BGPAdvertisement \"bgp\""),
        "{:?}",
        plan.errors
    );
    assert_eq!(plan.bgp.peers, good.bgp.peers);
    assert_eq!(plan.bgp.advertisements, good.bgp.advertisements);
    // Without a last good version, the invalid peer is simply absent.
    let fresh = bad.plan();
    assert!(fresh.bgp.peers.is_empty());
}

#[test]
fn password_secret_is_resolved_and_a_missing_one_is_an_error() {
    let mut w = World::new();
    w.peers[0].spec.password_secret =
        Some(obj(json!({"name": "pw", "namespace": "metallb-system"})));
    let plan = w.plan();
    assert!(plan.bgp.peers.is_empty());
    assert!(
        plan.errors[0].contains("Secret \"pw\" not found"),
        "{:?}",
        plan.errors
    );
    w.secrets.push(obj(
        json!({"metadata": {"name": "pw", "namespace": "metallb-system"},
        "type": "kubernetes.io/basic-auth", "data": {"password": "czNjcmV0"}}),
    ));
    let plan = w.plan();
    assert_eq!(plan.bgp.peers[0].password.as_deref(), Some("s3cret"));
    let _: IpAddr = plan.bgp.peers[0].address;
}

#[test]
fn without_bgp_objects_nothing_is_computed() {
    let mut w = World::new();
    w.peers.clear();
    let plan = w.plan();
    assert!(plan.bgp.services.is_empty() && plan.bgp.peers.is_empty());
}
