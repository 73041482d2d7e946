//! The CRDs' CEL rules (`x-kubernetes-validations`), evaluated client-side through the
//! `validate_cel` functions kube generates for the `#[x_kube(cel)]` specs of `ferrolb-api`:
//! BGPAdvertisement (`serviceSelectors` only with default aggregation lengths) and BGPPeer
//! (`connectTime` bounds, `enableGracefulRestart` immutable — a transition rule that needs the
//! old object). The rules are taken from the generated CRD and compiled once (kube's generated
//! `validate_cel` is the fallback). The API server evaluates the same rules; running them here
//! lets the offline validator and the webhook report them with the other problems.

use std::sync::OnceLock;

use ferrolb_api::v1beta1::{BGPAdvertisement, BGPAdvertisementSpec};
use ferrolb_api::v1beta2::{BGPPeer, BGPPeerSpec};
use kube::CustomResourceExt;
use kube::core::cel::{CompiledSchema, ValidationErrors, Validator, compile_schema};

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
            } else if path == "spec" || path.starts_with("spec.") {
                path.to_owned()
            } else {
                format!("spec.{path}")
            };
            Problem::new(kind, name, field, String::new(), e.message.clone())
        })
        .collect()
}

/// The CRD's schema with its rules compiled once (kube's generated `validate_cel` rebuilds and
/// recompiles the schema on every call, most of a BGPPeer admission's time).
fn compiled<K: CustomResourceExt>(
    cell: &'static OnceLock<Option<CompiledSchema>>,
) -> Option<&'static CompiledSchema> {
    cell.get_or_init(|| {
        let crd = K::crd();
        let schema = crd
            .spec
            .versions
            .first()?
            .schema
            .as_ref()?
            .open_api_v3_schema
            .as_ref()?;
        serde_json::to_value(schema)
            .ok()
            .map(|v| compile_schema(&v))
    })
    .as_ref()
}

static AD_SCHEMA: OnceLock<Option<CompiledSchema>> = OnceLock::new();
static PEER_SCHEMA: OnceLock<Option<CompiledSchema>> = OnceLock::new();

/// CEL problems of a BGPAdvertisement.
pub fn bgp_advertisement(ad: &BGPAdvertisement) -> Vec<Problem> {
    let name = name_of(&ad.metadata);
    if let Some(schema) = compiled::<BGPAdvertisement>(&AD_SCHEMA) {
        let value = serde_json::to_value(ad).unwrap_or_default();
        let result = Validator::new().validate_compiled(schema, &value, None);
        return to_problems(Kind::BGPAdvertisement, name, result);
    }
    let value = serde_json::to_value(&ad.spec).unwrap_or_default();
    to_problems(
        Kind::BGPAdvertisement,
        name,
        BGPAdvertisementSpec::validate_cel(&value, None),
    )
}

/// CEL problems of a BGPPeer (`old` for UPDATEs, so transition rules apply).
pub fn bgp_peer(peer: &BGPPeer, old: Option<&BGPPeer>) -> Vec<Problem> {
    let name = name_of(&peer.metadata);
    if let Some(schema) = compiled::<BGPPeer>(&PEER_SCHEMA) {
        let value = serde_json::to_value(peer).unwrap_or_default();
        let old = old.map(|o| serde_json::to_value(o).unwrap_or_default());
        let result = Validator::new().validate_compiled(schema, &value, old.as_ref());
        return to_problems(Kind::BGPPeer, name, result);
    }
    let value = serde_json::to_value(&peer.spec).unwrap_or_default();
    let old = old.map(|o| serde_json::to_value(&o.spec).unwrap_or_default());
    to_problems(
        Kind::BGPPeer,
        name,
        BGPPeerSpec::validate_cel(&value, old.as_ref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_compile() {
        assert!(compiled::<BGPPeer>(&PEER_SCHEMA).is_some());
        assert!(compiled::<BGPAdvertisement>(&AD_SCHEMA).is_some());
    }
}
