//! Flux on the rig (issue 21: ferrolb installed and configured from one Git commit).
//!
//! - [`GitServer`]: bare repositories under the rig's run dir served over Git's smart HTTP
//!   protocol on a loopback port (`e2e/tools/git-http.py`, which runs Git's own
//!   `git http-backend`; source-controller clones only over http(s)/ssh), and [`Repo`], a
//!   work tree that commits and pushes into one of them.
//! - [`Flux`]: Flux's source-controller and kustomize-controller, built from their Go modules by
//!   `e2e/build-upstream.sh` (`FLUX_SOURCE_VERSION`, `FLUX_KUSTOMIZE_VERSION` of
//!   `e2e/versions.env`), running as host processes with the rig's admin kubeconfig, as the
//!   rig runs every off-cluster controller: no leader election, every namespace watched,
//!   source-controller's artifact server on a loopback port that kustomize-controller downloads
//!   from (`--storage-adv-addr`), metrics and health ports per rig instance
//!   ([`Rig::host_port`]). Their CRDs come from the module zips (`crds.yaml` next to each
//!   binary).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::procs::{Proc, upstream_binary};
use crate::{Rig, e2e_dir, run};

/// The namespace of the Flux objects (GitRepository, Kustomization), as `flux install` uses.
pub const NAMESPACE: &str = "flux-system";
/// Base host ports (+100 × instance): the Git server, source-controller's artifact server,
/// its metrics and health, kustomize-controller's metrics and health.
const GIT_PORT: u16 = 19180;
const STORAGE_PORT: u16 = 19181;
const SOURCE_METRICS_PORT: u16 = 19182;
const SOURCE_HEALTH_PORT: u16 = 19183;
const KUSTOMIZE_METRICS_PORT: u16 = 19184;
const KUSTOMIZE_HEALTH_PORT: u16 = 19185;
/// How long a process may take to open its port.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until something accepts TCP connections on `127.0.0.1:port` (at most
/// [`START_TIMEOUT`]); `proc` must stay alive meanwhile.
fn wait_listening(proc: &mut Proc, what: &str, port: u16, log: &dyn Fn() -> String) -> Result<()> {
    let t0 = Instant::now();
    while t0.elapsed() < START_TIMEOUT {
        if let Some(status) = proc.0.try_wait()? {
            bail!("{what} exited ({status}):\n{}", log());
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{what} not listening on 127.0.0.1:{port} within {START_TIMEOUT:?}:\n{}",
        log()
    )
}

/// The Git smart-HTTP server of the rig (read-only; see the module docs).
pub struct GitServer {
    _proc: Proc,
    /// Directory holding the bare repositories (`<name>.git`).
    pub root: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl GitServer {
    /// Serves `<run dir>/flux/git` on this instance's Git port.
    pub fn start(rig: &Rig) -> Result<GitServer> {
        let root = rig.run_dir.join("flux/git");
        std::fs::create_dir_all(&root)?;
        let port = rig.host_port(GIT_PORT);
        let log = rig.log_file("git-http")?;
        let child = Command::new("python3")
            .arg(e2e_dir().join("tools/git-http.py"))
            .arg(&root)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting e2e/tools/git-http.py")?;
        let mut proc = Proc(child);
        wait_listening(&mut proc, "git-http.py", port, &|| {
            rig.log_tail("git-http", 20)
        })?;
        Ok(GitServer {
            _proc: proc,
            root,
            port,
        })
    }

    /// The clone URL of repository `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}.git", self.port)
    }
}

/// A work tree whose commits are pushed to a bare repository of a [`GitServer`] (branch
/// `main`).
pub struct Repo {
    /// The work tree: write files here, then [`Repo::commit`].
    pub work: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=ferrolb-e2e",
            "-c",
            "user.email=e2e@ferrolb.invalid",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0"))
}

impl Repo {
    /// Creates (afresh) bare repository `name` on `server` and an empty work tree for it.
    pub fn create(rig: &Rig, server: &GitServer, name: &str) -> Result<Repo> {
        let bare = server.root.join(format!("{name}.git"));
        let work = rig.run_dir.join(format!("flux/work-{name}"));
        for d in [&bare, &work] {
            if d.exists() {
                std::fs::remove_dir_all(d)?;
            }
            std::fs::create_dir_all(d)?;
        }
        git(&bare, &["init", "-q", "--bare", "--initial-branch=main"])?;
        git(&work, &["init", "-q", "--initial-branch=main"])?;
        git(&work, &["remote", "add", "origin", &bare.to_string_lossy()])?;
        Ok(Repo { work })
    }

    /// Writes `text` to `path` (relative to the work tree), creating directories.
    pub fn write(&self, path: &str, text: &str) -> Result<()> {
        let p = self.work.join(path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    }

    /// Removes `path` (relative to the work tree).
    pub fn remove(&self, path: &str) -> Result<()> {
        let p = self.work.join(path);
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))
    }

    /// Commits everything in the work tree, pushes it to `main` and returns the commit's SHA.
    pub fn commit(&self, message: &str) -> Result<String> {
        git(&self.work, &["add", "-A"])?;
        git(&self.work, &["commit", "-q", "-m", message])?;
        git(&self.work, &["push", "-q", "origin", "HEAD:main"])?;
        Ok(git(&self.work, &["rev-parse", "HEAD"])?.trim().to_string())
    }
}

