//! ferrolb against MetalLB v0.16.1 itself, same rig, same run (issue 22), third slice: BGP.
//! Scripted benchmark, not a test (`#[ignore]`d, run explicitly).
//!
//! For each system in turn (MetalLB first, then ferrolb; the other one stopped and its objects
//! gone): its controller, one speaker per node (each in its node's netns) peering with the
//! rig's **same FRR** (172.18.0.1, AS 64513, the `SPEAKERS` listen range, `remote-as external`,
//! timers 3 s / 9 s) with myASN 64512, a one-replica echo Deployment, and pool `vs-bgp`
//! (`10.252.20.0/22`, `autoAssign: false`, one BGPAdvertisement, no L2Advertisement). MetalLB
//! runs in native BGP mode (`METALLB_BGP_TYPE` unset: its own Go BGP stack, not FRR mode), its
//! pool, advertisement and BGPPeer in its namespace `metallb-upstream`. Both speakers run with
//! their defaults otherwise: MetalLB's memberlist on (as its manifests deploy it), ferrolb's
//! L2 heartbeats on (as its chart does), neither with an L2Advertisement. Then, measured in FRR's
//! netns kernel FIB (what zebra installed, `ip -j route`, polled every few ms), never by either
//! system's logs:
//!
//! 1. trials (`FERROLB_VS_BGP_TRIALS`, default 20): one Service created with a fixed address
//!    (`metallb.io/loadBalancerIPs`, so the prefix is known) → its /32 in the FIB (first next
//!    hop, then a next hop per node: ECMP complete); deleted → the route gone;
//! 2. a burst of `FERROLB_VS_BGP_BURST` (default 1,000) Services created through the API,
//!    32 in flight, addresses allocated by the controller from the /22 → all of them in the FIB
//!    via every node; → every node's ServiceBGPStatus of every Service written;
//! 3. every speaker's RSS and CPU (from `/proc`, sampled once a second) over an idle window of
//!    `FERROLB_VS_BGP_IDLE_S` (default 60) seconds with those prefixes announced;
//! 4. the burst deleted (one delete-collection) → no Service left in the API, no route of the
//!    pool in the FIB;
//! 5. BGP sessions reset during all of it: FRR's `%ADJCHANGE … Down` log lines for the nodes'
//!    addresses since the sessions came up, and whether each session's uptime (FRR's
//!    `show bgp neighbors json`) still spans the whole run (FRR deletes a dynamic neighbour when
//!    its session drops, so its own connection counters restart with it).
//!
//! Isolation: each system has its own Service namespace (`vs-bgp-metallb` / `vs-bgp-ferrolb`),
//! `loadBalancerClass` (`metallb` / `e2e.ferrolb.io/bgp`) and configuration namespace
//! (`metallb-upstream` / `metallb-system`); MetalLB's speakers also write ServiceBGPStatus
//! objects (and may prune ones they do not own, as they do their node's ServiceL2Statuses), so
//! the two sets never run at once: before the second system and at the end the run checks that FRR has no session from
//! a node, no route of the pool, and that no ServiceBGPStatus of either Service namespace is
//! left.
//!
//! ```sh
//! FERROLB_SPEAKER_BIN=/root/.cache/ferrolb/target-images/x86_64-unknown-linux-musl/image/ferrolb-speaker \
//! FERROLB_OPERATOR_BIN=/root/.cache/ferrolb/target-images/x86_64-unknown-linux-musl/image/ferrolb-operator \
//!   nice -n 10 e2e/run.sh --nocapture --ignored -- vs_metallb_bgp
//! # or on a running rig instance:
//! FERROLB_E2E_INSTANCE=6 e2e/rig.sh up && . e2e/.run/i6/env
//! FERROLB_E2E=1 cargo test -p ferrolb-e2e --test vs_metallb_bgp -- --ignored --nocapture
//! ```
//!
//! Env: `FERROLB_VS_BGP_TRIALS` (20), `FERROLB_VS_BGP_BURST` (1,000), `FERROLB_VS_BGP_IDLE_S`
//! (60), `FERROLB_VS_BGP_FERROLB_FIRST=1` (ferrolb's part first: the machine is shared, so a
//! run in each order shows what the load did). MetalLB's speaker is built on first use
//! (`e2e/build-upstream.sh --metallb-speaker`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::bench_trace::line_time;
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::failover::quantile_ms;
use ferrolb_e2e::metallb::{self, ControllerOpts, Impl, loadavg, ratio};
use ferrolb_e2e::speaker_load::{self as load, PARALLEL};
use ferrolb_e2e::{Rig, l2, procs};
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

