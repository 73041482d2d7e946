//! ferrolb against MetalLB v0.16.1 itself, same rig, same run (issue 22), first slice:
//! allocation. Scripted benchmark, not a test (`#[ignore]`d, run explicitly).
//!
//! For each controller in turn (the other one stopped): start it, wait until a warm-up Service
//! gets an IP, then a burst of N LoadBalancer Services (`ferrolb_e2e::burst`, the same burst as
//! `bench_ipam.rs`) → time until all have an IP, p50/p99 of per-Service time-to-IP, the
//! controller's CPU during the burst (utime+stime) and its RSS (VmRSS) once all have their IP;
//! then every Service is deleted and the controller stopped. Rounds alternate the order
//! (M F, F M, ...) so load drift shows; optionally one more burst of a larger count per
//! controller for RSS at scale. Prints one table with ratios MetalLB / ferrolb (> 1: ferrolb
//! is ahead) and the load average at start and end.
//!
//! Isolation: MetalLB runs with `--lb-class=metallb --namespace=metallb-upstream` (its pool
//! there), ferrolb with `METALLB_LB_CLASS=ferrolb-vs` (its pool `aaa-vs` in `metallb-system`);
//! each burst's Services are of that controller's class, in their own namespace, and only one
//! controller runs at a time. After each burst every IP is checked to be in that controller's
//! pool.
//!
//! ```sh
//! FERROLB_E2E_INSTANCE=3 e2e/rig.sh up && . e2e/.run/i3/env
//! cargo build --release -p ferrolb-operator
//! FERROLB_OPERATOR_BIN=$CARGO_TARGET_DIR/release/ferrolb-operator FERROLB_E2E=1 \
//!   cargo test -p ferrolb-e2e --test vs_metallb -- --ignored --nocapture
//! ```
//!
//! Env: `FERROLB_VS_SERVICES` (2000), `FERROLB_VS_ROUNDS` (2), `FERROLB_VS_BIG` (10000; 0 skips
//! the large burst).
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::Rig;
use ferrolb_e2e::burst::{Burst, burst, delete_services};
use ferrolb_e2e::failover::proc_usage;
use ferrolb_e2e::metallb::{self, ControllerOpts, Impl, loadavg, ratio};
use ferrolb_e2e::procs::{self, OperatorOpts, Proc};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};

/// ferrolb's `loadBalancerClass` here.
const FERROLB_CLASS: &str = "ferrolb-vs";
/// ferrolb's pool (in `metallb-system`; tried first by name).
const FERROLB_POOL: (&str, &str) = ("aaa-vs", "10.220.0.0/16");
/// MetalLB's pool (in [`metallb::NAMESPACE`]).
const METALLB_POOL: (&str, &str) = ("vs-metallb", "10.210.0.0/16");
/// Bounds.
const WARMUP_TIMEOUT: Duration = Duration::from_secs(120);
const DELETE_TIMEOUT: Duration = Duration::from_secs(900);

/// What differs per system in this benchmark.
trait Side {
    /// Namespace of its Services.
    fn ns(self) -> &'static str;
    fn class(self) -> &'static str;
    fn pool(self) -> (&'static str, &'static str);
    fn log(self) -> &'static str;
    fn start(self, rig: &Rig) -> Result<Proc>;
}

impl Side for Impl {
    /// Namespace of its Services.
    fn ns(self) -> &'static str {
        match self {
            Impl::MetalLb => "vs-metallb",
            Impl::Ferrolb => "vs-ferrolb",
        }
    }
    fn class(self) -> &'static str {
        match self {
            Impl::MetalLb => metallb::CLASS,
            Impl::Ferrolb => FERROLB_CLASS,
        }
    }
    fn pool(self) -> (&'static str, &'static str) {
        match self {
            Impl::MetalLb => METALLB_POOL,
            Impl::Ferrolb => FERROLB_POOL,
        }
    }
    fn log(self) -> &'static str {
        match self {
            Impl::MetalLb => "metallb-controller-vs",
            Impl::Ferrolb => "ferrolb-operator-vs",
        }
    }
    fn start(self, rig: &Rig) -> Result<Proc> {
        match self {
            Impl::MetalLb => metallb::start_controller(
                rig,
                ControllerOpts {
                    log: self.log(),
                    ..ControllerOpts::default()
                },
            ),
            Impl::Ferrolb => procs::start_operator(
                rig,
                OperatorOpts {
                    log: self.log(),
                    lb_class: Some(FERROLB_CLASS),
                    log_filter: "warn",
                    ..OperatorOpts::default()
                },
            ),
        }
    }
}

