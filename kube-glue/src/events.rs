//! Kubernetes Events as both binaries publish them (MetalLB's reasons and notes are chosen by
//! the caller): one constructor, so the Normal/Warning mapping lives once.

use kube::runtime::events::{Event, EventType};

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
}
