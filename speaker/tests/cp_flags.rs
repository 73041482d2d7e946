//! `ferrolb-speaker control-plane` refuses bad flags as usage errors (exit code 2, the flag
//! named, no panic) before touching any socket, and `--print-static-pod` prints a manifest
//! without needing the key file, the CA file or any privilege.

#[path = "../../hack/test-support/binary_flags.rs"]
#[allow(dead_code)] // the accepted-flags helpers need an API server; this mode has none
mod binary_flags;

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-speaker");

const BASE: &[&str] = &[
    "control-plane",
    "--vip=192.168.0.100",
    "--interface=eth0",
    "--host=192.168.0.11",
    "--peers=192.168.0.11,192.168.0.12,192.168.0.13",
    "--heartbeat-key-file=/nonexistent/key",
    "--apiserver-ca-file=/nonexistent/ca.crt",
];

fn with(extra: &[&str]) -> Vec<String> {
    BASE.iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

fn without(flag: &str, extra: &[&str]) -> Vec<String> {
    BASE.iter()
        .filter(|a| !a.starts_with(flag))
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect()
}

fn refused(args: &[String], flag: &str) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    binary_flags::assert_refused(BIN, &args, flag);
}

#[test]
fn bad_flags_are_usage_errors_naming_the_flag() {
    for (args, flag) in [
        (with(&["--heartbeat-interval=0s"]), "--heartbeat-interval"),
        (with(&["--dead-after=50ms"]), "--dead-after"),
        (with(&["--health-interval=0s"]), "--health-interval"),
        (with(&["--health-timeout=2h"]), "--health-timeout"),
        (with(&["--health-fall=0"]), "--health-fall"),
        (with(&["--health-rise=1000"]), "--health-rise"),
        (with(&["--liveness-port=0"]), "--liveness-port"),
        (without("--vip", &["--vip=not-an-ip"]), "--vip"),
        (without("--vip", &["--vip=192.168.0.12"]), "--vip"),
        (without("--vip", &[]), "--vip"),
        (without("--vip", &["--vip=127.0.0.1"]), "--vip"),
        (without("--peers", &[]), "--peers"),
        (without("--peers", &["--peers=fd00::1"]), "--peers"),
        (without("--interface", &["--interface=a/b"]), "--interface"),
        (
            without("--interface", &["--interface=averylonginterfacename"]),
            "--interface",
        ),
        (without("--heartbeat-key-file", &[]), "--heartbeat-key-file"),
        (
            with(&["--apiserver-url=http://127.0.0.1:6443"]),
            "--apiserver-url",
        ),
        (
            with(&["--apiserver-url=https://127.0.0.1:6443/readyz"]),
            "--apiserver-url",
        ),
        (
            with(&["--insecure-skip-tls-verify"]),
            "--insecure-skip-tls-verify",
        ),
        (without("--apiserver-ca-file", &[]), "--apiserver-ca-file"),
        (
            without(
                "--apiserver-ca-file",
                &[
                    "--insecure-skip-tls-verify",
                    "--apiserver-url=https://192.168.0.11:6443",
                ],
            ),
            "--insecure-skip-tls-verify",
        ),
        // Runtime inputs, still before any socket: a missing key or CA file.
        (with(&[]), "--heartbeat-key-file"),
        (with(&["--log-level=loud"]), "--log-level"),
    ] {
        refused(&args, flag);
    }
}

#[test]
fn a_short_key_or_a_missing_ca_is_refused_naming_the_file_flag() {
    let dir = std::env::temp_dir().join(format!("ferrolb-cp-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let short = dir.join("short.key");
    std::fs::write(&short, "too-short\n").unwrap();
    let good = dir.join("good.key");
    std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
    let key = |p: &std::path::Path| format!("--heartbeat-key-file={}", p.display());
    refused(
        &without("--heartbeat-key-file", &[&key(&short)]),
        "--heartbeat-key-file",
    );
    refused(
        &without("--heartbeat-key-file", &[&key(&good)]),
        "--apiserver-ca-file",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn print_static_pod_needs_no_files_and_prints_a_pod() {
    let args: Vec<String> = with(&["--print-static-pod"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = binary_flags::run(BIN, &args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("kind: Pod"), "{out}");
    assert!(out.contains("hostNetwork: true"), "{out}");
    assert!(out.contains("--vip=192.168.0.100"), "{out}");
}

#[test]
fn the_main_help_points_at_the_control_plane_mode() {
    let o = binary_flags::run(BIN, &["--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("control-plane"));
}
