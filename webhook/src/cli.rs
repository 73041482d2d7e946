//! The `ferrolb-webhook` command: flags ([`Args`]) and the server ([`run`]). Both the
//! `ferrolb-webhook` binary (development, e2e) and the multi-call `ferrolb-operator webhook`
//! (the operator image, as MetalLB's controller binary hosts its webhooks) call [`main`], so the
//! two run exactly the same code with the same flags.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use clap::{CommandFactory, FromArgMatches, Parser};
use ferrolb_api::duration::flag;
use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_kube::{cache, http};
use ferrolb_validate::Options;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::{Api, Client};

use crate::Error;
use crate::certs::CertSettings;
use crate::handlers::{AppState, probes_router, router};
use crate::rotation::{Rotator, Targets, watch_files};
use crate::secret::Served;
use crate::source::StoreSource;

/// ferrolb's validating and conversion webhook. Flags keep MetalLB's controller names where
/// MetalLB has them (§5.1 of the reference).
#[derive(Debug, Parser)]
#[command(
    name = "ferrolb-webhook",
    version,
    about = "ferrolb's validating and conversion webhook",
    long_about = None
)]
pub struct Args {
    /// ferrolb's namespace (where configuration objects must live).
    #[arg(long, env = "METALLB_NAMESPACE", default_value = "metallb-system")]
    pub namespace: String,
    /// Address to serve HTTPS on.
    #[arg(long, default_value = "0.0.0.0:9443")]
    pub listen: SocketAddr,
    /// Plain-HTTP port for /healthz and /readyz (0 disables).
    #[arg(long, default_value_t = 17472)]
    pub health_probe_port: u16,
    /// Use the certificates in --cert-dir (e.g. from cert-manager) instead of managing them.
    #[arg(long)]
    pub disable_cert_rotation: bool,
    /// Directory with tls.crt and tls.key (external certificates).
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs")]
    pub cert_dir: PathBuf,
    /// Service name in the serving certificate (`<name>.<namespace>.svc`).
    #[arg(long, default_value = "metallb-webhook-service")]
    pub cert_service_name: String,
    /// Secret holding the managed certificates.
    #[arg(long, default_value = "metallb-webhook-cert")]
    pub webhook_secret: String,
    /// ValidatingWebhookConfiguration to inject the CA bundle into.
    #[arg(long, default_value = "metallb-webhook-configuration")]
    pub webhook_configuration: String,
    /// Extra DNS names or IPs for the serving certificate (repeatable).
    #[arg(long)]
    pub extra_san: Vec<String>,
    /// Serving certificate lifetime, seconds.
    #[arg(long, default_value_t = 365 * 24 * 3600)]
    pub cert_validity_secs: u64,
    /// CA lifetime, seconds.
    #[arg(long, default_value_t = 3650 * 24 * 3600)]
    pub ca_validity_secs: u64,
    /// Renew when less than this many seconds are left.
    #[arg(long, default_value_t = 90 * 24 * 3600)]
    pub renew_before_secs: u64,
    /// How often to check the certificates, seconds.
    #[arg(long, default_value_t = 3600)]
    pub check_interval_secs: u64,
    /// Replace the certificates of a --webhook-secret that is not ferrolb's (cert-manager's, a
    /// MetalLB cert-controller's). Without it such a Secret is served as it is, never written.
    #[arg(long)]
    pub cert_takeover: bool,
    /// After SIGTERM, keep serving this many seconds with `/readyz` failing before draining:
    /// the API server (and kube-proxy) pick webhook endpoints from EndpointSlices, which learn
    /// of the Pod's deletion a little after the kubelet sends SIGTERM. 0 drains at once. The
    /// delay plus the 4 s drain must fit in the Pod's `terminationGracePeriodSeconds` (10).
    #[arg(long, default_value_t = 5)]
    pub shutdown_delay_secs: u64,
    /// `--log-level` and `--log-format` (the same in every binary).
    #[command(flatten)]
    pub log: ferrolb_kube::logging::LogArgs,
}

