//! The Layer 2 harness shared by `tests/l2.rs` (behaviour) and `tests/l2_bench.rs`
//! (failover and scale benchmarks): the test's controller and one `ferrolb-speaker` per node
//! netns, each as its own ServiceAccount (`config/rbac/{controller,speaker}.yaml`), the test's
//! pools, echo workloads, MetalLB's election recomputed independently (`sha256sum`), and waits
//! on who answers ARP/NDP and which ServiceL2Status exists. Failover trials and the client-side
//! probe: [`crate::failover`].
//!
//! Isolation on the shared rig: the Services carry `loadBalancerClass: e2e.ferrolb.io/l2`, the
//! test's controller and speakers run with `--lb-class` set to it, and the heartbeats use port
//! 17947, so a demo controller/speaker set (class-less, port 7947) ignores them. The pools have
//! `autoAssign: false` and are requested by annotation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::procs::{self, OperatorOpts, Proc, binary};
use crate::workload::{self, Echo};
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
    start_operator_as(rig, None)
}

/// [`start_operator`], running as if in Pod `(name, uid)`.
pub fn start_operator_as(rig: &Rig, pod: Option<(&str, &str)>) -> Result<Proc> {
    procs::start_operator(
        rig,
        OperatorOpts {
            log: "ferrolb-operator-l2e2e",
            lb_class: Some(CLASS),
            log_filter: "info",
            pod,
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
    /// Extra environment variables of every speaker started from now on.
    pub env: Vec<(String, String)>,
}

/// Node IP of `node-<i>` on the rig LAN.
pub fn node_ip(i: usize) -> String {
    format!("172.18.0.2{i}")
}

impl Speakers {
    /// Starts one speaker per node with `extra` flags.
    pub fn start(rig: &Rig, extra: &[&str]) -> Result<Self> {
        let mut s = Self::none(rig, extra)?;
        for n in rig.node_names() {
            s.start_one(rig, &n)?;
        }
        Ok(s)
    }

    /// No speaker running yet; [`Speakers::start_one`] / [`Speakers::start_as_pod`] add them.
    pub fn none(rig: &Rig, extra: &[&str]) -> Result<Self> {
        Ok(Speakers {
            kubeconfig: rig.kubeconfig_for(SYSTEM, "speaker", false)?,
            procs: BTreeMap::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
        })
    }

    /// (Re)starts the speaker of `node`.
    pub fn start_one(&mut self, rig: &Rig, node: &str) -> Result<()> {
        self.spawn(rig, node, None)
    }

    /// (Re)starts the speaker of `node` as if it ran in Pod `(name, uid)` (what the
    /// DaemonSet's downward API gives it: `METALLB_POD_NAME`, `METALLB_POD_UID`).
    pub fn start_as_pod(&mut self, rig: &Rig, node: &str, pod: (&str, &str)) -> Result<()> {
        self.spawn(rig, node, Some(pod))
    }

    fn spawn(&mut self, rig: &Rig, node: &str, pod: Option<(&str, &str)>) -> Result<()> {
        let i: usize = node.trim_start_matches("node-").parse()?;
        let log = rig.log_file(&format!("ferrolb-speaker-l2e2e-{node}"))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &rig.node_ns(node)])
            .arg(binary("ferrolb-speaker")?)
            .args(&self.extra)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NODE_NAME", node)
            .env("METALLB_NAMESPACE", SYSTEM)
            .env("METALLB_HOST", node_ip(i))
            .env("METALLB_LB_CLASS", CLASS)
            .env("FERROLB_LIVENESS_PORT", PORT)
            .env("FERROLB_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some((name, uid)) = pod {
            cmd.env("METALLB_POD_NAME", name)
                .env("METALLB_POD_UID", uid);
        }
        let child = cmd.spawn().context("starting ferrolb-speaker")?;
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

/// Creates a `hostNetwork` Pod `name` on `node` in ferrolb's namespace with `labels` (a YAML
/// flow mapping body, e.g. `app: metallb, component: speaker`): the Pod a speaker or
/// controller process pretends to run in (kwok runs it, the rig's podagent skips it). Returns
/// its UID.
pub fn fake_pod(rig: &Rig, name: &str, node: &str, labels: &str) -> Result<String> {
    kubectl_apply(
        rig,
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {SYSTEM}, labels: {{{labels}}}}}
spec:
  nodeName: {node}
  hostNetwork: true
  containers: [{{name: main, image: ghcr.io/ferrolb/speaker:e2e}}]
"#
        ),
    )?;
    let uid = rig.kubectl(&[
        "-n",
        SYSTEM,
        "get",
        "pod",
        name,
        "-o",
        "jsonpath={.metadata.uid}",
    ])?;
    anyhow::ensure!(!uid.trim().is_empty(), "Pod {name} has no UID");
    Ok(uid.trim().to_string())
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