/// The pool both systems use (one after the other), `autoAssign: false`.
const POOL: &str = "vs-bgp";
const POOL_CIDR: &str = "10.252.20.0/22";
/// Trial Services get the fixed addresses `10.252.23.<1..=n>`, the warm-up one `.250`.
const TRIAL_NET: &str = "10.252.23";
/// MetalLB's Service namespace.
const ML_NS: &str = "vs-bgp-metallb";
/// ferrolb's suite: Service namespace, class, label of its `metallb-system` objects.
const F_SUITE: Suite = Suite {
    ns: "vs-bgp-ferrolb",
    class: setup::CLASS,
    name: "vs-bgp",
};
/// Name of the BGPPeer (FRR) of either system.
const PEER: &str = "vs-bgp-frr";
/// Bounds.
const TIMEOUT: Duration = Duration::from_secs(90);
const BURST_TIMEOUT: Duration = Duration::from_secs(600);

/// What differs per system in this benchmark.
trait Side {
    /// Namespace of its Services.
    fn ns(self) -> &'static str;
    /// Its `loadBalancerClass`.
    fn class(self) -> &'static str;
    /// Where its speakers write ServiceBGPStatus objects.
    fn status_ns(self) -> &'static str;
}

impl Side for Impl {
    /// Namespace of its Services.
    fn ns(self) -> &'static str {
        match self {
            Impl::MetalLb => ML_NS,
            Impl::Ferrolb => F_SUITE.ns,
        }
    }
    /// Its `loadBalancerClass`.
    fn class(self) -> &'static str {
        match self {
            Impl::MetalLb => metallb::CLASS,
            Impl::Ferrolb => F_SUITE.class,
        }
    }
    /// Where its speakers write ServiceBGPStatus objects.
    fn status_ns(self) -> &'static str {
        match self {
            Impl::MetalLb => metallb::NAMESPACE,
            Impl::Ferrolb => setup::SYSTEM,
        }
    }
}

/// What one system measured.
#[derive(Debug, Default)]
struct Figures {
    /// Create call → first next hop in the FIB, per trial.
    first: Vec<Duration>,
    /// Create call → a next hop per node in the FIB, per trial.
    all: Vec<Duration>,
    /// Delete call → no route in the FIB, per trial.
    gone: Vec<Duration>,
    /// Services in the burst.
    burst: usize,
    /// First create sent → last create acknowledged.
    burst_created: Duration,
    /// First create sent → every Service's /32 in the FIB via every node.
    burst_fib: Duration,
    /// First create sent → every node's ServiceBGPStatus of every Service (None: not within
    /// the bound).
    burst_statuses: Option<Duration>,
    /// Delete-collection sent → no route of the pool in the FIB.
    burst_gone: Duration,
    /// Delete-collection sent → no Service left in the API.
    burst_api_gone: Duration,
    /// Mean speaker RSS (KiB), sessions up, nothing announced.
    rss_before: f64,
    /// Mean speaker RSS (KiB) once the burst is in the FIB and its statuses are written.
    rss_loaded: f64,
    /// The speakers over the idle window with the burst announced.
    idle: load::Idle,
    /// FRR's `%ADJCHANGE … Down` lines for the nodes during the run.
    resets: usize,
    /// Sessions whose uptime spans the run, of `nodes`.
    continuous: usize,
    nodes: usize,
}

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Next hops of FRR's kernel route for `prefix` (empty when absent).
fn hops(rig: &Rig, prefix: &str) -> Result<Vec<String>> {
    Ok(bgp::kernel_route(rig, prefix)?
        .map(|r| r.next_hops)
        .unwrap_or_default())
}

