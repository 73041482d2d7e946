//! Deterministic cluster simulations of [`L2Node`]: virtual time in 5 ms steps, an in-memory
//! network with a configurable link matrix, one service IP elected with the MetalLB order.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::{
    election::{NodeCandidate, TrafficPolicy, elect},
    liveness::QuorumPolicy,
};

const SECRET: &[u8] = b"simulation-secret-0123456789";
const STEP_MS: u64 = 5;

fn vip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Sim {
    t0: Instant,
    names: Vec<String>,
    nodes: Vec<Option<L2Node>>,
    /// `link[from][to]`: whether datagrams are delivered.
    link: Vec<Vec<bool>>,
    now_ms: u64,
    /// `(time_ms, node, action)` of every ownership action.
    log: Vec<(u64, usize, Action)>,
    /// One-way datagram latency in steps (0: delivered within the sending step).
    latency_steps: u64,
    /// Datagrams on the wire: `(due_ms, from, to, bytes)`.
    in_flight: Vec<(u64, usize, usize, Vec<u8>)>,
}

impl Sim {
    fn new(names: &[&str], quorum: QuorumPolicy) -> Self {
        let t0 = Instant::now();
        let config = LivenessConfig {
            quorum,
            ..LivenessConfig::default()
        };
        let nodes = names
            .iter()
            .map(|n| {
                let mut node =
                    L2Node::new(n, 1, SECRET, config.clone(), GarpSchedule::metallb(), t0).unwrap();
                node.membership_mut()
                    .set_expected_peers(names.iter().copied());
                Some(node)
            })
            .collect();
        let n = names.len();
        Sim {
            t0,
            names: names.iter().map(|s| s.to_string()).collect(),
            nodes,
            link: vec![vec![true; n]; n],
            now_ms: 0,
            log: Vec::new(),
            latency_steps: 0,
            in_flight: Vec::new(),
        }
    }

    fn idx(&self, name: &str) -> usize {
        self.names.iter().position(|n| n == name).unwrap()
    }

    /// Who wins the VIP among `alive` (the reference answer).
    fn expected(alive: &[&str]) -> String {
        let c = alive.iter().map(|n| NodeCandidate::eligible(n));
        elect(vip(), TrafficPolicy::Cluster, c).unwrap().to_string()
    }

    fn deliver(&mut self, from: usize, datagram: &[u8]) {
        let now = self.t0 + ms(self.now_ms);
        for to in 0..self.nodes.len() {
            if to == from || !self.link[from][to] {
                continue;
            }
            if self.latency_steps > 0 {
                let due = self.now_ms + self.latency_steps * STEP_MS;
                self.in_flight.push((due, from, to, datagram.to_vec()));
            } else if let Some(n) = self.nodes[to].as_mut() {
                n.handle_datagram(datagram, now, self.now_ms).unwrap();
            }
        }
    }

