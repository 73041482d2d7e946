//! BGPPeer rules of MetalLB's `peerFromCR`/`peersFor`/`parseTimers` (`internal/config/config.go`,
//! rules P1–P15 of the reference) and of its native BGP mode (`DiscardFRROnly`,
//! `internal/config/validation.go`, rule M-N1), with ferrolb's decisions:
//!
//! | MetalLB native-mode rejection | ferrolb | why |
//! |---|---|---|
//! | `keepaliveTime` | accepted | RFC 4271 keepalive is a speaker-local timer; MetalLB's Go speaker simply derives it from the hold time |
//! | `connectTime` | accepted | RFC 4271 ConnectRetryTimer; a local timer |
//! | `dynamicASN` | accepted | checking the OPEN's AS against `internal`/`external` needs no FRR |
//! | `localASN` | accepted | `local-as … replace-as` only changes the AS sent in OPEN |
//! | `enableGracefulRestart` | accepted | RFC 4724 capability, protocol-level |
//! | `dualStackAddressFamily` | accepted | RFC 4760 MP-BGP, protocol-level |
//! | `disableMP` | accepted, with MetalLB's deprecation warning | has no effect anywhere |
//! | `bfdProfile` | accepted, must name an existing BFDProfile (P15) | RFC 5880/5881 BFD is a protocol a Rust speaker implements (Holo does) |
//! | `vrf` | **rejected** (`peer <addr> has vrf set on native bgp mode`) | binding sessions into a Linux VRF is not implemented by ferrolb's speaker |
//! | `interface` | **rejected** (`peer <addr> has interface set on native bgp mode`) | unnumbered BGP (RFC 5549 + IPv6 link-local discovery) is not implemented |
//!
//! MetalLB quirks not copied: a CREATE with `disableMP: true` skips every other check (W4) — here
//! it only adds the warning; `password` together with `passwordSecret` (P13) is rejected at
//! admission too (MetalLB blanks `passwordSecret` first, so only reconcile saw it). The secret's
//! existence and type (P14) stay a reconcile-time check: validation never reads Secrets.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_api::duration::GoDuration;
use ferrolb_api::v1beta2::{BGPPeer, BGPPeerSpec};
use ferrolb_core::LabelSelector;

use crate::model::{Kind, Problem, name_of};
use crate::selectors;

/// A peer with its node selectors converted (for the advertisement checks).
#[derive(Debug, Clone)]
pub struct ParsedPeer {
    /// `metadata.name`.
    pub name: String,
    /// Valid node selectors (empty = all nodes).
    pub node_selectors: Vec<LabelSelector>,
    /// `spec.bfdProfile`.
    pub bfd_profile: Option<String>,
}

/// The deprecation warning MetalLB's webhook returns for `disableMP: true`.
pub const DISABLE_MP_WARNING: &str =
    "disable mp is deprecated and has no effect since it's the default behavior now";

fn parse_duration(d: &Option<String>) -> Result<Option<GoDuration>, String> {
    d.as_deref()
        .map(|s| GoDuration::parse(s).map_err(|e| e.to_string()))
        .transpose()
}

/// MetalLB's `parseTimers`: the effective (hold, keepalive), or the error text.
pub fn parse_timers(spec: &BGPPeerSpec) -> Result<Option<(GoDuration, GoDuration)>, String> {
    let wrap = |e: String| format!("invalid BGPPeer timers: {e}");
    let ht = parse_duration(&spec.hold_time).map_err(wrap)?;
    let ka = parse_duration(&spec.keepalive_time).map_err(wrap)?;
    let (hold, keepalive) = match (ht, ka) {
        (None, None) => return Ok(None),
        (Some(h), Some(k)) => (h, k),
        (Some(h), None) => (h, GoDuration(h.0 / 3)),
        (None, Some(k)) => (GoDuration(k.0.saturating_mul(3)), k),
    };
    let truncated = hold.truncate_to_secs();
    if truncated.0 != 0 && truncated < GoDuration::from_secs(3) {
        return Err(wrap(format!(
            "invalid hold time {:?}: must be 0 or >=3s",
            hold.to_string()
        )));
    }
    if keepalive > hold {
        return Err(wrap(format!(
            "invalid keepaliveTime {:?}, must be lower than holdTime {:?}",
            keepalive.to_string(),
            hold.to_string()
        )));
    }
    Ok(Some((truncated, keepalive)))
}

fn check_ip(v: &Option<String>, field: &str, what: &str, name: &str, problems: &mut Vec<Problem>) {
    if let Some(s) = v.as_deref().filter(|s| !s.is_empty())
        && s.parse::<IpAddr>().is_err()
    {
        problems.push(Problem::new(
            Kind::BGPPeer,
            name,
            field,
            s,
            format!("{what} {s:?}"),
        ));
    }
}

