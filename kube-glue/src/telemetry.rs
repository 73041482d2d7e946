//! OpenTelemetry traces of every binary (controller, speaker, webhook), configured only by the
//! standard `OTEL_*` environment variables of the OpenTelemetry specification
//! ("SDK Environment Variables", "OTLP Exporter Configuration") and off by default: without
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` no exporter, no thread
//! and no connection exists, and the spans of the binaries are disabled at their call sites.
//!
//! - [`Settings::from_env`] reads and checks the variables: a bad value (an unknown protocol or
//!   sampler, a ratio outside 0..1, a malformed endpoint or resource attribute) is a startup
//!   error naming the variable, as the logging flags refuse unknown words.
//! - [`layer`] builds the `tracing` layer: spans of the `ferrolb*` crates at level INFO and above
//!   (their events become span events) go through a batch span processor to an OTLP/HTTP
//!   (protobuf) exporter; [`Telemetry`] flushes and stops it when the binary exits.
//! - Resource: `service.name` (`ferrolb-controller`, `ferrolb-speaker`, `ferrolb-webhook`
//!   unless `OTEL_SERVICE_NAME` says otherwise), the Kubernetes attributes of the Pod from the
//!   downward-API variables the manifests set (`k8s.namespace.name` ← `METALLB_NAMESPACE`,
//!   `k8s.pod.name` ← `METALLB_POD_NAME`, `k8s.pod.uid` ← `METALLB_POD_UID`, `k8s.node.name` ←
//!   `METALLB_NODE_NAME` or `NODE_NAME`), then `OTEL_RESOURCE_ATTRIBUTES`, which wins.
//!
//! The span names and attributes are listed in `docs/tracing.md`; the spans are opened where
//! the work happens (the controller's passes and allocations, admission requests, L2 ownership
//! changes, BGP session states and UPDATE batches).

#[cfg(any(test, feature = "test-util"))]
pub mod capture;
mod transport;

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::{Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::{Layer, Registry};

/// `service.name` of the controller.
pub const CONTROLLER: &str = "ferrolb-controller";
/// `service.name` of the speaker.
pub const SPEAKER: &str = "ferrolb-speaker";
/// `service.name` of the webhook.
pub const WEBHOOK: &str = "ferrolb-webhook";

/// The only OTLP protocol this build speaks.
pub const HTTP_PROTOBUF: &str = "http/protobuf";
/// The samplers of `OTEL_TRACES_SAMPLER`, as the specification names them.
pub const SAMPLERS: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];
/// The export timeout without `OTEL_EXPORTER_OTLP_TIMEOUT` (the specification's 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A refused `OTEL_*` setting, or an exporter that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A variable has a value this build cannot use.
    #[error("{var}={value:?}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused and what is accepted.
        reason: String,
    },
    /// The OTLP exporter could not be set up.
    #[error("OpenTelemetry trace exporter for {endpoint}: {reason}")]
    Exporter {
        /// Where it would export.
        endpoint: String,
        /// What failed.
        reason: String,
    },
}

/// `OTEL_TRACES_SAMPLER` (+ `OTEL_TRACES_SAMPLER_ARG` for the ratio samplers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSetting {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio` with its ratio.
    TraceIdRatio(f64),
    /// `parentbased_always_on` (the default).
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio` with its ratio.
    ParentBasedTraceIdRatio(f64),
}

impl SamplerSetting {
    fn sampler(self) -> Sampler {
        let parent = |s: Sampler| Sampler::ParentBased(Box::new(s));
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBasedAlwaysOn => parent(Sampler::AlwaysOn),
            Self::ParentBasedAlwaysOff => parent(Sampler::AlwaysOff),
            Self::ParentBasedTraceIdRatio(r) => parent(Sampler::TraceIdRatioBased(r)),
        }
    }
}

/// The checked trace settings of a binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The full OTLP/HTTP traces URL (`…/v1/traces` appended to `OTEL_EXPORTER_OTLP_ENDPOINT`;
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given).
    pub endpoint: String,
    /// The sampler.
    pub sampler: SamplerSetting,
    /// The deadline of one export request.
    pub timeout: Duration,
    /// The resource attributes, `service.name` included.
    pub resource: BTreeMap<String, String>,
}

impl Settings {
    /// Reads the `OTEL_*` variables through `var` (the process environment in the binaries).
    /// `Ok(None)`: traces are off (no endpoint, `OTEL_SDK_DISABLED=true` or
    /// `OTEL_TRACES_EXPORTER=none`). The other variables are checked even then, so a typo is
    /// reported before anyone turns traces on.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        default_service: &str,
    ) -> Result<Option<Self>, Error> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if disabled(get("OTEL_SDK_DISABLED"))? {
            return Ok(None);
        }
        let exporter_on = exporter(get("OTEL_TRACES_EXPORTER"))?;
        protocol(
            get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            get("OTEL_EXPORTER_OTLP_PROTOCOL"),
        )?;
        let sampler = sampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"))?;
        let timeout = timeout(
            get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
            get("OTEL_EXPORTER_OTLP_TIMEOUT"),
        )?;
        let resource = resource(&get, default_service)?;
        let endpoint = endpoint(
            get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        )?;
        Ok(endpoint.filter(|_| exporter_on).map(|endpoint| Self {
            endpoint,
            sampler,
            timeout,
            resource,
        }))
    }
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        var,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// `OTEL_SDK_DISABLED`: a boolean (`true`/`false`, any case).
fn disabled(value: Option<String>) -> Result<bool, Error> {
    match value.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(_) => Err(invalid(
            "OTEL_SDK_DISABLED",
            value.as_deref().unwrap_or_default(),
            "expected true or false",
        )),
    }
}

/// `OTEL_TRACES_EXPORTER`: `otlp` (the default) or `none`.
fn exporter(value: Option<String>) -> Result<bool, Error> {
    match value.as_deref().map(str::trim) {
        None | Some("otlp") => Ok(true),
        Some("none") => Ok(false),
        Some(v) => Err(invalid(
            "OTEL_TRACES_EXPORTER",
            v,
            "ferrolb exports traces over OTLP only: expected otlp or none",
        )),
    }
}

/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`.
fn protocol(traces: Option<String>, general: Option<String>) -> Result<(), Error> {
    let (var, value) = match (traces, general) {
        (Some(v), _) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", v),
        (None, Some(v)) => ("OTEL_EXPORTER_OTLP_PROTOCOL", v),
        (None, None) => return Ok(()),
    };
    match value.trim() {
        HTTP_PROTOBUF => Ok(()),
        "grpc" | "http/json" => Err(invalid(
            var,
            &value,
            "not supported by ferrolb, which exports OTLP over HTTP with protobuf only: set \
             http/protobuf and point the endpoint at the Collector's OTLP/HTTP port (4318)",
        )),
        _ => Err(invalid(
            var,
            &value,
            "not an OTLP protocol: expected http/protobuf (grpc and http/json are not supported)",
        )),
    }
}

