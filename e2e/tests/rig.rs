//! Rig self-tests: prove the control plane, kwok, kube-proxy, the pod echo backends and the
//! BGP routers work before any ferrolb component is put on top of them.
//!
//! Skipped (with a printed notice) unless `FERROLB_E2E=1`; run them with `e2e/run.sh` or
//! `FERROLB_E2E=1 cargo test -p ferrolb-e2e -- --test-threads=1` after `e2e/rig.sh up`.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::{GobgpSpeaker, Rig, frr_prefixes, gobgp_prefixes, wait_for};
use ipnet::IpNet;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

const FIELD_MANAGER: &str = "ferrolb-e2e";
const ECHO_PORT: i32 = 8080;

fn unique(prefix: &str) -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}-{}", ms % 1_000_000_000)
}

async fn create_namespace(client: &kube::Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"ferrolb.io/e2e": "true"}}
    }))?;
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&ns),
    )
    .await
    .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

async fn delete_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    if let Err(e) = api.delete(name, &DeleteParams::background()).await {
        println!("note: deleting namespace {name}: {e}");
    }
}

/// A Deployment `echo` (3 replicas, containerPort 8080) and a Service `echo` of `svc_type`
/// (port 80 -> 8080) in `ns`.
async fn apply_echo(client: &kube::Client, ns: &str, svc_type: &str) -> Result<()> {
    apply_echo_with(client, ns, svc_type, false).await
}

/// [`apply_echo`], with a `RequireDualStack` Service when `dual_stack`.
async fn apply_echo_with(
    client: &kube::Client,
    ns: &str,
    svc_type: &str,
    dual_stack: bool,
) -> Result<()> {
    let deploy: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "echo", "namespace": ns},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "echo"}},
            "template": {
                "metadata": {"labels": {"app": "echo"}},
                "spec": {
                    // one per node, so the traffic tests cross nodes
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": {"app": "echo"}}
                    }],
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{"name": "echo", "image": "fake-echo", "ports": [{"containerPort": ECHO_PORT}]}]
                }
            }
        }
    }))?;
    let mut spec = serde_json::json!({
        "type": svc_type,
        "selector": {"app": "echo"},
        "ports": [{"name": "http", "port": 80, "targetPort": ECHO_PORT, "protocol": "TCP"}]
    });
    if dual_stack {
        spec["ipFamilyPolicy"] = serde_json::json!("RequireDualStack");
        spec["ipFamilies"] = serde_json::json!(["IPv4", "IPv6"]);
    }
    if svc_type == "LoadBalancer" {
        // the rig tests set the ingress IP by hand: keep any LB implementation (ferrolb's
        // controller running against the same rig) away from this Service
        spec["loadBalancerClass"] = serde_json::json!("e2e.ferrolb.io/none");
    }
    let svc: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "echo", "namespace": ns},
        "spec": spec
    }))?;
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    Api::<Deployment>::namespaced(client.clone(), ns)
        .patch("echo", &pp, &Patch::Apply(&deploy))
        .await
        .context("applying Deployment echo")?;
    Api::<Service>::namespaced(client.clone(), ns)
        .patch("echo", &pp, &Patch::Apply(&svc))
        .await
        .context("applying Service echo")?;
    Ok(())
}

/// Waits until the `echo` Pods are Running+Ready with IPs; returns pod name -> (node, IP).
async fn ready_echo_pods(
    rig: &Rig,
    client: &kube::Client,
    ns: &str,
) -> Result<BTreeMap<String, (String, IpAddr)>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    wait_for(
        "3 echo pods Running and Ready with IPs",
        Duration::from_secs(90),
        || rig.diagnostics(Some(ns)),
        || {
            let pods = pods.clone();
            async move {
                let list = pods.list(&ListParams::default().labels("app=echo")).await?;
                let mut out = BTreeMap::new();
                for p in list.items {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
                    let st = p.status.as_ref();
                    let running = st.and_then(|s| s.phase.as_deref()) == Some("Running");
                    let ready = st.and_then(|s| s.conditions.as_ref()).is_some_and(|c| {
                        c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                    });
                    let ip = st
                        .and_then(|s| s.pod_ip.as_deref())
                        .and_then(|s| s.parse::<IpAddr>().ok());
                    if let (true, true, Some(node), Some(ip)) = (running, ready, node, ip) {
                        out.insert(name, (node, ip));
                    }
                }
                Ok((out.len() == 3).then_some(out))
            }
        },
    )
    .await
}