impl Args {
    /// Parses `args` (the first item is the program name, as in `std::env::args_os`), showing
    /// `bin_name` in usage and `--help` (e.g. `ferrolb-operator webhook`). Exits the process
    /// on `--help`, `--version` or a usage error, as clap does.
    pub fn parse_as<I, T>(bin_name: &str, args: I) -> Args
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = Args::command().bin_name(bin_name.to_owned());
        let matches = cmd.clone().get_matches_from(args);
        let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let Err(e) = args.check() {
            cmd.error(clap::error::ErrorKind::ArgumentConflict, e)
                .exit();
        }
        args
    }

    /// Bounds of the port and certificate flags, and their relations; the message names the
    /// flags (see `ferrolb_api::duration::flag`).
    pub fn check(&self) -> Result<(), String> {
        const HOUR: u64 = 3600;
        const CENTURY: u64 = 100 * 365 * 24 * HOUR;
        const MIN_CERT_VALIDITY: u64 = 10;
        if self.listen.port() == 0 {
            return Err(format!(
                "--listen {}: port 0 is not usable (the API server could not reach it)",
                self.listen
            ));
        }
        flag::distinct_ports(
            ("--listen", self.listen.port()),
            ("--health-probe-port", self.health_probe_port),
        )?;
        let in_range = |name: &str, v: u64, min: u64, max: u64| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "{name} {v}: must be between {min} and {max} seconds"
                ))
            }
        };
        // Lifetimes as short as 10 s are allowed: they exercise rotation (the e2e rig renews a
        // 20 s certificate every 10 s); `--renew-before-secs` below keeps them coherent.
        in_range(
            "--cert-validity-secs",
            self.cert_validity_secs,
            MIN_CERT_VALIDITY,
            CENTURY,
        )?;
        in_range("--ca-validity-secs", self.ca_validity_secs, HOUR, CENTURY)?;
        in_range(
            "--check-interval-secs",
            self.check_interval_secs,
            1,
            24 * HOUR,
        )?;
        in_range("--shutdown-delay-secs", self.shutdown_delay_secs, 0, 60)?;
        if self.ca_validity_secs < self.cert_validity_secs {
            return Err(format!(
                "--ca-validity-secs ({}) must not be shorter than --cert-validity-secs ({})",
                self.ca_validity_secs, self.cert_validity_secs
            ));
        }
        if self.renew_before_secs >= self.cert_validity_secs
            || self.renew_before_secs < self.check_interval_secs
        {
            return Err(format!(
                "--renew-before-secs ({}) must be shorter than --cert-validity-secs ({}) and at least --check-interval-secs ({})",
                self.renew_before_secs, self.cert_validity_secs, self.check_interval_secs
            ));
        }
        Ok(())
    }
}

/// The whole command: parses `args` (see [`Args::parse_as`]), installs the tracing subscriber
/// (`--log-level`, `--log-format`, OpenTelemetry traces: `ferrolb_kube::logging`) and the rustls crypto provider
/// (ring), and serves on a multi-threaded tokio runtime until the server fails.
pub fn main<I, T>(bin_name: &str, args: I) -> Result<(), Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse_as(bin_name, args);
    // Traces (OTEL_* variables): flushed when `_traces` drops, after the runtime has stopped.
    let _traces = match args.log.init(ferrolb_kube::telemetry::WEBHOOK) {
        Ok(t) => t,
        Err(e) => Args::command()
            .bin_name(bin_name.to_owned())
            .error(clap::error::ErrorKind::InvalidValue, e)
            .exit(),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io_err("start the tokio runtime"))?
        .block_on(run(args))
}

fn io_err(action: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        action: action.to_owned(),
        source,
    }
}

fn kube_err(action: &str) -> impl FnOnce(kube::Error) -> Error + '_ {
    move |source| Error::Kube {
        action: action.to_owned(),
        source,
    }
}

/// Caches of the configuration kinds (in ferrolb's namespace only, as MetalLB's cache), the
/// Nodes and the Services.
fn stores(client: &Client, ns: &str) -> StoreSource {
    StoreSource {
        pools: cache(Api::<IPAddressPool>::namespaced(client.clone(), ns)),
        peers: cache(Api::<BGPPeer>::namespaced(client.clone(), ns)),
        bgp_advertisements: cache(Api::<BGPAdvertisement>::namespaced(client.clone(), ns)),
        l2_advertisements: cache(Api::<L2Advertisement>::namespaced(client.clone(), ns)),
        communities: cache(Api::<Community>::namespaced(client.clone(), ns)),
        bfd_profiles: cache(Api::<BFDProfile>::namespaced(client.clone(), ns)),
        nodes: cache(Api::<Node>::all(client.clone())),
        services: cache(Api::<Service>::all(client.clone())),
    }
}

/// Sets `ready` once every cache has listed its objects.
async fn ready_when_synced(source: StoreSource, ready: Arc<AtomicBool>) {
    let _ = tokio::join!(
        source.pools.wait_until_ready(),
        source.peers.wait_until_ready(),
        source.bgp_advertisements.wait_until_ready(),
        source.l2_advertisements.wait_until_ready(),
        source.communities.wait_until_ready(),
        source.bfd_profiles.wait_until_ready(),
        source.nodes.wait_until_ready(),
        source.services.wait_until_ready(),
    );
    ready.store(true, Ordering::Relaxed);
    tracing::info!("stores synced; ready");
}

