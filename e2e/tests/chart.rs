//! The Helm chart as a MetalLB user's values file meets it (issue 18, "Helm values
//! compatibility"), rendered offline with the rig's pinned Helm (`helm template`; no cluster):
//!
//! - `e2e/testdata/metallb-values.yaml` — MetalLB chart keys as its users write them — renders,
//!   and each key takes effect in the objects (ports, probes, strategies, ServiceAccounts and
//!   their bindings, scrape annotations, PodMonitors, ServiceMonitors, PrometheusRule, webhook
//!   failure policy, ...);
//! - the defaults render what the manifests install (the `metallb-excludel2` ConfigMap mounted
//!   at /etc/metallb included), and the switches (controller.enabled,
//!   controller.webhookMode, l2/bgp) add or remove the right objects;
//! - what ferrolb cannot honour fails with a message naming the key (values.schema.json for
//!   unknown keys, templates/validate.yaml for the rest);
//! - the PrometheusRule's alerts fire as MetalLB's do: `promtool test rules` (Debian's
//!   prometheus package, installed by e2e/run.sh) over series named as ferrolb exposes them.
//!
//! Needs only the Helm binary (`e2e/build-upstream.sh --with-helm`; CI builds it); skipped with a
//! message without it (and the promtool part without promtool).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ferrolb_e2e::helm;
use ferrolb_e2e::procs::project;
use serde::Deserialize;
use serde_json::{Value, json};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("ferrolb-chart-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Renders the chart with `args`; Ok(objects) or Err(Helm's message).
fn render(bin: &Path, args: &[&str]) -> Result<Result<Vec<Value>, String>> {
    let scratch = Scratch::new("render")?;
    let out = helm::template_command(bin, &scratch.0, args)
        .output()
        .context("running helm template")?;
    if !out.status.success() {
        return Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut objects = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).context("rendered YAML")?;
        if !v.is_null() {
            objects.push(v);
        }
    }
    Ok(Ok(objects))
}

fn render_ok(bin: &Path, args: &[&str]) -> Result<Vec<Value>> {
    render(bin, args)?.map_err(|e| anyhow::anyhow!("helm template {args:?} failed: {e}"))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Result<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .with_context(|| format!("no {kind} {name} rendered"))
}

fn count(objects: &[Value], kind: &str) -> usize {
    objects.iter().filter(|o| o["kind"] == kind).count()
}

fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

fn env<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["env"]
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == name))
        .unwrap_or(&Value::Null)
}

fn helm_or_skip(test: &str) -> Option<PathBuf> {
    let bin = helm::binary();
    if bin.is_none() {
        eprintln!(
            "SKIP chart::{test}: no helm (e2e/build-upstream.sh --with-helm, or FERROLB_E2E_HELM)"
        );
    }
    bin
}

