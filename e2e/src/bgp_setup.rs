//! Setup shared by the BGP fault tests and benchmarks (`tests/bgp_faults.rs`,
//! `tests/bgp_bench.rs`): the test's controller and BGP-only speakers (`loadBalancerClass`
//! [`CLASS`], the same as `tests/bgp.rs`), the metallb.io objects they are configured with
//! (pools, advertisement, BGPPeers), Services and their echo Deployment, the speakers' metrics
//! and logs. Routers are read through [`crate::bgp`]; nodes are blackholed with
//! [`crate::failover::Blackhole`].

use std::time::Duration;

use anyhow::Result;

use crate::l2::{Speakers, kubectl_apply};
use crate::procs::{self, OperatorOpts, Proc};
use crate::{Rig, wait_for};

/// `loadBalancerClass` of the BGP tests' Services, controller and speakers.
pub const CLASS: &str = "e2e.ferrolb.io/bgp";
/// MetalLB's namespace.
pub const SYSTEM: &str = "metallb-system";

/// The test's controller (only Services of [`CLASS`]).
pub fn start_operator(rig: &Rig, log: &'static str) -> Result<Proc> {
    procs::start_operator(
        rig,
        OperatorOpts {
            log,
            lb_class: Some(CLASS),
            log_filter: "info",
            pod: None,
        },
    )
}

/// One BGP-only speaker per node (Layer 2 off), logging its sessions at debug level (the size
/// of every UPDATE sent is logged as `update_bytes=N`).
pub fn start_speakers(rig: &Rig) -> Result<Speakers> {
    Speakers::start(
        rig,
        &[
            "--lb-class",
            CLASS,
            "--enable-l2=false",
            "--log-level",
            "info,ferrolb_speaker=debug",
        ],
    )
}

/// Installs the base objects and a fresh namespace `ns`.
pub fn install(rig: &Rig, ns: &str) -> Result<()> {
    procs::install_base(rig, &["controller", "speaker"])?;
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ns,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=120s",
    ]);
    rig.kubectl(&["create", "namespace", ns])?;
    Ok(())
}

/// Deletes namespace `ns` (without waiting) and the metallb-system objects `objects`
/// (`"bgppeers.metallb.io/name"`, …).
pub fn cleanup(rig: &Rig, ns: &str, objects: &[String]) {
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ns,
        "--ignore-not-found",
        "--wait=false",
    ]);
    for obj in objects {
        let _ = rig.kubectl(&["-n", SYSTEM, "delete", obj, "--ignore-not-found"]);
    }
}

/// An IPAddressPool (`autoAssign: false`) and a BGPAdvertisement `name` of it.
pub fn pool_yaml(name: &str, cidr: &str) -> String {
    format!(
        r#"---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {{name: {name}, namespace: {SYSTEM}}}
spec: {{addresses: ["{cidr}"], autoAssign: false}}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{name: {name}, namespace: {SYSTEM}}}
spec: {{ipAddressPools: [{name}]}}
"#
    )
}

/// A BGPPeer `name` (myASN 64512) with `extra` spec fields (a YAML flow-mapping body, may be
/// empty).
pub fn peer_yaml(name: &str, peer_asn: u32, addr: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        r#"---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{name: {name}, namespace: {SYSTEM}}}
spec: {{myASN: {}, peerASN: {peer_asn}, peerAddress: "{addr}"{extra}}}
"#,
        crate::SPEAKER_ASN
    )
}

/// An echo Deployment `app` with one replica (the backend of Services selecting `app`).
pub fn deployment_yaml(ns: &str, app: &str) -> String {
    format!(
        r#"---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      containers: [{{name: web, image: echo, ports: [{{containerPort: 8080}}]}}]
"#
    )
}

/// An IPv4 LoadBalancer Service `name` of [`CLASS`] from `pool`, selecting `app`.
pub fn service_yaml(ns: &str, name: &str, pool: &str, app: &str) -> String {
    format!(
        r#"---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  annotations: {{metallb.io/address-pool: {pool}}}
spec:
  type: LoadBalancer
  loadBalancerClass: {CLASS}
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv4]
  selector: {{app: {app}}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
    )
}

/// Applies `yaml` (any number of documents).
pub fn apply(rig: &Rig, yaml: &str) -> Result<()> {
    kubectl_apply(rig, yaml)
}

/// Waits (at most `timeout`) for Service `ns/name`'s first ingress IP.
pub async fn wait_ip(rig: &Rig, ns: &str, name: &str, timeout: Duration) -> Result<String> {
    wait_for(
        &format!("{ns}/{name} to get an EXTERNAL-IP"),
        timeout,
        || rig.diagnostics(Some(ns)),
        || async {
            let ip = rig.kubectl(&[
                "-n",
                ns,
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

/// Value of the sample `name{peer="peer"}` on `node`'s `/metrics` (`peer` as MetalLB labels
/// it: `"ip:port"`), `None` when absent.
pub fn peer_metric(rig: &Rig, node: &str, name: &str, peer: &str) -> Result<Option<f64>> {
    let m = rig.http_get_from_node(node, "http://127.0.0.1:7472/metrics")?;
    let prefix = format!(r#"{name}{{peer="{peer}"}} "#);
    Ok(m.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok()))
}

/// The whole log of `node`'s speaker (as started by [`start_speakers`]).
pub fn speaker_log(rig: &Rig, node: &str) -> String {
    let path = rig
        .run_dir
        .join("logs")
        .join(format!("ferrolb-speaker-l2e2e-{node}.log"));
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Sizes of the UPDATEs a speaker logged (`log`, see [`speaker_log`]) as sent on sessions
/// whose name contains `peer` (the BGPPeer's name).
pub fn update_sizes(log: &str, peer: &str) -> Vec<usize> {
    log.lines()
        .filter(|l| l.contains("UPDATE sent") && l.contains(peer))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("update_bytes="))
                .and_then(|v| v.parse().ok())
        })
        .collect()
}

/// `status` of the ferrolb.io BGPSessionState of `node`'s session configured by BGPPeer `peer`.
pub fn session_state(rig: &Rig, node: &str, peer: &str) -> Result<Option<serde_json::Value>> {
    let out = rig.kubectl(&[
        "-n",
        SYSTEM,
        "get",
        "bgpsessionstates.ferrolb.io",
        "-o",
        "json",
    ])?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    Ok(v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| &o["status"])
        .find(|s| s["node"] == node && s["peerName"] == peer)
        .cloned())
}
