//! The Layer 2 harness shared by `tests/l2.rs` (behaviour) and `tests/l2_bench.rs`
//! (failover and scale benchmarks): the test's controller and one `ferrolb-speaker` per node
//! netns, each as its own ServiceAccount (`config/rbac/{controller,speaker}.yaml`), the test's
//! pools, echo workloads, MetalLB's election recomputed independently (`sha256sum`), and the
//! client-side ARP/NDP probe (`ferrolb-net-responder probe`, one request every 10 ms).
//!
//! Isolation on the shared rig: the Services carry `loadBalancerClass: e2e.ferrolb.io/l2`, the
//! test's controller and speakers run with `--lb-class` set to it, and the heartbeats use port
//! 17947, so a demo controller/speaker set (class-less, port 7947) ignores them. The pools have
//! `autoAssign: false` and are requested by annotation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};

use crate::procs::{self, OperatorOpts, Proc, binary};
use crate::{Rig, wait_for};

/// `loadBalancerClass` of the test Services (the test controller and speakers use it).
pub const CLASS: &str = "e2e.ferrolb.io/l2";
/// Namespace of the test workloads.
pub const NS: &str = "l2-e2e";
/// ferrolb's namespace.
pub const SYSTEM: &str = "metallb-system";
/// Heartbeat port of the test speakers (the demo set uses 7947).
pub const PORT: &str = "17947";
/// IPv4 pool `l2-e2e-v4`.
pub const POOL_V4: &str = "172.18.255.240-172.18.255.249";
/// IPv6 pool `l2-e2e-v6`.
pub const POOL_V6: &str = "fc00:f853:ccd:e793::f0-fc00:f853:ccd:e793::ff";
/// Pool `l2-e2e-scale` of the scale benchmark.
pub const POOL_SCALE: &str = "172.18.248.0/22";
/// Source address of the client's ARP probes.
pub const CLIENT_SRC: &str = "172.18.0.50";
/// Default wait for a condition.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The test's controller: `--lb-class` [`CLASS`], log `ferrolb-operator-l2e2e`.
pub fn start_operator(rig: &Rig) -> Result<Proc> {
    procs::start_operator(
        rig,
        OperatorOpts {
            log: "ferrolb-operator-l2e2e",
            lb_class: Some(CLASS),
            log_filter: "info",
        },
    )
}

/// The speakers, one per node.
pub struct Speakers {
    /// Kubeconfig of ServiceAccount metallb-system/speaker.
    pub kubeconfig: PathBuf,
    /// Running speakers by node.
    pub procs: BTreeMap<String, Proc>,
    /// Extra flags of every speaker.
    pub extra: Vec<String>,
}

/// Node IP of `node-<i>` on the rig LAN.
pub fn node_ip(i: usize) -> String {
    format!("172.18.0.2{i}")
}

