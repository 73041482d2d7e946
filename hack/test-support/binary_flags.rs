//! Shared by the binaries' flag tests (`operator/tests/flags.rs`, `speaker/tests/flags.rs`,
//! included with `#[path]`): runs a real binary off-cluster (no kubeconfig, no in-cluster
//! environment, no home) and checks how it treats its flags. A refused flag is a usage error
//! (exit code 2) whose message names the flag and never a panic; an accepted set of flags gets
//! past the checks and fails only when the binary needs the API server (exit code 1, a message
//! about Kubernetes).

use std::process::{Command, Output};

/// Runs `bin` with `args`, away from any cluster.
#[allow(dead_code)] // each including test uses what it needs (the speaker's uses this one)
pub fn run(bin: &str, args: &[&str]) -> Output {
    run_env(bin, args, &[])
}

/// [`run`] with the environment variables `env` set (and no inherited `OTEL_*` variable:
/// they are settings too, see `ferrolb_kube::telemetry`).
pub fn run_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OTEL_")) {
        cmd.env_remove(k);
    }
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", "/nonexistent")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"))
}

/// `args` must be refused as a usage error naming `flag`.
pub fn assert_refused(bin: &str, args: &[&str], flag: &str) {
    assert_refused_env(bin, args, &[], flag);
}

/// `args` with `env` must be refused as a usage error naming `flag` (a flag or a variable).
pub fn assert_refused_env(bin: &str, args: &[&str], env: &[(&str, &str)], flag: &str) {
    let o = run_env(bin, args, env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?} {env:?} was not a usage error: {err}"
    );
    assert!(
        err.contains(flag),
        "{args:?} {env:?}: the message does not name {flag}: {err}"
    );
    assert!(
        !err.contains("panicked"),
        "{args:?} {env:?} panicked: {err}"
    );
}

/// `args` must pass the flag checks: the binary fails later, for want of an API server.
pub fn assert_accepted(bin: &str, args: &[&str]) {
    assert_accepted_env(bin, args, &[]);
}

/// [`assert_accepted`] with the environment variables `env` set.
pub fn assert_accepted_env(bin: &str, args: &[&str], env: &[(&str, &str)]) {
    let o = run_env(bin, args, env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains("Kubernetes"), "{args:?}: {err}");
}
