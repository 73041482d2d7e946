//! ferrolb's speaker in Layer 2 mode on the rig: the controller and one `ferrolb-speaker` per
//! node netns, each running as its own ServiceAccount (`config/rbac/{controller,speaker}.yaml`).
//!
//! - the client's ARP (and NDP for an IPv6 address) for the service IP is answered by exactly
//!   the node MetalLB's election names (`sha256(node#ip)` ascending, computed here with
//!   `sha256sum`), and that node's ServiceL2Status exists;
//! - the client gets an HTTP answer from a backend through the service IP;
//! - `externalTrafficPolicy: Local` announces only from the node hosting the endpoint;
//! - `kill -9` of the announcing speaker: another node answers within a second and never two
//!   at once (also when the killed speaker comes back); SIGTERM: make-before-break handover.
//! - `z_bench_failover` (only with `FERROLB_L2_BENCH_TRIALS=N`): N crash and N graceful trials,
//!   failover time from the kill to the first reply with the new MAC (BENCHMARKS.md).
//!
//! Isolation on the shared rig: the Services carry `loadBalancerClass: e2e.ferrolb.io/l2`, the
//! test's controller and speakers run with `--lb-class` set to it, and the heartbeats use port
//! 17947, so a demo controller/speaker set (class-less, port 7947) ignores them. The pools have
//! `autoAssign: false` and are requested by annotation.
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::{Rig, wait_for};

const CLASS: &str = "e2e.ferrolb.io/l2";
const NS: &str = "l2-e2e";
const SYSTEM: &str = "metallb-system";
const PORT: &str = "17947";
const POOL_V4: &str = "172.18.255.240-172.18.255.249";
const POOL_V6: &str = "fc00:f853:ccd:e793::f0-fc00:f853:ccd:e793::ff";
const POOL_SCALE: &str = "172.18.248.0/22";
const CLIENT_SRC: &str = "172.18.0.50";
const TIMEOUT: Duration = Duration::from_secs(30);

fn project() -> PathBuf {
    ferrolb_e2e::e2e_dir().join("..")
}

fn binary(name: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project().join("target"));
    let bin = target.join("debug").join(name);
    ensure!(
        bin.exists(),
        "{} not found: cargo build -p ferrolb-operator -p ferrolb-speaker -p ferrolb-net",
        bin.display()
    );
    Ok(bin)
}

/// A child process killed (SIGKILL) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_file(rig: &Rig, name: &str) -> Result<std::fs::File> {
    let logs = rig.run_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    Ok(OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("{name}.log")))?)
}

fn start_operator(rig: &Rig) -> Result<Proc> {
    let kubeconfig = rig.kubeconfig_for(SYSTEM, "controller", false)?;
    let log = log_file(rig, "ferrolb-operator-l2e2e")?;
    let child = Command::new(binary("ferrolb-operator")?)
        .env("KUBECONFIG", &kubeconfig)
        .env("METALLB_NAMESPACE", SYSTEM)
        .env("METALLB_LB_CLASS", CLASS)
        .env("FERROLB_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting ferrolb-operator")?;
    Ok(Proc(child))
}

/// The speakers, one per node.
struct Speakers {
    kubeconfig: PathBuf,
    procs: BTreeMap<String, Proc>,
    extra: Vec<String>,
}

fn node_ip(i: usize) -> String {
    format!("172.18.0.2{i}")
}

