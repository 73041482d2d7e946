//! BGPPeer → session: which peers a node has (`nodeSelectors`, empty = all nodes, MetalLB
//! `config_controller.go` `filterBGPPeersByNode`), and the mapping of one [`PeerSpec`] onto
//! the FSM's [`SessionConfig`] and the socket's [`TransportConfig`].
//!
//! Rules (`metallb-api.md` §1.4/§2.3 P8, `metallb-runtime.md` §3.2):
//! - timers (`parseTimers`): only `holdTime` ⇒ keepalive = hold / 3; only `keepaliveTime` ⇒
//!   hold = 3 × keepalive; hold truncated to whole seconds, 0 or ≥ 3 s; keepalive ≤ hold;
//!   neither ⇒ the native default (hold 90 s, keepalive hold / 3). `connectTime` caps the retry.
//! - `routerID`, else the native fallback (`native.go getRouterID`): the session's local
//!   address if IPv4, else the first IPv4 address of the interface holding it, else
//!   `crc32(nodeName)` (IEEE) in little-endian byte order. **Deviation**: a crc32 result in
//!   224.0.0.0/3 (multicast / class E, which FRR and other strict peers refuse as a BGP
//!   identifier) gets bit 0x20 of its first octet cleared (→ 192.0.0.0/3, unicast), and the
//!   all-zero result (forbidden by RFC 6286) becomes 0.0.0.1.
//! - `localASN` (FRR `local-as N no-prepend replace-as`): the session speaks as `localASN`
//!   (OPEN My AS, AS_PATH prepend, iBGP/eBGP decided against it, as FRR's `peer_sort`).
//! - families (FRR modes): the peer address's family only, both with
//!   `dualStackAddressFamily` (MetalLB #1736/#2106: native forced both). RFC 8950 extended
//!   next hop is offered on IPv6 sessions that carry IPv4 (used only if the peer offers it too).
//! - TTL (FRR): 1 for single-hop eBGP, 255 with `ebgpMultiHop` or on iBGP.
//!
//! [`SessionIdentity`] is everything the FSM and the socket consume: a new identity means
//! close and re-open (MetalLB `SetConfig` DeepEqual); anything else (peer name, node
//! selectors, BFD profile, advertisements, Services, equal timers spelled differently) keeps
//! the session up, unlike MetalLB's FRR reloads (#1944, #2049).

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferrolb_core::LabelSelector;

use super::{AnnounceError, NodeFacts, any_selects};
use crate::fsm::{DEFAULT_CONNECT_TIME, DEFAULT_HOLD_TIME, PeerAsn, SessionConfig};
use crate::types::Family;

/// The BGP port (`peerPort` default; 0 in a v1beta1 object also means 179).
pub const BGP_PORT: u16 = 179;
/// TTL of single-hop eBGP sessions (FRR).
pub const TTL_SINGLE_HOP: u8 = 1;
/// TTL of multi-hop eBGP (`ebgpMultiHop`) and iBGP sessions (FRR).
pub const TTL_MULTI_HOP: u8 = 255;

/// The session-relevant fields of one BGPPeer, already resolved (password from
/// `passwordSecret`, selectors converted).
#[derive(Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// `metadata.name` (advertisement `peers` and ServiceBGPStatus refer to it).
    pub name: String,
    /// `peerAddress` (unnumbered `interface` peers are not supported).
    pub address: IpAddr,
    /// `peerPort` (0 = 179).
    pub port: u16,
    /// `myASN`.
    pub my_asn: u32,
    /// `peerASN` or `dynamicASN`.
    pub peer_asn: PeerAsn,
    /// `localASN`.
    pub local_asn: Option<u32>,
    /// `sourceAddress`.
    pub source_address: Option<IpAddr>,
    /// `holdTime`.
    pub hold_time: Option<Duration>,
    /// `keepaliveTime`.
    pub keepalive_time: Option<Duration>,
    /// `connectTime`.
    pub connect_time: Option<Duration>,
    /// `routerID`.
    pub router_id: Option<IpAddr>,
    /// `nodeSelectors` (empty = every node).
    pub node_selectors: Vec<LabelSelector>,
    /// `ebgpMultiHop`.
    pub ebgp_multihop: bool,
    /// `password`, or the `password` key of `passwordSecret`.
    pub password: Option<String>,
    /// `bfdProfile` (the BFD session's business; no effect on the BGP session).
    pub bfd_profile: Option<String>,
    /// `enableGracefulRestart`.
    pub enable_graceful_restart: bool,
    /// `dualStackAddressFamily`.
    pub dual_stack_address_family: bool,
}

