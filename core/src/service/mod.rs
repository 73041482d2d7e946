//! What the allocator needs to know about a Service, and how to read it from the Service.
//!
//! Owns [`ServiceRequest`] (the allocator's input) and the pure parsing of Service data
//! ([`ServiceView`], a plain copy of the relevant Service fields) into it, reproducing
//! MetalLB's `controller/service.go` rules: which Services are handled (`type:
//! LoadBalancer` and a matching `loadBalancerClass`), the annotations
//! `metallb.io/address-pool`, `metallb.io/loadBalancerIPs` and `metallb.io/allow-shared-ip`
//! with their deprecated `metallb.universe.tf/*` aliases (the stable key wins when present,
//! even with an empty value), `spec.loadBalancerIP` (exclusive with the annotation), at most
//! two requested IPs of different families, the IP family taken from `spec.clusterIPs`, and
//! the backend key used for sharing (`k8salloc.BackendKey`: the selector rendered as
//! `a=b,c=d` for `externalTrafficPolicy: Local`, empty otherwise).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::addr::IpFamily;

/// Stable annotation naming the pool to allocate from.
pub const ANNOTATION_ADDRESS_POOL: &str = "metallb.io/address-pool";
/// Stable annotation listing requested IPs.
pub const ANNOTATION_LOAD_BALANCER_IPS: &str = "metallb.io/loadBalancerIPs";
/// Stable annotation carrying the sharing key.
pub const ANNOTATION_ALLOW_SHARED_IP: &str = "metallb.io/allow-shared-ip";
/// Annotation written by the controller with the pool an IP came from.
pub const ANNOTATION_ALLOCATED_FROM_POOL: &str = "metallb.io/ip-allocated-from-pool";
/// Prefix of the deprecated annotations (still honoured).
pub const LEGACY_PREFIX: &str = "metallb.universe.tf/";

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamilyPolicy {
    /// One IP (the default when unset).
    #[default]
    SingleStack,
    /// Both families if possible, else one.
    PreferDualStack,
    /// Both families or nothing.
    RequireDualStack,
}

/// L4 protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        })
    }
}

/// A `(protocol, port)` pair of a Service; two Services sharing an IP may not overlap on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePort {
    /// Protocol.
    pub protocol: Protocol,
    /// Port number.
    pub port: u16,
}

impl ServicePort {
    /// A TCP port.
    pub fn tcp(port: u16) -> Self {
        Self {
            protocol: Protocol::Tcp,
            port,
        }
    }

    /// A UDP port.
    pub fn udp(port: u16) -> Self {
        Self {
            protocol: Protocol::Udp,
            port,
        }
    }
}

impl fmt::Display for ServicePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// Everything the allocator needs about one LoadBalancer Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// `namespace/name`.
    pub key: String,
    /// Namespace.
    pub namespace: String,
    /// Labels of the Namespace (for `serviceAllocation.namespaceSelectors`).
    pub namespace_labels: BTreeMap<String, String>,
    /// Labels of the Service (for `serviceAllocation.serviceSelectors`).
    pub labels: BTreeMap<String, String>,
    /// Families of `spec.clusterIPs`, primary first (empty: no cluster IP).
    pub ip_families: Vec<IpFamily>,
    /// `spec.ipFamilyPolicy`.
    pub ip_family_policy: IpFamilyPolicy,
    /// Requested IPs (`metallb.io/loadBalancerIPs` or `spec.loadBalancerIP`).
    pub requested_ips: Vec<IpAddr>,
    /// Requested pool (`metallb.io/address-pool`).
    pub requested_pool: Option<String>,
    /// Sharing key (`metallb.io/allow-shared-ip`); `None` = does not share.
    pub sharing_key: Option<String>,
    /// Ports and protocols.
    pub ports: Vec<ServicePort>,
    /// Backend key: selector string for `externalTrafficPolicy: Local`, empty otherwise.
    pub backend_key: String,
}

