use std::collections::BTreeSet;

use super::*;
use ferrolb_core::{PoolSet, PoolSpec};
use ferrolb_kube::metrics::exposition_shape;

#[test]
fn metallb_metric_names_and_values() {
    let m = Metrics::new();
    let pools =
        PoolSet::parse(&[PoolSpec::new("p", ["10.0.0.0/30", "fc00::/120"])]).expect("pools");
    let alloc = Allocator::new(pools);
    m.observe(Some(&alloc), false);
    m.client.wrote(true);
    let text = m.exporter.render();
    for line in [
        "metallb_allocator_addresses_total{pool=\"p\"} 260",
        "metallb_allocator_ipv4_addresses_total{pool=\"p\"} 4",
        "metallb_allocator_ipv6_addresses_total{pool=\"p\"} 256",
        "metallb_allocator_addresses_in_use_total{pool=\"p\"} 0",
        "metallb_k8s_client_updates_total 1",
        "metallb_k8s_client_update_errors_total 0",
        "metallb_k8s_client_config_loaded_bool 1",
        "metallb_k8s_client_config_stale_bool 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    m.observe(None, true);
    let text = m.exporter.render();
    assert!(
        text.contains("metallb_k8s_client_config_stale_bool 1"),
        "{text}"
    );
}

/// The whole exposition against MetalLB's controller (`internal/allocator/stats.go`,
/// `internal/k8s/controllers/stats.go`; client_golang's process collector): every `# TYPE`
/// line and every sample name, nothing more, nothing less.
#[test]
fn exposition_is_metallbs_controller_list() {
    const METALLB: &[(&str, &str)] = &[
        ("metallb_allocator_addresses_in_use_total", "gauge"),
        ("metallb_allocator_addresses_total", "gauge"),
        ("metallb_allocator_ipv4_addresses_in_use_total", "gauge"),
        ("metallb_allocator_ipv4_addresses_total", "gauge"),
        ("metallb_allocator_ipv6_addresses_in_use_total", "gauge"),
        ("metallb_allocator_ipv6_addresses_total", "gauge"),
        ("metallb_k8s_client_config_loaded_bool", "gauge"),
        ("metallb_k8s_client_config_stale_bool", "gauge"),
        ("metallb_k8s_client_update_errors_total", "counter"),
        ("metallb_k8s_client_updates_total", "counter"),
        ("process_cpu_seconds_total", "counter"),
        ("process_max_fds", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
    ];
    let m = Metrics::new();
    let pools = PoolSet::parse(&[PoolSpec::new("p", ["10.0.0.0/30"])]).expect("pools");
    m.observe(Some(&Allocator::new(pools)), false);
    let (types, samples) = exposition_shape(&m.exporter.render());
    let want_types: BTreeSet<String> = METALLB.iter().map(|(n, t)| format!("{n} {t}")).collect();
    let want_samples: BTreeSet<String> = METALLB.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(types, want_types);
    assert_eq!(samples, want_samples);
}
