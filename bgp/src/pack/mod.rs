//! UPDATE packing and the Adj-RIB-Out (RFC 4271 §3.2, §9.2).
//!
//! MetalLB's native speaker sends one UPDATE per prefix and all withdrawals in one UPDATE
//! with no 4,096-byte split (it breaks past ~814 /32s; `metallb-bgp.md` "native wire flaws").
//! Here [`Packer`] groups prefixes by family and attributes and fills each UPDATE up to 4,096
//! octets — also when RFC 8654 extended messages were negotiated (received messages may be
//! larger; sent ones exceed 4,096 only for a route whose attributes alone do not fit, see
//! [`Packer::fill_limit`]): IPv4 in the classic NLRI/withdrawn
//! fields, IPv6 in MP_REACH_NLRI/MP_UNREACH_NLRI (RFC 4760). [`AdjRibOut`] remembers what was
//! sent and turns a desired table into the minimal batch: changed or new prefixes announced,
//! removed ones withdrawn, a full re-send after ROUTE-REFRESH (RFC 2918), and End-of-RIB
//! markers (RFC 4724 §2) after the initial table.
//!
//! Tables are [`RouteTable`]s: prefix → shared [`RouteAttrs`]. Almost every prefix of a peer
//! carries the same attributes, so [`Interner`] hands out one allocation per distinct value
//! and the desired table, the Adj-RIB-Out and the speaker's per-session table hold pointers
//! to it instead of one copy (with three `Vec`s) per prefix.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::message::update::attr::next_hop_of;
use crate::message::{CodecCtx, HEADER_LEN, MAX_LEN, MpReach, PathAttrs, Update};
use crate::types::{AsSegment, Family, LargeCommunity, Origin, SegmentKind, prefix_wire_len};

#[cfg(test)]
mod tests;

/// Default LOCAL_PREF on iBGP when none is configured (FRR's, which MetalLB's FRR mode uses;
/// the native speaker sent 0).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// What to announce for one prefix (a MetalLB BGPAdvertisement's effect on one peer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteAttrs {
    /// ORIGIN (MetalLB announces IGP).
    pub origin: Origin,
    /// AS_SEQUENCE before the local AS (empty for locally originated routes).
    pub as_path: Vec<u32>,
    /// Next hop; of the prefix's family, or IPv6 for an IPv4 prefix when the session
    /// negotiated RFC 8950 ([`Packer::ipv4_over_ipv6_next_hop`]).
    pub next_hop: IpAddr,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF, sent on iBGP only ([`DEFAULT_LOCAL_PREF`] when unset).
    pub local_pref: Option<u32>,
    /// COMMUNITIES (no 63 limit: the attribute may use the extended length).
    pub communities: Vec<u32>,
    /// LARGE_COMMUNITY.
    pub large_communities: Vec<LargeCommunity>,
}

impl RouteAttrs {
    /// A locally originated IGP route with just a next hop.
    pub fn new(next_hop: IpAddr) -> Self {
        RouteAttrs {
            origin: Origin::Igp,
            as_path: Vec::new(),
            next_hop,
            med: None,
            local_pref: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
        }
    }
}

/// A desired or sent table: prefix → attributes, equal attributes sharing one allocation
/// ([`Interner`], [`share`]).
pub type RouteTable = BTreeMap<IpNet, Arc<RouteAttrs>>;

/// Hands out one shared [`RouteAttrs`] per distinct value.
#[derive(Debug, Default)]
pub struct Interner {
    seen: BTreeSet<Arc<RouteAttrs>>,
}

impl Interner {
    /// The shared allocation equal to `attrs` (created on first sight).
    pub fn intern(&mut self, attrs: RouteAttrs) -> Arc<RouteAttrs> {
        if let Some(a) = self.seen.get(&attrs) {
            return Arc::clone(a);
        }
        let a = Arc::new(attrs);
        self.seen.insert(Arc::clone(&a));
        a
    }
}

/// A [`RouteTable`] of `routes`, equal attributes interned into one allocation.
pub fn share(routes: impl IntoIterator<Item = (IpNet, RouteAttrs)>) -> RouteTable {
    let mut interner = Interner::default();
    routes
        .into_iter()
        .map(|(p, a)| (p, interner.intern(a)))
        .collect()
}

/// The result of packing: the UPDATEs and the prefixes that could not be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    /// UPDATEs, each within the negotiated maximum size.
    pub updates: Vec<Update>,
    /// Prefixes that are multicast, whose next hop is of the other family, or whose
    /// attributes alone exceed the maximum message size.
    pub rejected: Vec<IpNet>,
}

/// Builds size-bounded UPDATEs for one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packer {
    /// Negotiated wire format.
    pub ctx: CodecCtx,
    /// Our ASN (prepended on eBGP).
    pub local_asn: u32,
    /// iBGP session: no prepend, LOCAL_PREF sent.
    pub ibgp: bool,
    /// RFC 8950 negotiated: IPv4 prefixes may have an IPv6 next hop (sent in MP_REACH_NLRI
    /// with AFI 1).
    pub ipv4_over_ipv6_next_hop: bool,
}

