use super::process::{ProcessStats, parse_btime, parse_max_fds, parse_stat, parse_vm_rss};
use super::*;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct Ip {
    ip: String,
}

#[test]
fn renders_what_was_registered_and_tracks_readiness() {
    let hits = ExactCounter::default();
    let mut b = ExporterBuilder::default();
    b.register("demo_hits_total", "Hits", hits.clone());
    let e = b.build();
    assert!(!e.is_ready());
    hits.inc();
    assert!(
        e.render().contains("\ndemo_hits_total 1\n"),
        "{}",
        e.render()
    );
    e.clone().set_ready();
    assert!(e.is_ready(), "clones share the flag");
}

#[test]
fn counters_render_as_the_go_client_does() {
    let per_ip = Family::<Ip, ExactCounter>::default();
    let mut b = ExporterBuilder::default();
    b.register(
        "metallb_layer2_requests_received",
        "Number of layer2 requests received for owned IPs",
        per_ip.clone(),
    );
    let e = b.build();
    per_ip
        .get_or_create(&Ip {
            ip: "10.0.0.1".into(),
        })
        .inc_by(3);
    let text = e.render();
    assert!(
        text.contains(
            "# TYPE metallb_layer2_requests_received counter\n\
             metallb_layer2_requests_received{ip=\"10.0.0.1\"} 3\n"
        ),
        "{text}"
    );
    assert!(!text.contains("_received_total"), "{text}");
    assert!(
        !text.contains("# EOF"),
        "text format 0.0.4 has no EOF: {text}"
    );
}

#[test]
fn catch_up_never_lowers_nor_counts_twice() {
    let c = ExactCounter::default();
    c.catch_up(5);
    c.catch_up(5);
    c.catch_up(2);
    assert_eq!(c.get(), 5);
}

#[test]
fn every_exporter_has_the_go_process_metrics() {
    let text = ExporterBuilder::default().build().render();
    for (name, ty) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_max_fds", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {ty}\n")),
            "{name}: {text}"
        );
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(value.is_some_and(|v| v >= 0.0), "{name}: {text}");
        if name != "process_cpu_seconds_total" && name != "process_start_time_seconds" {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(name) && !l.contains('.')),
                "whole numbers print as the Go client prints them: {text}"
            );
        }
    }
    let s = ProcessStats::read();
    assert!(
        s.resident_bytes.is_some_and(|b| b > 1024.0 * 1024.0),
        "{s:?}"
    );
    assert!(s.open_fds.is_some_and(|n| n >= 3.0), "{s:?}");
    assert!(
        s.start_time_seconds.is_some_and(|t| t > 1.6e9),
        "started after 2020: {s:?}"
    );
}

#[test]
fn proc_files_parse() {
    // A command name with spaces and parentheses, as proc(5) allows.
    let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 50 0 0 20 0 9 0 \
                123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
    let s = parse_stat(stat).expect("stat");
    assert_eq!(s.cpu_ticks, 300);
    assert_eq!(s.start_ticks, 123_456);
    assert_eq!(s.vsize, 987_654_321);
    assert_eq!(parse_stat("garbage"), None);
    assert_eq!(
        parse_btime("cpu 1 2 3\nbtime 1700000000\nprocesses 9\n"),
        Some(1_700_000_000)
    );
    assert_eq!(
        parse_vm_rss("Name:\tx\nVmRSS:\t   2048 kB\n"),
        Some(2048.0 * 1024.0)
    );
    let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                  Max open files            1048576              1048576              files     \n";
    assert_eq!(parse_max_fds(limits), Some(1_048_576.0));
    assert_eq!(
        parse_max_fds(
            "Max open files            unlimited            unlimited            files\n"
        ),
        None
    );
}
