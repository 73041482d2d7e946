//! Semantic validation of the legacy payload: MetalLB v0.12.1's `config.Parse` rules (the
//! structural ones — unknown keys, types — were enforced by `ferrolb_api::legacy::parse`), plus
//! `configmaptocrs`'s name conversion. Order and first-error-wins follow MetalLB: names, BFD
//! profiles, peers, communities, pools (then overlaps, via `ferrolb-core`).
//!
//! Peers (`parsePeer`): `my-asn` and `peer-asn` non-zero; `ebgp-multihop` not on iBGP;
//! `peer-address` an IP; `hold-time` a Go duration truncated to seconds, 0 or ≥ 3s (default
//! 90s); `keepalive-time` a Go duration (default hold/3), not above the hold time; `router-id`
//! and `source-address` IPs; node selectors convert; `bfd-profile` names a profile; no two
//! identical peers. BFD profiles (`parseBFDProfile`): name present and unique, ranges
//! (multiplier 2–255, intervals 10–60000, TTL 1–254). Communities: `A:B` of two `uint16`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;

use ferrolb_api::legacy::{BfdProfile, LegacyConfig, NodeSelector, Peer};
use ferrolb_core::selector::{LabelSelector, Operator, Requirement, SelectorError};

use crate::community;
use crate::error::{MigrateError, Reason};
use crate::names;
use crate::pools;
use ferrolb_api::duration::GoDuration;

/// Default BGP hold time of MetalLB (`90s`).
pub const DEFAULT_HOLD_TIME: GoDuration = GoDuration::from_secs(90);

/// What the converter needs from validation.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// Converted pool names, by pool index.
    pub pool_names: Vec<String>,
    /// Converted BFD profile names, by profile index.
    pub bfd_names: Vec<String>,
    /// Per peer: effective hold time (truncated), given keepalive (truncated), converted
    /// `bfd-profile` reference.
    pub peers: Vec<PeerTimers>,
    /// Things the user should know (renames, pools that get no advertisement).
    pub warnings: Vec<String>,
}

/// Timers and BFD reference of one peer, as the converter writes them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PeerTimers {
    pub hold: GoDuration,
    pub keepalive: Option<GoDuration>,
    pub bfd_profile: Option<String>,
}

/// Runs every check; on success returns what the converter needs.
pub(crate) fn check(config: &LegacyConfig) -> Result<Checked, MigrateError> {
    let mut out = Checked::default();
    convert_names(config, &mut out)?;
    check_bfd_profiles(&config.bfd_profiles, &out.bfd_names)?;
    let mut seen = Vec::new();
    for (i, peer) in config.peers.iter().enumerate() {
        let bfd = peer
            .bfd_profile
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|name| convert_name(name, names::KIND_BFD, &format!("peers[{i}].bfd-profile")))
            .transpose()?;
        let (timers, key) = check_peer(i, peer, bfd)?;
        if let Some(b) = &timers.bfd_profile
            && !out.bfd_names.contains(b)
        {
            return Err(MigrateError::at(
                format!("peers[{i}].bfd-profile"),
                Reason::UnknownBfdProfile(b.clone()),
            ));
        }
        if let Some(first) = seen.iter().position(|k| *k == key) {
            return Err(MigrateError::at(
                format!("peers[{i}]"),
                Reason::DuplicatePeer(first),
            ));
        }
        seen.push(key);
        out.peers.push(timers);
    }
    for (alias, value) in &config.bgp_communities.0 {
        community::parse(value).map_err(|source| {
            MigrateError::at(
                format!("bgp-communities.{alias}"),
                Reason::InvalidCommunityAlias {
                    alias: alias.clone(),
                    source,
                },
            )
        })?;
    }
    pools::check_pools(config, &out.pool_names, &mut out.warnings)?;
    Ok(out)
}

