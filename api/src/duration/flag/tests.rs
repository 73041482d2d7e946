//! Bounds of the timer and port flags.

use std::time::Duration;

use super::*;

const MS: Duration = Duration::from_millis(1);

fn interval() -> Bounds {
    Bounds::new(MS, Duration::from_secs(60))
}

#[test]
fn go_syntax_within_bounds() {
    let b = interval();
    assert_eq!(b.parse("100ms"), Ok(Duration::from_millis(100)));
    assert_eq!(b.parse("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(b.parse("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(b.parse("1.5s"), Ok(Duration::from_millis(1500)));
    let wide = Bounds::new(Duration::ZERO, MAX);
    assert_eq!(wide.parse("24h"), Ok(Duration::from_secs(86_400)));
    assert_eq!(wide.parse("86400s"), Ok(Duration::from_secs(86_400)));
}

#[test]
fn zero_is_an_error_unless_it_disables() {
    let e = interval().parse("0s").unwrap_err();
    assert!(e.contains("between 1ms and 1m0s"), "{e}");
    assert!(interval().parse("0").is_err());
    let off = Bounds::new(Duration::from_secs(1), Duration::from_secs(3600)).or_zero();
    assert_eq!(off.parse("0s"), Ok(Duration::ZERO));
    let e = off.parse("500ms").unwrap_err();
    assert!(e.contains("or 0s to disable"), "{e}");
}

#[test]
fn negative_huge_and_malformed_values_are_errors() {
    let b = interval();
    assert!(b.parse("-1s").unwrap_err().contains("negative"));
    assert!(b.parse("61s").unwrap_err().contains("out of range"));
    assert!(
        b.parse("10000000h").is_err(),
        "more than Go's i64 nanoseconds"
    );
    assert!(b.parse("2562047h").unwrap_err().contains("out of range"));
    assert!(b.parse("18446744073709551615s").is_err());
    assert!(b.parse("100").unwrap_err().contains("missing unit"));
    assert!(b.parse("5d").unwrap_err().contains("unknown unit"));
    assert!(b.parse("").is_err());
    // A flag can never declare more than MAX.
    let greedy = Bounds::new(MS, Duration::MAX);
    assert!(greedy.parse("9000h").unwrap_err().contains("8760h0m0s"));
    // Every accepted value can be added to an Instant.
    let now = std::time::Instant::now();
    assert!(now.checked_add(greedy.parse("8760h").unwrap()).is_some());
}

#[test]
fn relations_between_flags_name_both() {
    let a = ("--dead-after", Duration::from_millis(100));
    let b = ("--heartbeat-interval", Duration::from_millis(100));
    let e = after(a, b).unwrap_err();
    assert_eq!(
        e,
        "--dead-after (100ms) must be greater than --heartbeat-interval (100ms)"
    );
    assert!(after(("--dead-after", Duration::from_millis(101)), b).is_ok());
}

#[test]
fn ports() {
    assert!(distinct_ports(("--port", 7472), ("--health-probe-port", 7472)).is_err());
    assert!(distinct_ports(("--port", 0), ("--health-probe-port", 0)).is_ok());
    assert!(distinct_ports(("--port", 7472), ("--health-probe-port", 17472)).is_ok());
    assert_eq!(nonzero_port("7947"), Ok(7947));
    assert!(nonzero_port("0").is_err());
    assert!(nonzero_port("65536").is_err());
    assert!(nonzero_port("-1").is_err());
}