#[test]
fn metallb_values_take_effect() -> Result<()> {
    let Some(bin) = helm_or_skip("metallb_values_take_effect") else {
        return Ok(());
    };
    let values = project().join("e2e/testdata/metallb-values.yaml");
    let objs = render_ok(&bin, &["-f", &values.to_string_lossy()])?;

    let ctrl = find(&objs, "Deployment", "controller")?;
    let pod = &ctrl["spec"]["template"];
    ensure!(ctrl["spec"]["strategy"] == json!({"type": "RollingUpdate"}));
    ensure!(pod["metadata"]["labels"]["team"] == "network");
    let ann = &pod["metadata"]["annotations"];
    ensure!(ann["example.com/scrape"] == "yes" && ann["prometheus.io/scrape"] == "true");
    ensure!(ann["prometheus.io/port"] == "7473", "scrape port: {ann}");
    let spec = &pod["spec"];
    ensure!(spec["serviceAccountName"] == "lb-controller");
    ensure!(spec["runtimeClassName"] == "gvisor");
    ensure!(spec["priorityClassName"] == "system-cluster-critical");
    ensure!(spec["imagePullSecrets"] == json!([{"name": "regcred"}]));
    ensure!(spec["tolerations"] == json!([{"key": "infra", "operator": "Exists"}]));
    let sc = &spec["securityContext"];
    ensure!(sc["runAsUser"] == 65534 && sc["fsGroup"] == 65534, "{sc}");
    ensure!(
        sc["seccompProfile"]["type"] == "RuntimeDefault",
        "kept ferrolb's: {sc}"
    );
    let c = container(ctrl);
    ensure!(
        c["args"] == json!(["--port=7473", "--log-level=debug", "--log-format=json"]),
        "{}",
        c["args"]
    );
    ensure!(c["ports"][0]["containerPort"] == 7473);
    ensure!(c["resources"]["limits"]["cpu"] == "100m");
    let live = &c["livenessProbe"];
    ensure!(
        live["failureThreshold"] == 5 && live["initialDelaySeconds"] == 20,
        "{live}"
    );
    ensure!(
        live["periodSeconds"] == 15 && live["timeoutSeconds"] == 2,
        "{live}"
    );
    ensure!(
        c["readinessProbe"].is_null(),
        "readinessProbe.enabled=false"
    );

    let ds = find(&objs, "DaemonSet", "speaker")?;
    ensure!(ds["spec"]["updateStrategy"] == json!({"type": "OnDelete"}));
    let spod = &ds["spec"]["template"];
    ensure!(spod["metadata"]["labels"]["tier"] == "edge");
    ensure!(spod["spec"]["serviceAccountName"] == "lb-speaker");
    // tolerateMaster: false leaves only the user's tolerations.
    let tol = &spod["spec"]["tolerations"];
    ensure!(
        tol == &json!([{"key": "edge", "operator": "Exists", "effect": "NoSchedule"}]),
        "{tol}"
    );
    let s = container(ds);
    let args: Vec<&str> = s["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "--log-level=warn",
        "--liveness-port=7946",
        "--port=7473",
        "--ignore-exclude-lb",
    ] {
        ensure!(args.contains(&want), "speaker args {args:?} lack {want}");
    }
    ensure!(
        env(s, "METALLB_HOST")["value"] == "10.0.0.10",
        "mlBindAddrOverride"
    );
    ensure!(env(s, "METALLB_ML_SECRET_NAME")["value"] == "my-memberlist");
    ensure!(s["startupProbe"].is_null(), "startupProbe.enabled=false");
    find(&objs, "Secret", "my-memberlist")?;

    // serviceAccount.create/name/annotations and the bindings that follow the name.
    let sa = find(&objs, "ServiceAccount", "lb-controller")?;
    ensure!(sa["metadata"]["annotations"]["example.com/role"] == "controller");
    ensure!(
        find(&objs, "ServiceAccount", "lb-speaker").is_err(),
        "speaker SA create=false"
    );
    ensure!(find(&objs, "ServiceAccount", "speaker").is_err());
    for (kind, name, sa) in [
        (
            "ClusterRoleBinding",
            "metallb-system:controller",
            "lb-controller",
        ),
        ("ClusterRoleBinding", "metallb-system:speaker", "lb-speaker"),
        ("RoleBinding", "controller", "lb-controller"),
        ("RoleBinding", "speaker", "lb-speaker"),
    ] {
        let b = find(&objs, kind, name)?;
        ensure!(
            b["subjects"][0]["name"] == sa,
            "{kind} {name}: {}",
            b["subjects"]
        );
    }

    // Prometheus Operator objects and Prometheus' RBAC.
    let pm = find(&objs, "PodMonitor", "speaker")?;
    ensure!(pm["metadata"]["labels"]["release"] == "kube-prometheus-stack");
    ensure!(pm["spec"]["jobLabel"] == "app.kubernetes.io/name");
    let ep = &pm["spec"]["podMetricsEndpoints"][0];
    ensure!(
        ep["interval"] == "15s" && ep["metricRelabelings"][0]["regex"] == "metallb_.*",
        "{ep}"
    );
    find(&objs, "PodMonitor", "controller")?;
    let smc = find(&objs, "ServiceMonitor", "controller-monitor")?;
    ensure!(smc["metadata"]["labels"]["team"] == "network");
    ensure!(smc["spec"]["endpoints"][0]["interval"] == "20s");
    let sms = find(&objs, "ServiceMonitor", "speaker-monitor")?;
    ensure!(sms["metadata"]["annotations"]["owner"] == "network");
    ensure!(find(&objs, "Service", "speaker-monitor-service")?["spec"]["ports"][0]["port"] == 7473);
    let rb = find(&objs, "RoleBinding", "prometheus-k8s")?;
    ensure!(
        rb["subjects"]
            == json!([{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}])
    );
    let rule = find(&objs, "PrometheusRule", "ferrolb")?;
    let alerts: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["alert"].as_str())
        .collect();
    ensure!(
        alerts
            == [
                "MetalLBStaleConfig",
                "MetalLBConfigNotLoaded",
                "MetalLBAddressPoolExhausted",
                "MetalLBAddressPoolUsage80Percent",
                "MetalLBBGPSessionDown",
                "MetalLBExtra"
            ],
        "{alerts:?}"
    );

    let vwc = find(
        &objs,
        "ValidatingWebhookConfiguration",
        "metallb-webhook-configuration",
    )?;
    let policies: Vec<&Value> = vwc["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| &w["failurePolicy"])
        .collect();
    ensure!(
        !policies.is_empty() && policies.iter().all(|p| *p == "Ignore"),
        "{policies:?}"
    );
    Ok(())
}

