//! Allocation failures.
//!
//! Owns [`AllocError`], one variant per reason MetalLB reports in its `AllocationFailed`,
//! `LoadBalancerFailed` and `ClearAssignment` events (`controller/service.go`,
//! `internal/allocator/allocator.go`), with messages that keep MetalLB's wording where a
//! user or test may match on it and add the detail MetalLB leaves out (which pool, which IP).

use std::net::IpAddr;

use crate::addr::IpFamily;
use crate::sharing::SharingError;

fn ips_string(ips: &[IpAddr]) -> String {
    let parts: Vec<String> = ips
        .iter()
        .map(|ip| format!("{:?}", ip.to_string()))
        .collect();
    format!("[{}]", parts.join(" "))
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no pool is eligible for this service".to_owned()
    } else {
        format!("tried pools {}", names.join(", "))
    }
}

/// Why a Service got no (or lost its) IP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No IPAddressPool exists.
    #[error("no address pools configured")]
    NoPools,
    /// The Service has no cluster IP, so its IP family is unknown.
    #[error("service has no cluster IPs")]
    NoClusterIps,
    /// `RequireDualStack` with fewer than two cluster IPs.
    #[error("not enough clusterips: RequireDualStack needs an IPv4 and an IPv6 cluster IP")]
    NotEnoughClusterIps,
    /// The requested pool does not exist.
    #[error("unknown pool {0:?}")]
    UnknownPool(String),
    /// The pool's `serviceAllocation` does not admit the Service's namespace or labels.
    #[error("pool {0} not compatible for ip assignment")]
    PoolNotCompatible(String),
    /// Requested (or current) IPs are not all inside one pool.
    #[error("{} is not allowed in config: not inside any address pool", ips_string(.0))]
    NotInAnyPool(Vec<IpAddr>),
    /// Requested IPs' families differ from the Service's.
    #[error("requested loadBalancer IP(s) {} does not match the ipFamily of the service", ips_string(.0))]
    RequestedFamilyMismatch(Vec<IpAddr>),
    /// Requested IPs are in another pool than the requested pool.
    #[error("requested loadBalancer IP(s) {} is not compatible with requested address pool {pool}", ips_string(.ips))]
    RequestedIpsNotInRequestedPool {
        /// Requested IPs.
        ips: Vec<IpAddr>,
        /// Requested pool.
        pool: String,
    },
    /// The address is used by a Service it cannot be shared with.
    #[error("IP {ip} is in use by another service: {source}")]
    IpInUse {
        /// The address.
        ip: IpAddr,
        /// Why it cannot be shared.
        source: SharingError,
    },
    /// The requested pool has no usable address left for the Service's family.
    #[error("no available IPs in pool {pool:?} for family {family}")]
    PoolExhausted {
        /// Pool name.
        pool: String,
        /// Family that could not be served (the primary for dual-stack).
        family: IpFamily,
    },
    /// No candidate pool has a usable address.
    #[error("no available IPs ({})", list(.tried))]
    NoAvailableIps {
        /// Candidate pools tried, in order.
        tried: Vec<String>,
    },
    /// Current IPs no longer match the Service's IP family (clear and reallocate).
    #[error("current IPs {} do not match the ipFamily of the service", ips_string(.0))]
    FamilyChanged(Vec<IpAddr>),
    /// Current IPs differ from the requested ones (clear and reallocate).
    #[error("current IPs {} differ from the requested IPs {}", ips_string(.current), ips_string(.requested))]
    RequestedIpsChanged {
        /// Current IPs.
        current: Vec<IpAddr>,
        /// Requested IPs.
        requested: Vec<IpAddr>,
    },
    /// Current IPs come from another pool than the requested one (clear and reallocate).
    #[error("current IPs come from pool {current:?}, but pool {requested:?} is requested")]
    PoolChanged {
        /// Pool of the current IPs.
        current: String,
        /// Requested pool.
        requested: String,
    },
    /// More than two IPs, or two of one family.
    #[error("invalid IP set {}: at most one IPv4 and one IPv6 address", ips_string(.0))]
    InvalidIpSet(Vec<IpAddr>),
}
