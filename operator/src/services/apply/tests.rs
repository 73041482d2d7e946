use super::log_event;

#[test]
fn event_reasons_are_logged_as_metallb_spells_them() {
    for (reason, key) in [
        ("IPAllocated", "ipAllocated"),
        ("ClearAssignment", "clearAssignment"),
        ("AllocationFailed", "allocationFailed"),
        ("LoadBalancerFailed", "loadBalancerFailed"),
        ("deprecatedAnnotation", "deprecatedAnnotation"),
        ("IP", "ip"),
    ] {
        assert_eq!(log_event(reason), key);
    }
}
