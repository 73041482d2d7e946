//! Session parameters (mirroring MetalLB's BGPPeer fields) and OPEN negotiation:
//! the OPEN we send (RFC 4271 §4.2, capabilities RFC 5492) and the checks of the peer's OPEN
//! (§6.2: peer AS incl. MetalLB `dynamicASN` internal/external, BGP identifier per RFC 6286,
//! hold time) yielding the [`Negotiated`] parameters (hold = min of both, keepalive = the
//! configured keepaliveTime if it fits the hold time, else hold / 3).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::error::DecodeError;
use crate::message::{
    Capability, CodecCtx, ExtendedNextHop, GracefulRestart, GracefulRestartFamily, Open,
};
use crate::types::{AS_TRANS, Family};

/// MetalLB's restart time for graceful restart (FRR's default, `metallb-bgp.md`).
pub const GR_RESTART_TIME: u16 = 120;
/// MetalLB's default hold time (native mode).
pub const DEFAULT_HOLD_TIME: Duration = Duration::from_secs(90);
/// Default cap of the connect retry backoff (RFC 4271 §10 ConnectRetryTime).
pub const DEFAULT_CONNECT_TIME: Duration = Duration::from_secs(120);

/// The peer's AS: BGPPeer `peerASN` or `dynamicASN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAsn {
    /// `peerASN`: exactly this AS.
    Fixed(u32),
    /// `dynamicASN: internal`: any OPEN whose AS equals ours.
    Internal,
    /// `dynamicASN: external`: any OPEN whose AS differs from ours.
    External,
}

/// Session parameters, mirroring MetalLB BGPPeer fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// `myASN`.
    pub my_asn: u32,
    /// `peerASN` / `dynamicASN`.
    pub peer_asn: PeerAsn,
    /// `holdTime` (0 = no keepalives and no hold timer; else at least 3 s).
    pub hold_time: Duration,
    /// `keepaliveTime` (None = hold / 3).
    pub keepalive_time: Option<Duration>,
    /// `connectTime`: the cap of the connect retry backoff.
    pub connect_time: Duration,
    /// `routerID`.
    pub router_id: Ipv4Addr,
    /// Address families offered (multiprotocol capabilities).
    pub families: Vec<Family>,
    /// `enableGracefulRestart`: advertise the RFC 4724 capability.
    pub graceful_restart: bool,
    /// Advertise the RFC 8654 extended message capability.
    pub extended_message: bool,
    /// Advertise RFC 8950 IPv4 unicast over an IPv6 next hop (FRR's `capability
    /// extended-nexthop`); off by default, as in MetalLB.
    pub extended_next_hop: bool,
}

impl SessionConfig {
    /// A config with MetalLB's defaults for the given ASNs and router ID, both families.
    pub fn new(my_asn: u32, peer_asn: PeerAsn, router_id: Ipv4Addr) -> Self {
        SessionConfig {
            my_asn,
            peer_asn,
            hold_time: DEFAULT_HOLD_TIME,
            keepalive_time: None,
            connect_time: DEFAULT_CONNECT_TIME,
            router_id,
            families: Family::ALL.to_vec(),
            graceful_restart: false,
            extended_message: true,
            extended_next_hop: false,
        }
    }

    fn hold_secs(&self) -> u16 {
        u16::try_from(self.hold_time.as_secs()).unwrap_or(u16::MAX)
    }

    /// The OPEN we send: My AS (AS_TRANS above 65,535, RFC 6793 §4.1), hold time, router
    /// ID, and the capabilities (graceful restart with the R bit clear).
    pub fn open(&self) -> Open {
        self.open_with(false)
    }

    /// The OPEN we send; `restarting` sets the graceful-restart capability's Restart State
    /// (R) bit (RFC 4724 §3: "the BGP speaker has restarted"), when the capability is sent.
    /// The F bit is set for every configured family: the node's kube-proxy keeps forwarding
    /// while the speaker process restarts, so the router's stale routes still lead somewhere.
    pub fn open_with(&self, restarting: bool) -> Open {
        let mut caps: Vec<Capability> = self.mp_capabilities();
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::FourOctetAs(self.my_asn));
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if self.extended_next_hop && self.families.contains(&Family::Ipv4Unicast) {
            caps.push(Capability::ExtendedNextHop(vec![
                ExtendedNextHop::IPV4_OVER_IPV6,
            ]));
        }
        if self.graceful_restart {
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restarting,
                notification: false,
                restart_time: GR_RESTART_TIME,
                families: self
                    .families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        afi: f.afi(),
                        safi: f.safi(),
                        forwarding_preserved: true,
                    })
                    .collect(),
            }));
        }
        Open {
            my_as: u16::try_from(self.my_asn).unwrap_or(AS_TRANS),
            hold_time: self.hold_secs(),
            bgp_id: self.router_id,
            capabilities: caps,
        }
    }

    fn mp_capabilities(&self) -> Vec<Capability> {
        self.families
            .iter()
            .map(|f| Capability::Multiprotocol {
                afi: f.afi(),
                safi: f.safi(),
            })
            .collect()
    }
}