    fn step(&mut self) {
        self.now_ms += STEP_MS;
        let now = self.t0 + ms(self.now_ms);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(t, ..)| *t <= self.now_ms);
        self.in_flight = later;
        for (_, _, to, d) in due {
            if let Some(n) = self.nodes[to].as_mut() {
                n.handle_datagram(&d, now, self.now_ms).unwrap();
            }
        }
        for i in 0..self.nodes.len() {
            let Some(node) = self.nodes[i].as_mut() else {
                continue;
            };
            let me = self.names[i].clone();
            let outputs = node.poll(now, self.now_ms, |m| {
                let c = m.alive_members().map(NodeCandidate::eligible);
                match elect(vip(), TrafficPolicy::Cluster, c) {
                    Some(w) if w == me => vec![(vip(), Interfaces::All)],
                    _ => vec![],
                }
            });
            for o in outputs {
                match o {
                    Output::Heartbeat(d) => self.deliver(i, &d),
                    Output::Owner(a) => self.log.push((self.now_ms, i, a)),
                    Output::Member(_) => {}
                }
            }
        }
    }

    fn run_until(&mut self, t_ms: u64) {
        while self.now_ms < t_ms {
            self.step();
        }
    }

    fn owners(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| {
                self.nodes[*i]
                    .as_ref()
                    .is_some_and(|n| n.owner().is_owned(vip()))
            })
            .collect()
    }

    /// The node the election picks once `gone` is gone.
    fn successor(&self, gone: usize) -> usize {
        let rest: Vec<&str> = self
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| *n != self.names[gone])
            .collect();
        self.idx(&Sim::expected(&rest))
    }

    /// Cuts (`false`) or restores (`true`) every link of `node`, both directions.
    fn set_links(&mut self, node: usize, up: bool) {
        for other in 0..self.nodes.len() {
            if other != node {
                self.link[node][other] = up;
                self.link[other][node] = up;
            }
        }
    }

    /// Steps until `t_ms`; returns the steps (their end times) at which two nodes owned the VIP.
    fn run_counting_overlap(&mut self, t_ms: u64) -> Vec<u64> {
        let mut both = Vec::new();
        while self.now_ms < t_ms {
            self.step();
            if self.owners().len() > 1 {
                both.push(self.now_ms);
            }
        }
        both
    }

    /// Times of `node`'s actions matching `f` after `from_ms`.
    fn actions_after(&self, node: usize, from_ms: u64, f: fn(&Action) -> bool) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(t, n, a)| *n == node && *t > from_ms && f(a))
            .map(|(t, _, _)| *t)
            .collect()
    }

    fn starts(&self, node: usize) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(_, n, a)| *n == node && matches!(a, Action::StartAnswering { .. }))
            .map(|(t, _, _)| *t)
            .collect()
    }
}

