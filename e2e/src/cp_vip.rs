//! The control-plane VIP set-up on the rig (issue 20), shared by `tests/cp_vip.rs` (ferrolb's
//! control-plane mode) and `tests/cp_vip_keepalived.rs` (keepalived, the reference users
//! replace): three node namespaces, each with an "API server" on `0.0.0.0:6443` and a VIP
//! holder (`ferrolb-speaker control-plane` or `keepalived --vrrp`), the client using the VIP.
//!
//! The per-node API server is the rig's real kube-apiserver reached through a per-node TCP
//! relay (socat in the node netns → the rig's in-node relay → the host's kube-apiserver): TLS
//! is end to end with the real server, so `/readyz` over the VIP is answered by a real
//! kube-apiserver, and SIGKILL of a node's relay is that node's API server dying (new
//! connections refused, as after a crash).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::Rig;
use crate::procs::{Proc, binary};

/// The VIP: on the rig's primary LAN, outside every pool and host address.
pub const VIP: &str = "172.18.0.99";
/// The API servers' port on every node (kubeadm's).
pub const API: u16 = 6443;
/// Heartbeat port of the control-plane mode.
pub const HB_PORT: &str = "7949";

/// A node's address on the rig's primary LAN (`node-i` → `172.18.0.2i`).
pub fn node_ip(node: &str) -> String {
    let i: u32 = node.trim_start_matches("node-").parse().unwrap_or(0);
    format!("172.18.0.{}", 20 + i)
}

/// One control-plane node: its API server relay and what holds the VIP there.
pub struct CpNode {
    /// The rig node (`node-i`).
    pub name: String,
    /// Its API server relay; `None` while killed.
    pub api: Option<Proc>,
    /// What holds the VIP there.
    pub holder: Holder,
}

/// What holds the VIP on a node.
pub enum Holder {
    /// `ferrolb-speaker control-plane`.
    Speaker(Proc),
    /// keepalived (its parent; it forks the VRRP child).
    Keepalived(Keepalived),
}

impl Holder {
    /// The process id of the speaker, or of keepalived's parent.
    pub fn pid(&self) -> u32 {
        match self {
            Holder::Speaker(p) => p.pid(),
            Holder::Keepalived(k) => k.proc.pid(),
        }
    }
}

/// The node's "API server": a relay on `0.0.0.0:6443` in its netns to the rig's kube-apiserver.
pub fn start_api(rig: &Rig, node: &str) -> Result<Proc> {
    let upstream = format!("TCP:127.0.0.1:{}", rig.host_port(16443));
    let child = Command::new("ip")
        .args(["netns", "exec", &rig.node_ns(node), "socat"])
        .arg(format!("TCP-LISTEN:{API},bind=0.0.0.0,reuseaddr,fork"))
        .arg(upstream)
        .stdout(Stdio::null())
        .stderr(rig.log_file(&format!("cp-vip-api-{node}"))?)
        .spawn()
        .context("starting socat")?;
    Ok(Proc(child))
}

/// `ferrolb-speaker control-plane` in `node`'s netns, `extra` flags appended.
pub fn start_speaker(rig: &Rig, node: &str, key: &Path, extra: &[&str]) -> Result<Proc> {
    let peers: Vec<String> = rig.node_names().iter().map(|n| node_ip(n)).collect();
    let ca = rig.run_dir.join("pki/ca.crt");
    let log = rig.log_file(&format!("cp-vip-speaker-{node}"))?;
    let child = Command::new("ip")
        .args(["netns", "exec", &rig.node_ns(node)])
        .arg(binary("ferrolb-speaker")?)
        .arg("control-plane")
        .args([
            "--vip",
            VIP,
            "--interface",
            "eth0",
            "--host",
            &node_ip(node),
        ])
        .args(["--peers", &peers.join(",")])
        .arg("--heartbeat-key-file")
        .arg(key)
        .args(["--liveness-port", HB_PORT])
        .arg(format!("--apiserver-url=https://127.0.0.1:{API}"))
        .arg("--apiserver-ca-file")
        .arg(ca)
        .args(["--log-level", "info", "--log-format", "text"])
        .args(extra)
        .env_remove("KUBECONFIG")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting ferrolb-speaker control-plane")?;
    Ok(Proc(child))
}

