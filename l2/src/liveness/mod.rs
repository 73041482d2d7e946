//! Sans-IO speaker membership: authenticated UDP heartbeats with sub-second dead detection.
//!
//! # Why not memberlist, foca or chitchat
//! MetalLB uses hashicorp/memberlist (SWIM + suspicion) with LAN defaults, which takes 4 s of
//! suspicion plus probing before a node is declared dead: 5–8 s failover in practice
//! (`metallb-runtime.md` §2.6, §2.7). We evaluated (`cargo info`, `rust-ecosystem.md` §2):
//! - **foca 2.0** (MPL-2.0, `no_std`, sans-IO SWIM): a good fit architecturally, but its wire
//!   format is unauthenticated (we would wrap it), sub-second detection needs aggressive probe
//!   and suspicion tuning whose worst case is a function of indirect probes and suspicion
//!   confirmations, and it adds an MPL dependency for ~300 lines of logic we need.
//! - **chitchat 0.13** (MIT, Scuttlebutt + phi-accrual): owns its tokio UDP transport (not
//!   sans-IO, and this crate has no tokio), and phi-accrual over ~1 s gossip is not a hard
//!   sub-second bound.
//!
//! So this module implements a deliberately simple **full-mesh heartbeat**: every speaker
//! sends a heartbeat to every known peer each `interval`; a peer not heard from for
//! `dead_after` is dead. Detection time is a hard bound (`dead_after` + the adapter's timer
//! slack), which is what an L2 failover SLO needs. Cost: each speaker sends `N-1` datagrams of
//! ~80 bytes per interval (100 nodes at 100 ms ≈ 1,000 pps, ~80 kB/s per node). For clusters
//! above ~200 speakers raise `interval`/`dead_after` proportionally.
//!
//! # Defaults (≤ 1 s failover)
//! `interval` 100 ms, `dead_after` 600 ms (5 lost heartbeats tolerated). Failover ≈
//! `dead_after` + one adapter tick + the new owner's immediate gratuitous burst. Measured in
//! network namespaces (`net/tests/failover.rs`, BENCHMARKS.md "Speaker L2"): 556–612 ms from
//! `kill -9` of the owner to the first ARP reply from the new owner; a graceful leave shows
//! no outage beyond scheduling noise (largest reply gap 28–68 ms with a 10 ms probe).
//!
//! # Wire format (version 1), all integers big-endian
//! `"FLBH" | version=1 | flags (bit 0: leaving) | name_len (1..=253) | name (UTF-8) |
//! incarnation u64 | sequence u64 | sender wall clock (ms since epoch) u64 | HMAC-SHA256 tag (32)`.
//! The tag covers every preceding byte and is keyed with the shared secret (at least 16 bytes;
//! the speaker can reuse MetalLB's memberlist Secret). Verification is constant-time.
//!
//! # Replay and forgery
//! Datagrams with a bad tag are rejected before touching any state. Per peer, the pair
//! `(incarnation, sequence)` must strictly increase: replayed or reordered-old datagrams are
//! rejected and counted. `incarnation` should be the wall-clock start time in ms so a
//! restarted speaker supersedes its old stream. A receiver that restarts has no per-peer state,
//! so a captured datagram could make a dead peer look alive for one `dead_after`; enable
//! `max_clock_skew` (needs NTP-synced nodes) to reject such stale datagrams.
//!
//! # Restarts with an earlier clock, and incarnations from the future
//! A node without a real-time clock (e.g. a Raspberry Pi before NTP) can restart with a wall
//! clock — hence an incarnation — *lower* than its previous run's. Such a stream is refused as a
//! replay only while the old one is live; once the peer is gone (declared dead, expired — no
//! accepted heartbeat for `dead_after` — or left), a heartbeat with any incarnation starts a
//! new stream, so the restarted node is a member again instead of being refused forever while
//! it keeps announcing (two owners). The cost: a captured datagram stream replayed after the
//! peer died is accepted for as long as the capture lasts, as after a receiver restart; bound
//! it with `max_clock_skew`. An incarnation more than [`MAX_INCARNATION_AHEAD`] (one day)
//! ahead of the receiver's wall clock is refused ([`LivenessError::FutureIncarnation`]): a
//! sender whose clock is that far off (or a datagram crafted with the key) would otherwise pin
//! `(incarnation, sequence)` so high that the sender's real stream looks stale until expiry.
//! The check trusts the *receiver's* clock: a receiver whose clock is unset (before
//! [`CLOCK_SANITY_FLOOR_MS`]) skips it, but one that is more than the bound behind (e.g. a
//! fake-hwclock restored from last week) refuses its peers until its clock is synced — start
//! the speaker after time sync, or widen/disable the bound
//! ([`Membership::set_max_incarnation_ahead`]).
//!
//! # Key rotation
//! Heartbeats are always sent with the current key; a receiver also accepts the previous key
//! ([`Membership::set_previous_secret`], counted in [`Stats::previous_key`]). Because a rolling
//! update always has a mixed phase, a rotation from key A to key B takes two rollouts with no
//! split: (1) current A, previous B — everyone still sends A and now also accepts B;
//! (2) current B, previous A — updated speakers send B, which the others already accept;
//! then (3) optionally drop the previous key. [`Membership::rotate_secret`] does step 2 in
//! place (the current key becomes the previous one).
//!
//! # Sender address binding
//! With [`Membership::handle_datagram_from`] a live peer's name is bound to the source address
//! of its first accepted heartbeat; a heartbeat for that live peer from another address is
//! refused ([`LivenessError::AddressMismatch`], [`Stats::address_mismatch`]), so a node that
//! holds the key cannot keep another node "alive" from elsewhere, and two speakers configured
//! with the same node name do not merge into one member. The binding ends when the peer dies,
//! expires or leaves: a node whose address really changed is accepted again after
//! `dead_after`.
//!
//! # Graceful leave (make-before-break)
//! [`Membership::leave`] switches the local heartbeats to `leaving`. Peers drop a leaving node
//! from the live set at once (no timeout), re-run the election, and the new owner starts
//! answering and sends its gratuitous burst while the leaving node is still answering. The
//! leaving node keeps answering for a grace period (recommended: 2 × `interval` + 100 ms) and
//! then releases everything.
//!
//! # Split brain
//! MetalLB does not handle partitions (#195, #740): each side elects among the members it sees,
//! so an IP can have 0 or ≥ 2 announcers. [`QuorumPolicy::Disabled`] (the default) keeps that
//! behaviour, which is usually right for L2: a node cut off from its peers is often cut off from
//! the clients as well, and refusing to answer turns a partial partition into an outage.
//! [`QuorumPolicy::Majority`] makes a speaker that sees at most half of the expected speakers
//! (itself included) report `has_quorum() == false`; the adapter must then release all IPs, so
//! at most one side announces. The expected set is the peers fed by
//! [`Membership::set_expected_peers`] (from the speaker pod list) plus peers heard from, minus
//! peers that left gracefully. Trade-offs: with no majority anywhere nobody answers, and a
//! two-node cluster loses failover (1 of 2 is not a majority). Document this to users before
//! enabling it.
//!
//! A **one-way** loss (B does not hear A, A hears B: e.g. a host firewall on one node) is not
//! repaired: the heartbeats are a full mesh without indirect probes or gossip of views (SWIM,
//! hence MetalLB's memberlist, would confirm A through a third node), so B elects without A.
//! When A owns an IP and B wins without A, both announce for as long as the loss lasts, with
//! either policy (B still hears a majority); A not hearing B changes nothing. Flapping cuts
//! shorter than `dead_after` minus one interval declare nobody dead and change nothing.
//! (`node/tests.rs` `one_way_partition_*`, `flapping_*`, `split_2_2_*`; on the rig
//! `e2e/tests/faults_partitions.rs`.)
//!
//! When a partition heals, a peer heard again with the same incarnation is counted in
//! [`Stats::rejoined`] (it kept running: it may have announced our IPs), and any peer that
//! (re)joins is answered with a heartbeat at once rather than at the next slot, so both sides
//! learn about each other within about one round trip after the first datagram crosses.
//! [`crate::node::L2Node`] builds on both: it re-sends gratuitous frames for the IPs it owns,
//! and with [`QuorumPolicy::Majority`] a node that regains quorum waits for the interim owners
//! to let go before claiming (no two nodes answer at once); see its module docs.
//!
//! # Mixed fleets (rolling migration from MetalLB)
//! This protocol is **not** hashicorp/memberlist. Go speakers build their candidate set from
//! memberlist members, so they do not see ferrolb speakers (and vice versa), and a mixed fleet
//! would disagree on owners. For a node-by-node migration run both with membership disabled
//! (MetalLB: leave `METALLB_ML_BIND_ADDR`/`METALLB_ML_LABELS` unset; ferrolb: the adapter
//! passes every Node object as a live speaker, as MetalLB does), so both sides elect over the
//! same set with the identical [`crate::election`] ordering. Failover is then as slow as
//! MetalLB without memberlist until the migration is complete and heartbeats are enabled.
//! Speaking memberlist's wire protocol (with the AES key quirk of `metallb-runtime.md` §2.6)
//! is possible future work.
//!
//! # Startup
//! A new speaker has not heard from anyone; [`Membership::is_settled`] stays false for one
//! `dead_after` after creation. The adapter must not take ownership before that, otherwise a
//! restarting speaker would briefly steal every IP.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    time::{Duration, Instant},
};