/// One measured burst.
struct Row {
    who: Impl,
    label: String,
    burst: Burst,
    /// CPU seconds during the burst.
    cpu: f64,
    /// VmRSS KiB once every Service has its IP.
    rss: u64,
    load_start: String,
}

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn apply(rig: &Rig, name: &str, yaml: &str) -> Result<()> {
    let path = rig.run_dir.join(format!("vs-metallb-{name}.yaml"));
    std::fs::write(&path, yaml)?;
    rig.apply_server_side(&path).map(drop)
}

fn pool_yaml((name, cidr): (&str, &str), namespace: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         spec: {{addresses: [\"{cidr}\"]}}\n"
    )
}

/// Every Service of `who`'s namespace has exactly one IP, from `who`'s pool.
async fn check_pool(client: &kube::Client, who: Impl, n: usize) -> Result<()> {
    let api: Api<Service> = Api::namespaced(client.clone(), who.ns());
    let net: IpNet = who.pool().1.parse()?;
    let svcs = api.list(&ListParams::default()).await?.items;
    ensure!(
        svcs.len() == n,
        "{}: {} Services, expected {n}",
        who.ns(),
        svcs.len()
    );
    for s in &svcs {
        let ips: Vec<String> = s
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.clone())
            .collect();
        let ok = ips.len() == 1
            && ips[0]
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| net.contains(&ip));
        ensure!(
            ok,
            "{}/{}: ingress {ips:?}, expected one IP of {net} ({})",
            who.ns(),
            s.metadata.name.as_deref().unwrap_or_default(),
            who.name()
        );
    }
    Ok(())
}

/// Starts `who`, warms it up, bursts `n` Services, measures, deletes them, stops it.
async fn measure(
    rig: &Rig,
    client: &kube::Client,
    who: Impl,
    n: usize,
    label: &str,
) -> Result<Row> {
    let load_start = loadavg();
    let ns = who.ns();
    let proc = who.start(rig)?;
    let timeout = Duration::from_secs(300 + n as u64 / 10);
    let result = async {
        // Warm-up: the controller has synced its pools once one Service got an IP.
        burst(
            client,
            ns,
            1,
            Some(who.class()),
            WARMUP_TIMEOUT,
            |_| async { Ok(()) },
        )
        .await
        .with_context(|| format!("{} never assigned the warm-up Service", who.name()))?;
        delete_services(client, ns, DELETE_TIMEOUT).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, cpu0) = proc_usage(proc.pid())?;
        let b = burst(client, ns, n, Some(who.class()), timeout, |_| async {
            Ok(())
        })
        .await?;
        let (rss, cpu1) = proc_usage(proc.pid())?;
        check_pool(client, who, n).await?;
        b.report(&format!("{} {label}", who.name()));
        println!(
            "BENCH {} {label}: CPU during the burst {:.2} s, RSS {:.1} MiB",
            who.name(),
            cpu1 - cpu0,
            rss as f64 / 1024.0
        );
        Ok::<_, anyhow::Error>(Row {
            who,
            label: label.to_string(),
            burst: b,
            cpu: cpu1 - cpu0,
            rss,
            load_start,
        })
    }
    .await;
    if result.is_err() {
        eprintln!(
            "--- {} log ---\n{}",
            who.name(),
            rig.log_tail(who.log(), 30)
        );
    }
    let deleted = delete_services(client, ns, DELETE_TIMEOUT).await;
    drop(proc);
    let row = result?;
    deleted?;
    Ok(row)
}

