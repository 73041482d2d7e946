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
//!
//! Its speakers (the L2 failover benchmark, `tests/vs_metallb_l2.rs`) are
//! `go.universe.tf/metallb/speaker` of the same version, built on demand
//! (`build-upstream.sh --metallb-speaker`, see [`speaker_binary`]), one per node inside the
//! node's network namespace like ferrolb's ([`crate::l2::Speakers`]), each as a fake Pod
//! ([`fake_pod`], `hostNetwork`: kwok gives it the node's IP) that memberlist finds by label
//! (`--ml-labels`, [`SPEAKER_LABELS`]), bound to the node's IP (`--ml-bindaddr`, default port
//! 7946), keyed by `--ml-secret-key-path`, memberlist's LAN defaults otherwise. They handle only
//! Services of [`CLASS`] and read their configuration from [`NAMESPACE`]. MetalLB's speaker
//! deletes its node's ServiceL2Status objects for Services it does not announce, in every
//! namespace: never run it next to ferrolb's speakers on one rig instance.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

use crate::Rig;
use crate::procs::{Proc, pinned_version, project, upstream_binary};

/// MetalLB's namespace on the rig (its configuration objects live here).
pub const NAMESPACE: &str = "metallb-upstream";
/// MetalLB's `loadBalancerClass` on the rig.
pub const CLASS: &str = "metallb";
/// Base host port of MetalLB's metrics (`--port`); health probes use the next one.
const METRICS_PORT: u16 = 19120;

/// The pinned MetalLB version (`METALLB_VERSION`, else `e2e/versions.env`).
pub fn version() -> Result<String> {
    pinned_version("METALLB_VERSION")
}

/// `$FERROLB_CACHE/bin/<component>-<METALLB_VERSION>/<component>`, present or not.
fn cached_binary(component: &str) -> Result<PathBuf> {
    upstream_binary(component, "METALLB_VERSION")
}

/// The speaker binary, built on first use: CI's default `build-upstream.sh` never builds it
/// (only the ignored benchmark needs it); this runs `build-upstream.sh --metallb-speaker`
/// (everything else it builds is cached already; a few minutes for the speaker).
pub fn speaker_binary() -> Result<PathBuf> {
    let bin = cached_binary("metallb-speaker")?;
    if !bin.is_file() {
        let script = project().join("e2e/build-upstream.sh");
        let status = Command::new(&script)
            .arg("--metallb-speaker")
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        ensure!(
            status.success() && bin.is_file(),
            "{} --metallb-speaker failed ({status}); {} missing",
            script.display(),
            bin.display()
        );
    }
    Ok(bin)
}

/// The controller binary built by `e2e/build-upstream.sh`.
pub fn controller_binary() -> Result<PathBuf> {
    let bin = cached_binary("metallb-controller")?;
    let v = version()?;
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
    fake_pod(
        rig,
        opts.namespace,
        POD,
        opts.node,
        "app: metallb-upstream, component: controller",
    )
    .map(drop)
}

/// Creates namespace `ns` and in it a `hostNetwork` Pod `name` bound to `node` with `labels` (a
/// YAML flow mapping body): the Pod a MetalLB process pretends to run in (MetalLB reads its own
/// Pod; its speakers find each other's IPs through theirs). Idempotent; returns the Pod's UID.
pub fn fake_pod(rig: &Rig, ns: &str, name: &str, node: &str, labels: &str) -> Result<String> {
    let component = labels.rsplit(": ").next().unwrap_or("main");
    let yaml = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}\n\
         spec:\n  nodeName: {node}\n  hostNetwork: true\n  containers: [{{name: main, image: quay.io/metallb/{component}:e2e}}]\n"
    );
    let path = rig.run_dir.join(format!("metallb-pod-{ns}-{name}.yaml"));
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    rig.apply_server_side(&path)?;
    let uid = rig.kubectl(&[
        "-n",
        ns,
        "get",
        "pod",
        name,
        "-o",
        "jsonpath={.metadata.uid}",
    ])?;
    ensure!(!uid.trim().is_empty(), "Pod {ns}/{name} has no UID");
    Ok(uid.trim().to_string())
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

/// The shared tail of a side-by-side run: deletes ferrolb's pool `ferrolb_pool` in
/// `metallb-system`, then MetalLB's namespace ([`cleanup`]). Errors are ignored (best effort).
pub fn cleanup_side_by_side(rig: &Rig, ferrolb_pool: &str) {
    let _ = rig.kubectl(&[
        "-n",
        "metallb-system",
        "delete",
        "ipaddresspool",
        ferrolb_pool,
        "--ignore-not-found",
    ]);
    cleanup(rig, NAMESPACE);
}