/// Removes the VIP from every node's `eth0`: a holder killed by SIGKILL (a speaker or
/// keepalived) leaves it behind, and the kernel would answer ARP for it next to the next holder.
pub fn clear_vip(rig: &Rig) -> Result<()> {
    for node in rig.node_names() {
        let to = format!("{VIP}/32");
        rig.netns_exec(
            &rig.node_ns(&node),
            &["ip", "addr", "flush", "dev", "eth0", "to", &to],
        )?;
    }
    Ok(())
}

/// Starts the first three nodes: API server relay + speaker with `extra` flags.
pub fn start_speaker_nodes(rig: &Rig, extra: &[&str]) -> Result<Vec<CpNode>> {
    clear_vip(rig)?;
    let key = rig.run_dir.join("cp-vip.key");
    std::fs::write(&key, "e2e-control-plane-vip-key-0123456789\n")?;
    let mut nodes = Vec::new();
    for name in rig.node_names().into_iter().take(3) {
        nodes.push(CpNode {
            api: Some(start_api(rig, &name)?),
            holder: Holder::Speaker(start_speaker(rig, &name, &key, extra)?),
            name,
        });
    }
    Ok(nodes)
}

/// `/readyz` through the VIP from the client (the certificate names `kubernetes`).
pub fn readyz_via_vip(rig: &Rig) -> bool {
    let ca = rig.run_dir.join("pki/ca.crt");
    let ca = ca.to_string_lossy();
    let to = format!("kubernetes:{API}:{VIP}:{API}");
    let url = format!("https://kubernetes:{API}/readyz");
    let curl = [
        "curl",
        "-fsS",
        "--max-time",
        "1",
        "--cacert",
        &ca,
        "--connect-to",
        &to,
        &url,
    ];
    rig.netns_exec(&rig.client_ns(), &curl)
        .is_ok_and(|b| b.trim() == "ok")
}