impl Speakers {
    /// Starts one speaker per node with `extra` flags.
    pub fn start(rig: &Rig, extra: &[&str]) -> Result<Self> {
        let mut s = Speakers {
            kubeconfig: rig.kubeconfig_for(SYSTEM, "speaker", false)?,
            procs: BTreeMap::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for n in rig.node_names() {
            s.start_one(rig, &n)?;
        }
        Ok(s)
    }

    /// (Re)starts the speaker of `node`.
    pub fn start_one(&mut self, rig: &Rig, node: &str) -> Result<()> {
        let i: usize = node.trim_start_matches("node-").parse()?;
        let log = rig.log_file(&format!("ferrolb-speaker-l2e2e-{node}"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &rig.node_ns(node)])
            .arg(binary("ferrolb-speaker")?)
            .args(&self.extra)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NODE_NAME", node)
            .env("METALLB_NAMESPACE", SYSTEM)
            .env("METALLB_HOST", node_ip(i))
            .env("METALLB_LB_CLASS", CLASS)
            .env("FERROLB_LIVENESS_PORT", PORT)
            .env("FERROLB_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting ferrolb-speaker")?;
        self.procs.insert(node.to_string(), Proc(child));
        Ok(())
    }

    /// `kill -9` (crash).
    pub fn kill(&mut self, node: &str) {
        self.procs.remove(node);
    }

    /// SIGTERM and wait for the graceful exit.
    pub fn stop(&mut self, node: &str) -> Result<()> {
        if let Some(mut p) = self.procs.remove(node) {
            let pid = p.0.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status()?;
            for _ in 0..50 {
                if p.0.try_wait()?.is_some() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            bail!("speaker on {node} did not exit within 5 s of SIGTERM");
        }
        Ok(())
    }
}

/// Server-side applies a YAML document (force conflicts).
pub fn kubectl_apply(rig: &Rig, yaml: &str) -> Result<()> {
    let path = std::env::temp_dir().join(format!(
        "flb-l2-{}-{}.yaml",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::write(&path, yaml)?;
    let r = rig.kubectl(
        &["apply", "--server-side", "--force-conflicts", "-f"]
            .iter()
            .copied()
            .chain([path.to_str().unwrap_or_default()])
            .collect::<Vec<_>>(),
    );
    let _ = std::fs::remove_file(&path);
    r.map(drop)
}

/// CRDs, namespace, RBAC, heartbeat Secret, the test's pools + advertisement, a fresh namespace.
pub fn install(rig: &Rig) -> Result<()> {
    procs::install_base(rig, &["controller", "speaker"])?;
    if rig
        .kubectl(&["-n", SYSTEM, "get", "secret", "metallb-memberlist"])
        .is_err()
    {
        rig.kubectl(&[
            "-n",
            SYSTEM,
            "create",
            "secret",
            "generic",
            "metallb-memberlist",
            "--from-literal=secretkey=l2e2e-0123456789abcdef",
        ])?;
    }
    kubectl_apply(
        rig,
        &format!(
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: l2-e2e-v4, namespace: {SYSTEM}}}
spec: {{addresses: ["{POOL_V4}"], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: l2-e2e-v6, namespace: {SYSTEM}}}
spec: {{addresses: ["{POOL_V6}"], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {{name: l2-e2e, namespace: {SYSTEM}}}
spec: {{ipAddressPools: [l2-e2e-v4, l2-e2e-v6, l2-e2e-scale]}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: l2-e2e-scale, namespace: {SYSTEM}}}
spec: {{addresses: ["{POOL_SCALE}"], autoAssign: false}}
"#
        ),
    )?;
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        NS,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
    ]);
    rig.kubectl(&["create", "namespace", NS])?;
    Ok(())
}

/// Deletes the test namespace and pools (best effort).
pub fn cleanup(rig: &Rig) {
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        NS,
        "--ignore-not-found",
        "--wait=false",
    ]);
    let _ = rig.kubectl(&[
        "-n",
        SYSTEM,
        "delete",
        "l2advertisement/l2-e2e",
        "ipaddresspool/l2-e2e-v4",
        "ipaddresspool/l2-e2e-v6",
        "ipaddresspool/l2-e2e-scale",
        "--ignore-not-found",
    ]);
}