/// Three nodes settled at 2 s: their names, the simulation and the IP's owner.
fn settled(quorum: QuorumPolicy) -> ([&'static str; 3], Sim, usize) {
    let names = ["node-a", "node-b", "node-c"];
    let mut sim = Sim::new(&names, quorum);
    sim.run_until(2000);
    let owner = sim.owners()[0];
    (names, sim, owner)
}

#[test]
fn steady_state_single_owner_and_no_respam() {
    let mut sim = Sim::new(&["node-a", "node-b", "node-c"], QuorumPolicy::Disabled);
    sim.run_until(595);
    assert!(
        sim.owners().is_empty(),
        "nobody may own before the view settles"
    );
    sim.run_until(3000);
    let owner = sim.idx(&Sim::expected(&["node-a", "node-b", "node-c"]));
    assert_eq!(sim.owners(), vec![owner]);
    // Exactly one StartAnswering and MetalLB's 5 bursts, no re-spam on later polls.
    assert_eq!(sim.starts(owner).len(), 1);
    sim.run_until(10_000);
    let garps = sim
        .log
        .iter()
        .filter(|(_, _, a)| matches!(a, Action::SendGratuitous { .. }));
    assert_eq!(garps.count(), 5);
}

#[test]
fn crash_fails_over_within_budget() {
    let (_, mut sim, owner) = settled(QuorumPolicy::Disabled);
    sim.nodes[owner] = None; // crash: silent from now on
    let crash_at = sim.now_ms;
    sim.run_until(4000);
    let next = sim.successor(owner);
    assert_eq!(sim.owners(), vec![next]);
    let took = sim.starts(next)[0] - crash_at;
    // dead_after (600 ms) after the last heartbeat (≤ 100 ms before the crash) + one step.
    assert!((500..=700).contains(&took), "takeover after {took} ms");
    // The takeover includes an immediate gratuitous burst.
    assert!(sim.log.iter().any(|(t, n, a)| *n == next
        && *t == crash_at + took
        && matches!(a, Action::SendGratuitous { .. })));
}

#[test]
fn graceful_leave_is_make_before_break() {
    let (_, mut sim, owner) = settled(QuorumPolicy::Disabled);
    let now = sim.t0 + ms(sim.now_ms);
    let bye = sim.nodes[owner].as_mut().unwrap().leave(now, sim.now_ms);
    sim.deliver(owner, &bye);
    let left_at = sim.now_ms;
    let mut overlap = false;
    while sim.now_ms < left_at + 1000 {
        sim.step();
        let o = sim.owners();
        assert!(!o.is_empty(), "IP unowned at {} ms", sim.now_ms);
        overlap |= o.len() == 2;
    }
    assert!(overlap, "new owner must start before the old one stops");
    assert!(sim.nodes[owner].as_ref().unwrap().is_finished());
    let next = sim.successor(owner);
    assert_eq!(sim.owners(), vec![next]);
    assert!(
        sim.starts(next)[0] - left_at <= 2 * STEP_MS,
        "takeover must follow the leave at once"
    );
}

#[test]
fn partition_with_majority_quorum_has_one_owner() {
    let (_, mut sim, owner) = settled(QuorumPolicy::Majority);
    // Cut the owner off from both peers, both directions.
    sim.set_links(owner, false);
    sim.run_until(3500);
    let o = sim.owners();
    assert_eq!(o.len(), 1, "exactly one owner, got {o:?}");
    assert_ne!(o[0], owner, "the isolated minority must release");
    // Heal: the original owner sorts first again and takes the IP back.
    sim.set_links(owner, true);
    sim.run_until(5000);
    assert_eq!(sim.owners(), vec![owner]);
}

#[test]
fn partition_without_quorum_is_split_brain_like_metallb() {
    let (_, mut sim, owner) = settled(QuorumPolicy::Disabled);
    sim.set_links(owner, false);
    sim.run_until(3500);
    assert_eq!(
        sim.owners().len(),
        2,
        "documented MetalLB behaviour: both sides announce"
    );
}

#[test]
fn deadline_covers_settling_and_bursts() {
    let t0 = Instant::now();
    let mut node = L2Node::new(
        "solo",
        1,
        SECRET,
        LivenessConfig::default(),
        GarpSchedule::metallb(),
        t0,
    )
    .unwrap();
    let first = node.poll(t0, 0, |_| vec![(vip(), Interfaces::All)]);
    assert!(
        matches!(first.as_slice(), [Output::Heartbeat(_)]),
        "no ownership before settling"
    );
    assert_eq!(node.next_deadline(), t0 + ms(100));
    // Drive only by deadlines: the node must settle at 600 ms and then own the VIP.
    for _ in 0..20 {
        let d = node.next_deadline();
        node.poll(d, 0, |_| vec![(vip(), Interfaces::All)]);
    }
    assert!(node.owner().is_owned(vip()));
    node.invalidate();
    let d = node.next_deadline();
    let out = node.poll(d, 0, |_| vec![]);
    assert!(out.contains(&Output::Owner(Action::StopAnswering { ip: vip() })));
}

/// The blackhole scenario of the e2e test `e_blackholed_owner_*` with `--quorum majority`:
/// the owner's link is cut both ways (its speaker keeps running) and restored at
/// `3500 + offset` ms — first towards the owner, and `skew` ms later from the owner (an
/// asymmetric heal: the owner hears its peers before they hear it). Returns the simulation,
/// the owner, the heal time and the steps with two owners.
fn blackhole_and_heal(
    hold: Option<Duration>,
    offset: u64,
    skew: u64,
) -> (Sim, usize, u64, Vec<u64>) {
    let names = ["node-a", "node-b", "node-c"];
    let mut sim = Sim::new(&names, QuorumPolicy::Majority);
    sim.latency_steps = 1; // 5 ms one way: both sides cannot learn of the heal in the same step
    if let Some(h) = hold {
        for n in sim.nodes.iter_mut() {
            let node = n.take().unwrap();
            *n = Some(node.with_rejoin_hold(h));
        }
    }
    sim.run_until(2000);
    let owner = sim.owners()[0];
    sim.set_links(owner, false);
    sim.run_until(3500 + offset);
    assert_eq!(sim.owners().len(), 1);
    assert_ne!(sim.owners()[0], owner, "the isolated minority must release");
    let heal = sim.now_ms;
    for other in 0..names.len() {
        sim.link[other][owner] = true;
    }
    let mut overlap = sim.run_counting_overlap(heal + skew);
    sim.set_links(owner, true);
    overlap.extend(sim.run_counting_overlap(heal + 2000));
    (sim, owner, heal, overlap)
}

/// Heal offsets covering every phase of the 100 ms heartbeat interval.
const OFFSETS: [u64; 10] = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90];

