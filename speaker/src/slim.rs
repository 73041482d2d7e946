//! What the speaker keeps of the cluster-wide objects it caches: exactly the fields
//! [`crate::plan::build`] reads, so a speaker's memory does not grow with data it never uses
//! (Pod IPs and target references of every endpoint, every Service's ports and selectors, the
//! container-image lists and capacity of every Node). Applied by the reflectors before an
//! object is stored (`ferrolb_kube::reflect_with`); `managedFields` and kubectl's
//! last-applied annotation are already gone (`ferrolb_kube::trim`).
//!
//! Kept, per kind (the plan's inputs):
//! - Service: name, namespace, uid, labels, the annotations of MetalLB's prefixes
//!   (`metallb.io/`, legacy `metallb.universe.tf/`: pool, sharing, addresses; other
//!   applications' annotations can be large and are never read),
//!   `spec.type`, `spec.loadBalancerClass`, `spec.externalTrafficPolicy`,
//!   `status.loadBalancer.ingress[].ip`;
//! - EndpointSlice: name, namespace, the `kubernetes.io/service-name` label's value, per endpoint
//!   `nodeName` and `conditions` (ready/serving). Slices are the most numerous objects (one or
//!   more per Service and address family), so they are not cached as k8s-openapi's
//!   `EndpointSlice` (about 330 bytes per endpoint before any string) but decoded straight from
//!   the API's JSON into [`Slice`] (a node name and three flags per endpoint);
//! - Node: name, labels, `spec.unschedulable`, `spec.taints[]` key+effect, `status.conditions[]`
//!   type+status, `status.addresses`;
//! - Secret (ferrolb's namespace, BGP mode only): name, namespace, `type` and the `password`
//!   key of `data` (a BGPPeer's `passwordSecret`); every other key (the heartbeat key, other
//!   applications' credentials) is dropped before it is cached.
//!
//! `resourceVersion` is kept on every object (the watcher's bookkeeping). The test proves the
//! plan is the same with and without slimming.

use ferrolb_api::names::{ANNOTATION_PREFIX, LEGACY_ANNOTATION_PREFIX};
use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, Node, NodeCondition, NodeSpec, NodeStatus, Secret,
    Service, ServiceSpec, ServiceStatus, Taint,
};
use k8s_openapi::api::discovery::v1::{EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;

use crate::plan::SLICE_SERVICE_LABEL;

/// The metadata every kind keeps.
fn meta(m: &mut ObjectMeta, keep_annotations: bool, keep_uid: bool) {
    *m = ObjectMeta {
        name: m.name.take(),
        namespace: m.namespace.take(),
        uid: if keep_uid { m.uid.take() } else { None },
        resource_version: m.resource_version.take(),
        labels: m.labels.take(),
        annotations: if keep_annotations {
            m.annotations.take()
        } else {
            None
        },
        ..ObjectMeta::default()
    };
}

/// Slims a Service to the plan's fields.
pub fn service(s: &mut Service) {
    meta(&mut s.metadata, true, true);
    if let Some(a) = s.metadata.annotations.as_mut() {
        a.retain(|k, _| {
            k.starts_with(ANNOTATION_PREFIX) || k.starts_with(LEGACY_ANNOTATION_PREFIX)
        });
    }
    if s.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.is_empty())
    {
        s.metadata.annotations = None;
    }
    s.spec = s.spec.take().map(|sp| ServiceSpec {
        type_: sp.type_,
        load_balancer_class: sp.load_balancer_class,
        external_traffic_policy: sp.external_traffic_policy,
        ..ServiceSpec::default()
    });
    s.status = s.status.take().map(|st| ServiceStatus {
        load_balancer: st.load_balancer.map(|lb| LoadBalancerStatus {
            ingress: lb.ingress.map(|v| {
                v.into_iter()
                    .map(|i| LoadBalancerIngress {
                        ip: i.ip,
                        ..LoadBalancerIngress::default()
                    })
                    .collect()
            }),
        }),
        conditions: None,
    });
}

/// An EndpointSlice as the speaker caches it: decoded from the API's JSON (list and watch
/// bodies of `discovery.k8s.io/v1` EndpointSlices) keeping only what the plan reads; every other
/// field is skipped by the decoder, never allocated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// The slice's metadata ([`slice`] keeps name, namespace, resourceVersion and the
    /// Service label).
    pub metadata: ObjectMeta,
    /// The endpoints (`null` from the API server when there are none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub endpoints: Vec<SliceEndpoint>,
    /// The `kubernetes.io/service-name` label, moved out of the label map by [`slice`] (a
    /// one-entry map costs a whole B-tree node, ~0.5 KB, per slice).
    #[serde(skip)]
    pub service: Option<String>,
}

