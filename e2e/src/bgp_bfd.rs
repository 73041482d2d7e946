//! BFD on the rig's routers for the e2e tests of issue 16 (`tests/bgp_bfd*.rs`): reading
//! FRR's bfdd (`show bfd peers json`, `show bfd peers counters json`) and BIRD's BFD
//! (`birdc show bfd sessions`, text: BIRD 2.0 has no JSON), and three guards that change the
//! rig only while a test holds them and put it back when dropped (also when the test fails):
//!
//! - [`BirdBfd`]: BIRD with BFD — a copy of the rig's `bird.conf` whose dynamic BGP
//!   protocols (the speakers' sessions) say `bfd on` plus a `protocol bfd` with the wanted
//!   intervals, loaded by `birdc configure "<copy>"`; dropping it reloads the rig's own file
//!   (`birdc configure`), which has no BFD.
//! - [`FrrBfd`]: FRR bfdd lines under `bfd` (profiles, static `peer`s), removed with `no …`.
//! - [`TtlRewrite`]: an nftables rule in a node's netns that rewrites the TTL of the BFD
//!   multihop packets it receives (UDP 4784) — the rig's LAN is one L2 segment, so a
//!   "several hops away" router is simulated by lowering the TTL the node's socket sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::Rig;
use crate::bgp::birdc;

/// One line of BIRD's `show bfd sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdBfdSession {
    /// The neighbour's address.
    pub address: String,
    /// `Up`, `Down`, `Init`, `AdminDown`.
    pub state: String,
    /// The negotiated transmit interval in ms (the "Interval" column).
    pub interval_ms: u64,
    /// The detection time in ms (the "Timeout" column).
    pub timeout_ms: u64,
}

impl BirdBfdSession {
    /// Up with `ms` × 3 negotiated.
    pub fn up_at(&self, ms: u64) -> bool {
        self.state == "Up" && self.interval_ms == ms && self.timeout_ms == 3 * ms
    }
}

/// Parses `birdc show bfd sessions` (2.0.12):
/// `172.18.0.21   eth0   Up   04:08:33.652    0.300    0.900`.
pub fn parse_bird_bfd(text: &str) -> Vec<BirdBfdSession> {
    let ms = |s: &str| -> Option<u64> {
        let (a, b) = s.split_once('.')?;
        Some(a.parse::<u64>().ok()? * 1000 + b.parse::<u64>().ok()?)
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 6 || f[0].parse::<std::net::IpAddr>().is_err() {
                return None;
            }
            Some(BirdBfdSession {
                address: f[0].to_string(),
                state: f[2].to_string(),
                interval_ms: ms(f[4])?,
                timeout_ms: ms(f[5])?,
            })
        })
        .collect()
}

/// BIRD's BFD sessions by neighbour address (empty when BIRD runs no BFD).
pub fn bird_bfd_sessions(rig: &Rig) -> Result<BTreeMap<String, BirdBfdSession>> {
    let out = birdc(rig, &["show", "bfd", "sessions"])?;
    Ok(parse_bird_bfd(&out)
        .into_iter()
        .map(|s| (s.address.clone(), s))
        .collect())
}

/// BIRD with BFD on its speaker sessions while held; the rig's own config back when dropped.
pub struct BirdBfd<'a> {
    rig: &'a Rig,
    file: PathBuf,
}

impl<'a> BirdBfd<'a> {
    /// Loads the rig's `bird.conf` with `bfd on` on every dynamic BGP protocol and a
    /// `protocol bfd` at `ms` × 3 (min rx = min tx = `ms`); called again, re-tunes.
    pub fn enable(rig: &'a Rig, ms: u32) -> Result<Self> {
        let sock = rig.bird_socket();
        let dir = Path::new(&sock).parent().context("BIRD socket directory")?;
        let base = std::fs::read_to_string(dir.join("bird.conf"))
            .with_context(|| format!("the rig's {}/bird.conf", dir.display()))?;
        let file = dir.join("bird-bfd-e2e.conf");
        std::fs::write(&file, bird_bfd_config(&base, ms)?)?;
        let guard = BirdBfd { rig, file };
        guard.configure(Some(&guard.file))?;
        Ok(guard)
    }

