//! The flags of `ferrolb-speaker control-plane` and their checks: each flag's own bounds while
//! parsing (timers from `ferrolb_api::duration::flag`, the same bounds as the L2 mode's), the
//! relations between them in [`CpArgs::check`]. A refusal is a usage error (exit code 2)
//! naming the flag (`hack/test-support/binary_flags.rs`, `speaker/tests/cp_flags.rs`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ferrolb_api::duration::flag::{self, Bounds};

use super::probe::Trust;
use crate::{DEAD_AFTER, HEARTBEAT_INTERVAL, MINUTE};

/// `--health-interval` and `--health-timeout`.
const HEALTH_TIMER: Bounds = Bounds::new(Duration::from_millis(10), MINUTE);
/// Default UDP port of the control-plane heartbeats: not the L2 mode's 7947, so a
/// control-plane node can also run the speaker DaemonSet (both use the host network).
pub const DEFAULT_PORT: &str = "7949";

/// `ferrolb-speaker control-plane`: the API server VIP (see `docs/control-plane-vip.md`).
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ferrolb-speaker control-plane",
    version,
    about = "ferrolb speaker, control-plane mode: elects the owner of the kube-apiserver VIP among \
             the control-plane nodes (no API server needed) and answers ARP/NDP for it while the \
             local kube-apiserver is ready"
)]
pub struct CpArgs {
    /// The virtual IP of the API servers (kubeadm's --control-plane-endpoint address).
    #[arg(long)]
    pub vip: IpAddr,
    /// Interface the VIP is announced (and added as a host address) on.
    #[arg(long, value_parser = interface_name)]
    pub interface: String,
    /// This node's address: heartbeats are bound to it (same family as --peers).
    #[arg(long)]
    pub host: IpAddr,
    /// The other control-plane nodes' addresses, comma-separated (this node's own is ignored).
    #[arg(long, value_delimiter = ',', num_args = 1.., required = true)]
    pub peers: Vec<IpAddr>,
    /// This node's name in the election (default: the --host address).
    #[arg(long = "node-name")]
    pub node_name: Option<String>,
    /// File holding the shared heartbeat key (at least 16 bytes; a trailing newline is
    /// ignored). The same key on every control-plane node.
    #[arg(long = "heartbeat-key-file")]
    pub heartbeat_key_file: PathBuf,
    /// UDP port of the control-plane heartbeats.
    #[arg(long = "liveness-port", default_value = DEFAULT_PORT, value_parser = flag::nonzero_port)]
    pub liveness_port: u16,
    /// Heartbeat interval (1ms to 1m).
    #[arg(long = "heartbeat-interval", default_value = "100ms", value_parser = HEARTBEAT_INTERVAL.parser())]
    pub heartbeat_interval: Duration,
    /// Silence after which a node is dead (must exceed the interval; at most 1h).
    #[arg(long = "dead-after", default_value = "600ms", value_parser = DEAD_AFTER.parser())]
    pub dead_after: Duration,
    /// The local kube-apiserver (`/readyz` is probed there over TLS).
    #[arg(long = "apiserver-url", default_value = "https://127.0.0.1:6443", value_parser = https_url)]
    pub apiserver_url: http::Uri,
    /// CA bundle (PEM) the API server's certificate is checked against (kubeadm:
    /// /etc/kubernetes/pki/ca.crt).
    #[arg(long = "apiserver-ca-file")]
    pub apiserver_ca_file: Option<PathBuf>,
    /// The name the API server's certificate must carry (kubeadm's certificates name
    /// `kubernetes`, not 127.0.0.1).
    #[arg(long = "apiserver-server-name", default_value = "kubernetes")]
    pub apiserver_server_name: String,
    /// Do not check the API server's certificate (only for a loopback --apiserver-url).
    #[arg(long = "insecure-skip-tls-verify")]
    pub insecure_skip_tls_verify: bool,
    /// Time between two `/readyz` probes (10ms to 1m).
    #[arg(long = "health-interval", default_value = "200ms", value_parser = HEALTH_TIMER.parser())]
    pub health_interval: Duration,
    /// A probe without an answer within this time failed (10ms to 1m). Generous by default: a
    /// slow API server is still serving (the others share its etcd and its load), and a dead
    /// one refuses at once; 500 ms made a loaded rig hand the VIP around (docs/control-plane-vip.md).
    #[arg(long = "health-timeout", default_value = "2s", value_parser = HEALTH_TIMER.parser())]
    pub health_timeout: Duration,
    /// Consecutive failed probes that withdraw this node from the election (1 to 100); a
    /// refused connection (nothing listens: the API server is gone) withdraws it at once.
    #[arg(long = "health-fall", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub health_fall: u32,
    /// Consecutive successful probes that make a withdrawn node a candidate again (1 to 100).
    #[arg(long = "health-rise", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub health_rise: u32,
    /// Print the static Pod manifest running this mode with these flags (for
    /// /etc/kubernetes/manifests/) and exit.
    #[arg(long = "print-static-pod")]
    pub print_static_pod: bool,
    /// Image of the static Pod (--print-static-pod).
    #[arg(long, default_value = "ghcr.io/ferrolb/speaker:v0.1.0")]
    pub image: String,
    /// `--log-level` and `--log-format` (the same in every binary).
    #[command(flatten)]
    pub log: ferrolb_kube::logging::LogArgs,
}