#[test]
fn defaults_and_switches() -> Result<()> {
    let Some(bin) = helm_or_skip("defaults_and_switches") else {
        return Ok(());
    };
    let objs = render_ok(&bin, &[])?;
    for (kind, name) in [
        ("Deployment", "controller"),
        ("Deployment", "webhook"),
        ("DaemonSet", "speaker"),
    ] {
        find(&objs, kind, name)?;
    }
    for kind in ["PodMonitor", "ServiceMonitor", "PrometheusRule"] {
        ensure!(count(&objs, kind) == 0, "{kind} rendered by default");
    }
    let ds = find(&objs, "DaemonSet", "speaker")?;
    let tol = ds["spec"]["template"]["spec"]["tolerations"].to_string();
    ensure!(
        tol.contains("node-role.kubernetes.io/control-plane"),
        "tolerateMaster default: {tol}"
    );
    ensure!(
        find(&objs, "Deployment", "controller")?["spec"]["strategy"] == json!({"type": "Recreate"})
    );
    let c = container(find(&objs, "Deployment", "controller")?);
    ensure!(c["args"][0] == "--port=7472" && c["readinessProbe"]["httpGet"]["path"] == "/readyz");
    // MetalLB's interface exclusion ConfigMap, mounted where the speaker reads it.
    let cm = find(&objs, "ConfigMap", "metallb-excludel2")?;
    ensure!(
        cm["data"]["excludel2.yaml"]
            .as_str()
            .is_some_and(|t| t.contains("- ^veth.*"))
    );
    let vol = &ds["spec"]["template"]["spec"]["volumes"][0];
    ensure!(
        vol["configMap"]["name"] == "metallb-excludel2" && vol["configMap"]["optional"] == true,
        "{vol}"
    );
    ensure!(container(ds)["volumeMounts"][0]["mountPath"] == "/etc/metallb");
    ensure!(
        find(&objs, "ServiceAccount", "speaker").is_ok()
            && find(&objs, "ServiceAccount", "controller").is_ok()
    );

    let no_ctrl = render_ok(&bin, &["--set", "controller.enabled=false"])?;
    ensure!(find(&no_ctrl, "Deployment", "controller").is_err());
    ensure!(find(&no_ctrl, "ServiceAccount", "controller").is_err());
    ensure!(
        find(&no_ctrl, "DaemonSet", "speaker").is_ok()
            && find(&no_ctrl, "Deployment", "webhook").is_ok()
    );

    let no_hook = render_ok(&bin, &["--set", "controller.webhookMode=disabled"])?;
    ensure!(find(&no_hook, "Deployment", "webhook").is_err());
    ensure!(count(&no_hook, "ValidatingWebhookConfiguration") == 0);

    let no_speaker = render_ok(
        &bin,
        &["--set", "l2.enabled=false", "--set", "bgp.enabled=false"],
    )?;
    ensure!(find(&no_speaker, "DaemonSet", "speaker").is_err());
    ensure!(find(&no_speaker, "ClusterRole", "metallb-system:speaker").is_err());

    // The older ferrolb keys still work, and MetalLB's prometheus.metricsPort wins over them.
    let old = render_ok(
        &bin,
        &[
            "--set",
            "metrics.port=9100",
            "--set",
            "metrics.serviceMonitor.enabled=true",
        ],
    )?;
    ensure!(container(find(&old, "Deployment", "controller")?)["args"][0] == "--port=9100");
    ensure!(
        find(&old, "ServiceMonitor", "speaker-monitor")?["spec"]["endpoints"][0]["interval"]
            == "30s"
    );
    // MetalLB's networkpolicies: the allow rules, the namespace-wide deny only with defaultDeny.
    let np = render_ok(
        &bin,
        &[
            "--set",
            "networkpolicies.enabled=true",
            "--set",
            "prometheus.metricsPort=9100",
        ],
    )?;
    ensure!(
        count(&np, "NetworkPolicy") == 2
            && find(&np, "NetworkPolicy", "default-deny-ingress").is_err()
    );
    let ctrl_np = find(&np, "NetworkPolicy", "controller")?;
    ensure!(
        ctrl_np["spec"]["ingress"][0]["ports"][0]["port"] == 9100,
        "{ctrl_np}"
    );
    ensure!(
        find(&np, "NetworkPolicy", "webhook")?["spec"]["ingress"][0]["ports"][0]["port"] == 9443
    );
    let deny = render_ok(
        &bin,
        &[
            "--set",
            "networkpolicies.enabled=true",
            "--set",
            "networkpolicies.defaultDeny=true",
        ],
    )?;
    ensure!(
        find(&deny, "NetworkPolicy", "default-deny-ingress")?["spec"]["podSelector"] == json!({})
    );
    ensure!(
        count(&objs, "NetworkPolicy") == 0,
        "no NetworkPolicy by default"
    );
    let both = render_ok(
        &bin,
        &[
            "--set",
            "metrics.port=9100",
            "--set",
            "prometheus.metricsPort=9200",
        ],
    )?;
    ensure!(container(find(&both, "Deployment", "controller")?)["args"][0] == "--port=9200");
    Ok(())
}