#[test]
fn heal_with_majority_quorum_is_break_before_make() {
    // Symmetric heals, and heals where the owner's own datagrams get through 50 ms late (less
    // than one interval: the hold of two intervals still covers its next heartbeat).
    for skew in [0, 50] {
        for offset in OFFSETS {
            let (sim, owner, heal, overlap) = blackhole_and_heal(None, offset, skew);
            assert!(
                overlap.is_empty(),
                "heal at +{offset} (skew {skew}): two owners at {overlap:?}"
            );
            assert_eq!(
                sim.owners(),
                vec![owner],
                "the elected node takes the IP back"
            );
            // It hears a peer within one interval (+ latency), then holds for two intervals.
            let back =
                sim.actions_after(owner, heal, |a| matches!(a, Action::StartAnswering { .. }))[0];
            assert!(
                (200..=100 + 200 + 4 * STEP_MS).contains(&(back - heal)),
                "heal at +{offset} (skew {skew}): reclaimed {} ms after the heal",
                back - heal
            );
        }
    }
}

#[test]
fn heal_with_majority_quorum_but_no_hold_overlaps() {
    // Control for the test above: without the hold the returning node claims as soon as it
    // hears a peer, before the interim owner has heard it.
    let overlapping = OFFSETS
        .iter()
        .filter(|o| {
            let (sim, owner, _, overlap) = blackhole_and_heal(Some(Duration::ZERO), **o, 50);
            assert_eq!(sim.owners(), vec![owner]);
            !overlap.is_empty()
        })
        .count();
    assert!(overlapping > 0, "expected an overlap without the hold");
}

#[test]
fn heal_without_quorum_overlaps_at_most_one_interval_and_reannounces() {
    let names = ["node-a", "node-b", "node-c"];
    let mut sim = Sim::new(&names, QuorumPolicy::Disabled);
    sim.latency_steps = 1;
    sim.run_until(2000);
    let owner = sim.owners()[0];
    sim.set_links(owner, false);
    sim.run_until(3500);
    assert_eq!(
        sim.owners().len(),
        2,
        "MetalLB behaviour: both sides announce"
    );
    let interim = *sim.owners().iter().find(|o| **o != owner).unwrap();
    // Heal mid-interval (heartbeats are sent at multiples of 100 ms in this simulation).
    sim.run_until(3530);
    let heal = sim.now_ms;
    sim.set_links(owner, true);
    let overlap = sim.run_counting_overlap(heal + 5000);
    assert_eq!(sim.owners(), vec![owner]);
    let last = overlap.last().copied().unwrap_or(heal);
    assert!(
        last - heal <= 100 + 3 * STEP_MS,
        "both answered until {} ms after the heal: {overlap:?}",
        last - heal
    );
    // The isolated owner never stopped, and re-announces at once once it hears a peer again,
    // so caches that learned the interim owner's MAC come back.
    assert!(
        sim.actions_after(owner, heal, |a| matches!(a, Action::StopAnswering { .. }))
            .is_empty()
    );
    let garp = sim.actions_after(owner, heal, |a| matches!(a, Action::SendGratuitous { .. }));
    assert!(
        garp.first().is_some_and(|t| t - heal <= 100 + 3 * STEP_MS),
        "no gratuitous burst right after the heal: {garp:?}"
    );
    // ... a full burst (MetalLB's schedule: 5 frames; restarted once more if the two peers
    // are heard apart), not a single frame.
    assert!((5..=6).contains(&garp.len()), "{garp:?}");
    let stop = sim.actions_after(interim, heal, |a| matches!(a, Action::StopAnswering { .. }));
    assert_eq!(stop.len(), 1);
}

#[test]
fn restarted_peer_triggers_no_reannouncement() {
    let (names, mut sim, owner) = settled(QuorumPolicy::Disabled);
    let other = (owner + 1) % 3;
    sim.run_until(6000); // the owner's first gratuitous burst (0 .. 4.4 s) is over
    sim.nodes[other] = None;
    sim.run_until(7000);
    // A new process (new incarnation) on the crashed node.
    let config = LivenessConfig::default();
    let mut node = L2Node::new(
        &sim.names[other],
        2,
        SECRET,
        config,
        GarpSchedule::metallb(),
        sim.t0 + ms(sim.now_ms),
    )
    .unwrap();
    node.membership_mut()
        .set_expected_peers(names.iter().copied());
    sim.nodes[other] = Some(node);
    let back = sim.now_ms;
    sim.run_until(back + 6000);
    assert_eq!(sim.owners(), vec![owner]);
    assert!(
        sim.actions_after(owner, back, |a| matches!(a, Action::SendGratuitous { .. }))
            .is_empty(),
        "a restart is not a partition heal"
    );
}

