//! Which local interfaces get ARP/NDP responders.
//!
//! MetalLB rules (`internal/layer2/announcer.go`, `metallb-runtime.md` §2.2), applied to plain
//! interface facts gathered by the adapter (e.g. `ferrolb-net::interfaces`):
//! - the interface must be UP, **not enslaved** (no `/sys/class/net/<if>/master`, so bond and
//!   bridge members are skipped and the master is used) and not `NOARP`;
//! - ARP responder if it has `IFF_BROADCAST`; NDP responder if it has an IPv6 link-local
//!   address;
//! - names matching the exclusion list are skipped. MetalLB's list is regular expressions from
//!   `/etc/metallb/excludel2.yaml` (ConfigMap `metallb-excludel2`, key
//!   `announcedInterfacesToExclude`), each matched unanchored as Go's `regexp.MatchString`
//!   does: [`ExcludeList`]. Without that file MetalLB's shipped defaults apply
//!   ([`ExcludeList::default`], [`DEFAULT_EXCLUDE_PATTERNS`]).
//!
//! MetalLB rescans every 10 s; ferrolb's adapter may rescan on netlink events instead.

use std::net::Ipv6Addr;

use crate::packet::MacAddr;

/// A configured exclusion list (`announcedInterfacesToExclude`): an interface is skipped when
/// any pattern matches its name (unanchored, as Go's `regexp.MatchString`; anchor with `^`/`$`).
#[derive(Debug, Clone)]
pub struct ExcludeList {
    patterns: Vec<regex::Regex>,
}

/// A pattern of the exclusion list that is not a regular expression.
#[derive(Debug, thiserror::Error)]
#[error("announcedInterfacesToExclude[{index}] {pattern:?} is not a regular expression: {reason}")]
pub struct ExcludePatternError {
    /// Position in the list.
    pub index: usize,
    /// The pattern as written.
    pub pattern: String,
    /// What the regex parser said.
    pub reason: String,
}

impl ExcludeList {
    /// Compiles the patterns; the first invalid one is the error (nothing half-applied).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, ExcludePatternError> {
        let patterns = patterns
            .iter()
            .enumerate()
            .map(|(index, p)| {
                regex::Regex::new(p.as_ref()).map_err(|e| ExcludePatternError {
                    index,
                    pattern: p.as_ref().to_string(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether `name` is excluded.
    pub fn excluded(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(name))
    }

    /// How many patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether the list is empty (then no interface is excluded by name).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

impl Default for ExcludeList {
    /// MetalLB's shipped list ([`DEFAULT_EXCLUDE_PATTERNS`]; a unit test proves it compiles).
    fn default() -> Self {
        Self::new(DEFAULT_EXCLUDE_PATTERNS).unwrap_or_else(|_| Self {
            patterns: Vec::new(),
        })
    }
}

/// MetalLB's shipped `announcedInterfacesToExclude`, as written in its manifests and chart.
pub const DEFAULT_EXCLUDE_PATTERNS: &[&str] = &[
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo$",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    "^nodelocaldns.*",
    "^lxc.*",
];

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
            responders(&eth("eth0"), |n: &str| ExcludeList::default().excluded(n)),
            Responders {
                arp: true,
                ndp: true
            }
        );
        assert_eq!(
            responders(&eth("veth12"), |n: &str| ExcludeList::default().excluded(n)),
            Responders::default()
        );
        assert_eq!(
            responders(&eth("lo"), |n: &str| ExcludeList::default().excluded(n)),
            Responders::default()
        );
        assert!(responders(&eth("lo0"), |n: &str| ExcludeList::default().excluded(n)).arp);
    }

    #[test]
    fn the_default_list_is_metallbs() {
        let list = ExcludeList::default();
        assert_eq!(
            list.len(),
            DEFAULT_EXCLUDE_PATTERNS.len(),
            "every default pattern compiles"
        );
        for name in [
            "lo",
            "docker0",
            "cni0",
            "veth1a2b",
            "cali123",
            "kube-ipvs0",
            "nodelocaldns",
            "lxc12",
            "lxcbr0",
            "flannel.1",
            "tunl0",
            "virbr0",
            "dummy0",
            "cbr0",
        ] {
            assert!(list.excluded(name), "{name}");
        }
        for name in ["eth0", "lo0", "ens3", "bond0", "br0", "xveth", "wlan0"] {
            assert!(!list.excluded(name), "{name}");
        }
    }

    #[test]
    fn a_custom_list_matches_unanchored_like_go() {
        let list = ExcludeList::new(&["^eth1$", "wg"]).unwrap();
        assert!(list.excluded("eth1"));
        assert!(!list.excluded("eth10"));
        assert!(
            list.excluded("wg0") && list.excluded("mywg"),
            "unanchored search"
        );
        assert!(
            !list.excluded("docker0"),
            "a custom list replaces the defaults"
        );
        assert!(responders(&eth("eth0"), |n| list.excluded(n)).arp);
        assert!(!responders(&eth("eth1"), |n| list.excluded(n)).arp);
        assert!(ExcludeList::new::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_bad_pattern_names_its_position() {
        let e = ExcludeList::new(&["^eth0$", "(unclosed"]).unwrap_err();
        assert_eq!(e.index, 1);
        let msg = e.to_string();
        assert!(
            msg.contains("announcedInterfacesToExclude[1]") && msg.contains("(unclosed"),
            "{msg}"
        );
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
