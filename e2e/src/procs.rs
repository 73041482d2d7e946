//! ferrolb's own processes in the e2e suite: binaries from the cargo target dir, started with a
//! ServiceAccount's kubeconfig (never admin), logging into the rig's `logs/` directory, and
//! killed when their handle is dropped so a failing test never leaves one behind.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, ensure};

use crate::{Rig, e2e_dir};

/// The checkout under test (the parent of [`e2e_dir`]).
pub fn project() -> PathBuf {
    e2e_dir().join("..")
}

/// A debug binary of this workspace, `$CARGO_TARGET_DIR/debug/<name>` (or `target/` of the
/// checkout). `FERROLB_OPERATOR_BIN` overrides the path of `ferrolb-operator` and
/// `FERROLB_SPEAKER_BIN` that of `ferrolb-speaker` (e.g. the image's static musl build),
/// `FERROLB_WEBHOOK_BIN` that of `ferrolb-webhook` (e.g. a release build),
/// `FERROLB_BIN_DIR` the directory of every binary, and `FERROLB_E2E_RELEASE=1` takes
/// `ferrolb-speaker` from `release/` instead of `debug/` (the BGP benchmarks' release-build
/// figures: `cargo build --release -p ferrolb-speaker` first; the other binaries stay debug).
pub fn binary(name: &str) -> Result<PathBuf> {
    let var = match name {
        "ferrolb-operator" => Some("FERROLB_OPERATOR_BIN"),
        "ferrolb-speaker" => Some("FERROLB_SPEAKER_BIN"),
        "ferrolb-webhook" => Some("FERROLB_WEBHOOK_BIN"),
        _ => None,
    };
    if let Some(p) = var.and_then(std::env::var_os) {
        return Ok(PathBuf::from(p));
    }
    let profile = if name == "ferrolb-speaker" && release_speaker() {
        "release"
    } else {
        "debug"
    };
    let dir = match std::env::var_os("FERROLB_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| project().join("target"))
            .join(profile),
    };
    let bin = dir.join(name);
    ensure!(
        bin.exists(),
        "{} not found: build it first (`cargo build -p <its crate>`; e2e/run.sh builds every \
         binary the suite uses)",
        bin.display()
    );
    Ok(bin)
}

/// A pinned upstream version: `$VAR` from the environment, else the `VAR=${VAR:-v1.2.3}` line
/// of `e2e/versions.env` (the pins `e2e/build-upstream.sh` builds).
pub fn pinned_version(var: &str) -> Result<String> {
    if let Ok(v) = std::env::var(var) {
        return Ok(v);
    }
    let path = project().join("e2e/versions.env");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let prefix = format!("{var}=");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.rsplit(":-").next())
        .map(|v| v.trim_end_matches('}').to_string())
        .filter(|v| !v.is_empty())
        .with_context(|| format!("no {var} in {}", path.display()))
}

/// `$FERROLB_CACHE/bin/<component>-<version>/<component>` (the layout of
/// `e2e/build-upstream.sh`; version from [`pinned_version`] of `version_var`), present or not.
pub fn upstream_binary(component: &str, version_var: &str) -> Result<PathBuf> {
    let cache = std::env::var_os("FERROLB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ferrolb")))
        .context("neither FERROLB_CACHE nor HOME is set")?;
    let v = pinned_version(version_var)?;
    Ok(cache
        .join("bin")
        .join(format!("{component}-{v}"))
        .join(component))
}

/// Which speaker binary the suite runs, for benchmark output: the `FERROLB_SPEAKER_BIN` path,
/// else `release` (`FERROLB_E2E_RELEASE=1`) or `debug` (see [`binary`]).
pub fn speaker_build() -> String {
    match std::env::var("FERROLB_SPEAKER_BIN") {
        Ok(p) => p,
        Err(_) if release_speaker() => "release".to_owned(),
        Err(_) => "debug".to_owned(),
    }
}

/// Whether `FERROLB_E2E_RELEASE=1`: the speaker is the release build (see [`binary`]).
pub fn release_speaker() -> bool {
    std::env::var("FERROLB_E2E_RELEASE").is_ok_and(|v| v == "1")
}

/// A child process, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Proc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills the process at once, as a node crash would.
    pub fn crash(self) {
        drop(self);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Rig {
    /// Opens (appending) `<run dir>/logs/<name>.log`, the file [`Rig::log_tail`] reads.
    pub fn log_file(&self, name: &str) -> Result<std::fs::File> {
        let logs = self.run_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let path = logs.join(format!("{name}.log"));
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))
    }
}

/// How to start the controller.
#[derive(Debug, Clone, Copy)]
pub struct OperatorOpts<'a> {
    /// Log name under the rig's `logs/` (`ferrolb-operator` for the IPAM tests).
    pub log: &'a str,
    /// `--lb-class`: handle only Services of this class (isolates a test on the shared rig).
    pub lb_class: Option<&'a str>,
    /// `FERROLB_LOG` filter.
    pub log_filter: &'a str,
    /// The Pod it pretends to run in, `(name, uid)` (`METALLB_POD_NAME`, `METALLB_POD_UID`:
    /// the owner of ConfigurationState `controller`, and its leader-election identity, so a
    /// restart under the same name takes its Lease back at once); `None`: no owner, and no
    /// leader election (`FERROLB_LEADER_ELECT=false`: one controller per test, restarted at
    /// will; the election itself is tested in `controller_ha.rs`).
    pub pod: Option<(&'a str, &'a str)>,
}

