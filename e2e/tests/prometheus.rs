//! A real Prometheus (Debian's `prometheus` package, which `e2e/run.sh` installs) scraping
//! ferrolb on the rig and answering the queries MetalLB's dashboards and alerts use (issue 18):
//!
//! - one Prometheus on the host scrapes the controller (`127.0.0.1:7472`, + 100 × the rig
//!   instance, job `metallb`) and
//!   evaluates the chart's PrometheusRule (rendered with `helm template`, MetalLB's alerts)
//!   every second; a two-address pool with two Services makes
//!   `metallb_allocator_addresses_in_use_total` equal `metallb_allocator_addresses_total` for
//!   it, and `MetalLBAddressPoolExhausted` becomes active (`ALERTS`, pending or firing) for that
//!   pool, with `metallb_k8s_client_config_loaded_bool` 1 and `MetalLBConfigNotLoaded` inactive;
//! - one Prometheus in the client namespace (on the LAN) scrapes the three speakers: every target
//!   is `up`, each exports MetalLB's `metallb_k8s_client_*` (configuration loaded, not stale,
//!   writes counted), `metallb_speaker_announced` says which node announces each Service (one node per
//!   IP, the elected one), and after the client's ARP requests
//!   `increase(metallb_layer2_requests_received[1m])` for the IP is positive — the counters
//!   under MetalLB's exact names (no `_total`), as a MetalLB dashboard queries them;
//! - every query of the chart's Grafana dashboard (`charts/ferrolb/files/grafana/`) runs on
//!   the two and returns data (BGP/BFD panels excepted: no BGP here).
//!
//! Skipped unless `FERROLB_E2E=1`; the alert part needs the pinned Helm (skipped with a message
//! without it). Prometheus listens on loopback only, scrapes every 1 s, and is killed at the end.
#![forbid(unsafe_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::procs::Proc;
use ferrolb_e2e::procs::project;
use ferrolb_e2e::workload::Echo;
use ferrolb_e2e::{Rig, grafana, helm, run, wait_for};
use serde::Deserialize;
use serde_json::{Value, json};

/// The speakers' metrics and probe ports in their node netns (other L2 tests use 27472/3).
const SPK_PORT: &str = "27482";
const SPK_HEALTH: &str = "27483";
/// A two-address pool: two Services exhaust it.
const TINY_POOL: &str = "l2-e2e-prom";
const TINY_RANGE: &str = "172.18.255.252-172.18.255.253";

struct Prometheus {
    _proc: Proc,
    netns: Option<String>,
    port: u16,
}

impl Prometheus {
    /// Starts `prometheus` (in `netns`, or on the host) with `config`, listening on loopback.
    fn start(
        rig: &Rig,
        name: &str,
        netns: Option<String>,
        port: u16,
        config: &str,
        rules: Option<&str>,
    ) -> Result<Self> {
        let dir = rig.run_dir.join(format!("prometheus-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))?;
        if let Some(r) = rules {
            std::fs::write(dir.join("rules.yaml"), r)?;
        }
        std::fs::write(dir.join("prometheus.yml"), config)?;
        let log = rig.log_file(&format!("prometheus-{name}"))?;
        let mut cmd = match &netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "prometheus"]);
                c
            }
            None => Command::new("prometheus"),
        };
        cmd.arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
        let child = cmd.spawn().context("starting prometheus")?;
        Ok(Self {
            _proc: Proc(child),
            netns,
            port,
        })
    }

    /// The `result` of an instant query.
    fn query(&self, q: &str) -> Result<Vec<Value>> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let form = format!("query={q}");
        let args = [
            "curl",
            "-sS",
            "--max-time",
            "3",
            "--data-urlencode",
            form.as_str(),
            url.as_str(),
        ];
        let out = match &self.netns {
            Some(ns) => run(Command::new("ip").args(["netns", "exec", ns]).args(args))?,
            None => run(Command::new(args[0]).args(&args[1..]))?,
        };
        let v: Value = serde_json::from_str(&out).with_context(|| format!("{q}: {out}"))?;
        ensure!(v["status"] == "success", "{q}: {out}");
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }
}

/// The value of a vector sample.
fn value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

fn scrape_config(targets: &[String], rules: bool) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{}scrape_configs:\n- job_name: metallb\n  static_configs:\n  - targets: [{}]\n",
        if rules {
            "rule_files: [rules.yaml]\n"
        } else {
            ""
        },
        targets.join(", ")
    )
}

