//! `ferrolb-speaker`: MetalLB's speaker in Layer 2 mode (ARP/NDP), with sub-second failover,
//! and in BGP mode (a native BGP speaker, [`bgp`]); `--enable-l2` / `--enable-bgp`
//! (`FERROLB_ENABLE_L2` / `FERROLB_ENABLE_BGP`, set by the Helm chart's `l2.enabled` /
//! `bgp.enabled`) switch each mode on or off (both on by default). A disabled mode watches
//! nothing of its own and opens no socket.
//!
//! Flags and environment follow MetalLB's speaker (`metallb-api.md` §5.2): `--node-name`
//! (`METALLB_NODE_NAME`, also `NODE_NAME`), `--namespace` (`METALLB_NAMESPACE`), `--lb-class`,
//! `--host` (`METALLB_HOST`, the node IP: heartbeats bind to it), `--ignore-exclude-lb`,
//! `--log-level`. Liveness replaces memberlist (see `ferrolb_l2::liveness`): authenticated UDP
//! heartbeats on `--liveness-port` between the node IPs of every Node object (InternalIP of the
//! same family as `--host`), keyed with the `secretkey` of the Secret `--ml-secret-name`
//! (default `metallb-memberlist`, the Helm chart's name) in the namespace; an optional
//! `previous-secretkey` is also accepted (key rotation, see [`secret`]). A peer is bound to the
//! source address of its heartbeats, and `--max-incarnation-ahead` (default `86400s`, one day; `0s` disables)
//! refuses incarnations from the future (`ferrolb_l2::liveness`).
//!
//! Heartbeats go to the node IPs of every Node object; a Node whose speaker is not running
//! simply never becomes a live member, so it is never a candidate (MetalLB with memberlist
//! behaves the same). Liveness does not depend on the API server: while it is unreachable the
//! reflectors keep the last listed objects, the heartbeats keep flowing, and failover keeps
//! working on that last good state.
//!
//! Partitions: with `--quorum disabled` (default, MetalLB behaviour) each side of a partition
//! elects among the speakers it still hears, so an IP can be announced on both sides (but only
//! the side reachable by the client matters on a single L2 segment). With `--quorum majority`
//! a speaker that hears at most half of the expected speakers releases everything: at most one
//! side announces, at the price of no announcement anywhere without a majority (and no
//! failover with two speakers). The expected speakers are the nodes running a speaker Pod
//! selected by `--ml-labels` (`METALLB_ML_LABELS`, default `app=metallb,component=speaker`, the
//! labels of ferrolb's DaemonSet) in `--namespace`, as MetalLB's memberlist learns its members;
//! a node without a speaker (e.g. a control plane the DaemonSet does not tolerate) does not
//! count. When no selected Pod is on this node, or `--ml-labels` is empty, every Node counts
//! (never fewer): see `plan::speakers`. See `ferrolb_l2::liveness`.
//!
//! Timers (Go durations; each flag's bounds are checked at startup, see
//! `ferrolb_api::duration::flag`): `--heartbeat-interval` (100 ms, 1 ms–1 min) and
//! `--dead-after` (600 ms, above the interval, at most 1 h) give ≈0.6 s crash failover; e.g.
//! 50 ms / 250 ms gives ≈0.25–0.3 s on a quiet LAN (more UDP, less slack for a loaded node). A
//! graceful stop (SIGTERM) sends `leaving` heartbeats and keeps answering for `--leave-grace`
//! (at most 10 min) while the new owner takes over, so there is no gap.
//!
//! Privileges: raw packet sockets need `CAP_NET_RAW`; `CAP_SYS_NICE` (optional, given by the
//! manifests in BGP mode) lets the BFD thread raise its priority; nothing else (no
//! `CAP_NET_ADMIN`: multicast joins go through an ordinary IPv6 socket).
//!
//! Control-plane mode: `ferrolb-speaker control-plane --vip ... --peers ...` (see [`cp`] and
//! docs/control-plane-vip.md) holds the kube-apiserver's virtual IP among the control-plane
//! nodes with the same heartbeats, election and ARP/NDP answering, gated by the local API
//! server's `/readyz`; it creates no Kubernetes client. `--print-static-pod` prints its
//! static Pod manifest.
//!
//! Observability: MetalLB's speaker metrics on `--port` (7472, plain HTTP like MetalLB ≤ v0.15;
//! see [`metrics`]) and `/healthz` + `/readyz` on `--health-probe-port` (17472).
//!
//! Structure: [`watch`] (reflectors → [`plan::Plan`] in one debounced pass loop,
//! `ferrolb_kube::passes`; pure conversion in [`plan`], the local decision in
//! [`plan::decide`]), [`l2io`] (sockets around the sans-IO `ferrolb_l2::L2Node`), [`status`]
//! (ServiceL2Status, ConfigurationState via `ferrolb_kube::status`, events), [`metrics`] (the
//! one set of counters), [`bgp`] (one task per BGP session around the sans-IO
//! `ferrolb_bgp::fsm`, publishing a [`bgp_report::BgpReport`]). The speaker only announces an
//! IP that lies in a pool (see [`plan`]). SIGTERM/SIGINT start a make-before-break handover
//! (Layer 2) and stop the BGP sessions (see [`bgp`]): on a node being drained or shut down
//! (cordoned, drain taints, `Ready=False`) or with `--drain-on-stop` (`FERROLB_DRAIN_ON_STOP`)
//! every route is withdrawn, the sessions stay up `--drain-delay` (`FERROLB_DRAIN_DELAY`,
//! default 1s, at most 5m) for the routers to converge, then Cease; otherwise a session with
//! graceful restart negotiated (`enableGracefulRestart`) is closed without a NOTIFICATION so the
//! routers keep its routes while the speaker restarts (RFC 4724), and any other sends Cease. The
//! DaemonSet's `terminationGracePeriodSeconds` must exceed the drain delay plus 2 s.