impl Default for OperatorOpts<'_> {
    fn default() -> Self {
        Self {
            log: "ferrolb-operator",
            lb_class: None,
            log_filter: "info,ferrolb_operator=debug",
            pod: None,
        }
    }
}

/// The controller's `/metrics` port on the host for rig instance 0 (MetalLB's 7472; see
/// [`Rig::host_port`] for the others).
pub const OPERATOR_METRICS_PORT: u16 = 7472;
/// The controller's `/healthz` + `/readyz` port on the host for rig instance 0.
pub const OPERATOR_PROBE_PORT: u16 = 17472;

/// Starts `ferrolb-operator` as ServiceAccount `metallb-system/controller` (its token, bound
/// only by `config/rbac/controller.yaml`) in namespace `metallb-system`.
pub fn start_operator(rig: &Rig, opts: OperatorOpts<'_>) -> Result<Proc> {
    let mut cmd = operator_command(rig, opts)?;
    let child = cmd.spawn().context("starting ferrolb-operator")?;
    Ok(Proc(child))
}

/// The command [`start_operator`] runs, for a test that adds to its environment before
/// spawning it.
pub fn operator_command(rig: &Rig, opts: OperatorOpts<'_>) -> Result<Command> {
    let kubeconfig = rig.kubeconfig_for("metallb-system", "controller", false)?;
    let log = rig.log_file(opts.log)?;
    let mut cmd = Command::new(binary("ferrolb-operator")?);
    // The controller runs in the host netns: its ports move with the rig instance
    // (`Rig::host_port`), so rigs side by side do not take each other's /metrics.
    cmd.args([
        "--port".to_string(),
        rig.host_port(OPERATOR_METRICS_PORT).to_string(),
        "--health-probe-port".to_string(),
        rig.host_port(OPERATOR_PROBE_PORT).to_string(),
    ])
    .env("KUBECONFIG", &kubeconfig)
    .env("METALLB_NAMESPACE", "metallb-system")
    .env("FERROLB_LOG", opts.log_filter)
    .stdin(Stdio::null())
    .stdout(log.try_clone()?)
    .stderr(log);
    if let Some(class) = opts.lb_class {
        cmd.env("METALLB_LB_CLASS", class);
    }
    match opts.pod {
        Some((name, uid)) => cmd
            .env("METALLB_POD_NAME", name)
            .env("METALLB_POD_UID", uid),
        None => cmd.env("FERROLB_LEADER_ELECT", "false"),
    };
    Ok(cmd)
}

/// Applies ferrolb's namespace, every CRD of `config/crd/bases` (waiting until all are
/// Established, so any kind can be written next) and `config/rbac/<component>.yaml` for each of
/// `components`.
pub fn install_base(rig: &Rig, components: &[&str]) -> Result<()> {
    let crds = project().join("config/crd/bases");
    rig.apply_server_side(&project().join("config/namespace/namespace.yaml"))?;
    rig.apply_server_side(&crds)?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&crds)? {
        let text = std::fs::read_to_string(entry?.path())?;
        if let Some(name) = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name: "))
            .filter(|n| n.ends_with(".metallb.io") || n.ends_with(".ferrolb.io"))
        {
            names.push(format!("crd/{name}"));
        }
    }
    ensure!(!names.is_empty(), "no CRDs in {}", crds.display());
    let mut args = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    args.extend(names.iter().map(String::as_str));
    // A CRD created a moment ago may have no `status.conditions` yet, which `kubectl wait`
    // reports as an error instead of waiting: retry a few times (bounded).
    let mut attempt = 0;
    while let Err(e) = rig.kubectl(&args) {
        attempt += 1;
        ensure!(
            attempt < 5 && e.to_string().contains(".status.conditions accessor error"),
            "{e:#}"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    for c in components {
        rig.apply_server_side(&project().join(format!("config/rbac/{c}.yaml")))?;
    }
    Ok(())
}

/// Starts `ferrolb-webhook` as ServiceAccount `metallb-system/webhook` (its token, bound only
/// by `config/rbac/webhook.yaml`) serving HTTPS on `127.0.0.1:<port>` (what a
/// ValidatingWebhookConfiguration's `clientConfig.url` names on the rig, which has no Service
/// routing), no health port, logging to `log`; `args` adds flags (`--extra-san 127.0.0.1` for
/// a URL client config, `--check-interval-secs`, ...).
pub fn start_webhook(rig: &Rig, log: &str, port: u16, args: &[&str]) -> Result<Proc> {
    let kubeconfig = rig.kubeconfig_for("metallb-system", "webhook", false)?;
    let log = rig.log_file(log)?;
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(binary("ferrolb-webhook")?)
        .args(["--listen", &listen, "--health-probe-port", "0"])
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .env("FERROLB_LOG", "info,ferrolb_webhook=debug")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting ferrolb-webhook")?;
    Ok(Proc(child))
}
