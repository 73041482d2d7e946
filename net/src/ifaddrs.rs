//! The IP addresses of the node's interfaces (`getifaddrs(3)`), in the kernel's order: what
//! the BGP speaker needs to find the interface holding a session's local address and that
//! interface's other addresses (MetalLB's router-ID fallback "first IPv4 address of the
//! interface"; FRR's next hop of the other family with `dualStackAddressFamily`).
//!
//! The one `unsafe` block walks the list `getifaddrs` returns and frees it.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// Interface name.
    pub interface: String,
    /// The address.
    pub address: IpAddr,
}

/// Every IPv4 and IPv6 address of every interface of the current network namespace.
pub fn addresses() -> io::Result<Vec<InterfaceAddress>> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `getifaddrs` writes a list head into `head` (or fails and writes nothing). The
    // list is only read while it is alive: each node's `ifa_name` is a NUL-terminated string,
    // `ifa_addr` is null or points to a sockaddr of the family it announces (so the casts to
    // `sockaddr_in` / `sockaddr_in6` read initialised memory of that size), `ifa_next` is null
    // or the next node. The list is freed once, after the walk, and no pointer escapes.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let address = match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            };
            out.push(InterfaceAddress {
                interface: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                address,
            });
        }
        libc::freeifaddrs(head);
    }
    Ok(out)
}

/// The addresses of the interface holding `addr`, in the kernel's order (empty if no
/// interface has it).
pub fn same_interface(addr: IpAddr) -> io::Result<Vec<IpAddr>> {
    let all = addresses()?;
    let Some(iface) = all
        .iter()
        .find(|a| a.address == addr)
        .map(|a| a.interface.clone())
    else {
        return Ok(Vec::new());
    };
    Ok(all
        .into_iter()
        .filter(|a| a.interface == iface)
        .map(|a| a.address)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_listed_on_their_interface() {
        let all = addresses().expect("getifaddrs");
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let on_lo = all
            .iter()
            .find(|a| a.address == lo)
            .map(|a| a.interface.clone())
            .expect("127.0.0.1 is on an interface");
        let same = same_interface(lo).expect("getifaddrs");
        assert!(same.contains(&lo));
        assert!(
            all.iter()
                .filter(|a| a.interface == on_lo)
                .all(|a| same.contains(&a.address))
        );
        assert!(
            same_interface(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)))
                .expect("getifaddrs")
                .is_empty(),
            "TEST-NET address on no interface"
        );
    }
}
