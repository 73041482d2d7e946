//! Setup shared by the BGP-mode e2e tests that run ferrolb's own speakers: a test namespace,
//! the test's operator and one speaker per node (`--enable-l2=false`, own `loadBalancerClass`),
//! its MetalLB objects labelled with the suite so one label selector deletes them all, echo
//! workloads behind LoadBalancer Services, and the wait for a Service's address; for the fault
//! tests and benchmarks (`tests/bgp_faults.rs`, `tests/bgp_bench.rs`) also the YAML of pools,
//! advertisements, BGPPeers and Services, the speakers' metrics and logs (the size of every
//! UPDATE sent is logged at debug level as `update_bytes=N`) and their BGPSessionStates.
//!
//! Reading the routers is [`crate::bgp`]'s job; this module only drives the cluster side.

use std::time::Duration;

use anyhow::Result;

use crate::Rig;
use crate::l2::{Speakers, kubectl_apply};
use crate::procs::{self, OperatorOpts, Proc};
use crate::workload::{self, Echo, LbService};

/// MetalLB's namespace, where the BGP objects live.
pub const SYSTEM: &str = "metallb-system";

/// Label put on every MetalLB object a suite creates (value: the suite's name).
pub const SUITE_LABEL: &str = "e2e.ferrolb.io/suite";

/// One BGP e2e suite's isolation on the shared rig: its namespace, `loadBalancerClass` and
/// label value.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// Namespace of the workloads (created by [`Suite::install`]).
    pub ns: &'static str,
    /// `loadBalancerClass` of its Services, operator and speakers.
    pub class: &'static str,
    /// Value of [`SUITE_LABEL`] on its MetalLB objects.
    pub name: &'static str,
}

impl Suite {
    /// Installs the CRDs/RBAC, removes leftovers of an earlier run and creates the namespace.
    pub fn install(&self, rig: &Rig) -> Result<()> {
        procs::install_base(rig, &["controller", "speaker"])?;
        self.cleanup_config(rig);
        let _ = rig.kubectl(&[
            "delete",
            "namespace",
            self.ns,
            "--ignore-not-found",
            "--wait=true",
            "--timeout=60s",
        ]);
        rig.kubectl(&["create", "namespace", self.ns])?;
        Ok(())
    }

    /// Deletes the namespace (without waiting) and the suite's MetalLB objects.
    pub fn cleanup(&self, rig: &Rig) {
        let _ = rig.kubectl(&[
            "delete",
            "namespace",
            self.ns,
            "--ignore-not-found",
            "--wait=false",
        ]);
        self.cleanup_config(rig);
    }

    /// Deletes every BGPPeer, BGPAdvertisement, IPAddressPool, Community and Secret of
    /// `metallb-system` labelled with the suite.
    pub fn cleanup_config(&self, rig: &Rig) {
        let _ = rig.kubectl(&[
            "-n",
            SYSTEM,
            "delete",
            "bgppeers.metallb.io,bgpadvertisements.metallb.io,ipaddresspools.metallb.io,communities.metallb.io,secrets",
            "-l",
            &format!("{SUITE_LABEL}={}", self.name),
            "--ignore-not-found",
        ]);
    }

    /// [`Suite::cleanup`], and also the `metallb-system` objects `objects`
    /// (`"bgppeers.metallb.io/name"`, …) written without the suite label.
    pub fn cleanup_objects(&self, rig: &Rig, objects: &[String]) {
        self.cleanup(rig);
        for obj in objects {
            let _ = rig.kubectl(&["-n", SYSTEM, "delete", obj, "--ignore-not-found"]);
        }
    }

    /// `metadata:` of a suite object named `name` in `metallb-system` (flow style).
    pub fn meta(&self, name: &str) -> String {
        format!(
            "{{name: {name}, namespace: {SYSTEM}, labels: {{{SUITE_LABEL}: {}}}}}",
            self.name
        )
    }

    /// The test's operator (controller), limited to the suite's class.
    pub fn start_operator(&self, rig: &Rig) -> Result<Proc> {
        procs::start_operator(
            rig,
            OperatorOpts {
                log: "ferrolb-operator-bgpe2e",
                lb_class: Some(self.class),
                log_filter: "info",
                pod: None,
            },
        )
    }

