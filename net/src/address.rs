//! Adds and removes one host address (`/32` or `/128`) on an interface over rtnetlink
//! (`RTM_NEWADDR` / `RTM_DELADDR`, `rtnetlink(7)`), for the speaker's control-plane VIP mode:
//! the node that owns the API server's virtual IP must also *accept* traffic for it, which
//! needs the address locally (keepalived and kube-vip do the same). Service IPs in Layer 2
//! mode never go through here (kube-proxy accepts them).
//!
//! The messages are built by [`encode`] (plain bytes, unit-tested) and sent on a
//! `NETLINK_ROUTE` socket through socket2's safe API; the kernel's acknowledgement
//! (`NLMSG_ERROR`) is parsed by [`ack_errno`]. Needs `CAP_NET_ADMIN`. IPv6 addresses are added
//! with `IFA_F_NODAD` (the VIP is elected, not autoconfigured: no duplicate address detection
//! delay).

use std::io::{self, Read as _};
use std::net::IpAddr;

use socket2::{Domain, Protocol, Socket, Type};

const NLMSG_ERROR: u16 = 2;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RT_SCOPE_UNIVERSE: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_REPLACE` (idempotent).
    Add,
    /// `RTM_DELADDR`; an address that is not there is not an error.
    Remove,
}

fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// The rtnetlink request adding or removing `ip` as a host address of interface `ifindex`.
pub fn encode(op: Op, ifindex: u32, ip: IpAddr, seq: u32) -> Vec<u8> {
    let (kind, flags) = match op {
        Op::Add => (
            RTM_NEWADDR,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        ),
        Op::Remove => (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK),
    };
    let (family, prefix, ifa_flags, octets) = match ip {
        IpAddr::V4(v4) => (AF_INET, 32u8, 0u8, v4.octets().to_vec()),
        IpAddr::V6(v6) => (AF_INET6, 128, IFA_F_NODAD, v6.octets().to_vec()),
    };
    let mut buf = vec![0u8; 16];
    // struct ifaddrmsg
    buf.extend_from_slice(&[family, prefix, ifa_flags, RT_SCOPE_UNIVERSE]);
    buf.extend_from_slice(&ifindex.to_ne_bytes());
    if ip.is_ipv4() {
        attr(&mut buf, IFA_LOCAL, &octets);
    }
    attr(&mut buf, IFA_ADDRESS, &octets);
    // struct nlmsghdr: length, type, flags, sequence, port id (0: the kernel assigns)
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf[4..6].copy_from_slice(&kind.to_ne_bytes());
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    buf
}

/// The errno of the kernel's acknowledgement of request `seq` (`0`: success), or `None` when
/// `reply` is not that acknowledgement.
pub fn ack_errno(reply: &[u8], seq: u32) -> Option<i32> {
    let u16_at = |o: usize| Some(u16::from_ne_bytes(reply.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_ne_bytes(reply.get(o..o + 4)?.try_into().ok()?));
    if u16_at(4)? != NLMSG_ERROR || u32_at(8)? != seq {
        return None;
    }
    let err = i32::from_ne_bytes(reply.get(16..20)?.try_into().ok()?);
    Some(-err)
}

/// Adds (or removes) `ip` as a host address of interface `ifindex` and waits for the kernel's
/// answer. Removing an address that is not there succeeds.
pub fn set(op: Op, ifindex: u32, ip: IpAddr) -> io::Result<()> {
    let sock = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW.cloexec(),
        Some(Protocol::from(libc::NETLINK_ROUTE)),
    )?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let seq = 1;
    sock.send(&encode(op, ifindex, ip, seq))?;
    let mut buf = [0u8; 4096];
    // Bounded: a handful of unrelated messages at most on a fresh, unsubscribed socket.
    for _ in 0..8 {
        let n = (&sock).read(&mut buf)?;
        match ack_errno(&buf[..n], seq) {
            None => continue,
            Some(0) => return Ok(()),
            Some(libc::EADDRNOTAVAIL) if op == Op::Remove => return Ok(()),
            Some(e) => return Err(io::Error::from_raw_os_error(e)),
        }
    }
    Err(io::Error::other("no rtnetlink acknowledgement"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_v4_carries_local_and_address_attributes() {
        let m = encode(Op::Add, 7, "192.0.2.10".parse().unwrap(), 42);
        assert_eq!(m.len(), 16 + 8 + 8 + 8);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 40);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWADDR);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x505);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 42);
        assert_eq!(&m[16..20], &[AF_INET, 32, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 7);
        assert_eq!(u16::from_ne_bytes(m[26..28].try_into().unwrap()), IFA_LOCAL);
        assert_eq!(&m[28..32], &[192, 0, 2, 10]);
        assert_eq!(
            u16::from_ne_bytes(m[34..36].try_into().unwrap()),
            IFA_ADDRESS
        );
    }

    #[test]
    fn remove_v6_is_a_nodad_host_route_without_create() {
        let m = encode(Op::Remove, 3, "2001:db8::1".parse().unwrap(), 1);
        assert_eq!(m.len(), 16 + 8 + 20);
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_DELADDR);
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x5);
        assert_eq!(&m[16..20], &[AF_INET6, 128, IFA_F_NODAD, 0]);
        assert_eq!(u16::from_ne_bytes(m[24..26].try_into().unwrap()), 20);
    }

    #[test]
    fn acknowledgements_are_matched_by_sequence() {
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        ack[8..12].copy_from_slice(&9u32.to_ne_bytes());
        ack[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(ack_errno(&ack, 9), Some(17));
        assert_eq!(ack_errno(&ack, 8), None);
        assert_eq!(ack_errno(&ack[..10], 9), None, "truncated");
        ack[16..20].copy_from_slice(&0i32.to_ne_bytes());
        assert_eq!(ack_errno(&ack, 9), Some(0));
    }
}