/// Waits (bounded by `limit`) until `/readyz` answers through the VIP; returns how long it took.
pub fn wait_readyz(rig: &Rig, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if readyz_via_vip(rig) {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("/readyz through the VIP did not answer within {limit:?}")
}

/// The node whose MAC answers ARP for the VIP (exactly one must).
pub fn owner(rig: &Rig, nodes: &[CpNode]) -> Result<String> {
    let macs = rig.arp_who_has(VIP, 3)?;
    ensure!(
        macs.len() == 1,
        "ARP for the VIP: expected one MAC, got {macs:?}"
    );
    for n in nodes {
        if rig.node_mac(&n.name)? == macs[0] {
            return Ok(n.name.clone());
        }
    }
    bail!("the VIP's MAC {} is no node's", macs[0])
}

/// Waits (bounded) until exactly one MAC answers ARP for the VIP.
pub fn wait_owner(rig: &Rig, nodes: &[CpNode], limit: Duration) -> Result<String> {
    let start = Instant::now();
    loop {
        match owner(rig, nodes) {
            Ok(o) => return Ok(o),
            Err(e) if start.elapsed() > limit => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Carrier off on `node`'s bridge port in the LAN netns (the node's `eth0` loses its link but
/// keeps its addresses and routes); restored on drop.
pub struct LinkDown {
    lan: String,
    port: String,
}

impl LinkDown {
    /// Cuts `node`'s link until the returned guard is dropped.
    pub fn cut(rig: &Rig, node: &str) -> Result<Self> {
        let port = crate::failover::bridge_port(node)?;
        let lan = crate::instance_ns("lan");
        rig.netns_exec(&lan, &["ip", "link", "set", &port, "down"])?;
        Ok(LinkDown { lan, port })
    }
}

impl Drop for LinkDown {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.lan, "ip", "link", "set", &self.port, "up",
            ])
            .status();
    }
}

/// keepalived's VRRP, as users configure it in front of their API servers (the reference of
/// issue 20): one `vrrp_instance` holding the VIP on `eth0`, no health check (the HA guide's
/// keepalived moves the VIP when its node dies, HAProxy handles a dead API server).
#[derive(Clone, Copy, Debug)]
pub enum Vrrp {
    /// The guide's configuration: VRRPv2, `advert_int 1`, PASS authentication, priorities
    /// 200 / 150 / 100 (the guide's 200 vs 100 plus a third node).
    GuideV2,
    /// Tuned: VRRPv3 with `advert_int 0.1` (v3 has no authentication).
    TunedV3,
}

impl Vrrp {
    /// keepalived.conf for the `i`th node (0-based; node 0 has the highest priority).
    pub fn config(self, node: &str, i: usize) -> String {
        let prio = 200usize.saturating_sub(50 * i).max(1);
        let state = if i == 0 { "MASTER" } else { "BACKUP" };
        let (version, advert, auth) = match self {
            Vrrp::GuideV2 => (
                2,
                "1",
                "  authentication {\n    auth_type PASS\n    auth_pass 42\n  }\n",
            ),
            Vrrp::TunedV3 => (3, "0.1", ""),
        };
        format!(
            "global_defs {{\n  router_id {node}\n  vrrp_version {version}\n}}\n\
             vrrp_instance VI_1 {{\n  state {state}\n  interface eth0\n  virtual_router_id 51\n  \
             priority {prio}\n  advert_int {advert}\n{auth}  virtual_ipaddress {{\n    {VIP}/16 dev eth0\n  }}\n}}\n"
        )
    }
}

/// `keepalived --vrrp` in the foreground in `node`'s netns with `vrrp`'s configuration for the
/// `i`th node; its config and pid files under the rig's run dir (one set per node, so three
/// keepalived processes on one host do not see each other's pid files).
pub fn start_keepalived(rig: &Rig, node: &str, i: usize, vrrp: Vrrp) -> Result<Keepalived> {
    let dir = rig.run_dir.join(format!("keepalived-{node}"));
    std::fs::create_dir_all(&dir)?;
    let conf = dir.join("keepalived.conf");
    std::fs::write(&conf, vrrp.config(node, i))?;
    let log = rig.log_file(&format!("cp-vip-keepalived-{node}"))?;
    let child = Command::new("ip")
        .args(["netns", "exec", &rig.node_ns(node), "keepalived"])
        .args(["--dont-fork", "--log-console", "--log-detail", "--vrrp"])
        .arg("--use-file")
        .arg(&conf)
        .arg("--pid")
        .arg(dir.join("keepalived.pid"))
        .arg("--vrrp_pid")
        .arg(dir.join("vrrp.pid"))
        .arg("--checkers_pid")
        .arg(dir.join("checkers.pid"))
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting keepalived (Debian package keepalived; e2e/run.sh installs it)")?;
    Ok(Keepalived {
        proc: Proc(child),
        dir,
    })
}

/// A running keepalived: stopped on drop by SIGTERM (it takes its VRRP child down and gives the
/// VIP up); if it has not exited within 3 s, its VRRP child (pid file) and it get SIGKILL.
pub struct Keepalived {
    proc: Proc,
    dir: PathBuf,
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        let pid = self.proc.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if matches!(self.proc.0.try_wait(), Ok(Some(_))) {
                return; // a clean exit took the VRRP child down with it
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Stuck: the parent goes with `Proc`'s SIGKILL; the child it forked is ours too.
        if let Ok(child) = std::fs::read_to_string(self.dir.join("vrrp.pid")) {
            let _ = Command::new("kill")
                .args(["-KILL", child.trim()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Starts the first three nodes: API server relay + keepalived with `vrrp`.
pub fn start_keepalived_nodes(rig: &Rig, vrrp: Vrrp) -> Result<Vec<CpNode>> {
    clear_vip(rig)?;
    let mut nodes = Vec::new();
    for (i, name) in rig.node_names().into_iter().take(3).enumerate() {
        nodes.push(CpNode {
            api: Some(start_api(rig, &name)?),
            holder: Holder::Keepalived(start_keepalived(rig, &name, i, vrrp)?),
            name,
        });
    }
    Ok(nodes)
}
