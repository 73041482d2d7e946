//! OpenTelemetry traces against a real OpenTelemetry Collector on the rig (issue 18): the
//! Collector built from its Go modules (`e2e/otelcol/`, `e2e/src/otelcol.rs`) receives OTLP/HTTP
//! on loopback and writes what it gets as OTLP/JSON, which this test reads.
//!
//! - The controller, with only `OTEL_EXPORTER_OTLP_ENDPOINT` (and a short batch delay) set,
//!   sends an `allocate` span for a new Service with its name, namespace, pool and the IP it
//!   got, child of the `reconcile` pass that made it, and the `config_status` pass; the
//!   resource says `service.name=ferrolb-controller`, `k8s.namespace.name` from the downward-API
//!   variable, and what `OTEL_RESOURCE_ATTRIBUTES` adds. The exporter threads exist.
//! - Three speakers, each exporting to a Collector in its node's netns with a batch delay of
//!   ten minutes, so nothing leaves before they stop: after SIGTERM every Collector holds the
//!   speaker's `plan` spans (flushed at shutdown), and the node elected for the Service's IP
//!   holds the `l2.owner_change` span (IP, node, announcing) with `k8s.node.name`.
//! - With no `OTEL_*` variable, a controller allocating an IP connects to nothing (a listener
//!   on the default OTLP port 4318 sees no connection) and starts no exporter thread.
//!
//! - BGP-mode speakers (`otel_bgp_spans_reach_a_real_collector`): the `bgp.session_state` span
//!   of the session with the rig's FRR reaching Established, and the `bgp.update_batch` span
//!   announcing the Service's /32, flushed at SIGTERM.
//!
//! Skipped unless `FERROLB_E2E=1`, and with a message when `otelcol-ferrolb` was not built.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::bgp::{self, Router};
use ferrolb_e2e::bgp_setup::{self, Suite};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::otelcol::{self, Collector, Span, thread_names};
use ferrolb_e2e::procs::{self, OperatorOpts, Proc};
use ferrolb_e2e::{Rig, wait_for};

const NAME: &str = "otel_traces_reach_a_real_collector";
/// The host Collector's OTLP/HTTP port (+100 × rig instance).
const HOST_OTLP: u16 = 14318;
/// The node Collectors' port, on each node netns' own loopback.
const NODE_OTLP: u16 = 24318;
/// The speakers' metrics and probe ports in their node netns (other tests use 27472/3, 27482/3).
const SPK_PORT: &str = "27492";
const SPK_HEALTH: &str = "27493";
/// The OTLP/HTTP port an exporter would use without an endpoint (the specification's default).
const DEFAULT_OTLP_PORT: u16 = 4318;

fn controller(rig: &Rig, log: &str, env: &[(&str, &str)]) -> Result<Proc> {
    let mut cmd = procs::operator_command(
        rig,
        OperatorOpts {
            log,
            lb_class: Some(CLASS),
            log_filter: "info",
            pod: None,
        },
    )?;
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OTEL_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    Ok(Proc(cmd.spawn().context("starting ferrolb-operator")?))
}

fn find<'a>(spans: &'a [Span], name: &str, attr: (&str, &str)) -> Option<&'a Span> {
    spans
        .iter()
        .find(|s| s.name == name && s.attr(attr.0) == attr.1)
}

