//! Test harness for ferrolb's end-to-end suite.
//!
//! The suite runs against the local rig started by `e2e/rig.sh up`: a real kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok on the host's loopback, and one Linux
//! network namespace per node (`flb-node-N`), a client (`flb-client`) and the BGP routers
//! (`flb-frr`: FRR bgpd+zebra, `flb-gobgp`: gobgpd, `flb-gobgp-md5`: gobgpd with MD5
//! neighbours, `flb-bird`: BIRD 2 iBGP, optionally `flb-collect`: scale collectors) on a
//! bridged LAN; [`bgp`] reads them.
//!
//! Every test starts with [`Rig::from_env`], which returns `None` (and prints why) unless
//! `FERROLB_E2E=1`, so `cargo test --workspace` passes on machines without the rig.
//!
//! Helpers here: [`wait_for`] (poll with a timeout and a useful failure message),
//! [`Rig::diagnostics`] (objects + log tails), running commands in a netns, HTTP GETs from the
//! client or a node, and readers of the routers' RIBs.
#![forbid(unsafe_code)]

pub mod bench_trace;
pub mod bgp;
pub mod bgp_bfd;
pub mod bgp_setup;
pub mod burst;
pub mod cp_vip;
pub mod failover;
pub mod faults;
pub mod flux;
pub mod grafana;
pub mod helm;
pub mod hostpods;
pub mod l2;
pub mod metallb;
pub mod otelcol;
pub mod procs;
pub mod speaker_load;
pub mod webhook;
pub mod workload;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Name of the netns that holds the test client (rig instance 0; use [`Rig::client_ns`]).
pub const CLIENT_NS: &str = "flb-client";
/// Name of the netns that runs FRR (zebra, bfdd, bgpd; AS 64513, 192.168.0.1), instance 0;
/// use [`Rig::frr_ns`].
pub const FRR_NS: &str = "flb-frr";
/// FRR pathspace (`vtysh -N`), instance 0; use [`Rig::frr_pathspace`].
pub const FRR_PATHSPACE: &str = "flbfrr";
/// Name of the netns that runs gobgpd (AS 64514, 192.168.0.2), instance 0; use [`Rig::gobgp_ns`].
pub const GOBGP_NS: &str = "flb-gobgp";
/// AS of the FRR router.
pub const FRR_ASN: u32 = 64513;
/// AS of the GoBGP router.
pub const GOBGP_ASN: u32 = 64514;
/// AS the routers expect from speakers (dynamic neighbors).
pub const SPEAKER_ASN: u32 = 64512;

/// The name of a rig namespace (`client`, `frr`, `gobgp`, `node-1`, ...) in the rig instance
/// selected by `FERROLB_E2E_INSTANCE` (`flb-client` for instance 0, `flb2-client` for 2); for
/// code that has no [`Rig`] at hand.
pub fn instance_ns(name: &str) -> String {
    match std::env::var("FERROLB_E2E_INSTANCE")
        .ok()
        .and_then(|i| i.parse::<u32>().ok())
    {
        Some(i) if (1..=9).contains(&i) => format!("flb{i}-{name}"),
        _ => format!("flb-{name}"),
    }
}

/// The `e2e/` directory of the checkout under test. Read from `CARGO_MANIFEST_DIR` at run time
/// (cargo sets it for test binaries), falling back to the compile-time value: a test binary
/// built in another checkout that shares the target dir must still use *this* checkout's files.
pub fn e2e_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The rig as seen from a test: where its state and tools are.
#[derive(Debug, Clone)]
pub struct Rig {
    /// `e2e/.run`: logs/, pki/, kubeconfig.
    pub run_dir: PathBuf,
    /// Admin (system:masters) kubeconfig.
    pub kubeconfig: PathBuf,
    /// kubectl built by `build-upstream.sh`.
    pub kubectl: PathBuf,
    /// `e2e/rig.sh`.
    pub rig_sh: PathBuf,
    /// Number of fake nodes (`node-1` .. `node-N`).
    pub nodes: usize,
    /// Rig instance (`FERROLB_E2E_INSTANCE`, 0-9): several rigs can run side by side.
    pub instance: u32,
    /// Prefix of this instance's netns names: `flb-` for instance 0, `flbN-` otherwise.
    pub ns_prefix: String,
}

