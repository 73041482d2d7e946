//! Hand-written OpenAPI schema fragments for fields whose MetalLB schema cannot be derived
//! from the Rust type alone: controller-gen's integer formats and bounds for Go's unsigned
//! types, `metav1.Duration` strings, atomic label-selector lists and map-keyed condition lists.
//!
//! Each helper is used with `#[schemars(schema_with = "...")]`; fields using one are also
//! `#[serde(default)]` so that schemars does not mark them required.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};

/// An ASN as MetalLB v0.16 declares it: Go `uint32`, `format: int64`, 0..=4294967295.
pub fn asn(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295u64})
}

/// `localASN` (v0.16+): like [`asn`] but at least 1.
pub fn local_asn(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 4294967295u64})
}

/// An ASN of the deprecated `v1beta1` BGPPeer: 0..=4294967295. `format: int64` as in v1beta2 —
/// the API server refuses objects against a `format: int32` field whose maximum exceeds int32.
pub fn asn_v1beta1(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295u64})
}

/// `v1beta2` `peerPort`: Go `uint16`, default 179, 1..=16384.
pub fn peer_port(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "default": 179, "minimum": 1, "maximum": 16384})
}

/// `v1beta1` `peerPort`: 0..=16384, no default.
pub fn peer_port_v1beta1(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "minimum": 0, "maximum": 16384})
}

/// A counter (`format: int64`, at least 0): a Rust `u64` would render as `format: uint64`,
/// which the API server does not know.
pub fn counter(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int64", "minimum": 0})
}

/// A TCP port (0..=65535) without a default.
pub fn tcp_port(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "minimum": 0, "maximum": 65535})
}

/// A Go `uint32` without bounds, as controller-gen renders it (`format: int32`).
pub fn uint32(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int32"})
}

/// `aggregationLength`: default 32, minimum 1 (the parser rejects > 32).
pub fn aggregation_length(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int32", "default": 32, "minimum": 1})
}

/// `aggregationLengthV6`: default 128 (the parser rejects > 128).
pub fn aggregation_length_v6(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int32", "default": 128})
}

/// BFD intervals in milliseconds: 10..=60000.
pub fn bfd_interval(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int32", "minimum": 10, "maximum": 60000})
}

/// BFD detect multiplier: 2..=255.
pub fn bfd_multiplier(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int32", "minimum": 2, "maximum": 255})
}

/// BFD minimum TTL: 1..=254.
pub fn bfd_min_ttl(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 254})
}

/// A `metav1.Duration` (Go `time.ParseDuration` syntax, e.g. `90s`).
pub fn duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string"})
}

/// `autoAssign`: boolean defaulting to `true`.
pub fn default_true(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "boolean", "default": true})
}

/// A boolean defaulting to `false` (`avoidBuggyIPs`, `disableMP`, `dualStackAddressFamily`).
pub fn default_false(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "boolean", "default": false})
}

/// A list of strings.
pub fn string_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "array", "items": {"type": "string"}})
}

/// A list of standard label selectors, each `x-kubernetes-map-type: atomic`.
pub fn label_selectors(generator: &mut SchemaGenerator) -> Schema {
    let item = label_selector(generator);
    json_schema!({"type": "array", "items": item})
}

/// A standard `metav1.LabelSelector`, `x-kubernetes-map-type: atomic`.
pub fn label_selector(generator: &mut SchemaGenerator) -> Schema {
    let mut item = LabelSelector::json_schema(generator);
    item.insert("x-kubernetes-map-type".into(), "atomic".into());
    item
}

/// `status.conditions`: standard `metav1.Condition`s, a list map keyed by `type`.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let item = Condition::json_schema(generator);
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}