/// Checks one peer; `bfd_profiles` are the existing BFDProfile names.
pub fn check_peer(
    peer: &BGPPeer,
    bfd_profiles: &BTreeSet<&str>,
    problems: &mut Vec<Problem>,
) -> ParsedPeer {
    let name = name_of(&peer.metadata);
    let s = &peer.spec;
    let p = |field: &str, value: String, reason: String| {
        Problem::new(Kind::BGPPeer, name, field, value, reason)
    };
    if s.my_asn == 0 {
        problems.push(p("spec.myASN", "0".into(), "missing local ASN".into()));
    }
    match (s.peer_asn, s.dynamic_asn) {
        (None, None) => problems.push(p(
            "spec.peerASN",
            String::new(),
            "missing peer ASN and dynamicASN".into(),
        )),
        (Some(asn), Some(_)) => problems.push(p(
            "spec.dynamicASN",
            asn.to_string(),
            "both peer ASN and dynamicASN specified".into(),
        )),
        (Some(asn), None) if asn == s.my_asn && s.ebgp_multi_hop == Some(true) => {
            problems.push(p(
                "spec.ebgpMultiHop",
                "true".into(),
                "invalid ebgp-multihop parameter set for an ibgp peer".into(),
            ));
        }
        _ => {}
    }
    let address = s.peer_address.clone().filter(|a| !a.is_empty());
    let interface = s.interface.clone().filter(|i| !i.is_empty());
    match (&address, &interface) {
        (None, None) => problems.push(p(
            "spec.peerAddress",
            String::new(),
            "peer has no Address or Interface specified".into(),
        )),
        (Some(_), Some(i)) => problems.push(p(
            "spec.interface",
            i.clone(),
            "peer has both Address and Interface specified".into(),
        )),
        _ => {}
    }
    if let Err(e) = parse_timers(s) {
        let field = if e.contains("keepaliveTime") {
            "spec.keepaliveTime"
        } else {
            "spec.holdTime"
        };
        let value = if field == "spec.holdTime" {
            s.hold_time.clone()
        } else {
            s.keepalive_time.clone()
        };
        problems.push(p(field, value.unwrap_or_default(), e));
    }
    check_ip(
        &address,
        "spec.peerAddress",
        "invalid BGPPeer address",
        name,
        problems,
    );
    check_ip(
        &s.router_id,
        "spec.routerID",
        "invalid router ID",
        name,
        problems,
    );
    check_ip(
        &s.source_address,
        "spec.sourceAddress",
        "invalid source IP",
        name,
        problems,
    );
    let node_selectors = selectors::check_list(
        Kind::BGPPeer,
        name,
        "nodeSelectors",
        &s.node_selectors,
        &format!("failed to convert peer {name} node selector"),
        problems,
    );
    let has_secret = s
        .password_secret
        .as_ref()
        .is_some_and(|r| r.name.as_deref().is_some_and(|n| !n.is_empty()));
    if s.password.as_deref().is_some_and(|pw| !pw.is_empty()) && has_secret {
        let ns = peer.metadata.namespace.as_deref().unwrap_or("");
        problems.push(p(
            "spec.passwordSecret",
            String::new(),
            format!("can not have both password and secret ref set in peer config {ns:?}/{name:?}"),
        ));
    }
    let bfd_profile = s.bfd_profile.clone().filter(|b| !b.is_empty());
    if let Some(b) = &bfd_profile
        && !bfd_profiles.contains(b.as_str())
    {
        problems.push(
            p(
                "spec.bfdProfile",
                b.clone(),
                format!("peer {name} referencing non existing bfd profile {b}"),
            )
            .dangling(),
        );
    }
    // Native mode (M-N1), only the fields ferrolb's speaker cannot honour.
    let who = address.clone().or(interface.clone()).unwrap_or_default();
    if s.vrf.as_deref().is_some_and(|v| !v.is_empty()) {
        problems.push(p(
            "spec.vrf",
            s.vrf.clone().unwrap_or_default(),
            format!("peer {who} has vrf set on native bgp mode"),
        ));
    }
    if let Some(i) = &interface {
        problems.push(p(
            "spec.interface",
            i.clone(),
            format!("peer {who} has interface set on native bgp mode"),
        ));
    }
    ParsedPeer {
        name: name.to_owned(),
        node_selectors,
        bfd_profile,
    }
}

/// Warnings for legal but deprecated settings.
pub fn warnings(peer: &BGPPeer, warnings: &mut Vec<Problem>) {
    if peer.spec.disable_mp == Some(true) {
        warnings.push(Problem::new(
            Kind::BGPPeer,
            name_of(&peer.metadata),
            "spec.disableMP",
            "true",
            DISABLE_MP_WARNING,
        ));
    }
}

#[cfg(test)]
mod tests;