mod wire;

pub use wire::{Heartbeat, HeartbeatKey, decode, encode};

/// Longest node name accepted (a DNS-1123 subdomain is at most 253 characters).
pub const MAX_NAME_LEN: usize = 253;
/// Minimum shared-secret length in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// How far ahead of the receiver's wall clock an incarnation (ms since the epoch) may be, by
/// default ([`Membership::set_max_incarnation_ahead`]).
pub const MAX_INCARNATION_AHEAD: Duration = Duration::from_secs(24 * 3600);
/// A receiver wall clock before this (2020-01-01, ms since the epoch) is unset (a board
/// without RTC before NTP): the future-incarnation check is skipped rather than refusing
/// every peer.
pub const CLOCK_SANITY_FLOOR_MS: u64 = 1_577_836_800_000;

/// Tunables of the heartbeat protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessConfig {
    /// How often heartbeats are sent (default 100 ms).
    pub interval: Duration,
    /// Silence after which a peer is dead (default 600 ms). Must exceed `interval`.
    pub dead_after: Duration,
    /// Split-brain policy (default [`QuorumPolicy::Disabled`], MetalLB behaviour).
    pub quorum: QuorumPolicy,
    /// Reject datagrams whose sender clock differs from ours by more than this (default off).
    pub max_clock_skew: Option<Duration>,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(100),
            dead_after: Duration::from_millis(600),
            quorum: QuorumPolicy::Disabled,
            max_clock_skew: None,
        }
    }
}