// -------------------------------------------------------------------------------------------------

/// (a) the API server answers, reports the pinned version, and RBAC is enforced: a fresh
/// ServiceAccount (token from TokenRequest) may not list Secrets cluster-wide, the admin may.
#[tokio::test]
async fn a_apiserver_answers_and_rbac_is_on() -> Result<()> {
    let Some(rig) = Rig::from_env("a_apiserver_answers_and_rbac_is_on") else {
        return Ok(());
    };
    let admin = rig.admin_client().await?;
    let v = admin.apiserver_version().await.context("GET /version")?;
    ensure!(
        v.major == "1" && v.git_version.starts_with("v1."),
        "unexpected version {v:?}"
    );
    println!("kube-apiserver {}", v.git_version);

    let ns = unique("e2e-rbac");
    create_namespace(&admin, &ns).await?;
    let kc = rig.kubeconfig_for(&ns, "nobody", true)?;
    let sa = Rig::client_from(&kc).await?;
    // the token works (authenticated: /version is allowed for everyone) ...
    sa.apiserver_version()
        .await
        .context("SA token cannot even GET /version")?;
    // ... but RBAC forbids listing secrets cluster-wide
    match Api::<Secret>::all(sa.clone())
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 403 => {
            println!("SA forbidden as expected: {}", s.message)
        }
        Err(e) => bail!("expected 403 Forbidden for the SA, got another error: {e}"),
        Ok(l) => bail!(
            "RBAC is off: an unprivileged SA listed {} secrets",
            l.items.len()
        ),
    }
    // and in its own namespace too (no RoleBinding)
    match Api::<Secret>::namespaced(sa, &ns)
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => bail!("expected 403 in own namespace, got {other:?}"),
    }
    Api::<Secret>::all(admin.clone())
        .list(&ListParams::default().limit(1))
        .await
        .context("admin cannot list secrets")?;
    delete_namespace(&admin, &ns).await;
    Ok(())
}

/// (b) `kubectl apply --server-side` of a CRD directory works and the CRDs become Established
/// and servable. Uses config/crd/bases when it has CRDs, else e2e/testdata/crds.
#[tokio::test]
async fn b_crds_apply_server_side() -> Result<()> {
    let Some(rig) = Rig::from_env("b_crds_apply_server_side") else {
        return Ok(());
    };
    let e2e_owned = ferrolb_e2e::e2e_dir();
    let e2e = e2e_owned.as_path();
    let project = e2e.join("../config/crd/bases");
    let has_yaml = |d: &Path| {
        std::fs::read_dir(d)
            .map(|it| {
                it.flatten().any(|e| {
                    e.path()
                        .extension()
                        .is_some_and(|x| x == "yaml" || x == "yml")
                })
            })
            .unwrap_or(false)
    };
    let dir: PathBuf = if has_yaml(&project) {
        project
    } else {
        e2e.join("testdata/crds")
    };
    let dir_s = dir.to_string_lossy().into_owned();
    println!("applying CRDs from {dir_s}");
    let out = rig.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        FIELD_MANAGER,
        "-f",
        &dir_s,
        "-o",
        "name",
    ])?;
    let crds: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("customresourcedefinition"))
        .collect();
    ensure!(!crds.is_empty(), "kubectl apply created no CRDs: {out}");
    for crd in &crds {
        rig.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", crd])?;
        let plural = rig.kubectl(&[
            "get",
            crd,
            "-o",
            "jsonpath={.spec.names.plural}.{.spec.group}",
        ])?;
        // the new resource is served (empty list is fine)
        rig.kubectl(&["get", plural.trim(), "-A"])?;
    }
    // re-applying is a no-op that succeeds (idempotent server-side apply)
    rig.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        FIELD_MANAGER,
        "-f",
        &dir_s,
    ])?;
    println!("{} CRDs established", crds.len());
    Ok(())
}