/// Prints the Markdown table: per label, one line per metric, MetalLB | ferrolb | ratio.
fn print_table(rows: &[Row], load_start: &str, load_end: &str) {
    println!("\n| Services | round | metric | MetalLB v0.16.1 | ferrolb | MetalLB / ferrolb |");
    println!("|---|---|---|---|---|---|");
    let mut labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    labels.dedup();
    for label in labels {
        let get = |who| rows.iter().find(|r| r.label == label && r.who == who);
        let (Some(m), Some(f)) = (get(Impl::MetalLb), get(Impl::Ferrolb)) else {
            continue;
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let lines: [(&str, f64, f64, &str); 5] = [
            (
                "all with an IP",
                m.burst.total.as_secs_f64(),
                f.burst.total.as_secs_f64(),
                "s",
            ),
            ("p50 time-to-IP", ms(m.burst.p50()), ms(f.burst.p50()), "ms"),
            ("p99 time-to-IP", ms(m.burst.p99()), ms(f.burst.p99()), "ms"),
            ("CPU during burst", m.cpu, f.cpu, "s"),
            (
                "RSS after burst",
                m.rss as f64 / 1024.0,
                f.rss as f64 / 1024.0,
                "MiB",
            ),
        ];
        for (metric, mv, fv, unit) in lines {
            println!(
                "| {} | {label} | {metric} | {mv:.1} {unit} | {fv:.1} {unit} | {} |",
                m.burst.n,
                ratio(mv, fv)
            );
        }
        println!(
            "| {} | {label} | load (1/5/15 min) at start | {} | {} | |",
            m.burst.n, m.load_start, f.load_start
        );
    }
    println!("\nload average at start: {load_start}; at end: {load_end}");
    let order: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.who.name(), r.label))
        .collect();
    println!("order: {}", order.join(", "));
}

#[tokio::test]
#[ignore = "benchmark: run explicitly on the rig (see module docs)"]
async fn z_bench_vs_metallb_allocation() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_vs_metallb_allocation") else {
        return Ok(());
    };
    let n = env_usize("FERROLB_VS_SERVICES", 2000);
    let rounds = env_usize("FERROLB_VS_ROUNDS", 2);
    let big = env_usize("FERROLB_VS_BIG", 10_000);
    let load_start = loadavg();
    println!(
        "vs MetalLB: {n} Services x {rounds} rounds, then {big} per controller; ferrolb binary {}; load {load_start}",
        procs::binary("ferrolb-operator")?.display()
    );
    procs::install_base(&rig, &["controller"])?;
    let client = rig.admin_client().await?;
    for who in [Impl::MetalLb, Impl::Ferrolb] {
        let _ = rig.kubectl(&[
            "delete",
            "namespace",
            who.ns(),
            "--ignore-not-found",
            "--wait=true",
            "--timeout=600s",
        ]);
        rig.kubectl(&["create", "namespace", who.ns()])?;
    }
    let result = async {
        // MetalLB's namespace (and fake Pod) first, then its pool there.
        metallb::prepare(&rig, &ControllerOpts::default())?;
        apply(
            &rig,
            "metallb-pool",
            &pool_yaml(METALLB_POOL, metallb::NAMESPACE),
        )?;
        apply(
            &rig,
            "ferrolb-pool",
            &pool_yaml(FERROLB_POOL, "metallb-system"),
        )?;
        let mut rows = Vec::new();
        for r in 1..=rounds {
            let order = if r % 2 == 1 {
                [Impl::MetalLb, Impl::Ferrolb]
            } else {
                [Impl::Ferrolb, Impl::MetalLb]
            };
            for who in order {
                rows.push(measure(&rig, &client, who, n, &r.to_string()).await?);
            }
        }
        if big > 0 {
            // The rounds' table first: the large bursts take long and may be cut short.
            print_table(&rows, &load_start, &loadavg());
            for who in [Impl::MetalLb, Impl::Ferrolb] {
                match measure(&rig, &client, who, big, "big").await {
                    Ok(row) => rows.push(row),
                    Err(e) => println!("BENCH {} with {big} Services failed: {e:#}", who.name()),
                }
            }
        }
        Ok::<_, anyhow::Error>(rows)
    }
    .await;
    let load_end = loadavg();
    if let Ok(rows) = &result {
        print_table(rows, &load_start, &load_end);
    }
    for who in [Impl::MetalLb, Impl::Ferrolb] {
        let _ = rig.kubectl(&["delete", "namespace", who.ns(), "--wait=false"]);
    }
    metallb::cleanup_side_by_side(&rig, FERROLB_POOL.0);
    result.map(drop)
}
