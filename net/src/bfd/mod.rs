//! BFD's UDP sockets (RFC 5881 single hop, RFC 5883 multihop); the protocol is
//! `ferrolb-bfd`'s.
//!
//! - [`listener`]: the receive socket on port 3784 (single hop) or 4784 (multihop) with
//!   `IP_RECVTTL` / `IPV6_RECVHOPLIMIT`, so [`recv`] reports every packet's TTL / hop limit
//!   (ancillary data parsed in safe code). GTSM (RFC 5881 §5: only TTL 255 on single hop;
//!   RFC 5883 §2: at least `minimumTtl` on multihop) is [`Received::ttl_at_least`], applied
//!   by the caller per session.
//! - [`sender`]: one socket per session, connected to the peer's port, sending with TTL / hop
//!   limit 255 from a source port in 49152–65535 (RFC 5881 §4), optionally from the BGPPeer's
//!   `sourceAddress`.
//!
//! - [`set_thread_nice`]: the BFD thread's scheduling priority (`setpriority(2)` on the
//!   calling thread), so a loaded node delays its packets and timers less.
//!
//! `unsafe`: one cast of a `&mut [u8]` to `&mut [MaybeUninit<u8>]` for `recvmsg(2)` (the kernel
//! only writes initialised bytes) and the `gettid(2)` / `setpriority(2)` calls, each with its
//! `SAFETY` comment.

#![allow(unsafe_code)]

#[cfg(test)]
mod tests;

use std::io;
use std::mem::{MaybeUninit, offset_of, size_of};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::ops::RangeInclusive;

use socket2::{Domain, MaybeUninitSlice, MsgHdrMut, Protocol, SockAddr, Socket, Type};

use crate::tcp::{set_ttl, setsockopt};

/// Single-hop control packets (RFC 5881 §4).
pub const SINGLE_HOP_PORT: u16 = 3784;
/// Multihop control packets (RFC 5883 §3).
pub const MULTI_HOP_PORT: u16 = 4784;
/// Source ports of control packets (RFC 5881 §4).
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;
/// TTL / hop limit of every packet we send (RFC 5881 §5; also fine for multihop).
pub const SEND_TTL: u8 = 255;
/// How many source ports [`sender`] tries before giving up.
const PORT_TRIES: u16 = 64;

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The sender.
    pub source: SocketAddr,
    /// Its IP TTL / hop limit (`None` if the kernel sent no ancillary data).
    pub ttl: Option<u8>,
}

impl Received {
    /// GTSM: the packet's TTL is known and at least `min` (255 for single hop).
    pub fn ttl_at_least(&self, min: u8) -> bool {
        self.ttl.is_some_and(|t| t >= min)
    }
}

/// A receive socket bound to `addr` (normally `0.0.0.0` or `::` with [`SINGLE_HOP_PORT`] or
/// [`MULTI_HOP_PORT`]); IPv6 sockets are IPv6-only. Blocking; call `set_nonblocking` for a
/// reactor.
pub fn listener(addr: SocketAddr) -> io::Result<Socket> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    let on: libc::c_int = 1;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
        socket.set_recv_hoplimit_v6(true)?;
    } else {
        setsockopt(&socket, libc::IPPROTO_IP, libc::IP_RECVTTL, &on)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A send socket for one session: TTL 255, bound to `source` (or the unspecified address) and
/// a port in [`SOURCE_PORTS`] (starting at an offset from `seed`, trying the next ones when
/// taken), connected to `peer`.
pub fn sender(peer: SocketAddr, source: Option<IpAddr>, seed: u16) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(peer), Type::DGRAM, Some(Protocol::UDP))?;
    if peer.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    set_ttl(&socket, SEND_TTL)?;
    let ip = source.unwrap_or(if peer.is_ipv6() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    });
    let (lo, hi) = (*SOURCE_PORTS.start(), *SOURCE_PORTS.end());
    let span = hi - lo + 1;
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free BFD source port");
    for i in 0..PORT_TRIES {
        let port = lo + seed.wrapping_add(i) % span;
        match socket.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => {
                socket.connect(&peer.into())?;
                return Ok(socket);
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Receives one datagram with its source and TTL / hop limit (the socket must come from
/// [`listener`]). Blocks unless the socket is non-blocking.
pub fn recv(socket: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    // Large enough for either family; the kernel writes the family it has.
    let mut name = SockAddr::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0));
    let mut control = [0u8; 64];
    let (len, control_len) = {
        let mut bufs = [MaybeUninitSlice::new(as_uninit(buf))];
        let mut msg = MsgHdrMut::new()
            .with_addr(&mut name)
            .with_buffers(&mut bufs)
            .with_control(as_uninit(&mut control));
        let n = socket.recvmsg(&mut msg, 0)?;
        (n, msg.control_len())
    };
    let source = name
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without IP source"))?;
    Ok(Received {
        len,
        source,
        ttl: ttl_from_control(&control[..control_len.min(control.len())]),
    })
}

/// Sets the calling thread's nice value (Linux: `setpriority(PRIO_PROCESS, gettid())` applies to
/// one thread). Lowering it below 0 needs `CAP_SYS_NICE`; on error nothing changes.
pub fn set_thread_nice(nice: i32) -> io::Result<()> {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    let id = libc::id_t::try_from(tid).map_err(|_| io::Error::other("negative thread id"))?;
    // SAFETY: setpriority(2) only reads its three integer arguments.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, id, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn as_uninit(b: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the size, alignment and validity of `u8`; the slice is
    // only handed to `recvmsg(2)`, which writes initialised bytes, and nothing writes an
    // uninitialised value through it, so `b` stays initialised.
    unsafe { &mut *(std::ptr::from_mut(b) as *mut [MaybeUninit<u8>]) }
}

/// The TTL (`IP_TTL`) or hop limit (`IPV6_HOPLIMIT`) in `recvmsg(2)` ancillary data (cmsg(3)
/// layout, read with safe slicing).
fn ttl_from_control(c: &[u8]) -> Option<u8> {
    let hdr = size_of::<libc::cmsghdr>();
    let align = size_of::<usize>();
    let level_at = offset_of!(libc::cmsghdr, cmsg_level);
    let type_at = offset_of!(libc::cmsghdr, cmsg_type);
    let int = |at: usize| -> Option<libc::c_int> {
        let b = c.get(at..at + size_of::<libc::c_int>())?;
        Some(libc::c_int::from_ne_bytes(b.try_into().ok()?))
    };
    let mut off = 0;
    while off + hdr <= c.len() {
        let len_bytes = c.get(off..off + size_of::<usize>())?;
        let len = usize::from_ne_bytes(len_bytes.try_into().ok()?);
        if len < hdr || off + len > c.len() {
            return None;
        }
        let (level, ty) = (int(off + level_at)?, int(off + type_at)?);
        if (level == libc::IPPROTO_IP && ty == libc::IP_TTL)
            || (level == libc::IPPROTO_IPV6 && ty == libc::IPV6_HOPLIMIT)
        {
            return u8::try_from(int(off + hdr)?).ok();
        }
        off += len.div_ceil(align) * align;
    }
    None
}
