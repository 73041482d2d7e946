//! Unknown fields of `metallb.io` objects, found as the API server's strict field validation
//! finds them (`kubectl apply` defaults to `--validate=strict`: `strict decoding error: unknown
//! field "spec.ipAddresPools"`). serde ignores unknown keys, so without this check a typo such
//! as `ipAddresPools` in an L2Advertisement silently means "announce every pool".
//!
//! The object is walked against the `openAPIV3Schema` of the very CRDs ferrolb installs
//! ([`crate::all_crds`]): a key is unknown where the schema lists `properties` without it and
//! allows no `additionalProperties`; `x-kubernetes-preserve-unknown-fields` stops the walk.
//! `metadata` is checked against `ObjectMeta`'s fields (the CRD schema only says `object`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// `ObjectMeta`'s fields (`k8s.io/apimachinery/pkg/apis/meta/v1`).
const OBJECT_META_FIELDS: &[&str] = &[
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// `(version, kind)` → `openAPIV3Schema`, built once from the CRDs.
fn schemas() -> &'static BTreeMap<(String, String), Value> {
    static SCHEMAS: OnceLock<BTreeMap<(String, String), Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut out = BTreeMap::new();
        // `all_crds` is covered by the CRD tests; if it failed, no field would be checked.
        for crd in crate::all_crds().unwrap_or_default() {
            for v in crd.spec.versions {
                let schema = v.schema.and_then(|s| s.open_api_v3_schema);
                if let Some(Ok(schema)) = schema.map(serde_json::to_value) {
                    out.insert((v.name, crd.spec.names.kind.clone()), schema);
                }
            }
        }
        out
    })
}

/// Paths of the fields of `object` (a `metallb.io/<version>` `kind`) that its CRD does not
/// define, e.g. `spec.ipAddresPools`, `spec.nodeSelectors[0].matchLabel`.
pub(crate) fn unknown_fields(object: &Value, version: &str, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(schema) = schemas().get(&(version.to_owned(), kind.to_owned())) {
        walk(object, schema, "", &mut out);
        if let Some(Value::Object(meta)) = object.get("metadata") {
            out.extend(
                meta.keys()
                    .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
                    .map(|k| format!("metadata.{k}")),
            );
        }
    }
    out.sort();
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(map) => walk_object(map, schema, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn walk_object(map: &Map<String, Value>, schema: &Value, path: &str, out: &mut Vec<String>) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (key, v) in map {
        let child = join(path, key);
        match (properties.and_then(|p| p.get(key)), additional) {
            // Type and object metadata are not part of kube's CRD schemas; `metadata` is
            // checked separately.
            _ if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") => {}
            (Some(s), _) => walk(v, s, &child, out),
            (None, Some(Value::Bool(true))) => {}
            (None, Some(s @ Value::Object(_))) => walk(v, s, &child, out),
            (None, _) if properties.is_some() => out.push(child),
            // A schema without `properties` says nothing about keys: not checked.
            (None, _) => {}
        }
    }
}
