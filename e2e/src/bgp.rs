//! The one home for reading the rig's BGP routers in e2e tests: which routers exist (FRR, GoBGP,
//! the MD5 GoBGP, BIRD, the scale collectors), their addresses and AS numbers, their RIBs and
//! sessions as typed values, and FRR's kernel (FIB) route of a prefix.
//!
//! Every BGP test reads routers through [`routes`], [`neighbors`], [`wait_route`],
//! [`wait_established`], [`kernel_route`] and [`md5_counters`] instead of parsing router output
//! itself: FRR (`vtysh -c 'show bgp ipv4 unicast json detail'`, `show bgp neighbors json`),
//! GoBGP (`gobgp -j global rib`, `gobgp -j neighbor`) and BIRD 2 (`birdc show route all`,
//! `show protocols all`, parsed from text: BIRD 2.0 has no JSON) are normalised to [`RibRoute`]
//! and [`Neighbor`]. Communities are `"ASN:VALUE"` numbers (FRR's names such as `noAdvertise`
//! are mapped back to RFC 1997 / IANA values), large communities `"GA:LD1:LD2"` (RFC 8092).
//!
//! Address plan (see `e2e/README.md`, "BGP routers"): router host numbers 1 (FRR), 2 (GoBGP),
//! 3 (BIRD), 4 (MD5 GoBGP), 5 (collectors) on every LAN subnet; node-i is host 20+i. The MD5
//! neighbours of FRR, BIRD and the MD5 GoBGP are the nodes' addresses on `192.168.5.0/24`, a
//! subnet no dynamic range covers, so a node can peer with and without MD5 at the same time.

mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{Rig, wait_for};

pub use parse::normalize_community;
use parse::{
    parse_bird_protocols, parse_bird_routes, parse_frr_neighbors, parse_frr_routes,
    parse_gobgp_neighbors, parse_gobgp_routes, parse_json, parse_kernel_routes, parse_md5_counters,
    parse_zebra_route, unix_now,
};

/// IPv4 LAN of the speakers' InternalIPs (`/16`): host `h` is `172.18.0.h`.
pub const LAN4: &str = "172.18.0";
/// IPv6 LAN (`/64`): host `h` is `fc00:f853:ccd:e793::h`.
pub const LAN6: &str = "fc00:f853:ccd:e793";
/// MD5 LAN (`/24`): static MD5 neighbours are the nodes' addresses `192.168.5.2i`.
pub const LAN4_MD5: &str = "192.168.5";
/// The MD5 LAN's IPv6 subnet (`/64`, FRR only): FRR's IPv6 MD5 neighbours are the nodes'
/// `fc00:f853:ccd:e795::2i`, a subnet no dynamic range covers.
pub const LAN6_MD5: &str = "fc00:f853:ccd:e795";
/// AS of the MD5 GoBGP (`gobgp-md5`).
pub const GOBGP_MD5_ASN: u32 = 64515;
/// AS of the scale collectors.
pub const COLLECTOR_ASN: u32 = 64516;
/// AS of BIRD: the speakers' own AS (iBGP, so LOCAL_PREF reaches it).
pub const BIRD_ASN: u32 = crate::SPEAKER_ASN;
/// BGP port of collector 1; collector `i` listens on `COLLECTOR_PORT0 + i - 1` (BGPPeer `peerPort`).
pub const COLLECTOR_PORT0: u16 = 1790;
/// Default password of every router's MD5 neighbours (rig constant, exported by `rig.sh env` as
/// `FERROLB_E2E_BGP_MD5_PASSWORD`; prefer [`Rig::bgp_md5_password`]).
pub const MD5_PASSWORD: &str = "ferrolb-e2e-md5";

/// An address family of a RIB or a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

impl Family {
    /// The family of an address or prefix (`"2001:db8::1/128"` is IPv6).
    pub fn of(prefix: &str) -> Family {
        if prefix.contains(':') {
            Family::Ipv6
        } else {
            Family::Ipv4
        }
    }