/// What to do when the local speaker cannot see a majority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuorumPolicy {
    /// Always report quorum (MetalLB: split brain is not handled).
    #[default]
    Disabled,
    /// Quorum requires seeing more than half of the expected speakers, self included.
    Majority,
}

/// Errors of the liveness protocol. Receive errors are also counted in [`Stats`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LivenessError {
    /// The configuration is unusable.
    #[error("failed to configure liveness: {0}")]
    Config(&'static str),
    /// The datagram is not a well-formed heartbeat.
    #[error("failed to parse heartbeat: {0}")]
    Malformed(&'static str),
    /// The HMAC tag does not verify (wrong secret or forged).
    #[error("failed to authenticate heartbeat")]
    BadTag,
    /// `(incarnation, sequence)` did not increase: replayed or stale datagram.
    #[error("failed to accept heartbeat from {0}: replayed or out of order")]
    Replay(String),
    /// The sender clock is too far from ours.
    #[error("failed to accept heartbeat from {0}: clock skew too large")]
    ClockSkew(String),
    /// A datagram carries our own name (loop, or another speaker uses the same name).
    #[error("failed to accept heartbeat: it carries the local node name")]
    OwnName,
    /// The incarnation is too far ahead of our wall clock (see [`MAX_INCARNATION_AHEAD`]).
    #[error("failed to accept heartbeat from {0}: incarnation too far ahead of the local clock")]
    FutureIncarnation(String),
    /// A heartbeat for a live peer came from another address than the peer's.
    #[error(
        "failed to accept heartbeat from {name}: sent from {from}, but the live peer is at {bound}"
    )]
    AddressMismatch {
        /// The node name in the heartbeat.
        name: String,
        /// Source address of the datagram.
        from: IpAddr,
        /// Address the live peer is bound to.
        bound: IpAddr,
    },
}

