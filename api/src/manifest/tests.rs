//! Manifest reading: `kind: List`, unknown fields, the legacy ConfigMap rule.

use super::*;

const L2_TYPO: &str = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2, namespace: metallb-system}\nspec:\n  ipAddresPools: [a]\n";

fn unknown(text: &str) -> Vec<String> {
    read_manifest(text)
        .errors
        .iter()
        .filter_map(|e| match e {
            ManifestError::UnknownField { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn unknown_fields_are_errors_with_their_path() {
    let m = read_manifest(L2_TYPO);
    assert_eq!(
        m.errors[0].to_string(),
        "document 0: L2Advertisement \"l2\": unknown field \"spec.ipAddresPools\""
    );
    // The object is still read (the rest of the configuration is validated with it).
    assert_eq!(m.objects.len(), 1);
    assert!(parse_manifests(L2_TYPO).is_err());

    let nested = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2, labelz: {a: b}}\nspec:\n  nodeSelectors:\n  - matchLabels: {a: b}\n  - matchLabelz: {a: b}\n  interfaces: [eth0]\n";
    assert_eq!(
        unknown(nested),
        ["metadata.labelz", "spec.nodeSelectors[1].matchLabelz"]
    );
    let peer = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, holdtime: 3s}\n";
    assert_eq!(unknown(peer), ["spec.holdtime"]);
}

#[test]
fn known_fields_and_free_form_maps_pass() {
    let ok = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: a\n  namespace: metallb-system\n  labels: {any: thing}\n  annotations: {x/y: z}\nspec:\n  addresses: [10.0.0.0/24]\n  autoAssign: false\n  serviceAllocation:\n    priority: 1\n    namespaceSelectors:\n    - matchLabels: {free: form}\n      matchExpressions: [{key: k, operator: In, values: [v]}]\n";
    let m = read_manifest(ok);
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    // Objects of other groups are not checked.
    assert!(
        unknown("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {whatever: 1}\n")
            .is_empty()
    );
}

#[test]
fn list_documents_are_expanded() {
    let list = "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: a}\n  spec: {addresses: [10.0.0.0/24]}\n- apiVersion: metallb.io/v1beta1\n  kind: L2Advertisement\n  metadata: {name: b}\n";
    let objects = parse_manifests(list).expect("list");
    assert!(matches!(objects[0], ApiObject::IPAddressPool(_)));
    assert!(matches!(objects[1], ApiObject::L2Advertisement(_)));
    assert_eq!(objects.len(), 2);
}

fn cm(name: &str, ns: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {data}\n---\n"
    )
}

#[test]
fn legacy_configmap_rule() {
    let docs = |t: &str| documents(t).expect("yaml");
    let payload = "{config: \"peers: []\"}";
    // Named `config` wins over other candidates; no warning.
    let d = docs(&(cm("other", "n", payload) + &cm("config", "lb", payload)));
    let found = legacy_configmap::find(&d).expect("ok").expect("found");
    assert_eq!((found.index, found.warning.as_deref()), (1, None));
    assert_eq!(found.namespace.as_deref(), Some("lb"));
    // The only candidate is used with a warning.
    let d = docs(&(cm("metallb-config", "n", payload) + &cm("unrelated", "n", "{x: y}")));
    let found = legacy_configmap::find(&d).expect("ok").expect("found");
    assert_eq!(found.name, "metallb-config");
    assert!(found.warning.is_some());
    // Ambiguities and bad payloads are errors.
    let d = docs(&(cm("config", "a", payload) + &cm("config", "b", payload)));
    assert!(matches!(
        legacy_configmap::find(&d),
        Err(FindError::SeveralNamed { .. })
    ));
    let d = docs(&(cm("x", "a", payload) + &cm("y", "b", payload)));
    assert!(matches!(
        legacy_configmap::find(&d),
        Err(FindError::SeveralUnnamed { .. })
    ));
    let d = docs(&cm("config", "a", "{config: \"\"}"));
    assert_eq!(
        legacy_configmap::find(&d).unwrap_err().to_string(),
        "ConfigMap a/config data.config: bad ConfigMap: no data"
    );
    let d = docs(&cm("config", "a", "{config: {peers: []}}"));
    assert!(matches!(
        legacy_configmap::find(&d),
        Err(FindError::NotAString { .. })
    ));
    // No candidate: no legacy configuration (a ConfigMap `config` without the key is not one).
    let d = docs(&cm("config", "a", "{other: x}"));
    assert_eq!(legacy_configmap::find(&d), Ok(None));
    // In a List, as `kubectl get configmaps -o yaml` prints them.
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: config, namespace: n}\n  data: {config: \"peers: []\"}\n";
    let objects = parse_manifests(list).expect("list");
    assert!(
        matches!(
            &objects[0],
            ApiObject::LegacyConfigMap { namespace: Some(n), .. } if n == "n"
        ),
        "{objects:?}"
    );
}

#[test]
fn documents_must_be_kubernetes_objects() {
    for text in [
        "- a\n",
        "just text\n",
        "kind: ConfigMap\n",
        "apiVersion: v1\nkind: List\nitems: [3]\n",
    ] {
        let m = read_manifest(text);
        assert!(
            matches!(
                m.errors.as_slice(),
                [ManifestError::NotAnObject { index: 0 }]
            ),
            "{text}: {:?}",
            m.errors
        );
    }
}

#[test]
fn ferrolb_io_crd_and_objects_are_passed_through() {
    // The install manifest carries the ferrolb.io BGPSessionState CRD, and `kubectl get -o yaml`
    // of the sessions prints its objects: neither is a metallb.io object to validate.
    let (_, crd) = crate::crd::render_all()
        .expect("crds")
        .into_iter()
        .find(|(name, _)| name == "ferrolb.io_bgpsessionstates.yaml")
        .expect("BGPSessionState CRD rendered");
    let session = "---\napiVersion: ferrolb.io/v1alpha1\nkind: BGPSessionState\nmetadata: {name: n1-r1-0a1b2c3d, namespace: metallb-system}\nstatus: {node: n1, peer: 192.0.2.1, bgpStatus: Established, prefixesSent: 3}\n";
    let objects = parse_manifests(&format!("{crd}{session}")).expect("no error");
    assert_eq!(
        objects,
        vec![
            ApiObject::Other {
                api_version: "apiextensions.k8s.io/v1".into(),
                kind: "CustomResourceDefinition".into()
            },
            ApiObject::Other {
                api_version: "ferrolb.io/v1alpha1".into(),
                kind: "BGPSessionState".into()
            },
        ]
    );
}