/// `otelEnv` (ferrolb: docs/tracing.md) gives its OTEL_* variables to the controller, the
/// webhook and the speaker; none by default; a name that is not OTEL_* is refused.
#[test]
fn otel_env_reaches_every_component() -> Result<()> {
    let Some(bin) = helm_or_skip("otel_env_reaches_every_component") else {
        return Ok(());
    };
    const ENDPOINT: &str = "http://otel-collector.observability:4318";
    let components = [
        ("Deployment", "controller"),
        ("Deployment", "webhook"),
        ("DaemonSet", "speaker"),
    ];
    let set = format!("otelEnv.OTEL_EXPORTER_OTLP_ENDPOINT={ENDPOINT}");
    let objs = render_ok(
        &bin,
        &[
            "--set",
            &set,
            "--set-string",
            "otelEnv.OTEL_TRACES_SAMPLER_ARG=0.5",
        ],
    )?;
    for (kind, name) in components {
        let c = container(find(&objs, kind, name)?);
        ensure!(
            env(c, "OTEL_EXPORTER_OTLP_ENDPOINT")["value"] == ENDPOINT
                && env(c, "OTEL_TRACES_SAMPLER_ARG")["value"] == "0.5",
            "{kind}/{name}: {}",
            c["env"]
        );
    }
    let objs = render_ok(&bin, &[])?;
    for (kind, name) in components {
        let c = container(find(&objs, kind, name)?);
        let names: Vec<&str> = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        ensure!(
            !names.is_empty() && names.iter().all(|n| !n.starts_with("OTEL_")),
            "{kind}/{name} by default: {names:?}"
        );
    }
    match render(&bin, &["--set", "otelEnv.FOO=1"])? {
        Ok(_) => anyhow::bail!("otelEnv.FOO was accepted"),
        Err(e) => ensure!(e.contains("otelEnv") || e.contains("FOO"), "{e}"),
    }
    Ok(())
}

