//! The trace spans of the BGP sessions (docs/tracing.md; exported only when the `OTEL_*`
//! variables turn traces on, `ferrolb_kube::telemetry`): `bgp.session_state` for each FSM
//! state change and `bgp.update_batch` around the UPDATEs one table change sends. Prefix lists
//! are built only when the span is recorded, and cut at [`MAX_LISTED`] prefixes.

use std::net::SocketAddr;

use ferrolb_bgp::fsm::State;
use ferrolb_bgp::message::Update;
use tracing::Span;
use tracing::field::Empty;

/// Prefixes listed per attribute; the counts are always exact.
pub const MAX_LISTED: usize = 100;

/// The span of one state change of the session with `peer`.
pub fn session_state(peer: &str, address: &SocketAddr, from: State, to: State) -> Span {
    tracing::info_span!(
        "bgp.session_state",
        peer,
        address = %address,
        from = ?from,
        to = ?to,
    )
}

/// The span of a batch of UPDATEs sent to `peer`: how many, and the prefixes announced and
/// withdrawn (IPv4 NLRI and MP_REACH / MP_UNREACH alike).
pub fn update_batch<'a>(peer: &str, updates: impl Iterator<Item = &'a Update>) -> Span {
    let span = tracing::info_span!(
        "bgp.update_batch",
        peer,
        updates = Empty,
        announced = Empty,
        announced_count = Empty,
        withdrawn = Empty,
        withdrawn_count = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let (mut count, mut announced, mut withdrawn) = (0usize, Vec::new(), Vec::new());
    for u in updates {
        count += 1;
        announced.extend(u.nlri.iter().map(ToString::to_string));
        withdrawn.extend(u.withdrawn.iter().map(ToString::to_string));
        if let Some(m) = &u.attrs.mp_reach {
            announced.extend(m.nlri.iter().map(ToString::to_string));
        }
        if let Some(m) = &u.attrs.mp_unreach {
            withdrawn.extend(m.withdrawn.iter().map(ToString::to_string));
        }
    }
    span.record("updates", count);
    span.record("announced_count", announced.len());
    span.record("withdrawn_count", withdrawn.len());
    span.record("announced", listed(&announced));
    span.record("withdrawn", listed(&withdrawn));
    span
}

/// At most [`MAX_LISTED`] prefixes, comma-separated (`…` when cut).
fn listed(prefixes: &[String]) -> String {
    let mut s = prefixes
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if prefixes.len() > MAX_LISTED {
        s.push_str(",…");
    }
    s
}

#[cfg(test)]
mod tests;
