use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;

use super::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn settings(vars: &[(&str, &str)]) -> Result<Option<Settings>, Error> {
    Settings::from_env(env(vars), CONTROLLER)
}

fn on(vars: &[(&str, &str)]) -> Settings {
    settings(vars).expect("valid settings").expect("traces on")
}

fn refused(vars: &[(&str, &str)]) -> String {
    settings(vars).expect_err("refused").to_string()
}

const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");

#[test]
fn off_without_an_endpoint() {
    assert_eq!(settings(&[]), Ok(None));
    // Other variables alone do not turn traces on.
    assert_eq!(
        settings(&[
            ("OTEL_SERVICE_NAME", "x"),
            ("OTEL_TRACES_SAMPLER", "always_on"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "  "),
        ]),
        Ok(None)
    );
}

#[test]
fn the_general_endpoint_gets_the_traces_path_the_traces_endpoint_is_used_as_given() {
    assert_eq!(on(&[ENDPOINT]).endpoint, "http://collector:4318/v1/traces");
    assert_eq!(
        on(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://c.example:4318/otlp/"
        )])
        .endpoint,
        "https://c.example:4318/otlp/v1/traces"
    );
    let s = on(&[
        ENDPOINT,
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:9999/custom",
        ),
    ]);
    assert_eq!(s.endpoint, "http://127.0.0.1:9999/custom");
}

#[test]
fn defaults_service_name_sampler_and_timeout() {
    let s = on(&[ENDPOINT]);
    assert_eq!(s.sampler, SamplerSetting::ParentBasedAlwaysOn);
    assert_eq!(s.timeout, DEFAULT_TIMEOUT);
    assert_eq!(
        s.resource,
        BTreeMap::from([("service.name".to_owned(), CONTROLLER.to_owned())])
    );
}

#[test]
fn sdk_disabled_and_exporter_none_turn_traces_off() {
    for (var, value) in [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_SDK_DISABLED", "TRUE"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ] {
        assert_eq!(
            settings(&[ENDPOINT, (var, value)]),
            Ok(None),
            "{var}={value}"
        );
    }
    assert!(settings(&[ENDPOINT, ("OTEL_SDK_DISABLED", "false")]).is_ok_and(|s| s.is_some()));
    let e = refused(&[ENDPOINT, ("OTEL_SDK_DISABLED", "yes")]);
    assert!(
        e.contains("OTEL_SDK_DISABLED") && e.contains("true or false"),
        "{e}"
    );
    let e = refused(&[ENDPOINT, ("OTEL_TRACES_EXPORTER", "jaeger")]);
    assert!(
        e.contains("OTEL_TRACES_EXPORTER") && e.contains("otlp or none"),
        "{e}"
    );
}