impl Rig {
    /// The rig, when `FERROLB_E2E=1`; otherwise prints a skip notice for `test` and returns `None`.
    ///
    /// Paths come from the variables printed by `e2e/rig.sh env` (`KUBECONFIG`,
    /// `FERROLB_E2E_RUN`, `FERROLB_E2E_KUBECTL`), falling back to `e2e/.run`.
    pub fn from_env(test: &str) -> Option<Rig> {
        if std::env::var("FERROLB_E2E").as_deref() != Ok("1") {
            println!(
                "SKIP {test}: FERROLB_E2E is not 1 (start the rig with e2e/rig.sh up, or run e2e/run.sh)"
            );
            return None;
        }
        let e2e_dir = e2e_dir();
        let instance: u32 = std::env::var("FERROLB_E2E_INSTANCE")
            .ok()
            .and_then(|i| i.parse().ok())
            .filter(|i| *i <= 9)
            .unwrap_or(0);
        let default_run = if instance == 0 {
            e2e_dir.join(".run")
        } else {
            e2e_dir.join(".run").join(format!("i{instance}"))
        };
        let run_dir = std::env::var_os("FERROLB_E2E_RUN")
            .map(PathBuf::from)
            .unwrap_or(default_run);
        // `rig.sh up` writes its exports to .run/env: use them when the shell did not `eval` them
        let written = std::fs::read_to_string(run_dir.join("env")).unwrap_or_default();
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .or_else(|| env_file_value(&written, name))
        };
        let kubeconfig = var("FERROLB_E2E_KUBECONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| run_dir.join("kubeconfig"));
        let kubectl = var("FERROLB_E2E_KUBECTL")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("kubectl"));
        let nodes = var("FERROLB_E2E_NODES")
            .and_then(|n| n.parse().ok())
            .unwrap_or(3);
        let ns_prefix = if instance == 0 {
            "flb-".to_string()
        } else {
            format!("flb{instance}-")
        };
        Some(Rig {
            instance,
            ns_prefix,
            run_dir,
            kubeconfig,
            kubectl,
            rig_sh: e2e_dir.join("rig.sh"),
            nodes,
        })
    }

    /// The client's netns (`flb-client` for instance 0).
    pub fn client_ns(&self) -> String {
        format!("{}client", self.ns_prefix)
    }

    /// The FRR router's netns (`flb-frr`).
    pub fn frr_ns(&self) -> String {
        format!("{}frr", self.ns_prefix)
    }

    /// The GoBGP router's netns (`flb-gobgp`).
    pub fn gobgp_ns(&self) -> String {
        format!("{}gobgp", self.ns_prefix)
    }

    /// The MD5 GoBGP router's netns (`flb-gobgp-md5`): static MD5 neighbours only.
    pub fn gobgp_md5_ns(&self) -> String {
        format!("{}gobgp-md5", self.ns_prefix)
    }

    /// The BIRD router's netns (`flb-bird`).
    pub fn bird_ns(&self) -> String {
        format!("{}bird", self.ns_prefix)
    }

    /// The scale collectors' netns (`flb-collect`), present once collectors were started.
    pub fn collect_ns(&self) -> String {
        format!("{}collect", self.ns_prefix)
    }

    /// BIRD's control socket (`birdc -s <it>`): `FERROLB_E2E_BIRD_SOCKET`, else
    /// `/run/ferrolb-e2e[-N]/bird.ctl` of this instance.
    pub fn bird_socket(&self) -> String {
        self.env_value("FERROLB_E2E_BIRD_SOCKET")
            .unwrap_or_else(|| {
                if self.instance == 0 {
                    "/run/ferrolb-e2e/bird.ctl".to_string()
                } else {
                    format!("/run/ferrolb-e2e-{}/bird.ctl", self.instance)
                }
            })
    }

    /// The password of the routers' MD5 neighbours (`FERROLB_E2E_BGP_MD5_PASSWORD`, written by
    /// `rig.sh up`; default [`bgp::MD5_PASSWORD`]).
    pub fn bgp_md5_password(&self) -> String {
        self.env_value("FERROLB_E2E_BGP_MD5_PASSWORD")
            .unwrap_or_else(|| bgp::MD5_PASSWORD.to_string())
    }

    /// (Re)starts `n` GoBGP scale collectors in [`Rig::collect_ns`] (`rig.sh collectors N`;
    /// 0 stops them); collector `i` is [`bgp::Router::Collector`]`(i)` on port `1790 + i - 1`.
    pub fn start_collectors(&self, n: u16) -> Result<()> {
        let n = n.to_string();
        run(Command::new(&self.rig_sh)
            .args(["collectors", &n])
            .env("FERROLB_E2E_INSTANCE", self.instance.to_string())
            .env("FERROLB_E2E_NODES", self.nodes.to_string()))?;
        Ok(())
    }

    /// Restarts one of FRR's daemons (`bgpd`, `zebra`, `bfdd`) with its configuration
    /// (`rig.sh frr-restart DAEMON`): a router restart; returns once it runs again (its pid
    /// file written), not once it has sessions.
    pub fn frr_restart(&self, daemon: &str) -> Result<()> {
        run(Command::new(&self.rig_sh)
            .args(["frr-restart", daemon])
            .env("FERROLB_E2E_INSTANCE", self.instance.to_string())
            .env("FERROLB_E2E_NODES", self.nodes.to_string()))?;
        Ok(())
    }

    /// A variable exported by `rig.sh env`: the process environment first, then `.run/env`.
    pub fn env_value(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().or_else(|| {
            let written = std::fs::read_to_string(self.run_dir.join("env")).ok()?;
            env_file_value(&written, name)
        })
    }

    /// FRR's pathspace for `vtysh -N` (`flbfrr` for instance 0).
    pub fn frr_pathspace(&self) -> String {
        format!("{}frr", self.ns_prefix.trim_end_matches('-'))
    }

    /// A node's netns (`node-1` -> `flb-node-1`).
    pub fn node_ns(&self, node: &str) -> String {
        format!("{}{node}", self.ns_prefix)
    }

    /// Port of a test-owned helper on the host (e.g. a webhook): `base` + 100 × instance, so
    /// side-by-side rigs do not collide.
    pub fn host_port(&self, base: u16) -> u16 {
        // instance <= 9, so this stays far below u16::MAX for the ports the tests use
        base + 100 * u16::try_from(self.instance).unwrap_or(0)
    }

    /// Node names, `node-1` .. `node-N`.
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("node-{i}")).collect()
    }

    /// A kube client from a kubeconfig file.
    pub async fn client_from(path: &Path) -> Result<Client> {
        let kc = Kubeconfig::read_from(path)
            .with_context(|| format!("reading kubeconfig {}", path.display()))?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .context("building client config")?;
        Client::try_from(cfg).context("building kube client")
    }

    /// An admin client (system:masters, bypasses RBAC).
    pub async fn admin_client(&self) -> Result<Client> {
        Self::client_from(&self.kubeconfig).await
    }

    /// Mints a token for `namespace/serviceaccount` through TokenRequest (`rig.sh
    /// kubeconfig-for`, creating the ServiceAccount when `create`) and returns the kubeconfig path.
    pub fn kubeconfig_for(&self, namespace: &str, sa: &str, create: bool) -> Result<PathBuf> {
        let mut args = vec!["kubeconfig-for", namespace, sa];
        if create {
            args.push("--create");
        }
        let out = run(Command::new(&self.rig_sh).args(&args))?;
        Ok(PathBuf::from(out.trim()))
    }

    /// Runs kubectl (admin) and returns stdout; fails on a non-zero exit.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        run(Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args))
    }

    /// Runs `CMD` inside network namespace `ns`; returns stdout, fails on a non-zero exit.
    pub fn netns_exec(&self, ns: &str, cmd: &[&str]) -> Result<String> {
        run(Command::new("ip").args(["netns", "exec", ns]).args(cmd))
    }

    /// Runs `CMD` inside `node`'s netns (`node-1` -> `flb-node-1`).
    pub fn exec_node(&self, node: &str, cmd: &[&str]) -> Result<String> {
        self.netns_exec(&self.node_ns(node), cmd)
    }

    /// HTTP GET from the client netns (curl, 3 s timeout); returns the body.
    pub fn http_get_from_client(&self, url: &str) -> Result<String> {
        self.netns_exec(&self.client_ns(), &["curl", "-gsS", "--max-time", "3", url])
    }

    /// HTTP GET from inside a node netns; returns the body.
    pub fn http_get_from_node(&self, node: &str, url: &str) -> Result<String> {
        self.exec_node(node, &["curl", "-gsS", "--max-time", "3", url])
    }

    /// MAC address of `node`'s LAN interface (`eth0`), lower case.
    pub fn node_mac(&self, node: &str) -> Result<String> {
        Ok(self
            .exec_node(node, &["cat", "/sys/class/net/eth0/address"])?
            .trim()
            .to_lowercase())
    }

    /// Who answers ARP for `ip` on the LAN, seen from the client: the distinct MACs (lower
    /// case) of the replies to `count` broadcast requests; empty when nobody answered.
    pub fn arp_who_has(&self, ip: &str, count: u32) -> Result<Vec<String>> {
        let count = count.to_string();
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client_ns(),
                "arping",
                "-i",
                "eth0",
                "-c",
                &count,
            ])
            .args(["-w", "1000000", "-r", ip])
            .output()
            .context("running arping in the client netns")?;
        Ok(distinct_macs(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Who answers IPv6 neighbor solicitations for `ip`, seen from the client: the distinct
    /// MACs of all Neighbor Advertisements for that target during ~1 s of probing (an NS every
    /// 100 ms, `e2e/tools/l2probe.py`); empty when nobody answered. Any NA source address
    /// counts (ndisc6 would ignore NAs sent from a link-local address, as MetalLB's are).
    pub fn ndp_who_has(&self, ip: &str) -> Result<Vec<String>> {
        let summary = self.l2_probe(ip, 100, 1.0)?;
        let mut macs: Vec<String> = summary
            .pointer("/summary/macs")
            .and_then(|m| m.as_object())
            .map(|m| m.keys().map(|k| k.to_lowercase()).collect())
            .unwrap_or_default();
        macs.retain(|m| m != "no-tlla");
        macs.sort();
        Ok(macs)
    }

    /// Runs `e2e/tools/l2probe.py` in the client netns: an ARP request (IPv4) or NS (IPv6) for
    /// `ip` every `interval_ms` for `duration_s` seconds; returns its final JSON summary
    /// (`{"summary": {"sent", "macs": {MAC: {first_ns, last_ns, replies}}, "max_gap_ms", ...}}`),
    /// e.g. to measure a failover gap.
    pub fn l2_probe(
        &self,
        ip: &str,
        interval_ms: u32,
        duration_s: f64,
    ) -> Result<serde_json::Value> {
        let script = e2e_dir().join("tools/l2probe.py");
        let script = script.to_string_lossy();
        let interval = interval_ms.to_string();
        let duration = duration_s.to_string();
        let out = self.netns_exec(
            &self.client_ns(),
            &[
                "python3",
                &script,
                "eth0",
                ip,
                "--interval",
                &interval,
                "--duration",
                &duration,
            ],
        )?;
        let last = out.lines().last().unwrap_or_default();
        json(last)
    }

    /// `kubectl apply --server-side -f <path>` (file or directory) as admin.
    pub fn apply_server_side(&self, path: &Path) -> Result<String> {
        let p = path.to_string_lossy();
        self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "ferrolb-e2e",
            "-f",
            &p,
        ])
    }

    /// `gobgp -j global rib -a <family>` in the GoBGP router (family `ipv4` or `ipv6`).
    pub fn gobgp_rib(&self, family: &str) -> Result<serde_json::Value> {
        json(&self.netns_exec(
            &self.gobgp_ns(),
            &["gobgp", "-j", "global", "rib", "-a", family],
        )?)
    }

    /// `gobgp -j neighbor` in the GoBGP router.
    pub fn gobgp_neighbors(&self) -> Result<serde_json::Value> {
        json(&self.netns_exec(&self.gobgp_ns(), &["gobgp", "-j", "neighbor"])?)
    }

    /// `vtysh -c '<command>'` against the FRR router, parsed as JSON (`command` must end in `json`).
    pub fn frr_json(&self, command: &str) -> Result<serde_json::Value> {
        let ps = self.frr_pathspace();
        json(&self.netns_exec(&self.frr_ns(), &["vtysh", "-N", &ps, "-c", command])?)
    }

    /// Applies configuration lines to the running FRR (`vtysh -c 'configure terminal' -c ...`),
    /// e.g. `["router bgp 64513", "neighbor 192.168.0.21 remote-as 64512",
    /// "neighbor 192.168.0.21 password s3cret"]` for an MD5 peer. Returns vtysh's output;
    /// fails when vtysh reports an error.
    pub fn frr_configure(&self, lines: &[&str]) -> Result<String> {
        let ps = self.frr_pathspace();
        let mut cmd = vec!["vtysh", "-N", &ps, "-c", "configure terminal"];
        for l in lines {
            cmd.push("-c");
            cmd.push(l);
        }
        let out = self.netns_exec(&self.frr_ns(), &cmd)?;
        if out.contains("% ") {
            bail!("vtysh rejected {lines:?}: {out}");
        }
        Ok(out)
    }

    /// FRR's IPv4 unicast RIB (`show bgp ipv4 unicast json`).
    pub fn frr_rib_v4(&self) -> Result<serde_json::Value> {
        self.frr_json("show bgp ipv4 unicast json")
    }

    /// Tail of one component log in `e2e/.run/logs` (e.g. `kube-controller-manager`, `kwok`).
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        let path = self.run_dir.join("logs").join(format!("{component}.log"));
        match std::fs::read_to_string(&path) {
            Ok(s) => {
                let all: Vec<&str> = s.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("(cannot read {}: {e})", path.display()),
        }
    }

    /// What to print when something did not happen: objects in `namespace`, nodes, and the
    /// tails of the component logs.
    pub fn diagnostics(&self, namespace: Option<&str>) -> String {
        let mut out = String::new();
        let mut section = |title: &str, body: String| {
            out.push_str(&format!("\n----- {title} -----\n{body}\n"));
        };
        let kubectl = |args: &[&str]| {
            self.kubectl(args)
                .unwrap_or_else(|e| format!("(kubectl failed: {e:#})"))
        };
        section("nodes", kubectl(&["get", "nodes", "-o", "wide"]));
        if let Some(ns) = namespace {
            section(
                &format!("objects in {ns}"),
                kubectl(&["-n", ns, "get", "all,endpointslices,events", "-o", "wide"]),
            );
        }
        section(
            "BGP: gobgp neighbor",
            self.netns_exec(&self.gobgp_ns(), &["gobgp", "neighbor"])
                .unwrap_or_else(|e| format!("({e:#})")),
        );
        section(
            "BGP: show bgp summary (FRR)",
            self.netns_exec(
                &self.frr_ns(),
                &[
                    "vtysh",
                    "-N",
                    &self.frr_pathspace(),
                    "-c",
                    "show bgp summary",
                ],
            )
            .unwrap_or_else(|e| format!("({e:#})")),
        );
        section(
            "BGP: gobgp neighbor (MD5 GoBGP)",
            self.netns_exec(&self.gobgp_md5_ns(), &["gobgp", "neighbor"])
                .unwrap_or_else(|e| format!("({e:#})")),
        );
        section(
            "BGP: birdc show protocols (BIRD)",
            self.netns_exec(
                &self.bird_ns(),
                &["birdc", "-s", &self.bird_socket(), "show", "protocols"],
            )
            .unwrap_or_else(|e| format!("({e:#})")),
        );
        let mut logs = vec![
            "kube-apiserver".to_string(),
            "kube-controller-manager".into(),
            "kwok".into(),
        ];
        for n in self.node_names() {
            logs.push(format!("kube-proxy-{n}"));
            logs.push(format!("podagent-{n}"));
        }
        for l in logs {
            section(&format!("log {l} (tail)"), self.log_tail(&l, 15));
        }
        out
    }
}

