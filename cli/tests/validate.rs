//! `ferrolb validate` on the shared examples (all valid) and on invalid manifests, through the
//! real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ferrolb(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrolb");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write");
    drop(input);
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_example_validates_clean() {
    for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/examples")).unwrap()
    {
        let path = f.unwrap().path();
        let out = ferrolb(&["validate", "-f", path.to_str().unwrap()], None);
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
    // A directory is validated as one set (the examples do not conflict).
    let out = ferrolb(
        &[
            "validate",
            "-f",
            "tests/data/examples/helm-l2-pool.yaml",
            "-f",
            "tests/data/examples/bgp-peering.yaml",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn legacy_configmap_is_validated_through_migrate() {
    let out = ferrolb(
        &[
            "validate",
            "-f",
            "tests/data/examples/legacy-configmap-book.yaml",
        ],
        None,
    );
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("legacy ConfigMap \"config\" is not read by ferrolb"));
}

#[test]
fn invalid_manifest_one_line_per_problem() {
    let out = ferrolb(&["validate", "-f", "tests/data/invalid"], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let expected = [
        "tests/data/invalid/broken.yaml: BGPPeer/old-peer: spec.holdTime: invalid BGPPeer timers: invalid hold time \"2s\": must be 0 or >=3s",
        "tests/data/invalid/broken.yaml: BGPPeer/old-peer: spec.peerAddress: invalid BGPPeer address \"10.0.0.999\"",
        "tests/data/invalid/broken.yaml: IPAddressPool/pool-b: spec.addresses[0]: CIDR \"192.168.10.128/31\" in pool \"pool-b\" overlaps with already defined CIDR \"192.168.10.0/24\" (pool \"pool-a\")",
        "tests/data/invalid/broken.yaml: BGPAdvertisement/agg: spec.communities[0]: invalid community \"gold\" in BGP advertisement: \"gold\" is neither a community literal (A:B, large:X:Y:Z) nor the name of a Community alias",
        "tests/data/invalid/broken.yaml: BGPAdvertisement/agg: spec.aggregationLength: invalid aggregation length 20: prefix 24 in this pool is more specific than the aggregation length for addresses 192.168.10.0/24",
    ];
    assert_eq!(lines, expected, "{stdout}");
}

#[test]
fn stdin_and_cross_file_conflicts() {
    let a = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: x, namespace: metallb-system}\nspec: {addresses: [192.168.0.200/29]}\n";
    let out = ferrolb(
        &[
            "validate",
            "-f",
            "-",
            "-f",
            "tests/data/examples/helm-l2-pool.yaml",
        ],
        Some(a),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(
            "-: IPAddressPool/x: spec.addresses[0]: CIDR \"192.168.0.200/29\" in pool \"x\" overlaps"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = ferrolb(&["validate", "-f", "-"], Some("kind: [oops"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("-: "));
    let out = ferrolb(&["validate", "-f", "no/such/file.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn warnings_do_not_fail() {
    let peer = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p, namespace: metallb-system}\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, disableMP: true}\n";
    let out = ferrolb(&["validate", "-f", "-"], Some(peer));
    assert!(out.status.success());
    assert!(
        text(&out.stderr)
            .contains("warning: -: BGPPeer/p: spec.disableMP: disable mp is deprecated")
    );
}

const L2_TYPO: &str = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2, namespace: metallb-system}\nspec:\n  ipAddresPools: [pool-a]\n";

#[test]
fn unknown_fields_are_rejected_with_file_and_path() {
    let out = ferrolb(&["validate", "-f", "-"], Some(L2_TYPO));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "-: L2Advertisement/l2: spec.ipAddresPools: unknown field\n"
    );
}

#[test]
fn list_documents_are_validated_item_by_item() {
    // What `kubectl get ipaddresspools,l2advertisements -n metallb-system -o yaml` writes.
    let list = "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: a, namespace: metallb-system}\n  spec: {addresses: [10.0.0.0/24]}\n- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: b, namespace: metallb-system}\n  spec: {addresses: [10.0.0.128/25]}\n";
    let out = ferrolb(&["validate", "-f", "-"], Some(list));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout)
            .starts_with("-: IPAddressPool/b: spec.addresses[0]: CIDR \"10.0.0.128/25\""),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn json_output_is_machine_readable() {
    let out = ferrolb(&["validate", "-o", "json", "-f", "-"], Some(L2_TYPO));
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["valid"], false);
    assert_eq!(
        v["findings"][0],
        serde_json::json!({
            "severity": "error",
            "file": "-",
            "kind": "L2Advertisement",
            "name": "l2",
            "field": "spec.ipAddresPools",
            "message": "unknown field"
        })
    );
    let out = ferrolb(
        &[
            "validate",
            "--output=json",
            "-f",
            "tests/data/examples/helm-l2-pool.yaml",
        ],
        None,
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["valid"], true);
    assert_eq!(v["findings"], serde_json::json!([]));
}

#[test]
fn every_problem_names_its_file() {
    let dir = std::env::temp_dir().join(format!("ferrolb-cli-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pool = |name: &str, cidr: &str| {
        format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {{addresses: [{cidr}]}}\n"
        )
    };
    let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
    std::fs::write(&a, pool("a", "10.0.0.0/24")).unwrap();
    std::fs::write(
        &b,
        pool("b", "10.0.0.0/25") + "---\n" + &pool("a", "10.1.0.0/24"),
    )
    .unwrap();
    let out = ferrolb(&["validate", "-f", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let (a, b) = (a.display().to_string(), b.display().to_string());
    assert!(stdout.lines().count() >= 2, "{stdout}");
    for line in stdout.lines() {
        assert!(line.starts_with(&a) || line.starts_with(&b), "{line}");
    }
    // A name defined in both files names both.
    assert!(
        stdout.contains(&format!(
            "{a}, {b}: IPAddressPool/a: metadata.name: duplicate"
        )),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn symlink_loop_in_a_directory_is_an_error_not_a_hang() {
    let dir = std::env::temp_dir().join(format!("ferrolb-cli-loop-{}", std::process::id()));
    let sub = dir.join("nested");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(
        "tests/data/examples/helm-l2-pool.yaml",
        sub.join("pool.yaml"),
    )
    .unwrap();
    let _ = std::fs::remove_file(sub.join("again"));
    std::os::unix::fs::symlink(&dir, sub.join("again")).unwrap();
    let out = ferrolb(&["validate", "-f", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("symbolic link loop"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn absurd_namespace_is_a_usage_error() {
    let long = "n".repeat(10_000);
    for ns in ["", "Metallb", "a/b", long.as_str()] {
        for cmd in [&["validate", "-f", "-"][..], &["migrate", "-f", "-"][..]] {
            let mut args = cmd.to_vec();
            args.extend(["-n", ns]);
            let out = ferrolb(&args, Some(""));
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let stderr = text(&out.stderr);
            assert!(stderr.contains("not a valid namespace name"), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}
