//! Refcounted membership of IPv6 solicited-node multicast groups (RFC 4291 §2.7.1).
//!
//! MetalLB joins the solicited-node group of every owned IPv6 service address, refcounted per
//! group (`internal/layer2/ndp.go` `Watch`/`Unwatch`). Joining through an IPv6 datagram socket
//! (`IPV6_ADD_MEMBERSHIP`) programs the NIC's multicast filter and makes the kernel send MLD
//! reports, so MLD-snooping switches deliver the solicitations. Memberships last as long as the
//! socket, so dropping [`SolicitedNodeGroups`] leaves every group.

use std::{
    collections::BTreeMap,
    io,
    net::{Ipv6Addr, SocketAddrV6},
};

use ferrolb_l2::packet::ndp::solicited_node_multicast;
use socket2::{Domain, Socket, Type};

/// Solicited-node group memberships on one interface.
#[derive(Debug)]
pub struct SolicitedNodeGroups {
    socket: Socket,
    ifindex: u32,
    refs: BTreeMap<Ipv6Addr, usize>,
}

impl SolicitedNodeGroups {
    /// Opens the membership socket for interface `ifindex`.
    pub fn new(ifindex: u32) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, None)?;
        socket.set_only_v6(true)?;
        // Bind to an unused port on :: so the socket never receives unicast traffic by accident.
        socket.bind(&SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0).into())?;
        Ok(Self {
            socket,
            ifindex,
            refs: BTreeMap::new(),
        })
    }

    /// Starts listening for solicitations for `ip` (joins its group if first).
    pub fn watch(&mut self, ip: Ipv6Addr) -> io::Result<()> {
        let group = solicited_node_multicast(ip);
        let count = self.refs.get(&group).copied().unwrap_or(0);
        if count == 0 {
            self.socket.join_multicast_v6(&group, self.ifindex)?;
        }
        self.refs.insert(group, count + 1);
        Ok(())
    }

    /// Stops listening for `ip` (leaves its group if last). Unknown IPs are ignored.
    pub fn unwatch(&mut self, ip: Ipv6Addr) -> io::Result<()> {
        let group = solicited_node_multicast(ip);
        match self.refs.get(&group).copied() {
            None | Some(0) => Ok(()),
            Some(1) => {
                self.refs.remove(&group);
                self.socket.leave_multicast_v6(&group, self.ifindex)
            }
            Some(n) => {
                self.refs.insert(group, n - 1);
                Ok(())
            }
        }
    }

    /// Groups currently joined.
    pub fn groups(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.refs.keys().copied()
    }
}