impl fmt::Debug for PeerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSpec")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("my_asn", &self.my_asn)
            .field("peer_asn", &self.peer_asn)
            .field("local_asn", &self.local_asn)
            .field("router_id", &self.router_id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The addresses a session originates from, as the speaker's socket layer finds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAddresses {
    /// The session's local address: `sourceAddress`, or the source the kernel picks towards
    /// the peer (known before connecting by a route lookup), or the connected socket's.
    pub address: Option<IpAddr>,
    /// The node's addresses on the interface holding `address`, in interface order (router
    /// ID fallback; next hops of the other family, as FRR takes them from the interface).
    pub interface: Vec<IpAddr>,
}

/// What the socket layer needs for one session.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Peer address and port.
    pub peer: SocketAddr,
    /// Address to bind (`sourceAddress`).
    pub source: Option<IpAddr>,
    /// TCP-MD5 key.
    pub password: Option<String>,
    /// IP TTL / hop limit of outgoing packets.
    pub ttl: u8,
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("peer", &self.peer)
            .field("source", &self.source)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Everything a running session depends on: equal identities keep the session, a different
/// one means close and re-open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    /// The FSM's configuration.
    pub config: SessionConfig,
    /// The socket's configuration.
    pub transport: TransportConfig,
}

/// The peers of a node: those whose `nodeSelectors` select the node's labels (none = all),
/// in input order.
pub fn peers_for_node<'a>(peers: &'a [PeerSpec], node: &NodeFacts) -> Vec<&'a PeerSpec> {
    peers
        .iter()
        .filter(|p| any_selects(&p.node_selectors, &node.labels))
        .collect()
}

/// The BGP identifier: `routerID`, else the native speaker's fallback with the unicast fix
/// (module doc).
pub fn router_id(
    spec: &PeerSpec,
    node_name: &str,
    local: &LocalAddresses,
) -> Result<Ipv4Addr, AnnounceError> {
    match spec.router_id {
        Some(IpAddr::V4(id)) => return Ok(id),
        Some(addr) => {
            return Err(AnnounceError::RouterIdNotIpv4 {
                peer: spec.name.clone(),
                addr,
            });
        }
        None => {}
    }
    if let Some(IpAddr::V4(a)) = local.address {
        return Ok(a);
    }
    let first_v4 = local.interface.iter().find_map(|a| match a {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    });
    Ok(first_v4.unwrap_or_else(|| crc_router_id(node_name)))
}

/// `crc32(nodeName)` little-endian, moved out of 224.0.0.0/3 and away from 0.0.0.0.
pub fn crc_router_id(node_name: &str) -> Ipv4Addr {
    let mut o = crc32_ieee(node_name.as_bytes()).to_le_bytes();
    if o[0] >= 224 {
        o[0] &= !0x20;
    }
    if o == [0; 4] {
        o[3] = 1;
    }
    Ipv4Addr::from(o)
}

/// CRC-32 (IEEE 802.3, reflected, Go's `crc32.ChecksumIEEE`).
pub fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

impl PeerSpec {
    /// A peer with MetalLB's defaults for everything but the required fields.
    pub fn new(name: &str, address: IpAddr, my_asn: u32, peer_asn: PeerAsn) -> Self {
        PeerSpec {
            name: name.to_owned(),
            address,
            port: BGP_PORT,
            my_asn,
            peer_asn,
            local_asn: None,
            source_address: None,
            hold_time: None,
            keepalive_time: None,
            connect_time: None,
            router_id: None,
            node_selectors: Vec::new(),
            ebgp_multihop: false,
            password: None,
            bfd_profile: None,
            enable_graceful_restart: false,
            dual_stack_address_family: false,
        }
    }

