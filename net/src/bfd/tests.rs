//! Loopback only (127.0.0.1, ::1): TTL 255 sent and read back, a lower TTL seen as such,
//! source ports in range, and the ancillary-data parser on hand-made buffers.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::*;

fn bound(ip: IpAddr) -> (Socket, SocketAddr) {
    let l = listener(SocketAddr::new(ip, 0)).expect("listener");
    l.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let addr = l
        .local_addr()
        .expect("local")
        .as_socket()
        .expect("ip socket");
    (l, addr)
}

fn case(ip: IpAddr) {
    let (l, addr) = bound(ip);
    let s = sender(addr, Some(ip), 7).expect("sender");
    let local = s.local_addr().expect("local").as_socket().expect("ip");
    assert!(SOURCE_PORTS.contains(&local.port()), "{local}");
    s.send(b"hello bfd").expect("send");
    let mut buf = [0u8; 64];
    let r = recv(&l, &mut buf).expect("recv");
    assert_eq!(&buf[..r.len], b"hello bfd");
    assert_eq!(r.source, local);
    assert_eq!(r.ttl, Some(255));
    assert!(r.ttl_at_least(255));

    // A plain socket with TTL 64 (what a spoofer several hops away could at best send).
    let other =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).expect("socket");
    crate::tcp::set_ttl(&other, 64).expect("ttl");
    other.send_to(b"x", &addr.into()).expect("send");
    let r = recv(&l, &mut buf).expect("recv");
    assert_eq!(r.ttl, Some(64));
    assert!(!r.ttl_at_least(255));
    assert!(r.ttl_at_least(64), "multihop minimumTtl 64 accepts it");
}

#[test]
fn ttl_sent_and_read_v4() {
    case(IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[test]
fn hop_limit_sent_and_read_v6() {
    case(IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[test]
fn source_port_moves_on_when_taken() {
    let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), SINGLE_HOP_PORT);
    let a = sender(peer, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), 1000).expect("a");
    let b = sender(peer, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), 1000).expect("b");
    let pa = a.local_addr().expect("a").as_socket().expect("a").port();
    let pb = b.local_addr().expect("b").as_socket().expect("b").port();
    assert_ne!(pa, pb);
    assert!(SOURCE_PORTS.contains(&pb));
}

/// The calling thread's nice value (field 19 of /proc/thread-self/stat).
fn thread_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
    let after = stat.rsplit_once(')').expect("comm").1;
    after
        .split_whitespace()
        .nth(16)
        .expect("nice field")
        .parse()
        .expect("number")
}

#[test]
fn thread_nice_applies_to_the_calling_thread_only() {
    let before = thread_nice();
    let inner = std::thread::spawn(|| {
        set_thread_nice(7).expect("raising nice is always allowed");
        thread_nice()
    })
    .join()
    .expect("thread");
    assert_eq!(inner, 7);
    assert_eq!(thread_nice(), before, "other threads keep theirs");
}

fn cmsg(level: libc::c_int, ty: libc::c_int, value: libc::c_int) -> Vec<u8> {
    let hdr = size_of::<libc::cmsghdr>();
    let mut b = vec![0u8; hdr + 8];
    let len = hdr + size_of::<libc::c_int>();
    b[..size_of::<usize>()].copy_from_slice(&len.to_ne_bytes());
    let l = offset_of!(libc::cmsghdr, cmsg_level);
    let t = offset_of!(libc::cmsghdr, cmsg_type);
    b[l..l + 4].copy_from_slice(&level.to_ne_bytes());
    b[t..t + 4].copy_from_slice(&ty.to_ne_bytes());
    b[hdr..hdr + 4].copy_from_slice(&value.to_ne_bytes());
    b
}

#[test]
fn control_parser_skips_other_messages_and_rejects_garbage() {
    let mut c = cmsg(libc::IPPROTO_IP, libc::IP_TOS, 0x10);
    c.extend(cmsg(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, 254));
    assert_eq!(ttl_from_control(&c), Some(254));
    assert_eq!(ttl_from_control(&[]), None);
    let mut bad = cmsg(libc::IPPROTO_IP, libc::IP_TTL, 255);
    bad[0] = 0xff; // length beyond the buffer
    assert_eq!(ttl_from_control(&bad), None);
    assert_eq!(
        ttl_from_control(&cmsg(libc::IPPROTO_IP, libc::IP_TTL, 300)),
        None
    );
}
