//! Test fixtures shared by the unit tests of every module (`<module>/tests.rs`, and the crate
//! root's `tests.rs`): YAML builders of each kind and validation helpers. Every rule has an
//! accepting and a rejecting case in the tests of the module that implements it.

pub(crate) use ferrolb_api::manifest::parse_manifests;

pub(crate) use crate::{ClusterResources, Options, Report, validate, validate_with_cel};

/// Parses YAML documents into resources; `kind:` + `apiVersion:` are required in each.
pub fn res(yaml: &str) -> ClusterResources {
    ClusterResources::from_objects(parse_manifests(yaml).expect("manifest"))
}

/// Validates YAML and returns the error lines.
pub fn errors(yaml: &str) -> Vec<String> {
    lines(&validate(&res(yaml), &Options::default()))
}

/// Same with CEL.
pub fn errors_cel(yaml: &str) -> Vec<String> {
    lines(&validate_with_cel(&res(yaml), &Options::default()))
}

fn lines(r: &Report) -> Vec<String> {
    r.errors.iter().map(ToString::to_string).collect()
}

/// Asserts exactly one error containing `needle`.
#[track_caller]
pub fn rejects(yaml: &str, needle: &str) {
    let e = errors(yaml);
    assert!(
        e.len() == 1 && e[0].contains(needle),
        "expected one error with {needle:?}, got {e:#?}"
    );
}

/// Asserts no error.
#[track_caller]
pub fn accepts(yaml: &str) {
    let e = errors(yaml);
    assert!(e.is_empty(), "expected no error, got {e:#?}");
}

/// A BGPPeer document.
pub fn peer(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
    )
}

/// An IPAddressPool document.
pub fn pool(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
    )
}

/// An IPAddressPool document with labels.
pub fn pool_labeled(name: &str, labels: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: metallb-system, labels: {labels}}}\nspec: {spec}\n"
    )
}

/// A BGPAdvertisement document.
pub fn bgp_ad(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
    )
}

/// An L2Advertisement document.
pub fn l2_ad(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
    )
}

/// A Community document.
pub fn community(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
    )
}

/// A BFDProfile document.
pub fn bfd(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {spec}\n"
    )
}
