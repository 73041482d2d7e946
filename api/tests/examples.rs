//! Every user configuration in `tests/data/examples/` (copied from the project's shared
//! examples, which are real MetalLB guide configurations) reads into ferrolb's types.

use std::path::{Path, PathBuf};

use ferrolb_api::manifest::{ApiObject, parse_manifests};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/examples")
}

fn example(name: &str) -> Vec<ApiObject> {
    let text = std::fs::read_to_string(examples_dir().join(name)).expect("example file");
    parse_manifests(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_example_parses_and_has_metallb_objects() {
    let mut files: Vec<_> = std::fs::read_dir(examples_dir())
        .expect("examples dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the five shared examples, found {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let objects = parse_manifests(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ours = objects
            .iter()
            .filter(|o| !matches!(o, ApiObject::Other { .. }))
            .count();
        assert!(
            ours > 0,
            "{}: no metallb.io object or legacy ConfigMap found",
            path.display()
        );
    }
}

#[test]
fn helm_l2_pool_reads_as_guide_says() {
    let objects = example("helm-l2-pool.yaml");
    let [
        ApiObject::IPAddressPool(pool),
        ApiObject::L2Advertisement(l2),
    ] = objects.as_slice()
    else {
        panic!("unexpected objects: {objects:?}");
    };
    assert_eq!(pool.metadata.name.as_deref(), Some("ipaddresspool"));
    assert_eq!(pool.metadata.namespace.as_deref(), Some("metallb-system"));
    assert_eq!(pool.spec.addresses, vec!["192.168.0.200-192.168.0.250"]);
    assert!(pool.spec.auto_assign(), "autoAssign defaults to true");
    assert!(
        !pool.spec.avoid_buggy_ips(),
        "avoidBuggyIPs defaults to false"
    );
    assert_eq!(l2.spec.ip_address_pools, vec!["ipaddresspool"]);
}

#[test]
fn bgp_peering_reads_v1beta2_peer_and_advertisement() {
    let objects = example("bgp-peering.yaml");
    let peer = objects
        .iter()
        .find_map(|o| match o {
            ApiObject::BGPPeer(p) => Some(p),
            _ => None,
        })
        .expect("a v1beta2 BGPPeer");
    assert_eq!(peer.spec.my_asn, 64512);
    assert_eq!(peer.spec.peer_asn, Some(64513));
    assert_eq!(peer.spec.peer_address.as_deref(), Some("192.168.0.1"));
    assert_eq!(peer.spec.peer_port(), 179);
    let adv = objects
        .iter()
        .find_map(|o| match o {
            ApiObject::BGPAdvertisement(a) => Some(a),
            _ => None,
        })
        .expect("a BGPAdvertisement");
    assert_eq!(adv.spec.ip_address_pools, vec!["bgp-pool"]);
    assert_eq!(adv.spec.aggregation_length(), 32);
    assert_eq!(adv.spec.aggregation_length_v6(), 128);
    let services = objects
        .iter()
        .filter(|o| matches!(o, ApiObject::Other { kind, .. } if kind == "Service"))
        .count();
    assert_eq!(services, 1, "the Service is passed through, not dropped");
}

#[test]
fn kind_l2_pool_skips_pods_and_services() {
    let objects = example("kind-l2-pool.yaml");
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| match o {
            ApiObject::IPAddressPool(_) => "IPAddressPool",
            ApiObject::L2Advertisement(_) => "L2Advertisement",
            ApiObject::Other { kind, .. } => kind.as_str(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "IPAddressPool",
            "L2Advertisement",
            "Pod",
            "Pod",
            "Service",
            "Service",
            "Service"
        ]
    );
}

#[test]
fn legacy_configmaps_are_recognised() {
    for (file, pool, range) in [
        (
            "legacy-configmap-book.yaml",
            "nginx-ip-range",
            "192.168.1.11-192.168.1.13",
        ),
        (
            "legacy-configmap-kubeflow.yaml",
            "default",
            "192.168.35.100-192.168.35.110",
        ),
    ] {
        let objects = example(file);
        let Some(ApiObject::LegacyConfigMap {
            namespace, config, ..
        }) = objects.first()
        else {
            panic!("{file}: first object is not the legacy ConfigMap: {objects:?}");
        };
        assert_eq!(namespace.as_deref(), Some("metallb-system"));
        assert_eq!(config.address_pools.len(), 1);
        let p = &config.address_pools[0];
        assert_eq!(p.name.as_deref(), Some(pool));
        assert_eq!(p.protocol.as_deref(), Some("layer2"));
        assert_eq!(p.addresses, vec![range]);
    }
}

/// When the shared examples are next to the project, our copies must not have drifted.
#[test]
fn copies_match_shared_examples_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/examples");
    let Ok(entries) = std::fs::read_dir(&shared) else {
        eprintln!("skipping: {} not present", shared.display());
        return;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let name = path.file_name().expect("file name");
        let ours = std::fs::read_to_string(examples_dir().join(name))
            .unwrap_or_else(|e| panic!("missing copy of {}: {e}", path.display()));
        let theirs = std::fs::read_to_string(&path).expect("read shared");
        assert_eq!(
            ours, theirs,
            "api/tests/data/examples/{name:?} differs from shared/examples"
        );
    }
}

#[test]
fn spec_may_be_omitted_as_in_metallb_docs() {
    let text = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: example\n  namespace: metallb-system\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: example\n  namespace: metallb-system\n";
    let objects = parse_manifests(text).expect("spec-less advertisements are valid");
    assert!(matches!(&objects[0], ApiObject::L2Advertisement(a) if a.spec == Default::default()));
    assert!(matches!(&objects[1], ApiObject::BGPAdvertisement(a) if a.spec.peers.is_empty()));
    // And they serialize back with an empty spec, which the API server accepts.
    let ApiObject::L2Advertisement(a) = &objects[0] else {
        unreachable!()
    };
    let json = serde_json::to_value(a).expect("serialize");
    assert_eq!(json["spec"], serde_json::json!({}));
}

#[test]
fn wrong_types_are_reported_with_path() {
    let text = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n  myASN: not-a-number\n";
    let err = parse_manifests(text)
        .expect_err("myASN must be a number")
        .to_string();
    assert!(
        err.contains("BGPPeer") && err.contains("\"p\"") && err.contains("spec.myASN"),
        "{err}"
    );
    let text = "apiVersion: metallb.io/v1beta3\nkind: BGPPeer\nmetadata:\n  name: p\n";
    let err = parse_manifests(text)
        .expect_err("no such version")
        .to_string();
    assert!(
        err.contains("unknown metallb.io kind BGPPeer in metallb.io/v1beta3"),
        "{err}"
    );
}
