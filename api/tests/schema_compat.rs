//! The generated CRDs match MetalLB's schema for every field MetalLB has: names, types, required
//! lists, enums, bounds, defaults, printer columns, versions and subresources. Expected values
//! are transcribed from MetalLB v0.16's `config/crd/bases/metallb.io_*.yaml` (and `main` for
//! `preferredNodeSelectors`), as summarised in the project's API reference.

use ferrolb_api::all_crds;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

fn crd(plural: &str) -> CustomResourceDefinition {
    all_crds()
        .expect("crds")
        .into_iter()
        .find(|c| c.spec.names.plural == plural)
        .expect(plural)
}

fn schema(plural: &str, version: &str) -> Value {
    let c = crd(plural);
    let v = c
        .spec
        .versions
        .into_iter()
        .find(|v| v.name == version)
        .expect(version);
    serde_json::to_value(
        v.schema
            .expect("schema")
            .open_api_v3_schema
            .expect("schema"),
    )
    .expect("json")
}

/// Follows a dotted path of property names (`[]` steps into array items).
fn at<'a>(s: &'a Value, path: &str) -> &'a Value {
    let mut cur = s;
    for part in path.split('.') {
        cur = if part == "[]" {
            &cur["items"]
        } else {
            &cur["properties"][part]
        };
        assert!(!cur.is_null(), "no schema at {path} (stuck at {part})");
    }
    cur
}