fn convert_name(name: &str, kind: &'static str, path: &str) -> Result<String, MigrateError> {
    names::to_k8s(name).ok_or_else(|| {
        MigrateError::at(
            path,
            Reason::IncompatibleName {
                kind,
                name: name.to_owned(),
            },
        )
    })
}

fn convert_names(config: &LegacyConfig, out: &mut Checked) -> Result<(), MigrateError> {
    for (i, pool) in config.address_pools.iter().enumerate() {
        let path = format!("address-pools[{i}].name");
        let name = pool
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| MigrateError::at(&path, Reason::MissingPoolName))?;
        let converted = convert_name(name, names::KIND_POOL, &path)?;
        if converted != name {
            out.warnings.push(format!(
                "{path}: IPAddressPool name {name:?} changed to {converted:?} (Kubernetes name rules)"
            ));
        }
        out.pool_names.push(converted);
    }
    for (i, bfd) in config.bfd_profiles.iter().enumerate() {
        let path = format!("bfd-profiles[{i}].name");
        let name = bfd
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| MigrateError::at(&path, Reason::MissingBfdName))?;
        let converted = convert_name(name, names::KIND_BFD, &path)?;
        if converted != name {
            out.warnings.push(format!(
                "{path}: BFDProfile name {name:?} changed to {converted:?} (Kubernetes name rules)"
            ));
        }
        out.bfd_names.push(converted);
    }
    Ok(())
}

fn check_bfd_profiles(profiles: &[BfdProfile], names: &[String]) -> Result<(), MigrateError> {
    for (i, p) in profiles.iter().enumerate() {
        let ranges = [
            (
                "detect-multiplier",
                p.detect_multiplier,
                "invalid detect multiplier value",
                2,
                255,
            ),
            (
                "receive-interval",
                p.receive_interval,
                "invalid receive interval value",
                10,
                60000,
            ),
            (
                "transmit-interval",
                p.transmit_interval,
                "invalid transmit interval value",
                10,
                60000,
            ),
            (
                "minimum-ttl",
                p.minimum_ttl,
                "invalid minimum ttl value",
                1,
                254,
            ),
            (
                "echo-interval",
                p.echo_interval,
                "invalid echo interval value",
                10,
                60000,
            ),
        ];
        for (key, value, what, min, max) in ranges {
            if let Some(value) = value.filter(|v| !(min..=max).contains(v)) {
                return Err(MigrateError::at(
                    format!("bfd-profiles[{i}].{key}"),
                    Reason::BfdRange {
                        what,
                        value,
                        min,
                        max,
                    },
                ));
            }
        }
        if names[..i].contains(&names[i]) {
            return Err(MigrateError::at(
                format!("bfd-profiles[{i}].name"),
                Reason::DuplicateBfdProfile(names[i].clone()),
            ));
        }
    }
    Ok(())
}

/// Everything that makes two peers "the same" for MetalLB's `reflect.DeepEqual` check.
#[derive(Debug, PartialEq)]
struct PeerKey {
    my_asn: u32,
    peer_asn: u32,
    addr: IpAddr,
    src: Option<IpAddr>,
    port: u16,
    hold: GoDuration,
    keepalive: GoDuration,
    router_id: Option<IpAddr>,
    selectors: Vec<LabelSelector>,
    password: String,
    bfd: Option<String>,
    multihop: bool,
}

fn parse_ip(value: Option<&str>) -> Option<IpAddr> {
    value.and_then(|v| IpAddr::from_str(v).ok())
}

