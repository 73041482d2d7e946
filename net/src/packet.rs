//! `AF_PACKET` raw sockets (packet(7)) bound to one interface, with a classic BPF filter.
//!
//! The socket is created with protocol 0 (receives nothing), the filter is attached, and only
//! then is it bound to `(ifindex, EtherType)`: no unfiltered frame can be queued in between.
//! Frames are whole Ethernet frames in both directions, as produced and parsed by
//! `ferrolb_l2::packet`.

use std::{io, io::Read, time::Duration};

use socket2::{Domain, SockFilter, Socket, Type};

use crate::{bpf, sockaddr::link_addr};

/// Which frames a [`PacketSocket`] receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// ARP requests (the ARP responder).
    ArpRequests,
    /// Every ARP frame (captures, tests).
    ArpAll,
    /// ICMPv6 Neighbor Solicitations (the NDP responder).
    NeighborSolicitations,
    /// ICMPv6 Neighbor Advertisements (captures, tests).
    NeighborAdvertisements,
}

impl Filter {
    fn ethertype(self) -> u16 {
        match self {
            Filter::ArpRequests | Filter::ArpAll => 0x0806,
            Filter::NeighborSolicitations | Filter::NeighborAdvertisements => 0x86dd,
        }
    }

    fn program(self) -> Vec<bpf::Insn> {
        match self {
            Filter::ArpRequests => bpf::arp_requests(),
            Filter::ArpAll => bpf::arp_any(),
            Filter::NeighborSolicitations => bpf::neighbor_solicitations(),
            Filter::NeighborAdvertisements => bpf::neighbor_advertisements(),
        }
    }
}

/// A raw Ethernet socket on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
    ifindex: u32,
}

impl PacketSocket {
    /// Opens a socket on interface `ifindex` receiving the frames selected by `filter`.
    /// Needs `CAP_NET_RAW`.
    pub fn open(ifindex: u32, filter: Filter) -> io::Result<Self> {
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)?;
        let prog: Vec<SockFilter> = filter
            .program()
            .iter()
            .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect();
        socket.attach_filter(&prog)?;
        socket.bind(&link_addr(ifindex, filter.ethertype(), None))?;
        Ok(Self { socket, ifindex })
    }

    /// The interface index this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one whole Ethernet frame out of the bound interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        self.socket.send(frame)
    }

    /// Receives one frame into `buf`, returning its length (truncated to `buf.len()`).
    /// Blocks unless a timeout or non-blocking mode is set.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.socket).read(buf)
    }

    /// Sets the receive timeout (`None` blocks forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// Switches non-blocking mode (for use with an async reactor such as tokio's `AsyncFd`).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// The underlying socket (e.g. to register its fd with a reactor).
    pub fn as_socket(&self) -> &Socket {
        &self.socket
    }
}