/// What the OPEN exchange settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's ASN.
    pub peer_asn: u32,
    /// The peer's BGP identifier.
    pub peer_router_id: Ipv4Addr,
    /// Hold time in seconds (0 = none).
    pub hold_time: u16,
    /// Keepalive interval in seconds (0 = none).
    pub keepalive: u16,
    /// Same AS on both sides.
    pub ibgp: bool,
    /// Families both sides support.
    pub families: BTreeSet<Family>,
    /// Wire format (4-octet AS, extended messages).
    pub ctx: CodecCtx,
    /// The peer accepts ROUTE-REFRESH.
    pub route_refresh: bool,
    /// Both sides do RFC 8950 IPv4 unicast over an IPv6 next hop.
    pub ipv4_over_ipv6_next_hop: bool,
    /// The peer's graceful-restart capability.
    pub graceful_restart: Option<GracefulRestart>,
    /// Graceful restart is in force for this session: we sent the capability
    /// (`enableGracefulRestart`) and the peer sent one too (RFC 4724 §3: a speaker that did
    /// not advertise the capability does not act as a helper), so closing the connection
    /// without a NOTIFICATION makes the peer keep our routes as stale for the restart time.
    pub graceful_restart_negotiated: bool,
}

/// Check the peer's OPEN against the config (§6.2) and compute the negotiated parameters.
pub fn negotiate(cfg: &SessionConfig, open: &Open) -> Result<Negotiated, DecodeError> {
    let asn = open.asn();
    let as_ok = match cfg.peer_asn {
        PeerAsn::Fixed(a) => a == asn,
        PeerAsn::Internal => asn == cfg.my_asn,
        PeerAsn::External => asn != cfg.my_asn,
    };
    if !as_ok {
        return Err(DecodeError::BadPeerAs(asn));
    }
    let ibgp = asn == cfg.my_asn;
    if open.bgp_id.is_unspecified() || (ibgp && open.bgp_id == cfg.router_id) {
        return Err(DecodeError::BadBgpIdentifier(open.bgp_id));
    }
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(DecodeError::UnacceptableHoldTime(open.hold_time));
    }
    let caps = &open.capabilities;
    let has = |c: &Capability| caps.contains(c);
    let peer_families: BTreeSet<Family> = caps
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol { afi, safi } => Family::from_afi_safi(*afi, *safi),
            _ => None,
        })
        .collect();
    let any_mp = caps
        .iter()
        .any(|c| matches!(c, Capability::Multiprotocol { .. }));
    // RFC 4760 §8: a speaker without multiprotocol capabilities does IPv4 unicast only.
    let peer_families = if any_mp {
        peer_families
    } else {
        BTreeSet::from([Family::Ipv4Unicast])
    };
    let families: BTreeSet<Family> = cfg
        .families
        .iter()
        .copied()
        .filter(|f| peer_families.contains(f))
        .collect();
    if families.is_empty() {
        let mut data = Vec::new();
        for c in cfg.mp_capabilities() {
            // Encoding a multiprotocol capability cannot overflow.
            c.encode(&mut data)
                .map_err(|_| DecodeError::MalformedOpen("own capabilities"))?;
        }
        return Err(DecodeError::UnsupportedCapability {
            reason: "no common address family".to_string(),
            data,
        });
    }
    let peer_gr = caps.iter().find_map(|c| match c {
        Capability::GracefulRestart(g) => Some(g.clone()),
        _ => None,
    });
    let hold_time = cfg.hold_secs().min(open.hold_time);
    let keepalive = match cfg.keepalive_time.map(|k| k.as_secs()) {
        _ if hold_time == 0 => 0,
        Some(k) if k > 0 && k <= u64::from(hold_time) => k as u16,
        _ => (hold_time / 3).max(1),
    };
    Ok(Negotiated {
        peer_asn: asn,
        peer_router_id: open.bgp_id,
        hold_time,
        keepalive,
        ibgp,
        families,
        ctx: CodecCtx {
            four_octet_as: caps.iter().any(|c| matches!(c, Capability::FourOctetAs(_))),
            extended_message: cfg.extended_message && has(&Capability::ExtendedMessage),
        },
        route_refresh: has(&Capability::RouteRefresh),
        ipv4_over_ipv6_next_hop: cfg.extended_next_hop
            && caps.iter().any(|c| match c {
                Capability::ExtendedNextHop(e) => e.contains(&ExtendedNextHop::IPV4_OVER_IPV6),
                _ => false,
            }),
        graceful_restart: peer_gr.clone(),
        graceful_restart_negotiated: cfg.graceful_restart && peer_gr.is_some(),
    })
}
