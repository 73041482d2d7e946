//! Per-IP ownership state machine and the gratuitous ARP / unsolicited NA schedule.
//!
//! Inputs: the **desired** set of owned IPs with their interface sets (the result of the
//! election for every service, recomputed by the adapter whenever config, endpoints or peer
//! liveness change) and the current time (`Instant` passed in; no clock is read here).
//! Outputs: [`Action`]s for the adapter to perform.
//!
//! MetalLB behaviour (`internal/layer2/announcer.go` `spamLoop`, `metallb-runtime.md` §2.5) and
//! where ferrolb differs:
//! - MetalLB sends gratuitous frames immediately and then on a 1.1 s ticker until 5 s after
//!   the last enqueue (t ≈ 0, 1.1, 2.2, 3.3, 4.4 s) — [`GarpSchedule::metallb`]. The 1.1 s
//!   spacing gets past Linux' `neigh.*.locktime` (1 s), which ignores a second change within
//!   a second.
//! - The default [`GarpSchedule::fast`] adds one early repeat at 250 ms to cover a single lost
//!   frame quickly (sub-second failover), then follows MetalLB's 1.1 s cadence.
//! - MetalLB re-spams on *every* reconcile of an announced service (#2387). Here gratuitous
//!   frames are only scheduled when ownership is **gained** (or the interface set changes, or
//!   the adapter calls [`OwnerTable::retrigger`], e.g. for a new interface). Re-asserting an
//!   unchanged desired state emits nothing.
//! - Optional periodic refresh after the burst ([`GarpSchedule::with_refresh`], MetalLB
//!   #2910) for networks whose switch FDB ages out faster than router ARP caches.
//! - Losing ownership emits [`Action::StopAnswering`] and cancels pending bursts at once.
//!
//! Graceful handover (make-before-break) is orchestrated by the adapter together with
//! [`crate::liveness`]: the leaving speaker announces `leaving`, keeps answering for a short
//! grace period while the new owner takes over and sends its gratuitous burst, then calls
//! [`OwnerTable::release_all`].

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    time::{Duration, Instant},
};

/// Interfaces an IP is announced on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Interfaces {
    /// Every eligible interface (an advertisement without `interfaces`).
    All,
    /// The union of the advertisements' `interfaces` lists.
    Named(BTreeSet<String>),
}

impl Interfaces {
    /// Union of two interface sets (`All` absorbs everything), as MetalLB's
    /// `ipAdvertisementFor` does across advertisements.
    pub fn union(self, other: Interfaces) -> Interfaces {
        match (self, other) {
            (Interfaces::Named(mut a), Interfaces::Named(b)) => {
                a.extend(b);
                Interfaces::Named(a)
            }
            _ => Interfaces::All,
        }
    }

    /// Whether the interface `name` is included.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Interfaces::All => true,
            Interfaces::Named(set) => set.contains(name),
        }
    }
}

/// What the adapter must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer ARP/NS for `ip` on `interfaces` (replaces any previous interface set); for IPv6
    /// also join the solicited-node multicast group.
    StartAnswering {
        /// The service IP.
        ip: IpAddr,
        /// Where to answer.
        interfaces: Interfaces,
    },
    /// Stop answering for `ip` everywhere (and leave its multicast group).
    StopAnswering {
        /// The service IP.
        ip: IpAddr,
    },
    /// Send one gratuitous burst for `ip` on `interfaces`: an ARP request + reply pair (IPv4)
    /// or one unsolicited NA (IPv6) per interface.
    SendGratuitous {
        /// The service IP.
        ip: IpAddr,
        /// Where to send.
        interfaces: Interfaces,
    },
}

/// When to send gratuitous bursts after gaining ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpSchedule {
    offsets: Vec<Duration>,
    refresh: Option<Duration>,
}

impl GarpSchedule {
    /// MetalLB's schedule: 0, 1.1, 2.2, 3.3, 4.4 s.
    pub fn metallb() -> Self {
        Self::from_offsets((0..5).map(|i| Duration::from_millis(1100 * i)).collect())
    }

    /// ferrolb's default: 0, 0.25, 1.1, 2.2, 3.3, 4.4 s.
    pub fn fast() -> Self {
        let mut o = vec![Duration::ZERO, Duration::from_millis(250)];
        o.extend((1..5).map(|i| Duration::from_millis(1100 * i)));
        Self::from_offsets(o)
    }

    /// A custom schedule; offsets are sorted and de-duplicated. An empty list sends nothing.
    pub fn from_offsets(mut offsets: Vec<Duration>) -> Self {
        offsets.sort();
        offsets.dedup();
        Self {
            offsets,
            refresh: None,
        }
    }

    /// After the burst, send one more gratuitous burst every `every` while owned.
    pub fn with_refresh(mut self, every: Duration) -> Self {
        self.refresh = (!every.is_zero()).then_some(every);
        self
    }

    /// The burst offsets.
    pub fn offsets(&self) -> &[Duration] {
        &self.offsets
    }
}

impl Default for GarpSchedule {
    fn default() -> Self {
        Self::fast()
    }
}

#[derive(Debug, Clone)]
struct Entry {
    interfaces: Interfaces,
    /// Start of the current burst.
    burst_start: Instant,
    /// Index of the next offset to send.
    next: usize,
    /// Next refresh once the burst is over.
    refresh_at: Option<Instant>,
}

/// Ownership of service IPs on this node.
#[derive(Debug, Clone, Default)]
pub struct OwnerTable {
    owned: BTreeMap<IpAddr, Entry>,
    schedule: GarpSchedule,
}