/// The two Flux controllers; killed on drop.
pub struct Flux {
    _source: Proc,
    _kustomize: Proc,
}

/// The CRDs shipped next to a controller binary (`crds.yaml`).
fn crds(binary: &Path) -> Result<PathBuf> {
    let p = binary.with_file_name("crds.yaml");
    if !p.is_file() {
        bail!("{} missing: run e2e/build-upstream.sh", p.display());
    }
    Ok(p)
}

/// `$FERROLB_CACHE/bin/flux-<c>-controller-<version>/flux-<c>-controller`, which must exist.
fn controller_binary(c: &str, var: &str) -> Result<PathBuf> {
    let name = format!("flux-{c}-controller");
    let bin = upstream_binary(&name, var)?;
    if !bin.is_file() {
        bail!(
            "{} missing: run e2e/build-upstream.sh (it builds Flux's {c}-controller)",
            bin.display()
        );
    }
    Ok(bin)
}

impl Flux {
    /// Applies Flux's CRDs (waiting until they are Established), creates [`NAMESPACE`] and
    /// starts both controllers, waiting until each serves its health port.
    pub fn start(rig: &Rig) -> Result<Flux> {
        let source = controller_binary("source", "FLUX_SOURCE_VERSION")?;
        let kustomize = controller_binary("kustomize", "FLUX_KUSTOMIZE_VERSION")?;
        for bin in [&source, &kustomize] {
            rig.apply_server_side(&crds(bin)?)?;
        }
        rig.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/gitrepositories.source.toolkit.fluxcd.io",
            "crd/kustomizations.kustomize.toolkit.fluxcd.io",
        ])?;
        let ns = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n");
        let ns_file = rig.run_dir.join("flux-namespace.yaml");
        std::fs::write(&ns_file, ns)?;
        rig.apply_server_side(&ns_file)?;

        let storage = rig.run_dir.join("flux/storage");
        std::fs::create_dir_all(&storage)?;
        let storage_addr = format!("127.0.0.1:{}", rig.host_port(STORAGE_PORT));
        let source_args = vec![
            format!("--storage-path={}", storage.display()),
            format!("--storage-addr={storage_addr}"),
            format!("--storage-adv-addr={storage_addr}"),
        ];
        let src = Self::spawn(
            rig,
            &source,
            "flux-source-controller",
            source_args,
            SOURCE_METRICS_PORT,
            SOURCE_HEALTH_PORT,
        )?;
        let kus = Self::spawn(
            rig,
            &kustomize,
            "flux-kustomize-controller",
            Vec::new(),
            KUSTOMIZE_METRICS_PORT,
            KUSTOMIZE_HEALTH_PORT,
        )?;
        Ok(Flux {
            _source: src,
            _kustomize: kus,
        })
    }

    /// Starts one controller with the flags both share and waits for its health port.
    fn spawn(
        rig: &Rig,
        bin: &Path,
        log_name: &str,
        mut args: Vec<String>,
        metrics_base: u16,
        health_base: u16,
    ) -> Result<Proc> {
        let health = rig.host_port(health_base);
        args.extend([
            "--watch-all-namespaces=true".to_string(),
            "--enable-leader-election=false".to_string(),
            format!("--metrics-addr=127.0.0.1:{}", rig.host_port(metrics_base)),
            format!("--health-addr=127.0.0.1:{health}"),
            "--events-addr=".to_string(),
            "--log-level=debug".to_string(),
        ]);
        let log = rig.log_file(log_name)?;
        let child = Command::new(bin)
            .args(&args)
            .env("KUBECONFIG", &rig.kubeconfig)
            .env("RUNTIME_NAMESPACE", NAMESPACE)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {log_name}"))?;
        let mut proc = Proc(child);
        wait_listening(&mut proc, log_name, health, &|| rig.log_tail(log_name, 30))?;
        Ok(proc)
    }
}

/// `kubectl get <kind> <name> -n flux-system -o json`.
pub fn get(rig: &Rig, kind: &str, name: &str) -> Result<Value> {
    let out = rig.kubectl(&["-n", NAMESPACE, "get", kind, name, "-o", "json"])?;
    serde_json::from_str(&out).with_context(|| format!("{kind}/{name} is not JSON"))
}

/// The `Ready` condition of a Flux object: `(status, reason, message)`, empty when absent.
pub fn ready(obj: &Value) -> (String, String, String) {
    let cond = obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let field = |k: &str| {
        cond.and_then(|c| c[k].as_str())
            .unwrap_or_default()
            .to_string()
    };
    (field("status"), field("reason"), field("message"))
}
