//! The rig's OpenTelemetry Collector (`otelcol-ferrolb`, built by `e2e/build-upstream.sh` from
//! `e2e/otelcol/` with the Collector's modules at `OTELCOL_VERSION` of `e2e/versions.env`): its
//! core OTLP receiver on a loopback port (of the host, or of a node's netns for a speaker, which
//! cannot reach the host's loopback) and an exporter that appends every batch of traces as one
//! OTLP/JSON line to a file. [`Collector::spans`] reads them back as flat [`Span`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::Rig;
use crate::procs::{Proc, project};

/// The Collector binary, if one was built (or named by `FERROLB_E2E_OTELCOL`).
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERROLB_E2E_OTELCOL") {
        return Some(PathBuf::from(p));
    }
    let version = std::env::var("OTELCOL_VERSION").ok().or_else(|| {
        let versions = std::fs::read_to_string(project().join("e2e/versions.env")).ok()?;
        versions
            .lines()
            .find_map(|l| l.strip_prefix("OTELCOL_VERSION=${OTELCOL_VERSION:-"))
            .map(|v| v.trim_end_matches('}').to_owned())
    })?;
    let cache = std::env::var_os("FERROLB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/ferrolb")))?;
    let p = cache.join(format!("bin/otelcol-ferrolb-{version}/otelcol-ferrolb"));
    p.exists().then_some(p)
}

/// One span as the Collector received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The span name.
    pub name: String,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex id of the parent span (empty for a root span).
    pub parent_span_id: String,
    /// Span attributes, values as text (`stringValue` as is, numbers and booleans printed).
    pub attributes: BTreeMap<String, String>,
    /// The names of the span's events (the log lines inside it).
    pub events: Vec<String>,
    /// Attributes of the resource that sent it (`service.name`, `k8s.*`, ...).
    pub resource: BTreeMap<String, String>,
}

impl Span {
    /// An attribute, or "" when absent.
    pub fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

/// A running Collector, killed on drop.
pub struct Collector {
    _proc: Proc,
    /// `http://127.0.0.1:<port>`: the value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    out: PathBuf,
}

impl Collector {
    /// Starts a Collector named `name` (log `otelcol-<name>`) with its OTLP/HTTP receiver on
    /// `127.0.0.1:port` of `netns` (the host's loopback for `None`), and waits until it is
    /// ready (its log says so, at most 60 s).
    pub fn start(
        rig: &Rig,
        bin: &Path,
        name: &str,
        netns: Option<&str>,
        port: u16,
    ) -> Result<Self> {
        let dir = rig.run_dir.join(format!("otelcol-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let out = dir.join("traces.jsonl");
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{port}\n\
                 exporters:\n  jsonfile:\n    path: {}\n\
                 service:\n  telemetry:\n    metrics:\n      level: none\n\
                 \x20 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [jsonfile]\n",
                out.display()
            ),
        )?;
        let log_name = format!("otelcol-{name}");
        let log_path = rig.run_dir.join("logs").join(format!("{log_name}.log"));
        let _ = std::fs::remove_file(&log_path);
        let log = rig.log_file(&log_name)?;
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg(format!("--config=file:{}", config.display()))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = cmd.spawn().context("starting otelcol-ferrolb")?;
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("Everything is ready") {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("otelcol-ferrolb {name} exited ({status}):\n{text}");
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                bail!("otelcol-ferrolb {name} not ready within 60 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(Self {
            _proc: Proc(child),
            endpoint: format!("http://127.0.0.1:{port}"),
            out,
        })
    }

    /// Every span received so far.
    pub fn spans(&self) -> Result<Vec<Span>> {
        let text = match std::fs::read_to_string(&self.out) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.out.display())),
        };
        let mut spans = Vec::new();
        // The last line may be half written: only complete lines count.
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let batch: Value = serde_json::from_str(line)
                .with_context(|| format!("an OTLP/JSON line of {}", self.out.display()))?;
            spans.extend(spans_of(&batch));
        }
        Ok(spans)
    }
}

/// The spans of one OTLP/JSON `TracesData` object.
pub fn spans_of(batch: &Value) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in array(&batch["resourceSpans"]) {
        let resource = attributes(&rs["resource"]["attributes"]);
        for ss in array(&rs["scopeSpans"]) {
            for s in array(&ss["spans"]) {
                out.push(Span {
                    name: text(&s["name"]),
                    trace_id: text(&s["traceId"]),
                    span_id: text(&s["spanId"]),
                    parent_span_id: text(&s["parentSpanId"]),
                    attributes: attributes(&s["attributes"]),
                    events: array(&s["events"]).map(|e| text(&e["name"])).collect(),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

fn array(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// OTLP/JSON `KeyValue`s as text (`intValue` is a string in OTLP/JSON).
fn attributes(list: &Value) -> BTreeMap<String, String> {
    array(list)
        .map(|kv| {
            let v = &kv["value"];
            let value = if let Some(s) = v["stringValue"].as_str() {
                s.to_owned()
            } else if let Some(b) = v["boolValue"].as_bool() {
                b.to_string()
            } else if let Some(i) = v.get("intValue") {
                i.as_str().map_or_else(|| i.to_string(), str::to_owned)
            } else if let Some(d) = v.get("doubleValue") {
                d.to_string()
            } else {
                v.to_string()
            };
            (text(&kv["key"]), value)
        })
        .collect()
}

/// The names of the threads of process `pid` (`/proc/<pid>/task/*/comm`).
pub fn thread_names(pid: u32) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let comm = std::fs::read_to_string(task?.path().join("comm")).unwrap_or_default();
        names.push(comm.trim().to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_json_is_read_into_flat_spans() {
        let batch: Value = serde_json::from_str(
            r#"{"resourceSpans":[{"resource":{"attributes":[
                {"key":"service.name","value":{"stringValue":"ferrolb-controller"}}]},
              "scopeSpans":[{"scope":{"name":"ferrolb"},"spans":[
                {"traceId":"aa","spanId":"01","parentSpanId":"","name":"reconcile","kind":1,
                 "attributes":[{"key":"actions","value":{"intValue":"3"}},
                               {"key":"announcing","value":{"boolValue":true}}],
                 "events":[{"name":"IP allocated"}]}]}]}]}"#,
        )
        .expect("json");
        let spans = spans_of(&batch);
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!(s.name, "reconcile");
        assert_eq!(s.attr("actions"), "3");
        assert_eq!(s.attr("announcing"), "true");
        assert_eq!(s.attr("missing"), "");
        assert_eq!(s.events, vec!["IP allocated".to_owned()]);
        assert_eq!(s.resource["service.name"], "ferrolb-controller");
    }
}