/// A Deployment of echo pods (optionally pinned to a node) and its LoadBalancer Service.
pub fn workload(rig: &Rig, name: &str, replicas: u32, node: Option<&str>, etp: &str) -> Result<()> {
    let selector = node
        .map(|n| format!("nodeSelector: {{kubernetes.io/hostname: {n}}}"))
        .unwrap_or_else(|| "nodeSelector: {}".into());
    kubectl_apply(
        rig,
        &format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      {selector}
      containers: [{{name: web, image: echo, ports: [{{containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {NS}
  annotations: {{metallb.io/address-pool: l2-e2e-v4}}
spec:
  type: LoadBalancer
  loadBalancerClass: {CLASS}
  externalTrafficPolicy: {etp}
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
        ),
    )
}

/// Diagnostics for a failed wait: objects, ServiceL2Statuses, speaker and controller logs.
pub fn diag(rig: &Rig) -> String {
    let mut s = format!(
        "{}\n--- servicel2statuses ---\n{}",
        rig.diagnostics(Some(NS)),
        rig.kubectl(&["-n", SYSTEM, "get", "servicel2statuses", "--show-labels"])
            .unwrap_or_default()
    );
    for n in rig.node_names() {
        s.push_str(&format!(
            "\n--- speaker {n} ---\n{}",
            rig.log_tail(&format!("ferrolb-speaker-l2e2e-{n}"), 15)
        ));
    }
    s.push_str(&format!(
        "\n--- operator ---\n{}",
        rig.log_tail("ferrolb-operator-l2e2e", 15)
    ));
    s
}

/// Waits for the first ingress IP of `NS/name`.
pub async fn wait_ip(rig: &Rig, name: &str) -> Result<String> {
    wait_for(
        &format!("{NS}/{name} to get an EXTERNAL-IP"),
        TIMEOUT,
        || diag(rig),
        || async {
            let ip = rig.kubectl(&[
                "-n",
                NS,
                "get",
                "svc",
                name,
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}",
            ])?;
            Ok((!ip.trim().is_empty()).then(|| ip.trim().to_string()))
        },
    )
    .await
}

/// MetalLB's election among `nodes` for `ip` (no preferred weights): smallest
/// `sha256(node#ip)`, via `sha256sum` so the test does not share code with the speaker.
pub fn expected_owner(ip: &str, nodes: &[String]) -> Result<String> {
    let mut best: Option<(String, String)> = None;
    for n in nodes {
        let out = Command::new("sh")
            .args(["-c", &format!("printf '%s' '{n}#{ip}' | sha256sum")])
            .output()?;
        let hex = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        if best.as_ref().is_none_or(|(h, _)| hex < *h) {
            best = Some((hex, n.clone()));
        }
    }
    best.map(|(_, n)| n).context("no nodes")
}

/// Waits until exactly `mac` answers ARP for `ip` (3 probes, one MAC).
pub async fn wait_arp_owner(rig: &Rig, ip: &str, mac: &str) -> Result<()> {
    wait_for(
        &format!("ARP for {ip} answered only by {mac}"),
        TIMEOUT,
        || diag(rig),
        || async { Ok((rig.arp_who_has(ip, 3)? == [mac.to_string()]).then_some(())) },
    )
    .await
}

/// Waits until the only ServiceL2Status of `NS/svc` names `node`.
pub async fn wait_status_node(rig: &Rig, svc: &str, node: &str) -> Result<()> {
    wait_for(
        &format!("ServiceL2Status of {NS}/{svc} on {node} (and only there)"),
        TIMEOUT,
        || diag(rig),
        || async {
            let nodes = rig.kubectl(&[
                "-n",
                SYSTEM,
                "get",
                "servicel2statuses",
                "-l",
                &format!("metallb.io/service-name={svc},metallb.io/service-namespace={NS}"),
                "-o",
                "jsonpath={.items[*].status.node}",
            ])?;
            Ok((nodes.trim() == node).then_some(()))
        },
    )
    .await
}

/// Waits for an HTTP answer through `ip` from a pod named `prefix*`; returns the body.
pub async fn wait_http(rig: &Rig, ip: &str, prefix: &str) -> Result<String> {
    wait_for(
        &format!("HTTP answer from a {prefix}* pod through {ip}"),
        TIMEOUT,
        || diag(rig),
        || async {
            let body = rig.http_get_from_client(&format!("http://{ip}/"))?;
            Ok(body
                .trim()
                .starts_with(prefix)
                .then(|| body.trim().to_string()))
        },
    )
    .await
}

/// Waits (60 s) for the pods of `app` to be Ready.
pub fn wait_ready(rig: &Rig, app: &str) -> Result<()> {
    rig.kubectl(&[
        "-n",
        NS,
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        &format!("app={app}"),
        "--timeout=60s",
    ])
    .map(drop)
}

/// Runs the client-side probe (ARP request or NS every 10 ms) for `secs` in the background.
pub fn start_probe(ip: &str, secs: u32) -> Result<Child> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &crate::instance_ns("client")])
        .arg(binary("ferrolb-net-responder")?)
        .args(["probe", "--iface", "eth0", "--interval-ms", "10"])
        .args(["--secs", &secs.to_string()]);
    if ip.contains(':') {
        cmd.args(["--ipv6", ip]);
    } else {
        cmd.args(["--ipv4", ip, "--src", CLIENT_SRC]);
    }
    Ok(cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?)
}

/// `(unix ns, mac)` replies printed by a finished probe.
pub fn probe_replies(child: Child) -> Result<Vec<(u128, String)>> {
    let out = child.wait_with_output()?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("reply")).then_some(())?;
            let t = it.next()?.parse().ok()?;
            Some((t, it.next()?.to_lowercase()))
        })
        .collect())
}

