//! `metallb.io/v1beta2`: the storage version of BGPPeer.

mod bgppeer;

pub use bgppeer::{BGPPeer, BGPPeerSpec, DynamicASNMode};