/// The nodes' IPv4 addresses, sorted like a kernel route's next hops.
fn node_addrs(rig: &Rig) -> Result<Vec<String>> {
    let mut v: Vec<String> = rig
        .node_names()
        .iter()
        .map(|n| bgp::node_address(n, Family::Ipv4))
        .collect::<Result<_>>()?;
    v.sort();
    Ok(v)
}

/// A Service of `who`'s class from [`POOL`] (at `ip` when given).
fn service(who: Impl, name: &str, ip: Option<&str>) -> Result<Service> {
    load::service(who.ns(), name, who.class(), POOL, ip)
}

/// How many ServiceBGPStatus objects of `who`'s Services exist.
fn status_count(rig: &Rig, who: Impl) -> Result<usize> {
    let out = rig.kubectl(&[
        "-n",
        who.status_ns(),
        "get",
        "servicebgpstatuses",
        "-l",
        &format!("metallb.io/service-namespace={}", who.ns()),
        "-o",
        "name",
    ])?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
}

/// FRR's `%ADJCHANGE: neighbor <addr>(…) … Down` lines since `since` for `addrs`.
fn frr_down_lines(rig: &Rig, since: SystemTime, addrs: &[String]) -> usize {
    let log = std::fs::read_to_string(rig.run_dir.join("logs").join("frr-bgpd-ms.log"))
        .unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("%ADJCHANGE") && l.contains(" Down"))
        .filter(|l| addrs.iter().any(|a| l.contains(&format!("neighbor {a}("))))
        .filter(|l| line_time(l).is_some_and(|t| t >= since))
        .count()
}

/// Every node Established with FRR.
async fn wait_sessions(rig: &Rig, addrs: &[String]) -> Result<()> {
    for a in addrs {
        bgp::wait_established(rig, Router::Frr, a, TIMEOUT).await?;
    }
    Ok(())
}

/// One Service through FRR's FIB: created → first next hop, → every node; deleted → gone.
async fn trial(
    rig: &Rig,
    api: &Api<Service>,
    who: Impl,
    name: &str,
    ip: &str,
    n_nodes: usize,
) -> Result<(Duration, Duration, Duration)> {
    let prefix = format!("{ip}/32");
    let obj = service(who, name, Some(ip))?;
    let t0 = Instant::now();
    api.create(&PostParams::default(), &obj).await?;
    ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(!hops(rig, &prefix)?.is_empty()))
        .with_context(|| format!("{prefix} in FRR's FIB"))?;
    let first = t0.elapsed();
    ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(rig, &prefix)?.len() == n_nodes))
        .with_context(|| format!("{prefix} via every node in FRR's FIB"))?;
    let all = t0.elapsed();
    let t1 = Instant::now();
    api.delete(name, &DeleteParams::default()).await?;
    ferrolb_e2e::poll_elapsed(TIMEOUT, || Ok(hops(rig, &prefix)?.is_empty()))
        .with_context(|| format!("{prefix} withdrawn from FRR's FIB"))?;
    Ok((first, all, t1.elapsed()))
}