    /// The ASN the session speaks as: `localASN` if set, else `myASN`.
    pub fn session_asn(&self) -> u32 {
        self.local_asn.unwrap_or(self.my_asn)
    }

    /// The session's local address: `sourceAddress` if set, else `routed` (the source the
    /// kernel picks towards the peer, or the connected socket's local address).
    pub fn local_address(&self, routed: Option<IpAddr>) -> Option<IpAddr> {
        self.source_address.or(routed)
    }

    /// Whether the session is iBGP (known from the config: `dynamicASN: internal` is iBGP,
    /// `external` eBGP, `peerASN` compared with [`PeerSpec::session_asn`]).
    pub fn is_ibgp(&self) -> bool {
        match self.peer_asn {
            PeerAsn::Fixed(asn) => asn == self.session_asn(),
            PeerAsn::Internal => true,
            PeerAsn::External => false,
        }
    }

    /// Families to negotiate: the peer address's, or both with `dualStackAddressFamily`.
    pub fn families(&self) -> Vec<Family> {
        if self.dual_stack_address_family {
            Family::ALL.to_vec()
        } else {
            vec![Family::of_addr(&self.address)]
        }
    }

    /// `(holdTime, keepaliveTime)` after MetalLB's derivation and checks, in whole seconds
    /// (what the OPEN and FRR carry).
    pub fn timers(&self) -> Result<(Duration, Option<Duration>), AnnounceError> {
        let secs = |d: Duration| Duration::from_secs(d.as_secs());
        let (hold, keepalive) = match (self.hold_time, self.keepalive_time) {
            (None, None) => return Ok((DEFAULT_HOLD_TIME, None)),
            (Some(h), None) => (secs(h), secs(h) / 3),
            (None, Some(k)) => (secs(k) * 3, secs(k)),
            (Some(h), Some(k)) => (secs(h), secs(k)),
        };
        if hold != Duration::ZERO && hold < Duration::from_secs(3) {
            return Err(AnnounceError::HoldTime {
                peer: self.name.clone(),
                secs: hold.as_secs(),
            });
        }
        if keepalive > hold {
            return Err(AnnounceError::KeepaliveAboveHold {
                peer: self.name.clone(),
                keepalive: keepalive.as_secs(),
                hold: hold.as_secs(),
            });
        }
        Ok((hold, Some(keepalive)))
    }

    /// The FSM configuration of this peer's session on a node.
    pub fn session_config(
        &self,
        node_name: &str,
        local: &LocalAddresses,
    ) -> Result<SessionConfig, AnnounceError> {
        let (hold_time, keepalive_time) = self.timers()?;
        let families = self.families();
        let v6_session = self.address.is_ipv6();
        Ok(SessionConfig {
            my_asn: self.session_asn(),
            peer_asn: self.peer_asn,
            hold_time,
            keepalive_time,
            connect_time: self.connect_time.unwrap_or(DEFAULT_CONNECT_TIME),
            router_id: router_id(self, node_name, local)?,
            graceful_restart: self.enable_graceful_restart,
            extended_message: true,
            extended_next_hop: v6_session && families.contains(&Family::Ipv4Unicast),
            families,
        })
    }

    /// The socket configuration.
    pub fn transport(&self) -> TransportConfig {
        let port = if self.port == 0 { BGP_PORT } else { self.port };
        let ttl = if self.ebgp_multihop || self.is_ibgp() {
            TTL_MULTI_HOP
        } else {
            TTL_SINGLE_HOP
        };
        TransportConfig {
            peer: SocketAddr::new(self.address, port),
            source: self.source_address,
            password: self.password.clone(),
            ttl,
        }
    }

    /// The session identity on a node.
    pub fn identity(
        &self,
        node_name: &str,
        local: &LocalAddresses,
    ) -> Result<SessionIdentity, AnnounceError> {
        Ok(SessionIdentity {
            config: self.session_config(node_name, local)?,
            transport: self.transport(),
        })
    }
}