/// (c) a 3-replica Deployment gets scheduled, kwok makes its Pods Running/Ready with IPs from
/// their nodes' pod CIDRs, and the EndpointSlice controller lists 3 ready endpoints.
#[tokio::test]
async fn c_deployment_pods_ready_and_endpointslices() -> Result<()> {
    let Some(rig) = Rig::from_env("c_deployment_pods_ready_and_endpointslices") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = unique("e2e-deploy");
    create_namespace(&client, &ns).await?;
    apply_echo(&client, &ns, "ClusterIP").await?;
    let pods = ready_echo_pods(&rig, &client, &ns).await?;

    let nodes: Api<Node> = Api::all(client.clone());
    for (name, (node, ip)) in &pods {
        let n = nodes.get(node).await?;
        let cidr: IpNet = n
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_deref())
            .context("node without podCIDR")?
            .parse()?;
        ensure!(
            cidr.contains(ip),
            "pod {name} IP {ip} is not in {node}'s pod CIDR {cidr}"
        );
    }
    let distinct_nodes: BTreeSet<_> = pods.values().map(|(n, _)| n.clone()).collect();
    ensure!(
        distinct_nodes.len() == 3,
        "spread constraint ignored: {pods:?}"
    );

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
    let ready = wait_for(
        "EndpointSlice of echo with 3 ready endpoints",
        Duration::from_secs(60),
        || rig.diagnostics(Some(&ns)),
        || {
            let slices = slices.clone();
            async move {
                let l = slices
                    .list(&ListParams::default().labels("kubernetes.io/service-name=echo"))
                    .await?;
                let ips: BTreeSet<String> = l
                    .items
                    .iter()
                    .flat_map(|s| s.endpoints.iter())
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                    .flat_map(|e| e.addresses.iter().cloned())
                    .collect();
                Ok((ips.len() == 3).then_some(ips))
            }
        },
    )
    .await?;
    let pod_ips: BTreeSet<String> = pods.values().map(|(_, ip)| ip.to_string()).collect();
    ensure!(
        ready == pod_ips,
        "endpoints {ready:?} != pod IPs {pod_ips:?}"
    );
    delete_namespace(&client, &ns).await;
    Ok(())
}

/// (d) traffic: the client reaches each backend by pod IP (the echo answers with the pod name);
/// a node reaches the backends through kube-proxy via the ClusterIP (load-balanced), and the
/// client reaches them via a NodePort on a node's LAN address.
#[tokio::test]
async fn d_traffic_pod_ip_clusterip_nodeport() -> Result<()> {
    let Some(rig) = Rig::from_env("d_traffic_pod_ip_clusterip_nodeport") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = unique("e2e-traffic");
    create_namespace(&client, &ns).await?;
    apply_echo(&client, &ns, "NodePort").await?;
    let pods = ready_echo_pods(&rig, &client, &ns).await?;
    let names: BTreeSet<String> = pods.keys().cloned().collect();

    for (name, (_, ip)) in &pods {
        let url = format!("http://{ip}:{ECHO_PORT}/");
        // The pod IP may have belonged to a Pod of an earlier test a moment ago: the pod agent
        // (the rig's stand-in for the kubelet and the container) moves the address to the new
        // Pod within its poll interval, so an answer naming the old Pod is retried, not final.
        wait_for(
            &format!("pod {name} answering on {url} from the client netns"),
            Duration::from_secs(30),
            || rig.diagnostics(Some(&ns)),
            || {
                let r = rig.http_get_from_client(&url).and_then(|body| {
                    ensure!(
                        body.trim() == name,
                        "GET {url} answered {body:?}, expected {name}"
                    );
                    Ok(())
                });
                async move { r.map(Some) }
            },
        )
        .await?;
    }

    let svc = Api::<Service>::namespaced(client.clone(), &ns)
        .get("echo")
        .await?;
    let spec = svc.spec.context("service without spec")?;
    let cluster_ip = spec.cluster_ip.context("no clusterIP")?;
    let node_port = spec
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .and_then(|p| p.node_port)
        .context("no nodePort")?;
    let url = format!("http://{cluster_ip}:80/");
    // kube-proxy needs a sync period to program the new Service
    wait_for(
        &format!("ClusterIP {url} answering in node-1"),
        Duration::from_secs(30),
        || rig.diagnostics(Some(&ns)),
        || {
            let r = rig.http_get_from_node("node-1", &url);
            async move { Ok(Some(r?)) }
        },
    )
    .await?;
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        let body = rig.http_get_from_node("node-1", &url)?;
        let body = body.trim().to_string();
        ensure!(
            names.contains(&body),
            "ClusterIP answered {body:?}, not one of {names:?}"
        );
        seen.insert(body);
    }
    ensure!(
        seen.len() >= 2,
        "30 requests via the ClusterIP all hit {seen:?}: kube-proxy not balancing"
    );
    println!("ClusterIP {cluster_ip} balanced over {seen:?}");

    let np_url = format!("http://172.18.0.22:{node_port}/");
    let body = wait_for(
        &format!("NodePort {np_url} answering from the client"),
        Duration::from_secs(30),
        || rig.diagnostics(Some(&ns)),
        || {
            let r = rig.http_get_from_client(&np_url);
            async move { Ok(Some(r?)) }
        },
    )
    .await?;
    ensure!(names.contains(body.trim()), "NodePort answered {body:?}");
    delete_namespace(&client, &ns).await;
    Ok(())
}