/// The measurement of one running system (controller, speakers `pids`, pool, peer, Deployment
/// in place).
async fn measure(
    rig: &Rig,
    who: Impl,
    pids: &BTreeMap<String, u32>,
    trials: usize,
    burst: usize,
    idle: Duration,
) -> Result<Figures> {
    load::wait_exec(pids)?;
    let addrs = node_addrs(rig)?;
    let api: Api<Service> = Api::namespaced(rig.admin_client().await?, who.ns());
    wait_sessions(rig, &addrs).await?;
    let (run_at, run_t0) = (SystemTime::now(), Instant::now());
    let mut f = Figures {
        nodes: addrs.len(),
        burst,
        ..Default::default()
    };
    f.rss_before = load::mean_rss(pids)?;
    // Warm-up: the Deployment's pod is ready, every speaker has the configuration.
    trial(
        rig,
        &api,
        who,
        "warm",
        &format!("{TRIAL_NET}.250"),
        addrs.len(),
    )
    .await
    .context("warm-up Service")?;
    for i in 0..trials {
        let (first, all, gone) = trial(
            rig,
            &api,
            who,
            &format!("s{i}"),
            &format!("{TRIAL_NET}.{}", i + 1),
            addrs.len(),
        )
        .await?;
        eprintln!(
            "trial {} {i}: first {first:?} all {all:?} withdrawn {gone:?}",
            who.name()
        );
        f.first.push(first);
        f.all.push(all);
        f.gone.push(gone);
    }

    // The burst: created through the API, PARALLEL in flight.
    let full = |rig: &Rig| -> Result<usize> {
        Ok(bgp::kernel_routes_within(rig, POOL_CIDR)?
            .iter()
            .filter(|r| r.next_hops == addrs)
            .count())
    };
    let t0 = Instant::now();
    let mut creator = Some(load::create_burst(
        api.clone().into_client(),
        who.ns(),
        burst,
        who.class(),
        POOL,
    ));
    let mut created = None;
    loop {
        if let Some(h) = creator.take_if(|h| h.is_finished()) {
            created = Some(h.await??);
        }
        if full(rig)? >= burst {
            f.burst_fib = t0.elapsed();
            break;
        }
        if t0.elapsed() > BURST_TIMEOUT {
            if let Some(h) = creator {
                h.abort();
            }
            bail!(
                "{burst} routes not in FRR's FIB via every node within {BURST_TIMEOUT:?} ({} there)",
                full(rig)?
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = match (created, creator) {
        (Some(t), _) => t,
        (None, Some(h)) => h.await??,
        (None, None) => bail!("the burst's creator vanished"),
    };
    f.burst_created = created.saturating_duration_since(t0);
    let want = burst * addrs.len();
    let statuses = async {
        loop {
            if status_count(rig, who).unwrap_or(0) >= want {
                return t0.elapsed();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    f.burst_statuses = tokio::time::timeout(Duration::from_secs(300), statuses)
        .await
        .ok();
    if f.burst_statuses.is_none() {
        eprintln!(
            "{}: only {} of {want} ServiceBGPStatus objects after 300 s",
            who.name(),
            status_count(rig, who).unwrap_or(0)
        );
    }
    f.rss_loaded = load::mean_rss(pids)?;

    // Idle with the burst announced: RSS and CPU sampled once a second.
    f.idle = load::idle(pids, idle).await?;
    ensure!(
        full(rig)? == burst,
        "{}: the burst's routes changed during the idle window",
        who.name()
    );

    // The burst deleted: until no Service is left in the API and no route in the FIB.
    let t1 = Instant::now();
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .context("deleting the burst")?;
    let (mut api_empty, mut fib_empty) = (None, None);
    while api_empty.is_none() || fib_empty.is_none() {
        ensure!(
            t1.elapsed() < BURST_TIMEOUT,
            "the burst not deleted (API {api_empty:?}) or its routes not withdrawn (FIB {fib_empty:?}) within {BURST_TIMEOUT:?}"
        );
        if api_empty.is_none()
            && api
                .list_metadata(&ListParams::default().limit(1))
                .await?
                .items
                .is_empty()
        {
            api_empty = Some(t1.elapsed());
        }
        if fib_empty.is_none() && bgp::kernel_routes_within(rig, POOL_CIDR)?.is_empty() {
            fib_empty = Some(t1.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f.burst_api_gone = api_empty.unwrap_or_default();
    f.burst_gone = fib_empty.unwrap_or_default();

    // Sessions during all of it.
    let elapsed = run_t0.elapsed();
    f.resets = frr_down_lines(rig, run_at, &addrs);
    for a in &addrs {
        let n = bgp::neighbor(rig, Router::Frr, a)?;
        if n.as_ref().is_some_and(|n| {
            n.is_established()
                && n.uptime
                    .is_some_and(|u| u + Duration::from_secs(2) >= elapsed)
        }) {
            f.continuous += 1;
        }
    }
    Ok(f)
}

/// MetalLB's part: controller, pool, advertisement, BGPPeer, speakers, measurement; then
/// everything of it gone.
async fn metallb_part(rig: &Rig, trials: usize, burst: usize, idle: Duration) -> Result<Figures> {
    let _controller = metallb::start_controller(rig, ControllerOpts::default())?;
    let ns = metallb::NAMESPACE;
    let frr = Router::Frr;
    l2::kubectl_apply(
        rig,
        &format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {POOL}, namespace: {ns}}}\n\
             spec: {{addresses: [\"{POOL_CIDR}\"], autoAssign: false}}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: {POOL}, namespace: {ns}}}\n\
             spec: {{ipAddressPools: [{POOL}]}}\n---\n\
             apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: {PEER}, namespace: {ns}}}\n\
             spec: {{myASN: {}, peerASN: {}, peerAddress: \"{}\"}}\n",
            ferrolb_e2e::SPEAKER_ASN,
            frr.asn(),
            frr.address(Family::Ipv4)
        ),
    )?;
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ML_NS,
        "--ignore-not-found",
        "--wait=true",
    ]);
    rig.kubectl(&["create", "namespace", ML_NS])?;
    setup::apply(rig, &setup::deployment_yaml(ML_NS, "bench"))?;
    let mut speakers = metallb::Speakers::start(rig)?;
    let pids = speakers
        .set
        .procs
        .iter()
        .map(|(n, p)| (n.clone(), p.pid()))
        .collect();
    let result = measure(rig, Impl::MetalLb, &pids, trials, burst, idle).await;
    if let Err(e) = &result {
        eprintln!("MetalLB part failed: {e:#}");
        for n in rig.node_names() {
            eprintln!(
                "--- metallb-speaker {n} ---\n{}",
                rig.log_tail(&format!("metallb-speaker-{n}"), 20)
            );
        }
    }
    speakers.stop_all();
    drop(speakers);
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        ML_NS,
        "--wait=true",
        "--timeout=120s",
    ]);
    metallb::cleanup(rig, ns);
    result
}

/// ferrolb's part: the BGP suite's objects, its operator, one speaker per node with the
/// defaults (L2 heartbeats on), measurement; then everything of it gone.
async fn ferrolb_part(rig: &Rig, trials: usize, burst: usize, idle: Duration) -> Result<Figures> {
    F_SUITE.install(rig)?;
    l2::ensure_memberlist_secret(rig)?;
    let mut cfg = setup::pool_yaml(POOL, POOL_CIDR);
    cfg.push_str(&setup::peer_yaml(
        PEER,
        Router::Frr.asn(),
        &Router::Frr.address(Family::Ipv4),
        "",
    ));
    cfg.push_str(&setup::deployment_yaml(F_SUITE.ns, "bench"));
    setup::apply(rig, &cfg)?;
    let _op = F_SUITE.start_operator(rig)?;
    let mut speakers = l2::Speakers::start(rig, &["--lb-class", F_SUITE.class])?;
    let pids = speakers
        .procs
        .iter()
        .map(|(n, p)| (n.clone(), p.pid()))
        .collect();
    let result = measure(rig, Impl::Ferrolb, &pids, trials, burst, idle).await;
    if let Err(e) = &result {
        eprintln!(
            "ferrolb part failed: {e:#}{}",
            F_SUITE.speaker_logs(rig, 20)
        );
    }
    for n in rig.node_names() {
        if let Err(e) = speakers.stop(&n) {
            eprintln!("stopping ferrolb's speaker on {n}: {e:#}");
        }
    }
    drop(speakers);
    F_SUITE.cleanup_objects(
        rig,
        &[
            format!("bgppeers.metallb.io/{PEER}"),
            format!("bgpadvertisements.metallb.io/{POOL}"),
            format!("ipaddresspools.metallb.io/{POOL}"),
        ],
    );
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        F_SUITE.ns,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=120s",
    ]);
    let _ = rig.kubectl(&[
        "-n",
        setup::SYSTEM,
        "delete",
        "servicebgpstatuses",
        "-l",
        &format!("metallb.io/service-namespace={}", F_SUITE.ns),
    ]);
    result
}

/// Fails unless nothing of either system is left: no session from a node on FRR, no route of
/// the pool in its FIB, no ServiceBGPStatus of either Service namespace.
fn check_clean(rig: &Rig) -> Result<()> {
    let addrs = node_addrs(rig)?;
    ferrolb_e2e::poll_elapsed(Duration::from_secs(30), || {
        for a in &addrs {
            if bgp::neighbor(rig, Router::Frr, a)?.is_some_and(|n| n.is_established()) {
                return Ok(false);
            }
        }
        Ok(bgp::kernel_routes_within(rig, POOL_CIDR)?.is_empty())
    })
    .with_context(|| {
        format!(
            "a node still Established with FRR or a route of {POOL_CIDR} left: {:?}",
            bgp::kernel_routes_within(rig, POOL_CIDR)
        )
    })?;
    for who in [Impl::MetalLb, Impl::Ferrolb] {
        let left = rig.kubectl(&[
            "get",
            "servicebgpstatuses",
            "-A",
            "-l",
            &format!("metallb.io/service-namespace={}", who.ns()),
            "-o",
            "name",
        ])?;
        ensure!(
            left.trim().is_empty(),
            "ServiceBGPStatuses of {} left: {left}",
            who.name()
        );
    }
    Ok(())
}

fn ms(v: f64) -> String {
    format!("{v:.0} ms")
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// Prints the Markdown table: one line per metric, MetalLB | ferrolb | ratio.
fn print_table(m: &Figures, f: &Figures, load: (&str, &str)) {
    println!("\n| metric | MetalLB v0.16.1 | ferrolb | MetalLB / ferrolb |");
    println!("|---|---|---|---|");
    let sorted = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let n = m.first.len().min(f.first.len());
    for (label, a, b) in [
        ("Service → first route in FRR's FIB", &m.first, &f.first),
        ("Service → route via every node (ECMP)", &m.all, &f.all),
        ("Service deleted → route withdrawn", &m.gone, &f.gone),
    ] {
        let (a, b) = (sorted(a), sorted(b));
        for (q, qn) in [("p50", 0.5), ("p99", 0.99)] {
            let (x, y) = (quantile_ms(&a, qn), quantile_ms(&b, qn));
            println!(
                "| {label}, {q} (n={n}) | {} | {} | {} |",
                ms(x),
                ms(y),
                ratio(x, y)
            );
        }
    }
    let row = |label: &str, a: Duration, b: Duration| {
        println!(
            "| {label} | {} | {} | {} |",
            secs(a),
            secs(b),
            ratio(a.as_secs_f64(), b.as_secs_f64())
        );
    };
    let k = m.burst;
    row(
        &format!("{k}-Service burst: all created (API, {PARALLEL} in flight)"),
        m.burst_created,
        f.burst_created,
    );
    row(
        &format!("{k}-Service burst → all {k} routes via every node in FRR's FIB"),
        m.burst_fib,
        f.burst_fib,
    );
    row(
        "… of which after the last create was acknowledged (the system's backlog)",
        m.burst_fib.saturating_sub(m.burst_created),
        f.burst_fib.saturating_sub(f.burst_created),
    );
    match (m.burst_statuses, f.burst_statuses) {
        (Some(a), Some(b)) => row(
            &format!("{k}-Service burst → every ServiceBGPStatus written"),
            a,
            b,
        ),
        (a, b) => println!(
            "| {k}-Service burst → every ServiceBGPStatus written | {} | {} | |",
            a.map_or("not within 300 s".into(), secs),
            b.map_or("not within 300 s".into(), secs)
        ),
    }
    row(
        &format!("{k} Services deleted (one delete-collection) → none left in the API"),
        m.burst_api_gone,
        f.burst_api_gone,
    );
    row(
        &format!("{k} Services deleted → all {k} routes withdrawn from FRR's FIB"),
        m.burst_gone,
        f.burst_gone,
    );
    let mem = |label: &str, a: f64, b: f64| {
        println!("| {label} | {} | {} | {} |", mib(a), mib(b), ratio(a, b));
    };
    mem(
        "speaker RSS, session up, nothing announced (mean of the nodes)",
        m.rss_before,
        f.rss_before,
    );
    mem(
        &format!("speaker RSS after the burst, {k} prefixes announced"),
        m.rss_loaded,
        f.rss_loaded,
    );
    mem(
        &format!(
            "speaker RSS, largest sample of {:.0} s idle with {k} prefixes",
            m.idle.window.as_secs_f64()
        ),
        m.idle.rss_max,
        f.idle.rss_max,
    );
    println!(
        "| speaker CPU idle with {k} prefixes ({:.0} s window) | {:.2} s ({:.2} % of a core) | {:.2} s ({:.2} % of a core) | {} |",
        m.idle.window.as_secs_f64(),
        m.idle.cpu,
        m.idle.cpu_percent(),
        f.idle.cpu,
        f.idle.cpu_percent(),
        ratio(m.idle.cpu, f.idle.cpu)
    );
    println!(
        "| BGP sessions reset during trials, burst, idle and deletion (FRR `Down` lines; sessions whose uptime spans the run) | {} ({}/{} continuous) | {} ({}/{} continuous) | |",
        m.resets, m.continuous, m.nodes, f.resets, f.continuous, f.nodes
    );
    println!("\nload average: start {} / end {}", load.0, load.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly (see the module docs)"]
async fn z_bench_vs_metallb_bgp() -> Result<()> {
    let Some(rig) = Rig::from_env("z_bench_vs_metallb_bgp") else {
        return Ok(());
    };
    let trials = env_usize("FERROLB_VS_BGP_TRIALS", 20).clamp(1, 200);
    let burst = env_usize("FERROLB_VS_BGP_BURST", 1000).clamp(1, 1000);
    let idle = Duration::from_secs(env_usize("FERROLB_VS_BGP_IDLE_S", 60).clamp(5, 600) as u64);
    // Build (or find) MetalLB's speaker before the clock matters.
    metallb::speaker_binary()?;
    procs::install_base(&rig, &["controller", "speaker"])?;
    check_clean(&rig)?;
    let load_start = loadavg();
    println!(
        "BENCH vs MetalLB BGP: {trials} trials, burst {burst}, idle {idle:?}; FRR's kernel FIB; \
         ferrolb speaker build {}, load {load_start}",
        procs::speaker_build()
    );
    // MetalLB first by default; `FERROLB_VS_BGP_FERROLB_FIRST=1` swaps the order (the machine
    // is shared: a second run in the other order shows what the load did).
    let (m, f) = if std::env::var("FERROLB_VS_BGP_FERROLB_FIRST").is_ok_and(|v| v == "1") {
        println!("order: ferrolb first");
        let f = ferrolb_part(&rig, trials, burst, idle).await?;
        check_clean(&rig)?;
        let m = metallb_part(&rig, trials, burst, idle).await?;
        (m, f)
    } else {
        println!("order: MetalLB first");
        let m = metallb_part(&rig, trials, burst, idle).await?;
        check_clean(&rig)?;
        let f = ferrolb_part(&rig, trials, burst, idle).await?;
        (m, f)
    };
    check_clean(&rig)?;
    let load_end = loadavg();
    print_table(&m, &f, (&load_start, &load_end));
    Ok(())
}
