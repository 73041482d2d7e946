//! Which local interfaces get ARP/NDP responders.
//!
//! MetalLB rules (`internal/layer2/announcer.go`, `metallb-runtime.md` §2.2), applied to plain
//! interface facts gathered by the adapter (e.g. `ferrolb-net::interfaces`):
//! - the interface must be UP, **not enslaved** (no `/sys/class/net/<if>/master`, so bond and
//!   bridge members are skipped and the master is used) and not `NOARP`;
//! - ARP responder if it has `IFF_BROADCAST`; NDP responder if it has an IPv6 link-local
//!   address;
//! - names matching the exclusion list are skipped. MetalLB's list is regular expressions from
//!   `/etc/metallb/excludel2.yaml`; every shipped default is an anchored prefix (or `^lo$`), so
//!   [`DEFAULT_EXCLUDED_PREFIXES`] reproduces the defaults without a regex engine. Custom
//!   patterns are passed as a predicate.
//!
//! MetalLB rescans every 10 s; ferrolb's adapter may rescan on netlink events instead.

use std::net::Ipv6Addr;

use crate::packet::MacAddr;

/// Prefixes of MetalLB's default `announcedInterfacesToExclude` (`^docker.*`, `^cbr.*`, …).
pub const DEFAULT_EXCLUDED_PREFIXES: &[&str] = &[
    "docker",
    "cbr",
    "dummy",
    "virbr",
    "lxcbr",
    "veth",
    "cali",
    "tunl",
    "flannel",
    "kube-ipvs",
    "cni",
    "nodelocaldns",
    "lxc",
];

/// MetalLB's default exclusion list as a predicate (the prefixes above, plus exactly `lo`).
pub fn excluded_by_default(name: &str) -> bool {
    name == "lo"
        || DEFAULT_EXCLUDED_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
}

/// Facts about one local interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Interface name.
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
    /// Hardware address (absent on e.g. tunnels).
    pub mac: Option<MacAddr>,
    /// `IFF_UP`.
    pub up: bool,
    /// `IFF_BROADCAST`.
    pub broadcast: bool,
    /// `IFF_NOARP`.
    pub noarp: bool,
    /// Has a master device (bond/bridge member).
    pub enslaved: bool,
    /// First IPv6 link-local address, if any.
    pub link_local: Option<Ipv6Addr>,
}

/// Which responders an interface gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Responders {
    /// Answer ARP and send gratuitous ARP.
    pub arp: bool,
    /// Answer NS and send unsolicited NAs.
    pub ndp: bool,
}

/// Applies MetalLB's rules to one interface; `excluded` is the name exclusion predicate.
pub fn responders(info: &InterfaceInfo, excluded: impl Fn(&str) -> bool) -> Responders {
    if !info.up || info.enslaved || info.noarp || info.mac.is_none() || excluded(&info.name) {
        return Responders::default();
    }
    Responders {
        arp: info.broadcast,
        ndp: info.link_local.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(name: &str) -> InterfaceInfo {
        InterfaceInfo {
            name: name.into(),
            index: 2,
            mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            up: true,
            broadcast: true,
            noarp: false,
            enslaved: false,
            link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        }
    }

    #[test]
    fn rules() {
        assert_eq!(
            responders(&eth("eth0"), excluded_by_default),
            Responders {
                arp: true,
                ndp: true
            }
        );
        assert_eq!(
            responders(&eth("veth12"), excluded_by_default),
            Responders::default()
        );
        assert_eq!(
            responders(&eth("lo"), excluded_by_default),
            Responders::default()
        );
        assert!(responders(&eth("lo0"), excluded_by_default).arp);
        let down = InterfaceInfo {
            up: false,
            ..eth("eth0")
        };
        assert_eq!(responders(&down, |_| false), Responders::default());
        let slave = InterfaceInfo {
            enslaved: true,
            ..eth("eth0")
        };
        assert_eq!(responders(&slave, |_| false), Responders::default());
        let noarp = InterfaceInfo {
            noarp: true,
            ..eth("eth0")
        };
        assert_eq!(responders(&noarp, |_| false), Responders::default());
        let v4only = InterfaceInfo {
            link_local: None,
            ..eth("eth0")
        };
        assert_eq!(
            responders(&v4only, |_| false),
            Responders {
                arp: true,
                ndp: false
            }
        );
        let p2p = InterfaceInfo {
            broadcast: false,
            ..eth("eth0")
        };
        assert_eq!(
            responders(&p2p, |_| false),
            Responders {
                arp: false,
                ndp: true
            }
        );
    }
}