/// A live peer is bound to the address it is heard from: the node passes the source address
/// to the membership, and a refused heartbeat changes nothing (no re-election).
#[test]
fn datagram_from_binds_a_live_peer_to_its_address() {
    let t0 = Instant::now();
    let config = LivenessConfig::default();
    let new = |name: &str| {
        L2Node::new(name, 1, SECRET, config.clone(), GarpSchedule::metallb(), t0).unwrap()
    };
    let (mut a, mut b) = (new("a"), new("b"));
    let home: IpAddr = "192.0.2.1".parse().unwrap();
    let elsewhere: IpAddr = "192.0.2.9".parse().unwrap();
    let hb1 = a.poll(t0, 1, |_| Default::default());
    let Some(Output::Heartbeat(hb1)) = hb1.into_iter().find(|o| matches!(o, Output::Heartbeat(_)))
    else {
        panic!("a heartbeat is due at once");
    };
    assert!(b.handle_datagram_from(&hb1, home, t0, 1).unwrap().is_some());
    assert!(b.membership().is_alive("a"));
    let hb2 = a.leave(t0 + ms(10), 2);
    assert!(matches!(
        b.handle_datagram_from(&hb2, elsewhere, t0 + ms(10), 2),
        Err(LivenessError::AddressMismatch { .. })
    ));
    assert!(
        b.membership().is_alive("a"),
        "a spoofed leave from elsewhere is refused"
    );
    assert_eq!(b.membership().stats().address_mismatch, 1);
    assert!(
        b.handle_datagram_from(&hb2, home, t0 + ms(10), 2)
            .unwrap()
            .is_some()
    );
    assert!(!b.membership().is_alive("a"), "the real leave is accepted");
}

// === Partitions the symmetric cases above do not cover (issue 19; the e2e counterparts are
// `e2e/tests/faults_partitions.rs`) ===

/// Start/stop actions of any node after `from_ms`: the owner changes a client could see.
fn owner_changes_after(sim: &Sim, from_ms: u64) -> usize {
    sim.log
        .iter()
        .filter(|(t, _, a)| {
            *t > from_ms
                && matches!(
                    a,
                    Action::StartAnswering { .. } | Action::StopAnswering { .. }
                )
        })
        .count()
}

/// One-way loss: a node elects among the members *it* hears (no indirect probes, no gossip of
/// views). The owner not hearing a peer changes nothing; a peer not hearing the owner, and
/// winning without it, announces too until it hears the owner again — with either policy (it
/// still hears a majority).
#[test]
fn one_way_partition_duplicates_only_when_the_successor_is_deaf_to_the_owner() {
    for quorum in [QuorumPolicy::Disabled, QuorumPolicy::Majority] {
        let (_, mut sim, owner) = settled(quorum);
        let second = sim.successor(owner);
        sim.link[second][owner] = false; // the owner does not hear the second
        let from = sim.now_ms;
        let overlap = sim.run_counting_overlap(from + 1500);
        assert!(overlap.is_empty(), "{quorum:?}: {overlap:?}");
        assert_eq!(sim.owners(), vec![owner], "{quorum:?}");
        assert_eq!(owner_changes_after(&sim, from), 0, "{quorum:?}");
        sim.link[second][owner] = true;
        sim.run_until(from + 2500);

        sim.link[owner][second] = false; // the second does not hear the owner
        sim.run_until(from + 4000);
        let mut both = vec![owner, second];
        both.sort();
        assert_eq!(sim.owners(), both, "{quorum:?}: both announce");
        let heal = sim.now_ms;
        sim.link[owner][second] = true;
        let overlap = sim.run_counting_overlap(heal + 2000);
        assert_eq!(sim.owners(), vec![owner], "{quorum:?}");
        let last = overlap.last().copied().unwrap_or(heal);
        assert!(
            last - heal <= 100 + 3 * STEP_MS,
            "{quorum:?}: both answered until {} ms after the heal",
            last - heal
        );
    }
}