    fn word(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// One of the rig's BGP routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Router {
    /// FRR 8.4 (`flb-frr`), AS 64513, eBGP; dynamic `bgp listen range`s on every LAN subnet,
    /// MD5 neighbours on the MD5 LAN; zebra installs routes with ECMP into its netns kernel.
    Frr,
    /// GoBGP 3.10 (`flb-gobgp`), AS 64514, eBGP; dynamic neighbours (AS 64512 only).
    Gobgp,
    /// The second GoBGP (`flb-gobgp-md5`), AS 64515, eBGP; only static MD5 neighbours.
    GobgpMd5,
    /// BIRD 2.0 (`flb-bird`), AS 64512, **iBGP**; dynamic ranges plus MD5 neighbours.
    Bird,
    /// Scale collector `i` (1-based) in `flb-collect`: GoBGP, AS 64516, port `1790 + i - 1`;
    /// only running after `rig.sh collectors N` / [`Rig::start_collectors`] (or
    /// `FERROLB_E2E_COLLECTORS=N rig.sh up`).
    Collector(u16),
}

impl Router {
    /// FRR, GoBGP, the MD5 GoBGP and BIRD: the routers every rig runs.
    pub const ALL: [Router; 4] = [Router::Frr, Router::Gobgp, Router::GobgpMd5, Router::Bird];

    /// The routers with static MD5 neighbours.
    pub const WITH_MD5: [Router; 3] = [Router::Frr, Router::GobgpMd5, Router::Bird];

    /// Host number on the LAN subnets.
    pub fn host(self) -> u8 {
        match self {
            Router::Frr => 1,
            Router::Gobgp => 2,
            Router::Bird => 3,
            Router::GobgpMd5 => 4,
            Router::Collector(_) => 5,
        }
    }

    /// The router's AS.
    pub fn asn(self) -> u32 {
        match self {
            Router::Frr => crate::FRR_ASN,
            Router::Gobgp => crate::GOBGP_ASN,
            Router::GobgpMd5 => GOBGP_MD5_ASN,
            Router::Bird => BIRD_ASN,
            Router::Collector(_) => COLLECTOR_ASN,
        }
    }

    /// Whether sessions with the speakers (AS 64512) are iBGP (LOCAL_PREF is sent).
    pub fn is_ibgp(self) -> bool {
        self.asn() == crate::SPEAKER_ASN
    }

    /// The TCP port it listens on (BGPPeer `peerPort`).
    pub fn port(self) -> u16 {
        match self {
            Router::Collector(i) => COLLECTOR_PORT0 + i.saturating_sub(1),
            _ => 179,
        }
    }

    /// Its address a speaker peers with, without MD5 (`172.18.0.h` / `fc00:f853:ccd:e793::h`).
    /// The MD5 GoBGP has no dynamic neighbours: use [`Router::md5_address`] for it.
    pub fn address(self, family: Family) -> String {
        match family {
            Family::Ipv4 => format!("{LAN4}.{}", self.host()),
            Family::Ipv6 => format!("{LAN6}::{}", self.host()),
        }
    }

    /// Its address on the MD5 LAN (`192.168.5.h`), for routers with MD5 neighbours.
    pub fn md5_address(self) -> Option<String> {
        Self::WITH_MD5
            .contains(&self)
            .then(|| format!("{LAN4_MD5}.{}", self.host()))
    }

    /// Its IPv6 address on the MD5 LAN (`fc00:f853:ccd:e795::h`): FRR only (the other
    /// routers have no IPv6 MD5 neighbours).
    pub fn md5_address6(self) -> Option<String> {
        (self == Router::Frr).then(|| format!("{LAN6_MD5}::{}", self.host()))
    }

    /// Its network namespace in `rig`'s instance.
    pub fn ns(self, rig: &Rig) -> String {
        match self {
            Router::Frr => rig.frr_ns(),
            Router::Gobgp => rig.gobgp_ns(),
            Router::GobgpMd5 => rig.gobgp_md5_ns(),
            Router::Bird => rig.bird_ns(),
            Router::Collector(_) => rig.collect_ns(),
        }
    }