/// The serving certificate: from `--cert-dir` (reloaded when the files change), or managed
/// (created, injected into the webhook configuration and the BGPPeer CRD, rotated).
async fn serving_tls(args: &Args, client: &Client) -> Result<RustlsConfig, Error> {
    if args.disable_cert_rotation {
        let tls = RustlsConfig::from_pem_file(
            args.cert_dir.join("tls.crt"),
            args.cert_dir.join("tls.key"),
        )
        .await
        .map_err(|source| Error::Io {
            action: format!("load certificates from {}", args.cert_dir.display()),
            source,
        })?;
        tokio::spawn(watch_files(
            tls.clone(),
            args.cert_dir.clone(),
            Duration::from_secs(30),
        ));
        return Ok(tls);
    }
    let mut settings = CertSettings::for_service(&args.cert_service_name, &args.namespace);
    settings.names.extend(args.extra_san.iter().cloned());
    settings.cert_validity = Duration::from_secs(args.cert_validity_secs);
    settings.ca_validity = Duration::from_secs(args.ca_validity_secs);
    settings.renew_before = Duration::from_secs(args.renew_before_secs);
    let rotator = Rotator {
        client: client.clone(),
        settings,
        targets: Targets {
            namespace: args.namespace.clone(),
            secret: args.webhook_secret.clone(),
            webhook_configuration: args.webhook_configuration.clone(),
            conversion_crd: "bgppeers.metallb.io".into(),
        },
        takeover: args.cert_takeover,
    };
    let served = first_certificate(&rotator).await?;
    rotator.inject(&served).await?;
    let tls = RustlsConfig::from_pem(
        served.cert.clone().into_bytes(),
        served.key.clone().into_bytes(),
    )
    .await
    .map_err(io_err("load the serving certificate"))?;
    let interval = Duration::from_secs(args.check_interval_secs);
    tokio::spawn(rotator.run(tls.clone(), served, interval));
    Ok(tls)
}

