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
//! Modules: [`addr`] (families, address arithmetic), [`selector`] (label selectors,
//! reusable by the speaker), [`pool`] (pool parsing/validation), [`service`] (Service →
//! request, annotations), [`select`] (pool eligibility and order), [`sharing`]
//! (`allow-shared-ip` rules), [`allocator`] (state and decisions), [`stats`]
//! (status counters), [`error`] (failure reasons).

pub mod addr;
pub mod allocator;
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
pub use selector::{LabelSelector, Operator, Requirement};
pub use service::{
    IpFamilyPolicy, ParsedService, Protocol, ServiceError, ServicePort, ServiceRequest,
    ServiceView, parse_service,
};
pub use sharing::SharingError;
pub use stats::PoolStats;