impl ServiceRequest {
    /// A single-stack IPv4 Service with no annotations, labels or ports.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            key: format!("{namespace}/{name}"),
            namespace: namespace.to_owned(),
            namespace_labels: BTreeMap::new(),
            labels: BTreeMap::new(),
            ip_families: vec![IpFamily::V4],
            ip_family_policy: IpFamilyPolicy::SingleStack,
            requested_ips: Vec::new(),
            requested_pool: None,
            sharing_key: None,
            ports: Vec::new(),
            backend_key: String::new(),
        }
    }

    /// Sets the cluster IP families and policy.
    pub fn families(mut self, families: &[IpFamily], policy: IpFamilyPolicy) -> Self {
        self.ip_families = families.to_vec();
        self.ip_family_policy = policy;
        self
    }

    /// Sets the requested IPs.
    pub fn requesting(mut self, ips: &[IpAddr]) -> Self {
        self.requested_ips = ips.to_vec();
        self
    }

    /// Sets the requested pool.
    pub fn in_pool(mut self, pool: &str) -> Self {
        self.requested_pool = Some(pool.to_owned());
        self
    }

    /// Sets the sharing key.
    pub fn sharing(mut self, key: &str) -> Self {
        self.sharing_key = Some(key.to_owned());
        self
    }

    /// Sets the ports.
    pub fn ports(mut self, ports: &[ServicePort]) -> Self {
        self.ports = ports.to_vec();
        self
    }

    /// Sets the backend key.
    pub fn backend(mut self, key: &str) -> Self {
        self.backend_key = key.to_owned();
        self
    }

    /// Sets a Service label.
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.to_owned(), v.to_owned());
        self
    }

    /// Sets a Namespace label.
    pub fn namespace_label(mut self, k: &str, v: &str) -> Self {
        self.namespace_labels.insert(k.to_owned(), v.to_owned());
        self
    }
}

/// One entry of `spec.ports`, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    /// `protocol` (`TCP` when unset).
    pub protocol: Option<String>,
    /// `port`.
    pub port: i32,
}

/// The Service fields the controller reads, as plain data (the operator fills it from the
/// Kubernetes object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceView {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Labels of the Service's Namespace.
    pub namespace_labels: BTreeMap<String, String>,
    /// `spec.type`.
    pub service_type: String,
    /// `spec.loadBalancerClass`.
    pub load_balancer_class: Option<String>,
    /// `spec.loadBalancerIP`.
    pub load_balancer_ip: Option<String>,
    /// `spec.clusterIPs` (or `[spec.clusterIP]` when `clusterIPs` is empty).
    pub cluster_ips: Vec<String>,
    /// `spec.ipFamilyPolicy`.
    pub ip_family_policy: Option<String>,
    /// `spec.ports`.
    pub ports: Vec<PortView>,
    /// `spec.selector`.
    pub selector: BTreeMap<String, String>,
    /// `spec.externalTrafficPolicy`.
    pub external_traffic_policy: Option<String>,
}

/// Why a Service's allocation-relevant fields cannot be read. Messages follow MetalLB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Both the annotation and `spec.loadBalancerIP` are set.
    #[error("service can not have both {annotation} and svc.Spec.LoadBalancerIP")]
    BothRequestedIps {
        /// The annotation key that was used.
        annotation: String,
    },
    /// The loadBalancerIPs annotation does not parse.
    #[error("invalid {annotation}: {value:?}")]
    InvalidLoadBalancerIps {
        /// The annotation key that was used.
        annotation: String,
        /// Its value.
        value: String,
    },
    /// `spec.loadBalancerIP` does not parse.
    #[error("invalid spec.loadBalancerIP {0:?}")]
    InvalidSpecLoadBalancerIp(String),
    /// More than two requested IPs.
    #[error("more than two addresses requested: {0:?}")]
    TooManyIps(String),
    /// Two requested IPs of the same family.
    #[error("{0:?} {1:?} has the same family")]
    SameFamily(String, String),
    /// A cluster IP does not parse.
    #[error("invalid cluster IP {0:?}")]
    InvalidClusterIp(String),
    /// Unknown `ipFamilyPolicy`.
    #[error("invalid ipFamilyPolicy {0:?}")]
    InvalidIpFamilyPolicy(String),
    /// A port with an unknown protocol or out-of-range number.
    #[error("invalid port {protocol}/{port}")]
    InvalidPort {
        /// Protocol as written.
        protocol: String,
        /// Port as written.
        port: i32,
    },
}

/// A parsed Service: the allocator input plus what the controller reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedService {
    /// Allocator input.
    pub request: ServiceRequest,
    /// Deprecated `metallb.universe.tf/*` annotation keys present on the Service (MetalLB
    /// emits a Warning event `deprecatedAnnotation` for each).
    pub deprecated_annotations: Vec<String>,
}

impl ParsedService {
    /// Whether a deprecated annotation is present.
    pub fn uses_deprecated_annotation(&self) -> bool {
        !self.deprecated_annotations.is_empty()
    }
}

/// Whether the controller handles this Service: `type: LoadBalancer`, and
/// `loadBalancerClass` unset when the controller has no class, or equal to it.
pub fn is_handled(svc: &ServiceView, lb_class: Option<&str>) -> bool {
    svc.service_type == "LoadBalancer" && svc.load_balancer_class.as_deref() == lb_class
}