/// The first certificate to serve, waiting while a foreign Secret has none yet (e.g.
/// cert-manager still issuing it).
async fn first_certificate(rotator: &Rotator) -> Result<Served, Error> {
    loop {
        match rotator.ensure().await {
            Err(e @ Error::SecretNotReady { .. }) => {
                tracing::info!(error = %e, "waiting for the certificate Secret");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok(served) => {
                if let Some(why) = &served.foreign {
                    tracing::info!(
                        secret = %rotator.targets.secret,
                        "serving the certificate Secret as it is: it {why}; ferrolb does not \
                         write it (--cert-takeover would)"
                    );
                }
                return Ok(served);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Serves the webhooks with `args` until SIGTERM/SIGINT (connections drained) or the HTTPS
/// server fails: reflector stores of the
/// configuration, certificates (managed, or from `--cert-dir`), `/healthz` and `/readyz`.
pub async fn run(args: Args) -> Result<(), Error> {
    let client = Client::try_default()
        .await
        .map_err(kube_err("build the Kubernetes client"))?;
    let source = stores(&client, &args.namespace);
    let state = AppState::new(
        Arc::new(source.clone()),
        Options {
            namespace: Some(args.namespace.clone()),
        },
    );
    state.ready.store(false, Ordering::Relaxed);
    let tls = serving_tls(&args, &client).await?;
    tokio::spawn(ready_when_synced(source, state.ready.clone()));
    let probe_addr = SocketAddr::new(args.listen.ip(), args.health_probe_port);
    let probes = http::bind(probe_addr.ip(), probe_addr.port())
        .await
        .map_err(|source| Error::Io {
            action: format!("bind {probe_addr}"),
            source,
        })?;
    if let Some(listener) = probes {
        tokio::spawn(http::serve_on(
            listener,
            probes_router(&state),
            "health probes",
        ));
    }
    tracing::info!(listen = %args.listen, "serving webhooks");
    // SIGTERM: not ready at once, but keep accepting for --shutdown-delay-secs (the API server
    // may still pick this endpoint until its EndpointSlice view has the Pod's deletion: a
    // request refused then would fail the user's apply); then stop accepting, let the requests
    // in flight finish (up to SHUTDOWN_GRACE) and return, so `main` drops the trace exporter
    // and flushes the last spans.
    let handle = axum_server::Handle::new();
    let stop = handle.clone();
    let ready = state.ready.clone();
    let draining = Arc::new(AtomicBool::new(false));
    let stopping = draining.clone();
    let delay = Duration::from_secs(args.shutdown_delay_secs);
    tokio::spawn(async move {
        ferrolb_kube::signal::shutdown().await;
        ready.store(false, Ordering::Relaxed);
        stopping.store(true, Ordering::Relaxed);
        tracing::info!(
            delay_secs = delay.as_secs(),
            "stopping: not ready; serving until the endpoint is gone"
        );
        tokio::time::sleep(delay).await;
        tracing::info!("shutting down: draining the webhook connections");
        stop.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    // The shared listener limits (header-read/idle timeout, connection cap): the gate runs
    // before the TLS handshake, so a refused connection costs no handshake.
    let limits = http::Limits::DEFAULT;
    let acceptor = RustlsAcceptor::new(tls).acceptor(http::Gate::new(&limits, "webhooks"));
    limits
        .apply(axum_server::bind(args.listen).acceptor(acceptor))
        .handle(handle)
        .serve(close_connections_while(draining, router(state)).into_make_service())
        .await
        .map_err(io_err("serve the webhooks"))?;
    tracing::info!("webhook stopped");
    Ok(())
}

/// While `draining`, every response closes its HTTP/1.1 connection (`Connection: close`; HTTP/2
/// drops the header, the drain's GOAWAY does that job). The API server dials again for its next
/// request, and the dial resolves the Service to an endpoint that is still ready — instead of
/// reusing a keep-alive connection to this replica that the drain would close under a request
/// already on the wire: such a POST is not retried, and the user's apply fails with `EOF`
/// (seen on the rig without this: 1 of 300 applies during 16 restarts).
fn close_connections_while(draining: Arc<AtomicBool>, app: axum::Router) -> axum::Router {
    app.layer(axum::middleware::map_response(
        move |mut res: axum::response::Response| {
            let draining = draining.load(Ordering::Relaxed);
            async move {
                if draining {
                    res.headers_mut().insert(
                        axum::http::header::CONNECTION,
                        axum::http::HeaderValue::from_static("close"),
                    );
                }
                res
            }
        },
    ))
}

/// How long a stopping webhook lets its requests in flight finish once it stops accepting
/// (admission requests take milliseconds); with the default `--shutdown-delay-secs` (5) the
/// webhook exits within the chart's `terminationGracePeriodSeconds` (10).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metallb_flags_with_defaults() {
        let a = Args::parse_as(
            "ferrolb-operator webhook",
            [
                "ferrolb-operator",
                "--namespace=lb",
                "--extra-san",
                "127.0.0.1",
            ],
        );
        assert_eq!(a.namespace, "lb");
        assert_eq!(a.extra_san, ["127.0.0.1"]);
        assert_eq!(a.listen, "0.0.0.0:9443".parse::<SocketAddr>().unwrap());
        assert_eq!(a.cert_service_name, "metallb-webhook-service");
        assert_eq!(a.webhook_secret, "metallb-webhook-cert");
        assert!(!a.disable_cert_rotation);
        assert!(
            !a.cert_takeover,
            "a foreign Secret is never taken over by default"
        );
    }

    fn check(flags: &[&str]) -> Result<(), String> {
        let argv = std::iter::once("ferrolb-webhook").chain(flags.iter().copied());
        let matches = Args::command().try_get_matches_from(argv).unwrap();
        Args::from_arg_matches(&matches).unwrap().check()
    }

    #[test]
    fn absurd_port_and_certificate_flags_are_errors_naming_the_flag() {
        assert_eq!(check(&[]), Ok(()));
        // the e2e rotation settings: a 20 s certificate renewed 10 s before expiry
        assert_eq!(
            check(&[
                "--cert-validity-secs",
                "20",
                "--renew-before-secs",
                "10",
                "--check-interval-secs",
                "2"
            ]),
            Ok(())
        );
        let cases: [(&[&str], &str); 8] = [
            (&["--listen", "0.0.0.0:0"], "--listen"),
            (&["--listen", "0.0.0.0:17472"], "--health-probe-port"),
            (&["--cert-validity-secs", "9"], "--cert-validity-secs"),
            (
                &["--ca-validity-secs", "18446744073709551615"],
                "--ca-validity-secs",
            ),
            (&["--check-interval-secs", "0"], "--check-interval-secs"),
            (&["--shutdown-delay-secs", "61"], "--shutdown-delay-secs"),
            (
                &[
                    "--ca-validity-secs",
                    "7200",
                    "--cert-validity-secs",
                    "86400",
                    "--renew-before-secs",
                    "3600",
                ],
                "--ca-validity-secs",
            ),
            (
                &["--renew-before-secs", "999999999999"],
                "--renew-before-secs",
            ),
        ];
        for (flags, named) in cases {
            let e = check(flags).unwrap_err();
            assert!(e.contains(named), "{flags:?}: {e}");
        }
        assert_eq!(
            check(&["--health-probe-port", "0"]),
            Ok(()),
            "0 disables the probes"
        );
    }

    #[test]
    fn usage_names_the_calling_command() {
        let mut cmd = Args::command().bin_name("ferrolb-operator webhook");
        let usage = cmd.render_usage().to_string();
        assert!(usage.contains("ferrolb-operator webhook"), "{usage}");
    }
}
