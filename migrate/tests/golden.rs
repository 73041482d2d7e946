//! Golden tests: every `tests/data/<case>.yaml` (a ConfigMap manifest, or a bare `config`
//! payload when the name ends in `-data`) converts to exactly `tests/data/<case>.golden`.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p ferrolb-migrate --test golden` and review
//! the diff.

// Test helpers panic on unexpected failures by design.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ferrolb_api::legacy::{self, LegacyConfig};
use ferrolb_api::manifest::{ApiObject, parse_manifests};
use ferrolb_migrate::{convert, to_yaml};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Reads an input the way `ferrolb migrate` would: payload, or the `config` ConfigMap.
fn load(path: &Path) -> (LegacyConfig, Option<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let stem = path.file_stem().unwrap().to_str().unwrap();
    if stem.ends_with("-data") {
        return (legacy::parse(&text).unwrap(), None);
    }
    let objects = parse_manifests(&text).unwrap();
    objects
        .into_iter()
        .find_map(|o| match o {
            ApiObject::LegacyConfigMap {
                namespace, config, ..
            } => Some((config, namespace)),
            _ => None,
        })
        .expect("a ConfigMap named config")
}

fn render(case: &str) -> String {
    let (config, namespace) = load(&data_dir().join(format!("{case}.yaml")));
    let ns = namespace.unwrap_or_else(|| "metallb-system".to_owned());
    to_yaml(&convert(&config, &ns).unwrap())
}

fn check(case: &str) {
    let got = render(case);
    let golden = data_dir().join(format!("{case}.golden"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", golden.display()));
    assert!(
        got == want,
        "{case}: output differs from {}\n--- got ---\n{got}\n--- want ---\n{want}",
        golden.display()
    );
    // Byte-stable across runs.
    assert_eq!(render(case), got);
    // And valid YAML whose documents read back as the objects.
    let docs = ferrolb_api::yaml::documents(&got).unwrap();
    let (config, namespace) = load(&data_dir().join(format!("{case}.yaml")));
    let converted = convert(&config, namespace.as_deref().unwrap_or("metallb-system")).unwrap();
    let objects = converted.objects();
    assert_eq!(docs.len(), objects.len());
    for (doc, obj) in docs.iter().zip(&objects) {
        assert_eq!(doc, obj);
    }
    // Every document reads back as a typed metallb.io object (what `kubectl apply` will send).
    let typed = parse_manifests(&got).unwrap();
    assert_eq!(typed.len(), objects.len());
    assert!(
        typed.iter().all(|o| !matches!(
            o,
            ApiObject::Other { .. } | ApiObject::LegacyConfigMap { .. }
        )),
        "{typed:?}"
    );
}

/// The textbook lab: one layer2 pool with a range → one IPAddressPool with the range
/// verbatim and `l2advertisement1` selecting it, in the ConfigMap's namespace.
#[test]
fn book_configmap() {
    check("legacy-configmap-book");
    let (config, ns) = load(&data_dir().join("legacy-configmap-book.yaml"));
    let out = convert(&config, ns.as_deref().unwrap()).unwrap();
    assert_eq!(out.pools.len(), 1);
    assert_eq!(out.pools[0].spec.addresses, ["192.168.1.11-192.168.1.13"]);
    assert_eq!(out.l2_advertisements.len(), 1);
    assert_eq!(
        out.l2_advertisements[0].metadata.name.as_deref(),
        Some("l2advertisement1")
    );
    assert_eq!(
        out.l2_advertisements[0].spec.ip_address_pools,
        ["nginx-ip-range"]
    );
    assert!(out.peers.is_empty() && out.bgp_advertisements.is_empty());
}

/// The Kubeflow guide: the Service next to the ConfigMap is ignored.
#[test]
fn kubeflow_configmap() {
    check("legacy-configmap-kubeflow");
    let (config, _) = load(&data_dir().join("legacy-configmap-kubeflow.yaml"));
    let out = convert(&config, "metallb-system").unwrap();
    assert_eq!(out.pools[0].metadata.name.as_deref(), Some("default"));
    assert_eq!(
        out.pools[0].spec.addresses,
        ["192.168.35.100-192.168.35.110"]
    );
    assert_eq!(out.l2_advertisements[0].spec.ip_address_pools, ["default"]);
}

/// Upstream's `config-data-full` fixture (same objects as MetalLB's golden, minus
/// `creationTimestamp: null`, `passwordSecret: {}` and empty `status`).
#[test]
fn full() {
    check("full-data");
}

#[test]
fn full_configmap_other_namespace() {
    check("full-configmap");
}

#[test]
fn bgp_peers() {
    check("bgp-peers-data");
}

#[test]
fn communities() {
    check("communities-data");
}

#[test]
fn bfd_profiles() {
    check("bfd-data");
}

#[test]
fn bgp_advertisements() {
    check("bgp-ads-data");
}

/// Upstream's `config-data-convert-names` fixture.
#[test]
fn convert_names() {
    check("convert-names-data");
}

#[test]
fn empty() {
    check("empty-data");
}

/// Every input in `tests/data` has a golden file and a test above.
#[test]
fn every_input_has_a_golden() {
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            assert!(
                path.with_extension("golden").exists(),
                "{} has no golden",
                path.display()
            );
        }
    }
}