/// The Grafana dashboard: off by default; on, one ConfigMap labelled for Grafana's sidecar
/// carrying the dashboard file unchanged, whose every query reads a metric ferrolb exports.
#[test]
fn grafana_dashboard_configmap() -> Result<()> {
    let Some(bin) = helm_or_skip("grafana_dashboard_configmap") else {
        return Ok(());
    };
    let objs = render_ok(&bin, &[])?;
    ensure!(
        find(&objs, "ConfigMap", "ferrolb-grafana-dashboard").is_err(),
        "dashboard rendered by default"
    );
    let objs = render_ok(
        &bin,
        &[
            "--set",
            "prometheus.grafanaDashboard.enabled=true",
            "--set",
            "prometheus.grafanaDashboard.namespace=monitoring",
        ],
    )?;
    let cm = find(&objs, "ConfigMap", "ferrolb-grafana-dashboard")?;
    ensure!(
        cm["metadata"]["namespace"] == "monitoring"
            && cm["metadata"]["labels"]["grafana_dashboard"] == "1",
        "{}",
        cm["metadata"]
    );
    let text = cm["data"]["ferrolb-dashboard.json"]
        .as_str()
        .context("data.ferrolb-dashboard.json")?;
    let rendered: Value = serde_json::from_str(text).context("dashboard JSON in the ConfigMap")?;
    let file = project().join("charts/ferrolb/files/grafana/ferrolb-dashboard.json");
    let original: Value = serde_json::from_str(
        &std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?,
    )?;
    ensure!(rendered == original, "the ConfigMap changed the dashboard");
    let exprs = ferrolb_e2e::grafana::dashboard_queries(&original)?;
    let metrics = std::fs::read_to_string(project().join("docs/metrics.md"))?;
    for e in &exprs {
        let names = ferrolb_e2e::grafana::metric_names(e);
        ensure!(!names.is_empty(), "no metric in {e}");
        for n in names {
            ensure!(
                metrics.contains(&format!("`{n}`")),
                "{n} (in {e}) is not a metric docs/metrics.md lists"
            );
        }
    }
    match render(&bin, &["--set", "prometheus.grafanaDashboard.folder=x"])? {
        Ok(_) => bail!("prometheus.grafanaDashboard.folder was accepted"),
        Err(e) => ensure!(e.contains("folder"), "{e}"),
    }
    Ok(())
}