mod bfd;
mod bgp;
mod bgp_report;
mod cp;
mod l2io;
mod metrics;
mod plan;
mod secret;
mod slim;
mod status;
mod watch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{CommandFactory, Parser, ValueEnum};
use ferrolb_api::duration::flag::{self, Bounds};
use ferrolb_l2::liveness::{LivenessConfig, QuorumPolicy};
use ferrolb_l2::owner::GarpSchedule;
use kube::Client;

/// Split-brain policy.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Quorum {
    /// Announce whatever the local view says (MetalLB behaviour).
    Disabled,
    /// Release everything unless a majority of the speakers (nodes running a speaker Pod) are
    /// visible.
    Majority,
}

const MS: Duration = Duration::from_millis(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// `--heartbeat-interval`: a zero interval would be a busy loop.
const HEARTBEAT_INTERVAL: Bounds = Bounds::new(MS, MINUTE);
/// `--dead-after` (and above the interval, checked in [`Args::check`]).
const DEAD_AFTER: Bounds = Bounds::new(MS, HOUR);
/// `--leave-grace`: a terminating Pod is killed after its grace period anyway.
const LEAVE_GRACE: Bounds = Bounds::new(Duration::ZERO, Duration::from_secs(600));
/// `--max-incarnation-ahead` (`0s` disables the check).
const INCARNATION_AHEAD: Bounds = Bounds::new(Duration::from_secs(1), flag::MAX).or_zero();
/// `--drain-delay`: a drained session waits this long after its withdrawals; the Pod's
/// termination grace period must cover it.
const DRAIN_DELAY: Bounds = Bounds::new(Duration::ZERO, Duration::from_secs(300));
/// `--debounce`.
const DEBOUNCE: Bounds = Bounds::new(Duration::ZERO, Duration::from_secs(10));

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(
    name = "ferrolb-speaker",
    version,
    about = "ferrolb speaker: Layer 2 (ARP/NDP) and BGP announcements of LoadBalancer IPs",
    after_help = "Control-plane VIP mode (no API server needed): ferrolb-speaker control-plane --help"
)]
struct Args {
    /// Name of the Node this speaker runs on (falls back to $NODE_NAME).
    #[arg(long = "node-name", env = "METALLB_NODE_NAME")]
    node_name: Option<String>,
    /// Namespace ferrolb's configuration lives in.
    #[arg(long, env = "METALLB_NAMESPACE", default_value = ferrolb_api::names::DEFAULT_NAMESPACE)]
    namespace: String,
    /// Handle only Services with this spec.loadBalancerClass (default: Services without a class).
    #[arg(long = "lb-class", env = "METALLB_LB_CLASS")]
    lb_class: Option<String>,
    /// The node's IP: heartbeats are bound to it (default: all addresses, IPv4 peers).
    #[arg(long, env = "METALLB_HOST")]
    host: Option<IpAddr>,
    /// Ignore the node.kubernetes.io/exclude-from-external-load-balancers label.
    #[arg(long = "ignore-exclude-lb")]
    ignore_exclude_lb: bool,
    /// `--log-level` and `--log-format` (the same in every binary).
    #[command(flatten)]
    log: ferrolb_kube::logging::LogArgs,
    /// MetalLB's interface exclusion file (ConfigMap `metallb-excludel2` mounted at
    /// /etc/metallb): interfaces never given ARP/NDP responders; without it MetalLB's defaults.
    #[arg(
        long = "excludel2-file",
        env = "FERROLB_EXCLUDEL2_FILE",
        default_value = "/etc/metallb/excludel2.yaml"
    )]
    excludel2_file: std::path::PathBuf,
    /// UDP port of the speaker heartbeats.
    #[arg(
        long = "liveness-port",
        env = "FERROLB_LIVENESS_PORT",
        default_value = "7947",
        value_parser = flag::nonzero_port
    )]
    liveness_port: u16,
    /// Heartbeat interval (1ms to 1m).
    #[arg(long = "heartbeat-interval", env = "FERROLB_HEARTBEAT_INTERVAL", default_value = "100ms", value_parser = HEARTBEAT_INTERVAL.parser())]
    heartbeat_interval: Duration,
    /// Silence after which a speaker is dead (must exceed the interval; at most 1h).
    #[arg(long = "dead-after", env = "FERROLB_DEAD_AFTER", default_value = "600ms", value_parser = DEAD_AFTER.parser())]
    dead_after: Duration,
    /// Split-brain policy.
    #[arg(long, env = "FERROLB_QUORUM", value_enum, default_value = "disabled")]
    quorum: Quorum,
    /// Speaker Pods in --namespace whose nodes `--quorum majority` counts (MetalLB's
    /// memberlist label selector); empty: every Node counts.
    #[arg(
        long = "ml-labels",
        env = "METALLB_ML_LABELS",
        default_value = "app=metallb,component=speaker",
        value_parser = label_selector
    )]
    ml_labels: String,
    /// Grace period of a graceful leave (default: 2 heartbeat intervals + 100 ms; at most 10m).
    #[arg(long = "leave-grace", value_parser = LEAVE_GRACE.parser())]
    leave_grace: Option<Duration>,
    /// Secret (in --namespace) holding the shared heartbeat key under `secretkey` (and, during
    /// a key rotation, the also accepted `previous-secretkey`).
    #[arg(
        long = "ml-secret-name",
        env = "METALLB_ML_SECRET_NAME",
        default_value = "metallb-memberlist"
    )]
    ml_secret_name: String,
    /// Port of `/metrics` (MetalLB ≤ v0.15's `monitoring` port; 0 disables).
    #[arg(long, env = "METALLB_PORT", default_value_t = 7472)]
    port: u16,
    /// Port of `/healthz` and `/readyz` (0 disables).
    #[arg(long = "health-probe-port", default_value_t = 17472)]
    health_probe_port: u16,
    /// Name of this speaker's Pod, owner of its status objects (downward API `metadata.name`).
    #[arg(long = "pod-name", env = "METALLB_POD_NAME")]
    pod_name: Option<String>,
    /// UID of this speaker's Pod (downward API `metadata.uid`); both are needed for owner
    /// references.
    #[arg(long = "pod-uid", env = "METALLB_POD_UID")]
    pod_uid: Option<String>,
    /// Refuse heartbeats whose incarnation (the sender's start time) is this far ahead of our
    /// wall clock (default one day); `0s` disables the check.
    #[arg(long = "max-incarnation-ahead", env = "FERROLB_MAX_INCARNATION_AHEAD", default_value = "86400s", value_parser = INCARNATION_AHEAD.parser())]
    max_incarnation_ahead: Duration,
    /// Wait this long after a Kubernetes change before recomputing, to batch bursts (at most
    /// 10s).
    #[arg(long, default_value = "20ms", value_parser = DEBOUNCE.parser())]
    debounce: Duration,
    /// Layer 2 mode (ARP/NDP answers, heartbeats): `true` or `false`.
    #[arg(long = "enable-l2", env = "FERROLB_ENABLE_L2", default_value_t = true, action = clap::ArgAction::Set)]
    enable_l2: bool,
    /// BGP mode (sessions with the BGPPeers selecting this node): `true` or `false`.
    #[arg(long = "enable-bgp", env = "FERROLB_ENABLE_BGP", default_value_t = true, action = clap::ArgAction::Set)]
    enable_bgp: bool,
    /// Drain the BGP sessions on every stop (withdraw, wait --drain-delay, Cease), not only
    /// when the node is cordoned or shutting down; graceful restart is then never used.
    #[arg(long = "drain-on-stop", env = "FERROLB_DRAIN_ON_STOP", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    drain_on_stop: bool,
    /// How long drained BGP sessions stay up after withdrawing their routes, for the routers
    /// to converge on the other nodes (0s to 5m).
    #[arg(long = "drain-delay", env = "FERROLB_DRAIN_DELAY", default_value = "1s", value_parser = DRAIN_DELAY.parser())]
    drain_delay: Duration,
}