/// Cuts `node` off both ways for `on_ms`, heals for `off_ms`, until `until_ms`; returns the
/// number of cuts.
fn flap(sim: &mut Sim, node: usize, on_ms: u64, off_ms: u64, until_ms: u64) -> u64 {
    let mut cuts = 0;
    while sim.now_ms < until_ms {
        sim.set_links(node, false);
        sim.run_until(sim.now_ms + on_ms);
        sim.set_links(node, true);
        sim.run_until(sim.now_ms + off_ms);
        cuts += 1;
    }
    cuts
}

/// A flapping partition whose cuts stay below `dead_after` minus one interval is invisible: no
/// peer is ever declared dead, so nobody re-elects and the owner never changes.
#[test]
fn flapping_below_dead_after_changes_no_owner() {
    for quorum in [QuorumPolicy::Disabled, QuorumPolicy::Majority] {
        for on_ms in [300, 450] {
            let (_, mut sim, owner) = settled(quorum);
            let from = sim.now_ms;
            let cuts = flap(&mut sim, owner, on_ms, 300, from + 10_000);
            assert!(cuts >= 13);
            assert_eq!(
                owner_changes_after(&sim, from),
                0,
                "{quorum:?}, {on_ms} ms cuts"
            );
            assert_eq!(sim.owners(), vec![owner]);
        }
    }
}

/// Cuts longer than `dead_after` do move the IP, but boundedly: per cut the interim owner
/// starts and stops (and with a majority the isolated owner stops and starts again after its
/// rejoin hold), never a storm.
#[test]
fn flapping_beyond_dead_after_costs_a_bounded_number_of_changes_per_cut() {
    for (quorum, per_cut) in [(QuorumPolicy::Disabled, 2), (QuorumPolicy::Majority, 4)] {
        let (_, mut sim, owner) = settled(quorum);
        let from = sim.now_ms;
        let cuts = flap(&mut sim, owner, 900, 500, from + 14_000) as usize;
        sim.run_until(sim.now_ms + 1000);
        let changes = owner_changes_after(&sim, from);
        assert!(
            (1..=per_cut * cuts).contains(&changes),
            "{quorum:?}: {changes} owner changes in {cuts} cuts"
        );
        assert_eq!(sim.owners(), vec![owner], "{quorum:?}");
    }
}

/// A 2|2 split of four nodes: without quorum each half announces its own winner (MetalLB);
/// with a majority neither half has one and nobody announces. After the heal the elected node
/// is the only owner — at once without quorum (at most one interval of overlap), and with a
/// majority break-before-make (no overlap at all).
#[test]
fn split_2_2_one_owner_per_half_or_none_with_majority() {
    let names = ["node-a", "node-b", "node-c", "node-d"];
    for quorum in [QuorumPolicy::Disabled, QuorumPolicy::Majority] {
        let mut sim = Sim::new(&names, quorum);
        sim.run_until(2000);
        let owner = sim.idx(&Sim::expected(&names));
        assert_eq!(sim.owners(), vec![owner]);
        let halves = [[0, 1], [2, 3]];
        for a in halves[0] {
            for b in halves[1] {
                sim.link[a][b] = false;
                sim.link[b][a] = false;
            }
        }
        sim.run_until(3500);
        let want = match quorum {
            QuorumPolicy::Disabled => {
                let mut w: Vec<usize> = halves
                    .iter()
                    .map(|h| sim.idx(&Sim::expected(&[names[h[0]], names[h[1]]])))
                    .collect();
                w.sort();
                w
            }
            QuorumPolicy::Majority => vec![],
        };
        assert_eq!(sim.owners(), want, "{quorum:?} during the split");
        let heal = sim.now_ms;
        sim.link = vec![vec![true; names.len()]; names.len()];
        let overlap = sim.run_counting_overlap(heal + 2000);
        assert_eq!(sim.owners(), vec![owner], "{quorum:?} after the heal");
        match quorum {
            QuorumPolicy::Disabled => {
                let last = overlap.last().copied().unwrap_or(heal);
                assert!(last - heal <= 100 + 3 * STEP_MS, "{overlap:?}");
            }
            QuorumPolicy::Majority => assert!(overlap.is_empty(), "{overlap:?}"),
        }
    }
}