/// A membership change for the adapter (each one should trigger a re-election).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// A peer became alive (first heartbeat, or back from dead/left).
    Joined(String),
    /// A peer announced a graceful leave.
    Left(String),
    /// A peer was silent for `dead_after`.
    Died(String),
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Heartbeats produced.
    pub sent: u64,
    /// Heartbeats accepted.
    pub accepted: u64,
    /// Malformed datagrams.
    pub malformed: u64,
    /// Authentication failures.
    pub bad_tag: u64,
    /// Replayed/stale datagrams.
    pub replayed: u64,
    /// Clock-skew rejections.
    pub clock_skew: u64,
    /// Datagrams carrying our own name.
    pub own_name: u64,
    /// Peers heard again with the **same** incarnation after being declared dead: the peer kept
    /// running while we could not hear it (a healed partition or blackhole, or a long stall).
    /// It may have announced our IPs meanwhile, so [`crate::node::L2Node`] re-sends the
    /// gratuitous bursts of everything it owns.
    pub rejoined: u64,
    /// Incarnations refused for being too far in the future.
    pub future_incarnation: u64,
    /// Heartbeats for a live peer from another address than its own.
    pub address_mismatch: u64,
    /// Heartbeats accepted with the previous key (rotation in progress).
    pub previous_key: u64,
    /// Peers accepted again with a *lower* incarnation after they were gone (restart with an
    /// earlier clock).
    pub restarted_earlier: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerStatus {
    Alive,
    Dead,
    Left,
}

#[derive(Debug, Clone)]
struct Peer {
    /// `(incarnation, sequence)` of the newest accepted datagram; `None` if never heard.
    last: Option<(u64, u64)>,
    last_heard: Option<Instant>,
    status: PeerStatus,
    /// Source address of the live stream (bound while alive, see the module docs).
    addr: Option<IpAddr>,
}

impl Peer {
    const UNHEARD: Self = Self {
        last: None,
        last_heard: None,
        status: PeerStatus::Dead,
        addr: None,
    };

    /// Alive and heard within `dead_after` (a peer not yet ticked dead may have expired).
    fn is_live(&self, now: Instant, dead_after: Duration) -> bool {
        self.status == PeerStatus::Alive
            && self
                .last_heard
                .is_some_and(|t| now.saturating_duration_since(t) <= dead_after)
    }
}

/// The membership view of one speaker.
#[derive(Debug, Clone)]
pub struct Membership {
    local: String,
    incarnation: u64,
    sequence: u64,
    leaving: bool,
    key: HeartbeatKey,
    previous_key: Option<HeartbeatKey>,
    max_incarnation_ahead: Option<Duration>,
    config: LivenessConfig,
    started: Instant,
    next_send: Instant,
    peers: BTreeMap<String, Peer>,
    stats: Stats,
}

