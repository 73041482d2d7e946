//! MetalLB's own controller on the rig, next to ferrolb (issue 22: measured against MetalLB
//! itself; issue 14: ferrolb never writes another implementation's Services).
//!
//! The binary is MetalLB v0.16.1's `go.universe.tf/metallb/controller`, built from its Go
//! module by `e2e/build-upstream.sh` (pin `METALLB_VERSION` in `e2e/versions.env`) into
//! `$FERROLB_CACHE/bin/metallb-controller-<version>/`. It runs as a plain process on the host
//! with the rig's admin kubeconfig:
//!
//! - in its own namespace ([`NAMESPACE`], `--namespace`): MetalLB reads the same `metallb.io`
//!   kinds as ferrolb (ferrolb installs the CRDs), but only in that namespace, so its
//!   IPAddressPools there are its own and ferrolb's in `metallb-system` are ferrolb's;
//! - with `--lb-class` ([`CLASS`]), so the two never handle the same Service;
//! - with `--webhook-mode=disabled` and `--disable-cert-rotation`: it needs nothing ferrolb
//!   does not install (no webhook Service, no certificate Secret);
//! - as a fake Pod (`--pod-name`, a `hostNetwork` Pod object bound to a node: MetalLB reads its
//!   own Pod at startup to own its ConfigurationState);
//! - metrics (HTTPS) and health probes on instance-specific host ports
//!   ([`crate::Rig::host_port`]).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

use crate::Rig;
use crate::procs::{Proc, project};

/// MetalLB's namespace on the rig (its configuration objects live here).
pub const NAMESPACE: &str = "metallb-upstream";
/// MetalLB's `loadBalancerClass` on the rig.
pub const CLASS: &str = "metallb";
/// Base host port of MetalLB's metrics (`--port`); health probes use the next one.
const METRICS_PORT: u16 = 19120;

/// The pinned MetalLB version (`METALLB_VERSION`, else `e2e/versions.env`).
pub fn version() -> Result<String> {
    if let Ok(v) = std::env::var("METALLB_VERSION") {
        return Ok(v);
    }
    let path = project().join("e2e/versions.env");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    // `METALLB_VERSION=${METALLB_VERSION:-v0.16.1}`
    text.lines()
        .find_map(|l| l.strip_prefix("METALLB_VERSION="))
        .and_then(|v| v.rsplit(":-").next())
        .map(|v| v.trim_end_matches('}').to_string())
        .filter(|v| !v.is_empty())
        .with_context(|| format!("no METALLB_VERSION in {}", path.display()))
}

/// The controller binary built by `e2e/build-upstream.sh`.
pub fn controller_binary() -> Result<PathBuf> {
    let cache = std::env::var_os("FERROLB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ferrolb")))
        .context("neither FERROLB_CACHE nor HOME is set")?;
    let v = version()?;
    let bin = cache
        .join("bin")
        .join(format!("metallb-controller-{v}"))
        .join("metallb-controller");
    if !bin.is_file() {
        bail!(
            "{} missing: run e2e/build-upstream.sh (it builds MetalLB {v}'s controller)",
            bin.display()
        );
    }
    Ok(bin)
}

/// How to start MetalLB's controller.
#[derive(Debug, Clone, Copy)]
pub struct ControllerOpts<'a> {
    /// `--namespace`: where its pools live.
    pub namespace: &'a str,
    /// `--lb-class`.
    pub lb_class: &'a str,
    /// Log name under the rig's `logs/`.
    pub log: &'a str,
    /// Node its fake Pod is bound to.
    pub node: &'a str,
}

impl Default for ControllerOpts<'_> {
    fn default() -> Self {
        ControllerOpts {
            namespace: NAMESPACE,
            lb_class: CLASS,
            log: "metallb-controller",
            node: "node-1",
        }
    }
}

/// Name of the controller's fake Pod.
const POD: &str = "metallb-controller";

/// Creates `opts.namespace` and the controller's fake Pod there (idempotent).
pub fn prepare(rig: &Rig, opts: &ControllerOpts<'_>) -> Result<()> {
    let ns = opts.namespace;
    let yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: {POD}, namespace: {ns}, labels: {{app: metallb-upstream, component: controller}}}}\n\
         spec:\n  nodeName: {}\n  hostNetwork: true\n  containers: [{{name: controller, image: quay.io/metallb/controller:e2e}}]\n",
        opts.node
    );
    let path = rig.run_dir.join(format!("metallb-controller-{ns}.yaml"));
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    rig.apply_server_side(&path)?;
    let uid = rig.kubectl(&[
        "-n",
        ns,
        "get",
        "pod",
        POD,
        "-o",
        "jsonpath={.metadata.uid}",
    ])?;
    ensure!(!uid.trim().is_empty(), "Pod {ns}/{POD} has no UID");
    Ok(())
}

/// Starts MetalLB's controller (see the module docs); killed when the returned [`Proc`] drops.
pub fn start_controller(rig: &Rig, opts: ControllerOpts<'_>) -> Result<Proc> {
    let bin = controller_binary()?;
    prepare(rig, &opts)?;
    let log = rig.log_file(opts.log)?;
    let metrics = rig.host_port(METRICS_PORT);
    let child = Command::new(bin)
        .args([
            format!("--namespace={}", opts.namespace),
            format!("--lb-class={}", opts.lb_class),
            "--webhook-mode=disabled".into(),
            "--disable-cert-rotation".into(),
            format!("--port={metrics}"),
            format!("--health-probe-port={}", metrics + 1),
            format!("--pod-name={POD}"),
            "--log-level=info".into(),
        ])
        .env("KUBECONFIG", &rig.kubeconfig)
        .env_remove("METALLB_ML_SECRET_NAME")
        .env_remove("METALLB_DEPLOYMENT")
        .env_remove("METALLB_BGP_TYPE")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting MetalLB's controller")?;
    Ok(Proc(child))
}

/// Removes MetalLB's namespace (its pools, ConfigurationState and fake Pod), waiting at most
/// 60 s.
pub fn cleanup(rig: &Rig, namespace: &str) {
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        namespace,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
    ]);
}
