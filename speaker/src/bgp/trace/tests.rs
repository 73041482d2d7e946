use std::net::SocketAddr;

use ferrolb_bgp::message::MpUnreach;
use ferrolb_bgp::types::Family;
use ferrolb_kube::telemetry::capture::Capture;
use ferrolb_kube::telemetry::traced;
use ipnet::{IpNet, Ipv4Net};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;

use super::*;

fn v4(s: &str) -> Ipv4Net {
    s.parse().expect("prefix")
}

fn captured(f: impl FnOnce()) -> Capture {
    let capture = Capture::default();
    let subscriber =
        tracing_subscriber::registry().with(capture.clone().with_filter(filter_fn(traced)));
    tracing::subscriber::with_default(subscriber, f);
    capture
}

#[test]
fn an_update_batch_lists_announced_and_withdrawn_prefixes_of_both_families() {
    let announce = Update {
        nlri: vec![v4("192.168.10.0/32"), v4("192.168.10.1/32")],
        ..Update::default()
    };
    let mut withdraw = Update {
        withdrawn: vec![v4("192.168.10.9/32")],
        ..Update::default()
    };
    let v6: IpNet = "fc00::1/128".parse().expect("prefix");
    withdraw.attrs.mp_unreach = Some(MpUnreach {
        family: Family::Ipv6Unicast,
        withdrawn: vec![v6],
    });
    let capture = captured(|| {
        let _batch = update_batch("frr", [&announce, &withdraw].into_iter()).entered();
    });
    let spans = capture.named("bgp.update_batch");
    assert_eq!(spans.len(), 1, "{spans:?}");
    let s = &spans[0];
    assert_eq!(s.field("peer"), "frr");
    assert_eq!(s.field("updates"), "2");
    assert_eq!(s.field("announced"), "192.168.10.0/32,192.168.10.1/32");
    assert_eq!(s.field("announced_count"), "2");
    assert_eq!(s.field("withdrawn"), "192.168.10.9/32,fc00::1/128");
    assert_eq!(s.field("withdrawn_count"), "2");
}

#[test]
fn long_prefix_lists_are_cut_but_counted() {
    let big = Update {
        nlri: (0..=255u8).map(|i| v4(&format!("10.0.0.{i}/32"))).collect(),
        ..Update::default()
    };
    let capture = captured(|| drop(update_batch("gobgp", std::iter::once(&big))));
    let s = &capture.named("bgp.update_batch")[0];
    assert_eq!(s.field("announced_count"), "256");
    let listed = s.field("announced");
    assert_eq!(listed.split(',').count(), MAX_LISTED + 1, "{listed}");
    assert!(listed.ends_with(",…"), "{listed}");
}

#[test]
fn no_prefix_list_is_built_when_the_span_is_disabled() {
    // Traces off (a subscriber that records nothing): the iterator is never consumed.
    let mut consumed = false;
    let updates = std::iter::from_fn(|| {
        consumed = true;
        None
    });
    let off = tracing::subscriber::NoSubscriber::default();
    let disabled =
        tracing::subscriber::with_default(off, || update_batch("frr", updates).is_disabled());
    assert!(disabled);
    assert!(!consumed);
}

#[test]
fn a_state_change_names_the_peer_and_both_states() {
    let address: SocketAddr = "172.18.0.1:179".parse().expect("addr");
    let capture = captured(|| {
        session_state("frr", &address, State::OpenConfirm, State::Established).in_scope(|| {});
    });
    let s = &capture.named("bgp.session_state")[0];
    assert_eq!(s.field("peer"), "frr");
    assert_eq!(s.field("address"), "172.18.0.1:179");
    assert_eq!(s.field("from"), "OpenConfirm");
    assert_eq!(s.field("to"), "Established");
}