    /// Loads the same with `ms` × 3 (BIRD re-tunes its running sessions: a poll sequence).
    pub fn retune(&self, ms: u32) -> Result<()> {
        let base = self.file.with_file_name("bird.conf");
        let base = std::fs::read_to_string(&base)?;
        std::fs::write(&self.file, bird_bfd_config(&base, ms)?)?;
        self.configure(Some(&self.file))
    }

    fn configure(&self, file: Option<&Path>) -> Result<()> {
        let quoted = file.map(|f| format!("\"{}\"", f.display()));
        let mut args = vec!["configure"];
        args.extend(quoted.as_deref());
        let out = birdc(self.rig, &args)?;
        if !out.contains("Reconfigur") {
            bail!("birdc configure {quoted:?}: {out}");
        }
        Ok(())
    }
}

impl Drop for BirdBfd<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.configure(None) {
            eprintln!("restoring BIRD's configuration failed: {e:#}");
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The rig's BIRD config `base` with `bfd on` in each dynamic (`dynamic name`) BGP protocol
/// and a `protocol bfd` at `ms` × 3; those protocols trace their states and events to the
/// log (`trace` added to `log stderr`), where BIRD says "BFD session down", and wait 1–5 s
/// after an error before accepting the speaker again (BIRD's default, 60–300 s, would keep a
/// node that BFD took down out for minutes after the heal).
pub fn bird_bfd_config(base: &str, ms: u32) -> Result<String> {
    let mut out = String::new();
    let mut n = 0;
    for l in base.lines() {
        if l.starts_with("protocol bgp dyn") && l.contains("dynamic name") {
            out.push_str(&l.replacen(
                "dynamic name",
                "bfd on; error wait time 1, 5; debug { states, events }; dynamic name",
                1,
            ));
            n += 1;
        } else if l.starts_with("log stderr {") && !l.contains("trace") {
            out.push_str(&l.replacen("log stderr {", "log stderr { trace,", 1));
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    if n == 0 {
        bail!("no dynamic BGP protocol in BIRD's config:\n{base}");
    }
    out.push_str(&format!(
        "protocol bfd bfd_e2e {{\n  interface \"*\" {{ min rx interval {ms} ms; min tx interval {ms} ms; multiplier 3; }};\n}}\n"
    ));
    Ok(out)
}

/// FRR bfdd configuration lines (each a path of `configure terminal` commands under `bfd`)
/// while held; each removed with its `no` form when dropped, last first.
pub struct FrrBfd<'a> {
    rig: &'a Rig,
    /// `(parent lines, the undoing line)` of everything added.
    added: Vec<(Vec<String>, String)>,
}

impl<'a> FrrBfd<'a> {
    /// Nothing configured yet.
    pub fn new(rig: &'a Rig) -> Self {
        FrrBfd {
            rig,
            added: Vec::new(),
        }
    }

    /// `bfd` → `node` → `settings…` (e.g. `profile X` with `passive-mode`, or
    /// `peer A multihop local-address B` with `profile X`); `node` is removed at drop.
    pub fn add(&mut self, node: &str, settings: &[&str]) -> Result<()> {
        let mut lines = vec!["bfd", node];
        lines.extend_from_slice(settings);
        let undo = format!("no {node}");
        if !self.added.iter().any(|(_, u)| *u == undo) {
            self.added.push((vec!["bfd".to_string()], undo));
        }
        self.rig.frr_configure(&lines)?;
        Ok(())
    }

    /// A BGP-side line under `router bgp <asn>` (e.g. `neighbor SPEAKERS bfd profile X`), its
    /// `no` form (`undo`, e.g. `no neighbor SPEAKERS bfd`) run at drop.
    pub fn bgp(&mut self, asn: u32, line: &str, undo: &str) -> Result<()> {
        let router = format!("router bgp {asn}");
        self.rig.frr_configure(&[&router, line])?;
        self.added.push((vec![router], undo.to_string()));
        Ok(())
    }
}

impl Drop for FrrBfd<'_> {
    fn drop(&mut self) {
        for (parents, undo) in self.added.iter().rev() {
            let mut lines: Vec<&str> = parents.iter().map(String::as_str).collect();
            lines.push(undo);
            if let Err(e) = self.rig.frr_configure(&lines) {
                eprintln!("FRR's {undo:?} failed: {e:#}");
            }
        }
    }
}

/// FRR's BFD peers (`show bfd peers json`) with `addr`, single hop or multihop.
pub fn frr_bfd_peer(rig: &Rig, addr: &str, multihop: bool) -> Result<Option<Value>> {
    frr_find(rig, "show bfd peers json", addr, multihop)
}

/// FRR's counters of that session (`show bfd peers counters json`: `control-packet-input`,
/// `control-packet-output`, `session-up`, `session-down`).
pub fn frr_bfd_counters(rig: &Rig, addr: &str, multihop: bool) -> Result<Option<Value>> {
    frr_find(rig, "show bfd peers counters json", addr, multihop)
}

fn frr_find(rig: &Rig, cmd: &str, addr: &str, multihop: bool) -> Result<Option<Value>> {
    let v = rig.frr_json(cmd)?;
    Ok(v.as_array().into_iter().flatten().find_map(|p| {
        (p["peer"].as_str() == Some(addr) && p["multihop"].as_bool().unwrap_or(false) == multihop)
            .then(|| p.clone())
    }))
}

/// An nftables table in `node`'s netns setting the TTL of received IPv4 UDP packets to port
/// 4784 (BFD multihop) to `ttl`; deleted when dropped.
pub struct TtlRewrite<'a> {
    rig: &'a Rig,
    node: String,
}