fn check_peer(
    i: usize,
    p: &Peer,
    bfd: Option<String>,
) -> Result<(PeerTimers, PeerKey), MigrateError> {
    let at = |key: &str, reason| MigrateError::at(format!("peers[{i}].{key}"), reason);
    let my_asn = p.my_asn.filter(|a| *a != 0);
    let my_asn = my_asn.ok_or_else(|| at("my-asn", Reason::MissingLocalAsn))?;
    let peer_asn = p.peer_asn.filter(|a| *a != 0);
    let peer_asn = peer_asn.ok_or_else(|| at("peer-asn", Reason::MissingPeerAsn))?;
    let multihop = p.ebgp_multihop.unwrap_or(false);
    if multihop && my_asn == peer_asn {
        return Err(at("ebgp-multihop", Reason::EbgpMultihopForIbgp(my_asn)));
    }
    let addr_text = p.peer_address.clone().unwrap_or_default();
    let addr = parse_ip(Some(&addr_text))
        .ok_or_else(|| at("peer-address", Reason::InvalidPeerIp(addr_text.clone())))?;

    let hold = match p.hold_time.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_HOLD_TIME,
        Some(text) => {
            let invalid = |reason: String| {
                at(
                    "hold-time",
                    Reason::InvalidHoldTime {
                        value: text.to_owned(),
                        reason,
                    },
                )
            };
            let d = GoDuration::parse(text).map_err(|e| invalid(e.to_string()))?;
            let rounded = d.truncate_to_secs();
            if rounded != GoDuration(0) && rounded < GoDuration::from_secs(3) {
                return Err(invalid("must be 0 or >=3s".to_owned()));
            }
            rounded
        }
    };
    let keepalive = match p.keepalive_time.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => {
            let d = GoDuration::parse(text).map_err(|source| {
                at(
                    "keepalive-time",
                    Reason::InvalidKeepaliveTime {
                        value: text.to_owned(),
                        source,
                    },
                )
            })?;
            let rounded = d.truncate_to_secs();
            if rounded > hold {
                return Err(at(
                    "keepalive-time",
                    Reason::KeepaliveAboveHold {
                        keepalive: text.to_owned(),
                        hold: hold.to_string(),
                    },
                ));
            }
            Some(rounded)
        }
    };
    let router_id = match p.router_id.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(r) => Some(
            parse_ip(Some(r)).ok_or_else(|| at("router-id", Reason::InvalidRouterId(r.into())))?,
        ),
    };
    let src = match p.source_address.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            parse_ip(Some(s))
                .ok_or_else(|| at("source-address", Reason::InvalidSourceIp(s.into())))?,
        ),
    };
    let mut selectors = Vec::new();
    for (j, sel) in p.node_selectors.iter().enumerate() {
        let parsed = node_selector(sel).map_err(|e| {
            MigrateError::at(
                format!("peers[{i}].node-selectors[{j}]"),
                Reason::InvalidNodeSelector(e),
            )
        })?;
        selectors.push(parsed.canonical());
    }
    if selectors.is_empty() {
        selectors.push(LabelSelector::everything());
    }
    let timers = PeerTimers {
        hold,
        keepalive,
        bfd_profile: bfd.clone(),
    };
    let key = PeerKey {
        my_asn,
        peer_asn,
        addr,
        src,
        port: p.peer_port.filter(|p| *p != 0).unwrap_or(179),
        hold,
        keepalive: keepalive.unwrap_or(GoDuration(hold.0 / 3)),
        router_id,
        selectors,
        password: p.password.clone().unwrap_or_default(),
        bfd,
        multihop,
    };
    Ok((timers, key))
}

/// Converts a legacy node selector into a validated label selector (MetalLB
/// `parseNodeSelector` → `metav1.LabelSelectorAsSelector`).
pub(crate) fn node_selector(sel: &NodeSelector) -> Result<LabelSelector, SelectorError> {
    let match_labels: BTreeMap<String, String> = sel.match_labels.0.clone();
    let mut match_expressions = Vec::new();
    for r in &sel.match_expressions {
        match_expressions.push(Requirement {
            key: r.key.clone(),
            operator: Operator::from_str(&r.operator)?,
            values: r.values.clone(),
        });
    }
    let parsed = LabelSelector {
        match_labels,
        match_expressions,
    };
    parsed.validate()?;
    Ok(parsed)
}