/// `--ml-labels`: comma-separated `key=value` (or any label-selector term); no empty term.
fn label_selector(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !s.is_empty() && s.split(',').any(|t| t.trim().is_empty()) {
        return Err(format!(
            "{s:?} has an empty term (expected e.g. app=metallb,component=speaker)"
        ));
    }
    Ok(s.to_owned())
}

impl Args {
    /// The node name: `--node-name`, else `$NODE_NAME`.
    fn node(&self) -> anyhow::Result<String> {
        let Some(node) = self
            .node_name
            .clone()
            .or_else(|| std::env::var("NODE_NAME").ok())
            .filter(|n| !n.is_empty())
        else {
            bail!("--node-name (or METALLB_NODE_NAME / NODE_NAME) is required");
        };
        Ok(node)
    }

    /// Relations between flags (each flag's own bounds are checked while parsing).
    fn check(&self) -> Result<(), String> {
        flag::after(
            ("--dead-after", self.dead_after),
            ("--heartbeat-interval", self.heartbeat_interval),
        )?;
        flag::distinct_ports(
            ("--port", self.port),
            ("--health-probe-port", self.health_probe_port),
        )
    }

    /// The speaker Pods to watch (`--quorum majority` with a non-empty `--ml-labels`).
    fn speaker_pods<'a>(&'a self, node: &'a str) -> Option<watch::SpeakerPods<'a>> {
        (matches!(self.quorum, Quorum::Majority) && !self.ml_labels.is_empty()).then_some(
            watch::SpeakerPods {
                labels: &self.ml_labels,
                node,
            },
        )
    }

