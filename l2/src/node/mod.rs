//! The whole Layer-2 speaker core of one node, sans IO: liveness + election trigger +
//! ownership, driven by time and datagrams.
//!
//! [`L2Node`] owns a [`Membership`] and an [`OwnerTable`] and decides *when* to re-run the
//! election: on every membership change (MetalLB's memberlist `NodeJoin/Leave/Update` →
//! `ForceSync`), when the view first settles, and when the adapter calls
//! [`L2Node::invalidate`] (Services, EndpointSlices, Nodes or configuration changed). *How* to
//! elect stays with the adapter: [`L2Node::poll`] takes a callback that receives the membership
//! view and returns the IPs this node must own (typically [`crate::election::should_announce`]
//! per Service over `membership.alive_members()`).
//!
//! The adapter's loop is then:
//!
//! ```text
//! loop {
//!     wait until node.next_deadline(), a datagram, a frame or a Kubernetes event;
//!     datagram        => node.handle_datagram_from(bytes, source_ip, now, wall_ms)
//!     k8s change      => node.invalidate()
//!     ARP/NS frame    => answer if the IP is answered on that interface (the adapter's
//!                        copy of the ownership, kept by StartAnswering/StopAnswering, or
//!                        node.owner().answers_on(ip, ifname) in a single-threaded adapter)
//!     for out in node.poll(now, wall_ms, |m| desired_ips(m)) {
//!         Heartbeat(bytes) => send to every peer;   Owner(action) => perform;   Member(ev) => log
//!     }
//!     if node.is_finished() { break }           // after leave() and the grace period
//! }
//! ```
//!
//! Graceful shutdown (make-before-break): [`L2Node::leave`] returns `leaving` heartbeats and
//! freezes ownership; the node keeps answering for `grace` while peers elect and announce the
//! new owner, then [`L2Node::poll`] releases everything and [`L2Node::is_finished`] turns true.
//! Quorum: when [`Membership::has_quorum`] is false the desired set is empty (everything is
//! released) — see [`crate::liveness`] for the policy.
//!
//! Partition heal (the node's link is cut, e.g. a blackholed switch port, then restored while
//! every speaker kept running):
//! - **Quorum regained** ([`QuorumPolicy::Majority`](crate::liveness::QuorumPolicy)): the
//!   isolated node released everything while the majority side elected new owners. When it
//!   hears its peers again it would win its IPs back at once, while their interim owners still
//!   answer until they hear *its* heartbeat. So a node that regains quorum holds new claims for
//!   [`default_rejoin_hold`] (2 heartbeat intervals): its heartbeat (sent at once, see
//!   [`crate::liveness`]) reaches the interim owners, they re-elect and stop answering, and only
//!   then does it claim (break-before-make: no two nodes answer at once; ARP/NDP goes
//!   unanswered for up to the hold, while clients keep their cached entry of the interim owner,
//!   whose node still forwards the traffic).
//! - **Gratuitous re-announcement**: a peer heard again with the *same* incarnation
//!   ([`crate::liveness::Stats::rejoined`]) kept running while we could not hear it, and may
//!   have announced (and sent gratuitous frames for) IPs we own. After re-electing, the node
//!   restarts the gratuitous burst of every IP it still owns, so caches that learned the other
//!   node's MAC during the partition converge back without waiting for their entries to age
//!   out. A restarted peer (new incarnation) announced nothing meanwhile and triggers nothing.
//! - With [`QuorumPolicy::Disabled`](crate::liveness::QuorumPolicy) (MetalLB behaviour) the
//!   isolated node never stopped announcing, in its own view, so both nodes answer from the
//!   moment the link returns until the interim owner hears the isolated node's heartbeat and
//!   re-elects: at most one heartbeat interval, less on average (whichever side hears first
//!   answers at once). That overlap is inherent to announcing without quorum.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use crate::{
    liveness::{LivenessConfig, LivenessError, MemberEvent, Membership},
    owner::{Action, GarpSchedule, Interfaces, OwnerTable},
};

