//! `metallb.io/v1beta1`: every kind except the storage version of BGPPeer.

mod bfdprofile;
mod bgpadvertisement;
mod bgppeer;
mod community;
mod configurationstate;
mod ipaddresspool;
mod l2advertisement;
mod servicestatus;

pub use bfdprofile::{BFDProfile, BFDProfileSpec};
pub use bgpadvertisement::{BGPAdvertisement, BGPAdvertisementSpec};
pub use bgppeer::{BGPPeer, BGPPeerSpec, LegacyNodeSelector, LegacySelectorRequirement};
pub use community::{Community, CommunityAlias, CommunitySpec};
pub use configurationstate::{
    ConfigurationResult, ConfigurationState, ConfigurationStateSpec, ConfigurationStateStatus,
};
pub use ipaddresspool::{IPAddressPool, IPAddressPoolSpec, IPAddressPoolStatus, ServiceAllocation};
pub use l2advertisement::{L2Advertisement, L2AdvertisementSpec, PreferredNodeSelector};
pub use servicestatus::{
    InterfaceInfo, ServiceBGPStatus, ServiceBGPStatusSpec, ServiceBGPStatusStatus, ServiceL2Status,
    ServiceL2StatusSpec, ServiceL2StatusStatus,
};