/// `OTEL_TRACES_SAMPLER` and its `OTEL_TRACES_SAMPLER_ARG` (a ratio in 0..=1, default 1).
fn sampler(name: Option<String>, arg: Option<String>) -> Result<SamplerSetting, Error> {
    let ratio = || -> Result<f64, Error> {
        let Some(a) = arg.as_deref() else {
            return Ok(1.0);
        };
        match a.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(invalid(
                "OTEL_TRACES_SAMPLER_ARG",
                a,
                "expected a sampling ratio between 0 and 1 (e.g. 0.25)",
            )),
        }
    };
    let Some(name) = name else {
        return Ok(SamplerSetting::ParentBasedAlwaysOn);
    };
    Ok(match name.trim() {
        "always_on" => SamplerSetting::AlwaysOn,
        "always_off" => SamplerSetting::AlwaysOff,
        "traceidratio" => SamplerSetting::TraceIdRatio(ratio()?),
        "parentbased_always_on" => SamplerSetting::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerSetting::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerSetting::ParentBasedTraceIdRatio(ratio()?),
        _ => {
            return Err(invalid(
                "OTEL_TRACES_SAMPLER",
                &name,
                format!("not a sampler: expected one of {}", SAMPLERS.join(", ")),
            ));
        }
    })
}