/// Something for the adapter to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this heartbeat datagram to every peer.
    Heartbeat(Vec<u8>),
    /// Perform this ownership action (answer, stop answering, send gratuitous frames).
    Owner(Action),
    /// A membership change (for logs and metrics; the re-election is already scheduled).
    Member(MemberEvent),
}

/// Recommended grace period of a leaving node: two heartbeat intervals plus 100 ms.
pub fn default_leave_grace(config: &LivenessConfig) -> Duration {
    config.interval * 2 + Duration::from_millis(100)
}

/// How long a node that regains quorum waits before claiming IPs (see the module docs): two
/// heartbeat intervals, so that even if its immediate heartbeat is lost the next one reaches
/// the interim owners one interval before the hold ends.
pub fn default_rejoin_hold(config: &LivenessConfig) -> Duration {
    config.interval * 2
}

/// The speaker core of one node.
#[derive(Debug)]
pub struct L2Node {
    membership: Membership,
    owner: OwnerTable,
    resync: bool,
    was_settled: bool,
    leaving_since: Option<Instant>,
    grace: Duration,
    released: bool,
    /// Quorum as seen by the previous [`L2Node::poll`].
    had_quorum: bool,
    /// No new claims before this instant (set when quorum is regained).
    hold_until: Option<Instant>,
    rejoin_hold: Duration,
    /// A peer rejoined with the same incarnation: re-send gratuitous bursts after re-electing.
    reannounce: bool,
}

impl L2Node {
    /// Creates the core for node `name` (see [`Membership::new`] for the other arguments).
    pub fn new(
        name: &str,
        incarnation: u64,
        secret: &[u8],
        config: LivenessConfig,
        schedule: GarpSchedule,
        now: Instant,
    ) -> Result<Self, LivenessError> {
        let grace = default_leave_grace(&config);
        let rejoin_hold = default_rejoin_hold(&config);
        Ok(Self {
            membership: Membership::new(name, incarnation, secret, config, now)?,
            owner: OwnerTable::new(schedule),
            resync: true,
            was_settled: false,
            leaving_since: None,
            grace,
            released: false,
            had_quorum: true,
            hold_until: None,
            rejoin_hold,
            reannounce: false,
        })
    }

    /// Overrides the leave grace period.
    pub fn with_leave_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Overrides how long a node that regains quorum holds new claims
    /// ([`default_rejoin_hold`]).
    pub fn with_rejoin_hold(mut self, hold: Duration) -> Self {
        self.rejoin_hold = hold;
        self
    }

    /// The membership view (live members, quorum, stats).
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Mutable membership access (e.g. [`Membership::set_expected_peers`]).
    pub fn membership_mut(&mut self) -> &mut Membership {
        self.resync = true;
        &mut self.membership
    }

    /// The ownership table (the ARP/NDP responders ask [`OwnerTable::answers_on`]).
    pub fn owner(&self) -> &OwnerTable {
        &self.owner
    }

    /// Schedules a re-election at the next [`L2Node::poll`] (inputs changed).
    pub fn invalidate(&mut self) {
        self.resync = true;
    }

    /// Applies a received heartbeat; a membership change schedules a re-election.
    pub fn handle_datagram(
        &mut self,
        buf: &[u8],
        now: Instant,
        wall_ms: u64,
    ) -> Result<Option<MemberEvent>, LivenessError> {
        self.receive(buf, None, now, wall_ms)
    }

    /// [`L2Node::handle_datagram`] for a datagram from source address `from`: a live peer is
    /// bound to the address it is heard from (`Membership::handle_datagram_from`).
    pub fn handle_datagram_from(
        &mut self,
        buf: &[u8],
        from: IpAddr,
        now: Instant,
        wall_ms: u64,
    ) -> Result<Option<MemberEvent>, LivenessError> {
        self.receive(buf, Some(from), now, wall_ms)
    }