/// (e) GoBGP and FRR run in their router namespaces and answer queries with their identities.
#[tokio::test]
async fn e_bgp_routers_queryable() -> Result<()> {
    let Some(rig) = Rig::from_env("e_bgp_routers_queryable") else {
        return Ok(());
    };
    let neighbors = rig.gobgp_neighbors()?;
    ensure!(
        neighbors.is_array() || neighbors.is_null(),
        "gobgp -j neighbor: {neighbors}"
    );
    let global: serde_json::Value =
        serde_json::from_str(&rig.netns_exec(&rig.gobgp_ns(), &["gobgp", "-j", "global"])?)?;
    let asn = global.get("asn").and_then(|v| v.as_u64());
    ensure!(
        asn == Some(u64::from(ferrolb_e2e::GOBGP_ASN)),
        "gobgp global: {global}"
    );
    rig.gobgp_rib("ipv4")?;

    let rib = rig.frr_rib_v4()?;
    ensure!(
        rib.get("localAS").and_then(|v| v.as_u64()) == Some(u64::from(ferrolb_e2e::FRR_ASN)),
        "FRR rib: {rib}"
    );
    ensure!(
        rib.get("routerId").and_then(|v| v.as_str()) == Some("192.168.0.1"),
        "FRR rib: {rib}"
    );
    rig.frr_json("show bgp summary json")?;

    // FRR can be reconfigured at run time (e.g. a static MD5 neighbor for BGPPeer password tests)
    rig.frr_configure(&[
        "router bgp 64513",
        "neighbor 192.168.0.29 remote-as 64512",
        "neighbor 192.168.0.29 password s3cret",
    ])?;
    let n = rig.frr_json("show bgp neighbors 192.168.0.29 json");
    rig.frr_configure(&["router bgp 64513", "no neighbor 192.168.0.29"])?;
    let n = n?;
    ensure!(
        n.pointer("/192.168.0.29/remoteAs").and_then(|v| v.as_u64())
            == Some(u64::from(ferrolb_e2e::SPEAKER_ASN)),
        "static neighbor not configured: {n}"
    );
    ensure!(
        rig.frr_configure(&["router bgp 64513", "no-such-command"])
            .is_err(),
        "bad FRR config was accepted"
    );
    Ok(())
}