impl Membership {
    /// Creates the view for node `local` with incarnation `incarnation` (use the process start
    /// time in ms), shared `secret` and `config`, at time `now`.
    pub fn new(
        local: &str,
        incarnation: u64,
        secret: &[u8],
        config: LivenessConfig,
        now: Instant,
    ) -> Result<Self, LivenessError> {
        if local.is_empty() || local.len() > MAX_NAME_LEN {
            return Err(LivenessError::Config("node name must be 1..=253 bytes"));
        }
        if config.interval.is_zero() || config.dead_after <= config.interval {
            return Err(LivenessError::Config("need 0 < interval < dead_after"));
        }
        let key = HeartbeatKey::new(secret)?;
        Ok(Self {
            local: local.to_owned(),
            incarnation,
            sequence: 0,
            leaving: false,
            key,
            previous_key: None,
            max_incarnation_ahead: Some(MAX_INCARNATION_AHEAD),
            config,
            started: now,
            next_send: now,
            peers: BTreeMap::new(),
            stats: Stats::default(),
        })
    }

    /// Also accepts heartbeats authenticated with `secret` (the key being rotated out, or the
    /// one being rolled in); `None` accepts only the current key. See the module docs.
    pub fn set_previous_secret(&mut self, secret: Option<&[u8]>) -> Result<(), LivenessError> {
        self.previous_key = secret.map(HeartbeatKey::new).transpose()?;
        Ok(())
    }

    /// Sends with `secret` from now on and keeps accepting the current key as the previous one.
    pub fn rotate_secret(&mut self, secret: &[u8]) -> Result<(), LivenessError> {
        let new = HeartbeatKey::new(secret)?;
        self.previous_key = Some(std::mem::replace(&mut self.key, new));
        Ok(())
    }

    /// How far ahead of the receiver's clock an incarnation may be (default
    /// [`MAX_INCARNATION_AHEAD`]); `None` disables the check.
    pub fn set_max_incarnation_ahead(&mut self, bound: Option<Duration>) {
        self.max_incarnation_ahead = bound;
    }

    /// The local node name.
    pub fn local_name(&self) -> &str {
        &self.local
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &LivenessConfig {
        &self.config
    }

    /// Whether one `dead_after` has passed since creation (see the module docs).
    pub fn is_settled(&self, now: Instant) -> bool {
        now >= self.settled_at()
    }

    /// When the view settles (creation + `dead_after`).
    pub fn settled_at(&self) -> Instant {
        self.started + self.config.dead_after
    }

    // === sending ===

    /// Encodes the next heartbeat (sequence incremented).
    fn encode_next(&mut self, wall_ms: u64) -> Vec<u8> {
        self.sequence += 1;
        self.stats.sent += 1;
        let hb = Heartbeat {
            name: self.local.clone(),
            incarnation: self.incarnation,
            sequence: self.sequence,
            wall_ms,
            leaving: self.leaving,
        };
        encode(&hb, &self.key)
    }

    /// If a heartbeat is due at `now`, returns it; the adapter sends it to every peer.
    /// `wall_ms` is the current wall clock in ms since the epoch.
    pub fn poll_transmit(&mut self, now: Instant, wall_ms: u64) -> Option<Vec<u8>> {
        if now < self.next_send {
            return None;
        }
        // Skip missed slots rather than bursting to catch up.
        self.next_send = now + self.config.interval;
        Some(self.encode_next(wall_ms))
    }

    /// Starts a graceful leave and returns a `leaving` heartbeat to send at once (send it two
    /// or three times; later [`Membership::poll_transmit`] calls also carry the flag).
    pub fn leave(&mut self, wall_ms: u64) -> Vec<u8> {
        self.leaving = true;
        self.encode_next(wall_ms)
    }

    // === receiving ===

    /// Authenticates and applies a received datagram at `now` (receiver wall clock
    /// `wall_ms`). Returns the membership change it caused, if any.
    pub fn handle_datagram(
        &mut self,
        buf: &[u8],
        now: Instant,
        wall_ms: u64,
    ) -> Result<Option<MemberEvent>, LivenessError> {
        self.receive(buf, None, now, wall_ms)
    }

    /// [`Membership::handle_datagram`] for a datagram from source address `from`: a live
    /// peer's name is bound to the address it is heard from (see the module docs).
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
        let result = self.apply(buf, from, now, wall_ms);
        match &result {
            Ok(_) => self.stats.accepted += 1,
            Err(LivenessError::Malformed(_)) => self.stats.malformed += 1,
            Err(LivenessError::BadTag) => self.stats.bad_tag += 1,
            Err(LivenessError::Replay(_)) => self.stats.replayed += 1,
            Err(LivenessError::ClockSkew(_)) => self.stats.clock_skew += 1,
            Err(LivenessError::OwnName) => self.stats.own_name += 1,
            Err(LivenessError::FutureIncarnation(_)) => self.stats.future_incarnation += 1,
            Err(LivenessError::AddressMismatch { .. }) => self.stats.address_mismatch += 1,
            Err(LivenessError::Config(_)) => {}
        }
        result
    }