/// Label selector of MetalLB's speaker Pods (`--ml-labels`).
pub const SPEAKER_LABELS: &str = "app=metallb-upstream,component=speaker";
/// Metrics port of a MetalLB speaker inside its node's netns; health probes use the next one.
const SPEAKER_METRICS_PORT: u16 = 19130;

/// Name of the fake Pod of MetalLB's speaker on `node`.
pub fn speaker_pod(node: &str) -> String {
    format!("metallb-speaker-{node}")
}

/// MetalLB's speakers (see the module docs). The running processes are kept in a
/// [`crate::l2::Speakers`] (`procs` only), so [`crate::failover`]'s trials kill and stop them
/// exactly as they do ferrolb's.
pub struct Speakers {
    /// The running speakers by node; `kubeconfig` is the rig's admin one, `extra` unused.
    pub set: crate::l2::Speakers,
    /// Directory with the memberlist key (`secretkey`, `--ml-secret-key-path`).
    secret_dir: PathBuf,
}

impl Speakers {
    /// Creates the speakers' fake Pods and memberlist key, then starts one speaker per node.
    pub fn start(rig: &Rig) -> Result<Self> {
        let secret_dir = rig.run_dir.join("metallb-memberlist");
        std::fs::create_dir_all(&secret_dir)?;
        std::fs::write(
            secret_dir.join("secretkey"),
            "vs-metallb-l2-0123456789abcdef",
        )?;
        let labels = SPEAKER_LABELS.replace('=', ": ").replace(',', ", ");
        for node in rig.node_names() {
            fake_pod(rig, NAMESPACE, &speaker_pod(&node), &node, &labels)?;
        }
        let mut s = Speakers {
            set: crate::l2::Speakers {
                kubeconfig: rig.kubeconfig.clone(),
                procs: Default::default(),
                extra: Vec::new(),
                env: Vec::new(),
            },
            secret_dir,
        };
        for node in rig.node_names() {
            s.start_one(rig, &node)?;
        }
        Ok(s)
    }

    /// (Re)starts the speaker of `node` in its netns.
    pub fn start_one(&mut self, rig: &Rig, node: &str) -> Result<()> {
        let i: usize = node
            .trim_start_matches("node-")
            .parse()
            .with_context(|| format!("not a rig node name: {node}"))?;
        let log = rig.log_file(&format!("metallb-speaker-{node}"))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &rig.node_ns(node)])
            .arg(speaker_binary()?)
            .args([
                format!("--node-name={node}"),
                format!("--pod-name={}", speaker_pod(node)),
                format!("--namespace={NAMESPACE}"),
                format!("--lb-class={CLASS}"),
                format!("--ml-bindaddr={}", crate::l2::node_ip(i)),
                format!("--ml-labels={SPEAKER_LABELS}"),
                format!("--ml-secret-key-path={}", self.secret_dir.display()),
                format!("--port={SPEAKER_METRICS_PORT}"),
                format!("--health-probe-port={}", SPEAKER_METRICS_PORT + 1),
                "--log-level=info".into(),
            ])
            .env("KUBECONFIG", &rig.kubeconfig)
            .env_remove("METALLB_BGP_TYPE")
            .env_remove("METALLB_ML_BIND_PORT")
            .env_remove("FRRK8S_NAMESPACE")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().context("starting MetalLB's speaker")?;
        self.set.procs.insert(node.to_string(), Proc(child));
        Ok(())
    }

    /// SIGTERMs every speaker (they leave memberlist) and waits for them.
    pub fn stop_all(&mut self) {
        let nodes: Vec<String> = self.set.procs.keys().cloned().collect();
        for n in nodes {
            if let Err(e) = self.set.stop(&n) {
                eprintln!("stopping MetalLB's speaker on {n}: {e:#}");
            }
        }
    }
}

/// The ServiceL2Status objects MetalLB's speakers wrote (in [`NAMESPACE`]), one per line.
pub fn l2_statuses(rig: &Rig) -> String {
    rig.kubectl(&["-n", NAMESPACE, "get", "servicel2statuses", "-o", "wide"])
        .unwrap_or_default()
}

/// The load average (1, 5, 15 min) for benchmark reports.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The two systems a side-by-side benchmark compares (`tests/vs_metallb*.rs`); each test adds
/// what differs per system (namespace, class, pool, how to start it) through a local trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// MetalLB v0.16.1, built from its Go module.
    MetalLb,
    /// ferrolb.
    Ferrolb,
}

impl Impl {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Impl::MetalLb => "MetalLB v0.16.1",
            Impl::Ferrolb => "ferrolb",
        }
    }
}

/// `m / f` as `1.23×` (MetalLB / ferrolb: > 1 means ferrolb is ahead), `–` when `f` is 0.
pub fn ratio(m: f64, f: f64) -> String {
    if f > 0.0 {
        format!("{:.2}×", m / f)
    } else {
        "–".into()
    }
}