    /// The L2 loop's settings.
    fn l2_config(
        &self,
        node: String,
        keys: secret::HeartbeatKeys,
        exclude: ferrolb_l2::iface::ExcludeList,
    ) -> l2io::L2Config {
        l2io::L2Config {
            node,
            bind: SocketAddr::new(
                self.host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                self.liveness_port,
            ),
            liveness: LivenessConfig {
                interval: self.heartbeat_interval,
                dead_after: self.dead_after,
                quorum: match self.quorum {
                    Quorum::Disabled => QuorumPolicy::Disabled,
                    Quorum::Majority => QuorumPolicy::Majority,
                },
                max_clock_skew: None,
            },
            secret: keys.current,
            previous_secret: keys.previous,
            max_incarnation_ahead: (!self.max_incarnation_ahead.is_zero())
                .then_some(self.max_incarnation_ahead),
            ignore_exclude_lb: self.ignore_exclude_lb,
            garp: GarpSchedule::fast(),
            leave_grace: self.leave_grace,
            exclude,
        }
    }
}

/// Starts the watches and the plan pass; returns the plan channel once the caches are synced.
async fn start_plan(
    args: &Args,
    client: &Client,
    node: &str,
) -> anyhow::Result<tokio::sync::watch::Receiver<Arc<plan::Plan>>> {
    let modes = watch::Modes {
        l2: args.enable_l2,
        bgp: args.enable_bgp,
    };
    let stores = watch::Stores::start(client, &args.namespace, modes, args.speaker_pods(node))
        .await
        .context("initial sync")?;
    let first = stores.plan(args.lb_class.as_deref(), &plan::Plan::default());
    if !first.nodes.contains_key(node) {
        tracing::warn!(%node, "no Node object with this name: nothing will be announced until it exists");
    }
    if args.speaker_pods(node).is_some() && first.speaker_nodes.is_none() {
        tracing::warn!(%node, labels = %args.ml_labels, "no speaker Pod selected by --ml-labels on this node: --quorum majority counts every Node");
    }
    let (plan_tx, plan_rx) = tokio::sync::watch::channel(Arc::new(plan::Plan::default()));
    watch::publish(&plan_tx, first);
    tokio::spawn(stores.run(args.lb_class.clone(), plan_tx, args.debounce));
    Ok(plan_rx)
}

