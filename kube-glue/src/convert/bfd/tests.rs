//! Defaults, every field, and out-of-range values.

use std::time::Duration;

use serde_json::json;

use super::*;

fn profile(spec: serde_json::Value) -> BFDProfile {
    serde_json::from_value(json!({
        "apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile",
        "metadata": {"name": "fast", "namespace": "metallb-system"},
        "spec": spec
    }))
    .expect("profile")
}

#[test]
fn empty_profile_gets_metallb_defaults() {
    let p = bfd_profile(&profile(json!({}))).expect("ok");
    assert_eq!(p, Params::DEFAULT);
    assert_eq!(p.receive_interval, Duration::from_millis(300));
    assert_eq!(p.transmit_interval, Duration::from_millis(300));
    assert_eq!(p.detect_multiplier, 3);
    assert_eq!(p.minimum_ttl, 254);
    assert!(!p.passive && !p.echo_mode);
}

#[test]
fn every_field_is_used() {
    let p = bfd_profile(&profile(json!({
        "receiveInterval": 50, "transmitInterval": 60, "detectMultiplier": 5,
        "echoInterval": 20, "echoMode": true, "passiveMode": true, "minimumTtl": 10
    })))
    .expect("ok");
    assert_eq!(
        p,
        Params {
            receive_interval: Duration::from_millis(50),
            transmit_interval: Duration::from_millis(60),
            detect_multiplier: 5,
            echo_interval: Duration::from_millis(20),
            echo_mode: true,
            passive: true,
            minimum_ttl: 10,
        }
    );
    let c = p.session_config();
    assert_eq!(c.desired_min_tx, Duration::from_millis(60));
    assert_eq!(c.required_min_rx, Duration::from_millis(50));
    assert!(c.passive);
}

#[test]
fn out_of_range_names_the_field() {
    let e = bfd_profile(&profile(json!({"detectMultiplier": 1}))).expect_err("range");
    assert_eq!(
        e.to_string(),
        "BFDProfile \"fast\": spec.detectMultiplier: invalid value 1, must be in 2-255 range"
    );
    let e = bfd_profile(&profile(json!({"receiveInterval": 5}))).expect_err("range");
    assert_eq!(e.field, "spec.receiveInterval");
    let e = bfd_profile(&profile(json!({"minimumTtl": 255}))).expect_err("range");
    assert_eq!(e.field, "spec.minimumTtl");
}
