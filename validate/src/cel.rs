//! The CRDs' CEL rules (`x-kubernetes-validations`), evaluated client-side through the
//! `validate_cel` functions kube generates for the `#[x_kube(cel)]` specs of `ferrolb-api`:
//! BGPAdvertisement (`serviceSelectors` only with default aggregation lengths) and BGPPeer
//! (`connectTime` bounds, `enableGracefulRestart` immutable — a transition rule that needs the
//! old object). The API server evaluates the same rules; running them here lets the offline
//! validator and the webhook report them with the other problems.

use ferrolb_api::v1beta1::{BGPAdvertisement, BGPAdvertisementSpec};
use ferrolb_api::v1beta2::{BGPPeer, BGPPeerSpec};
use kube::core::cel::ValidationErrors;

use crate::model::{Kind, Problem, name_of};

fn to_problems(kind: Kind, name: &str, result: Result<(), ValidationErrors>) -> Vec<Problem> {
    let Err(errors) = result else {
        return Vec::new();
    };
    errors
        .as_slice()
        .iter()
        .map(|e| {
            let path = e.field_path.trim_start_matches('.');
            let field = if path.is_empty() {
                "spec".to_owned()
            } else {
                format!("spec.{path}")
            };
            Problem::new(kind, name, field, String::new(), e.message.clone())
        })
        .collect()
}

/// CEL problems of a BGPAdvertisement.
pub fn bgp_advertisement(ad: &BGPAdvertisement) -> Vec<Problem> {
    let value = serde_json::to_value(&ad.spec).unwrap_or_default();
    let result = BGPAdvertisementSpec::validate_cel(&value, None);
    to_problems(Kind::BGPAdvertisement, name_of(&ad.metadata), result)
}

/// CEL problems of a BGPPeer (`old` for UPDATEs, so transition rules apply).
pub fn bgp_peer(peer: &BGPPeer, old: Option<&BGPPeer>) -> Vec<Problem> {
    let value = serde_json::to_value(&peer.spec).unwrap_or_default();
    let old = old.map(|o| serde_json::to_value(&o.spec).unwrap_or_default());
    let result = BGPPeerSpec::validate_cel(&value, old.as_ref());
    to_problems(Kind::BGPPeer, name_of(&peer.metadata), result)
}