    /// Decodes with the current key, else the previous one.
    fn authenticate(&mut self, buf: &[u8]) -> Result<Heartbeat, LivenessError> {
        match (decode(buf, &self.key), &self.previous_key) {
            (Err(LivenessError::BadTag), Some(previous)) => {
                let hb = decode(buf, previous)?;
                self.stats.previous_key += 1;
                Ok(hb)
            }
            (result, _) => result,
        }
    }

    /// Checks that do not depend on the peer's state.
    fn admissible(&self, hb: &Heartbeat, wall_ms: u64) -> Result<(), LivenessError> {
        if hb.name == self.local {
            return Err(LivenessError::OwnName);
        }
        if let Some(max) = self.config.max_clock_skew {
            let skew = hb.wall_ms.abs_diff(wall_ms);
            if u128::from(skew) > max.as_millis() {
                return Err(LivenessError::ClockSkew(hb.name.clone()));
            }
        }
        if let Some(bound) = self.max_incarnation_ahead
            && wall_ms >= CLOCK_SANITY_FLOOR_MS
            && u128::from(hb.incarnation.saturating_sub(wall_ms)) > bound.as_millis()
        {
            return Err(LivenessError::FutureIncarnation(hb.name.clone()));
        }
        Ok(())
    }

    fn apply(
        &mut self,
        buf: &[u8],
        from: Option<IpAddr>,
        now: Instant,
        wall_ms: u64,
    ) -> Result<Option<MemberEvent>, LivenessError> {
        let hb = self.authenticate(buf)?;
        self.admissible(&hb, wall_ms)?;
        let dead_after = self.config.dead_after;
        let key = (hb.incarnation, hb.sequence);
        let peer = self.peers.entry(hb.name.clone()).or_insert(Peer::UNHEARD);
        let live = peer.is_live(now, dead_after);
        if let (true, Some(from), Some(bound)) = (live, from, peer.addr)
            && from != bound
        {
            return Err(LivenessError::AddressMismatch {
                name: hb.name,
                from,
                bound,
            });
        }
        let mut restarted_earlier = false;
        if let Some(last) = peer.last
            && key <= last
        {
            // A lower incarnation from a peer that is gone is a restart with an earlier clock;
            // while the peer is live it is a replay (or a stale reordered datagram).
            if live || hb.incarnation >= last.0 {
                return Err(LivenessError::Replay(hb.name));
            }
            restarted_earlier = true;
        }
        if !live {
            peer.addr = None;
        }
        if from.is_some() {
            peer.addr = peer.addr.or(from);
        }
        // Same incarnation, heard before, declared dead since: it kept running while we did
        // not hear it (partition heal), as opposed to a restarted process (new incarnation).
        let rejoin = !hb.leaving
            && peer.status == PeerStatus::Dead
            && peer.last.is_some_and(|(inc, _)| inc == hb.incarnation);
        peer.last = Some(key);
        peer.last_heard = Some(now);
        let (new_status, event) = match (hb.leaving, peer.status) {
            (true, PeerStatus::Alive) => (PeerStatus::Left, Some(MemberEvent::Left(hb.name))),
            (true, _) => (PeerStatus::Left, None),
            (false, PeerStatus::Alive) => (PeerStatus::Alive, None),
            (false, _) => (PeerStatus::Alive, Some(MemberEvent::Joined(hb.name))),
        };
        peer.status = new_status;
        if rejoin {
            self.stats.rejoined += 1;
        }
        if restarted_earlier {
            self.stats.restarted_earlier += 1;
        }
        if matches!(event, Some(MemberEvent::Joined(_))) {
            // Answer a (re)joining peer at once instead of at the next slot: after a partition
            // heals, the side that hears first makes the other side hear it within one
            // round trip, which shortens the time both sides announce the same IP.
            self.next_send = self.next_send.min(now);
        }
        Ok(event)
    }