/// Wall-clock time in ns since the epoch (the probe prints the same clock).
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Two different MACs answering within `window` of each other after `from`.
pub fn overlap(
    replies: &[(u128, String)],
    from: u128,
    window: Duration,
) -> Option<(u128, String, String)> {
    let w = window.as_nanos();
    let after: Vec<&(u128, String)> = replies.iter().filter(|(t, _)| *t >= from).collect();
    after.windows(2).find_map(|p| {
        (p[0].1 != p[1].1 && p[1].0 - p[0].0 < w).then(|| (p[1].0, p[0].1.clone(), p[1].1.clone()))
    })
}

/// The figures of one failover trial.
pub struct Trial {
    /// Failure → first reply with another MAC.
    pub failover: Duration,
    /// Largest gap between consecutive replies after the failure.
    pub max_gap: Duration,
}

/// Kills (or stops) the announcing speaker while probing; returns the failover figures.
pub fn failover_trial(
    speakers: &mut Speakers,
    ip: &str,
    owner: &str,
    owner_mac: &str,
    graceful: bool,
) -> Result<Trial> {
    let probe = start_probe(ip, 3)?;
    std::thread::sleep(Duration::from_millis(800));
    let t0 = now_ns();
    if graceful {
        speakers.stop(owner)?;
    } else {
        speakers.kill(owner);
    }
    let replies = probe_replies(probe)?;
    let first_new = replies
        .iter()
        .find(|(t, m)| *t >= t0 && m != owner_mac)
        .with_context(|| format!("no other MAC answered within the probe; replies: {replies:?}"))?;
    let mut max_gap = 0u128;
    let mut last = t0;
    for (t, _) in replies.iter().filter(|(t, _)| *t >= t0) {
        max_gap = max_gap.max(t - last);
        last = *t;
    }
    if !graceful {
        // After a crash the dead node cannot answer: the old MAC must be gone for good.
        ensure!(
            !replies
                .iter()
                .any(|(t, m)| *t > first_new.0 && m == owner_mac),
            "the crashed owner's MAC answered after the takeover"
        );
    }
    Ok(Trial {
        failover: Duration::from_nanos(u64::try_from(first_new.0 - t0).unwrap_or(u64::MAX)),
        max_gap: Duration::from_nanos(u64::try_from(max_gap).unwrap_or(u64::MAX)),
    })
}

/// `n p50 p99 max min` of durations, in ms.
pub fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i.min(v.len() - 1)].as_secs_f64() * 1000.0
    };
    format!(
        "n={} p50={:.1}ms p99={:.1}ms max={:.1}ms min={:.1}ms",
        v.len(),
        p(0.5),
        p(0.99),
        p(1.0),
        p(0.0)
    )
}

/// `(rss KiB, cpu seconds)` of a process from /proc.
pub fn proc_usage(pid: u32) -> Result<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((rss, ticks as f64 / 100.0))
}
