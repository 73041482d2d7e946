//! The sockets of a BGP session (`ferrolb_net::tcp` options on a tokio socket): active connect
//! with, as FRR does for a BGPPeer, the TCP-MD5 key (`password` / `passwordSecret`, RFC 2385),
//! the TTL (1 for single-hop eBGP, 255 with `ebgpMultiHop` or on iBGP:
//! `ferrolb_bgp::announce::TransportConfig::ttl`) and the source address (`sourceAddress`).
//! GTSM (`ferrolb_net::tcp::enable_gtsm`) is not applied: MetalLB has no field for it and FRR
//! peers send single-hop eBGP with TTL 1, which a minimum TTL of 255 would drop.
//!
//! Before connecting, the session's local address (router-ID fallback, next hop) is the source
//! the kernel picks towards the peer, found with a connected UDP socket (no packet is sent);
//! the addresses of the interface holding it come from `ferrolb_net::ifaddrs`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::pin::Pin;

use ferrolb_bgp::announce::{LocalAddresses, TransportConfig};
use socket2::SockRef;
use tokio::net::{TcpSocket, TcpStream};

/// A connection attempt in progress.
pub type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// Starts an active connection per `t`.
pub fn connect(t: &TransportConfig) -> Connecting {
    let t = t.clone();
    Box::pin(async move {
        let sock = if t.peer.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        {
            let r = SockRef::from(&sock);
            if let Some(pw) = t.password.as_deref().filter(|p| !p.is_empty()) {
                ferrolb_net::tcp::set_md5_key(&r, t.peer.ip(), pw.as_bytes())?;
            }
            ferrolb_net::tcp::set_ttl(&r, t.ttl)?;
            if let Some(src) = t.source {
                ferrolb_net::tcp::bind_source(&r, src)?;
            }
        }
        let stream = sock.connect(t.peer).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// The source address the kernel would use towards `peer` (None without a route).
pub fn routed_source(peer: SocketAddr) -> Option<IpAddr> {
    let any: IpAddr = if peer.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let s = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    s.connect(peer).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// The session's local addresses before it connects: `sourceAddress` or the routed source,
/// and the addresses of the interface holding it.
pub fn local_addresses(t: &TransportConfig) -> LocalAddresses {
    with_interface(t.source.or_else(|| routed_source(t.peer)))
}

/// `address` and the addresses of the interface holding it (none if it cannot be listed).
pub fn with_interface(address: Option<IpAddr>) -> LocalAddresses {
    let interface = address
        .and_then(|a| ferrolb_net::ifaddrs::same_interface(a).ok())
        .unwrap_or_default();
    LocalAddresses { address, interface }
}