    // === timers and views ===

    /// Declares peers silent for more than `dead_after` dead.
    pub fn tick(&mut self, now: Instant) -> Vec<MemberEvent> {
        let dead_after = self.config.dead_after;
        let mut out = Vec::new();
        for (name, p) in &mut self.peers {
            let silent = p
                .last_heard
                .is_none_or(|t| now.saturating_duration_since(t) > dead_after);
            if p.status == PeerStatus::Alive && silent {
                p.status = PeerStatus::Dead;
                out.push(MemberEvent::Died(name.clone()));
            }
        }
        out
    }

    /// The earliest time the adapter must call [`Membership::poll_transmit`] or
    /// [`Membership::tick`].
    pub fn next_deadline(&self) -> Instant {
        let death = self
            .peers
            .values()
            .filter(|p| p.status == PeerStatus::Alive)
            .filter_map(|p| p.last_heard)
            .min()
            .map(|t| t + self.config.dead_after + Duration::from_millis(1));
        death.map_or(self.next_send, |d| d.min(self.next_send))
    }

    /// Whether `name` is currently a live member (the local node is live unless leaving).
    pub fn is_alive(&self, name: &str) -> bool {
        if name == self.local {
            return !self.leaving;
        }
        self.peers
            .get(name)
            .is_some_and(|p| p.status == PeerStatus::Alive)
    }

    /// Live members, local node included unless leaving: the election's speaker set.
    pub fn alive_members(&self) -> impl Iterator<Item = &str> + '_ {
        let local = (!self.leaving).then_some(self.local.as_str());
        local.into_iter().chain(
            self.peers
                .iter()
                .filter(|(_, p)| p.status == PeerStatus::Alive)
                .map(|(n, _)| n.as_str()),
        )
    }

    /// Declares the expected speakers (e.g. from the speaker pod list). Unknown names are
    /// added as not-yet-heard; known peers missing from `names` are forgotten.
    pub fn set_expected_peers<'a, I: IntoIterator<Item = &'a str>>(&mut self, names: I) {
        let want: std::collections::BTreeSet<&str> =
            names.into_iter().filter(|n| *n != self.local).collect();
        self.peers.retain(|n, _| want.contains(n.as_str()));
        for n in want {
            self.peers.entry(n.to_owned()).or_insert(Peer::UNHEARD);
        }
    }

    /// Whether this speaker may announce under the configured [`QuorumPolicy`].
    pub fn has_quorum(&self) -> bool {
        match self.config.quorum {
            QuorumPolicy::Disabled => true,
            QuorumPolicy::Majority => {
                let expected = 1 + self
                    .peers
                    .values()
                    .filter(|p| p.status != PeerStatus::Left)
                    .count();
                let alive = 1 + self
                    .peers
                    .values()
                    .filter(|p| p.status == PeerStatus::Alive)
                    .count();
                alive * 2 > expected
            }
        }
    }
}

#[cfg(test)]
mod tests;