impl OwnerTable {
    /// An empty table using `schedule`.
    pub fn new(schedule: GarpSchedule) -> Self {
        Self {
            owned: BTreeMap::new(),
            schedule,
        }
    }

    /// Whether `ip` is owned.
    pub fn is_owned(&self, ip: IpAddr) -> bool {
        self.owned.contains_key(&ip)
    }

    /// The interfaces `ip` is answered on, if owned. The ARP/NDP responders call this.
    pub fn interfaces(&self, ip: IpAddr) -> Option<&Interfaces> {
        self.owned.get(&ip).map(|e| &e.interfaces)
    }

    /// Whether ARP/NS for `ip` received on interface `ifname` must be answered: the IP is
    /// owned and announced on that interface (MetalLB's per-interface `announce` check).
    pub fn answers_on(&self, ip: IpAddr, ifname: &str) -> bool {
        self.owned
            .get(&ip)
            .is_some_and(|e| e.interfaces.contains(ifname))
    }

    /// Owned IPs.
    pub fn owned(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.owned.keys().copied()
    }

    /// Sets the desired state of one IP: `Some(interfaces)` to own it, `None` to release it.
    /// Gratuitous frames due now are included in the returned actions.
    pub fn set(&mut self, ip: IpAddr, desired: Option<Interfaces>, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match (desired, self.owned.get_mut(&ip)) {
            (None, None) => {}
            (None, Some(_)) => {
                self.owned.remove(&ip);
                out.push(Action::StopAnswering { ip });
            }
            (Some(ifs), Some(e)) if e.interfaces == ifs => {}
            (Some(ifs), _) => {
                // Gained ownership, or the interface set changed: (re)start answering and
                // restart the burst so newly added interfaces learn about us.
                out.push(Action::StartAnswering {
                    ip,
                    interfaces: ifs.clone(),
                });
                self.owned.insert(
                    ip,
                    Entry {
                        interfaces: ifs,
                        burst_start: now,
                        next: 0,
                        refresh_at: None,
                    },
                );
                self.poll_one(ip, now, &mut out);
            }
        }
        out
    }

    /// Replaces the whole desired state: IPs not in `desired` are released. Entries for the
    /// same IP are merged with [`Interfaces::union`].
    pub fn reconcile<I>(&mut self, desired: I, now: Instant) -> Vec<Action>
    where
        I: IntoIterator<Item = (IpAddr, Interfaces)>,
    {
        let mut want: BTreeMap<IpAddr, Interfaces> = BTreeMap::new();
        for (ip, ifs) in desired {
            let merged = match want.remove(&ip) {
                Some(prev) => prev.union(ifs),
                None => ifs,
            };
            want.insert(ip, merged);
        }
        let gone: Vec<IpAddr> = self
            .owned
            .keys()
            .filter(|ip| !want.contains_key(ip))
            .copied()
            .collect();
        let mut out = Vec::new();
        for ip in gone {
            out.extend(self.set(ip, None, now));
        }
        for (ip, ifs) in want {
            out.extend(self.set(ip, Some(ifs), now));
        }
        out
    }

    /// Releases everything (shutdown, lost quorum).
    pub fn release_all(&mut self) -> Vec<Action> {
        let ips: Vec<IpAddr> = self.owned.keys().copied().collect();
        self.owned.clear();
        ips.into_iter()
            .map(|ip| Action::StopAnswering { ip })
            .collect()
    }

    /// Restarts the gratuitous burst of an owned IP (e.g. an interface came up). Returns the
    /// actions due now; nothing if `ip` is not owned.
    pub fn retrigger(&mut self, ip: IpAddr, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(e) = self.owned.get_mut(&ip) {
            e.burst_start = now;
            e.next = 0;
            e.refresh_at = None;
            self.poll_one(ip, now, &mut out);
        }
        out
    }

    /// Gratuitous bursts due at `now`. Missed offsets collapse into one burst.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let ips: Vec<IpAddr> = self.owned.keys().copied().collect();
        let mut out = Vec::new();
        for ip in ips {
            self.poll_one(ip, now, &mut out);
        }
        out
    }

    fn poll_one(&mut self, ip: IpAddr, now: Instant, out: &mut Vec<Action>) {
        let Some(e) = self.owned.get_mut(&ip) else {
            return;
        };
        let offsets = &self.schedule.offsets;
        let elapsed = now.saturating_duration_since(e.burst_start);
        let mut due = false;
        while e.next < offsets.len() && offsets[e.next] <= elapsed {
            e.next += 1;
            due = true;
        }
        if let (true, Some(every)) = (e.next >= offsets.len(), self.schedule.refresh) {
            match e.refresh_at {
                Some(t) if t <= now => {
                    due = true;
                    e.refresh_at = Some(now + every);
                }
                Some(_) => {}
                None => {
                    let last = offsets.last().copied().unwrap_or_default();
                    e.refresh_at = Some(e.burst_start + last + every);
                }
            }
        }
        if due {
            out.push(Action::SendGratuitous {
                ip,
                interfaces: e.interfaces.clone(),
            });
        }
    }

    /// The earliest time [`OwnerTable::poll`] has work, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.owned
            .values()
            .filter_map(|e| match self.schedule.offsets.get(e.next) {
                Some(off) => Some(e.burst_start + *off),
                None => e.refresh_at,
            })
            .min()
    }
}

#[cfg(test)]
mod tests;
