//! Pure logic of ferrolb: no I/O, no Kubernetes client, no async.
//!
//! This crate reproduces the MetalLB controller's IP allocation (`internal/allocator`,
//! `controller/service.go`, pool parsing of `internal/config`) as plain functions over
//! plain data. The operator converts `IPAddressPool` objects into [`PoolSpec`]s and
//! Services into [`ServiceView`]s, then drives an [`Allocator`]:
//!
//! 1. [`PoolSet::parse`] the pools, [`Allocator::new`];
//! 2. on start, [`Allocator::rebuild`] from every Service's `status.loadBalancer.ingress`
//!    before anything new is allocated;
//! 3. for each LoadBalancer Service ([`service::is_handled`]), [`service::parse_service`]
//!    then [`Allocator::assign`] with its current ingress IPs, and write back
//!    [`Assignment::ips`] and [`Assignment::pool`];
//! 4. on Service deletion (or type change) [`Allocator::release`]; on pool change
//!    [`Allocator::set_pools`], then reprocess every Service;
//! 5. report [`Allocator::pool_stats`] in the `IPAddressPool` status.
//!
//! ```
//! use ferrolb_core::service::{PortView, ServiceView, is_handled};
//! use ferrolb_core::{Allocator, Change, PoolSet, PoolSpec, parse_service};
//!
//! let pools = PoolSet::parse(&[PoolSpec::new("default", ["192.168.0.200-192.168.0.250"])])?;
//! let mut alloc = Allocator::new(pools);
//! // After a restart: restore what the Services' statuses say before allocating anything.
//! let failed = alloc.rebuild(Vec::new());
//! assert!(failed.is_empty());
//!
//! let svc = ServiceView {
//!     namespace: "kube-system".into(),
//!     name: "traefik".into(),
//!     service_type: "LoadBalancer".into(),
//!     cluster_ips: vec!["10.43.0.10".into()],
//!     ports: vec![PortView { protocol: None, port: 80 }],
//!     ..Default::default()
//! };
//! assert!(is_handled(&svc, None));
//! let parsed = parse_service(&svc)?;
//! let got = alloc.assign(&parsed.request, &[])?;
//! assert_eq!(got.ips, vec!["192.168.0.200".parse::<std::net::IpAddr>()?]);
//! assert_eq!((got.pool.as_str(), &got.change), ("default", &Change::Allocated));
//! assert_eq!(alloc.pool_stats("default").map(|s| s.available_v4), Some(50));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`addr`] (families, address arithmetic), [`selector`] (label selectors,
//! reusable by the speaker), [`pool`] (pool parsing/validation), [`service`] (Service →
//! request, annotations), [`select`] (pool eligibility and order), [`sharing`]
//! (`allow-shared-ip` rules), [`allocator`] (state and decisions), [`stats`]
//! (status counters), [`error`] (failure reasons), [`community`] (BGP community values and
//! literal grammars).

pub mod addr;
pub mod allocator;
pub mod community;
pub mod error;
mod index;
pub mod pool;
pub mod select;
pub mod selector;
pub mod service;
pub mod sharing;
pub mod stats;

pub use addr::IpFamily;
pub use allocator::{Allocator, Assignment, Change};
pub use error::AllocError;
pub use pool::{Pool, PoolError, PoolSet, PoolSpec, ServiceAllocation};
pub use selector::{LabelSelector, Operator, PartsError, Requirement};
pub use service::{
    IpFamilyPolicy, ParsedService, Protocol, ServiceError, ServicePort, ServiceRequest,
    ServiceView, parse_service,
};
pub use sharing::SharingError;
pub use stats::PoolStats;