/// The nftables table [`TtlRewrite`] owns.
const TTL_TABLE: &str = "flb_e2e_bfd_ttl";

impl<'a> TtlRewrite<'a> {
    /// Installs (or replaces) the rule.
    pub fn set(rig: &'a Rig, node: &str, ttl: u8) -> Result<Self> {
        let _ = rig.exec_node(node, &["nft", "delete", "table", "inet", TTL_TABLE]);
        rig.exec_node(node, &["nft", "add", "table", "inet", TTL_TABLE])?;
        rig.exec_node(
            node,
            &[
                "nft",
                &format!(
                    "add chain inet {TTL_TABLE} pre {{ type filter hook prerouting priority -300; policy accept; }}"
                ),
            ],
        )?;
        let ttl = ttl.to_string();
        rig.exec_node(
            node,
            &[
                "nft", "add", "rule", "inet", TTL_TABLE, "pre", "udp", "dport", "4784", "ip",
                "ttl", "set", &ttl,
            ],
        )?;
        Ok(TtlRewrite {
            rig,
            node: node.to_string(),
        })
    }
}

impl Drop for TtlRewrite<'_> {
    fn drop(&mut self) {
        if let Err(e) = self
            .rig
            .exec_node(&self.node, &["nft", "delete", "table", "inet", TTL_TABLE])
        {
            eprintln!("removing the TTL rewrite on {} failed: {e:#}", self.node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_bfd_sessions_parse() {
        let text = "BIRD 2.0.12 ready.\nbfd1:\nIP address                Interface  State      Since         Interval  Timeout\n\
            172.18.0.21               eth0       Up         04:08:33.652    0.050    0.150\n\
            fc00:f853:ccd:e793::22    eth0       Down       04:08:33.652    1.000    0.000\n";
        let s = parse_bird_bfd(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].address, "172.18.0.21");
        assert!(s[0].up_at(50));
        assert!(!s[0].up_at(300));
        assert_eq!(s[1].state, "Down");
        assert_eq!(s[1].interval_ms, 1000);
    }

    #[test]
    fn bird_config_gets_bfd_on_dynamic_protocols_only() {
        let base = "log stderr { info, remote };\ntemplate bgp speakers {\n  hold time 9;\n}\n\
            protocol bgp dyn1 from speakers { neighbor range 172.18.0.0/16 as 64512; dynamic name \"dyn1_\"; }\n\
            protocol bgp md5_node1 from speakers { neighbor 192.168.5.21 as 64512; password \"x\"; }\n";
        let c = bird_bfd_config(base, 50).unwrap();
        assert!(c.contains("as 64512; bfd on; error wait time 1, 5; debug { states, events }; dynamic name \"dyn1_\""));
        assert!(c.starts_with("log stderr { trace, info, remote };"));
        assert!(!c.contains("password \"x\"; bfd on"));
        assert!(c.contains("min rx interval 50 ms; min tx interval 50 ms; multiplier 3;"));
        assert!(bird_bfd_config("protocol device {}\n", 50).is_err());
    }
}
