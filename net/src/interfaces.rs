//! Interface discovery from `/sys/class/net` and `/proc/net/if_inet6`.
//!
//! Both are per network namespace (procfs `net/` follows the reading task's namespace; sysfs
//! is remounted by `ip netns exec` and is the host's in a `hostNetwork` pod), need no
//! privileges and no netlink. The result feeds `ferrolb_l2::iface::responders`.

use std::{collections::BTreeMap, fs, io, net::Ipv6Addr, path::Path};

use ferrolb_l2::{iface::InterfaceInfo, packet::MacAddr};

const IFF_UP: u32 = 0x1;
const IFF_BROADCAST: u32 = 0x2;
const IFF_NOARP: u32 = 0x80;

/// Lists all interfaces of the current network namespace, sorted by index.
pub fn list() -> io::Result<Vec<InterfaceInfo>> {
    let link_locals = fs::read_to_string("/proc/net/if_inet6")
        .map(|s| parse_if_inet6(&s))
        .unwrap_or_default();
    let mut out = Vec::new();
    for entry in fs::read_dir("/sys/class/net")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(info) = read_one(&entry.path(), name, &link_locals) {
            out.push(info);
        }
    }
    out.sort_by_key(|i| i.index);
    Ok(out)
}

/// Looks an interface up by name.
pub fn by_name(name: &str) -> io::Result<InterfaceInfo> {
    list()?
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}")))
}

fn read_one(
    dir: &Path,
    name: String,
    link_locals: &BTreeMap<String, Ipv6Addr>,
) -> Option<InterfaceInfo> {
    let read = |f: &str| {
        fs::read_to_string(dir.join(f))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let index = read("ifindex")?.parse().ok()?;
    let flags =
        read("flags").and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())?;
    let mac = read("address")
        .and_then(|a| a.parse::<MacAddr>().ok())
        .filter(|m| *m != MacAddr::ZERO);
    Some(InterfaceInfo {
        index,
        mac,
        up: flags & IFF_UP != 0,
        broadcast: flags & IFF_BROADCAST != 0,
        noarp: flags & IFF_NOARP != 0,
        enslaved: dir.join("master").exists(),
        link_local: link_locals.get(&name).copied(),
        name,
    })
}

/// Parses `/proc/net/if_inet6` lines (`addr32hex ifindex prefixlen scope flags name`) and
/// returns the first link-local (`fe80::/10`) address per interface name.
pub fn parse_if_inet6(text: &str) -> BTreeMap<String, Ipv6Addr> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(hex), Some(name)) = (f.next(), f.nth(4)) else {
            continue;
        };
        let Ok(bits) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let addr = Ipv6Addr::from(bits);
        if addr.segments()[0] & 0xffc0 == 0xfe80 {
            out.entry(name.to_owned()).or_insert(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_if_inet6() {
        let text = "fd007700000000000000000000000001 02 40 00 80     veth0\n\
                    fe8000000000000000000000000000aa 02 40 20 80     veth0\n\
                    00000000000000000000000000000001 01 80 10 80        lo\n\
                    garbage\n";
        let m = parse_if_inet6(text);
        assert_eq!(m.len(), 1);
        assert_eq!(m["veth0"], "fe80::aa".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn lists_loopback() {
        let all = list().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").unwrap();
        assert_eq!(lo.index, 1);
        assert!(lo.mac.is_none());
    }
}
