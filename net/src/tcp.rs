//! TCP socket options the BGP speaker needs (the sans-IO protocol is `ferrolb-bgp`):
//!
//! - TCP-MD5 signatures (RFC 2385, MetalLB BGPPeer `password`): [`set_md5_key`] installs the
//!   key for one peer address; set it on the listening socket per peer (passive) and on the
//!   connecting socket before `connect` (active). An empty key removes it.
//! - TTL / hop limit and GTSM (RFC 5082): [`set_ttl`] (MetalLB `ebgpMultiHop` semantics are
//!   the caller's), [`set_min_ttl`] (`IP_MINTTL` / `IPV6_MINHOPCOUNT`) and [`enable_gtsm`].
//! - [`bind_source`]: bind to BGPPeer `sourceAddress` (port chosen by the kernel).
//!
//! socket2, nix and rustix have no TCP-MD5 helper and libc has the constants but no
//! `struct tcp_md5sig`, so the struct is declared here with the address written byte-wise
//! (safe code); the one `unsafe` block is the `setsockopt(2)` call in [`setsockopt`].

#![allow(unsafe_code)]

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{Domain, SockAddr, Socket};

/// Longest TCP-MD5 key the kernel accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` (include/uapi/linux/tcp.h): a 128-byte `sockaddr_storage`, flags,
/// prefix length, key length, ifindex, key. The kernel copies it byte-wise, so a byte array
/// stands in for the storage (same size and field offsets: 216 bytes in all).
#[repr(C)]
struct TcpMd5Sig {
    addr: [u8; 128],
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: i32,
    key: [u8; MD5_MAX_KEY_LEN],
}

/// Write `addr` as a `sockaddr_in`/`sockaddr_in6` (family in host order, port 0).
fn sockaddr_bytes(addr: IpAddr) -> [u8; 128] {
    let mut b = [0u8; 128];
    match addr {
        IpAddr::V4(a) => {
            b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            b[4..8].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            b[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            b[8..24].copy_from_slice(&a.octets());
        }
    }
    b
}

/// The address the kernel sees for `peer` on `socket`: IPv4 peers of an IPv6 socket are
/// IPv4-mapped (`::ffff:a.b.c.d`).
fn peer_for(socket: &Socket, peer: IpAddr) -> io::Result<IpAddr> {
    Ok(match (socket.domain()?, peer) {
        (d, IpAddr::V4(v4)) if d == Domain::IPV6 => IpAddr::V6(v4.to_ipv6_mapped()),
        _ => peer,
    })
}

/// Install (or with an empty `key`, remove) the TCP-MD5 key for `peer` on `socket`.
pub fn set_md5_key(socket: &Socket, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP-MD5 key for peer {peer} is {} bytes, the maximum is 80",
                key.len()
            ),
        ));
    }
    let mut sig = TcpMd5Sig {
        addr: sockaddr_bytes(peer_for(socket, peer)?),
        flags: 0,
        prefixlen: 0,
        keylen: key.len() as u16,
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig)
}

/// Set the TTL (IPv4) or unicast hop limit (IPv6) of outgoing packets.
pub fn set_ttl(socket: &Socket, ttl: u8) -> io::Result<()> {
    if socket.domain()? == Domain::IPV6 {
        socket.set_unicast_hops_v6(u32::from(ttl))
    } else {
        socket.set_ttl_v4(u32::from(ttl))
    }
}

/// Drop incoming packets with a TTL / hop limit below `min` (`IP_MINTTL`,
/// `IPV6_MINHOPCOUNT`). On an IPv6 socket both are set, for IPv4-mapped peers.
pub fn set_min_ttl(socket: &Socket, min: u8) -> io::Result<()> {
    let v = libc::c_int::from(min);
    if socket.domain()? == Domain::IPV6 {
        setsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &v)?;
        // Best effort: Linux accepts IP_MINTTL on IPv6 sockets for IPv4-mapped traffic.
        let _ = setsockopt(socket, libc::IPPROTO_IP, libc::IP_MINTTL, &v);
        Ok(())
    } else {
        setsockopt(socket, libc::IPPROTO_IP, libc::IP_MINTTL, &v)
    }
}

/// GTSM (RFC 5082 §3) for a peer `hops` away (1 = directly connected): send with TTL 255 and
/// accept only packets with TTL ≥ 256 − `hops`.
pub fn enable_gtsm(socket: &Socket, hops: u8) -> io::Result<()> {
    if hops == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "GTSM hop count must be at least 1",
        ));
    }
    set_ttl(socket, 255)?;
    set_min_ttl(socket, (256 - u16::from(hops)) as u8)
}

/// Bind `socket` to the source address `addr` (BGPPeer `sourceAddress`), any port.
pub fn bind_source(socket: &Socket, addr: IpAddr) -> io::Result<()> {
    socket.bind(&SockAddr::from(SocketAddr::new(addr, 0)))
}

