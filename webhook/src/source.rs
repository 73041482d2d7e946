//! Where the handlers get the stored configuration from: a [`ConfigSource`] snapshot. In the
//! binary it is [`StoreSource`], kube reflector stores of the six configuration kinds (in
//! ferrolb's namespace only, as MetalLB's cache), the Nodes (labels, for node-aware rules) and
//! the Services (current IPs, for the IP-move warning). Tests use a fixed snapshot.

use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_validate::{ClusterResources, NodeInfo, ServiceIps};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::runtime::reflector::Store;

/// A snapshot of the stored configuration.
pub trait ConfigSource: Send + Sync + 'static {
    /// The objects currently stored; Services' IPs only when `with_services` (they are needed
    /// only for the pool-edit warning, and a cluster may hold thousands).
    fn snapshot(&self, with_services: bool) -> ClusterResources;
}

/// A fixed configuration (tests, benchmarks).
impl ConfigSource for ClusterResources {
    fn snapshot(&self, _with_services: bool) -> ClusterResources {
        self.clone()
    }
}

/// Reflector stores, one per kind.
#[derive(Clone)]
pub struct StoreSource {
    /// IPAddressPools.
    pub pools: Store<IPAddressPool>,
    /// BGPPeers (v1beta2).
    pub peers: Store<BGPPeer>,
    /// BGPAdvertisements.
    pub bgp_advertisements: Store<BGPAdvertisement>,
    /// L2Advertisements.
    pub l2_advertisements: Store<L2Advertisement>,
    /// Communities.
    pub communities: Store<Community>,
    /// BFDProfiles.
    pub bfd_profiles: Store<BFDProfile>,
    /// Nodes.
    pub nodes: Store<Node>,
    /// Services.
    pub services: Store<Service>,
}

fn all<K: Clone + kube::Resource<DynamicType = ()> + 'static>(s: &Store<K>) -> Vec<K> {
    s.state().iter().map(|o| (**o).clone()).collect()
}

impl ConfigSource for StoreSource {
    fn snapshot(&self, with_services: bool) -> ClusterResources {
        ClusterResources {
            pools: all(&self.pools),
            peers: all(&self.peers),
            bgp_advertisements: all(&self.bgp_advertisements),
            l2_advertisements: all(&self.l2_advertisements),
            communities: all(&self.communities),
            bfd_profiles: all(&self.bfd_profiles),
            nodes: self
                .nodes
                .state()
                .iter()
                .map(|n| NodeInfo {
                    name: n.metadata.name.clone().unwrap_or_default(),
                    labels: n.metadata.labels.clone().unwrap_or_default(),
                })
                .collect(),
            services: if with_services {
                self.services
                    .state()
                    .iter()
                    .filter_map(|s| service_ips(s))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// The Service's current load-balancer IPs, if any.
pub fn service_ips(s: &Service) -> Option<ServiceIps> {
    let ips = ferrolb_kube::convert::ingress_ips(s);
    (!ips.is_empty()).then(|| ServiceIps {
        namespace: s.metadata.namespace.clone().unwrap_or_default(),
        name: s.metadata.name.clone().unwrap_or_default(),
        ips,
    })
}
