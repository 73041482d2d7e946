//! The `metallb.io` API as Rust types: every CRD kind and version that MetalLB v0.16 serves
//! (plus `preferredNodeSelectors` from MetalLB's main branch), the legacy (≤ v0.12) ConfigMap
//! format, and the well-known names (annotations, labels, namespace) users' YAML relies on.
//!
//! Field names, defaults, bounds, enums and CEL rules follow MetalLB's generated CRDs
//! (`config/crd/bases/metallb.io_*.yaml` upstream) so a MetalLB user's manifests apply unchanged.
//! ferrolb adds `status.conditions` to the configuration kinds so GitOps tools can judge health,
//! and its own status-only kinds in the `ferrolb.io` group ([`ferrolb`]).

// `printcolumn(..., type_ = "string", ...)` repeated per column trips this lint on kube's derive.
#![allow(clippy::duplicated_attributes)]

#[macro_use]
mod optional_spec;
pub mod crd;
pub mod duration;
pub mod ferrolb;
pub mod legacy;
pub mod manifest;
pub mod names;
pub mod schema;
pub mod selector;
pub mod status;
pub mod v1beta1;
pub mod v1beta2;
pub mod yaml;

pub use crd::{CrdError, all_crds, crd_file_name};