/// A Linux interface name (1 to 15 bytes, no `/`, whitespace or `:`).
fn interface_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    ok.then(|| s.to_owned()).ok_or_else(|| {
        format!("{s:?} is not an interface name (1 to 15 characters, no '/', ':' or spaces)")
    })
}

/// An `https://host:port` URL without a path.
fn https_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        return Err(format!("{s:?} is not an https:// URL"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "{s:?} has a path; give the server only (/readyz is added)"
        ));
    }
    Ok(uri)
}

fn is_loopback(uri: &http::Uri) -> bool {
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl CpArgs {
    /// Relations between flags.
    pub fn check(&self) -> Result<(), String> {
        flag::after(
            ("--dead-after", self.dead_after),
            ("--heartbeat-interval", self.heartbeat_interval),
        )?;
        match (&self.apiserver_ca_file, self.insecure_skip_tls_verify) {
            (Some(_), true) => {
                return Err(
                    "--apiserver-ca-file and --insecure-skip-tls-verify exclude each other".into(),
                );
            }
            (None, false) => {
                return Err(
                    "give --apiserver-ca-file (or, for a loopback --apiserver-url, \
                            --insecure-skip-tls-verify)"
                        .into(),
                );
            }
            (None, true) if !is_loopback(&self.apiserver_url) => {
                return Err(format!(
                    "--insecure-skip-tls-verify is only allowed for a loopback --apiserver-url, not {}",
                    self.apiserver_url
                ));
            }
            _ => {}
        }
        if self.vip == self.host || self.peers.contains(&self.vip) {
            return Err(format!(
                "--vip {} is a node address (--host or --peers): the VIP must be a free address",
                self.vip
            ));
        }
        if let Some(p) = self
            .peers
            .iter()
            .find(|p| p.is_ipv4() != self.host.is_ipv4())
        {
            return Err(format!(
                "--peers {p} is not of the family of --host {} (heartbeats go over one family)",
                self.host
            ));
        }
        if self.vip.is_loopback() || self.vip.is_multicast() || self.vip.is_unspecified() {
            return Err(format!("--vip {} is not a unicast address", self.vip));
        }
        if self
            .node_name
            .as_deref()
            .is_some_and(|n| n.is_empty() || n.len() > ferrolb_l2::liveness::MAX_NAME_LEN)
        {
            return Err("--node-name must be 1 to 253 characters".into());
        }
        Ok(())
    }

    /// The node name in the election.
    pub fn node(&self) -> String {
        self.node_name
            .clone()
            .unwrap_or_else(|| self.host.to_string())
    }

    /// How the API server's certificate is checked.
    pub fn trust(&self) -> Trust {
        match &self.apiserver_ca_file {
            Some(file) => Trust::Ca {
                file: file.clone(),
                server_name: self.apiserver_server_name.clone(),
            },
            None => Trust::SkipVerify,
        }
    }

    /// The other nodes (this node's own address removed, duplicates dropped).
    pub fn other_peers(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .peers
            .iter()
            .copied()
            .filter(|p| *p != self.host)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Reads the heartbeat key file: its bytes without trailing whitespace, at least
/// `ferrolb_l2::liveness::MIN_SECRET_LEN` of them.
pub fn read_key(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let mut key =
        std::fs::read(path).map_err(|e| format!("--heartbeat-key-file {}: {e}", path.display()))?;
    while key.last().is_some_and(u8::is_ascii_whitespace) {
        key.pop();
    }
    let min = ferrolb_l2::liveness::MIN_SECRET_LEN;
    if key.len() < min {
        return Err(format!(
            "--heartbeat-key-file {}: the key is shorter than {min} bytes",
            path.display()
        ));
    }
    Ok(key)
}
