//! Setup shared by the BGP-mode e2e tests that run ferrolb's own speakers: a test namespace,
//! the test's operator and one speaker per node (`--enable-l2=false`, own `loadBalancerClass`),
//! its MetalLB objects labelled with the suite so one label selector deletes them all, echo
//! workloads behind LoadBalancer Services, and the wait for a Service's address.
//!
//! Reading the routers is [`crate::bgp`]'s job; this module only drives the cluster side.

use std::time::Duration;

use anyhow::Result;

use crate::l2::{Speakers, kubectl_apply};
use crate::procs::{self, OperatorOpts, Proc};
use crate::{Rig, wait_for};

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
        let (ns, class) = (self.ns, self.class);
        kubectl_apply(
            rig,
            &format!(
                r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: web, image: echo, ports: [{{containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  annotations: {{metallb.io/address-pool: {pool}}}
spec:
  type: LoadBalancer
  loadBalancerClass: {class}
  ipFamilyPolicy: SingleStack
  ipFamilies: [{family}]
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
            ),
        )
    }

    /// Waits (at most `timeout`) for the Service's first ingress address.
    pub async fn wait_ip(&self, rig: &Rig, name: &str, timeout: Duration) -> Result<String> {
        wait_for(
            &format!("{}/{name} to get an EXTERNAL-IP", self.ns),
            timeout,
            || rig.diagnostics(Some(self.ns)),
            || async {
                let ip = rig.kubectl(&[
                    "-n",
                    self.ns,
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
}
