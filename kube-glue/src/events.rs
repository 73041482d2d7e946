//! Kubernetes Events as both binaries publish them (MetalLB's reasons and notes are chosen by
//! the caller): one constructor, so the Normal/Warning mapping lives once, and the reference
//! to the Service an event is about.

use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::Resource;
use kube::runtime::events::{Event, EventType};

use crate::convert::ServiceKey;

/// The reference of an event about Service `key` (with its `uid` when known, so the event
/// follows that Service object and not a later one of the same name).
pub fn service_reference(key: &ServiceKey, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some(Service::api_version(&()).into_owned()),
        kind: Some(Service::kind(&()).into_owned()),
        namespace: Some(key.namespace.clone()),
        name: Some(key.name.clone()),
        uid,
        ..ObjectReference::default()
    }
}

/// An Event: Warning when `warning`, else Normal; `action` says what the binary was doing
/// (e.g. `Allocate`, `Announce`, `Migrate`).
pub fn event(warning: bool, reason: &str, note: String, action: &str) -> Event {
    Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_or_normal() {
        let w = event(true, "AllocationFailed", "no IP".into(), "Allocate");
        assert_eq!(w.type_, EventType::Warning);
        assert_eq!(
            (w.reason.as_str(), w.action.as_str()),
            ("AllocationFailed", "Allocate")
        );
        assert_eq!(w.note.as_deref(), Some("no IP"));
        let n = event(false, "IPAllocated", String::new(), "Allocate");
        assert_eq!(n.type_, EventType::Normal);
    }

    #[test]
    fn reference_to_a_service() {
        let r = service_reference(&ServiceKey::new("ns", "web"), Some("u-1".into()));
        assert_eq!(
            (r.api_version.as_deref(), r.kind.as_deref()),
            (Some("v1"), Some("Service"))
        );
        assert_eq!(
            (r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("ns"), Some("web"), Some("u-1"))
        );
    }
}