    /// gRPC API port of a GoBGP router inside its netns (`gobgp -p`).
    fn gobgp_api_port(self) -> u16 {
        match self {
            Router::Collector(i) => 50051 + i,
            _ => 50051,
        }
    }
}

/// A node's address a speaker uses towards routers without MD5 (`node-2` → `172.18.0.22`).
pub fn node_address(node: &str, family: Family) -> Result<String> {
    let h = node_host(node)?;
    Ok(match family {
        Family::Ipv4 => format!("{LAN4}.{h}"),
        Family::Ipv6 => format!("{LAN6}::{h}"),
    })
}

/// A node's address on the MD5 LAN (`node-2` → `192.168.5.22`): the routers' MD5 neighbour.
pub fn node_md5_address(node: &str) -> Result<String> {
    Ok(format!("{LAN4_MD5}.{}", node_host(node)?))
}

/// A node's IPv6 address on the MD5 LAN (`node-2` → `fc00:f853:ccd:e795::22`): FRR's IPv6
/// MD5 neighbour.
pub fn node_md5_address6(node: &str) -> Result<String> {
    Ok(format!("{LAN6_MD5}::{}", node_host(node)?))
}

fn node_host(node: &str) -> Result<u32> {
    let i: u32 = node
        .strip_prefix("node-")
        .and_then(|i| i.parse().ok())
        .filter(|i| (1..=9).contains(i))
        .with_context(|| format!("not a rig node name: {node}"))?;
    Ok(20 + i)
}

/// One path of a prefix in a router's RIB (a prefix learnt from three nodes has three).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RibRoute {
    /// `"192.168.10.5/32"`, `"2001:db8::1/128"`.
    pub prefix: String,
    /// The neighbour the path came from (its address), empty when the router does not say.
    pub peer: String,
    /// Next hops of the path: IPv4; or IPv6 global then link-local when both are sent.
    pub next_hops: Vec<String>,
    /// AS_PATH, flattened (empty for an iBGP path originated by the peer's AS).
    pub as_path: Vec<u32>,
    /// COMMUNITIES as `"ASN:VALUE"` numbers, in the router's order.
    pub communities: Vec<String>,
    /// LARGE_COMMUNITY as `"GA:LD1:LD2"`.
    pub large_communities: Vec<String>,
    /// LOCAL_PREF when the attribute was received (iBGP); `None` on eBGP paths.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC when received.
    pub med: Option<u32>,
    /// The router chose this path as best (BIRD: primary `*`).
    pub best: bool,
    /// FRR keeps the path as stale for a restarting neighbour (RFC 4724 helper; FRR only).
    pub stale: bool,
}

/// A BGP session of a router, normalised across FRR, GoBGP and BIRD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Neighbor {
    /// The neighbour's address (a speaker's node address).
    pub address: String,
    /// Its AS when known.
    pub peer_asn: Option<u32>,
    /// Lower-case RFC 4271 state: `idle`, `connect`, `active`, `opensent`, `openconfirm`,
    /// `established` (BIRD's `down`/`start`/`passive`-style states are passed through lower-cased).
    pub state: String,
    /// How many times the session reached Established: FRR `connectionsEstablished`; GoBGP
    /// `flops` (+1 while established); BIRD: `None` (use [`Neighbor::uptime`]).
    pub established_count: Option<u64>,
    /// How many times an Established session went down: FRR `connectionsDropped`; GoBGP
    /// `flops`; BIRD: `None`. With `established_count`, proves "no session was reset".
    pub dropped_count: Option<u64>,
    /// Time since the session came up, while established (FRR, GoBGP; BIRD: `None`).
    pub uptime: Option<Duration>,
    /// Prefixes received in all families, when the router says.
    pub prefixes_received: Option<u64>,
}

impl Neighbor {
    /// `state == "established"`.
    pub fn is_established(&self) -> bool {
        self.state == "established"
    }
}