/// Polls `check` every 250 ms until it returns `Ok(Some(v))` or `timeout` passes.
///
/// `Ok(None)` and `Err(_)` both mean "not yet"; on timeout the error names `what`, the last
/// error or state seen, and `diagnostics()` (e.g. [`Rig::diagnostics`]).
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    diagnostics: impl FnOnce() -> String,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let last = loop {
        let last = match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "condition false".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if start.elapsed() >= timeout {
            break last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    Err(anyhow!(
        "timed out after {:?} waiting for {what}; last: {last}\n{}",
        timeout,
        diagnostics()
    ))
}

/// A throwaway GoBGP speaker (AS 64512) in a node netns, for tests of the rig's routers and of
/// the data path behind them. Killed when dropped.
#[derive(Debug)]
pub struct GobgpSpeaker {
    child: Child,
    node: String,
    api_port: u16,
    rig: Rig,
}

/// A neighbor of a [`GobgpSpeaker`]: a router address and AS, optionally a TCP-MD5 password
/// and a port other than 179 (a scale collector).
#[derive(Debug, Clone, Default)]
pub struct SpeakerNeighbor {
    /// The router's address (the speaker's source address follows from the kernel's route).
    pub address: String,
    /// The router's AS.
    pub asn: u32,
    /// TCP-MD5 password (RFC 2385), if any.
    pub password: Option<String>,
    /// Remote port when not 179.
    pub port: Option<u16>,
}

impl SpeakerNeighbor {
    /// A neighbor on port 179 without MD5.
    pub fn new(address: &str, asn: u32) -> SpeakerNeighbor {
        SpeakerNeighbor {
            address: address.to_string(),
            asn,
            ..SpeakerNeighbor::default()
        }
    }

    /// The same neighbor with a TCP-MD5 password.
    pub fn with_password(mut self, password: &str) -> SpeakerNeighbor {
        self.password = Some(password.to_string());
        self
    }

    /// The same neighbor on another port.
    pub fn with_port(mut self, port: u16) -> SpeakerNeighbor {
        self.port = Some(port);
        self
    }
}

/// Optional attributes of a path a [`GobgpSpeaker`] announces.
#[derive(Debug, Clone, Default)]
pub struct PathAttrs {
    /// `"64512:100"` or well-known names GoBGP knows (`no-advertise`).
    pub communities: Vec<String>,
    /// `"64512:1:2"`.
    pub large_communities: Vec<String>,
    /// LOCAL_PREF (GoBGP sends it to iBGP neighbors only).
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
}

impl GobgpSpeaker {
    /// Starts `gobgpd` in `node`'s netns with its gRPC API on `127.0.0.1:api_port` (in that
    /// netns), no BGP listener, and one active neighbor per `(address, peer AS)`, both IPv4 and
    /// IPv6 unicast. The log goes to `.run/logs/speaker-<node>.log`.
    pub fn start(
        rig: &Rig,
        node: &str,
        api_port: u16,
        neighbors: &[(&str, u32)],
    ) -> Result<GobgpSpeaker> {
        let neighbors: Vec<SpeakerNeighbor> = neighbors
            .iter()
            .map(|(a, asn)| SpeakerNeighbor::new(a, *asn))
            .collect();
        Self::start_with(rig, node, api_port, &neighbors)
    }

    /// [`GobgpSpeaker::start`] with neighbors that may carry an MD5 password or another port.
    pub fn start_with(
        rig: &Rig,
        node: &str,
        api_port: u16,
        neighbors: &[SpeakerNeighbor],
    ) -> Result<GobgpSpeaker> {
        let mut conf = format!(
            "[global.config]\n  as = {SPEAKER_ASN}\n  router-id = \"10.255.255.{}\"\n  port = -1\n",
            api_port % 250 + 1
        );
        for n in neighbors {
            let (addr, asn) = (&n.address, n.asn);
            let password = n
                .password
                .as_ref()
                .map(|p| format!("    auth-password = \"{p}\"\n"))
                .unwrap_or_default();
            let port = n
                .port
                .map(|p| format!("  [neighbors.transport.config]\n    remote-port = {p}\n"))
                .unwrap_or_default();
            conf.push_str(&format!(
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {asn}\n{password}{port}  \
                 [neighbors.timers.config]\n    connect-retry = 1\n  [[neighbors.afi-safis]]\n    \
                 [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n  [[neighbors.afi-safis]]\n    \
                 [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv6-unicast\"\n"
            ));
        }
        let conf_path = rig.run_dir.join(format!("speaker-{node}-{api_port}.toml"));
        std::fs::write(&conf_path, conf)
            .with_context(|| format!("writing {}", conf_path.display()))?;
        let log =
            std::fs::File::create(rig.run_dir.join("logs").join(format!("speaker-{node}.log")))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &rig.node_ns(node), "gobgpd", "-f"])
            .arg(&conf_path)
            .arg(format!("--api-hosts=127.0.0.1:{api_port}"))
            .args(["--pprof-disable", "-p"])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting gobgpd in {}", rig.node_ns(node)))?;
        Ok(GobgpSpeaker {
            child,
            node: node.to_string(),
            api_port,
            rig: rig.clone(),
        })
    }

    /// `gobgp global rib -a <family> add <prefix> nexthop <nexthop>` (retried until the
    /// speaker's API is up, at most `timeout`).
    pub async fn announce(
        &self,
        family: &str,
        prefix: &str,
        nexthop: &str,
        timeout: Duration,
    ) -> Result<()> {
        self.announce_with(family, prefix, nexthop, &PathAttrs::default(), timeout)
            .await
    }

    /// [`GobgpSpeaker::announce`] with communities, large communities, LOCAL_PREF and MED.
    pub async fn announce_with(
        &self,
        family: &str,
        prefix: &str,
        nexthop: &str,
        attrs: &PathAttrs,
        timeout: Duration,
    ) -> Result<()> {
        let port = self.api_port.to_string();
        let mut args: Vec<String> = [
            "gobgp", "-p", &port, "global", "rib", "-a", family, "add", prefix, "nexthop", nexthop,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !attrs.communities.is_empty() {
            args.extend(["community".to_string(), attrs.communities.join(",")]);
        }
        if !attrs.large_communities.is_empty() {
            args.extend([
                "large-community".to_string(),
                attrs.large_communities.join(","),
            ]);
        }
        if let Some(lp) = attrs.local_pref {
            args.extend(["local-pref".to_string(), lp.to_string()]);
        }
        if let Some(med) = attrs.med {
            args.extend(["med".to_string(), med.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wait_for(
            &format!("speaker in {} accepting {prefix}", self.node),
            timeout,
            || self.log_tail(),
            || {
                let r = self.rig.exec_node(&self.node, &args);
                async move { Ok(Some(r?)) }
            },
        )
        .await
        .map(|_| ())
    }

    /// `gobgp global rib -a <family> del <prefix>`.
    pub fn withdraw(&self, family: &str, prefix: &str) -> Result<()> {
        let port = self.api_port.to_string();
        self.rig.exec_node(
            &self.node,
            &[
                "gobgp", "-p", &port, "global", "rib", "-a", family, "del", prefix,
            ],
        )?;
        Ok(())
    }

    /// The speaker's sessions as the speaker sees them (`gobgp -j neighbor`).
    pub fn neighbors(&self) -> Result<serde_json::Value> {
        let port = self.api_port.to_string();
        json(
            &self
                .rig
                .exec_node(&self.node, &["gobgp", "-p", &port, "-j", "neighbor"])?,
        )
    }

    /// The last lines of this speaker's log.
    pub fn log_tail(&self) -> String {
        self.rig.log_tail(&format!("speaker-{}", self.node), 20)
    }
}

impl Drop for GobgpSpeaker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 5 ms, at most `timeout` (a blocking loop for benchmarks that time a
/// change from the outside; an error of `check` counts as "not yet"); how long until it held.
pub fn poll_elapsed(
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < timeout {
        if check().unwrap_or(false) {
            return Ok(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    anyhow::bail!("not within {timeout:?}")
}

/// Runs a prepared command; stdout on success, an error with stderr otherwise.
pub fn run(cmd: &mut Command) -> Result<String> {
    let desc = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("spawning {desc}"))?;
    if !out.status.success() {
        bail!(
            "{desc} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn json(s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s)
        .with_context(|| format!("not JSON: {}", s.chars().take(300).collect::<String>()))
}

/// The value of `export NAME=VALUE` in a shell env file such as `.run/env`.
pub fn env_file_value(file: &str, name: &str) -> Option<String> {
    file.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("export ")?;
        let (k, v) = rest.split_once('=')?;
        (k == name).then(|| v.trim_matches('"').to_string())
    })
}

/// The distinct MAC addresses (lower case) among whitespace-separated words of `s`.
pub fn distinct_macs(s: &str) -> Vec<String> {
    let mut macs: Vec<String> = s
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_ascii_hexdigit())
                .to_lowercase()
        })
        .filter(|w| {
            w.len() == 17 && w.split(':').count() == 6 && w.split(':').all(|b| b.len() == 2)
        })
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// Prefixes announced by GoBGP's RIB JSON (`gobgp -j global rib`): the object's keys.
pub fn gobgp_prefixes(rib: &serde_json::Value) -> Vec<String> {
    rib.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Prefixes in FRR's `show bgp ipv4 unicast json` (`.routes` keys).
pub fn frr_prefixes(rib: &serde_json::Value) -> Vec<String> {
    rib.get("routes")
        .and_then(|r| r.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_from_rib_json() {
        let g: serde_json::Value =
            serde_json::json!({"192.168.10.5/32": [{"nlri": {"prefix": "192.168.10.5/32"}}]});
        assert_eq!(gobgp_prefixes(&g), vec!["192.168.10.5/32".to_string()]);
        let f = serde_json::json!({"routerId": "192.168.0.1", "routes": {"192.168.10.5/32": []}});
        assert_eq!(frr_prefixes(&f), vec!["192.168.10.5/32".to_string()]);
        assert!(frr_prefixes(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn env_file_parsing() {
        let f = "export KUBECONFIG=/x/kc\nexport FERROLB_E2E_KUBECTL=/bin/kubectl\nexport PATH=/a:$PATH\n";
        assert_eq!(
            env_file_value(f, "FERROLB_E2E_KUBECTL").as_deref(),
            Some("/bin/kubectl")
        );
        assert_eq!(env_file_value(f, "KUBECONFIG").as_deref(), Some("/x/kc"));
        assert_eq!(env_file_value(f, "NOPE"), None);
    }

    #[test]
    fn macs_from_tool_output() {
        let arping = "a6:1b:6c:d8:d3:7e\nA6:1B:6C:D8:D3:7E\n02:00:00:00:00:01\n";
        assert_eq!(
            distinct_macs(arping),
            vec!["02:00:00:00:00:01", "a6:1b:6c:d8:d3:7e"]
        );
        assert!(distinct_macs("Timeout\nTimeout\n").is_empty());
        assert!(distinct_macs("2001:db8::1 fe80::1").is_empty());
    }

    #[tokio::test]
    async fn wait_for_times_out_with_message() {
        let err = wait_for(
            "never",
            Duration::from_millis(300),
            || "DIAG".into(),
            || async { Ok::<Option<()>, anyhow::Error>(None) },
        )
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("never") && err.contains("DIAG"), "{err}");
    }

    #[tokio::test]
    async fn wait_for_returns_value() {
        let mut n = 0;
        let v = wait_for("third try", Duration::from_secs(5), String::new, || {
            n += 1;
            let v = n;
            async move { Ok(if v >= 3 { Some(v) } else { None }) }
        })
        .await
        .expect("value");
        assert_eq!(v, 3);
    }
}
