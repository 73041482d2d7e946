use clap::Parser as _;
use k8s_openapi::api::core::v1::Pod;

use super::*;

fn args(extra: &[&str]) -> CpArgs {
    let base = [
        "control-plane",
        "--vip=192.168.0.100",
        "--interface=eth0",
        "--host=192.168.0.11",
        "--peers=192.168.0.11,192.168.0.12,192.168.0.13",
        "--heartbeat-key-file=/etc/kubernetes/ferrolb-cp.key",
        "--apiserver-ca-file=/etc/kubernetes/pki/ca.crt",
    ];
    CpArgs::parse_from(base.iter().chain(extra))
}

#[test]
fn the_manifest_parses_as_a_host_network_pod_with_the_flags() {
    let a = args(&["--health-fall=2"]);
    let yaml = render(&a).unwrap();
    let pod: Pod = serde_yaml::from_str(&yaml).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["kind"], "Pod");
    assert_eq!(pod.metadata.name.as_deref(), Some(POD_NAME));
    let spec = pod.spec.unwrap();
    assert_eq!(spec.host_network, Some(true));
    let c = &spec.containers[0];
    let caps = c
        .security_context
        .as_ref()
        .unwrap()
        .capabilities
        .as_ref()
        .unwrap();
    assert_eq!(caps.add.as_deref().unwrap(), ["NET_RAW", "NET_ADMIN"]);
    let argv = c.args.clone().unwrap();
    assert_eq!(argv[0], "control-plane");
    for want in [
        "--vip=192.168.0.100",
        "--peers=192.168.0.11,192.168.0.12,192.168.0.13",
        "--heartbeat-key-file=/etc/ferrolb/cp-vip.key",
        "--apiserver-ca-file=/etc/kubernetes/pki/ca.crt",
        "--health-fall=2",
        "--heartbeat-interval=100ms",
    ] {
        assert!(argv.iter().any(|x| x == want), "{want} missing: {argv:?}");
    }
    // The key and CA come from host files, read-only.
    let vols = spec.volumes.unwrap();
    let key = vols.iter().find(|v| v.name == "heartbeat-key").unwrap();
    assert_eq!(
        key.host_path.as_ref().unwrap().path,
        "/etc/kubernetes/ferrolb-cp.key"
    );
    let mounts = c.volume_mounts.as_ref().unwrap();
    assert!(mounts.iter().all(|m| m.read_only == Some(true)));
    assert!(mounts.iter().any(|m| m.mount_path == KEY_PATH));
}

#[test]
fn the_printed_flags_parse_back_to_the_same_settings() {
    let a = args(&[
        "--dead-after=300ms",
        "--heartbeat-interval=50ms",
        "--node-name=cp-1",
    ]);
    let pod = static_pod(&a);
    let argv = pod.spec.unwrap().containers[0].args.clone().unwrap();
    let back = CpArgs::parse_from(&argv);
    assert!(back.check().is_ok());
    assert_eq!(back.vip, a.vip);
    assert_eq!(back.peers, a.peers);
    assert_eq!(back.dead_after, a.dead_after);
    assert_eq!(back.heartbeat_interval, a.heartbeat_interval);
    assert_eq!(back.node(), "cp-1");
    assert_eq!(back.apiserver_ca_file, a.apiserver_ca_file);
}