/// (f) the BGP data path: a throwaway GoBGP speaker in node-3 (AS 64512) announces a
/// service IP to both routers; FRR installs it and forwards the client's traffic to node-3,
/// where kube-proxy DNATs the LoadBalancer IP (set by hand in the Service status) to a pod.
/// Killing the speaker withdraws the route.
#[tokio::test]
async fn f_bgp_data_path_with_throwaway_speaker() -> Result<()> {
    let Some(rig) = Rig::from_env("f_bgp_data_path_with_throwaway_speaker") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = unique("e2e-bgp");
    create_namespace(&client, &ns).await?;
    apply_echo(&client, &ns, "LoadBalancer").await?;
    let pods = ready_echo_pods(&rig, &client, &ns).await?;
    let names: BTreeSet<String> = pods.keys().cloned().collect();
    let vip = "192.168.10.77";

    // what a load balancer controller would do: publish the ingress IP
    let svcs: Api<Service> = Api::namespaced(client.clone(), &ns);
    svcs.patch_status(
        "echo",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"loadBalancer": {"ingress": [{"ip": vip, "ipMode": "VIP"}]}}})),
    )
    .await
    .context("patching Service status")?;

    let speaker = GobgpSpeaker::start(
        &rig,
        "node-3",
        50151,
        &[
            ("192.168.0.1", ferrolb_e2e::FRR_ASN),
            ("192.168.0.2", ferrolb_e2e::GOBGP_ASN),
        ],
    )?;
    let prefix = format!("{vip}/32");
    speaker
        .announce("ipv4", &prefix, "192.168.0.23", Duration::from_secs(20))
        .await?;
    wait_for(
        "both routers learn the VIP",
        Duration::from_secs(30),
        || {
            format!(
                "{}\nspeaker log:\n{}",
                rig.diagnostics(None),
                rig.log_tail("test-speaker", 20)
            )
        },
        || {
            let f = rig.frr_rib_v4().map(|r| frr_prefixes(&r).contains(&prefix));
            let g = rig
                .gobgp_rib("ipv4")
                .map(|r| gobgp_prefixes(&r).contains(&prefix));
            async move { Ok((f? && g?).then_some(())) }
        },
    )
    .await?;
    let url = format!("http://{vip}/");
    let body = wait_for(
        &format!("client GET {url} through FRR and kube-proxy on node-3"),
        Duration::from_secs(30),
        || rig.diagnostics(Some(&ns)),
        || {
            let r = rig.http_get_from_client(&url);
            async move { Ok(Some(r?)) }
        },
    )
    .await?;
    ensure!(
        names.contains(body.trim()),
        "VIP answered {body:?}, not one of {names:?}"
    );

    drop(speaker);
    wait_for(
        "FRR withdraws the VIP after the speaker died",
        Duration::from_secs(30),
        String::new,
        || {
            let f = rig
                .frr_rib_v4()
                .map(|r| !frr_prefixes(&r).contains(&prefix));
            async move { Ok(f?.then_some(())) }
        },
    )
    .await?;
    delete_namespace(&client, &ns).await;
    Ok(())
}

/// Removes a test address from a node's loopback when the test ends, even on failure.
struct LoAddr<'a> {
    rig: &'a Rig,
    node: &'a str,
    cidr: &'a str,
}
impl Drop for LoAddr<'_> {
    fn drop(&mut self) {
        let _ = self
            .rig
            .exec_node(self.node, &["ip", "addr", "del", self.cidr, "dev", "lo"]);
    }
}

