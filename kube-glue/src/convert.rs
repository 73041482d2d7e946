//! The one home of every conversion from a Kubernetes object to the plain inputs of
//! `ferrolb-core`, shared by the controller, the speaker and the webhook: IPAddressPool CRs to
//! [`PoolSpec`]s (so pool membership is decided by `ferrolb_core::pool` everywhere), Services
//! to [`ServiceView`]s, a Service's ingress IPs ([`ingress_ips`]), whether a Service is ours
//! ([`is_ours`]) and its [`ServiceKey`]. Pure functions; errors say which object and field is
//! wrong. BGP mode's objects (BGPPeer, BGPAdvertisement, Community, the peers' Secrets) are
//! converted in [`bgp`], BFDProfiles in [`bfd`].

pub mod bfd;
pub mod bgp;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_api::v1beta1::IPAddressPool;
use ferrolb_core::pool::ServiceAllocation;
use ferrolb_core::service::{PortView, ServiceView};
use ferrolb_core::{LabelSelector, PoolSpec};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

/// A pool CR that cannot be turned into a [`PoolSpec`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IPAddressPool {pool:?}: {field}: {message}")]
pub struct ConvertError {
    /// The pool's name.
    pub pool: String,
    /// The offending field, e.g. `spec.serviceAllocation.namespaceSelectors[0]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

use crate::selector;

/// Converts a list of Kubernetes label selectors (a CR's `...Selectors` field); on failure,
/// the index of the first invalid selector and why, for the caller to name the object and
/// field (`field[index]`).
pub fn selector_list(
    list: &[metav1::LabelSelector],
) -> Result<Vec<LabelSelector>, (usize, String)> {
    list.iter()
        .enumerate()
        .map(|(i, s)| selector(s).map_err(|message| (i, message)))
        .collect()
}

fn selectors(
    pool: &str,
    field: &str,
    list: &[metav1::LabelSelector],
) -> Result<Vec<LabelSelector>, ConvertError> {
    selector_list(list).map_err(|(i, message)| ConvertError {
        pool: pool.to_owned(),
        field: format!("{field}[{i}]"),
        message,
    })
}

/// Converts an IPAddressPool CR into a core [`PoolSpec`].
pub fn pool_spec(pool: &IPAddressPool) -> Result<PoolSpec, ConvertError> {
    let name = pool.metadata.name.clone().unwrap_or_default();
    let allocation = match &pool.spec.service_allocation {
        None => None,
        Some(a) => Some(ServiceAllocation {
            priority: a.priority.unwrap_or(0),
            namespaces: a.namespaces.clone(),
            namespace_selectors: selectors(
                &name,
                "spec.serviceAllocation.namespaceSelectors",
                &a.namespace_selectors,
            )?,
            service_selectors: selectors(
                &name,
                "spec.serviceAllocation.serviceSelectors",
                &a.service_selectors,
            )?,
        }),
    };
    Ok(PoolSpec {
        name,
        addresses: pool.spec.addresses.clone(),
        auto_assign: pool.spec.auto_assign(),
        avoid_buggy_ips: pool.spec.avoid_buggy_ips(),
        allocation,
    })
}

/// Converts a Service (plus its namespace's labels) into a core [`ServiceView`].
pub fn service_view(svc: &Service, namespace_labels: &BTreeMap<String, String>) -> ServiceView {
    let meta = &svc.metadata;
    let spec = svc.spec.clone().unwrap_or_default();
    let mut cluster_ips = spec.cluster_ips.clone().unwrap_or_default();
    if cluster_ips.is_empty()
        && let Some(ip) = &spec.cluster_ip
    {
        cluster_ips.push(ip.clone());
    }
    cluster_ips.retain(|ip| !ip.is_empty() && ip != "None");
    ServiceView {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        namespace_labels: namespace_labels.clone(),
        service_type: spec.type_.clone().unwrap_or_else(|| "ClusterIP".into()),
        load_balancer_class: spec.load_balancer_class.clone(),
        load_balancer_ip: spec.load_balancer_ip.clone().filter(|s| !s.is_empty()),
        cluster_ips,
        ip_family_policy: spec.ip_family_policy.clone(),
        ports: spec
            .ports
            .iter()
            .flatten()
            .map(|p| PortView {
                protocol: p.protocol.clone(),
                port: p.port,
            })
            .collect(),
        selector: spec.selector.clone().unwrap_or_default(),
        external_traffic_policy: spec.external_traffic_policy.clone(),
    }
}

/// The IPs in a Service's `status.loadBalancer.ingress` (entries without a parsable `ip`
/// — e.g. hostnames set by another implementation — are ignored).
pub fn ingress_ips(svc: &Service) -> Vec<IpAddr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref().and_then(|ip| ip.parse().ok()))
        .collect()
}

