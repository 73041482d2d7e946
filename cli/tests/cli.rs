//! Runs the built `ferrolb` binary: `ferrolb migrate` on files and stdin, `--namespace`,
//! invalid input (exit 1, one line per error with the key path), bad usage (exit 2), and
//! byte-stable output.

// Test helpers panic on unexpected failures by design.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrolb"))
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrate/tests/data")
        .join(name)
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn configmap_file() {
    let path = data("legacy-configmap-book.yaml");
    let out = run(&["migrate", "-f", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), golden("legacy-configmap-book.golden"));
    assert!(out.stderr.is_empty());
}

#[test]
fn manifest_with_other_objects() {
    let path = data("legacy-configmap-kubeflow.yaml");
    let out = run(&["migrate", "--filename", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        golden("legacy-configmap-kubeflow.golden")
    );
}

#[test]
fn payload_on_stdin() {
    let payload = std::fs::read_to_string(data("full-data.yaml")).unwrap();
    let out = run(&["migrate", "-f", "-"], Some(&payload));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), golden("full-data.golden"));
    // The `protocol: l2` pool of upstream's fixture gets a warning on stderr.
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("warning: address-pools[1].protocol: unknown protocol \"l2\""));
}

#[test]
fn configmap_on_stdin() {
    let manifest = std::fs::read_to_string(data("full-configmap.yaml")).unwrap();
    let out = run(&["migrate", "-f", "-"], Some(&manifest));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), golden("full-configmap.golden"));
}

#[test]
fn namespace_flag_overrides() {
    let path = data("full-configmap.yaml");
    let out = run(
        &[
            "migrate",
            "-f",
            path.to_str().unwrap(),
            "--namespace",
            "other",
        ],
        None,
    );
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("lb-system"));
    assert_eq!(stdout.matches("  namespace: other\n").count(), 3);
    // Without a ConfigMap (payload only) the default is metallb-system.
    let out = run(
        &["migrate", "-f", "-"],
        Some("address-pools: []\npeers: []\n"),
    );
    assert!(out.status.success());
    let out = run(
        &["migrate", "-f", "-"],
        Some("address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/24]}\n"),
    );
    assert_eq!(
        text(&out.stdout)
            .matches("namespace: metallb-system")
            .count(),
        2
    );
    let out = run(
        &["migrate", "-n", "x", "-f", "-"],
        Some("address-pools:\n- {name: a, protocol: layer2, addresses: [10.0.0.0/24]}\n"),
    );
    assert_eq!(text(&out.stdout).matches("namespace: x\n").count(), 2);
}

#[test]
fn invalid_file_exits_1_with_key_path() {
    let dir = std::env::temp_dir().join(format!("ferrolb-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: metallb-system\ndata:\n  config: |\n    peers:\n    - my-asn: 64512\n      peer-asn: 64513\n      peer-address: 10.0.0.1\n      hold-time: 2s\n",
    )
    .unwrap();
    let out = run(&["migrate", "-f", path.to_str().unwrap()], None);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing partial on stdout");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("ConfigMap metallb-system/config"),
        "{stderr}"
    );
    assert!(
        stderr.contains("peers[0].hold-time: invalid hold time \"2s\": must be 0 or >=3s"),
        "{stderr}"
    );
}

#[test]
fn unknown_key_exits_1_with_key_path() {
    let out = run(
        &["migrate", "-f", "-"],
        Some("address-pools:\n- name: a\n  protocl: layer2\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("address-pools[0].protocl"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn input_problems_exit_1() {
    for input in [
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata: {}\n",
        "{ not yaml",
    ] {
        let out = run(&["migrate", "-f", "-"], Some(input));
        assert_eq!(out.status.code(), Some(1), "{input}");
        assert_eq!(text(&out.stderr).lines().count(), 1);
    }
    let out = run(&["migrate", "-f", "/nonexistent/ferrolb.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["migrate"][..],
        &["migrate", "-f", "x", "--bogus"][..],
        &["frobnicate"][..],
        &[][..],
    ] {
        let out = run(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("Usage"), "{args:?}");
    }
}

#[test]
fn byte_stable_across_runs() {
    let path = data("bgp-ads-data.yaml");
    let a = run(&["migrate", "-f", path.to_str().unwrap()], None);
    let b = run(&["migrate", "-f", path.to_str().unwrap()], None);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stderr, b.stderr);
    assert_eq!(text(&a.stdout), golden("bgp-ads-data.golden"));
}