/// Starts what follows this node's decisions: the status writer (returned, it cleans up when
/// the decisions close) and `metallb_speaker_announced`.
fn start_reports(
    args: &Args,
    client: &Client,
    node: &str,
    plan_rx: tokio::sync::watch::Receiver<Arc<plan::Plan>>,
    metrics: Arc<metrics::Metrics>,
) -> (
    tokio::sync::watch::Sender<plan::Decisions>,
    tokio::task::JoinHandle<()>,
) {
    let recorder = status::events::recorder(client.clone(), node);
    let (report_tx, report_rx) = tokio::sync::watch::channel(plan::Decisions::default());
    let writer = status::StatusWriter::new(
        client.clone(),
        args.namespace.clone(),
        node.to_owned(),
        ferrolb_kube::owner::PodOwner::new(args.pod_name.clone(), args.pod_uid.clone()),
        recorder,
        metrics.client.clone(),
    );
    // `metallb_k8s_client_config_*`: a plan was built; part of the configuration is refused.
    let mut config_rx = plan_rx.clone();
    let client_metrics = metrics.client.clone();
    tokio::spawn(async move {
        loop {
            let stale = !config_rx.borrow_and_update().errors.is_empty();
            client_metrics.config(true, stale);
            if config_rx.changed().await.is_err() {
                break;
            }
        }
    });
    let status_task = tokio::spawn(writer.run(report_rx, plan_rx));
    let mut announced_rx = report_tx.subscribe();
    let node = node.to_owned();
    tokio::spawn(async move {
        while announced_rx.changed().await.is_ok() {
            let decisions = announced_rx.borrow_and_update().clone();
            metrics.set_announced(&node, &decisions);
        }
    });
    (report_tx, status_task)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("control-plane") {
        // One thread: this mode's work is a heartbeat every 100 ms, a probe every 200 ms and
        // a few ARP replies; a worker per core would only add stacks and RSS (issue 20: the
        // mode's target is <= 10 MiB on any node, whatever its core count).
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(cp::main(std::env::args().skip(1)));
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(speaker())
}

/// The speaker DaemonSet's mode (the default).
async fn speaker() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Err(e) = args.check() {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, e)
            .exit();
    }
    // Traces (OTEL_* variables): flushed when `_traces` drops, at the end of `main`.
    let _traces = match args.log.init(ferrolb_kube::telemetry::SPEAKER) {
        Ok(t) => t,
        Err(e) => Args::command()
            .error(clap::error::ErrorKind::InvalidValue, e)
            .exit(),
    };
    let node = args.node()?;
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    tracing::info!(%node, namespace = %args.namespace, lb_class = ?args.lb_class, "starting ferrolb speaker");

    tracing::info!(
        l2 = args.enable_l2,
        bgp = args.enable_bgp,
        "announcement modes"
    );
    if !args.enable_l2 && !args.enable_bgp {
        tracing::warn!("both Layer 2 and BGP are disabled: this speaker announces nothing");
    }

    let metrics = Arc::new(metrics::Metrics::default());
    metrics
        .exporter()
        .serve(args.port, args.health_probe_port, "caches not synced yet");
    let keys = if args.enable_l2 {
        Some(secret::read(&client, &args.namespace, &args.ml_secret_name).await)
    } else {
        None
    };
    let plan_rx = start_plan(&args, &client, &node).await?;
    metrics.exporter().set_ready();
    let (report_tx, status_task) =
        start_reports(&args, &client, &node, plan_rx.clone(), metrics.clone());

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        ferrolb_kube::signal::shutdown().await;
        let _ = shutdown_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // BFD runs on its own thread (`bfd`); a failed BFD session resets its BGP session.
    let (bfd_down_tx, bfd_down_rx) = tokio::sync::mpsc::unbounded_channel();
    let bfd_thread = if args.enable_bgp {
        let cfg = bfd::BfdConfig {
            node: node.clone(),
            ports: bfd::Ports::default(),
            listen: None,
        };
        let (report, t) = bfd::spawn(
            cfg,
            plan_rx.clone(),
            metrics.clone(),
            shutdown_rx.clone(),
            bfd_down_tx,
        )?;
        Some((report, t))
    } else {
        None
    };
    let (bfd_report, bfd_thread) = bfd_thread.unzip();
    let restarted = args.enable_bgp && bgp::restart::detect(&client, &args.namespace, &node).await;
    let bgp_cfg = bgp::BgpConfig {
        node: node.clone(),
        ignore_exclude_lb: args.ignore_exclude_lb,
        drain_on_stop: args.drain_on_stop,
        drain_delay: args.drain_delay,
        restarted,
    };
    let bgp_shutdown = bgp_cfg.max_shutdown() + Duration::from_secs(1);
    let bgp = args.enable_bgp.then(|| {
        bgp::spawn(
            bgp_cfg,
            plan_rx.clone(),
            metrics.clone(),
            shutdown_rx.clone(),
            bfd_down_rx,
        )
    });
    // BGP status writers subscribe here: `bgp_report` carries every change of the sessions and
    // of the Services advertised over BGP (ServiceBGPStatus, the per-session status object,
    // nodeAssigned events are written from it, not by the runtime).
    let (bgp_report, bgp_task) = bgp.unzip();
    if let (Some(report), Some(bfd_report)) = (bgp_report, bfd_report) {
        let owner = ferrolb_kube::owner::PodOwner::new(args.pod_name.clone(), args.pod_uid.clone());
        let cfg = status::bgp::BgpStatusConfig::new(&client, &args.namespace, &node, owner);
        tokio::spawn(status::bgp::run_bgp_status(
            cfg,
            report,
            bfd_report,
            plan_rx.clone(),
        ));
    }

    match keys {
        Some(keys) => {
            let exclude = l2io::exclude::load(&args.excludel2_file)
                .context("the interface exclusion file (--excludel2-file)")?;
            let cfg = args.l2_config(node, keys, exclude);
            l2io::run(cfg, plan_rx, report_tx, stopped(shutdown_rx), metrics).await?;
        }
        None => {
            stopped(shutdown_rx).await;
            drop(report_tx);
        }
    }
    // The BGP sessions drain, close for a graceful restart or Cease (bounded in the runtime).
    if let Some(t) = bgp_task
        && tokio::time::timeout(bgp_shutdown, t).await.is_err()
    {
        tracing::warn!("BGP shutdown timed out");
    }
    // BFD said AdminDown on shutdown; the thread ends by itself (not joined: never block here).
    drop(bfd_thread);
    // The report sender is dropped: the status writer removes this node's ServiceL2Status
    // objects and exits. Do not wait long for an unreachable API server.
    if tokio::time::timeout(Duration::from_secs(3), status_task)
        .await
        .is_err()
    {
        tracing::warn!("status cleanup timed out");
    }
    Ok(())
}
