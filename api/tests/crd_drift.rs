//! The committed `config/crd/bases/*.yaml` are exactly what the code generates, and generation
//! is stable. Fix a failure with `cargo run -p ferrolb-api --bin crdgen`.

use std::path::Path;

use ferrolb_api::crd::{drift, render_all};

#[test]
fn committed_crds_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/crd/bases");
    let files = render_all().expect("render");
    let problems = drift(&dir, &files);
    assert!(problems.is_empty(), "CRD drift:\n{}", problems.join("\n"));
}

#[test]
fn generation_is_stable() {
    assert_eq!(render_all().expect("first"), render_all().expect("second"));
}

#[test]
fn drift_detects_changes() {
    let dir = std::env::temp_dir().join(format!("ferrolb-crd-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let files = render_all().expect("render");
    for (name, yaml) in &files {
        std::fs::write(dir.join(name), yaml).expect("write");
    }
    assert!(drift(&dir, &files).is_empty());
    let (first, _) = &files[0];
    std::fs::write(dir.join(first), "edited by hand").expect("write");
    std::fs::write(dir.join("metallb.io_stale.yaml"), "old").expect("write");
    let problems = drift(&dir, &files);
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains(first.as_str()) && problems[0].contains("differs"));
    assert!(problems[1].contains("metallb.io_stale.yaml"));
}
