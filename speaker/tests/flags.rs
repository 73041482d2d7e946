//! The real `ferrolb-speaker` binary refuses absurd flag values at startup: exit code 2 (a
//! usage error) and a message naming the flag, never a panic and never a silent nonsense.
//! No API server is needed: the flags are checked before anything connects.

#[path = "../../hack/test-support/binary_flags.rs"]
mod binary_flags;

const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-speaker");

/// The speaker's arguments: a node name (required) and `args`.
fn with_node<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--node-name", "node-1"];
    all.extend_from_slice(args);
    all
}

fn refused(args: &[&str], flag: &str) {
    binary_flags::assert_refused(BIN, &with_node(args), flag);
}

#[test]
fn absurd_timers_are_usage_errors_naming_the_flag() {
    for (args, flag) in [
        (&["--heartbeat-interval", "0s"][..], "--heartbeat-interval"),
        (&["--heartbeat-interval=-1s"], "--heartbeat-interval"),
        (&["--heartbeat-interval", "2h"], "--heartbeat-interval"),
        (&["--dead-after", "18446744073709551615s"], "--dead-after"),
        (&["--dead-after", "100ms"], "--dead-after"), // = the default interval
        (
            &["--heartbeat-interval", "1s", "--dead-after", "500ms"],
            "--dead-after",
        ),
        (
            &["--max-incarnation-ahead", "10000000h"],
            "--max-incarnation-ahead",
        ),
        (
            &["--max-incarnation-ahead", "9000h"],
            "--max-incarnation-ahead",
        ),
        (&["--leave-grace", "2562047h"], "--leave-grace"),
        (&["--debounce", "1h"], "--debounce"),
        (&["--debounce", "5d"], "--debounce"),
        (&["--drain-delay", "6m"], "--drain-delay"),
        (&["--drain-delay=-1s"], "--drain-delay"),
        (&["--drain-on-stop", "maybe"], "--drain-on-stop"),
    ] {
        refused(args, flag);
    }
}

#[test]
fn absurd_ports_and_selectors_are_usage_errors_naming_the_flag() {
    refused(&["--liveness-port", "0"], "--liveness-port");
    refused(&["--liveness-port", "70000"], "--liveness-port");
    refused(
        &["--port", "9000", "--health-probe-port", "9000"],
        "--health-probe-port",
    );
    refused(
        &["--ml-labels", "app=metallb,,component=speaker"],
        "--ml-labels",
    );
}

#[test]
fn unknown_log_levels_and_formats_are_usage_errors_listing_the_words() {
    // MetalLB's words are all, debug, info, warn, error, none; `foo` would be a tracing target
    // that silently logs nothing.
    for (args, flag) in [
        (&["--log-level", "foo"][..], "--log-level"),
        (&["--log-level", "verbose"], "--log-level"),
        (&["--log-level", "x=nonsense"], "--log-level"),
        (&["--log-format", "logfmt"], "--log-format"),
    ] {
        refused(args, flag);
        let o = binary_flags::run(BIN, &with_node(args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("all, debug, info, warn, error, none") || err.contains("json or text"),
            "{args:?}: the accepted words are not listed: {err}"
        );
    }
}

#[test]
fn sensible_values_pass_the_flag_checks() {
    // Past the flags the speaker needs an API server: it fails there, not on a flag.
    for args in [
        &["--heartbeat-interval", "50ms", "--dead-after", "250ms"][..],
        &[
            "--max-incarnation-ahead",
            "0s",
            "--leave-grace",
            "0s",
            "--debounce",
            "0s",
        ],
        &[
            "--max-incarnation-ahead",
            "24h",
            "--port",
            "0",
            "--health-probe-port",
            "0",
        ],
        &["--quorum", "majority", "--ml-labels", ""],
        &["--log-level", "all", "--log-format", "text"],
        &["--log-level=none", "--log-format=json"],
        &["--log-level", "info,ferrolb_speaker=debug"],
    ] {
        binary_flags::assert_accepted(BIN, &with_node(args));
    }
}

#[test]
fn bad_otel_variables_are_usage_errors_naming_the_variable() {
    for (var, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "always"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "ftp://collector/v1/traces",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
    ] {
        binary_flags::assert_refused_env(BIN, &with_node(&[]), &[(var, value)], var);
    }
}

#[test]
fn traces_on_pass_the_checks() {
    binary_flags::assert_accepted_env(
        BIN,
        &with_node(&[]),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_TRACES_SAMPLER", "always_on"),
        ],
    );
}
