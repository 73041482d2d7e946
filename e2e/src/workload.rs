//! The test workloads every e2e suite uses, in one place: an echo Deployment behind a
//! LoadBalancer Service ([`Echo`]), the wait for a Service's first ingress address
//! ([`wait_ip`]) and the forced deletion of a Pod ([`force_delete_pod`]). The L2 suites
//! (`crate::l2`) and the BGP suites (`crate::bgp_setup::Suite`) differ only in the fields they
//! set.

use std::time::Duration;

use anyhow::Result;

use crate::l2::kubectl_apply;
use crate::{Rig, wait_for};

/// An echo Deployment (image `echo`, port 8080) and its LoadBalancer Service (port 80) of the
/// same name in `ns`, taking its address from `pool` under `class`.
#[derive(Debug, Clone, Copy)]
pub struct Echo<'a> {
    /// Namespace of both objects.
    pub ns: &'a str,
    /// Name of the Deployment, its `app` label and the Service.
    pub name: &'a str,
    /// Pods.
    pub replicas: u32,
    /// The Service's `loadBalancerClass`.
    pub class: &'a str,
    /// `metallb.io/address-pool`.
    pub pool: &'a str,
    /// Pins the Pods to this node (`kubernetes.io/hostname`).
    pub node: Option<&'a str>,
    /// `externalTrafficPolicy` (Kubernetes' default, `Cluster`, when unset).
    pub etp: Option<&'a str>,
    /// A single-stack Service of this family (`IPv4` / `IPv6`); the cluster's default when unset.
    pub family: Option<&'a str>,
}

impl Echo<'_> {
    /// The two objects as one YAML stream.
    pub fn yaml(&self) -> String {
        let service = LbService {
            ns: self.ns,
            name: self.name,
            app: self.name,
            class: self.class,
            pool: self.pool,
            etp: self.etp,
            family: self.family,
        };
        format!(
            "{}{}",
            deployment_yaml(self.ns, self.name, self.replicas, self.node),
            service.yaml()
        )
    }

    /// Applies [`Echo::yaml`].
    pub fn apply(&self, rig: &Rig) -> Result<()> {
        kubectl_apply(rig, &self.yaml())
    }
}

/// An echo Deployment `app` (label `app: <app>`) with `replicas` Pods, optionally pinned to
/// `node` (`kubernetes.io/hostname`): the backend of Services selecting `app`.
pub fn deployment_yaml(ns: &str, app: &str, replicas: u32, node: Option<&str>) -> String {
    let node = node
        .map(|n| format!("\n      nodeSelector: {{kubernetes.io/hostname: {n}}}"))
        .unwrap_or_default();
    format!(
        r#"---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:{node}
      containers: [{{name: web, image: echo, ports: [{{containerPort: 8080}}]}}]
"#
    )
}

/// A LoadBalancer Service (port 80 → 8080) selecting the Pods labelled `app`.
#[derive(Debug, Clone, Copy)]
pub struct LbService<'a> {
    /// Namespace.
    pub ns: &'a str,
    /// Name.
    pub name: &'a str,
    /// The `app` label it selects.
    pub app: &'a str,
    /// `loadBalancerClass`.
    pub class: &'a str,
    /// `metallb.io/address-pool`.
    pub pool: &'a str,
    /// `externalTrafficPolicy` (Kubernetes' default, `Cluster`, when unset).
    pub etp: Option<&'a str>,
    /// A single-stack Service of this family (`IPv4` / `IPv6`); the cluster's default when unset.
    pub family: Option<&'a str>,
}

impl LbService<'_> {
    /// The Service as a YAML document.
    pub fn yaml(&self) -> String {
        let LbService {
            ns,
            name,
            app,
            class,
            pool,
            ..
        } = *self;
        let etp = self
            .etp
            .map(|e| format!("\n  externalTrafficPolicy: {e}"))
            .unwrap_or_default();
        let family = self
            .family
            .map(|f| format!("\n  ipFamilyPolicy: SingleStack\n  ipFamilies: [{f}]"))
            .unwrap_or_default();
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
  loadBalancerClass: {class}{etp}{family}
  selector: {{app: {app}}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
        )
    }
}

/// Waits (at most `timeout`) for `ns/name`'s first ingress address; `diagnostics` explains a
/// timeout.
pub async fn wait_ip(
    rig: &Rig,
    ns: &str,
    name: &str,
    timeout: Duration,
    diagnostics: impl FnOnce() -> String,
) -> Result<String> {
    wait_for(
        &format!("{ns}/{name} to get an EXTERNAL-IP"),
        timeout,
        diagnostics,
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

/// Deletes Pod `ns/name` at once (no grace period), waiting until it is gone.
pub fn force_delete_pod(rig: &Rig, ns: &str, name: &str) -> Result<()> {
    rig.kubectl(&[
        "-n",
        ns,
        "delete",
        "pod",
        name,
        "--ignore-not-found",
        "--grace-period=0",
        "--force",
        "--wait=true",
        "--timeout=60s",
    ])
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::Echo;

    fn parse(yaml: &str) -> Vec<serde_json::Value> {
        yaml.split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_yaml::from_str(d).expect("valid YAML"))
            .collect()
    }

    #[test]
    fn optional_fields_appear_only_when_set() {
        let base = Echo {
            ns: "t",
            name: "web",
            replicas: 2,
            class: "c",
            pool: "p",
            node: None,
            etp: None,
            family: None,
        };
        let docs = parse(&base.yaml());
        assert_eq!(docs[0]["spec"]["replicas"], 2);
        assert!(docs[0]["spec"]["template"]["spec"]["nodeSelector"].is_null());
        assert!(docs[1]["spec"]["externalTrafficPolicy"].is_null());
        assert!(docs[1]["spec"]["ipFamilies"].is_null());
        assert_eq!(docs[1]["spec"]["loadBalancerClass"], "c");
        assert_eq!(
            docs[1]["metadata"]["annotations"]["metallb.io/address-pool"],
            "p"
        );

        let full = Echo {
            node: Some("node-2"),
            etp: Some("Local"),
            family: Some("IPv6"),
            ..base
        };
        let docs = parse(&full.yaml());
        assert_eq!(
            docs[0]["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"],
            "node-2"
        );
        assert_eq!(docs[1]["spec"]["externalTrafficPolicy"], "Local");
        assert_eq!(docs[1]["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(docs[1]["spec"]["ipFamilies"][0], "IPv6");
    }
}