/// Every path in `router`'s RIB for `family`.
pub fn routes(rig: &Rig, router: Router, family: Family) -> Result<Vec<RibRoute>> {
    let ns = router.ns(rig);
    match router {
        Router::Frr => {
            let cmd = format!("show bgp {} unicast json detail", family.word());
            parse_frr_routes(&frr_json(rig, &cmd)?)
        }
        Router::Gobgp | Router::GobgpMd5 | Router::Collector(_) => {
            let port = router.gobgp_api_port().to_string();
            let out = rig.netns_exec(
                &ns,
                &[
                    "gobgp",
                    "-p",
                    &port,
                    "-j",
                    "global",
                    "rib",
                    "-a",
                    family.word(),
                ],
            )?;
            parse_gobgp_routes(&parse_json(&out)?)
        }
        Router::Bird => {
            let table = match family {
                Family::Ipv4 => "master4",
                Family::Ipv6 => "master6",
            };
            let rib = birdc(rig, &["show", "route", "all", "table", table])?;
            let protocols = birdc(rig, &["show", "protocols", "all"])?;
            let peers: BTreeMap<String, String> = parse_bird_protocols(&protocols)
                .into_iter()
                .map(|(name, n)| (name, n.address))
                .collect();
            Ok(parse_bird_routes(&rib, &peers))
        }
    }
}

/// The paths of one prefix in `router`'s RIB (empty when absent).
pub fn route(rig: &Rig, router: Router, prefix: &str) -> Result<Vec<RibRoute>> {
    let mut all = routes(rig, router, Family::of(prefix))?;
    all.retain(|r| r.prefix == prefix);
    Ok(all)
}

/// Every configured or dynamic BGP session of `router` (BIRD's listening templates excluded).
pub fn neighbors(rig: &Rig, router: Router) -> Result<Vec<Neighbor>> {
    match router {
        Router::Frr => parse_frr_neighbors(&frr_json(rig, "show bgp neighbors json")?),
        Router::Gobgp | Router::GobgpMd5 | Router::Collector(_) => {
            let port = router.gobgp_api_port().to_string();
            let out = rig.netns_exec(&router.ns(rig), &["gobgp", "-p", &port, "-j", "neighbor"])?;
            parse_gobgp_neighbors(&parse_json(&out)?, unix_now())
        }
        Router::Bird => Ok(
            parse_bird_protocols(&birdc(rig, &["show", "protocols", "all"])?)
                .into_values()
                .collect(),
        ),
    }
}

/// The session of `router` with `address` (a node address), if the router has one.
pub fn neighbor(rig: &Rig, router: Router, address: &str) -> Result<Option<Neighbor>> {
    // BIRD keeps a spawned dynamic protocol per address after its session closed: prefer the
    // Established entry when an address has more than one
    let mut found: Vec<Neighbor> = neighbors(rig, router)?
        .into_iter()
        .filter(|n| n.address == address)
        .collect();
    found.sort_by_key(|n| !n.is_established());
    Ok(found.into_iter().next())
}

/// Polls `router`'s RIB (every 250 ms, at most `timeout`) until `check` accepts the paths of
/// `prefix` (possibly none: `|p| p.is_empty()` waits for a withdrawal); returns them. The
/// failure message carries the last paths seen and the router's sessions.
pub async fn wait_route(
    rig: &Rig,
    router: Router,
    prefix: &str,
    timeout: Duration,
    check: impl Fn(&[RibRoute]) -> bool,
) -> Result<Vec<RibRoute>> {
    let last = std::cell::RefCell::new(Vec::new());
    let what = format!("{prefix} in {router:?}'s RIB to match");
    wait_for(
        &what,
        timeout,
        || {
            format!(
                "last paths of {prefix}: {:?}\nsessions: {:?}",
                last.borrow(),
                neighbors(rig, router)
            )
        },
        || {
            let r = route(rig, router, prefix);
            let ok = match r {
                Ok(paths) => {
                    let ok = check(&paths);
                    *last.borrow_mut() = paths.clone();
                    Ok(ok.then_some(paths))
                }
                Err(e) => Err(e),
            };
            async move { ok }
        },
    )
    .await
}

