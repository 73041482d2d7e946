use super::*;
use crate::plan::ServiceKey;
use crate::plan::decide::Announcement;

fn decisions(services: &[(&str, &str)]) -> Decisions {
    Decisions {
        announce: services
            .iter()
            .map(|(name, ip)| Announcement {
                service: ServiceKey::new("ns", *name),
                uid: None,
                ips: vec![ip.parse().expect("ip")],
                interfaces: ferrolb_l2::Interfaces::All,
            })
            .collect(),
        ..Decisions::default()
    }
}

#[test]
fn bgp_session_series_use_metallb_names_and_go_with_the_peer() {
    let m = Metrics::default();
    let v4: SocketAddr = "172.18.0.1:179".parse().expect("addr");
    let v6: SocketAddr = "[fc00::1]:179".parse().expect("addr");
    m.set_bgp_session(v4, true, 3, 2, 0);
    m.set_bgp_session(v6, false, 0, 0, 2);
    let web = ["10.0.0.1".parse().expect("ip")];
    m.set_announced_bgp("n1", [("ns/web".to_string(), &web[..])]);
    m.set_announced("n1", &decisions(&[("l2", "10.0.0.2")]));
    let text = m.render();
    for line in [
        r#"metallb_bgp_session_up{peer="172.18.0.1:179"} 1"#,
        r#"metallb_bgp_session_up{peer="[fc00::1]:179"} 0"#,
        r#"metallb_bgp_updates_total{peer="172.18.0.1:179"} 3"#,
        r#"metallb_bgp_announced_prefixes_total{peer="172.18.0.1:179"} 2"#,
        r#"metallb_bgp_pending_prefixes_total{peer="[fc00::1]:179"} 2"#,
        r#"metallb_speaker_announced{ip="10.0.0.1",node="n1",protocol="bgp",service="ns/web"} 1"#,
        r#"metallb_speaker_announced{ip="10.0.0.2",node="n1",protocol="layer2",service="ns/l2"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    m.remove_bgp_session(v6);
    m.set_announced_bgp("n1", []);
    let text = m.render();
    assert!(!text.contains("fc00::1"), "{text}");
    assert!(!text.contains(r#"protocol="bgp""#), "{text}");
    assert!(
        text.contains(r#"protocol="layer2""#),
        "L2 series stay: {text}"
    );
}

#[test]
fn bfd_series_use_metallb_names_and_go_with_the_peer() {
    let m = Metrics::default();
    let peer: IpAddr = "172.18.0.1".parse().expect("ip");
    let c = BfdCounters {
        up: true,
        input: 10,
        output: 12,
        up_events: 1,
        down_events: 0,
    };
    m.set_bfd_session(peer, &c);
    let text = m.render();
    for line in [
        r#"metallb_bfd_session_up{peer="172.18.0.1"} 1"#,
        r#"metallb_bfd_control_packet_input{peer="172.18.0.1"} 10"#,
        r#"metallb_bfd_control_packet_output{peer="172.18.0.1"} 12"#,
        r#"metallb_bfd_session_up_events{peer="172.18.0.1"} 1"#,
        r#"metallb_bfd_session_down_events{peer="172.18.0.1"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    m.remove_bfd_session(peer);
    assert!(!m.render().contains("172.18.0.1"));
}

#[test]
fn metallb_names_and_series_follow_ownership() {
    let m = Metrics::default();
    m.set_announced(
        "node-1",
        &decisions(&[("web", "10.0.0.1"), ("db", "fc00::1")]),
    );
    m.request("10.0.0.1".parse().expect("ip"));
    m.response("10.0.0.1".parse().expect("ip"));
    m.gratuitous("fc00::1".parse().expect("ip"));
    m.malformed_frame();
    m.heartbeats(&Stats {
        bad_tag: 2,
        replayed: 1,
        accepted: 9,
        ..Stats::default()
    });
    let text = m.render();
    for line in [
        r#"metallb_speaker_announced{ip="10.0.0.1",node="node-1",protocol="layer2",service="ns/web"} 1"#,
        r#"metallb_speaker_announced{ip="fc00::1",node="node-1",protocol="layer2",service="ns/db"} 1"#,
        r#"metallb_layer2_requests_received{ip="10.0.0.1"} 1"#,
        r#"metallb_layer2_responses_sent{ip="10.0.0.1"} 1"#,
        r#"metallb_layer2_gratuitous_sent{ip="fc00::1"} 1"#,
        "ferrolb_speaker_malformed_frames_total 1",
        "ferrolb_speaker_rejected_heartbeats_total 3",
        r#"ferrolb_speaker_heartbeat_checks_total{reason="previous_key"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // `web` moves away: its series go, `db`'s stay.
    m.set_announced("node-1", &decisions(&[("db", "fc00::1")]));
    let text = m.render();
    assert!(!text.contains("10.0.0.1"), "stale series kept:\n{text}");
    assert!(text.contains(r#"service="ns/db"} 1"#), "{text}");
    assert!(text.contains(r#"metallb_layer2_gratuitous_sent{ip="fc00::1"} 1"#));
    // The log line is read from the same counters; totals survive a series' removal.
    assert_eq!(
        m.summary(),
        "requests_received=1 responses_sent=1 replies_rate_limited=0 gratuitous_sent=1 malformed_frames=1 rejected_heartbeats=3"
    );
    // Deriving again from the same statistics counts nothing twice.
    m.heartbeats(&Stats {
        bad_tag: 2,
        replayed: 1,
        malformed: 1,
        ..Stats::default()
    });
    assert!(
        m.render()
            .contains("ferrolb_speaker_rejected_heartbeats_total 4")
    );
}

#[test]
fn hardening_checks_by_reason_and_rejections_in_the_total() {
    let m = Metrics::default();
    m.heartbeats(&Stats {
        bad_tag: 1,
        future_incarnation: 2,
        address_mismatch: 3,
        previous_key: 4,
        restarted_earlier: 5,
        ..Stats::default()
    });
    let text = m.render();
    for line in [
        r#"ferrolb_speaker_heartbeat_checks_total{reason="bad_key"} 1"#,
        r#"ferrolb_speaker_heartbeat_checks_total{reason="future_incarnation"} 2"#,
        r#"ferrolb_speaker_heartbeat_checks_total{reason="address_mismatch"} 3"#,
        r#"ferrolb_speaker_heartbeat_checks_total{reason="previous_key"} 4"#,
        r#"ferrolb_speaker_heartbeat_checks_total{reason="restarted_earlier"} 5"#,
        // Accepted heartbeats (previous key, earlier clock) are not rejections.
        "ferrolb_speaker_rejected_heartbeats_total 6",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!m.exporter().is_ready());
}

/// The whole exposition against MetalLB's speaker (`internal/layer2/stats.go`,
/// `internal/bgp/native/stats.go`, `internal/k8s/controllers/stats.go`, `frr-tools/metrics/collector/bfd.go`, `speaker/main.go`;
/// client_golang's process collector) plus ferrolb's own `ferrolb_speaker_*` counters: every
/// `# TYPE` line and every sample name, nothing more, nothing less.
#[test]
fn exposition_is_metallbs_speaker_list() {
    const METALLB: &[(&str, &str)] = &[
        ("metallb_bfd_control_packet_input", "counter"),
        ("metallb_bfd_control_packet_output", "counter"),
        ("metallb_bfd_session_down_events", "counter"),
        ("metallb_bfd_session_up", "gauge"),
        ("metallb_bfd_session_up_events", "counter"),
        ("metallb_bgp_announced_prefixes_total", "gauge"),
        ("metallb_bgp_pending_prefixes_total", "gauge"),
        ("metallb_bgp_session_up", "gauge"),
        ("metallb_bgp_updates_total", "counter"),
        ("metallb_k8s_client_config_loaded_bool", "gauge"),
        ("metallb_k8s_client_config_stale_bool", "gauge"),
        ("metallb_k8s_client_update_errors_total", "counter"),
        ("metallb_k8s_client_updates_total", "counter"),
        ("metallb_layer2_gratuitous_sent", "counter"),
        ("metallb_layer2_requests_received", "counter"),
        ("metallb_layer2_responses_sent", "counter"),
        ("metallb_speaker_announced", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_max_fds", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
    ];
    const FERROLB: &[(&str, &str)] = &[
        ("ferrolb_speaker_heartbeat_checks_total", "counter"),
        ("ferrolb_speaker_malformed_frames_total", "counter"),
        ("ferrolb_speaker_rejected_heartbeats_total", "counter"),
        ("ferrolb_speaker_replies_rate_limited_total", "counter"),
    ];
    let m = Metrics::default();
    let ip: IpAddr = "10.0.0.1".parse().expect("ip");
    m.set_announced("n1", &decisions(&[("web", "10.0.0.1")]));
    m.request(ip);
    m.response(ip);
    m.gratuitous(ip);
    m.malformed_frame();
    m.heartbeats(&Stats::default());
    m.set_bgp_session("172.18.0.1:179".parse().expect("peer"), true, 1, 1, 0);
    m.set_bfd_session("172.18.0.1".parse().expect("peer"), &BfdCounters::default());
    let (types, samples) = ferrolb_kube::metrics::exposition_shape(&m.render());
    let all = METALLB.iter().chain(FERROLB);
    let want_types: std::collections::BTreeSet<String> =
        all.clone().map(|(n, t)| format!("{n} {t}")).collect();
    let want_samples: std::collections::BTreeSet<String> =
        all.map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(types, want_types);
    assert_eq!(samples, want_samples);
}

#[test]
fn k8s_client_metrics_follow_writes_and_configuration() {
    let m = Metrics::default();
    let before = m.render();
    for line in [
        "metallb_k8s_client_config_loaded_bool 0",
        "metallb_k8s_client_updates_total 0",
    ] {
        assert!(before.contains(line), "missing {line:?} in:\n{before}");
    }
    m.client.config(true, false);
    m.client.wrote(true);
    m.client.wrote(true);
    m.client.wrote(false);
    let text = m.render();
    for line in [
        "metallb_k8s_client_config_loaded_bool 1",
        "metallb_k8s_client_config_stale_bool 0",
        "metallb_k8s_client_updates_total 2",
        "metallb_k8s_client_update_errors_total 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    m.client.config(true, true);
    assert!(
        m.render()
            .contains("metallb_k8s_client_config_stale_bool 1")
    );
}