/// (g) L2 hygiene of the node namespaces: a node answers ARP/NDP for its own LAN address
/// (positive control, with its own MAC) but the kernel stays silent for a service IP that is
/// local to the node (on `lo`), so only an L2 speaker can make a service IP answer.
#[tokio::test]
async fn g_kernel_never_answers_arp_or_ndp_for_service_ips() -> Result<()> {
    let Some(rig) = Rig::from_env("g_kernel_never_answers_arp_or_ndp_for_service_ips") else {
        return Ok(());
    };
    let mac = rig.node_mac("node-1")?;
    let seen = rig.arp_who_has("172.18.0.21", 2)?;
    ensure!(
        seen == vec![mac.clone()],
        "ARP for node-1's address answered by {seen:?}, expected [{mac}]"
    );
    let seen6 = rig.ndp_who_has("fc00:f853:ccd:e793::21")?;
    ensure!(
        seen6 == vec![mac.clone()],
        "NDP for node-1's address answered by {seen6:?}, expected [{mac}]"
    );

    let v4 = "172.18.255.250";
    let v6 = "fc00:f853:ccd:e793::fa";
    rig.exec_node(
        "node-1",
        &["ip", "addr", "add", &format!("{v4}/32"), "dev", "lo"],
    )?;
    let _g4 = LoAddr {
        rig: &rig,
        node: "node-1",
        cidr: "172.18.255.250/32",
    };
    rig.exec_node(
        "node-1",
        &["ip", "addr", "add", &format!("{v6}/128"), "dev", "lo"],
    )?;
    let _g6 = LoAddr {
        rig: &rig,
        node: "node-1",
        cidr: "fc00:f853:ccd:e793::fa/128",
    };
    let arp = rig.arp_who_has(v4, 2)?;
    ensure!(
        arp.is_empty(),
        "the kernel answered ARP for {v4} (a local address on node-1's lo): {arp:?}"
    );
    let nd = rig.ndp_who_has(v6)?;
    ensure!(
        nd.is_empty(),
        "the kernel answered NDP for {v6} (a local address on node-1's lo): {nd:?}"
    );
    Ok(())
}

/// (h) IPv6 BGP: a throwaway speaker in node-2 peers with both routers over IPv6 (the LAN's
/// `fc00:f853:ccd:e793::/64`), announces an IPv6 /128; both RIBs carry it, FRR installs it in
/// its kernel table, and it is withdrawn when the speaker dies.
#[tokio::test]
async fn h_bgp_ipv6_sessions_and_routes() -> Result<()> {
    let Some(rig) = Rig::from_env("h_bgp_ipv6_sessions_and_routes") else {
        return Ok(());
    };
    let speaker = GobgpSpeaker::start(
        &rig,
        "node-2",
        50152,
        &[
            ("fc00:f853:ccd:e793::1", ferrolb_e2e::FRR_ASN),
            ("fc00:f853:ccd:e793::2", ferrolb_e2e::GOBGP_ASN),
        ],
    )?;
    let prefix = "2001:db8:10::77/128";
    speaker
        .announce(
            "ipv6",
            prefix,
            "fc00:f853:ccd:e793::22",
            Duration::from_secs(20),
        )
        .await?;
    wait_for(
        "both routers learn the IPv6 prefix and FRR installs it",
        Duration::from_secs(30),
        || {
            format!(
                "{}\nspeaker log:\n{}",
                rig.diagnostics(None),
                rig.log_tail("speaker-node-2", 20)
            )
        },
        || {
            let f = rig
                .frr_json("show bgp ipv6 unicast json")
                .map(|r| frr_prefixes(&r).iter().any(|p| p == prefix));
            let g = rig
                .gobgp_rib("ipv6")
                .map(|r| gobgp_prefixes(&r).iter().any(|p| p == prefix));
            let k = rig
                .netns_exec(
                    &rig.frr_ns(),
                    &["ip", "-6", "route", "show", "2001:db8:10::77"],
                )
                .map(|out| out.contains("via fc00:f853:ccd:e793::22"));
            async move { Ok((f? && g? && k?).then_some(())) }
        },
    )
    .await?;
    drop(speaker);
    wait_for(
        "FRR withdraws the IPv6 prefix",
        Duration::from_secs(30),
        String::new,
        || {
            let f = rig
                .frr_json("show bgp ipv6 unicast json")
                .map(|r| !frr_prefixes(&r).iter().any(|p| p == prefix));
            async move { Ok(f?.then_some(())) }
        },
    )
    .await?;
    Ok(())
}

/// Kills a child process when the test ends, even on failure.
struct ChildGuard(std::process::Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deletes the test's webhook configuration when the test ends, even on failure (a leftover
/// `failurePolicy: Fail` webhook would break everyone using the rig).
struct WebhookConfigGuard<'a>(&'a Rig, &'a str);
impl Drop for WebhookConfigGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kubectl(&[
            "delete",
            "validatingwebhookconfiguration",
            self.1,
            "--ignore-not-found",
        ]);
    }
}

