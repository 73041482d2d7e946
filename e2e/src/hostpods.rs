//! Pods whose kubelet is the test: real processes in the rig's **host pod network** (netns
//! `flbN-pods`, `198.18.N.0/24`, one veth to the host: `rig.sh` `podnet_up`), which the host's
//! kube-apiserver reaches at their pod IP. This is what a `service:` webhook clientConfig needs:
//! the rig's apiserver runs `--enable-aggregator-routing=true`, so it resolves the Service to
//! one **ready** endpoint of its EndpointSlices (k8s.io/apiserver `proxy.ResolveEndpoint`) and
//! dials that IP — the endpoints kwok's Pods get (pod CIDRs inside the node namespaces) are
//! blackholed on the host (`HOST_GUARD` in rig.sh).
//!
//! The Pod objects are real (bound to `node-1`, as the endpointslice controller needs an
//! existing Node), annotated `e2e.ferrolb.io/kubelet: test` so that kwok (flag
//! `--disregard-status-with-annotation-selector`) and `podagent.py` leave them alone. A
//! [`HostPod`] does the kubelet's part: it writes the Pod's status (`Running`, the pod IP),
//! runs the chart's readiness probe against the process (HTTP GET `/readyz`, first after 2 s,
//! then every 5 s) and writes the `Ready` condition; the kube-controller-manager's real
//! endpointslice controller turns that into endpoint `ready`/`serving`/`terminating`
//! conditions, exactly as in a cluster. [`HostPod::terminate`] is a Pod deletion: the API
//! DELETE (grace period 10 s, as the chart's Deployment), SIGTERM, the probe kept running while
//! the process drains, SIGKILL at the grace period, then the final grace-0 delete.
#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Rig;

/// The annotation that hands a Pod's status to the test (rig.sh `KUBELET_TEST_ANNOTATION`).
pub const KUBELET_ANNOTATION: &str = "e2e.ferrolb.io/kubelet";
/// The chart's readiness probe (`charts/ferrolb/templates/webhook.yaml`): initial delay, period.
pub const PROBE_INITIAL_DELAY: Duration = Duration::from_secs(2);
/// See [`PROBE_INITIAL_DELAY`].
pub const PROBE_PERIOD: Duration = Duration::from_secs(5);
/// `terminationGracePeriodSeconds` of the chart's webhook Deployment.
pub const GRACE_PERIOD: Duration = Duration::from_secs(10);

impl Rig {
    /// The host pod network's netns (`flb-pods` for instance 0).
    pub fn pods_ns(&self) -> String {
        format!("{}pods", self.ns_prefix)
    }

    /// Pod IP number `n` (10..=250) of the host pod network: `198.18.<instance>.<n>`.
    pub fn host_pod_ip(&self, n: u8) -> String {
        format!("198.18.{}.{n}", self.instance)
    }
}

/// What to run as a host Pod.
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// Namespace and name of the Pod object.
    pub namespace: String,
    /// See `namespace`.
    pub name: String,
    /// Labels (a Service selects the Pod by these).
    pub labels: serde_json::Value,
    /// Named container ports, as the chart declares them.
    pub ports: Vec<(String, u16)>,
    /// The pod IP (from [`Rig::host_pod_ip`]).
    pub ip: String,
    /// The readiness probe's port and path (HTTP GET on the pod IP).
    pub readiness: (u16, String),
    /// The command, run inside the host pod network.
    pub command: Vec<String>,
    /// Its environment.
    pub env: Vec<(String, String)>,
}

/// A running host Pod (see the module docs); the process is killed and the Pod deleted on drop.
pub struct HostPod {
    /// The spec it runs.
    pub spec: PodSpec,
    child: Child,
    pods: Api<Pod>,
    rig: Rig,
    stop_probe: Arc<AtomicBool>,
    probe: Option<tokio::task::JoinHandle<()>>,
    ready: Arc<AtomicBool>,
}