/// Waits (at most `timeout`) until `router` has an Established session with `address`.
pub async fn wait_established(
    rig: &Rig,
    router: Router,
    address: &str,
    timeout: Duration,
) -> Result<Neighbor> {
    wait_for(
        &format!("{router:?} Established with {address}"),
        timeout,
        || format!("sessions: {:?}", neighbors(rig, router)),
        || {
            let n = neighbor(rig, router, address).map(|n| n.filter(Neighbor::is_established));
            async move { n }
        },
    )
    .await
}

/// FRR's graceful-restart view of one neighbour (`show bgp neighbors <a> json`,
/// `gracefulRestartInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrrGracefulRestart {
    /// The neighbour advertised graceful restart with address families (FRR's remote mode
    /// `Restart`), so FRR helps it restart.
    pub remote_restarts: bool,
    /// The Restart State (R) bit of the neighbour's last OPEN.
    pub r_bit: bool,
    /// Families whose End-of-RIB FRR received from the neighbour on the current session.
    pub end_of_rib_received: Vec<Family>,
}

/// FRR's graceful-restart state of its session with `address`; `None` without that session.
pub fn frr_graceful_restart(rig: &Rig, address: &str) -> Result<Option<FrrGracefulRestart>> {
    let v = frr_json(rig, &format!("show bgp neighbors {address} json"))?;
    Ok(v.get(address).map(parse::parse_frr_graceful_restart))
}

/// A route in FRR's netns kernel table (what zebra installed; ECMP = several next hops).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KernelRoute {
    /// Destination as the kernel prints it (`"192.168.10.5"` for a /32).
    pub dst: String,
    /// Gateways, sorted (one per ECMP leg).
    pub next_hops: Vec<String>,
    /// `protocol` (`"bgp"` for zebra's BGP routes).
    pub protocol: String,
}

/// FRR's kernel route for exactly `prefix` (`ip -j route show <prefix>` in `flb-frr`), if any.
pub fn kernel_route(rig: &Rig, prefix: &str) -> Result<Option<KernelRoute>> {
    let v6 = Family::of(prefix) == Family::Ipv6;
    let mut cmd = vec!["ip", "-j"];
    if v6 {
        cmd.push("-6");
    }
    cmd.extend(["route", "show", "exact", prefix]);
    let out = rig.netns_exec(&rig.frr_ns(), &cmd)?;
    Ok(parse_kernel_routes(&parse_json(if out.trim().is_empty() {
        "[]"
    } else {
        &out
    })?)
    .into_iter()
    .next())
}

/// FRR's kernel routes inside `prefix` (`ip -j route show root <prefix>` in `flb-frr`): every
/// installed route whose destination lies in it, e.g. a pool's 1,000 /32s in a burst.
pub fn kernel_routes_within(rig: &Rig, prefix: &str) -> Result<Vec<KernelRoute>> {
    let mut cmd = vec!["ip", "-j"];
    if Family::of(prefix) == Family::Ipv6 {
        cmd.push("-6");
    }
    cmd.extend(["route", "show", "root", prefix]);
    let out = rig.netns_exec(&rig.frr_ns(), &cmd)?;
    Ok(parse_kernel_routes(&parse_json(
        if out.trim().is_empty() { "[]" } else { &out },
    )?))
}

/// zebra's selected route for exactly `prefix` (`show ip[v6] route <prefix> json` in FRR), with
/// the next hops zebra installed in the FIB (`"fib": true`); `None` when zebra has none. Tells a
/// BGP path FRR did not install apart from a kernel problem (compare [`kernel_route`]).
pub fn zebra_route(rig: &Rig, prefix: &str) -> Result<Option<KernelRoute>> {
    let ip = match Family::of(prefix) {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ipv6",
    };
    let v = frr_json(rig, &format!("show {ip} route {prefix} json"))?;
    Ok(parse_zebra_route(&v, prefix))
}