/// (i) admission webhooks are on: a ValidatingWebhookConfiguration pointing at a tiny HTTPS
/// webhook on the host (`https://127.0.0.1:19443`, the rig's webhook cert, caBundle = rig CA)
/// denies a ConfigMap named `deny-*` and allows another one.
#[tokio::test]
async fn i_admission_webhooks_are_called() -> Result<()> {
    let Some(rig) = Rig::from_env("i_admission_webhooks_are_called") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = unique("e2e-webhook");
    create_namespace(&client, &ns).await?;
    let pki = rig.run_dir.join("pki");
    let port = rig.host_port(19443);
    let script = ferrolb_e2e::e2e_dir().join("testdata/deny_webhook.py");
    let log = std::fs::File::create(rig.run_dir.join("logs/test-webhook.log"))?;
    let _server = ChildGuard(
        std::process::Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(pki.join("webhook.crt"))
            .arg(pki.join("webhook.key"))
            .args(["--max-runtime", "120"])
            .stdout(std::process::Stdio::from(log.try_clone()?))
            .stderr(std::process::Stdio::from(log))
            .spawn()
            .context("starting the test webhook")?,
    );
    let ca = std::fs::read(pki.join("ca.crt"))?;
    let name = format!("{ns}-deny");
    let vwc = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [{
            "name": "deny.e2e.ferrolb.io",
            "clientConfig": {"url": format!("https://127.0.0.1:{port}/validate"), "caBundle": base64(&ca)},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 5
        }]
    });
    let file = rig.run_dir.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec(&vwc)?)?;
    rig.apply_server_side(&file)?;
    let _vwc = WebhookConfigGuard(&rig, &name);

    // the webhook server and the apiserver's webhook client need a moment: retry the allowed one
    wait_for(
        "ConfigMap allow-me admitted through the webhook",
        Duration::from_secs(30),
        || {
            format!(
                "{}\nwebhook log:\n{}",
                rig.diagnostics(Some(&ns)),
                rig.log_tail("test-webhook", 20)
            )
        },
        || {
            let r = rig.kubectl(&["-n", &ns, "create", "configmap", "allow-me"]);
            async move { Ok(Some(r?)) }
        },
    )
    .await?;
    let denied = rig.kubectl(&["-n", &ns, "create", "configmap", "deny-me"]);
    let err = match denied {
        Ok(out) => bail!("the webhook did not deny deny-me: {out}"),
        Err(e) => format!("{e:#}"),
    };
    ensure!(
        err.contains("ferrolb-e2e webhook denies deny-me"),
        "denied for another reason: {err}"
    );
    ensure!(
        rig.log_tail("test-webhook", 50).contains("POST /validate"),
        "the webhook log shows no request"
    );
    delete_namespace(&client, &ns).await;
    Ok(())
}

/// Standard base64 (RFC 4648, with padding); enough for a caBundle.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (input, want) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), want);
    }
}