#[test]
fn only_http_protobuf_is_accepted_and_the_error_names_the_variable() {
    assert!(settings(&[ENDPOINT, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).is_ok());
    let e = refused(&[ENDPOINT, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert!(
        e.starts_with("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\"") && e.contains("4318"),
        "{e}"
    );
    let e = refused(&[
        ENDPOINT,
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"),
    ]);
    assert!(
        e.starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"udp\"")
            && e.contains("expected http/protobuf"),
        "{e}"
    );
    // Checked even while traces are off: a typo shows before traces are turned on.
    let e = refused(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/jsn")]);
    assert!(e.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{e}");
}

#[test]
fn samplers_and_their_ratio() {
    let with = |name: &str, arg: Option<&str>| {
        let mut vars = vec![ENDPOINT, ("OTEL_TRACES_SAMPLER", name)];
        vars.extend(arg.map(|a| ("OTEL_TRACES_SAMPLER_ARG", a)));
        settings(&vars).map(|s| s.map(|s| s.sampler))
    };
    assert_eq!(with("always_on", None), Ok(Some(SamplerSetting::AlwaysOn)));
    assert_eq!(
        with("always_off", None),
        Ok(Some(SamplerSetting::AlwaysOff))
    );
    assert_eq!(
        with("traceidratio", Some("0.25")),
        Ok(Some(SamplerSetting::TraceIdRatio(0.25)))
    );
    assert_eq!(
        with("traceidratio", None),
        Ok(Some(SamplerSetting::TraceIdRatio(1.0)))
    );
    assert_eq!(
        with("parentbased_traceidratio", Some("0")),
        Ok(Some(SamplerSetting::ParentBasedTraceIdRatio(0.0)))
    );
    assert_eq!(
        with("parentbased_always_off", None),
        Ok(Some(SamplerSetting::ParentBasedAlwaysOff))
    );
    for bad in ["1.5", "-0.1", "half", "NaN"] {
        let e = with("traceidratio", Some(bad)).expect_err(bad).to_string();
        assert!(e.starts_with("OTEL_TRACES_SAMPLER_ARG="), "{e}");
    }
    let e = with("sometimes", None).expect_err("unknown").to_string();
    assert!(
        e.starts_with("OTEL_TRACES_SAMPLER=\"sometimes\"") && e.contains("parentbased_always_on"),
        "{e}"
    );
}

#[test]
fn timeouts_in_milliseconds() {
    let s = on(&[ENDPOINT, ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]);
    assert_eq!(s.timeout, Duration::from_millis(2500));
    let s = on(&[
        ENDPOINT,
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
    ]);
    assert_eq!(s.timeout, Duration::from_millis(700));
    for bad in ["10s", "0", "-1"] {
        let e = refused(&[ENDPOINT, ("OTEL_EXPORTER_OTLP_TIMEOUT", bad)]);
        assert!(e.starts_with("OTEL_EXPORTER_OTLP_TIMEOUT="), "{e}");
    }
}

#[test]
fn malformed_endpoints_are_refused_naming_the_variable() {
    for (var, bad) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://a b"),
    ] {
        let e = refused(&[(var, bad)]);
        assert!(e.starts_with(&format!("{var}=")), "{bad}: {e}");
    }
}

#[test]
fn resource_kubernetes_attributes_then_otel_resource_attributes_then_service_name() {
    let s = on(&[
        ENDPOINT,
        ("METALLB_NAMESPACE", "metallb-system"),
        ("METALLB_POD_NAME", "controller-abc"),
        ("METALLB_POD_UID", "1234"),
        ("METALLB_NODE_NAME", "node-1"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=lab, k8s.pod.name=override,team=net%20ops",
        ),
    ]);
    let want = [
        ("deployment.environment", "lab"),
        ("k8s.namespace.name", "metallb-system"),
        ("k8s.node.name", "node-1"),
        ("k8s.pod.name", "override"),
        ("k8s.pod.uid", "1234"),
        ("service.name", CONTROLLER),
        ("team", "net ops"),
    ];
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(s.resource, want);
    // service.name: OTEL_SERVICE_NAME over OTEL_RESOURCE_ATTRIBUTES over the binary's default.
    let s = on(&[ENDPOINT, ("OTEL_RESOURCE_ATTRIBUTES", "service.name=a")]);
    assert_eq!(s.resource["service.name"], "a");
    let s = on(&[
        ENDPOINT,
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=a"),
        ("OTEL_SERVICE_NAME", "b"),
    ]);
    assert_eq!(s.resource["service.name"], "b");
    // The speaker's e2e and hand-run speakers set NODE_NAME only.
    let s = on(&[ENDPOINT, ("NODE_NAME", "node-2")]);
    assert_eq!(s.resource["k8s.node.name"], "node-2");
}

#[test]
fn malformed_resource_attributes_are_refused() {
    for bad in ["novalue", "=v", "a=%zz", "a=%4"] {
        let e = refused(&[ENDPOINT, ("OTEL_RESOURCE_ATTRIBUTES", bad)]);
        assert!(e.starts_with("OTEL_RESOURCE_ATTRIBUTES="), "{bad}: {e}");
    }
    assert_eq!(
        resource_attributes(" , a=1,,"),
        Ok(vec![("a".to_owned(), "1".to_owned())])
    );
}

/// One HTTP/1.1 request read by a loopback "collector": its path and body.
fn serve_one(listener: TcpListener, done: mpsc::Sender<(String, Vec<u8>)>) {
    let Ok((stream, _)) = listener.accept() else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let _ = reader.get_mut().write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
    );
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let _ = done.send((path, body));
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn spans_of_ferrolb_crates_are_exported_over_otlp_http_and_flushed_at_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    let server = std::thread::spawn(move || serve_one(listener, tx));
    let endpoint = format!("http://127.0.0.1:{port}");
    let s = on(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("METALLB_NAMESPACE", "metallb-system"),
    ]);
    let (layer, mut guard) = layer(&s).expect("layer");
    assert!(guard.is_on());
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // This module's target starts with `ferrolb_kube`: exported.
        let span = tracing::info_span!(
            "allocate",
            service = "demo/web",
            ips = tracing::field::Empty
        );
        span.in_scope(|| tracing::info!("IP allocated"));
        span.record("ips", "172.18.255.200");
        drop(span);
        // Other crates' spans and DEBUG spans are not.
        tracing::info_span!(target: "kube_client", "kube-request").in_scope(|| {});
        tracing::debug_span!("debug-only").in_scope(|| {});
    });
    guard.shutdown();
    assert!(!guard.is_on());
    let (path, body) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("an OTLP request");
    let _ = server.join();
    assert_eq!(path, "/v1/traces");
    for want in [
        "allocate",
        "demo/web",
        "172.18.255.200",
        "IP allocated",
        "service.name",
        CONTROLLER,
        "k8s.namespace.name",
        "metallb-system",
    ] {
        assert!(contains(&body, want), "{want} missing from the export");
    }
    for absent in ["kube-request", "debug-only"] {
        assert!(!contains(&body, absent), "{absent} exported");
    }
}