#[tokio::test]
async fn otel_traces_reach_a_real_collector() -> Result<()> {
    let Some(rig) = Rig::from_env(NAME) else {
        return Ok(());
    };
    let Some(bin) = otelcol::binary() else {
        eprintln!("SKIP {NAME}: no otelcol-ferrolb (e2e/build-upstream.sh builds it)");
        return Ok(());
    };
    install(&rig)?;
    let result = async {
        let host = Collector::start(&rig, &bin, "controller", None, rig.host_port(HOST_OTLP))?;
        let traced = controller(
            &rig,
            "ferrolb-operator-otel",
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", host.endpoint.as_str()),
                ("OTEL_BSP_SCHEDULE_DELAY", "200"),
                ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ferrolb-e2e"),
            ],
        )?;
        let mut nodes = BTreeMap::new();
        for n in rig.node_names() {
            let ns = rig.node_ns(&n);
            let c = Collector::start(&rig, &bin, &format!("speaker-{n}"), Some(ns.as_str()), NODE_OTLP)?;
            nodes.insert(n, c);
        }
        let mut speakers = Speakers::none(&rig, &["--port", SPK_PORT, "--health-probe-port", SPK_HEALTH])?;
        speakers.env = vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                format!("http://127.0.0.1:{NODE_OTLP}"),
            ),
            // Nothing is sent before the speakers stop: what arrives was flushed at shutdown.
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "600000".into()),
        ];
        for n in rig.node_names() {
            speakers.start_one(&rig, &n)?;
        }

        // The controller: the allocation span of a new Service, inside its reconcile pass.
        workload(&rig, "otel-web", 1, None, "Cluster")?;
        let ip = wait_ip(&rig, "otel-web").await?;
        let service = format!("{NS}/otel-web");
        let (alloc, spans) = wait_for(
            "the allocate span of otel-web in the Collector",
            Duration::from_secs(30),
            || format!("{}\n--- collector ---\n{}", diag(&rig), rig.log_tail("otelcol-controller", 20)),
            || async {
                let spans = host.spans()?;
                Ok(find(&spans, "allocate", ("service", &service))
                    .filter(|s| s.attr("ips") == ip)
                    .cloned()
                    .map(|s| (s, spans)))
            },
        )
        .await?;
        for (key, want) in [
            ("name", "otel-web"),
            ("namespace", NS),
            ("pool", "l2-e2e-v4"),
            ("change", "allocated"),
        ] {
            ensure!(alloc.attr(key) == want, "allocate {key}: {alloc:?}");
        }
        for (key, want) in [
            ("service.name", "ferrolb-controller"),
            ("k8s.namespace.name", SYSTEM),
            ("deployment.environment", "ferrolb-e2e"),
        ] {
            ensure!(
                alloc.resource.get(key).map(String::as_str) == Some(want),
                "resource {key}: {:?}",
                alloc.resource
            );
        }
        let pass = spans
            .iter()
            .find(|s| s.span_id == alloc.parent_span_id)
            .with_context(|| format!("no parent span of {alloc:?}"))?;
        ensure!(
            pass.name == "reconcile" && pass.trace_id == alloc.trace_id,
            "parent: {pass:?}"
        );
        ensure!(
            pass.attr("actions").parse::<u64>().is_ok_and(|n| n >= 1),
            "reconcile actions: {pass:?}"
        );
        wait_for(
            "a config_status span",
            Duration::from_secs(30),
            || rig.log_tail("otelcol-controller", 20),
            || async { Ok(host.spans()?.iter().any(|s| s.name == "config_status").then_some(())) },
        )
        .await?;
        let threads = thread_names(traced.pid())?;
        ensure!(
            threads.iter().any(|t| t == "otlp-export")
                && threads.iter().any(|t| t.starts_with("OpenTelemetry")),
            "exporter threads of the traced controller: {threads:?}"
        );

        // The speakers: the elected node announces; their spans arrive when they stop.
        let owner = expected_owner(&ip, &rig.node_names())?;
        wait_arp_owner(&rig, &ip, &rig.node_mac(&owner)?).await?;
        for (n, spans) in flushed_spans(&rig, &mut speakers, &nodes, "speaker", "plan").await? {
            let plan = spans.iter().find(|s| s.name == "plan").context("plan")?;
            ensure!(
                plan.resource.get("service.name").map(String::as_str) == Some("ferrolb-speaker")
                    && plan.resource.get("k8s.node.name") == Some(&n),
                "speaker resource on {n}: {:?}",
                plan.resource
            );
            let announced = spans.iter().find(|s| {
                s.name == "l2.owner_change" && s.attr("ip") == ip && s.attr("announcing") == "true"
            });
            if *n == owner {
                let a = announced.with_context(|| format!("no l2.owner_change for {ip} on {n}"))?;
                ensure!(a.attr("node") == n, "owner change: {a:?}");
                // The log line written inside the span is its event.
                ensure!(
                    a.events.iter().any(|e| e.starts_with("announcing")),
                    "owner change events: {a:?}"
                );
            } else {
                ensure!(announced.is_none(), "{n} is not elected but announced: {announced:?}");
            }
        }
        drop(traced);

        // No OTEL_* variable: no connection, no exporter thread.
        let listener = TcpListener::bind(("127.0.0.1", DEFAULT_OTLP_PORT));
        if let Err(e) = &listener {
            eprintln!("note: cannot listen on 127.0.0.1:{DEFAULT_OTLP_PORT} ({e}): only the threads are checked");
        }
        let plain = controller(&rig, "ferrolb-operator-otel-off", &[])?;
        workload(&rig, "otel-off", 1, None, "Cluster")?;
        wait_ip(&rig, "otel-off").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let threads = thread_names(plain.pid())?;
        ensure!(
            !threads
                .iter()
                .any(|t| t == "otlp-export" || t.starts_with("OpenTelemetry")),
            "exporter threads without OTEL_*: {threads:?}"
        );
        if let Ok(l) = &listener {
            l.set_nonblocking(true)?;
            match l.accept() {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                other => anyhow::bail!("a connection to the default OTLP port: {other:?}"),
            }
        }
        ensure!(
            find(&host.spans()?, "allocate", ("name", "otel-off")).is_none(),
            "the controller without OTEL_* exported a span"
        );
        drop(plain);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    cleanup(&rig);
    result
}

