//! `ferrolb-speaker control-plane --print-static-pod`: the static Pod manifest for
//! `/etc/kubernetes/manifests/` that runs this mode with the given flags. The kubelet starts
//! static Pods before (and without) any API server, which is what a VIP in front of the API
//! servers needs (`kubeadm init --control-plane-endpoint VIP:6443`). The Pod uses the host
//! network, runs as root with only `NET_RAW` (ARP/NDP packet sockets) and `NET_ADMIN` (the
//! VIP as a host address) and mounts the heartbeat key and the CA bundle from host files.

use std::collections::BTreeMap;

use ferrolb_api::duration::flag::show;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, HostPathVolumeSource, Pod, PodSpec, SeccompProfile, SecurityContext,
    Volume, VolumeMount,
};
use kube::api::ObjectMeta;

use super::args::{CpArgs, DEFAULT_PORT};

/// Where the heartbeat key is mounted in the Pod.
pub const KEY_PATH: &str = "/etc/ferrolb/cp-vip.key";
/// Name of the static Pod (the kubelet appends the node name).
pub const POD_NAME: &str = "ferrolb-cp-vip";

fn host_file(name: &str, host: &str, mount: &str) -> (Volume, VolumeMount) {
    (
        Volume {
            name: name.to_owned(),
            host_path: Some(HostPathVolumeSource {
                path: host.to_owned(),
                type_: Some("File".to_owned()),
            }),
            ..Volume::default()
        },
        VolumeMount {
            name: name.to_owned(),
            mount_path: mount.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    )
}

/// The container's arguments: the flags of `a`, with the key at [`KEY_PATH`].
pub fn container_args(a: &CpArgs) -> Vec<String> {
    let peers: Vec<String> = a.peers.iter().map(ToString::to_string).collect();
    let mut v = vec![
        "control-plane".to_owned(),
        format!("--vip={}", a.vip),
        format!("--interface={}", a.interface),
        format!("--host={}", a.host),
        format!("--peers={}", peers.join(",")),
        format!("--heartbeat-key-file={KEY_PATH}"),
        format!(
            "--apiserver-url={}",
            a.apiserver_url.to_string().trim_end_matches('/')
        ),
        format!("--heartbeat-interval={}", show(a.heartbeat_interval)),
        format!("--dead-after={}", show(a.dead_after)),
        format!("--health-interval={}", show(a.health_interval)),
        format!("--health-timeout={}", show(a.health_timeout)),
        format!("--health-rise={}", a.health_rise),
        format!("--health-fall={}", a.health_fall),
    ];
    if let Some(n) = &a.node_name {
        v.push(format!("--node-name={n}"));
    }
    if a.liveness_port.to_string() != DEFAULT_PORT {
        v.push(format!("--liveness-port={}", a.liveness_port));
    }
    match &a.apiserver_ca_file {
        Some(ca) => {
            v.push(format!("--apiserver-ca-file={}", ca.display()));
            v.push(format!(
                "--apiserver-server-name={}",
                a.apiserver_server_name
            ));
        }
        None => v.push("--insecure-skip-tls-verify".to_owned()),
    }
    v
}

/// The static Pod for the flags `a`.
pub fn static_pod(a: &CpArgs) -> Pod {
    let (key_vol, key_mount) = host_file(
        "heartbeat-key",
        &a.heartbeat_key_file.display().to_string(),
        KEY_PATH,
    );
    let mut volumes = vec![key_vol];
    let mut mounts = vec![key_mount];
    if let Some(ca) = &a.apiserver_ca_file {
        let ca = ca.display().to_string();
        let (v, m) = host_file("apiserver-ca", &ca, &ca);
        volumes.push(v);
        mounts.push(m);
    }
    let labels = BTreeMap::from([
        ("app".to_owned(), "ferrolb".to_owned()),
        ("component".to_owned(), "cp-vip".to_owned()),
    ]);
    Pod {
        metadata: ObjectMeta {
            name: Some(POD_NAME.to_owned()),
            namespace: Some("kube-system".to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            host_network: Some(true),
            priority_class_name: Some("system-node-critical".to_owned()),
            // A SIGTERM hands the VIP over within 2 heartbeat intervals + 100 ms.
            termination_grace_period_seconds: Some(5),
            containers: vec![Container {
                name: "cp-vip".to_owned(),
                image: Some(a.image.clone()),
                command: Some(vec!["/ferrolb-speaker".to_owned()]),
                args: Some(container_args(a)),
                security_context: Some(SecurityContext {
                    run_as_user: Some(0),
                    allow_privilege_escalation: Some(false),
                    read_only_root_filesystem: Some(true),
                    capabilities: Some(Capabilities {
                        add: Some(vec!["NET_RAW".to_owned(), "NET_ADMIN".to_owned()]),
                        drop: Some(vec!["ALL".to_owned()]),
                    }),
                    seccomp_profile: Some(SeccompProfile {
                        type_: "RuntimeDefault".to_owned(),
                        ..SeccompProfile::default()
                    }),
                    ..SecurityContext::default()
                }),
                volume_mounts: Some(mounts),
                ..Container::default()
            }],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

/// The manifest as YAML (with `apiVersion` and `kind`).
pub fn render(a: &CpArgs) -> Result<String, serde_yaml::Error> {
    let mut value = serde_yaml::Mapping::new();
    value.insert("apiVersion".into(), "v1".into());
    value.insert("kind".into(), "Pod".into());
    if let serde_yaml::Value::Mapping(pod) = serde_yaml::to_value(static_pod(a))? {
        value.extend(pod);
    }
    let body = serde_yaml::to_string(&value)?;
    Ok(format!(
        "# ferrolb control-plane VIP (docs/control-plane-vip.md): copy to \
         /etc/kubernetes/manifests/{POD_NAME}.yaml on every control-plane node\n{body}"
    ))
}

#[cfg(test)]
mod tests;
