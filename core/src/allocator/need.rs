//! What a Service needs (one IP of a family, or both families), from its cluster IP
//! families and `ipFamilyPolicy` (MetalLB `ipfamily.ForService` and
//! `selectIPsForFamilyAndPolicy`), and the shape checks on IP sets (`Assign`: at most two
//! addresses, of different families).

use std::net::IpAddr;

use crate::addr::IpFamily;
use crate::error::AllocError;
use crate::service::{IpFamilyPolicy, ServiceRequest};

/// What the Service needs, from its cluster IP families and `ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Exactly one IP of this family.
    Single(IpFamily),
    /// Both families (primary first); `required` for `RequireDualStack`.
    Dual { primary: IpFamily, required: bool },
}

impl Need {
    pub(crate) fn of(req: &ServiceRequest) -> Result<Self, AllocError> {
        let mut fams: Vec<IpFamily> = Vec::with_capacity(2);
        for f in &req.ip_families {
            if !fams.contains(f) {
                fams.push(*f);
            }
        }
        match (fams.as_slice(), req.ip_family_policy) {
            ([], _) => Err(AllocError::NoClusterIps),
            ([_], IpFamilyPolicy::RequireDualStack) => Err(AllocError::NotEnoughClusterIps),
            ([f], _) | ([f, ..], IpFamilyPolicy::SingleStack) => Ok(Self::Single(*f)),
            ([f, ..], policy) => Ok(Self::Dual {
                primary: *f,
                required: policy == IpFamilyPolicy::RequireDualStack,
            }),
        }
    }

    /// Whether a set of IPs (already checked by [`check_ip_set`]) fits this need.
    pub(crate) fn fits(self, ips: &[IpAddr]) -> bool {
        match self {
            Self::Single(f) => ips.len() == 1 && IpFamily::of(&ips[0]) == f,
            Self::Dual { required: true, .. } => ips.len() == 2,
            Self::Dual {
                required: false, ..
            } => matches!(ips.len(), 1 | 2),
        }
    }

    pub(crate) fn primary(self) -> IpFamily {
        match self {
            Self::Single(f) | Self::Dual { primary: f, .. } => f,
        }
    }
}

/// At most two IPs, of different families.
pub(crate) fn check_ip_set(ips: &[IpAddr]) -> Result<(), AllocError> {
    match ips {
        [_, _, _, ..] => Err(AllocError::InvalidIpSet(ips.to_vec())),
        [a, b] if IpFamily::of(a) == IpFamily::of(b) => Err(AllocError::InvalidIpSet(ips.to_vec())),
        _ => Ok(()),
    }
}

pub(crate) fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.len() == b.len() && a.iter().all(|ip| b.contains(ip))
}
