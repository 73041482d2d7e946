//! The real `ferrolb-operator` binary (controller and `webhook` subcommand) refuses absurd flag
//! values at startup: exit code 2 (a usage error) and a message naming the flag, never a panic
//! and never a silent nonsense. No API server is needed: the flags are checked first.

#[path = "../../hack/test-support/binary_flags.rs"]
mod binary_flags;

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-operator");

fn refused(args: &[&str], flag: &str) {
    binary_flags::assert_refused(BIN, args, flag);
}

#[test]
fn absurd_controller_flags_are_usage_errors_naming_the_flag() {
    for (args, flag) in [
        (&["--debounce=-5ms"][..], "--debounce"),
        (&["--debounce", "10000000h"], "--debounce"),
        (
            &["--leader-elect-lease-duration", "0s"],
            "--leader-elect-lease-duration",
        ),
        (
            &["--leader-elect-lease-duration", "9000h"],
            "--leader-elect-lease-duration",
        ),
        (
            &["--leader-elect-renew-deadline", "20s"],
            "--leader-elect-renew-deadline",
        ),
        (
            &["--leader-elect-retry-period", "10s"],
            "--leader-elect-retry-period",
        ),
        (
            &["--port", "7472", "--health-probe-port", "7472"],
            "--health-probe-port",
        ),
        (&["--port", "65536"], "--port"),
        (&["--log-level", "foo"], "--log-level"),
        (&["--log-level", "trace"], "--log-level"),
        (&["--log-format", "logfmt"], "--log-format"),
    ] {
        refused(args, flag);
    }
}

#[test]
fn absurd_webhook_flags_are_usage_errors_naming_the_flag() {
    for (args, flag) in [
        (&["webhook", "--listen", "0.0.0.0:0"][..], "--listen"),
        (
            &["webhook", "--check-interval-secs", "0"],
            "--check-interval-secs",
        ),
        (
            &["webhook", "--cert-validity-secs", "18446744073709551615"],
            "--cert-validity-secs",
        ),
        (
            &["webhook", "--renew-before-secs", "0"],
            "--renew-before-secs",
        ),
        (&["webhook", "--log-level", "verbose"], "--log-level"),
        (&["webhook", "--log-format", "yaml"], "--log-format"),
    ] {
        refused(args, flag);
    }
}

#[test]
fn sensible_values_pass_the_flag_checks() {
    // Past the flags the controller needs an API server: it fails there, not on a flag.
    for args in [
        &["--debounce", "0s", "--leader-elect-lease-duration", "1m"][..],
        &["--port", "0", "--health-probe-port", "0"],
        &["--log-level", "all", "--log-format", "text"],
        &["--log-level=none"],
        &["--log-level", "info,kube=warn", "--log-format", "json"],
    ] {
        binary_flags::assert_accepted(BIN, args);
    }
}

/// The `OTEL_*` variables that would otherwise be refused silently or fall back to a default
/// (`ferrolb_kube::telemetry`): each with the variable its message must name.
const BAD_OTEL: [(&str, &str, &str); 6] = [
    (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "grpc",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "udp",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ),
    ("OTEL_TRACES_SAMPLER", "sometimes", "OTEL_TRACES_SAMPLER"),
    ("OTEL_SDK_DISABLED", "yes", "OTEL_SDK_DISABLED"),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "collector:4318",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        "team",
        "OTEL_RESOURCE_ATTRIBUTES",
    ),
];

#[test]
fn bad_otel_variables_are_usage_errors_naming_the_variable() {
    for (var, value, named) in BAD_OTEL {
        binary_flags::assert_refused_env(BIN, &[], &[(var, value)], named);
        binary_flags::assert_refused_env(BIN, &["webhook"], &[(var, value)], named);
    }
    // A ratio sampler's argument out of 0..1.
    let ratio = [
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ];
    binary_flags::assert_refused_env(BIN, &[], &ratio, "OTEL_TRACES_SAMPLER_ARG");
}

#[test]
fn valid_otel_variables_pass_the_checks() {
    // Traces on (nothing listens on port 9: the exporter is built, the flush at exit finds
    // nothing queued), off by OTEL_SDK_DISABLED, and a sampler with its ratio.
    for env in [
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")][..],
        &[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:9/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ("OTEL_SERVICE_NAME", "lb"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=lab"),
        ],
        &[
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_SAMPLER", "bogus"),
        ],
    ] {
        binary_flags::assert_accepted_env(BIN, &[], env);
    }
}