/// The kernel's TCP-MD5 counters in a router's netns (`/proc/net/netstat`): segments that lacked
/// an expected signature (`not_found`: a speaker without a password), carried a wrong one
/// (`failure`: a wrong password), or carried one that was not expected (`unexpected`).
/// Per netns, so per router (collectors share theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Md5Counters {
    /// `TCPMD5NotFound`.
    pub not_found: u64,
    /// `TCPMD5Failure`.
    pub failure: u64,
    /// `TCPMD5Unexpected`.
    pub unexpected: u64,
}

impl Md5Counters {
    /// All three added up.
    pub fn total(&self) -> u64 {
        self.not_found + self.failure + self.unexpected
    }
}

/// [`Md5Counters`] of `router`'s netns now.
pub fn md5_counters(rig: &Rig, router: Router) -> Result<Md5Counters> {
    let netstat = rig.netns_exec(&router.ns(rig), &["cat", "/proc/net/netstat"])?;
    parse_md5_counters(&netstat)
}

fn frr_json(rig: &Rig, command: &str) -> Result<Value> {
    rig.frr_json(command)
}

pub(crate) fn birdc(rig: &Rig, args: &[&str]) -> Result<String> {
    let sock = rig.bird_socket();
    let mut cmd = vec!["birdc", "-s", &sock];
    cmd.extend_from_slice(args);
    let out = rig.netns_exec(&rig.bird_ns(), &cmd)?;
    if out.lines().any(|l| l.starts_with("syntax error")) {
        bail!("birdc {args:?}: {out}");
    }
    Ok(out)
}

/// BIRD's identity of an Established session: its protocol (BIRD spawns one per dynamic
/// session) and the time it came up, from the summary line
/// (`dyn1_4 BGP --- up 19:40:01.123 Established`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdSession {
    /// The protocol's name (`dyn1_4`).
    pub protocol: String,
    /// The "since" column as printed (`19:40:01.123`).
    pub since: String,
}

impl BirdSession {
    /// The same session as `earlier`: the same protocol, up since the same time give or take
    /// one second (BIRD prints "since" as wall clock derived from its monotonic clock at each
    /// query, so it wobbles by a millisecond: seen on the rig, `…:37.922` then `…:37.923`).
    /// A session that went down and came back has a new protocol or a later "since".
    pub fn same_as(&self, earlier: &BirdSession) -> bool {
        if self.protocol != earlier.protocol {
            return false;
        }
        match (ms_of_day(&self.since), ms_of_day(&earlier.since)) {
            (Some(now), Some(then)) => {
                let d = now.abs_diff(then);
                d.min(86_400_000 - d) <= 1_000
            }
            _ => self.since == earlier.since,
        }
    }
}

/// `hh:mm:ss[.fff]` as milliseconds since midnight.
fn ms_of_day(t: &str) -> Option<u64> {
    let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
    let mut parts = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || frac.len() > 3 {
        return None;
    }
    let ms = frac.parse::<u64>().ok()? * 10_u64.pow(3 - u32::try_from(frac.len()).ok()?);
    Some(((h * 60 + m) * 60 + s) * 1_000 + ms)
}

/// BIRD's Established sessions by neighbour address (BIRD has no connection counters;
/// [`Neighbor::uptime`] is `None` for it): compare with [`BirdSession::same_as`] to prove a
/// session was not reset.
pub fn bird_session_ids(rig: &Rig) -> Result<BTreeMap<String, BirdSession>> {
    let all = birdc(rig, &["show", "protocols", "all"])?;
    let summary = birdc(rig, &["show", "protocols"])?;
    let mut out = BTreeMap::new();
    for (name, n) in parse_bird_protocols(&all) {
        if !n.is_established() {
            continue;
        }
        let fields = summary
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name.as_str()));
        if let Some(f) = fields {
            let session = BirdSession {
                protocol: name.clone(),
                since: f.get(4).map(|s| (*s).to_string()).unwrap_or_default(),
            };
            out.insert(n.address, session);
        }
    }
    Ok(out)
}