/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`: milliseconds.
fn timeout(traces: Option<String>, general: Option<String>) -> Result<Duration, Error> {
    let (var, value) = match (traces, general) {
        (Some(v), _) => ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", v),
        (None, Some(v)) => ("OTEL_EXPORTER_OTLP_TIMEOUT", v),
        (None, None) => return Ok(DEFAULT_TIMEOUT),
    };
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(invalid(
            var,
            &value,
            "expected a positive number of milliseconds (e.g. 10000)",
        )),
    }
}

/// The traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; `None` when neither is set.
fn endpoint(traces: Option<String>, general: Option<String>) -> Result<Option<String>, Error> {
    let (var, value, url) = match (traces, general) {
        (Some(v), _) => {
            let url = v.trim().to_owned();
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v, url)
        }
        (None, Some(v)) => {
            let url = format!("{}/v1/traces", v.trim().trim_end_matches('/'));
            ("OTEL_EXPORTER_OTLP_ENDPOINT", v, url)
        }
        (None, None) => return Ok(None),
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| invalid(var, &value, format!("not a URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(invalid(
            var,
            &value,
            "expected an http:// or https:// URL with a host, e.g. http://otel-collector:4318",
        ));
    }
    Ok(Some(url))
}

/// The downward-API variables of the manifests and the resource attribute each gives.
const K8S_ATTRIBUTES: [(&str, &str); 5] = [
    ("METALLB_NAMESPACE", "k8s.namespace.name"),
    ("METALLB_POD_NAME", "k8s.pod.name"),
    ("METALLB_POD_UID", "k8s.pod.uid"),
    ("NODE_NAME", "k8s.node.name"),
    ("METALLB_NODE_NAME", "k8s.node.name"),
];

/// `service.name`, the Pod's Kubernetes attributes, `OTEL_RESOURCE_ATTRIBUTES` (wins), and
/// `OTEL_SERVICE_NAME` (wins over `service.name` there).
fn resource(
    get: &impl Fn(&str) -> Option<String>,
    default_service: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let mut attrs = BTreeMap::from([("service.name".to_owned(), default_service.to_owned())]);
    for (var, key) in K8S_ATTRIBUTES {
        if let Some(v) = get(var) {
            attrs.insert(key.to_owned(), v.trim().to_owned());
        }
    }
    if let Some(list) = get("OTEL_RESOURCE_ATTRIBUTES") {
        attrs.extend(resource_attributes(&list)?);
    }
    if let Some(name) = get("OTEL_SERVICE_NAME") {
        attrs.insert("service.name".to_owned(), name.trim().to_owned());
    }
    Ok(attrs)
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key1=value1,key2=value2`, values percent-encoded (W3C Baggage
/// octet rules, as the specification says).
pub fn resource_attributes(list: &str) -> Result<Vec<(String, String)>, Error> {
    const VAR: &str = "OTEL_RESOURCE_ATTRIBUTES";
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(invalid(
                VAR,
                list,
                format!("{item:?} is not key=value (entries are separated by commas)"),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid(VAR, list, format!("{item:?} has an empty key")));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| invalid(VAR, list, format!("{item:?}: bad percent-encoding")))?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Which callsites the trace layer records: spans (and the events inside them) of ferrolb's
/// own crates, at INFO and above, whatever `--log-level` says.
pub fn traced(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("ferrolb") && *meta.level() <= Level::INFO
}

/// A boxed layer of the global subscriber.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The OTLP trace layer for `settings` and the guard that flushes it.
pub fn layer(settings: &Settings) -> Result<(BoxedLayer, Telemetry), Error> {
    let failed = |reason: String| Error::Exporter {
        endpoint: settings.endpoint.clone(),
        reason,
    };
    let https = settings.endpoint.starts_with("https://");
    let client = transport::Transport::new(https, settings.timeout).map_err(failed)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.endpoint.clone())
        .with_timeout(settings.timeout)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resource = Resource::builder()
        .with_attributes(
            settings
                .resource
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(settings.sampler.sampler())
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("ferrolb");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter_fn(traced))
        .boxed();
    Ok((
        layer,
        Telemetry {
            provider: Some(provider),
        },
    ))
}

/// The running trace pipeline of a binary (nothing when traces are off): flushes the spans
/// still queued and stops the exporter on [`Telemetry::shutdown`] or when dropped.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// No traces.
    pub fn off() -> Self {
        Self::default()
    }

    /// Whether spans are exported.
    pub fn is_on(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is queued (bounded by the batch processor's export timeout) and stops.
    /// Blocks: call it at exit, after the work is done.
    pub fn shutdown(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "flushing the OpenTelemetry traces failed");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests;
