//! `ferrolb-webhook`: serves MetalLB's admission and conversion webhook paths over TLS
//! (axum + rustls/ring via axum-server), with self-managed, hot-reloaded certificates or
//! externally managed ones (`--disable-cert-rotation --cert-dir …`). Flags keep MetalLB's
//! controller names where MetalLB has them (§5.1 of the reference).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use clap::Parser;
use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_validate::Options;
use ferrolb_webhook::certs::CertSettings;
use ferrolb_webhook::handlers::{AppState, health_router, router};
use ferrolb_webhook::rotation::{Rotator, Targets, watch_files};
use ferrolb_webhook::source::StoreSource;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::runtime::reflector::{self, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

/// ferrolb's validating and conversion webhook.
#[derive(Debug, Parser)]
#[command(name = "ferrolb-webhook", version)]
struct Args {
    /// ferrolb's namespace (where configuration objects must live).
    #[arg(long, env = "METALLB_NAMESPACE", default_value = "metallb-system")]
    namespace: String,
    /// Address to serve HTTPS on.
    #[arg(long, default_value = "0.0.0.0:9443")]
    listen: SocketAddr,
    /// Plain-HTTP port for /healthz and /readyz (0 disables).
    #[arg(long, default_value_t = 17472)]
    health_probe_port: u16,
    /// Use the certificates in --cert-dir (e.g. from cert-manager) instead of managing them.
    #[arg(long)]
    disable_cert_rotation: bool,
    /// Directory with tls.crt and tls.key (external certificates).
    #[arg(long, default_value = "/tmp/k8s-webhook-server/serving-certs")]
    cert_dir: PathBuf,
    /// Service name in the serving certificate (`<name>.<namespace>.svc`).
    #[arg(long, default_value = "metallb-webhook-service")]
    cert_service_name: String,
    /// Secret holding the managed certificates.
    #[arg(long, default_value = "metallb-webhook-cert")]
    webhook_secret: String,
    /// ValidatingWebhookConfiguration to inject the CA bundle into.
    #[arg(long, default_value = "metallb-webhook-configuration")]
    webhook_configuration: String,
    /// Extra DNS names or IPs for the serving certificate (repeatable).
    #[arg(long)]
    extra_san: Vec<String>,
    /// Serving certificate lifetime, seconds.
    #[arg(long, default_value_t = 365 * 24 * 3600)]
    cert_validity_secs: u64,
    /// CA lifetime, seconds.
    #[arg(long, default_value_t = 3650 * 24 * 3600)]
    ca_validity_secs: u64,
    /// Renew when less than this many seconds are left.
    #[arg(long, default_value_t = 90 * 24 * 3600)]
    renew_before_secs: u64,
    /// How often to check the certificates, seconds.
    #[arg(long, default_value_t = 3600)]
    check_interval_secs: u64,
}

fn store<K>(api: Api<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    tokio::spawn(stream.for_each(|r| async move {
        if let Err(e) = r {
            tracing::warn!(error = %e, "watch error");
        }
    }));
    reader
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let client = Client::try_default()
        .await
        .context("building the Kubernetes client")?;
    let ns = args.namespace.as_str();
    let source = StoreSource {
        pools: store(Api::<IPAddressPool>::namespaced(client.clone(), ns)),
        peers: store(Api::<BGPPeer>::namespaced(client.clone(), ns)),
        bgp_advertisements: store(Api::<BGPAdvertisement>::namespaced(client.clone(), ns)),
        l2_advertisements: store(Api::<L2Advertisement>::namespaced(client.clone(), ns)),
        communities: store(Api::<Community>::namespaced(client.clone(), ns)),
        bfd_profiles: store(Api::<BFDProfile>::namespaced(client.clone(), ns)),
        nodes: store(Api::<Node>::all(client.clone())),
        services: store(Api::<Service>::all(client.clone())),
    };
    let state = AppState::new(
        Arc::new(source.clone()),
        Options {
            namespace: Some(args.namespace.clone()),
        },
    );
    state.ready.store(false, Ordering::Relaxed);

    let interval = Duration::from_secs(args.check_interval_secs.max(1));
    let tls = if args.disable_cert_rotation {
        let tls = RustlsConfig::from_pem_file(
            args.cert_dir.join("tls.crt"),
            args.cert_dir.join("tls.key"),
        )
        .await
        .with_context(|| format!("loading certificates from {}", args.cert_dir.display()))?;
        tokio::spawn(watch_files(
            tls.clone(),
            args.cert_dir.clone(),
            Duration::from_secs(30),
        ));
        tls
    } else {
        let mut settings = CertSettings::for_service(&args.cert_service_name, ns);
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
        };
        let bundle = rotator
            .ensure()
            .await
            .context("preparing webhook certificates")?;
        rotator
            .inject(&bundle.ca_cert)
            .await
            .context("injecting the CA bundle")?;
        let tls = RustlsConfig::from_pem(
            bundle.cert.clone().into_bytes(),
            bundle.key.clone().into_bytes(),
        )
        .await
        .context("loading the serving certificate")?;
        tokio::spawn(rotator.run(tls.clone(), bundle, interval));
        tls
    };

    let ready = state.ready.clone();
    let sync = source.clone();
    tokio::spawn(async move {
        let _ = tokio::join!(
            sync.pools.wait_until_ready(),
            sync.peers.wait_until_ready(),
            sync.bgp_advertisements.wait_until_ready(),
            sync.l2_advertisements.wait_until_ready(),
            sync.communities.wait_until_ready(),
            sync.bfd_profiles.wait_until_ready(),
            sync.nodes.wait_until_ready(),
            sync.services.wait_until_ready(),
        );
        ready.store(true, Ordering::Relaxed);
        tracing::info!("stores synced; ready");
    });

    let app = router(state.clone());
    if args.health_probe_port != 0 {
        let health = health_router(state);
        let addr = SocketAddr::new(args.listen.ip(), args.health_probe_port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tokio::spawn(async move { axum::serve(listener, health).await });
    }
    tracing::info!(listen = %args.listen, "serving webhooks");
    axum_server::bind_rustls(args.listen, tls)
        .serve(app.into_make_service())
        .await
        .context("serving")?;
    Ok(())
}
