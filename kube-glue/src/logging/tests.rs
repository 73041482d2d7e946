use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use super::*;

#[test]
fn metallb_level_words_map_to_filters() {
    for (word, directives) in [
        ("all", "trace"),
        ("debug", "debug"),
        ("info", "info"),
        ("warn", "warn"),
        ("error", "error"),
        ("none", "off"),
    ] {
        let level: LogLevel = word.parse().expect(word);
        assert_eq!(level.directives(), directives, "{word}");
    }
}

#[test]
fn tracing_directives_with_a_target_pass_through() {
    let level: LogLevel = "info,ferrolb_speaker=debug".parse().expect("directives");
    assert_eq!(level.directives(), "info,ferrolb_speaker=debug");
}

#[test]
fn unknown_levels_are_refused_naming_the_flag_and_the_words() {
    // `foo` and `verbose` would be EnvFilter *targets* (silently logging nothing of ours);
    // `trace`/`off` are tracing's words, not MetalLB's; `Info` is not MetalLB's spelling.
    for bad in ["foo", "verbose", "trace", "off", "Info", "", "info,"] {
        let e = bad.parse::<LogLevel>().expect_err(bad);
        assert!(e.contains("--log-level"), "{e}");
        assert!(
            e.contains("all, debug, info, warn, error, none"),
            "{bad}: {e}"
        );
    }
    let e = "x=notalevel"
        .parse::<LogLevel>()
        .expect_err("bad directive");
    assert!(
        e.contains("--log-level") && e.contains("not a valid tracing filter"),
        "{e}"
    );
}

#[test]
fn log_formats() {
    assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
    assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
    assert_eq!(LogFormat::default(), LogFormat::Json, "MetalLB logs JSON");
    let e = "logfmt".parse::<LogFormat>().expect_err("logfmt");
    assert!(
        e.contains("--log-format") && e.contains("json or text"),
        "{e}"
    );
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture(level: &str, f: impl FnOnce()) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let level: LogLevel = level.parse().expect("level");
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level.directives()))
        .with_writer(move || writer.clone())
        .event_format(MetalLbJson)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = out.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn json_lines_carry_metallbs_keys() {
    let text = capture("info", || {
        tracing::info!(event = "ipAllocated", ip = %"10.0.0.1", service = "ns/web", n = 2_u64, "IP address assigned by controller");
        tracing::debug!("hidden at info");
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("one JSON object a line");
    assert_eq!(v["level"], "info");
    assert_eq!(v["msg"], "IP address assigned by controller");
    assert_eq!(v["event"], "ipAllocated");
    assert_eq!(v["ip"], "10.0.0.1");
    assert_eq!(v["service"], "ns/web");
    assert_eq!(v["n"], 2);
    assert!(
        v["caller"]
            .as_str()
            .is_some_and(|c| c.starts_with("tests.rs:")),
        "{v}"
    );
    assert!(v["ts"].as_str().is_some_and(|t| t.contains('T')), "{v}");
    // Keys sorted, as go-kit's JSON logger (a Go map) writes them.
    assert!(lines[0].starts_with(r#"{"caller":"#), "{}", lines[0]);
}

#[test]
fn all_shows_trace_and_none_shows_nothing() {
    let all = capture("all", || tracing::trace!("deep"));
    assert!(all.contains(r#""level":"trace""#), "{all}");
    let none = capture("none", || tracing::error!("loud"));
    assert!(none.is_empty(), "{none}");
}
