//! `ferrolb-speaker control-plane`: the kube-apiserver's virtual IP, replacing keepalived
//! (VRRP) in front of a highly available control plane (issue 20, docs/control-plane-vip.md).
//!
//! No Kubernetes client is created in this mode: it runs as a static Pod before the cluster
//! exists. The control-plane nodes are given by address (`--peers`), the heartbeat key by file
//! (`--heartbeat-key-file`); they elect the VIP's owner with the L2 mode's heartbeats and
//! election ([`run`] feeds `ferrolb_l2::L2Node` a one-IP plan), and a node takes part only
//! while its local kube-apiserver answers `/readyz` ([`probe`] → [`health`]).
//!
//! Layout: [`args`] (flags and their checks), [`health`] (the pure rise/fall gate), [`probe`]
//! (the TLS prober), [`run`] (the loop), [`manifest`] (`--print-static-pod`).

pub mod args;
pub mod health;
pub mod manifest;
pub mod probe;
pub mod run;

use std::net::SocketAddr;

use clap::{CommandFactory as _, Parser as _};

use args::CpArgs;

fn usage_error(e: impl std::fmt::Display) -> ! {
    CpArgs::command()
        .error(clap::error::ErrorKind::InvalidValue, e)
        .exit()
}

/// Runs `ferrolb-speaker control-plane ...` (`argv` without the binary's name).
pub async fn main(argv: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let args = CpArgs::parse_from(argv);
    if let Err(e) = args.check() {
        CpArgs::command()
            .error(clap::error::ErrorKind::ArgumentConflict, e)
            .exit();
    }
    if args.print_static_pod {
        print!("{}", manifest::render(&args)?);
        return Ok(());
    }
    let _traces = match args.log.init(ferrolb_kube::telemetry::SPEAKER) {
        Ok(t) => t,
        Err(e) => usage_error(e),
    };
    let secret = args::read_key(&args.heartbeat_key_file).unwrap_or_else(|e| usage_error(e));
    let prober = probe::Prober::new(&args.apiserver_url, &args.trust(), args.health_timeout)
        .unwrap_or_else(|e| usage_error(e));
    let port = args.liveness_port;
    let cfg = run::CpConfig {
        node: args.node(),
        bind: SocketAddr::new(args.host, port),
        peers: args
            .other_peers()
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect(),
        vip: args.vip,
        interface: args.interface.clone(),
        interval: args.heartbeat_interval,
        dead_after: args.dead_after,
        secret,
        health_interval: args.health_interval,
        rise: args.health_rise,
        fall: args.health_fall,
    };
    run::run(cfg, prober, ferrolb_kube::signal::shutdown()).await?;
    Ok(())
}
