//! The inputs and outputs of validation: [`ClusterResources`] (every configuration object the
//! cluster — or a set of manifests — holds, as MetalLB's `config.ClusterResources`), [`Problem`]
//! (one finding: object, field, value, reason) and [`Report`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;

/// A Node, as far as validation needs it (its labels, for node selectors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

/// The load-balancer IPs a Service holds now (`status.loadBalancer.ingress`), used to warn
/// about pool edits that move them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceIps {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Current ingress IPs.
    pub ips: Vec<IpAddr>,
}

/// Every configuration object validated together (MetalLB's `config.ClusterResources`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterResources {
    /// IPAddressPools.
    pub pools: Vec<IPAddressPool>,
    /// BGPPeers (v1beta2; convert v1beta1 ones with [`crate::conversion::to_v1beta2`]).
    pub peers: Vec<BGPPeer>,
    /// BGPAdvertisements.
    pub bgp_advertisements: Vec<BGPAdvertisement>,
    /// L2Advertisements.
    pub l2_advertisements: Vec<L2Advertisement>,
    /// Community alias objects.
    pub communities: Vec<Community>,
    /// BFDProfiles.
    pub bfd_profiles: Vec<BFDProfile>,
    /// Nodes (labels only). Empty when unknown (offline validation).
    pub nodes: Vec<NodeInfo>,
    /// Services' current IPs (only for warnings).
    pub services: Vec<ServiceIps>,
}

/// The `metallb.io` kinds validation reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// IPAddressPool.
    IPAddressPool,
    /// BGPPeer.
    BGPPeer,
    /// BGPAdvertisement.
    BGPAdvertisement,
    /// L2Advertisement.
    L2Advertisement,
    /// Community.
    Community,
    /// BFDProfile.
    BFDProfile,
}

impl Kind {
    /// The kind as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IPAddressPool => "IPAddressPool",
            Self::BGPPeer => "BGPPeer",
            Self::BGPAdvertisement => "BGPAdvertisement",
            Self::L2Advertisement => "L2Advertisement",
            Self::Community => "Community",
            Self::BFDProfile => "BFDProfile",
        }
    }

    /// Parses a kind name.
    pub fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "IPAddressPool" => Self::IPAddressPool,
            "BGPPeer" => Self::BGPPeer,
            "BGPAdvertisement" => Self::BGPAdvertisement,
            "L2Advertisement" => Self::L2Advertisement,
            "Community" => Self::Community,
            "BFDProfile" => Self::BFDProfile,
            _ => return None,
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding about one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Problem {
    /// The object's kind.
    pub kind: Kind,
    /// The object's name.
    pub name: String,
    /// Field path, e.g. `spec.addresses[1]` (`metadata.name` for object-level findings).
    pub field: String,
    /// The offending value as written (may be empty).
    pub value: String,
    /// What is wrong, in MetalLB's words where MetalLB has them.
    pub reason: String,
    /// A reference to an object that may simply not exist *yet* (MetalLB's
    /// `TransientError`: a BFD profile, a Community alias). Admission only warns about these
    /// on the referencing object; offline validation reports them as errors.
    pub dangling_reference: bool,
}

impl Problem {
    /// A problem that is not a dangling reference.
    pub fn new(
        kind: Kind,
        name: &str,
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            field: field.into(),
            value: value.into(),
            reason: reason.into(),
            dangling_reference: false,
        }
    }

    /// Marks the problem as a dangling reference.
    pub fn dangling(mut self) -> Self {
        self.dangling_reference = true;
        self
    }
}

/// `<kind>/<name>: <field>: <reason>`, the one-line form the CLI prints.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}: {}: {}",
            self.kind, self.name, self.field, self.reason
        )
    }
}

/// The result of validating a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Problems that make the configuration invalid.
    pub errors: Vec<Problem>,
    /// Legal but worth a look.
    pub warnings: Vec<Problem>,
}

impl Report {
    /// Whether there is no error.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Validation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// ferrolb's namespace; objects explicitly in another namespace are rejected
    /// (`resource must be created in <ns> namespace`). `None` skips the check.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: Some(ferrolb_api::names::DEFAULT_NAMESPACE.to_owned()),
        }
    }
}

/// `metadata.name` of any object, or "".
pub(crate) fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

impl ClusterResources {
    /// Gathers the configuration objects of a manifest (v1beta1 BGPPeers are converted to
    /// v1beta2, as the API server stores them); other objects are ignored.
    pub fn from_objects(
        objects: impl IntoIterator<Item = ferrolb_api::manifest::ApiObject>,
    ) -> Self {
        use ferrolb_api::manifest::ApiObject;
        let mut res = Self::default();
        for o in objects {
            match o {
                ApiObject::IPAddressPool(p) => res.pools.push(p),
                ApiObject::BGPPeer(p) => res.peers.push(p),
                ApiObject::BGPPeerV1beta1(p) => res.peers.push(crate::conversion::to_v1beta2(&p)),
                ApiObject::BGPAdvertisement(a) => res.bgp_advertisements.push(a),
                ApiObject::L2Advertisement(a) => res.l2_advertisements.push(a),
                ApiObject::Community(c) => res.communities.push(c),
                ApiObject::BFDProfile(b) => res.bfd_profiles.push(b),
                _ => {}
            }
        }
        res
    }
}
