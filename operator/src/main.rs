//! `ferrolb-operator`: the controller. Watches LoadBalancer Services, IPAddressPools and
//! Namespaces, assigns IPs with the `ferrolb-core` allocator, and writes Service status, pool
//! status and its ConfigurationState — MetalLB's `controller` binary, flag for flag where it
//! matters (`--namespace`/`METALLB_NAMESPACE`, `--lb-class`, `--ml-secret-name`/`--deployment`:
//! the speakers' key Secret, [`memberlist`]).
//!
//! A multi-call binary, as MetalLB's controller hosts its webhooks: `ferrolb-operator webhook
//! [flags]` runs the admission and conversion webhook ([`ferrolb_webhook::cli`], the same code
//! and flags as the `ferrolb-webhook` binary), so the operator image ships one binary. Any other
//! command line is the controller's.

mod backoff;
mod config_status;
mod memberlist;
mod metrics;
mod migration;
mod services;

use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use ferrolb_api::duration::flag::{self, Bounds};
use ferrolb_api::v1beta1::IPAddressPool;
use ferrolb_kube::lease::{self, Elector, Timings, shell::Leadership};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client};
use tokio::sync::Notify;

/// `--debounce`: a pass waits at most this long after a change.
const DEBOUNCE: Bounds = Bounds::new(Duration::ZERO, Duration::from_secs(10));
/// The leader-election timers (their order is checked by `lease::Timings::validate`).
const LEASE: Bounds = Bounds::new(Duration::from_millis(100), Duration::from_secs(3600));

/// Command-line flags. Every timer has bounds (`ferrolb_api::duration::flag`): a bad value is
/// a usage error naming the flag, before anything starts.
#[derive(Parser, Debug)]
#[command(
    name = "ferrolb-operator",
    version,
    about = "ferrolb controller: IP address management for LoadBalancer Services",
    after_help = "The admission and conversion webhook: `ferrolb-operator webhook [FLAGS]` \
                  (see `ferrolb-operator webhook --help`)."
)]
struct Args {
    /// Namespace ferrolb's configuration lives in.
    #[arg(long, env = "METALLB_NAMESPACE", default_value = ferrolb_api::names::DEFAULT_NAMESPACE)]
    namespace: String,
    /// Handle only Services with this spec.loadBalancerClass (default: Services without a class).
    #[arg(long = "lb-class", env = "METALLB_LB_CLASS")]
    lb_class: Option<String>,
    /// Name of the legacy (MetalLB ≤ v0.12) ConfigMap to migrate, if it exists.
    #[arg(long = "config", env = "METALLB_CONFIGMAP", default_value = ferrolb_api::names::LEGACY_CONFIGMAP_NAME)]
    config: String,
    /// Create this Secret (key `secretkey`, 16 random bytes) for the speakers whenever it does
    /// not exist; never changes the key of an existing one. Unset: create nothing.
    #[arg(long = "ml-secret-name", env = "METALLB_ML_SECRET_NAME")]
    ml_secret_name: Option<String>,
    /// The controller's Deployment: an owner reference to it on the Secret of --ml-secret-name
    /// (MetalLB sets one) is removed, so replacing the Deployment keeps the speakers' key.
    #[arg(long, env = "METALLB_DEPLOYMENT")]
    deployment: Option<String>,
    /// Port of the plain-HTTP `/metrics` endpoint (0 disables).
    #[arg(long, default_value_t = 7472)]
    port: u16,
    /// Port of `/healthz` and `/readyz` (0 disables).
    #[arg(long = "health-probe-port", default_value_t = 17472)]
    health_probe_port: u16,
    /// `--log-level` and `--log-format` (the same in every binary).
    #[command(flatten)]
    log: ferrolb_kube::logging::LogArgs,
    /// Name of the controller's Pod (downward API `metadata.name`): the events' reporting
    /// instance and, with --pod-uid, the owner of ConfigurationState `controller`.
    #[arg(long = "pod-name", env = "METALLB_POD_NAME")]
    pod_name: Option<String>,
    /// UID of the controller's Pod (downward API `metadata.uid`).
    #[arg(long = "pod-uid", env = "METALLB_POD_UID")]
    pod_uid: Option<String>,
    /// Wait this long after a change before a pass, to batch bursts of events (passes only
    /// look at what changed and never wait for writes, so this can be short).
    #[arg(long, env = "FERROLB_DEBOUNCE", default_value = "5ms", value_parser = DEBOUNCE.parser())]
    debounce: Duration,
    /// Elect one leader among the controller replicas (Lease --leader-elect-lease-name in
    /// --namespace); only the leader allocates and writes. `false`: this process always writes
    /// (run exactly one).
    #[arg(long = "leader-elect", env = "FERROLB_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long = "leader-elect-lease-name", default_value = "ferrolb-controller")]
    lease_name: String,
    /// How long a Lease that is not renewed keeps the other replicas waiting.
    #[arg(long = "leader-elect-lease-duration", default_value = "15s", value_parser = LEASE.parser())]
    lease_duration: Duration,
    /// The leader stops writing when it could not renew for this long (< lease duration).
    #[arg(long = "leader-elect-renew-deadline", default_value = "10s", value_parser = LEASE.parser())]
    renew_deadline: Duration,
    /// How often replicas try to acquire or renew the Lease (< renew deadline).
    #[arg(long = "leader-elect-retry-period", default_value = "2s", value_parser = LEASE.parser())]
    retry_period: Duration,
}

