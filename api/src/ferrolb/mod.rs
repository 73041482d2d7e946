//! The `ferrolb.io` API group: kinds ferrolb adds beside MetalLB's (`metallb.io` has no such
//! kinds, so nothing a MetalLB user applies can clash with them). Status-only objects written by
//! ferrolb's binaries; the webhook and `ferrolb validate` need not know them.

pub mod v1alpha1;

/// The API group.
pub const GROUP: &str = "ferrolb.io";

/// Label of a BGPSessionState naming its BGPPeer (set when the name fits a label value, ≤ 63
/// characters); the node is in MetalLB's `metallb.io/node`, as on the other status objects.
pub const LABEL_PEER: &str = "ferrolb.io/peer";