fn props(s: &Value, path: &str) -> Vec<String> {
    let node = if path.is_empty() { s } else { at(s, path) };
    let mut keys: Vec<String> = node["properties"]
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn required(s: &Value, path: &str) -> Vec<String> {
    let node = if path.is_empty() { s } else { at(s, path) };
    let mut r: Vec<String> = node["required"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    r.sort();
    r
}

/// (path, type, extra keys that must match exactly)
type Field = (&'static str, &'static str, Value);

fn assert_fields(plural: &str, version: &str, fields: &[Field]) {
    let s = schema(plural, version);
    for (path, ty, extra) in fields {
        let node = at(&s, path);
        assert_eq!(node["type"], json!(ty), "{plural}/{version} {path} type");
        for (k, v) in extra.as_object().expect("extra is an object") {
            let got = &node[k];
            let same = got == v || (got.is_f64() && v.as_f64() == got.as_f64());
            assert!(same, "{plural}/{version} {path}.{k}: want {v}, got {got}");
        }
    }
}

#[test]
fn ipaddresspool() {
    let s = schema("ipaddresspools", "v1beta1");
    assert_eq!(
        props(&s, "spec"),
        [
            "addresses",
            "autoAssign",
            "avoidBuggyIPs",
            "serviceAllocation"
        ]
    );
    assert_eq!(required(&s, ""), ["spec"]);
    assert_eq!(required(&s, "spec"), ["addresses"]);
    assert_eq!(
        required(&s, "status"),
        [
            "assignedIPv4",
            "assignedIPv6",
            "availableIPv4",
            "availableIPv6"
        ]
    );
    assert_eq!(
        props(&s, "spec.serviceAllocation"),
        [
            "namespaceSelectors",
            "namespaces",
            "priority",
            "serviceSelectors"
        ]
    );
    assert_fields(
        "ipaddresspools",
        "v1beta1",
        &[
            (
                "spec.addresses",
                "array",
                json!({"items": {"type": "string"}}),
            ),
            ("spec.autoAssign", "boolean", json!({"default": true})),
            ("spec.avoidBuggyIPs", "boolean", json!({"default": false})),
            ("spec.serviceAllocation.priority", "integer", json!({})),
            (
                "spec.serviceAllocation.namespaceSelectors",
                "array",
                json!({}),
            ),
            (
                "spec.serviceAllocation.namespaceSelectors.[]",
                "object",
                json!({"x-kubernetes-map-type": "atomic"}),
            ),
            ("status.assignedIPv4", "integer", json!({"format": "int64"})),
            (
                "status.availableIPv6",
                "integer",
                json!({"format": "int64"}),
            ),
        ],
    );
}

#[test]
fn l2advertisement() {
    let s = schema("l2advertisements", "v1beta1");
    assert_eq!(
        props(&s, "spec"),
        [
            "interfaces",
            "ipAddressPoolSelectors",
            "ipAddressPools",
            "nodeSelectors",
            "preferredNodeSelectors",
            "serviceSelectors"
        ]
    );
    assert!(required(&s, "").is_empty(), "spec is optional");
    assert_eq!(
        required(&s, "spec.preferredNodeSelectors.[]"),
        ["preference", "weight"]
    );
    assert_fields(
        "l2advertisements",
        "v1beta1",
        &[
            (
                "spec.preferredNodeSelectors.[].weight",
                "integer",
                json!({"minimum": 1, "maximum": 100, "format": "int32"}),
            ),
            (
                "spec.preferredNodeSelectors.[].preference",
                "object",
                json!({"x-kubernetes-map-type": "atomic"}),
            ),
            (
                "spec.nodeSelectors.[]",
                "object",
                json!({"x-kubernetes-map-type": "atomic"}),
            ),
            (
                "spec.serviceSelectors.[].matchExpressions.[]",
                "object",
                json!({"required": ["key", "operator"]}),
            ),
        ],
    );
}

#[test]
fn bgpadvertisement() {
    let s = schema("bgpadvertisements", "v1beta1");
    assert_eq!(
        props(&s, "spec"),
        [
            "aggregationLength",
            "aggregationLengthV6",
            "communities",
            "ipAddressPoolSelectors",
            "ipAddressPools",
            "localPref",
            "nodeSelectors",
            "peers",
            "serviceSelectors"
        ]
    );
    assert_fields(
        "bgpadvertisements",
        "v1beta1",
        &[
            (
                "spec.aggregationLength",
                "integer",
                json!({"default": 32, "minimum": 1, "format": "int32"}),
            ),
            (
                "spec.aggregationLengthV6",
                "integer",
                json!({"default": 128, "format": "int32"}),
            ),
            ("spec.localPref", "integer", json!({"format": "int32"})),
        ],
    );
    assert_eq!(
        at(&s, "spec")["x-kubernetes-validations"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn bgppeer_versions_and_conversion() {
    let c = crd("bgppeers");
    let versions: Vec<(String, bool, bool, bool)> = c
        .spec
        .versions
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                v.served,
                v.storage,
                v.deprecated.unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            ("v1beta1".into(), true, false, true),
            ("v1beta2".into(), true, true, false)
        ]
    );
    let v1 = c
        .spec
        .versions
        .iter()
        .find(|v| v.name == "v1beta1")
        .expect("v1beta1");
    assert_eq!(
        v1.deprecation_warning.as_deref(),
        Some("v1beta1 is deprecated, please use v1beta2")
    );
    let conv = c.spec.conversion.as_ref().expect("conversion");
    assert_eq!(conv.strategy, "Webhook");
    let wh = conv.webhook.as_ref().expect("webhook");
    assert_eq!(wh.conversion_review_versions, ["v1beta1", "v1beta2"]);
    let svc = wh
        .client_config
        .as_ref()
        .and_then(|c| c.service.as_ref())
        .expect("service");
    assert_eq!(
        (
            svc.name.as_str(),
            svc.namespace.as_str(),
            svc.path.as_deref()
        ),
        (
            "metallb-webhook-service",
            "metallb-system",
            Some("/convert")
        )
    );
}

#[test]
fn bgppeer_v1beta2() {
    let s = schema("bgppeers", "v1beta2");
    assert_eq!(
        props(&s, "spec"),
        [
            "bfdProfile",
            "connectTime",
            "disableMP",
            "dualStackAddressFamily",
            "dynamicASN",
            "ebgpMultiHop",
            "enableGracefulRestart",
            "holdTime",
            "interface",
            "keepaliveTime",
            "localASN",
            "myASN",
            "nodeSelectors",
            "password",
            "passwordSecret",
            "peerASN",
            "peerAddress",
            "peerPort",
            "routerID",
            "sourceAddress",
            "vrf",
        ]
    );
    assert_eq!(required(&s, "spec"), ["myASN"]);
    assert_fields(
        "bgppeers",
        "v1beta2",
        &[
            (
                "spec.myASN",
                "integer",
                json!({"minimum": 0, "maximum": 4294967295u64, "format": "int64"}),
            ),
            (
                "spec.peerASN",
                "integer",
                json!({"minimum": 0, "maximum": 4294967295u64}),
            ),
            (
                "spec.localASN",
                "integer",
                json!({"minimum": 1, "maximum": 4294967295u64}),
            ),
            (
                "spec.dynamicASN",
                "string",
                json!({"enum": ["internal", "external"]}),
            ),
            (
                "spec.peerPort",
                "integer",
                json!({"default": 179, "minimum": 1, "maximum": 16384}),
            ),
            ("spec.holdTime", "string", json!({})),
            ("spec.keepaliveTime", "string", json!({})),
            ("spec.connectTime", "string", json!({})),
            (
                "spec.passwordSecret",
                "object",
                json!({"x-kubernetes-map-type": "atomic"}),
            ),
            ("spec.disableMP", "boolean", json!({"default": false})),
            (
                "spec.dualStackAddressFamily",
                "boolean",
                json!({"default": false}),
            ),
            (
                "spec.nodeSelectors.[]",
                "object",
                json!({"x-kubernetes-map-type": "atomic"}),
            ),
        ],
    );
    assert_eq!(
        at(&s, "spec.connectTime")["x-kubernetes-validations"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        at(&s, "spec.enableGracefulRestart")["x-kubernetes-validations"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn bgppeer_v1beta1() {
    let s = schema("bgppeers", "v1beta1");
    assert_eq!(
        props(&s, "spec"),
        [
            "bfdProfile",
            "ebgpMultiHop",
            "holdTime",
            "keepaliveTime",
            "myASN",
            "nodeSelectors",
            "password",
            "peerASN",
            "peerAddress",
            "peerPort",
            "routerID",
            "sourceAddress"
        ]
    );
    assert_eq!(required(&s, "spec"), ["myASN", "peerASN", "peerAddress"]);
    assert_eq!(
        required(&s, "spec.nodeSelectors.[].matchExpressions.[]"),
        ["key", "operator", "values"]
    );
    assert_fields(
        "bgppeers",
        "v1beta1",
        &[
            (
                "spec.peerPort",
                "integer",
                json!({"minimum": 0, "maximum": 16384}),
            ),
            // int64, not int32: the API server refuses an int32 field whose maximum is 2^32-1.
            (
                "spec.myASN",
                "integer",
                json!({"minimum": 0, "maximum": 4294967295u64, "format": "int64"}),
            ),
            (
                "spec.peerASN",
                "integer",
                json!({"minimum": 0, "maximum": 4294967295u64, "format": "int64"}),
            ),
            (
                "spec.nodeSelectors.[].matchExpressions.[].values",
                "array",
                json!({"minItems": 1}),
            ),
            (
                "spec.nodeSelectors.[].matchLabels",
                "object",
                json!({"additionalProperties": {"type": "string"}}),
            ),
        ],
    );
    assert!(
        at(&s, "spec.peerPort").get("default").is_none(),
        "v1beta1 peerPort has no default"
    );
}

#[test]
fn bfdprofile() {
    let s = schema("bfdprofiles", "v1beta1");
    assert_eq!(
        props(&s, "spec"),
        [
            "detectMultiplier",
            "echoInterval",
            "echoMode",
            "minimumTtl",
            "passiveMode",
            "receiveInterval",
            "transmitInterval"
        ]
    );
    assert_fields(
        "bfdprofiles",
        "v1beta1",
        &[
            (
                "spec.receiveInterval",
                "integer",
                json!({"minimum": 10, "maximum": 60000}),
            ),
            (
                "spec.transmitInterval",
                "integer",
                json!({"minimum": 10, "maximum": 60000}),
            ),
            (
                "spec.echoInterval",
                "integer",
                json!({"minimum": 10, "maximum": 60000}),
            ),
            (
                "spec.detectMultiplier",
                "integer",
                json!({"minimum": 2, "maximum": 255}),
            ),
            (
                "spec.minimumTtl",
                "integer",
                json!({"minimum": 1, "maximum": 254}),
            ),
            ("spec.echoMode", "boolean", json!({})),
            ("spec.passiveMode", "boolean", json!({})),
        ],
    );
}

#[test]
fn bgp_session_state_is_ferrolbs_own_status_only_kind() {
    let c = crd("bgpsessionstates");
    assert_eq!(
        c.metadata.name.as_deref(),
        Some("bgpsessionstates.ferrolb.io")
    );
    assert_eq!(c.spec.names.kind, "BGPSessionState");
    let versions: Vec<&str> = c.spec.versions.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(versions, ["v1alpha1"]);
    let s = schema("bgpsessionstates", "v1alpha1");
    assert!(s["properties"].get("spec").is_none(), "status only");
    assert_eq!(
        props(&s, "status"),
        [
            "bfdStatus",
            "bgpStatus",
            "establishedSince",
            "lastError",
            "node",
            "peer",
            "peerName",
            "peerPort",
            "prefixesSent",
            "updatesSent"
        ]
    );
    assert_fields(
        "bgpsessionstates",
        "v1alpha1",
        &[
            (
                "status.prefixesSent",
                "integer",
                json!({"format": "int64", "minimum": 0}),
            ),
            (
                "status.updatesSent",
                "integer",
                json!({"format": "int64", "minimum": 0}),
            ),
            (
                "status.peerPort",
                "integer",
                json!({"minimum": 0, "maximum": 65535}),
            ),
        ],
    );
}

#[test]
fn community_and_statuses() {
    let s = schema("communities", "v1beta1");
    assert_eq!(props(&s, "spec.communities.[]"), ["name", "value"]);
    let s = schema("servicel2statuses", "v1beta1");
    assert_eq!(
        props(&s, "status"),
        ["interfaces", "node", "serviceName", "serviceNamespace"]
    );
    assert_eq!(props(&s, "status.interfaces.[]"), ["name"]);
    let s = schema("servicebgpstatuses", "v1beta1");
    assert_eq!(
        props(&s, "status"),
        ["node", "peers", "serviceName", "serviceNamespace"]
    );
    let s = schema("configurationstates", "v1beta1");
    assert!(
        s["properties"].get("spec").is_none(),
        "ConfigurationState has no spec"
    );
    assert_eq!(
        props(&s, "status"),
        ["conditions", "errorSummary", "result"]
    );
    assert_fields(
        "configurationstates",
        "v1beta1",
        &[
            (
                "status.result",
                "string",
                json!({"enum": ["Valid", "Invalid", "Unknown"]}),
            ),
            (
                "status.conditions",
                "array",
                json!({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
            ),
        ],
    );
}

#[test]
fn config_kinds_carry_ready_conditions() {
    for (plural, version) in [
        ("ipaddresspools", "v1beta1"),
        ("l2advertisements", "v1beta1"),
        ("bgpadvertisements", "v1beta1"),
        ("bgppeers", "v1beta2"),
        ("bgppeers", "v1beta1"),
        ("bfdprofiles", "v1beta1"),
        ("communities", "v1beta1"),
    ] {
        let s = schema(plural, version);
        let cond = at(&s, "status.conditions");
        assert_eq!(cond["x-kubernetes-list-type"], json!("map"), "{plural}");
        assert_eq!(
            required(&s, "status.conditions.[]"),
            ["lastTransitionTime", "message", "reason", "status", "type"],
            "{plural}"
        );
        assert_eq!(
            at(&s, "status.observedGeneration")["type"],
            json!("integer"),
            "{plural}"
        );
    }
}

#[test]
fn common_shape_printer_columns_and_subresources() {
    /// (name, type, jsonPath) of each printer column, per CRD plural.
    type Columns = &'static [(&'static str, &'static str, &'static str)];
    let expected: &[(&str, Columns)] = &[
        (
            "ipaddresspools",
            &[
                ("Auto Assign", "boolean", ".spec.autoAssign"),
                ("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs"),
                ("Addresses", "string", ".spec.addresses"),
            ],
        ),
        (
            "l2advertisements",
            &[
                ("IPAddressPools", "string", ".spec.ipAddressPools"),
                (
                    "IPAddressPool Selectors",
                    "string",
                    ".spec.ipAddressPoolSelectors",
                ),
                ("Interfaces", "string", ".spec.interfaces"),
                ("Node Selectors", "string", ".spec.nodeSelectors"),
            ],
        ),
        (
            "bgpadvertisements",
            &[
                ("IPAddressPools", "string", ".spec.ipAddressPools"),
                (
                    "IPAddressPool Selectors",
                    "string",
                    ".spec.ipAddressPoolSelectors",
                ),
                ("Peers", "string", ".spec.peers"),
                ("Node Selectors", "string", ".spec.nodeSelectors"),
            ],
        ),
        (
            "bgppeers",
            &[
                ("Address", "string", ".spec.peerAddress"),
                ("ASN", "string", ".spec.peerASN"),
                ("BFD Profile", "string", ".spec.bfdProfile"),
                ("Multi Hops", "string", ".spec.ebgpMultiHop"),
            ],
        ),
        (
            "bfdprofiles",
            &[
                ("Passive Mode", "boolean", ".spec.passiveMode"),
                ("Transmit Interval", "integer", ".spec.transmitInterval"),
                ("Receive Interval", "integer", ".spec.receiveInterval"),
                ("Multiplier", "integer", ".spec.detectMultiplier"),
            ],
        ),
        ("communities", &[]),
        (
            "servicel2statuses",
            &[
                ("Allocated Node", "string", ".status.node"),
                ("Service Name", "string", ".status.serviceName"),
                ("Service Namespace", "string", ".status.serviceNamespace"),
            ],
        ),
        (
            "servicebgpstatuses",
            &[
                ("Node", "string", ".status.node"),
                ("Service Name", "string", ".status.serviceName"),
                ("Service Namespace", "string", ".status.serviceNamespace"),
            ],
        ),
        (
            "configurationstates",
            &[
                ("Result", "string", ".status.result"),
                ("ErrorSummary", "string", ".status.errorSummary"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
        // ferrolb's own status kind (ferrolb.io, not MetalLB's): frr-k8s-like columns.
        (
            "bgpsessionstates",
            &[
                ("Node", "string", ".status.node"),
                ("Peer", "string", ".status.peer"),
                ("State", "string", ".status.bgpStatus"),
                ("Prefixes", "integer", ".status.prefixesSent"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
    ];
    let all = all_crds().expect("crds");
    assert_eq!(all.len(), expected.len(), "one CRD per kind");
    for (plural, cols) in expected {
        let c = crd(plural);
        let group = if *plural == "bgpsessionstates" {
            "ferrolb.io"
        } else {
            "metallb.io"
        };
        assert_eq!(c.spec.group, group, "{plural}");
        assert_eq!(c.spec.scope, "Namespaced", "{plural}");
        assert!(
            c.spec.names.short_names.is_none(),
            "{plural}: MetalLB has no shortNames"
        );
        for v in &c.spec.versions {
            assert!(
                v.subresources
                    .as_ref()
                    .and_then(|s| s.status.as_ref())
                    .is_some(),
                "{plural} {} has status subresource",
                v.name
            );
            let got: Vec<(&str, &str, &str)> = v
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|p| (p.name.as_str(), p.type_.as_str(), p.json_path.as_str()))
                .collect();
            assert_eq!(&got, cols, "{plural} {} printer columns", v.name);
        }
    }
    let l2 = crd("l2advertisements");
    let node_sel = l2.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .find(|p| p.name == "Node Selectors")
        .expect("col");
    assert_eq!(node_sel.priority, Some(10));
    let serialized = serde_json::to_string(&all).expect("json");
    assert!(!serialized.contains("\"nullable\""), "no nullable markers");
}