impl Speakers {
    fn start(rig: &Rig, extra: &[&str]) -> Result<Self> {
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

    fn start_one(&mut self, rig: &Rig, node: &str) -> Result<()> {
        let i: usize = node.trim_start_matches("node-").parse()?;
        let log = log_file(rig, &format!("ferrolb-speaker-l2e2e-{node}"))?;
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
    fn kill(&mut self, node: &str) {
        self.procs.remove(node);
    }

    /// SIGTERM and wait for the graceful exit.
    fn stop(&mut self, node: &str) -> Result<()> {
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

fn kubectl_apply(rig: &Rig, yaml: &str) -> Result<()> {
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
fn install(rig: &Rig) -> Result<()> {
    rig.apply_server_side(&project().join("config/namespace/namespace.yaml"))?;
    rig.apply_server_side(&project().join("config/crd/bases"))?;
    for crd in [
        "ipaddresspools.metallb.io",
        "l2advertisements.metallb.io",
        "servicel2statuses.metallb.io",
        "configurationstates.metallb.io",
    ] {
        rig.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/{crd}"),
        ])?;
    }
    rig.apply_server_side(&project().join("config/rbac/controller.yaml"))?;
    rig.apply_server_side(&project().join("config/rbac/speaker.yaml"))?;
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

fn cleanup(rig: &Rig) {
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
fn workload(rig: &Rig, name: &str, replicas: u32, node: Option<&str>, etp: &str) -> Result<()> {
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

fn diag(rig: &Rig) -> String {
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

async fn wait_ip(rig: &Rig, name: &str) -> Result<String> {
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
fn expected_owner(ip: &str, nodes: &[String]) -> Result<String> {
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
async fn wait_arp_owner(rig: &Rig, ip: &str, mac: &str) -> Result<()> {
    wait_for(
        &format!("ARP for {ip} answered only by {mac}"),
        TIMEOUT,
        || diag(rig),
        || async { Ok((rig.arp_who_has(ip, 3)? == [mac.to_string()]).then_some(())) },
    )
    .await
}

async fn wait_status_node(rig: &Rig, svc: &str, node: &str) -> Result<()> {
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

async fn wait_http(rig: &Rig, ip: &str, prefix: &str) -> Result<String> {
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

fn wait_ready(rig: &Rig, app: &str) -> Result<()> {
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
fn start_probe(ip: &str, secs: u32) -> Result<Child> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ferrolb_e2e::instance_ns("client")])
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
fn probe_replies(child: Child) -> Result<Vec<(u128, String)>> {
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

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Two different MACs answering within `window` of each other after `from`.
fn overlap(
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

struct Trial {
    /// Failure → first reply with another MAC.
    failover: Duration,
    /// Largest gap between consecutive replies after the failure.
    max_gap: Duration,
}

/// Kills (or stops) the announcing speaker while probing; returns the failover figures.
fn failover_trial(
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

#[tokio::test]
async fn a_arp_owner_status_http_crash_and_graceful_failover() -> Result<()> {
    let Some(rig) = Rig::from_env("a_arp_owner_status_http_crash_and_graceful_failover") else {
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let mut speakers = Speakers::start(&rig, &[])?;
    let result = async {
        workload(&rig, "web", 3, None, "Cluster")?;
        let ip = wait_ip(&rig, "web").await?;
        wait_ready(&rig, "web")?;
        let nodes = rig.node_names();
        let owner = expected_owner(&ip, &nodes)?;
        let owner_mac = rig.node_mac(&owner)?;
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        wait_status_node(&rig, "web", &owner).await?;
        let events = rig.kubectl(&[
            "-n",
            NS,
            "get",
            "events",
            "--field-selector",
            "reason=nodeAssigned",
            "-o",
            "jsonpath={.items[*].note}{.items[*].message}",
        ])?;
        ensure!(
            events.contains(&format!("\"{owner}\"")),
            "no nodeAssigned event naming {owner}: {events}"
        );
        let body = wait_http(&rig, &ip, "web-").await?;
        eprintln!("{ip} owned by {owner} ({owner_mac}); HTTP answered by {body}");

        // Crash: another node answers, never two at once.
        let t = failover_trial(&mut speakers, &ip, &owner, &owner_mac, false)?;
        eprintln!("crash failover {:?} (max gap {:?})", t.failover, t.max_gap);
        ensure!(
            t.failover < Duration::from_millis(1500),
            "crash failover took {:?}",
            t.failover
        );
        let rest: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
        let second = expected_owner(&ip, &rest)?;
        let second_mac = rig.node_mac(&second)?;
        wait_arp_owner(&rig, &ip, &second_mac).await?;
        wait_status_node(&rig, "web", &second).await?;
        wait_http(&rig, &ip, "web-").await?;

        // The crashed speaker comes back: the IP moves back without overlap.
        let probe = start_probe(&ip, 4)?;
        std::thread::sleep(Duration::from_millis(300));
        let t_back = now_ns();
        speakers.start_one(&rig, &owner)?;
        let replies = probe_replies(probe)?;
        ensure!(
            overlap(&replies, t_back, Duration::from_millis(8)).is_none(),
            "two nodes answered at once when {owner} rejoined: {:?}",
            overlap(&replies, t_back, Duration::from_millis(8))
        );
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        wait_status_node(&rig, "web", &owner).await?;

        // Graceful stop: make-before-break handover.
        let t = failover_trial(&mut speakers, &ip, &owner, &owner_mac, true)?;
        eprintln!(
            "graceful handover {:?} (max reply gap {:?})",
            t.failover, t.max_gap
        );
        ensure!(
            t.failover < Duration::from_millis(1000),
            "graceful handover took {:?}",
            t.failover
        );
        wait_arp_owner(&rig, &ip, &second_mac).await?;
        wait_status_node(&rig, "web", &second).await?;
        speakers.start_one(&rig, &owner)?;
        wait_arp_owner(&rig, &ip, &owner_mac).await?;
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

#[tokio::test]
async fn b_local_traffic_policy_announces_from_the_endpoint_node() -> Result<()> {
    let Some(rig) = Rig::from_env("b_local_traffic_policy_announces_from_the_endpoint_node") else {
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &[])?;
    let result = async {
        let ip = {
            workload(&rig, "local", 1, Some("node-1"), "Local")?;
            wait_ip(&rig, "local").await?
        };
        // Put the single endpoint on each node in turn (the election winner for Cluster would
        // be a fixed node): the announcing node follows the endpoint.
        for node in ["node-1", "node-2", "node-3"] {
            workload(&rig, "local", 1, Some(node), "Local")?;
            wait_for(
                &format!("the local endpoint on {node} only"),
                Duration::from_secs(60),
                || diag(&rig),
                || async {
                    let out = rig.kubectl(&[
                        "-n",
                        NS,
                        "get",
                        "endpointslices",
                        "-l",
                        "kubernetes.io/service-name=local",
                        "-o",
                        "jsonpath={.items[*].endpoints[*].nodeName}",
                    ])?;
                    Ok((out.trim() == node).then_some(()))
                },
            )
            .await?;
            let mac = rig.node_mac(node)?;
            wait_arp_owner(&rig, &ip, &mac).await?;
            wait_status_node(&rig, "local", node).await?;
            let body = wait_http(&rig, &ip, "local-").await?;
            eprintln!("ETP=Local: endpoint on {node}, {ip} answered by {mac}, HTTP {body}");
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

#[tokio::test]
async fn c_ndp_for_an_ipv6_service_ip() -> Result<()> {
    let Some(rig) = Rig::from_env("c_ndp_for_an_ipv6_service_ip") else {
        return Ok(());
    };
    // The rig's Service CIDR is IPv4-only, so the controller cannot allocate an IPv6 address
    // to a Service; the status is written by hand (no controller runs in this test).
    install(&rig)?;
    let mut speakers = Speakers::start(&rig, &[])?;
    let result = async {
        workload(&rig, "v6", 2, None, "Cluster")?;
        wait_ready(&rig, "v6")?;
        let ip = "fc00:f853:ccd:e793::f1";
        rig.kubectl(&[
            "-n",
            NS,
            "patch",
            "svc",
            "v6",
            "--subresource=status",
            "--type=merge",
            "-p",
            &format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{ip}"}}]}}}}}}"#),
        ])?;
        let nodes = rig.node_names();
        let owner = expected_owner(ip, &nodes)?;
        let mac = rig.node_mac(&owner)?;
        wait_for(
            &format!("NDP for {ip} answered only by {mac}"),
            TIMEOUT,
            || diag(&rig),
            || async { Ok((rig.ndp_who_has(ip)? == [mac.clone()]).then_some(())) },
        )
        .await?;
        wait_status_node(&rig, "v6", &owner).await?;
        // Crash failover over NDP.
        let t = failover_trial(&mut speakers, ip, &owner, &mac, false)?;
        eprintln!("IPv6 crash failover {:?}", t.failover);
        ensure!(
            t.failover < Duration::from_millis(1500),
            "IPv6 failover took {:?}",
            t.failover
        );
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

fn percentiles(mut v: Vec<Duration>) -> String {
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

/// Failover benchmark (BENCHMARKS.md "Speaker L2"): `FERROLB_L2_BENCH_TRIALS` (default: skip)
/// crash and graceful trials for IPv4; `FERROLB_L2_BENCH_ARGS` adds speaker flags (e.g.
/// `--heartbeat-interval 50ms --dead-after 250ms`).
#[tokio::test]
async fn z_bench_failover() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_failover") else {
        return Ok(());
    };
    let Some(trials) = std::env::var("FERROLB_L2_BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    else {
        eprintln!("SKIP z_bench_failover: set FERROLB_L2_BENCH_TRIALS=N");
        return Ok(());
    };
    let extra = std::env::var("FERROLB_L2_BENCH_ARGS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let mut speakers = Speakers::start(&rig, &extra)?;
    let result = async {
        workload(&rig, "web", 3, None, "Cluster")?;
        let ip = wait_ip(&rig, "web").await?;
        let owner = expected_owner(&ip, &rig.node_names())?;
        let mac = rig.node_mac(&owner)?;
        wait_arp_owner(&rig, &ip, &mac).await?;
        for graceful in [false, true] {
            let mut times = Vec::new();
            let mut gaps = Vec::new();
            for i in 0..trials {
                let t = failover_trial(&mut speakers, &ip, &owner, &mac, graceful)?;
                eprintln!(
                    "trial {i} {} failover {:?} max gap {:?}",
                    if graceful { "graceful" } else { "crash" },
                    t.failover,
                    t.max_gap
                );
                times.push(t.failover);
                gaps.push(t.max_gap);
                speakers.start_one(&rig, &owner)?;
                wait_arp_owner(&rig, &ip, &mac).await?;
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let kind = if graceful { "graceful" } else { "crash" };
            eprintln!(
                "RESULT {kind} failover (kill → first reply from new MAC): {}",
                percentiles(times)
            );
            eprintln!("RESULT {kind} largest reply gap: {}", percentiles(gaps));
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}

/// `(rss KiB, cpu seconds)` of a process from /proc.
fn proc_usage(pid: u32) -> Result<(u64, f64)> {
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

/// Scale benchmark (BENCHMARKS.md "Speaker L2"): `FERROLB_L2_SCALE=N` LoadBalancer Services
/// (default: skip), all announced; speaker RSS and CPU per node, idle and while converging.
#[tokio::test]
async fn z_bench_scale() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_scale") else {
        return Ok(());
    };
    let Some(n) = std::env::var("FERROLB_L2_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    else {
        eprintln!("SKIP z_bench_scale: set FERROLB_L2_SCALE=N");
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &[])?;
    let result = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pids: Vec<(String, u32)> = speakers
            .procs
            .iter()
            .map(|(n, p)| (n.clone(), p.0.id()))
            .collect();
        let base: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        workload(&rig, "web", 3, None, "Cluster")?;
        let mut yaml = String::new();
        for i in 0..n {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i:04}, namespace: {NS}, annotations: {{metallb.io/address-pool: l2-e2e-scale}}}}\nspec: {{type: LoadBalancer, loadBalancerClass: {CLASS}, selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
            ));
        }
        let start = std::time::Instant::now();
        kubectl_apply(&rig, &yaml)?;
        wait_for(
            &format!("{n} ServiceL2Status objects for the scale Services"),
            Duration::from_secs(600),
            || diag(&rig),
            || async {
                let out = rig.kubectl(&[
                    "-n", SYSTEM, "get", "servicel2statuses", "-l",
                    &format!("metallb.io/service-namespace={NS}"), "-o", "name",
                ])?;
                Ok((out.lines().count() > n).then_some(()))
            },
        )
        .await?;
        let converge = start.elapsed();
        let busy: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        let idle: Vec<(u64, f64)> = pids
            .iter()
            .map(|(_, p)| proc_usage(*p))
            .collect::<Result<_>>()?;
        let per_node = rig.kubectl(&[
            "-n", SYSTEM, "get", "servicel2statuses", "-l",
            &format!("metallb.io/service-namespace={NS}"), "-o",
            "jsonpath={range .items[*]}{.status.node}{\"\\n\"}{end}",
        ])?;
        eprintln!("RESULT scale: {n} services (+1) announced in {converge:?}");
        for (i, (node, _)) in pids.iter().enumerate() {
            let owned = per_node.lines().filter(|l| l.trim() == node).count();
            eprintln!(
                "RESULT scale {node}: owns {owned} services; RSS before {} KiB, after converge {} KiB, 30 s later {} KiB; CPU while converging {:.2} s, idle 30 s {:.2} s ({:.2} %)",
                base[i].0,
                busy[i].0,
                idle[i].0,
                busy[i].1 - base[i].1,
                idle[i].1 - busy[i].1,
                (idle[i].1 - busy[i].1) / 30.0 * 100.0
            );
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}