    fn receive(
        &mut self,
        buf: &[u8],
        from: Option<IpAddr>,
        now: Instant,
        wall_ms: u64,
    ) -> Result<Option<MemberEvent>, LivenessError> {
        let rejoined = self.membership.stats().rejoined;
        let ev = match from {
            Some(ip) => self
                .membership
                .handle_datagram_from(buf, ip, now, wall_ms)?,
            None => self.membership.handle_datagram(buf, now, wall_ms)?,
        };
        if ev.is_some() {
            self.resync = true;
        }
        if self.membership.stats().rejoined != rejoined {
            self.reannounce = true;
        }
        Ok(ev)
    }

    /// Starts a graceful leave; returns the `leaving` heartbeat to send (three times is
    /// customary). Ownership is frozen until the grace period ends.
    pub fn leave(&mut self, now: Instant, wall_ms: u64) -> Vec<u8> {
        if self.leaving_since.is_none() {
            self.leaving_since = Some(now);
        }
        self.membership.leave(wall_ms)
    }

    /// Whether the node has left and released everything.
    pub fn is_finished(&self) -> bool {
        self.released
    }

    /// Advances time: heartbeats, dead peers, re-election (through `desired`, which returns the
    /// IPs to own with their interfaces) and gratuitous schedules.
    pub fn poll<F>(&mut self, now: Instant, wall_ms: u64, desired: F) -> Vec<Output>
    where
        F: FnOnce(&Membership) -> Vec<(IpAddr, Interfaces)>,
    {
        let mut out = Vec::new();
        if let Some(hb) = self.membership.poll_transmit(now, wall_ms) {
            out.push(Output::Heartbeat(hb));
        }
        for ev in self.membership.tick(now) {
            self.resync = true;
            out.push(Output::Member(ev));
        }
        let settled = self.membership.is_settled(now);
        if settled && !self.was_settled {
            self.was_settled = true;
            self.resync = true;
        }
        let quorum = self.membership.has_quorum();
        if quorum && !self.had_quorum {
            // Regained quorum: let the interim owners hear us and let go first.
            self.hold_until = Some(now + self.rejoin_hold);
        }
        self.had_quorum = quorum;
        if self.hold_until.is_some_and(|t| now >= t) {
            self.hold_until = None;
        }
        let held = self.hold_until.is_some() && quorum;
        match self.leaving_since {
            Some(since) if !self.released && now.saturating_duration_since(since) >= self.grace => {
                self.released = true;
                out.extend(self.owner.release_all().into_iter().map(Output::Owner));
            }
            Some(_) => self.reannounce = false,
            None if self.resync && settled && !held => {
                self.resync = false;
                let want = if quorum {
                    desired(&self.membership)
                } else {
                    Vec::new()
                };
                let before: Vec<IpAddr> = if self.reannounce {
                    self.owner.owned().collect()
                } else {
                    Vec::new()
                };
                let actions = self.owner.reconcile(want, now);
                if std::mem::take(&mut self.reannounce) {
                    // Kept IPs whose burst did not just (re)start get a fresh burst.
                    let restarted: Vec<IpAddr> = actions
                        .iter()
                        .filter_map(|a| match a {
                            Action::StartAnswering { ip, .. } => Some(*ip),
                            _ => None,
                        })
                        .collect();
                    let mut again = Vec::new();
                    for ip in before {
                        if !restarted.contains(&ip) {
                            again.extend(self.owner.retrigger(ip, now));
                        }
                    }
                    out.extend(actions.into_iter().chain(again).map(Output::Owner));
                } else {
                    out.extend(actions.into_iter().map(Output::Owner));
                }
            }
            None => {}
        }
        if !self.released {
            out.extend(self.owner.poll(now).into_iter().map(Output::Owner));
        }
        out
    }

    /// The next time [`L2Node::poll`] has timed work (heartbeat, death check, settle, grace
    /// end, end of a rejoin hold, gratuitous burst). Poll earlier on datagrams and invalidations.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self.membership.next_deadline();
        if !self.was_settled {
            t = t.min(self.membership.settled_at());
        }
        if let (Some(since), false) = (self.leaving_since, self.released) {
            t = t.min(since + self.grace);
        }
        if let Some(h) = self.hold_until {
            t = t.min(h);
        }
        if let Some(g) = self.owner.next_deadline() {
            t = t.min(g);
        }
        t
    }
}

#[cfg(test)]
mod tests;