/// (j) dual-stack data path: Pods get an IPv4 and an IPv6 address from their node's two pod
/// CIDRs; the client reaches each pod over IPv6; kube-proxy serves the IPv6 ClusterIP (from a
/// node) and the NodePort on a node's IPv6 LAN address (from the client).
#[tokio::test]
async fn j_dual_stack_pods_clusterip_nodeport() -> Result<()> {
    let Some(rig) = Rig::from_env("j_dual_stack_pods_clusterip_nodeport") else {
        return Ok(());
    };
    let client = rig.admin_client().await?;
    let ns = unique("e2e-dual");
    create_namespace(&client, &ns).await?;
    apply_echo_with(&client, &ns, "NodePort", true).await?;
    ready_echo_pods(&rig, &client, &ns).await?;

    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("app=echo"))
        .await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let mut names = BTreeSet::new();
    for p in &pods.items {
        let name = p.metadata.name.clone().unwrap_or_default();
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .context("unscheduled pod")?;
        let v6: IpAddr = p
            .status
            .as_ref()
            .and_then(|s| s.pod_ips.as_ref())
            .and_then(|ips| ips.iter().find(|i| i.ip.contains(':')))
            .context(format!(
                "pod {name} has no IPv6 address: {:?}",
                p.status.as_ref().map(|s| &s.pod_ips)
            ))?
            .ip
            .parse()?;
        let cidrs = nodes
            .get(&node)
            .await?
            .spec
            .and_then(|s| s.pod_cidrs)
            .unwrap_or_default();
        ensure!(
            cidrs
                .iter()
                .filter_map(|c| c.parse::<IpNet>().ok())
                .any(|c| c.contains(&v6)),
            "pod {name} IPv6 {v6} not in {node}'s pod CIDRs {cidrs:?}"
        );
        let url = format!("http://[{v6}]:{ECHO_PORT}/");
        let body = wait_for(
            &format!("pod {name} answering on {url} from the client"),
            Duration::from_secs(30),
            || rig.diagnostics(Some(&ns)),
            || {
                let r = rig.http_get_from_client(&url);
                async move { Ok(Some(r?)) }
            },
        )
        .await?;
        ensure!(
            body.trim() == name,
            "GET {url} answered {body:?}, expected {name}"
        );
        names.insert(name);
    }

    let svc = Api::<Service>::namespaced(client.clone(), &ns)
        .get("echo")
        .await?;
    let spec = svc.spec.context("service without spec")?;
    let v6_cluster_ip = spec
        .cluster_ips
        .unwrap_or_default()
        .into_iter()
        .find(|ip| ip.contains(':'))
        .context("no IPv6 clusterIP on a RequireDualStack Service")?;
    let node_port = spec
        .ports
        .as_ref()
        .and_then(|p| p.first())
        .and_then(|p| p.node_port)
        .context("no nodePort")?;
    for (what, url, from_node) in [
        (
            "IPv6 ClusterIP from node-1",
            format!("http://[{v6_cluster_ip}]:80/"),
            true,
        ),
        (
            "IPv6 NodePort of node-3 from the client",
            format!("http://[fc00:f853:ccd:e793::23]:{node_port}/"),
            false,
        ),
    ] {
        let body = wait_for(
            &format!("{what}: {url}"),
            Duration::from_secs(30),
            || rig.diagnostics(Some(&ns)),
            || {
                let r = if from_node {
                    rig.http_get_from_node("node-1", &url)
                } else {
                    rig.http_get_from_client(&url)
                };
                async move { Ok(Some(r?)) }
            },
        )
        .await?;
        ensure!(
            names.contains(body.trim()),
            "{what} answered {body:?}, not one of {names:?}"
        );
    }
    delete_namespace(&client, &ns).await;
    Ok(())
}

/// Nothing the rig addresses leaves the host: the host namespace (where kube-apiserver runs and
/// would dial a webhook's ClusterIP) has blackhole routes for every rig range (rig.sh
/// `host_guard`), so a test address is never routed out of eth0.
#[tokio::test]
async fn z_host_never_routes_rig_addresses_out() -> Result<()> {
    let Some(rig) = Rig::from_env("rig::z_host_never_routes_rig_addresses_out") else {
        return Ok(());
    };
    // the host pod network: this instance's /24 goes to its veth, the rest of 198.18.0.0/15
    // (other instances' when they are down) is blackholed
    let pod_ip = rig.host_pod_ip(10);
    let via = ferrolb_e2e::run(std::process::Command::new("ip").args(["route", "get", &pod_ip]))?;
    ensure!(
        via.contains(&format!("dev {}", rig.pods_ns())),
        "the host pod network {pod_ip} is not on {}: {via}",
        rig.pods_ns()
    );
    for addr in [
        "198.19.0.5",
        "10.96.0.10",
        "10.244.1.5",
        "172.18.255.250",
        "192.168.10.5",
        "fc00:f853:ccd:e793::fa",
        "fd00:10:96::10",
    ] {
        let out = std::process::Command::new("ip")
            .args(["route", "get", addr])
            .output()
            .context("running ip route get")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            !out.status.success() || text.contains("blackhole") || text.contains("unreachable"),
            "the host would route {addr} out: {text}"
        );
        ensure!(
            !text.contains("dev eth0"),
            "the host would route {addr} out of eth0: {text}"
        );
    }
    Ok(())
}
