//! Parsers of the routers' output for [`super`]: FRR's and GoBGP's JSON, BIRD 2's text
//! (`birdc show route all`, `show protocols all`), `ip -j route` and `/proc/net/netstat`, each
//! normalised to [`RibRoute`], [`Neighbor`], [`KernelRoute`] or [`Md5Counters`]. Pure functions
//! of the text, unit-tested on captured output in `bgp/tests.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Family, KernelRoute, Md5Counters, Neighbor, RibRoute};

pub(super) fn parse_json(s: &str) -> Result<Value> {
    serde_json::from_str(s)
        .with_context(|| format!("not JSON: {}", s.chars().take(300).collect::<String>()))
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn u32_of(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// RFC 1997 / IANA well-known communities under FRR's JSON names (and its text names).
const WELL_KNOWN: [(&str, &str, &str); 14] = [
    ("gracefulShutdown", "graceful-shutdown", "65535:0"),
    ("acceptOwn", "accept-own", "65535:1"),
    (
        "routeFilterTranslatedv4",
        "route-filter-translated-v4",
        "65535:2",
    ),
    ("routeFilterv4", "route-filter-v4", "65535:3"),
    (
        "routeFilterTranslatedv6",
        "route-filter-translated-v6",
        "65535:4",
    ),
    ("routeFilterv6", "route-filter-v6", "65535:5"),
    ("llgrStale", "llgr-stale", "65535:6"),
    ("noLlgr", "no-llgr", "65535:7"),
    ("acceptownNexthop", "accept-own-nexthop", "65535:8"),
    ("blackhole", "blackhole", "65535:666"),
    ("noExport", "no-export", "65535:65281"),
    ("noAdvertise", "no-advertise", "65535:65282"),
    ("localAs", "local-AS", "65535:65283"),
    ("noPeer", "no-peer", "65535:65284"),
];

/// `"64512:100"` stays, FRR's `noAdvertise` / `no-advertise` becomes `"65535:65282"`.
pub fn normalize_community(c: &str) -> String {
    WELL_KNOWN
        .iter()
        .find(|(json, text, _)| *json == c || text.eq_ignore_ascii_case(c))
        .map(|(_, _, n)| (*n).to_string())
        .unwrap_or_else(|| c.to_string())
}

pub(super) fn parse_frr_routes(rib: &Value) -> Result<Vec<RibRoute>> {
    let Some(routes) = rib.get("routes").and_then(Value::as_object) else {
        // an empty RIB has no "routes" key in some FRR versions
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (prefix, paths) in routes {
        for p in paths.as_array().into_iter().flatten() {
            // `json detail` starts each array with a {"prefix", "version"} header object
            if p.get("nexthops").is_none() && p.get("peer").is_none() {
                continue;
            }
            let list = |key: &str| -> Vec<String> {
                p.pointer(&format!("/{key}/list"))
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter_map(Value::as_str)
                            .map(normalize_community)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let as_path = p
                .pointer("/aspath/segments")
                .and_then(Value::as_array)
                .map(|segs| {
                    segs.iter()
                        .flat_map(|s| {
                            s.get("list")
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default()
                        })
                        .filter_map(|a| u32_of(Some(&a)))
                        .collect()
                })
                .unwrap_or_default();
            out.push(RibRoute {
                prefix: prefix.clone(),
                peer: p
                    .pointer("/peer/peerId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                next_hops: p
                    .get("nexthops")
                    .and_then(Value::as_array)
                    .map(|n| {
                        n.iter()
                            .filter_map(|h| h.get("ip").and_then(Value::as_str))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                as_path,
                communities: list("community"),
                large_communities: list("largeCommunity"),
                local_pref: u32_of(p.get("locPrf")).or_else(|| u32_of(p.get("localpref"))),
                med: u32_of(p.get("metric")).or_else(|| u32_of(p.get("med"))),
                best: p.get("bestpath").is_some(),
                stale: p.get("stale").and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    Ok(out)
}

pub(super) fn parse_gobgp_routes(rib: &Value) -> Result<Vec<RibRoute>> {
    let Some(map) = rib.as_object() else {
        bail!("gobgp rib is not an object: {rib}");
    };
    let mut out = Vec::new();
    for (prefix, paths) in map {
        for p in paths.as_array().into_iter().flatten() {
            let mut r = RibRoute {
                prefix: prefix.clone(),
                peer: p
                    .get("neighbor-ip")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                best: p.get("best").and_then(Value::as_bool).unwrap_or(false),
                ..RibRoute::default()
            };
            for a in p
                .get("attrs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match a.get("type").and_then(Value::as_u64) {
                    Some(2) => {
                        r.as_path = a
                            .get("as_paths")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .flat_map(|s| {
                                s.get("asns")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default()
                            })
                            .filter_map(|n| u32_of(Some(&n)))
                            .collect();
                    }
                    Some(3) | Some(14) => {
                        for key in ["nexthop", "link_local_nexthop"] {
                            if let Some(n) = a.get(key).and_then(Value::as_str) {
                                r.next_hops.push(n.to_string());
                            }
                        }
                    }
                    Some(4) => r.med = u32_of(a.get("metric")),
                    Some(5) => r.local_pref = u32_of(a.get("value")),
                    Some(8) => {
                        r.communities = a
                            .get("communities")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_u64)
                            .map(|c| format!("{}:{}", c >> 16, c & 0xffff))
                            .collect();
                    }
                    Some(32) => {
                        r.large_communities = a
                            .get("value")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .map(|c| {
                                let f = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
                                format!("{}:{}:{}", f("ASN"), f("LocalData1"), f("LocalData2"))
                            })
                            .collect();
                    }
                    _ => {}
                }
            }
            out.push(r);
        }
    }
    Ok(out)
}

/// Parses `birdc show route all` text: a path starts at a line with `unicast [proto ...]`
/// (the first path of a prefix also carries the prefix), its attributes follow as
/// `\tBGP.name: value` lines. `peers` maps protocol names to neighbour addresses.
pub(super) fn parse_bird_routes(text: &str, peers: &BTreeMap<String, String>) -> Vec<RibRoute> {
    let mut out: Vec<RibRoute> = Vec::new();
    let mut prefix = String::new();
    for line in text.lines() {
        if line.starts_with("BIRD ") || line.starts_with("Table ") || line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let trimmed = line.trim();
        if !indented || trimmed.starts_with("unicast") {
            // a new path: "<prefix> unicast [proto time (from addr)] * (100) [?]" or, for the
            // further paths of the same prefix, the same without the prefix
            let mut words = trimmed.split_whitespace();
            if !indented {
                prefix = words.next().unwrap_or_default().to_string();
            }
            let rest: String = words.collect::<Vec<_>>().join(" ");
            let proto = rest
                .split_once('[')
                .and_then(|(_, r)| r.split_whitespace().next())
                .unwrap_or_default()
                .to_string();
            let from = rest
                .split_once(" from ")
                .and_then(|(_, r)| r.split(']').next())
                .map(str::to_string);
            out.push(RibRoute {
                prefix: prefix.clone(),
                peer: from
                    .or_else(|| peers.get(&proto).cloned())
                    .unwrap_or_default(),
                best: rest.contains("] *"),
                ..RibRoute::default()
            });
            continue;
        }
        let Some(r) = out.last_mut() else { continue };
        let Some((key, value)) = trimmed.split_once(": ") else {
            continue;
        };
        let value = value.trim();
        match key {
            "BGP.next_hop" => r.next_hops = value.split_whitespace().map(str::to_string).collect(),
            "BGP.as_path" => {
                r.as_path = value
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|a| a.parse().ok())
                    .collect()
            }
            "BGP.local_pref" => r.local_pref = value.parse().ok(),
            "BGP.med" => r.med = value.parse().ok(),
            "BGP.community" => r.communities = bird_tuples(value),
            "BGP.large_community" => r.large_communities = bird_tuples(value),
            _ => {}
        }
    }
    out
}

/// `"(64512,100) (65535,65282)"` → `["64512:100", "65535:65282"]`; also `"(64512, 1, 2)"`.
pub(super) fn bird_tuples(value: &str) -> Vec<String> {
    value
        .split(')')
        .filter_map(|t| {
            let inner = t.trim().strip_prefix('(')?;
            Some(
                inner
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(":"),
            )
        })
        .collect()
}

/// Parses `birdc show protocols all`: BGP protocols with a concrete neighbour (the dynamic
/// `neighbor range` templates are skipped), keyed by protocol name.
pub(super) fn parse_bird_protocols(text: &str) -> BTreeMap<String, Neighbor> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Neighbor, bool)> = None;
    for line in text.lines() {
        if line.starts_with("BIRD ") || line.starts_with("Name ") || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') && !line.starts_with('\t') {
            keep_bird_session(current.take(), &mut out);
            let mut w = line.split_whitespace();
            let name = w.next().unwrap_or_default().to_string();
            let is_bgp = w.next() == Some("BGP");
            current = Some((name, Neighbor::default(), is_bgp));
            continue;
        }
        let Some((_, n, _)) = current.as_mut() else {
            continue;
        };
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "BGP state" => n.state = value.to_lowercase(),
            "Neighbor address" => n.address = value.to_string(),
            "Neighbor range" => n.address = value.to_string(),
            "Neighbor AS" => n.peer_asn = value.parse().ok(),
            "Routes" => {
                // "1 imported, 0 exported, 0 preferred": summed over the channels
                let imported: u64 = value
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                n.prefixes_received = Some(n.prefixes_received.unwrap_or(0) + imported);
            }
            _ => {}
        }
    }
    keep_bird_session(current.take(), &mut out);
    out
}

/// Keeps a parsed BIRD protocol when it is a BGP session with one neighbour (not a range).
pub(super) fn keep_bird_session(
    c: Option<(String, Neighbor, bool)>,
    out: &mut BTreeMap<String, Neighbor>,
) {
    if let Some((name, n, true)) = c
        && !n.address.is_empty()
        && !n.address.contains('/')
    {
        out.insert(name, n);
    }
}

pub(super) fn parse_frr_neighbors(v: &Value) -> Result<Vec<Neighbor>> {
    let Some(map) = v.as_object() else {
        bail!("FRR neighbors JSON is not an object: {v}");
    };
    Ok(map
        .iter()
        .filter(|(_, n)| n.get("bgpState").is_some())
        .map(|(addr, n)| {
            let state = n
                .get("bgpState")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            let received = n
                .get("addressFamilyInfo")
                .and_then(Value::as_object)
                .map(|afs| {
                    afs.values()
                        .filter_map(|af| af.get("acceptedPrefixCounter").and_then(Value::as_u64))
                        .sum()
                });
            Neighbor {
                address: addr.clone(),
                peer_asn: u32_of(n.get("remoteAs")),
                uptime: (state == "established")
                    .then(|| n.get("bgpTimerUpMsec").and_then(Value::as_u64))
                    .flatten()
                    .map(Duration::from_millis),
                established_count: n.get("connectionsEstablished").and_then(Value::as_u64),
                dropped_count: n.get("connectionsDropped").and_then(Value::as_u64),
                prefixes_received: received,
                state,
            }
        })
        .collect())
}

/// GoBGP's `session_state` is the API enum (6 = established) or its name, depending on version.
pub(super) fn gobgp_state(v: Option<&Value>) -> String {
    const NAMES: [&str; 7] = [
        "unknown",
        "idle",
        "connect",
        "active",
        "opensent",
        "openconfirm",
        "established",
    ];
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| NAMES.get(usize::try_from(i).ok()?))
            .map(|s| (*s).to_string())
            .unwrap_or_else(|| n.to_string()),
        Some(Value::String(s)) => s.to_lowercase().replace(['_', '-'], ""),
        _ => "unknown".to_string(),
    }
}

pub(super) fn parse_gobgp_neighbors(v: &Value, now: u64) -> Result<Vec<Neighbor>> {
    let Some(list) = v.as_array() else {
        bail!("gobgp neighbor JSON is not a list: {v}");
    };
    Ok(list
        .iter()
        .map(|n| {
            let state = gobgp_state(n.pointer("/state/session_state"));
            let up = state == "established";
            let flops = n
                .pointer("/state/flops")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let received = n.get("afi_safis").and_then(Value::as_array).map(|afs| {
                afs.iter()
                    .filter_map(|af| af.pointer("/state/received").and_then(Value::as_u64))
                    .sum()
            });
            Neighbor {
                address: n
                    .pointer("/state/neighbor_address")
                    .or_else(|| n.pointer("/conf/neighbor_address"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                peer_asn: u32_of(n.pointer("/state/peer_asn"))
                    .or_else(|| u32_of(n.pointer("/conf/peer_asn"))),
                established_count: Some(flops + u64::from(up)),
                dropped_count: Some(flops),
                uptime: up
                    .then(|| {
                        n.pointer("/timers/state/uptime/seconds")
                            .and_then(Value::as_u64)
                    })
                    .flatten()
                    .map(|since| Duration::from_secs(now.saturating_sub(since))),
                prefixes_received: received,
                state,
            }
        })
        .collect())
}

pub(super) fn parse_kernel_routes(v: &Value) -> Vec<KernelRoute> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut next_hops: Vec<String> = match r.get("nexthops").and_then(Value::as_array) {
                Some(legs) => legs
                    .iter()
                    .filter_map(|l| l.get("gateway").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect(),
                None => r
                    .get("gateway")
                    .and_then(Value::as_str)
                    .map(|g| vec![g.to_string()])
                    .unwrap_or_default(),
            };
            next_hops.sort();
            KernelRoute {
                dst: r
                    .get("dst")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                next_hops,
                protocol: r
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect()
}

pub(super) fn parse_md5_counters(netstat: &str) -> Result<Md5Counters> {
    // pairs of lines: "TcpExt: Name1 Name2 ..." then "TcpExt: 1 2 ..."
    let lines: Vec<&str> = netstat.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let map: BTreeMap<&str, u64> = names
            .split_whitespace()
            .zip(values.split_whitespace())
            .skip(1)
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let get = |k: &str| map.get(k).copied().unwrap_or(0);
        return Ok(Md5Counters {
            not_found: get("TCPMD5NotFound"),
            failure: get("TCPMD5Failure"),
            unexpected: get("TCPMD5Unexpected"),
        });
    }
    bail!("no TcpExt counters in /proc/net/netstat")
}

/// `show ip route <prefix> json`: `{"<prefix>": [{"protocol", "selected", "nexthops": [{"ip",
/// "fib"}]}]}`; the selected entry with its FIB next hops (sorted).
pub(super) fn parse_zebra_route(v: &Value, prefix: &str) -> Option<KernelRoute> {
    let entries = v.get(prefix)?.as_array()?;
    let e = entries
        .iter()
        .find(|e| e.get("selected").and_then(Value::as_bool) == Some(true))?;
    let mut next_hops: Vec<String> = e
        .get("nexthops")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|h| h.get("fib").and_then(Value::as_bool) == Some(true))
        .filter_map(|h| h.get("ip").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    next_hops.sort();
    Some(KernelRoute {
        dst: prefix.to_string(),
        next_hops,
        protocol: e
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// One neighbour of FRR's `show bgp neighbors json` → its graceful-restart state.
pub(super) fn parse_frr_graceful_restart(n: &Value) -> super::FrrGracefulRestart {
    let gr = n.get("gracefulRestartInfo");
    let flag = |key: &str| gr.and_then(|g| g.get(key)).and_then(Value::as_bool) == Some(true);
    let mut eor: Vec<Family> = gr
        .and_then(|g| g.get("endOfRibRecv"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_bool() == Some(true))
                .filter_map(|(k, _)| match k.as_str() {
                    "ipv4Unicast" => Some(Family::Ipv4),
                    "ipv6Unicast" => Some(Family::Ipv6),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for (key, fam) in [("ipv4Unicast", Family::Ipv4), ("ipv6Unicast", Family::Ipv6)] {
        let per_af = gr
            .and_then(|g| g.pointer(&format!("/{key}/endOfRibStatus/endOfRibRecv")))
            .and_then(Value::as_bool);
        if per_af == Some(true) && !eor.contains(&fam) {
            eor.push(fam);
        }
    }
    super::FrrGracefulRestart {
        remote_restarts: gr
            .and_then(|g| g.get("remoteGrMode"))
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("Restart")),
        r_bit: flag("rBit"),
        end_of_rib_received: eor,
    }
}