/// Whether a Service is ours to allocate and announce: `type: LoadBalancer` and
/// `spec.loadBalancerClass` equal to `lb_class` (unset flag: only Services without a class) —
/// MetalLB's rule, decided by [`ferrolb_core::service::is_handled`].
pub fn is_ours(svc: &Service, lb_class: Option<&str>) -> bool {
    let spec = svc.spec.as_ref();
    let view = ServiceView {
        service_type: spec
            .and_then(|s| s.type_.clone())
            .unwrap_or_else(|| "ClusterIP".into()),
        load_balancer_class: spec.and_then(|s| s.load_balancer_class.clone()),
        ..ServiceView::default()
    };
    ferrolb_core::service::is_handled(&view, lb_class)
}

/// A namespaced object's identity, `namespace/name` when displayed. Ordered by namespace, then
/// name, so maps keyed by it iterate as `kubectl get -A` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ServiceKey {
    /// The key of `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object's metadata.
    pub fn of(meta: &metav1::ObjectMeta) -> Self {
        ServiceKey::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolb_api::v1beta1::{IPAddressPoolSpec, ServiceAllocation as CrdAllocation};
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).expect("service")
    }

    #[test]
    fn selector_list_names_the_failing_index() {
        let good: metav1::LabelSelector =
            serde_json::from_value(json!({"matchLabels": {"a": "b"}})).expect("selector");
        let bad: metav1::LabelSelector = serde_json::from_value(
            json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}),
        )
        .expect("selector");
        assert_eq!(selector_list(&[]).map(|v| v.len()), Ok(0));
        assert_eq!(
            selector_list(std::slice::from_ref(&good)).map(|v| v.len()),
            Ok(1)
        );
        let (i, why) =
            selector_list(&[good.clone(), bad.clone(), bad]).expect_err("invalid operator");
        assert_eq!(i, 1);
        assert!(why.contains("Bogus"), "{why}");
    }

    #[test]
    fn pool_defaults_and_allocation() {
        let mut pool = IPAddressPool::new(
            "p",
            IPAddressPoolSpec {
                addresses: vec!["10.0.0.0/30".into()],
                ..Default::default()
            },
        );
        let spec = pool_spec(&pool).expect("pool");
        assert_eq!(spec, PoolSpec::new("p", ["10.0.0.0/30"]));
        pool.spec.auto_assign = Some(false);
        pool.spec.service_allocation = Some(CrdAllocation {
            priority: Some(5),
            namespaces: vec!["a".into()],
            namespace_selectors: vec![metav1::LabelSelector {
                match_labels: Some([("team".to_string(), "x".to_string())].into()),
                match_expressions: None,
            }],
            service_selectors: vec![],
        });
        let spec = pool_spec(&pool).expect("pool");
        assert!(!spec.auto_assign);
        let a = spec.allocation.expect("allocation");
        assert_eq!(
            (a.priority, a.namespaces.as_slice()),
            (5, &["a".to_string()][..])
        );
        assert!(a.namespace_selectors[0].matches(&[("team".to_string(), "x".to_string())].into()));
    }

    #[test]
    fn bad_selector_names_pool_and_field() {
        let pool: IPAddressPool = serde_json::from_value(json!({
            "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p"},
            "spec": {"addresses": ["10.0.0.0/30"], "serviceAllocation": {"serviceSelectors": [
                {"matchExpressions": [{"key": "a", "operator": "Near", "values": ["b"]}]}]}}
        }))
        .expect("pool");
        let err = pool_spec(&pool).expect_err("bad operator");
        assert_eq!(err.pool, "p");
        assert_eq!(err.field, "spec.serviceAllocation.serviceSelectors[0]");
        assert!(err.message.contains("operator"), "{err}");
    }

    #[test]
    fn service_view_reads_spec_and_status() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default", "annotations": {"metallb.io/address-pool": "p"}},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "ports": [{"port": 80, "protocol": "TCP"}],
                     "externalTrafficPolicy": "Local", "selector": {"app": "web"}, "loadBalancerIP": ""},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.0.200"}, {"hostname": "lb.example"}]}}
        }));
        let v = service_view(&s, &BTreeMap::new());
        assert_eq!((v.namespace.as_str(), v.name.as_str()), ("default", "web"));
        assert_eq!(v.cluster_ips, ["10.96.0.10"]);
        assert_eq!(v.load_balancer_ip, None, "empty loadBalancerIP means none");
        assert_eq!(v.external_traffic_policy.as_deref(), Some("Local"));
        assert_eq!(v.ports.len(), 1);
        assert_eq!(
            ingress_ips(&s),
            ["192.168.0.200".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(ServiceKey::of(&s.metadata).to_string(), "default/web");
    }

    #[test]
    fn headless_and_untyped_services() {
        let s = svc(
            json!({"metadata": {"name": "h", "namespace": "d"}, "spec": {"clusterIP": "None"}}),
        );
        let v = service_view(&s, &BTreeMap::new());
        assert!(v.cluster_ips.is_empty());
        assert_eq!(v.service_type, "ClusterIP");
        assert!(ingress_ips(&s).is_empty());
    }
}