impl Args {
    /// Relations between flags (each flag's own bounds are checked while parsing).
    fn check(&self) -> Result<(), String> {
        flag::distinct_ports(
            ("--port", self.port),
            ("--health-probe-port", self.health_probe_port),
        )?;
        // The order `lease::Timings::validate` checks, with the flags' names.
        flag::after(
            ("--leader-elect-lease-duration", self.lease_duration),
            ("--leader-elect-renew-deadline", self.renew_deadline),
        )?;
        flag::after(
            ("--leader-elect-renew-deadline", self.renew_deadline),
            ("--leader-elect-retry-period", self.retry_period),
        )
    }

    fn timings(&self) -> Timings {
        Timings {
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        }
    }
}

/// Starts the leader election (or not, with `--leader-elect=false`). The identity is the Pod's
/// name when given (unique among live Pods; a restarted container of the same Pod takes its
/// Lease back at once), else the host name plus a random suffix, so that two processes never
/// share one.
fn elect(client: &Client, args: &Args) -> anyhow::Result<(Leadership, Option<Election>)> {
    if !args.leader_elect {
        tracing::warn!("--leader-elect=false: writing without leader election");
        return Ok((Leadership::always(), None));
    }
    let timings = args.timings().validate()?;
    let identity = match args.pod_name.clone().filter(|n| !n.is_empty()) {
        Some(pod) => pod,
        None => {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ferrolb-controller".into());
            let mut suffix = [0u8; 4];
            getrandom::fill(&mut suffix)
                .map_err(|e| anyhow::anyhow!("random identity suffix: {e}"))?;
            format!("{host}_{:08x}", u32::from_be_bytes(suffix))
        }
    };
    tracing::info!(lease = %args.lease_name, %identity, "leader election");
    let leadership = Leadership::default();
    let election = Election {
        api: Api::namespaced(client.clone(), &args.namespace),
        name: args.lease_name.clone(),
        identity: identity.clone(),
    };
    tokio::spawn(lease::shell::run(
        election.api.clone(),
        election.name.clone(),
        Elector::new(identity, timings),
        leadership.clone(),
    ));
    Ok((leadership, Some(election)))
}

/// This process's candidacy, released on shutdown.
struct Election {
    api: Api<k8s_openapi::api::coordination::v1::Lease>,
    name: String,
    identity: String,
}

impl Election {
    /// Gives the Lease up so that a successor takes over at once (a stop, not a crash).
    async fn release(&self, leadership: &Leadership) {
        let released =
            lease::shell::release(&self.api, &self.name, &self.identity, leadership).await;
        match released {
            Ok(released) => tracing::info!(lease = %self.name, released, "leader election ended"),
            Err(e) => tracing::warn!(lease = %self.name, error = %e, "cannot release the Lease"),
        }
    }
}

/// The subcommand that runs the webhook instead of the controller.
const WEBHOOK: &str = "webhook";

fn main() -> anyhow::Result<()> {
    if std::env::args_os().nth(1).as_deref() == Some(OsStr::new(WEBHOOK)) {
        let name = format!("ferrolb-operator {WEBHOOK}");
        let argv = std::iter::once(OsString::from(&name)).chain(std::env::args_os().skip(2));
        ferrolb_webhook::cli::main(&name, argv)?;
        return Ok(());
    }
    let args = Args::parse();
    if let Err(e) = args.check() {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, e)
            .exit();
    }
    // Traces (OTEL_* variables): flushed when `_traces` drops, after the runtime has stopped.
    let _traces = match args.log.init(ferrolb_kube::telemetry::CONTROLLER) {
        Ok(t) => t,
        Err(e) => Args::command()
            .error(clap::error::ErrorKind::InvalidValue, e)
            .exit(),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(controller(args))
}

async fn controller(args: Args) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let (leadership, election) = elect(&client, &args)?;
    let reporter = Reporter {
        controller: "metallb-controller".into(),
        instance: args.pod_name.clone().filter(|n| !n.is_empty()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    tracing::info!(namespace = %args.namespace, lb_class = ?args.lb_class, "starting ferrolb controller");
    let metrics = Arc::new(metrics::Metrics::new());
    metrics
        .exporter
        .serve(args.port, args.health_probe_port, "caches not synced yet");
    let ml_secret = args.ml_secret_name.clone().filter(|n| !n.is_empty());
    match ml_secret {
        Some(name) => {
            tokio::spawn(memberlist::task::run(
                client.clone(),
                args.namespace.clone(),
                name,
                args.deployment.clone().filter(|d| !d.is_empty()),
                leadership.clone(),
            ));
        }
        None => tracing::info!("no --ml-secret-name: not creating a memberlist Secret"),
    }
    // One IPAddressPool watch for the two tasks that read pools.
    let (services_wake, config_wake) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let pools = ferrolb_kube::reflect_waking(
        Api::<IPAddressPool>::namespaced(client.clone(), &args.namespace),
        vec![services_wake.clone(), config_wake.clone()],
        |_: &mut IPAddressPool| {},
    );
    tokio::spawn(config_status::run(
        client.clone(),
        args.namespace.clone(),
        pools.clone(),
        config_wake.clone(),
        leadership.clone(),
    ));
    tokio::spawn(migration::task::run(
        client.clone(),
        args.namespace.clone(),
        args.config,
        recorder.clone(),
        leadership.clone(),
    ));
    let lead = leadership.clone();
    let wakes = [services_wake.clone(), config_wake];
    tokio::spawn(async move {
        loop {
            lead.changed().await;
            wakes.iter().for_each(|w| w.notify_one());
        }
    });
    let settings = services::Settings {
        namespace: args.namespace,
        lb_class: args.lb_class,
        recorder,
        debounce: args.debounce,
        owner: ferrolb_kube::owner::PodOwner::new(args.pod_name, args.pod_uid),
        leadership: leadership.clone(),
    };
    let result = services::run(client, settings, pools, services_wake, metrics).await;
    if let Some(election) = election {
        election.release(&leadership).await;
    }
    result
}
