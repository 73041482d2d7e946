//! The one place with `unsafe`: building a `sockaddr_ll` (packet(7)) as a `socket2::SockAddr`.
//!
//! socket2 has no safe constructor for link-layer addresses, so we fill a zeroed
//! `sockaddr_storage` through `SockAddrStorage::view_as` and wrap it with `SockAddr::new`.

#![allow(unsafe_code)]

use socket2::{SockAddr, SockAddrStorage};

/// A `sockaddr_ll` for `bind(2)`/`sendto(2)` on an `AF_PACKET` socket: interface `ifindex`,
/// EtherType `protocol` (host order; stored big-endian), optional destination `addr`.
pub(crate) fn link_addr(ifindex: u32, protocol: u16, addr: Option<[u8; 6]>) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sockaddr_storage` is at least as large and as aligned as `sockaddr_ll` (it is
    // defined to hold any socket address), the storage is zero-initialised (a valid bit
    // pattern for every field of `sockaddr_ll`), and the returned reference does not outlive
    // this block.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex as libc::c_int;
    if let Some(a) = addr {
        ll.sll_halen = 6;
        ll.sll_addr[..6].copy_from_slice(&a);
    }
    // SAFETY: `storage` now holds a fully initialised `sockaddr_ll` with family AF_PACKET and
    // `len` is exactly its size, which is what `SockAddr::new` requires.
    unsafe { SockAddr::new(storage, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_packet_address() {
        let a = link_addr(7, 0x0806, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(i32::from(a.family()), libc::AF_PACKET);
        assert_eq!(a.len() as usize, std::mem::size_of::<libc::sockaddr_ll>());
    }
}