/// The chart's PrometheusRule groups as a Prometheus rule file, when Helm is there.
fn chart_rules() -> Result<Option<String>> {
    let Some(bin) = helm::binary() else {
        eprintln!("SKIP prometheus alerts: no helm (e2e/build-upstream.sh --with-helm)");
        return Ok(None);
    };
    let scratch = std::env::temp_dir().join(format!("ferrolb-prom-rules-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let out = helm::template_command(
        &bin,
        &scratch,
        &[
            "--set",
            "prometheus.prometheusRule.enabled=true",
            "--show-only",
            "templates/prometheusrule.yaml",
        ],
    )
    .output();
    let _ = std::fs::remove_dir_all(&scratch);
    let out = out.context("helm template")?;
    ensure!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rule = Value::deserialize(serde_yaml::Deserializer::from_str(&text))
        .context("rendered PrometheusRule")?;
    Ok(Some(serde_yaml::to_string(
        &json!({"groups": rule["spec"]["groups"]}),
    )?))
}

fn tiny_pool(rig: &Rig) -> Result<()> {
    kubectl_apply(
        rig,
        &format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {TINY_POOL}, namespace: {SYSTEM}}}\nspec: {{addresses: [\"{TINY_RANGE}\"], autoAssign: false}}\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {TINY_POOL}, namespace: {SYSTEM}}}\nspec: {{ipAddressPools: [{TINY_POOL}]}}\n"
        ),
    )
}

fn echo(rig: &Rig, name: &str) -> Result<()> {
    Echo {
        ns: NS,
        name,
        replicas: 1,
        class: CLASS,
        pool: TINY_POOL,
        node: None,
        etp: Some("Cluster"),
        family: None,
    }
    .apply(rig)
}

#[tokio::test]
async fn prometheus_scrapes_metallb_names_and_fires_metallb_alerts() -> Result<()> {
    let Some(rig) = Rig::from_env("prometheus_scrapes_metallb_names_and_fires_metallb_alerts")
    else {
        return Ok(());
    };
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIP prometheus_scrapes_metallb_names_and_fires_metallb_alerts: no prometheus (Debian package)"
        );
        return Ok(());
    }
    install(&rig)?;
    tiny_pool(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(
        &rig,
        &["--port", SPK_PORT, "--health-probe-port", SPK_HEALTH],
    )?;
    let result = async {
        let rules = chart_rules()?;
        let host = Prometheus::start(
            &rig,
            "controller",
            None,
            rig.host_port(19090),
            &scrape_config(
                &[format!(
                    "127.0.0.1:{}",
                    rig.host_port(ferrolb_e2e::procs::OPERATOR_METRICS_PORT)
                )],
                rules.is_some(),
            ),
            rules.as_deref(),
        )?;
        let speaker_targets: Vec<String> = (1..=rig.nodes)
            .map(|i| format!("{}:{SPK_PORT}", node_ip(i)))
            .collect();
        let lan = Prometheus::start(
            &rig,
            "speakers",
            Some(rig.client_ns()),
            19091,
            &scrape_config(&speaker_targets, false),
            None,
        )?;

        echo(&rig, "prom-a")?;
        echo(&rig, "prom-b")?;
        let ip_a = wait_ip(&rig, "prom-a").await?;
        wait_ip(&rig, "prom-b").await?;
        let owner = expected_owner(&ip_a, &rig.node_names())?;
        wait_arp_owner(&rig, &ip_a, &rig.node_mac(&owner)?).await?;

        // The controller's allocator metrics and MetalLB's pool alert, as Prometheus sees them.
        let pool = format!("{{pool=\"{TINY_POOL}\"}}");
        wait_for(
            "Prometheus: the tiny pool full (in use == total == 2)",
            Duration::from_secs(60),
            || diag(&rig),
            || async {
                let used =
                    host.query(&format!("metallb_allocator_addresses_in_use_total{pool}"))?;
                let total = host.query(&format!("metallb_allocator_addresses_total{pool}"))?;
                Ok((used.len() == 1
                    && total.len() == 1
                    && value(&used[0]) == 2.0
                    && value(&total[0]) == 2.0)
                    .then_some(()))
            },
        )
        .await?;
        let loaded = host.query("metallb_k8s_client_config_loaded_bool")?;
        ensure!(
            !loaded.is_empty() && loaded.iter().all(|s| value(s) == 1.0),
            "config_loaded: {loaded:?}"
        );
        if rules.is_some() {
            wait_for(
                "MetalLBAddressPoolExhausted active for the tiny pool",
                Duration::from_secs(30),
                || diag(&rig),
                || async {
                    let a = host.query(&format!(
                        "ALERTS{{alertname=\"MetalLBAddressPoolExhausted\",pool=\"{TINY_POOL}\"}}"
                    ))?;
                    Ok((!a.is_empty()).then_some(()))
                },
            )
            .await?;
            let not_loaded = host.query("ALERTS{alertname=\"MetalLBConfigNotLoaded\"}")?;
            ensure!(
                not_loaded.is_empty(),
                "MetalLBConfigNotLoaded active: {not_loaded:?}"
            );
        }

        // The speakers: up, who announces, and the ARP counters under MetalLB's names.
        wait_for(
            "Prometheus: every speaker target up",
            Duration::from_secs(60),
            || diag(&rig),
            || async {
                let up = lan.query("up{job=\"metallb\"}")?;
                Ok((up.len() == rig.nodes && up.iter().all(|s| value(s) == 1.0)).then_some(()))
            },
        )
        .await?;
        // MetalLB's `metallb_k8s_client_*` from every speaker too (its alerts read them per
        // Pod): a configuration loaded, none stale, status write passes counted.
        wait_for(
            "Prometheus: every speaker's k8s_client metrics",
            Duration::from_secs(30),
            || diag(&rig),
            || async {
                let loaded = lan.query("metallb_k8s_client_config_loaded_bool{job=\"metallb\"}")?;
                let stale = lan.query("metallb_k8s_client_config_stale_bool{job=\"metallb\"}")?;
                let updates = lan.query("metallb_k8s_client_updates_total{job=\"metallb\"}")?;
                Ok((loaded.len() == rig.nodes
                    && loaded.iter().all(|s| value(s) == 1.0)
                    && stale.len() == rig.nodes
                    && stale.iter().all(|s| value(s) == 0.0)
                    && updates.len() == rig.nodes
                    && updates.iter().all(|s| value(s) >= 1.0))
                .then_some(()))
            },
        )
        .await?;
        let announced_q = format!("metallb_speaker_announced{{protocol=\"layer2\",ip=\"{ip_a}\"}}");
        let announced = wait_for(
            "Prometheus: metallb_speaker_announced for prom-a",
            Duration::from_secs(30),
            || diag(&rig),
            || async {
                let s = lan.query(&announced_q)?;
                Ok((!s.is_empty()).then_some(s))
            },
        )
        .await?;
        ensure!(
            announced.len() == 1,
            "one node announces {ip_a}: {announced:?}"
        );
        ensure!(
            announced[0]["metric"]["node"] == owner.as_str(),
            "{announced:?}, elected {owner}"
        );
        ensure!(
            announced[0]["metric"]["service"] == format!("{NS}/prom-a"),
            "{announced:?}"
        );
        let requests_q =
            format!("sum(increase(metallb_layer2_requests_received{{ip=\"{ip_a}\"}}[1m]))");
        wait_for(
            "Prometheus: increase(metallb_layer2_requests_received) > 0 after ARP requests",
            Duration::from_secs(60),
            || diag(&rig),
            || async {
                rig.arp_who_has(&ip_a, 2)?;
                let r = lan.query(&requests_q)?;
                Ok((r.len() == 1 && value(&r[0]) > 0.0).then_some(()))
            },
        )
        .await?;
        let responses = lan.query(&format!("metallb_layer2_responses_sent{{ip=\"{ip_a}\"}}"))?;
        ensure!(
            responses.iter().any(|s| value(s) > 0.0),
            "responses_sent: {responses:?}"
        );

        // The chart's Grafana dashboard: every panel query runs on these Prometheus servers and
        // shows data, except the BGP/BFD panels (no BGP here) and the per-reason heartbeat
        // checks (none happened).
        let file = project().join("charts/ferrolb/files/grafana/ferrolb-dashboard.json");
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
        for q in grafana::dashboard_queries(&dashboard)? {
            let n = host.query(&q)?.len() + lan.query(&q)?.len();
            let may_be_empty = ["metallb_bgp_", "metallb_bfd_", "heartbeat_checks"]
                .iter()
                .any(|m| q.contains(m));
            ensure!(n > 0 || may_be_empty, "dashboard query without data: {q}");
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    drop(speakers);
    let _ = rig.kubectl(&[
        "-n",
        SYSTEM,
        "delete",
        &format!("ipaddresspool/{TINY_POOL}"),
        &format!("l2advertisement/{TINY_POOL}"),
        "--ignore-not-found",
    ]);
    cleanup(&rig);
    result
}