/// Stops every speaker (SIGTERM: they flush what the ten-minute batch delay held back) and
/// waits, per node, until its Collector (`otelcol-<log>-<node>`) holds a span named `name`;
/// the spans of each node.
async fn flushed_spans(
    rig: &Rig,
    speakers: &mut Speakers,
    nodes: &BTreeMap<String, Collector>,
    log: &str,
    name: &str,
) -> Result<Vec<(String, Vec<Span>)>> {
    for n in rig.node_names() {
        speakers.stop(&n)?;
    }
    let mut out = Vec::new();
    for (n, c) in nodes {
        let spans = wait_for(
            &format!("a {name} span from the speaker on {n}"),
            Duration::from_secs(15),
            || rig.log_tail(&format!("otelcol-{log}-{n}"), 20),
            || async {
                let s = c.spans()?;
                Ok(s.iter().any(|s| s.name == name).then_some(s))
            },
        )
        .await?;
        out.push((n.clone(), spans));
    }
    Ok(out)
}

/// The BGP suite of [`otel_bgp_spans_reach_a_real_collector`].
const BGP_SUITE: Suite = Suite {
    ns: "otel-bgp",
    class: "e2e.ferrolb.io/otel-bgp",
    name: "otel-bgp",
};
/// Its pool (no other test uses it) and the rig's FRR (AS 64513, every LAN address accepted).
const BGP_POOL: &str = "10.250.6.0/28";
const FRR_V4: &str = "172.18.0.1";

/// BGP-mode speakers exporting to a Collector in their node's netns, with a ten-minute batch
/// delay: after SIGTERM each Collector holds the `bgp.session_state` span of the session with
/// the rig's FRR reaching Established (peer = the BGPPeer's name, address, from, to) and a
/// `bgp.update_batch` span announcing the Service's /32 (docs/tracing.md).
#[tokio::test]
async fn otel_bgp_spans_reach_a_real_collector() -> Result<()> {
    const TEST: &str = "otel_bgp_spans_reach_a_real_collector";
    let Some(rig) = Rig::from_env(TEST) else {
        return Ok(());
    };
    let Some(bin) = otelcol::binary() else {
        eprintln!("SKIP {TEST}: no otelcol-ferrolb (e2e/build-upstream.sh builds it)");
        return Ok(());
    };
    BGP_SUITE.install(&rig)?;
    let peer = "otel-bgp-frr";
    kubectl_apply(
        &rig,
        &format!(
            "{}{}",
            bgp_setup::pool_yaml("otel-bgp", BGP_POOL),
            bgp_setup::peer_yaml(peer, 64513, FRR_V4, "")
        ),
    )?;
    let result = async {
        let _op = BGP_SUITE.start_operator(&rig)?;
        let mut nodes = BTreeMap::new();
        for n in rig.node_names() {
            let ns = rig.node_ns(&n);
            let c = Collector::start(
                &rig,
                &bin,
                &format!("bgp-speaker-{n}"),
                Some(ns.as_str()),
                NODE_OTLP,
            )?;
            nodes.insert(n, c);
        }
        let mut speakers = Speakers::none(
            &rig,
            &[
                "--lb-class",
                BGP_SUITE.class,
                "--enable-l2=false",
                "--port",
                SPK_PORT,
                "--health-probe-port",
                SPK_HEALTH,
            ],
        )?;
        speakers.env = vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                format!("http://127.0.0.1:{NODE_OTLP}"),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "600000".into()),
        ];
        for n in rig.node_names() {
            speakers.start_one(&rig, &n)?;
        }
        BGP_SUITE.workload(&rig, "otel-bgp-web", 1, "IPv4", "otel-bgp")?;
        let ip = BGP_SUITE
            .wait_ip(&rig, "otel-bgp-web", Duration::from_secs(40))
            .await?;
        let prefix = format!("{ip}/32");
        bgp::wait_route(&rig, Router::Frr, &prefix, Duration::from_secs(40), |p| {
            p.len() == rig.nodes
        })
        .await?;
        for (n, spans) in flushed_spans(
            &rig,
            &mut speakers,
            &nodes,
            "bgp-speaker",
            "bgp.update_batch",
        )
        .await?
        {
            let up = spans
                .iter()
                .find(|s| s.name == "bgp.session_state" && s.attr("to") == "Established")
                .with_context(|| format!("no Established bgp.session_state on {n}"))?;
            ensure!(
                up.attr("peer") == peer
                    && up.attr("address").starts_with(FRR_V4)
                    && up.attr("from") == "OpenConfirm",
                "session span on {n}: {up:?}"
            );
            let batch = spans
                .iter()
                .find(|s| {
                    s.name == "bgp.update_batch"
                        && s.attr("announced").split(',').any(|p| p == prefix)
                })
                .with_context(|| format!("no bgp.update_batch announcing {prefix} on {n}"))?;
            ensure!(
                batch.attr("peer") == peer
                    && batch
                        .attr("announced_count")
                        .parse::<usize>()
                        .is_ok_and(|c| c >= 1),
                "update batch on {n}: {batch:?}"
            );
            ensure!(
                batch.resource.get("k8s.node.name") == Some(&n),
                "resource on {n}: {:?}",
                batch.resource
            );
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    BGP_SUITE.cleanup_objects(
        &rig,
        &[
            "ipaddresspools.metallb.io/otel-bgp".into(),
            "bgpadvertisements.metallb.io/otel-bgp".into(),
            format!("bgppeers.metallb.io/{peer}"),
        ],
    );
    result
}
