//! The pinned Helm binary of the rig (`HELM_VERSION` in `e2e/versions.env`, built by
//! `e2e/build-upstream.sh --with-helm` into `$FERROLB_CACHE/bin/helm-<version>/helm`, or
//! `FERROLB_E2E_HELM`) and offline rendering of `charts/ferrolb` (`helm template`, no cluster).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::procs::project;

/// The Kubernetes version offline rendering claims: the chart's minimum (Chart.yaml kubeVersion).
pub const OFFLINE_KUBE_VERSION: &str = "1.33.0";

/// The Helm binary, if one was built (or named by `FERROLB_E2E_HELM`).
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERROLB_E2E_HELM") {
        return Some(PathBuf::from(p));
    }
    let versions = std::fs::read_to_string(project().join("e2e/versions.env")).ok()?;
    let version = versions
        .lines()
        .find_map(|l| l.strip_prefix("HELM_VERSION=${HELM_VERSION:-"))?
        .trim_end_matches('}')
        .to_string();
    let cache = std::env::var_os("FERROLB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/ferrolb")))?;
    let p = cache.join(format!("bin/helm-{version}/helm"));
    p.exists().then_some(p)
}

/// `helm template ferrolb charts/ferrolb --namespace metallb-system` with `args` appended
/// (`-f FILE`, `--set k=v`, ...), offline; Helm's state directories under `scratch`.
/// The caller runs it and reads stdout (the objects) or stderr (Helm's error).
pub fn template_command(bin: &Path, scratch: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("template")
        .arg("ferrolb")
        .arg(project().join("charts/ferrolb"))
        .args([
            "--namespace",
            "metallb-system",
            "--kube-version",
            OFFLINE_KUBE_VERSION,
        ])
        .args(args)
        .env("HELM_CACHE_HOME", scratch.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.join("config"))
        .env("HELM_DATA_HOME", scratch.join("data"));
    cmd
}
