//! Socket glue for the ferrolb speaker (Linux only): raw sockets for Layer-2 mode, TCP socket
//! options for BGP mode.
//!
//! This is the only ferrolb crate allowed to contain `unsafe` code: one private function
//! building a `sockaddr_ll` (`sockaddr.rs`: two `unsafe` calls into socket2), one
//! `setsockopt(TCP_MD5SIG)` (`tcp.rs`) and the `getifaddrs(3)` walk (`ifaddrs.rs`), each with a
//! `SAFETY` comment, and one slice cast for `recvmsg(2)` (`bfd`). Everything else goes
//! through `socket2`'s safe API. The protocol logic lives in the sans-IO crates `ferrolb-l2`
//! and `ferrolb-bgp`.
//!
//! - [`packet`]: `AF_PACKET`/`SOCK_RAW` sockets bound to one interface with a classic BPF
//!   filter (ARP requests, Neighbor Solicitations, …), sending whole Ethernet frames.
//! - [`bpf`]: the classic BPF programs (plain data, unit-tested with a tiny interpreter).
//! - [`multicast`]: refcounted IPv6 solicited-node multicast group membership
//!   (RFC 4291 §2.7.1); joining through an IPv6 socket also makes the kernel send MLD reports,
//!   so snooping switches forward solicitations to us.
//! - [`interfaces`]: lists interfaces with index, MAC, flags, master and IPv6 link-local
//!   address from `/sys/class/net` and `/proc/net/if_inet6` (per network namespace), as
//!   `ferrolb_l2::iface::InterfaceInfo`.
//!
//! - [`address`]: adds/removes one host address on an interface over rtnetlink (the
//!   control-plane VIP, `CAP_NET_ADMIN`).
//! - [`ifaddrs`]: the IP addresses of each interface (`getifaddrs`), for the BGP speaker's
//!   router-ID fallback and next hops.
//! - [`bfd`]: BFD's UDP sockets (RFC 5881 / 5883): TTL 255 on send, the received TTL / hop
//!   limit read from ancillary data for GTSM, source ports 49152–65535.
//! - [`tcp`]: BGP session sockets — TCP-MD5 per peer (RFC 2385), TTL / hop limit, GTSM minimum
//!   TTL (RFC 5082), source address binding.
//!
//! Packet sockets need `CAP_NET_RAW`.

pub mod address;
pub mod bfd;
pub mod bpf;
pub mod ifaddrs;
pub mod interfaces;
pub mod multicast;
pub mod packet;
mod sockaddr;
pub mod tcp;

pub use interfaces::list as list_interfaces;
pub use multicast::SolicitedNodeGroups;
pub use packet::{Filter, PacketSocket};
