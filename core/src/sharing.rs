//! IP sharing between Services (`metallb.io/allow-shared-ip`).
//!
//! Owns the per-address record of who uses an IP and the compatibility check of MetalLB's
//! `checkSharing`/`sharingOK` (`internal/allocator/allocator.go`): an address in use may
//! be given to another Service only if both carry the same non-empty sharing key, their
//! backend keys are equal (so `externalTrafficPolicy: Local` Services need identical
//! selectors and never share with `Cluster` ones) and no `(protocol, port)` pair overlaps
//! (the same port under different protocols is fine). A Service that is the sole user of
//! an address may change its own sharing key.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::service::{ServicePort, ServiceRequest};

/// Why an address in use cannot be shared with a Service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharingError {
    /// The current users have no sharing key.
    #[error("existing service does not allow sharing")]
    ExistingDoesNotShare,
    /// The new Service has no sharing key.
    #[error("new service does not allow sharing")]
    NewDoesNotShare,
    /// Different sharing keys.
    #[error("sharing key {new:?} does not match existing sharing key {existing:?}")]
    KeyMismatch {
        /// The Service's key.
        new: String,
        /// The key of the current users.
        existing: String,
    },
    /// Different backend keys (selectors of `externalTrafficPolicy: Local` Services).
    #[error("backend key {new:?} does not match existing sharing key {existing:?}")]
    BackendMismatch {
        /// The Service's backend key.
        new: String,
        /// The backend key of the current users.
        existing: String,
    },
    /// A `(protocol, port)` pair is already used on the address by another Service.
    #[error("port {port} is already in use on {ip:?} by {owner}")]
    PortInUse {
        /// The port.
        port: ServicePort,
        /// The address.
        ip: String,
        /// The Service using it.
        owner: String,
    },
    /// A Service sharing an address changed its key in an incompatible way.
    #[error("can't change sharing key for {service:?}, address also in use by {others}: {reason}")]
    KeyChangeBlocked {
        /// The Service.
        service: String,
        /// Other users of the address, comma-separated.
        others: String,
        /// The underlying incompatibility.
        reason: Box<SharingError>,
    },
}

/// Who uses one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpUse {
    /// Index of the pool the address belongs to.
    pub(crate) pool: usize,
    /// Sharing key of the users (`None`: not shareable).
    pub(crate) sharing_key: Option<String>,
    /// Backend key of the users.
    pub(crate) backend_key: String,
    /// Keys of the Services using the address.
    pub(crate) services: BTreeSet<String>,
    /// Port owners.
    pub(crate) ports: BTreeMap<ServicePort, String>,
}

impl IpUse {
    pub(crate) fn new(pool: usize, req: &ServiceRequest) -> Self {
        Self {
            pool,
            sharing_key: req.sharing_key.clone(),
            backend_key: req.backend_key.clone(),
            services: BTreeSet::new(),
            ports: BTreeMap::new(),
        }
    }

    /// `sharingOK`: whether the keys allow `req` to join the current users.
    fn keys_ok(&self, req: &ServiceRequest) -> Result<(), SharingError> {
        let existing = self
            .sharing_key
            .as_ref()
            .ok_or(SharingError::ExistingDoesNotShare)?;
        let new = req
            .sharing_key
            .as_ref()
            .ok_or(SharingError::NewDoesNotShare)?;
        if existing != new {
            return Err(SharingError::KeyMismatch {
                new: new.clone(),
                existing: existing.clone(),
            });
        }
        if self.backend_key != req.backend_key {
            return Err(SharingError::BackendMismatch {
                new: req.backend_key.clone(),
                existing: self.backend_key.clone(),
            });
        }
        Ok(())
    }

    /// `checkSharing`: whether `req` may use this address (as a new or existing user).
    pub(crate) fn check(&self, ip: &IpAddr, req: &ServiceRequest) -> Result<(), SharingError> {
        if let Err(reason) = self.keys_ok(req) {
            let others: Vec<&str> = self
                .services
                .iter()
                .filter(|s| **s != req.key)
                .map(String::as_str)
                .collect();
            if !self.services.contains(&req.key) {
                return Err(reason);
            }
            if !others.is_empty() {
                return Err(SharingError::KeyChangeBlocked {
                    service: req.key.clone(),
                    others: others.join(","),
                    reason: Box::new(reason),
                });
            }
            // Sole user changing its own key: allowed.
        }
        for port in &req.ports {
            if let Some(owner) = self.ports.get(port).filter(|o| **o != req.key) {
                return Err(SharingError::PortInUse {
                    port: *port,
                    ip: ip.to_string(),
                    owner: owner.clone(),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn add(&mut self, req: &ServiceRequest) {
        self.services.insert(req.key.clone());
        for p in &req.ports {
            self.ports.insert(*p, req.key.clone());
        }
    }

    /// Removes a user; returns true when nobody uses the address any more.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        self.services.remove(key);
        self.ports.retain(|_, owner| owner != key);
        self.services.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServicePort;

    fn ip() -> IpAddr {
        "10.0.0.1".parse().unwrap()
    }

    fn held_by(req: &ServiceRequest) -> IpUse {
        let mut u = IpUse::new(0, req);
        u.add(req);
        u
    }

    #[test]
    fn same_key_disjoint_ports_share() {
        let a = ServiceRequest::new("ns", "a")
            .sharing("k")
            .ports(&[ServicePort::tcp(80)]);
        let b = ServiceRequest::new("ns", "b")
            .sharing("k")
            .ports(&[ServicePort::tcp(443), ServicePort::udp(80)]);
        assert_eq!(held_by(&a).check(&ip(), &b), Ok(()));
    }

    #[test]
    fn rejections() {
        let a = ServiceRequest::new("ns", "a")
            .sharing("k")
            .ports(&[ServicePort::tcp(80)]);
        let u = held_by(&a);
        let plain = ServiceRequest::new("ns", "b").ports(&[ServicePort::tcp(81)]);
        assert_eq!(u.check(&ip(), &plain), Err(SharingError::NewDoesNotShare));
        assert_eq!(
            held_by(&plain).check(&ip(), &a),
            Err(SharingError::ExistingDoesNotShare)
        );
        let other_key = plain.clone().sharing("k2");
        assert_eq!(
            u.check(&ip(), &other_key).unwrap_err().to_string(),
            "sharing key \"k2\" does not match existing sharing key \"k\""
        );
        let local = plain.clone().sharing("k").backend("app=x");
        assert!(matches!(
            u.check(&ip(), &local),
            Err(SharingError::BackendMismatch { .. })
        ));
        let same_port = plain.sharing("k").ports(&[ServicePort::tcp(80)]);
        assert_eq!(
            u.check(&ip(), &same_port).unwrap_err().to_string(),
            "port TCP/80 is already in use on \"10.0.0.1\" by ns/a"
        );
    }

    #[test]
    fn sole_owner_may_change_key_but_not_when_shared() {
        let a = ServiceRequest::new("ns", "a").sharing("k");
        let mut u = held_by(&a);
        assert_eq!(u.check(&ip(), &a.clone().sharing("new")), Ok(()));
        u.add(&ServiceRequest::new("ns", "b").sharing("k"));
        assert!(matches!(
            u.check(&ip(), &a.clone().sharing("new")),
            Err(SharingError::KeyChangeBlocked { ref others, .. }) if others == "ns/b"
        ));
        assert!(!u.remove("ns/b"));
        assert!(u.remove("ns/a"));
    }
}