/// `setsockopt(2)` with a plain-old-data value (crate-private: only `c_int` and `TcpMd5Sig`;
/// also used by [`crate::bfd`] for `IP_RECVTTL`).
pub(crate) fn setsockopt<T>(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the fd is open for the lifetime of `socket`; `value` points to `len` readable,
    // initialised bytes (callers pass `c_int` or the `#[repr(C)]` `TcpMd5Sig` whose fields
    // leave no padding: 128 + 1 + 1 + 2 + 4 + 80), and the kernel only reads them.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    //! Loopback only (127.0.0.0/8, ::1). MD5 needs CONFIG_TCP_MD5SIG; a mismatched key makes
    //! the listener drop the SYN silently, so the connect times out.

    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
    use std::time::Duration;

    use socket2::{Protocol, Type};

    use super::*;

    /// How long a dropped SYN is waited for (the negative cases).
    const NO_ANSWER: Duration = Duration::from_millis(400);
    /// Generous for the positive cases, so a loaded machine does not fail them.
    const ANSWER: Duration = Duration::from_secs(5);

    fn tcp(addr: &SocketAddr) -> Socket {
        Socket::new(
            Domain::for_address(*addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .expect("socket")
    }

    /// A listener on `ip` (any port) with `key` for `peer`, if given.
    fn listener(ip: IpAddr, md5: Option<(IpAddr, &[u8])>) -> (TcpListener, SocketAddr) {
        let s = tcp(&SocketAddr::new(ip, 0));
        if let Some((peer, key)) = md5 {
            set_md5_key(&s, peer, key).expect("listener key");
        }
        s.bind(&SocketAddr::new(ip, 0).into()).expect("bind");
        s.listen(8).expect("listen");
        let l: TcpListener = s.into();
        let addr = l.local_addr().expect("addr");
        (l, addr)
    }

    fn connect(to: SocketAddr, wait: Duration, setup: impl FnOnce(&Socket)) -> io::Result<Socket> {
        let s = tcp(&to);
        setup(&s);
        s.connect_timeout(&to.into(), wait)?;
        Ok(s)
    }

    fn md5_case(ip: IpAddr) {
        let (l, addr) = listener(ip, Some((ip, b"s3cret")));
        let ok = connect(addr, ANSWER, |s| {
            set_md5_key(s, ip, b"s3cret").expect("key")
        });
        assert!(ok.is_ok(), "same key connects: {ok:?}");
        let (_, from) = l.accept().expect("accept");
        assert_eq!(from.ip(), ip);
        let wrong = connect(addr, NO_ANSWER, |s| {
            set_md5_key(s, ip, b"other").expect("key")
        });
        assert!(wrong.is_err(), "a different key is dropped");
        assert!(
            connect(addr, NO_ANSWER, |_| {}).is_err(),
            "no key is dropped"
        );
    }

    #[test]
    fn md5_same_key_connects_and_different_key_does_not_v4() {
        md5_case(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn md5_same_key_connects_and_different_key_does_not_v6() {
        md5_case(IpAddr::V6(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn md5_key_length_is_checked_and_empty_key_removes() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let s = tcp(&SocketAddr::new(ip, 0));
        let e = set_md5_key(&s, ip, &[7; 81]).expect_err("too long");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        set_md5_key(&s, ip, &[7; 80]).expect("80 bytes");
        let (l, addr) = listener(ip, Some((ip, b"k")));
        set_md5_key(&l_socket(&l), ip, b"").expect("remove");
        assert!(
            connect(addr, ANSWER, |_| {}).is_ok(),
            "key removed from the listener"
        );
    }

    fn l_socket(l: &TcpListener) -> Socket {
        Socket::from(l.try_clone().expect("clone"))
    }

    #[test]
    fn ttl_and_hop_limit() {
        let v4 = tcp(&"127.0.0.1:0".parse().expect("addr"));
        set_ttl(&v4, 7).expect("ttl");
        assert_eq!(v4.ttl_v4().expect("ttl"), 7);
        let v6 = tcp(&"[::1]:0".parse().expect("addr"));
        set_ttl(&v6, 9).expect("hops");
        assert_eq!(v6.unicast_hops_v6().expect("hops"), 9);
        assert!(enable_gtsm(&v4, 0).is_err());
    }

    fn gtsm_case(ip: IpAddr) {
        let (l, addr) = listener(ip, None);
        enable_gtsm(&l_socket(&l), 1).expect("gtsm");
        assert!(
            connect(addr, NO_ANSWER, |s| set_ttl(s, 64).expect("ttl")).is_err(),
            "TTL 64 dropped"
        );
        assert!(
            connect(addr, ANSWER, |s| set_ttl(s, 255).expect("ttl")).is_ok(),
            "TTL 255 passes"
        );
    }

    #[test]
    fn gtsm_drops_packets_below_min_ttl_v4() {
        gtsm_case(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn gtsm_drops_packets_below_min_hop_limit_v6() {
        gtsm_case(IpAddr::V6(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn bind_source_sets_the_local_address() {
        let (l, addr) = listener(IpAddr::V4(Ipv4Addr::LOCALHOST), None);
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        connect(addr, ANSWER, |s| bind_source(s, src).expect("bind")).expect("connect");
        let (_, from) = l.accept().expect("accept");
        assert_eq!(from.ip(), src);
    }
}