/// Creates the speakers' heartbeat key (Secret `metallb-memberlist`, as MetalLB's manifests
/// do) unless it exists.
pub fn ensure_memberlist_secret(rig: &Rig) -> Result<()> {
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
    Ok(())
}

/// CRDs, namespace, RBAC, heartbeat Secret, the test's pools + advertisement, a fresh namespace.
pub fn install(rig: &Rig) -> Result<()> {
    procs::install_base(rig, &["controller", "speaker"])?;
    ensure_memberlist_secret(rig)?;
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
    Echo {
        ns: NS,
        name,
        replicas,
        class: CLASS,
        pool: "l2-e2e-v4",
        node,
        etp: Some(etp),
        family: None,
    }
    .apply(rig)
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
    workload::wait_ip(rig, NS, name, TIMEOUT, || diag(rig)).await
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
        || async { Ok((status_nodes(rig, svc)? == [node]).then_some(())) },
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

/// Puts `ip` into `NS/svc`'s `status.loadBalancer.ingress` by hand (for IPv6: the rig's Service
/// CIDR is IPv4-only, so the controller cannot allocate one; run without a controller).
pub fn set_ingress_by_hand(rig: &Rig, svc: &str, ip: &str) -> Result<()> {
    rig.kubectl(&[
        "-n",
        NS,
        "patch",
        "svc",
        svc,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{ip}"}}]}}}}}}"#),
    ])
    .map(drop)
}

/// Waits until exactly `mac` answers ARP (IPv4) or NDP (IPv6) for `ip`.
pub async fn wait_l2_owner(rig: &Rig, ip: &str, mac: &str) -> Result<()> {
    if !ip.contains(':') {
        return wait_arp_owner(rig, ip, mac).await;
    }
    wait_for(
        &format!("NDP for {ip} answered only by {mac}"),
        TIMEOUT,
        || diag(rig),
        || async { Ok((rig.ndp_who_has(ip)? == [mac.to_string()]).then_some(())) },
    )
    .await
}

/// The nodes named by the ServiceL2Statuses of `NS/svc`, sorted.
pub fn status_nodes(rig: &Rig, svc: &str) -> Result<Vec<String>> {
    let out = rig.kubectl(&[
        "-n",
        SYSTEM,
        "get",
        "servicel2statuses",
        "-l",
        &format!("metallb.io/service-name={svc},metallb.io/service-namespace={NS}"),
        "-o",
        "jsonpath={.items[*].status.node}",
    ])?;
    let mut v: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    v.sort();
    Ok(v)
}

/// Waits until one of the ServiceL2Statuses of `NS/svc` names `node` (others may exist).
pub async fn wait_status_includes(rig: &Rig, svc: &str, node: &str) -> Result<()> {
    wait_for(
        &format!("a ServiceL2Status of {NS}/{svc} on {node}"),
        TIMEOUT,
        || diag(rig),
        || async {
            Ok(status_nodes(rig, svc)?
                .iter()
                .any(|n| n == node)
                .then_some(()))
        },
    )
    .await
}

/// The MAC in the FRR router's neighbour (ARP/NDP) table for `ip`, if any: what an upstream
/// router on the LAN would forward the service's traffic to. Reading it sends nothing.
pub fn router_neigh_mac(rig: &Rig, ip: &str) -> Result<Option<String>> {
    let out = rig.netns_exec(&rig.frr_ns(), &["ip", "neigh", "show", ip, "dev", "eth0"])?;
    Ok(out
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_lowercase))
}

/// HTTP GET from the FRR router's netns (curl, 3 s timeout): the router resolves `ip` and keeps
/// a neighbour entry for it.
pub fn http_get_from_router(rig: &Rig, url: &str) -> Result<String> {
    rig.netns_exec(&rig.frr_ns(), &["curl", "-gsS", "--max-time", "3", url])
}

/// Where every node's speaker log ends now, for [`membership_changes_since`].
pub fn speaker_log_marks(rig: &Rig) -> Vec<(String, usize)> {
    rig.node_names()
        .into_iter()
        .map(|n| {
            let len = crate::bgp_setup::speaker_log(rig, &n).len();
            (n, len)
        })
        .collect()
}

/// The `membership changed` lines (a peer declared dead or back) every speaker logged since
/// `marks`, as `node: line`: false failovers when no node failed.
pub fn membership_changes_since(rig: &Rig, marks: &[(String, usize)]) -> Vec<String> {
    let mut changes = Vec::new();
    for (n, len) in marks {
        let log = crate::bgp_setup::speaker_log(rig, n);
        let new = log.get(*len..).unwrap_or_default();
        changes.extend(
            new.lines()
                .filter(|l| l.contains("membership changed"))
                .map(|l| format!("{n}: {l}")),
        );
    }
    changes
}