impl Slice {
    /// The Service this slice belongs to (its `kubernetes.io/service-name` label).
    pub fn service_name(&self) -> Option<&str> {
        self.service.as_deref().or_else(|| {
            let labels = self.metadata.labels.as_ref()?;
            labels.get(SLICE_SERVICE_LABEL).map(String::as_str)
        })
    }
}

/// One endpoint of a [`Slice`]: where it runs and whether it serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceEndpoint {
    /// `nodeName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// `conditions` (ready, serving, terminating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<EndpointConditions>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Option::<Vec<T>>::deserialize(d).map(Option::unwrap_or_default)
}

/// The API coordinates are k8s-openapi's `EndpointSlice`'s.
impl kube::Resource for Slice {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        <EndpointSlice as kube::Resource>::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        <EndpointSlice as kube::Resource>::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        <EndpointSlice as kube::Resource>::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        <EndpointSlice as kube::Resource>::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Slims a [`Slice`]'s metadata to its name and namespace, its Service label moved to
/// [`Slice::service`].
pub fn slice(s: &mut Slice) {
    if let Some(mut labels) = s.metadata.labels.take() {
        s.service = labels.remove(SLICE_SERVICE_LABEL).or(s.service.take());
    }
    meta(&mut s.metadata, false, false);
}

/// Slims a Node to its name, labels, cordon and taint keys, condition states and addresses.
pub fn node(n: &mut Node) {
    meta(&mut n.metadata, false, false);
    n.spec = n.spec.take().and_then(|sp| {
        let spec = NodeSpec {
            unschedulable: sp.unschedulable.filter(|u| *u),
            taints: sp.taints.map(|ts| {
                ts.into_iter()
                    .map(|t| Taint {
                        key: t.key,
                        effect: t.effect,
                        ..Taint::default()
                    })
                    .collect()
            }),
            ..NodeSpec::default()
        };
        (spec != NodeSpec::default()).then_some(spec)
    });
    n.status = n.status.take().map(|st| NodeStatus {
        addresses: st.addresses,
        conditions: st.conditions.map(|cs| {
            cs.into_iter()
                .map(|c| NodeCondition {
                    type_: c.type_,
                    status: c.status,
                    ..NodeCondition::default()
                })
                .collect()
        }),
        ..NodeStatus::default()
    });
}

/// Slims a Secret to its type and `password` key.
pub fn secret(s: &mut Secret) {
    meta(&mut s.metadata, false, false);
    s.string_data = None;
    s.immutable = None;
    s.data = s.data.take().map(|mut d| {
        d.retain(|k, _| k == ferrolb_kube::convert::bgp::PASSWORD_KEY);
        d
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Inputs, build};
    use ferrolb_api::v1beta1::{IPAddressPool, L2Advertisement};
    use serde_json::json;

    /// Objects as a real API server returns them (shapes from kube-apiserver v1.36), with the
    /// fields the plan reads and plenty it does not.
    fn fixtures() -> (Vec<Service>, Vec<EndpointSlice>, Vec<Node>) {
        let svc = |name: &str, ip: &str, etp: &str, ty: &str| -> Service {
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "apps", "uid": format!("uid-{name}"),
                    "resourceVersion": "42", "labels": {"app": name, "tier": "web"},
                    "annotations": {"metallb.io/ip-allocated-from-pool": "prod",
                        "metallb.io/allow-shared-ip": "k", "other/annotation": "x"},
                    "creationTimestamp": "2026-11-25T00:00:00Z", "generation": 1},
                "spec": {"type": ty, "externalTrafficPolicy": etp,
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31000}],
                    "selector": {"app": name}, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                    "allocateLoadBalancerNodePorts": true, "internalTrafficPolicy": "Cluster"},
                "status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP",
                    "ports": [{"port": 80, "protocol": "TCP"}]}]},
                    "conditions": [{"type": "x", "status": "True", "reason": "r", "message": "m",
                        "lastTransitionTime": "2026-11-25T00:00:00Z"}]}
            }))
            .expect("service")
        };
        let eps = |svc: &str, nodes: &[(&str, bool)]| -> EndpointSlice {
            serde_json::from_value(json!({
                "metadata": {"name": format!("{svc}-abcde"), "namespace": "apps", "resourceVersion": "7",
                    "labels": {"kubernetes.io/service-name": svc, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                    "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-25T00:00:00Z"},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": svc, "uid": "u", "controller": true, "blockOwnerDeletion": true}],
                    "generateName": format!("{svc}-")},
                "addressType": "IPv4",
                "endpoints": nodes.iter().enumerate().map(|(i, (n, ready))| json!({
                    "addresses": [format!("10.244.1.{i}")],
                    "conditions": {"ready": ready, "serving": ready, "terminating": false},
                    "nodeName": n, "zone": "z1",
                    "targetRef": {"kind": "Pod", "namespace": "apps", "name": format!("{svc}-pod-{i}"), "uid": format!("p{i}")}
                })).collect::<Vec<_>>(),
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
            }))
            .expect("slice")
        };
        let node = |name: &str, ip: &str, unavailable: &str| -> Node {
            serde_json::from_value(json!({
                "metadata": {"name": name, "resourceVersion": "9", "uid": format!("n-{name}"),
                    "labels": {"kubernetes.io/hostname": name, "zone": "a"},
                    "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
                    "taints": [{"key": "k", "effect": "NoSchedule"}]},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                    "conditions": [
                        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
                         "lastHeartbeatTime": "2026-11-25T00:00:00Z", "lastTransitionTime": "2026-11-25T00:00:00Z"},
                        {"type": "NetworkUnavailable", "status": unavailable, "reason": "r", "message": "m"}],
                    "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                    "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                    "images": [{"names": ["registry.k8s.io/pause@sha256:0123456789abcdef", "registry.k8s.io/pause:3.10"], "sizeBytes": 320000}],
                    "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1",
                        "osImage": "Debian", "containerRuntimeVersion": "containerd://2", "kubeletVersion": "v1.36.3",
                        "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
                }
            }))
            .expect("node")
        };
        (
            vec![
                svc("a", "192.168.1.11", "Cluster", "LoadBalancer"),
                svc("b", "192.168.1.12", "Local", "LoadBalancer"),
                svc("c", "192.168.1.13", "Local", "ClusterIP"),
            ],
            vec![
                eps("a", &[("n1", true), ("n2", true)]),
                eps("b", &[("n2", true), ("n3", false)]),
            ],
            vec![
                node("n1", "10.0.0.1", "False"),
                node("n2", "10.0.0.2", "False"),
                node("n3", "10.0.0.3", "True"),
            ],
        )
    }

    /// `slices` decoded as the speaker's reflector decodes them.
    fn decoded(slices: &[EndpointSlice]) -> Vec<Slice> {
        let json = serde_json::to_value(slices).expect("serialize");
        serde_json::from_value(json).expect("decode as Slice")
    }

    fn plan(svcs: &[Service], slices: &[Slice], nodes: &[Node]) -> crate::plan::Plan {
        let pools: Vec<IPAddressPool> = vec![
            serde_json::from_value(json!({
                "metadata": {"name": "prod", "namespace": "metallb-system", "labels": {"env": "prod"}},
                "spec": {"addresses": ["192.168.1.10-192.168.1.20"]}
            }))
            .expect("pool"),
        ];
        let ads: Vec<L2Advertisement> = vec![
            serde_json::from_value(json!({
                "metadata": {"name": "l2", "namespace": "metallb-system"},
                "spec": {"ipAddressPools": ["prod"], "nodeSelectors": [{"matchLabels": {"zone": "a"}}]}
            }))
            .expect("ad"),
        ];
        build(&Inputs {
            services: &svcs.iter().collect::<Vec<_>>(),
            slices: &slices.iter().collect::<Vec<_>>(),
            nodes: &nodes.iter().collect::<Vec<_>>(),
            pools: &pools.iter().collect::<Vec<_>>(),
            ads: &ads.iter().collect::<Vec<_>>(),
            lb_class: None,
            last_pools: &Default::default(),
            bgp: Default::default(),
        })
    }

    fn size<T: serde::Serialize>(v: &[T]) -> usize {
        serde_json::to_vec(v).expect("serialize").len()
    }

    #[test]
    fn slimmed_objects_give_the_same_plan_and_are_smaller() {
        let (svcs, slices, nodes) = fixtures();
        let full = plan(&svcs, &decoded(&slices), &nodes);
        assert_eq!(
            full.services.len(),
            2,
            "the fixtures must exercise the plan"
        );
        assert!(full.errors.is_empty(), "{:?}", full.errors);

        let (mut s2, mut e2, mut n2) = (svcs.clone(), decoded(&slices), nodes.clone());
        s2.iter_mut().for_each(service);
        e2.iter_mut().for_each(slice);
        n2.iter_mut().for_each(node);
        assert_eq!(plan(&s2, &e2, &n2), full);

        assert!(
            size(&s2) * 2 < size(&svcs),
            "{} vs {}",
            size(&s2),
            size(&svcs)
        );
        assert!(
            size(&e2) * 2 < size(&slices),
            "{} vs {}",
            size(&e2),
            size(&slices)
        );
        assert!(
            size(&n2) * 3 < size(&nodes),
            "{} vs {}",
            size(&n2),
            size(&nodes)
        );
        // What the watcher and the plan need survives.
        assert_eq!(s2[0].metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(s2[0].metadata.uid.as_deref(), Some("uid-a"));
        assert_eq!(e2[1].endpoints[1].node_name.as_deref(), Some("n3"));
        assert_eq!(
            e2[1].endpoints[1].conditions.as_ref().and_then(|c| c.ready),
            Some(false)
        );
        assert!(n2[0].status.as_ref().is_some_and(|s| s.images.is_none()));
        // Only MetalLB's annotations and the slice's Service label are kept.
        let kept: Vec<&String> = s2[0]
            .metadata
            .annotations
            .as_ref()
            .expect("kept")
            .keys()
            .collect();
        assert_eq!(
            kept,
            [
                "metallb.io/allow-shared-ip",
                "metallb.io/ip-allocated-from-pool"
            ]
        );
        assert_eq!(e2[0].metadata.labels, None);
        assert_eq!(e2[0].service.as_deref(), Some("a"));
        assert_eq!(e2[0].service_name(), decoded(&slices)[0].service_name());
    }

    #[test]
    fn legacy_annotations_are_kept_and_foreign_ones_dropped() {
        let (svcs, _, _) = fixtures();
        let mut s = svcs[0].clone();
        s.metadata.annotations = Some(
            [
                ("metallb.universe.tf/address-pool", "prod"),
                ("meta.helm.sh/release-name", "web"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        service(&mut s);
        let kept: Vec<&String> = s
            .metadata
            .annotations
            .as_ref()
            .expect("kept")
            .keys()
            .collect();
        assert_eq!(kept, ["metallb.universe.tf/address-pool"]);
        let mut none = svcs[0].clone();
        none.metadata.annotations = Some([("a/b".to_string(), "c".to_string())].into());
        service(&mut none);
        assert_eq!(none.metadata.annotations, None);
    }

    #[test]
    fn a_cordoned_or_tainted_node_stays_draining_after_slimming() {
        let (_, _, nodes) = fixtures();
        let mut cordoned = nodes[0].clone();
        let spec = cordoned.spec.get_or_insert_with(Default::default);
        spec.unschedulable = Some(true);
        let mut tainted = nodes[1].clone();
        if let Some(ts) = tainted.spec.as_mut().and_then(|s| s.taints.as_mut()) {
            ts.push(Taint {
                key: "node.kubernetes.io/unschedulable".into(),
                effect: "NoSchedule".into(),
                value: Some("x".into()),
                ..Taint::default()
            });
        }
        for n in [cordoned, tainted] {
            let mut slim = n.clone();
            node(&mut slim);
            assert!(crate::plan::node_plan(&n).draining);
            assert_eq!(crate::plan::node_plan(&slim), crate::plan::node_plan(&n));
            assert!(slim.spec.as_ref().is_some_and(|s| s.pod_cidr.is_none()));
        }
        let mut healthy = nodes[0].clone();
        node(&mut healthy);
        assert!(!crate::plan::node_plan(&healthy).draining);
    }

    #[test]
    fn slimming_is_idempotent_and_tolerates_empty_objects() {
        let (svcs, _, _) = fixtures();
        let mut once = svcs[0].clone();
        service(&mut once);
        let mut twice = once.clone();
        service(&mut twice);
        assert_eq!(once, twice);
        let mut s = Service::default();
        service(&mut s);
        assert_eq!(s, Service::default());
        let mut e = Slice::default();
        slice(&mut e);
        assert_eq!(e, Slice::default());
        let mut n = Node::default();
        node(&mut n);
        assert_eq!(n, Node::default());
    }

    #[test]
    fn secrets_keep_only_type_and_password() {
        let mut s: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
            "metadata": {"name": "pw", "namespace": "metallb-system", "resourceVersion": "3",
                "annotations": {"a": "b"}},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": "czNjcmV0", "username": "dXNlcg==", "secretkey": "eHg="}
        }))
        .expect("secret");
        secret(&mut s);
        let data = s.data.as_ref().expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), vec!["password"]);
        assert_eq!(data["password"].0, b"s3cret");
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(s.metadata.name.as_deref(), Some("pw"));
        assert!(s.metadata.annotations.is_none());
    }

    #[test]
    fn a_slice_without_endpoints_decodes_from_null_or_absent() {
        for body in [
            json!({"metadata": {"name": "s", "namespace": "n"}, "addressType": "IPv4", "endpoints": null}),
            json!({"metadata": {"name": "s", "namespace": "n"}, "addressType": "IPv4"}),
        ] {
            let s: Slice = serde_json::from_value(body).expect("decodes");
            assert!(s.endpoints.is_empty());
            assert_eq!(s.metadata.name.as_deref(), Some("s"));
        }
        assert_eq!(
            <Slice as kube::Resource>::url_path(&(), Some("n")),
            "/apis/discovery.k8s.io/v1/namespaces/n/endpointslices"
        );
    }
}