/// `hack/package-chart.sh`: the packaged chart renders what the chart directory renders, from
/// the archive and — pushed to a real OCI registry (Debian's `docker-registry`, on loopback) —
/// from `oci://`. Without docker-registry only the archive is checked.
#[test]
fn packaged_chart_from_file_and_oci_registry() -> Result<()> {
    let Some(bin) = helm_or_skip("packaged_chart_from_file_and_oci_registry") else {
        return Ok(());
    };
    let scratch = Scratch::new("package")?;
    let helm_env = |c: &mut Command| {
        c.env("HELM", &bin)
            .env("HELM_CACHE_HOME", scratch.0.join("cache"))
            .env("HELM_CONFIG_HOME", scratch.0.join("config"))
            .env("HELM_DATA_HOME", scratch.0.join("data"));
    };
    let mut pkg = Command::new(project().join("hack/package-chart.sh"));
    pkg.arg(scratch.0.join("dist"));
    helm_env(&mut pkg);
    let out = pkg.output().context("running hack/package-chart.sh")?;
    ensure!(
        out.status.success(),
        "package-chart.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let archive = String::from_utf8_lossy(&out.stdout).trim().to_string();
    ensure!(
        archive.ends_with("ferrolb-0.1.0.tgz"),
        "archive {archive:?}"
    );
    // The memberlist key is random per render: compare everything else.
    let same = |mut objs: Vec<Value>| {
        for o in &mut objs {
            if o["kind"] == "Secret" {
                o["data"] = Value::Null;
                o["stringData"] = Value::Null;
            }
        }
        objs
    };
    let from_dir = same(render_ok(&bin, &[])?);
    let render_ref = |chart: &str, extra: &[&str]| -> Result<Vec<Value>> {
        let mut c = Command::new(&bin);
        c.args([
            "template",
            "ferrolb",
            chart,
            "--namespace",
            "metallb-system",
        ])
        .args(["--kube-version", helm::OFFLINE_KUBE_VERSION])
        .args(extra);
        helm_env(&mut c);
        let out = c.output().context("helm template")?;
        ensure!(
            out.status.success(),
            "helm template {chart}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut objects = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&String::from_utf8_lossy(&out.stdout)) {
            let v = Value::deserialize(doc)?;
            if !v.is_null() {
                objects.push(v);
            }
        }
        Ok(objects)
    };
    ensure!(
        same(render_ref(&archive, &[])?) == from_dir,
        "the archive renders differently from charts/ferrolb"
    );
    let Ok(registry) = which("docker-registry") else {
        eprintln!(
            "note: no docker-registry (apt-get install docker-registry): OCI push not checked"
        );
        return Ok(());
    };
    let port = free_port()?;
    std::fs::write(
        scratch.0.join("registry.yml"),
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            scratch.0.join("registry").display()
        ),
    )?;
    let mut reg = Command::new(registry)
        .arg("serve")
        .arg(scratch.0.join("registry.yml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting docker-registry")?;
    let result = (|| {
        let oci = format!("oci://127.0.0.1:{port}/charts");
        let mut pushed = None;
        for _ in 0..50 {
            let mut push = Command::new(project().join("hack/package-chart.sh"));
            push.arg(scratch.0.join("dist"))
                .args(["--push", &oci, "--plain-http"]);
            helm_env(&mut push);
            let out = push.output()?;
            if out.status.success() {
                pushed = Some(out);
                break;
            }
            std::thread::sleep(Duration::from_millis(100)); // the registry is starting
        }
        ensure!(pushed.is_some(), "helm push to {oci} never succeeded");
        let chart = format!("{oci}/ferrolb");
        ensure!(
            same(render_ref(&chart, &["--version", "0.1.0", "--plain-http"])?) == from_dir,
            "the chart from {chart} renders differently from charts/ferrolb"
        );
        Ok(())
    })();
    let _ = reg.kill();
    let _ = reg.wait();
    result
}

/// A free TCP port on loopback (bound then released).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[test]
fn what_cannot_be_honoured_fails_naming_the_key() -> Result<()> {
    let Some(bin) = helm_or_skip("what_cannot_be_honoured_fails_naming_the_key") else {
        return Ok(());
    };
    let cases: &[(&[&str], &str)] = &[
        (
            &["--set", "controller.fooBar=1"],
            "additional properties 'fooBar' not allowed",
        ),
        (
            &["--set", "speaker.memberlist.mlBindPorts=1"],
            "'mlBindPorts' not allowed",
        ),
        (&["--set", "controller.webhookMode=maybe"], "webhookMode"),
        (
            &["--set", "crds.validationFailurePolicy=Sometimes"],
            "validationFailurePolicy",
        ),
        (
            &["--set", "nameOverride=lb"],
            "nameOverride: ferrolb keeps the fixed object names",
        ),
        (&["--set", "fullnameOverride=lb"], "fullnameOverride"),
        (&["--set", "tls.minVersion=VersionTLS13"], "tls.minVersion"),
        (
            &["--set", "prometheus.speakerMetricsTLSSecret=s"],
            "prometheus.speakerMetricsTLSSecret",
        ),
        (
            &["--set", "speaker.memberlist.enabled=false"],
            "speaker.memberlist.enabled=false",
        ),
        (
            &["--set", "speaker.excludeInterfaces.enabled=false"],
            "speaker.excludeInterfaces.enabled=false",
        ),
        (&["--set", "crds.enabled=false"], "--skip-crds"),
        (
            &[
                "--set",
                "controller.image.repository=quay.io/metallb/controller",
            ],
            "controller.image.repository=quay.io/metallb/controller is MetalLB's image",
        ),
        (
            &["--set", "speaker.image.repository=quay.io/metallb/speaker"],
            "ghcr.io/ferrolb/speaker",
        ),
        (
            &["--set", "prometheus.podMonitor.enabled=true"],
            "needs prometheus.serviceAccount and prometheus.namespace",
        ),
    ];
    let mut failures = Vec::new();
    for (args, want) in cases {
        match render(&bin, args)? {
            Ok(_) => failures.push(format!(
                "{args:?} rendered; expected an error containing {want:?}"
            )),
            Err(e) if !e.contains(want) => {
                failures.push(format!("{args:?}: error lacks {want:?}: {e}"))
            }
            Err(_) => {}
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    // ... and the same values the other way round are fine.
    render_ok(
        &bin,
        &[
            "--set",
            "prometheus.podMonitor.enabled=true",
            "--set",
            "prometheus.rbacPrometheus=false",
        ],
    )?;
    render_ok(
        &bin,
        &[
            "--set",
            "controller.image.repository=registry.local/ferrolb/operator",
        ],
    )?;
    Ok(())
}

/// promtool's unit test of the rendered alerts: series as ferrolb's controller and speaker
/// expose them, with the labels a PodMonitor adds; every alert fires (or not) as MetalLB's.
const PROMTOOL_TEST: &str = r#"
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - series: 'metallb_allocator_addresses_in_use_total{job="metallb",container="controller",pod="controller-0",pool="full"}'
    values: '10x5'
  - series: 'metallb_allocator_addresses_total{job="metallb",container="controller",pod="controller-0",pool="full"}'
    values: '10x5'
  - series: 'metallb_allocator_addresses_in_use_total{job="metallb",container="controller",pod="controller-0",pool="scratch-1"}'
    values: '4x5'
  - series: 'metallb_allocator_addresses_total{job="metallb",container="controller",pod="controller-0",pool="scratch-1"}'
    values: '4x5'
  - series: 'metallb_allocator_addresses_in_use_total{job="metallb",container="controller",pod="controller-0",pool="busy"}'
    values: '9x5'
  - series: 'metallb_allocator_addresses_total{job="metallb",container="controller",pod="controller-0",pool="busy"}'
    values: '10x5'
  - series: 'metallb_allocator_addresses_in_use_total{job="metallb",container="controller",pod="controller-0",pool="quiet"}'
    values: '1x5'
  - series: 'metallb_allocator_addresses_total{job="metallb",container="controller",pod="controller-0",pool="quiet"}'
    values: '10x5'
  - series: 'metallb_k8s_client_config_stale_bool{job="metallb",container="speaker",pod="speaker-a"}'
    values: '1x5'
  - series: 'metallb_k8s_client_config_loaded_bool{job="metallb",container="speaker",pod="speaker-a"}'
    values: '1x5'
  - series: 'metallb_bgp_session_up{job="metallb",container="speaker",pod="speaker-a",peer="172.18.0.1:179"}'
    values: '0x5'
  - series: 'metallb_bgp_session_up{job="metallb",container="speaker",pod="speaker-a",peer="172.18.0.2:179"}'
    values: '1x5'
  alert_rule_test:
  - eval_time: 3m
    alertname: MetalLBAddressPoolExhausted
    exp_alerts:
    - exp_labels: {severity: critical, job: metallb, container: controller, pod: controller-0, pool: full}
      exp_annotations:
        message: 'metallb - MetalLB controller on controller-0 has exhausted address pool full for > 1 minute'
  - eval_time: 3m
    alertname: MetalLBAddressPoolUsage85Percent
    exp_alerts:
    - exp_labels: {severity: warning, job: metallb, container: controller, pod: controller-0, pool: busy}
      exp_annotations:
        message: 'metallb - MetalLB controller on controller-0 has address pool busy past 85% usage for > 1 minute'
    - exp_labels: {severity: warning, job: metallb, container: controller, pod: controller-0, pool: full}
      exp_annotations:
        message: 'metallb - MetalLB controller on controller-0 has address pool full past 85% usage for > 1 minute'
    - exp_labels: {severity: warning, job: metallb, container: controller, pod: controller-0, pool: scratch-1}
      exp_annotations:
        message: 'metallb - MetalLB controller on controller-0 has address pool scratch-1 past 85% usage for > 1 minute'
  - eval_time: 3m
    alertname: MetalLBStaleConfig
    exp_alerts:
    - exp_labels: {severity: warning, job: metallb, container: speaker, pod: speaker-a}
      exp_annotations:
        message: 'metallb - MetalLB speaker on speaker-a has a stale config for > 1 minute'
  - eval_time: 3m
    alertname: MetalLBConfigNotLoaded
    exp_alerts: []
  - eval_time: 3m
    alertname: MetalLBBGPSessionDown
    exp_alerts:
    - exp_labels: {severity: critical, job: metallb, container: speaker, pod: speaker-a, peer: "172.18.0.1:179"}
      exp_annotations:
        message: 'metallb - MetalLB speaker on speaker-a has BGP session 172.18.0.1:179 down for > 1 minute'
"#;

#[test]
fn prometheus_rules_pass_promtool() -> Result<()> {
    let Some(bin) = helm_or_skip("prometheus_rules_pass_promtool") else {
        return Ok(());
    };
    let Ok(promtool) = which("promtool") else {
        eprintln!(
            "SKIP chart::prometheus_rules_pass_promtool: no promtool (Debian package prometheus)"
        );
        return Ok(());
    };
    let objs = render_ok(
        &bin,
        &[
            "--set",
            "prometheus.prometheusRule.enabled=true",
            "--set",
            "prometheus.prometheusRule.addressPoolExhausted.excludePools=^scratch-.*",
        ],
    )?;
    let rule = find(&objs, "PrometheusRule", "ferrolb")?;
    let scratch = Scratch::new("promtool")?;
    let rules = serde_yaml::to_string(&json!({"groups": rule["spec"]["groups"]}))?;
    std::fs::write(scratch.0.join("rules.yaml"), rules)?;
    std::fs::write(scratch.0.join("test.yaml"), PROMTOOL_TEST)?;
    let out = Command::new(&promtool)
        .args(["test", "rules", "test.yaml"])
        .current_dir(&scratch.0)
        .output()
        .context("running promtool")?;
    if !out.status.success() {
        bail!(
            "promtool test rules failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn which(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").context("no PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not on PATH"))
}
