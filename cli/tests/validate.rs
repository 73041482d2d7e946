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
        "BGPPeer/old-peer: spec.holdTime: invalid BGPPeer timers: invalid hold time \"2s\": must be 0 or >=3s",
        "BGPPeer/old-peer: spec.peerAddress: invalid BGPPeer address \"10.0.0.999\"",
        "IPAddressPool/pool-b: spec.addresses[0]: CIDR \"192.168.10.128/31\" in pool \"pool-b\" overlaps with already defined CIDR \"192.168.10.0/24\" (pool \"pool-a\")",
        "BGPAdvertisement/agg: spec.communities[0]: invalid community \"gold\" in BGP advertisement: \"gold\" is neither a community literal (A:B, large:X:Y:Z) nor the name of a Community alias",
        "BGPAdvertisement/agg: spec.aggregationLength: invalid aggregation length 20: prefix 24 in this pool is more specific than the aggregation length for addresses 192.168.10.0/24",
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
            "IPAddressPool/x: spec.addresses[0]: CIDR \"192.168.0.200/29\" in pool \"x\" overlaps"
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
        text(&out.stderr).contains("warning: BGPPeer/p: spec.disableMP: disable mp is deprecated")
    );
}