impl HostPod {
    /// Creates the Pod object, gives it its IP, starts the process (log:
    /// `logs/hostpod-<name>.log`) and the readiness probe.
    pub async fn start(rig: &Rig, client: &Client, spec: PodSpec) -> Result<HostPod> {
        let ns = rig.pods_ns();
        let dev_addr = format!("{}/32", spec.ip);
        let _ = rig.netns_exec(&ns, &["ip", "addr", "del", &dev_addr, "dev", "eth0"]);
        rig.netns_exec(&ns, &["ip", "addr", "add", &dev_addr, "dev", "eth0"])?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
        let ports: Vec<_> = spec
            .ports
            .iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"}))
            .collect();
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels,
                "annotations": {KUBELET_ANNOTATION: "test"}},
            "spec": {"nodeName": "node-1",
                "terminationGracePeriodSeconds": GRACE_PERIOD.as_secs(),
                "containers": [{"name": "main", "image": "ferrolb-e2e/host-pod", "ports": ports}]},
        }))?;
        let _ = pods
            .delete(&spec.name, &DeleteParams::default().grace_period(0))
            .await;
        crate::wait_for(
            "an earlier Pod of the same name gone",
            Duration::from_secs(30),
            String::new,
            || async {
                Ok(match pods.create(&PostParams::default(), &pod).await {
                    Ok(_) => Some(()),
                    Err(kube::Error::Api(e)) if e.code == 409 => None,
                    Err(e) => bail!("creating Pod {}: {e}", spec.name),
                })
            },
        )
        .await?;
        let now = now_rfc3339();
        let status = json!({"status": {
            "phase": "Running", "podIP": spec.ip, "podIPs": [{"ip": spec.ip}],
            "startTime": now,
            "conditions": conditions(false, &now),
        }});
        pods.patch_status(&spec.name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("writing the status of Pod {}", spec.name))?;
        let child = spawn(rig, &ns, &spec)?;
        let mut pod = HostPod {
            spec,
            child,
            pods,
            rig: rig.clone(),
            stop_probe: Arc::new(AtomicBool::new(false)),
            probe: None,
            ready: Arc::new(AtomicBool::new(false)),
        };
        pod.probe = Some(tokio::spawn(probe_loop(
            pod.pods.clone(),
            pod.spec.clone(),
            pod.stop_probe.clone(),
            pod.ready.clone(),
        )));
        Ok(pod)
    }

    /// The Pod's `Ready` condition as last written by its probe.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Waits until the probe has marked the Pod Ready.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let t0 = Instant::now();
        while !self.is_ready() {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before it was ready\n{}",
                    self.spec.name,
                    self.log_tail(30)
                );
            }
            if t0.elapsed() > timeout {
                bail!(
                    "{} not ready after {timeout:?}\n{}",
                    self.spec.name,
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// The last lines of the process's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.rig
            .log_tail(&format!("hostpod-{}", self.spec.name), lines)
    }

    /// Deletes the Pod as a rollout does and stops the process as the kubelet does (see the
    /// module docs). Returns how the process ended and after how long.
    pub async fn terminate(mut self) -> Result<(std::process::ExitStatus, Duration)> {
        let name = self.spec.name.clone();
        self.pods
            .delete(
                &name,
                &DeleteParams::default().grace_period(GRACE_PERIOD.as_secs() as u32),
            )
            .await
            .with_context(|| format!("deleting Pod {name}"))?;
        let t0 = Instant::now();
        let pid = self.child.id().to_string();
        crate::run(Command::new("kill").args(["-TERM", pid.as_str()]))?;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if t0.elapsed() > GRACE_PERIOD {
                let _ = self.child.kill();
                break self.child.wait()?;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let took = t0.elapsed();
        self.stop_probe.store(true, Ordering::Relaxed);
        if let Some(p) = self.probe.take() {
            let _ = p.await;
        }
        self.pods
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await
            .with_context(|| format!("final delete of Pod {name}"))?;
        self.release_ip();
        Ok((status, took))
    }
}

impl HostPod {
    /// Takes the pod IP off the host pod network.
    fn release_ip(&self) {
        let addr = format!("{}/32", self.spec.ip);
        let _ = self.rig.netns_exec(
            &self.rig.pods_ns(),
            &["ip", "addr", "del", &addr, "dev", "eth0"],
        );
    }
}

impl Drop for HostPod {
    fn drop(&mut self) {
        self.stop_probe.store(true, Ordering::Relaxed);
        if let Some(p) = self.probe.take() {
            p.abort();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // best effort, without a runtime: the namespace's deletion removes the Pod too
        let _ = self.rig.kubectl(&[
            "-n",
            &self.spec.namespace,
            "delete",
            "pod",
            &self.spec.name,
            "--grace-period=0",
            "--force",
            "--wait=false",
        ]);
        self.release_ip();
    }
}

fn spawn(rig: &Rig, ns: &str, spec: &PodSpec) -> Result<Child> {
    let logs = rig.run_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("hostpod-{}.log", spec.name)))?;
    let (program, args) = spec.command.split_first().context("empty command")?;
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(Path::new(program))
        .args(args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {program} for Pod {}", spec.name))
}

fn conditions(ready: bool, now: &str) -> serde_json::Value {
    let r = if ready { "True" } else { "False" };
    json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": r, "lastTransitionTime": now},
        {"type": "Ready", "status": r, "lastTransitionTime": now},
    ])
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The kubelet's readiness probe: after the initial delay, every period; a change is written
/// to the Pod's `Ready` condition (as the kubelet's status manager does).
async fn probe_loop(pods: Api<Pod>, spec: PodSpec, stop: Arc<AtomicBool>, ready: Arc<AtomicBool>) {
    tokio::time::sleep(PROBE_INITIAL_DELAY).await;
    let mut last = false;
    while !stop.load(Ordering::Relaxed) {
        let ok = http_ok(&spec.ip, spec.readiness.0, &spec.readiness.1).await;
        if ok != last {
            let now = now_rfc3339();
            let status = json!({"status": {"conditions": conditions(ok, &now)}});
            match pods
                .patch_status(
                    &spec.name,
                    &PatchParams::default(),
                    &Patch::Strategic(&status),
                )
                .await
            {
                Ok(_) => {
                    last = ok;
                    ready.store(ok, Ordering::Relaxed);
                }
                Err(e) => eprintln!("hostpod {}: writing Ready={ok}: {e}", spec.name),
            }
        }
        let t0 = Instant::now();
        while t0.elapsed() < PROBE_PERIOD && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// HTTP/1.0 GET with a 1 s timeout (the kubelet's default `timeoutSeconds`): true on a 2xx.
async fn http_ok(ip: &str, port: u16, path: &str) -> bool {
    let get = async {
        let mut s = tokio::net::TcpStream::connect((ip, port)).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
            .await?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head.starts_with(b"HTTP/1.") && head[9] == b'2')
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), get).await,
        Ok(Ok(true))
    )
}