    /// One BGP-only speaker per node, limited to the suite's class.
    pub fn start_speakers(&self, rig: &Rig) -> Result<Speakers> {
        Speakers::start(
            rig,
            &[
                "--lb-class",
                self.class,
                "--enable-l2=false",
                "--log-level",
                "info,ferrolb_speaker=debug",
            ],
        )
    }

    /// An echo Deployment (`replicas`) and its LoadBalancer Service of `family` (`IPv4` /
    /// `IPv6`) taking its address from `pool`.
    pub fn workload(
        &self,
        rig: &Rig,
        name: &str,
        replicas: u32,
        family: &str,
        pool: &str,
    ) -> Result<()> {
        Echo {
            ns: self.ns,
            name,
            replicas,
            class: self.class,
            pool,
            node: None,
            etp: None,
            family: Some(family),
        }
        .apply(rig)
    }

    /// Waits (at most `timeout`) for the Service's first ingress address.
    pub async fn wait_ip(&self, rig: &Rig, name: &str, timeout: Duration) -> Result<String> {
        workload::wait_ip(rig, self.ns, name, timeout, || {
            rig.diagnostics(Some(self.ns))
        })
        .await
    }

    /// Waits (at most `timeout`) until `nodes` speakers announce the Service `name`: one
    /// ServiceBGPStatus per announcing node (MetalLB's labels). A prefix seen in a router's
    /// RIB can come from another Service sharing it (an aggregate); this is the Service's own
    /// decision — with ETP=Cluster it needs a serving endpoint, so its pod must be ready.
    pub async fn wait_announced(
        &self,
        rig: &Rig,
        name: &str,
        nodes: usize,
        timeout: Duration,
    ) -> Result<()> {
        let selector = format!(
            "metallb.io/service-name={name},metallb.io/service-namespace={}",
            self.ns
        );
        crate::wait_for(
            &format!("{nodes} ServiceBGPStatus objects of {}/{name}", self.ns),
            timeout,
            || self.diag(rig),
            || {
                let out = rig.kubectl(&[
                    "-n",
                    SYSTEM,
                    "get",
                    "servicebgpstatuses",
                    "-l",
                    &selector,
                    "-o",
                    "name",
                ]);
                async move { out.map(|o| (o.lines().count() == nodes).then_some(())) }
            },
        )
        .await
    }

    /// Logs of the speakers, for failure messages.
    pub fn speaker_logs(&self, rig: &Rig, lines: usize) -> String {
        let mut s = String::new();
        for n in rig.node_names() {
            s.push_str(&format!(
                "\n--- speaker {n} ---\n{}",
                rig.log_tail(&format!("ferrolb-speaker-l2e2e-{n}"), lines)
            ));
        }
        s
    }

    /// Diagnostics for a failed wait: the namespace's objects, the speakers' last 25 log lines
    /// and FRR's sessions; suites append their own (GoBGP, BFD, ...).
    pub fn diag(&self, rig: &Rig) -> String {
        let mut s = rig.diagnostics(Some(self.ns));
        s.push_str(&self.speaker_logs(rig, 25));
        s.push_str(&format!(
            "\n--- FRR sessions ---\n{:?}",
            crate::bgp::neighbors(rig, crate::bgp::Router::Frr)
        ));
        s
    }
}

/// `loadBalancerClass` of the fault and benchmark suites (`bgp_faults.rs`, `bgp_bench.rs`).
pub const CLASS: &str = "e2e.ferrolb.io/bgp";

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
    workload::deployment_yaml(ns, app, 1, None)
}

/// An IPv4 LoadBalancer Service `name` of [`CLASS`] from `pool`, selecting `app`.
pub fn service_yaml(ns: &str, name: &str, pool: &str, app: &str) -> String {
    LbService {
        ns,
        name,
        app,
        class: CLASS,
        pool,
        etp: None,
        family: Some("IPv4"),
    }
    .yaml()
}

/// Applies `yaml` (any number of documents).
pub fn apply(rig: &Rig, yaml: &str) -> Result<()> {
    kubectl_apply(rig, yaml)
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