/// Bytes of an UPDATE with no withdrawn routes and no attributes (header + two lengths).
const EMPTY_UPDATE: usize = HEADER_LEN + 4;
/// MP_UNREACH_NLRI overhead: flags, type, 2-octet length, AFI, SAFI.
const MP_UNREACH_OVERHEAD: usize = 7;

impl Packer {
    /// The path attributes sent for `attrs` in `family` (MP_REACH_NLRI without NLRI yet).
    pub fn wire_attrs(&self, family: Family, attrs: &RouteAttrs) -> PathAttrs {
        let mut asns = attrs.as_path.clone();
        if !self.ibgp {
            asns.insert(0, self.local_asn);
        }
        let as_path = if asns.is_empty() {
            Vec::new()
        } else {
            vec![AsSegment {
                kind: SegmentKind::Sequence,
                asns,
            }]
        };
        let mut p = PathAttrs {
            origin: Some(attrs.origin),
            as_path: Some(as_path),
            med: attrs.med,
            local_pref: self
                .ibgp
                .then(|| attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
            communities: attrs.communities.clone(),
            large_communities: attrs.large_communities.clone(),
            ..PathAttrs::default()
        };
        match (family, attrs.next_hop) {
            (Family::Ipv4Unicast, IpAddr::V4(nh)) => p.next_hop = Some(nh),
            (_, nh) => {
                p.mp_reach = Some(MpReach {
                    family,
                    next_hop: next_hop_of(nh),
                    nlri: Vec::new(),
                })
            }
        }
        p
    }

    /// Pack announcements: prefixes with equal attributes share UPDATEs, each filled up to
    /// the maximum size. Output order: by family, then attributes, then prefix.
    pub fn announce<'a>(
        &self,
        routes: impl IntoIterator<Item = (IpNet, &'a RouteAttrs)>,
    ) -> Packed {
        let mut groups: BTreeMap<(Family, &RouteAttrs), Vec<IpNet>> = BTreeMap::new();
        let mut packed = Packed::default();
        for (prefix, attrs) in routes {
            let family = Family::of(&prefix);
            if !self.next_hop_ok(family, &attrs.next_hop) || !is_unicast(&prefix) {
                packed.rejected.push(prefix);
                continue;
            }
            groups.entry((family, attrs)).or_default().push(prefix);
        }
        for ((family, attrs), prefixes) in groups {
            self.announce_group(family, attrs, prefixes, &mut packed);
        }
        packed
    }

    /// How full an UPDATE whose smallest form is `smallest` octets is filled: 4,096 octets
    /// (RFC 4271), even with RFC 8654 extended messages negotiated — routers and the
    /// operators' tooling expect it, MetalLB users asked for it (its native withdrawals broke
    /// past 4,096), and a few more UPDATEs cost nothing; the negotiated maximum only when one
    /// prefix with its attributes (say, a thousand communities) does not fit in 4,096.
    /// Withdrawals carry no attributes and always fit.
    pub fn fill_limit(&self, smallest: usize) -> usize {
        if smallest <= MAX_LEN {
            MAX_LEN
        } else {
            self.ctx.max_update_len()
        }
    }

    fn next_hop_ok(&self, family: Family, nh: &IpAddr) -> bool {
        let nh_family = Family::of_addr(nh);
        nh_family == family
            || (self.ipv4_over_ipv6_next_hop
                && family == Family::Ipv4Unicast
                && nh_family == Family::Ipv6Unicast)
    }

    fn announce_group(
        &self,
        family: Family,
        attrs: &RouteAttrs,
        nets: Vec<IpNet>,
        out: &mut Packed,
    ) {
        let template = self.wire_attrs(family, attrs);
        let base = Update {
            attrs: template,
            ..Update::default()
        };
        let base_len = body_len(&base, &self.ctx);
        let longest = match family {
            Family::Ipv4Unicast => 5,
            Family::Ipv6Unicast => 17,
        };
        let capacity = self
            .fill_limit(HEADER_LEN + base_len + longest)
            .saturating_sub(HEADER_LEN + base_len);
        if capacity < longest {
            out.rejected.extend(nets);
            return;
        }
        for chunk in chunk_by_size(nets, capacity) {
            let mut u = base.clone();
            match (&mut u.attrs.mp_reach, family) {
                (None, Family::Ipv4Unicast) => u.nlri = v4_only(chunk),
                (Some(m), _) => m.nlri = chunk,
                (None, _) => {}
            }
            out.updates.push(u);
        }
    }

    /// Pack withdrawals: IPv4 in the withdrawn routes field, IPv6 in MP_UNREACH_NLRI.
    pub fn withdraw(&self, prefixes: impl IntoIterator<Item = IpNet>) -> Vec<Update> {
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = prefixes
            .into_iter()
            .partition(|p| matches!(p, IpNet::V4(_)));
        let max = MAX_LEN;
        let mut out: Vec<Update> = chunk_by_size(v4, max - EMPTY_UPDATE)
            .into_iter()
            .map(|c| Update {
                withdrawn: v4_only(c),
                ..Update::default()
            })
            .collect();
        for chunk in chunk_by_size(v6, max - EMPTY_UPDATE - MP_UNREACH_OVERHEAD) {
            let mut u = Update::end_of_rib(Family::Ipv6Unicast);
            if let Some(m) = &mut u.attrs.mp_unreach {
                m.withdrawn = chunk;
            }
            out.push(u);
        }
        out
    }
}

/// Whether a prefix may go in a unicast NLRI: not multicast (224.0.0.0/4, ff00::/8) and
/// not the limited broadcast address (netgauze, FRR and GoBGP reject those).
fn is_unicast(prefix: &IpNet) -> bool {
    match prefix {
        IpNet::V4(n) => !n.addr().is_multicast() && !n.addr().is_broadcast(),
        IpNet::V6(n) => !n.addr().is_multicast(),
    }
}

/// Split prefixes into runs whose encoded size fits `capacity` bytes.
fn chunk_by_size(prefixes: Vec<IpNet>, capacity: usize) -> Vec<Vec<IpNet>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut used = 0;
    for p in prefixes {
        let l = prefix_wire_len(&p);
        if used + l > capacity && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            used = 0;
        }
        used += l;
        cur.push(p);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn v4_only(nets: Vec<IpNet>) -> Vec<ipnet::Ipv4Net> {
    nets.into_iter()
        .filter_map(|n| match n {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
        .collect()
}

/// The encoded body length of an UPDATE (without the header); "too large" if it overflows.
fn body_len(u: &Update, ctx: &CodecCtx) -> usize {
    let mut v = Vec::new();
    match u.encode_body(ctx, &mut v) {
        Ok(()) => v.len(),
        Err(_) => usize::MAX / 2,
    }
}

/// What was announced to one peer, and the diff to a desired table.
#[derive(Debug, Clone)]
pub struct AdjRibOut {
    packer: Packer,
    families: BTreeSet<Family>,
    sent: RouteTable,
}

impl AdjRibOut {
    /// An empty Adj-RIB-Out for a session that negotiated `families`.
    pub fn new(packer: Packer, families: impl IntoIterator<Item = Family>) -> Self {
        AdjRibOut {
            packer,
            families: families.into_iter().collect(),
            sent: BTreeMap::new(),
        }
    }

    /// What the peer currently has from us.
    pub fn sent(&self) -> &RouteTable {
        &self.sent
    }

    /// The initial table after the session reached Established: everything desired, then
    /// an End-of-RIB per negotiated family.
    pub fn initial(&mut self, desired: &RouteTable) -> Packed {
        self.sent.clear();
        let mut packed = self.update(desired);
        packed
            .updates
            .extend(self.families.iter().map(|f| Update::end_of_rib(*f)));
        packed
    }

    /// The minimal batch turning what was sent into `desired`: withdrawals first, then new
    /// or changed prefixes. Prefixes of families the peer did not negotiate are left out.
    /// Afterwards what was sent shares `desired`'s attribute allocations (no copies).
    pub fn update(&mut self, desired: &RouteTable) -> Packed {
        let wanted = |p: &IpNet| self.families.contains(&Family::of(p));
        let gone: Vec<IpNet> = self
            .sent
            .keys()
            .filter(|p| !desired.get(p).is_some_and(|_| wanted(p)))
            .copied()
            .collect();
        let changed: Vec<(IpNet, &RouteAttrs)> = desired
            .iter()
            .filter(|(p, a)| wanted(p) && self.sent.get(p) != Some(a))
            .map(|(p, a)| (*p, &**a))
            .collect();
        let mut packed = self.packer.announce(changed.iter().copied());
        let rejected: BTreeSet<IpNet> = packed.rejected.iter().copied().collect();
        // A rejected prefix that was sent before is withdrawn rather than left stale.
        let withdraw = gone
            .iter()
            .chain(rejected.iter().filter(|p| self.sent.contains_key(p)));
        let mut updates = self.packer.withdraw(withdraw.copied().collect::<Vec<_>>());
        // What the peer has now: every wanted, accepted prefix of `desired`, sharing its
        // attribute allocations (unchanged prefixes too), collected from the sorted
        // iterator so the map is built densely (a third of the memory of one-by-one inserts).
        let sent: RouteTable = desired
            .iter()
            .filter(|(p, _)| wanted(p) && !rejected.contains(p))
            .map(|(p, a)| (*p, Arc::clone(a)))
            .collect();
        self.sent = sent;
        updates.append(&mut packed.updates);
        packed.updates = updates;
        packed
    }

    /// Re-send everything of `family` (after a ROUTE-REFRESH, RFC 2918 §4).
    pub fn refresh(&self, family: Family) -> Vec<Update> {
        let routes = self.sent.iter().filter(|(p, _)| Family::of(p) == family);
        self.packer
            .announce(routes.map(|(p, a)| (*p, &**a)))
            .updates
    }
}