/// Annotation lookup: the stable key if present (even empty), else the deprecated alias.
/// Returns the key used and the value.
pub fn annotation<'a>(
    annotations: &'a BTreeMap<String, String>,
    stable: &'static str,
) -> Option<(String, &'a str)> {
    if let Some(v) = annotations.get(stable) {
        return Some((stable.to_owned(), v.as_str()));
    }
    let suffix = stable.strip_prefix("metallb.io/").unwrap_or(stable);
    let legacy = format!("{LEGACY_PREFIX}{suffix}");
    annotations.get(&legacy).map(|v| (legacy, v.as_str()))
}

fn non_empty(v: Option<(String, &str)>) -> Option<(String, &str)> {
    v.filter(|(_, s)| !s.is_empty())
}

/// Parses the requested IPs (`loadBalancerIPs` annotation or `spec.loadBalancerIP`).
fn requested_ips(svc: &ServiceView) -> Result<Vec<IpAddr>, ServiceError> {
    let spec_ip = svc.load_balancer_ip.as_deref().filter(|s| !s.is_empty());
    let Some((key, value)) = non_empty(annotation(&svc.annotations, ANNOTATION_LOAD_BALANCER_IPS))
    else {
        return match spec_ip {
            None => Ok(Vec::new()),
            Some(s) => s
                .trim()
                .parse()
                .map(|ip| vec![ip])
                .map_err(|_| ServiceError::InvalidSpecLoadBalancerIp(s.to_owned())),
        };
    };
    if spec_ip.is_some() {
        return Err(ServiceError::BothRequestedIps { annotation: key });
    }
    let ips = value
        .split(',')
        .map(|s| s.trim().parse::<IpAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ServiceError::InvalidLoadBalancerIps {
            annotation: key,
            value: value.to_owned(),
        })?;
    match ips.as_slice() {
        [_, _, _, ..] => Err(ServiceError::TooManyIps(value.to_owned())),
        [a, b] if IpFamily::of(a) == IpFamily::of(b) => {
            Err(ServiceError::SameFamily(a.to_string(), b.to_string()))
        }
        _ => Ok(ips),
    }
}

/// Backend key (`k8salloc.BackendKey`): the selector as `a=b,c=d` (sorted) for
/// `externalTrafficPolicy: Local`, empty otherwise.
pub fn backend_key(svc: &ServiceView) -> String {
    if svc.external_traffic_policy.as_deref() != Some("Local") {
        return String::new();
    }
    let parts: Vec<String> = svc
        .selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    parts.join(",")
}

/// Parses the allocation-relevant parts of a Service.
pub fn parse_service(svc: &ServiceView) -> Result<ParsedService, ServiceError> {
    let requested_ips = requested_ips(svc)?;
    let requested_pool =
        non_empty(annotation(&svc.annotations, ANNOTATION_ADDRESS_POOL)).map(|(_, v)| v.to_owned());
    let sharing_key = non_empty(annotation(&svc.annotations, ANNOTATION_ALLOW_SHARED_IP))
        .map(|(_, v)| v.to_owned());
    let mut ip_families = Vec::new();
    for ip in svc
        .cluster_ips
        .iter()
        .filter(|s| !s.is_empty() && s.as_str() != "None")
    {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| ServiceError::InvalidClusterIp(ip.clone()))?;
        let family = IpFamily::of(&ip);
        if !ip_families.contains(&family) {
            ip_families.push(family);
        }
    }
    let ip_family_policy = match svc.ip_family_policy.as_deref() {
        None | Some("" | "SingleStack") => IpFamilyPolicy::SingleStack,
        Some("PreferDualStack") => IpFamilyPolicy::PreferDualStack,
        Some("RequireDualStack") => IpFamilyPolicy::RequireDualStack,
        Some(other) => return Err(ServiceError::InvalidIpFamilyPolicy(other.to_owned())),
    };
    let mut ports = Vec::with_capacity(svc.ports.len());
    for p in &svc.ports {
        let bad = || ServiceError::InvalidPort {
            protocol: p.protocol.clone().unwrap_or_default(),
            port: p.port,
        };
        let protocol = match p.protocol.as_deref() {
            None | Some("" | "TCP") => Protocol::Tcp,
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            Some(_) => return Err(bad()),
        };
        let port = u16::try_from(p.port).map_err(|_| bad())?;
        ports.push(ServicePort { protocol, port });
    }
    let deprecated_annotations = svc
        .annotations
        .keys()
        .filter(|k| k.starts_with(LEGACY_PREFIX))
        .cloned()
        .collect();
    Ok(ParsedService {
        request: ServiceRequest {
            key: format!("{}/{}", svc.namespace, svc.name),
            namespace: svc.namespace.clone(),
            namespace_labels: svc.namespace_labels.clone(),
            labels: svc.labels.clone(),
            ip_families,
            ip_family_policy,
            requested_ips,
            requested_pool,
            sharing_key,
            ports,
            backend_key: backend_key(svc),
        },
        deprecated_annotations,
    })
}

#[cfg(test)]
mod tests;
