//! The one logging set-up of every ferrolb binary (controller, webhook, speaker): the
//! `--log-level` and `--log-format` flags and the tracing subscriber they configure.
//!
//! - `--log-level` takes MetalLB's words (`internal/logging/logging.go`): `all` (everything,
//!   tracing's `trace` included), `debug`, `info`, `warn`, `error`, `none` (nothing). For
//!   debugging, tracing `EnvFilter` directives are accepted too when they contain a `=`
//!   (`info,ferrolb_speaker=debug`), so they cannot be mistaken for a misspelt level: any other
//!   word is refused at start with an error naming the flag and the accepted words (a bare
//!   `EnvFilter` word is a *target* and would silently log nothing of ours).
//! - `--log-format json` (the default, as MetalLB, which always logs go-kit JSON) writes one
//!   object per line with MetalLB's keys: `ts` (RFC 3339, UTC), `level` (`debug`, `info`, …),
//!   `caller` (`file:line`), `msg`, and the event's fields, keys sorted as go-kit's JSON logger
//!   (a Go map) sorts them; `text` writes tracing's human-readable lines (colours only on a
//!   terminal).
//!
//! Log lines are made of events only: spans exist for the OpenTelemetry trace layer
//! ([`crate::telemetry`], installed here when the `OTEL_*` variables ask for it), so turning
//! traces on never changes a log line.

use std::fmt;
use std::str::FromStr;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::telemetry::{self, BoxedLayer, Telemetry};

/// MetalLB's `--log-level` words, in the order of its help text.
pub const LEVEL_WORDS: [&str; 6] = ["all", "debug", "info", "warn", "error", "none"];

/// A checked `--log-level`: the `EnvFilter` directives it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel(String);

impl LogLevel {
    /// The tracing `EnvFilter` directives of this level (`all` → `trace`, `none` → `off`).
    pub fn directives(&self) -> &str {
        &self.0
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let word = match s {
            "all" => Some("trace"),
            "debug" | "info" | "warn" | "error" => Some(s),
            "none" => Some("off"),
            _ => None,
        };
        if let Some(d) = word {
            return Ok(Self(d.to_owned()));
        }
        if s.contains('=') {
            return match EnvFilter::try_new(s) {
                Ok(_) => Ok(Self(s.to_owned())),
                Err(e) => Err(format!(
                    "--log-level {s:?} is not a valid tracing filter ({e}); expected one of {}",
                    LEVEL_WORDS.join(", ")
                )),
            };
        }
        Err(format!(
            "--log-level {s:?} is not a level: expected one of {} (MetalLB's levels), or tracing \
             directives with a `=` such as \"info,ferrolb_speaker=debug\"",
            LEVEL_WORDS.join(", ")
        ))
    }
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line with MetalLB's keys (the default).
    #[default]
    Json,
    /// tracing's human-readable lines.
    Text,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err(format!(
                "--log-format {s:?} is not a format: expected json or text"
            )),
        }
    }
}

/// The logging flags of every binary (`#[command(flatten)]` into its clap arguments), so each
/// takes the same words, environment variables and defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log level, as MetalLB: all, debug, info, warn, error or none (or tracing directives
    /// containing a `=`, e.g. `info,ferrolb_speaker=debug`).
    #[arg(long = "log-level", env = "FERROLB_LOG", default_value = "info")]
    pub log_level: LogLevel,
    /// Log lines: `json` (MetalLB's keys ts, level, caller, msg) or `text`.
    #[arg(
        long = "log-format",
        env = "FERROLB_LOG_FORMAT",
        default_value = "json"
    )]
    pub log_format: LogFormat,
}

impl LogArgs {
    /// Installs the global subscriber these flags describe ([`init`]) and, when the `OTEL_*`
    /// variables ask for it, the OpenTelemetry trace exporter, `service` being the default
    /// `service.name` ([`crate::telemetry`]). Keep the guard until the binary exits: dropping
    /// it flushes the queued spans. A refused `OTEL_*` value is an error naming the variable.
    pub fn init(&self, service: &str) -> Result<Telemetry, telemetry::Error> {
        let settings = telemetry::Settings::from_env(|v| std::env::var(v).ok(), service)?;
        let (traces, guard) = match settings {
            Some(s) => {
                let (layer, guard) = telemetry::layer(&s)?;
                (Some(layer), guard)
            }
            None => (None, Telemetry::off()),
        };
        init(&self.log_level, self.log_format, traces);
        Ok(guard)
    }
}

/// Installs the global subscriber: `level`'s filter, `format`'s lines, on stderr, plus the
/// trace layer when there is one. A second call (tests) leaves the first subscriber in place.
pub fn init(level: &LogLevel, format: LogFormat, traces: Option<BoxedLayer>) {
    // `LogLevel` was checked when parsed; should it still fail, log everything at info.
    let filter = EnvFilter::try_new(level.directives()).unwrap_or_else(|_| EnvFilter::new("info"));
    // Events only: a span is never part of a log line (the trace layer has its own filter).
    let lines = filter.and(filter_fn(|meta| meta.is_event()));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: BoxedLayer = match format {
        LogFormat::Json => fmt.event_format(MetalLbJson).with_filter(lines).boxed(),
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(lines)
            .boxed(),
    };
    let mut layers = vec![fmt];
    layers.extend(traces);
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

/// MetalLB's level words for tracing's levels (MetalLB has no `trace`; `--log-level=all`
/// shows those events under tracing's name).
fn level_word(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// The JSON line format with MetalLB's (go-kit's) keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetalLbJson;

impl<S, N> FormatEvent<S, N> for MetalLbJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str(&json_line(event, &now())?)?;
        writer.write_char('\n')
    }
}

fn now() -> String {
    let mut ts = String::new();
    // Formatting into a String cannot fail; an empty `ts` would be the worst case.
    let _ = SystemTime.format_time(&mut Writer::new(&mut ts));
    ts
}

/// One event as MetalLB's JSON object: `ts`, `level`, `caller`, `msg` and its fields (keys
/// sorted, as Go's `encoding/json` writes a map).
pub(crate) fn json_line(event: &Event<'_>, ts: &str) -> Result<String, fmt::Error> {
    let meta = event.metadata();
    let mut fields = Fields::default();
    fields
        .map
        .insert("ts".into(), serde_json::Value::String(ts.to_owned()));
    fields.map.insert(
        "level".into(),
        serde_json::Value::String(level_word(*meta.level()).to_owned()),
    );
    let file = meta.file().map(|f| f.rsplit('/').next().unwrap_or(f));
    if let (Some(file), Some(line)) = (file, meta.line()) {
        fields
            .map
            .insert("caller".into(), format!("{file}:{line}").into());
    }
    event.record(&mut fields);
    serde_json::to_string(&fields.map).map_err(|_| fmt::Error)
}

/// An event's fields (`message` becomes `msg`, as go-kit).
#[derive(Default)]
struct Fields {
    /// A `BTreeMap`, not `serde_json::Map`: its order must not depend on serde_json's
    /// `preserve_order` feature, which another crate of the build may turn on.
    map: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        let key = match field.name() {
            "message" => "msg",
            other => other,
        };
        self.map.insert(key.to_owned(), value);
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
}

#[cfg(test)]
mod tests;
