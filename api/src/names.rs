//! Well-known names shared with MetalLB: API group, default namespace, annotations and labels.
//!
//! Annotations are honoured under both the current `metallb.io/` prefix and the legacy
//! `metallb.universe.tf/` prefix, as MetalLB does (`controller/service.go`).

/// The API group of every ferrolb/MetalLB custom resource.
pub const GROUP: &str = "metallb.io";
/// The namespace MetalLB (and so ferrolb) lives in and reads its configuration from by default.
pub const DEFAULT_NAMESPACE: &str = "metallb-system";

/// Current annotation prefix.
pub const ANNOTATION_PREFIX: &str = "metallb.io/";
/// Legacy annotation prefix (MetalLB ≤ v0.13), still honoured with a deprecation warning.
pub const LEGACY_ANNOTATION_PREFIX: &str = "metallb.universe.tf/";

/// Service annotation: request an IP from a named pool.
pub const ANNOTATION_ADDRESS_POOL: &str = "metallb.io/address-pool";
/// Service annotation: the sharing key; Services with the same key may share an IP.
pub const ANNOTATION_ALLOW_SHARED_IP: &str = "metallb.io/allow-shared-ip";
/// Service annotation: comma-separated requested IPs (one per family).
pub const ANNOTATION_LOAD_BALANCER_IPS: &str = "metallb.io/loadBalancerIPs";
/// Service annotation written by the controller: the pool the IP came from.
pub const ANNOTATION_IP_ALLOCATED_FROM_POOL: &str = "metallb.io/ip-allocated-from-pool";

/// Label on ServiceL2Status/ServiceBGPStatus: the announcing node.
pub const LABEL_STATUS_NODE: &str = "metallb.io/node";
/// Label on ServiceL2Status/ServiceBGPStatus: the Service's name.
pub const LABEL_STATUS_SERVICE_NAME: &str = "metallb.io/service-name";
/// Label on ServiceL2Status/ServiceBGPStatus: the Service's namespace.
pub const LABEL_STATUS_SERVICE_NAMESPACE: &str = "metallb.io/service-namespace";
/// Label on ConfigurationState: `controller` or `speaker`.
pub const LABEL_COMPONENT_TYPE: &str = "metallb.io/component-type";
/// Label on a speaker's ConfigurationState: its node.
pub const LABEL_NODE_NAME: &str = "metallb.io/node-name";
/// Node label that removes a node from the announcing candidates.
pub const LABEL_EXCLUDE_FROM_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Name of the legacy (≤ v0.12) configuration ConfigMap, and of its data key.
pub const LEGACY_CONFIGMAP_NAME: &str = "config";
/// Data key of the legacy ConfigMap holding the YAML payload.
pub const LEGACY_CONFIGMAP_KEY: &str = "config";

/// Returns the value of annotation `name` (given without prefix, e.g. `"address-pool"`) from
/// `annotations`, preferring `metallb.io/` over `metallb.universe.tf/`. The boolean is `true`
/// when the value came from the legacy prefix, so callers can emit a deprecation warning.
pub fn annotation<'a>(
    annotations: &'a std::collections::BTreeMap<String, String>,
    name: &str,
) -> Option<(&'a str, bool)> {
    let current = format!("{ANNOTATION_PREFIX}{name}");
    if let Some(v) = annotations.get(&current) {
        return Some((v.as_str(), false));
    }
    let legacy = format!("{LEGACY_ANNOTATION_PREFIX}{name}");
    annotations.get(&legacy).map(|v| (v.as_str(), true))
}

/// Whether `s` is a DNS-1123 label (what a namespace name must be): 1–63 characters of
/// lowercase alphanumerics and `-`, starting and ending alphanumeric.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    matches!((b.first(), b.last()), (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric())
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn current_prefix_wins_over_legacy() {
        let mut a = BTreeMap::new();
        a.insert(
            "metallb.universe.tf/address-pool".to_string(),
            "old".to_string(),
        );
        assert_eq!(annotation(&a, "address-pool"), Some(("old", true)));
        a.insert(ANNOTATION_ADDRESS_POOL.to_string(), "new".to_string());
        assert_eq!(annotation(&a, "address-pool"), Some(("new", false)));
        assert_eq!(annotation(&a, "allow-shared-ip"), None);
    }

    #[test]
    fn dns1123_labels() {
        for ok in ["metallb-system", "a", "0", "a-0"] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", long.as_str(), "ä"] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }
}
