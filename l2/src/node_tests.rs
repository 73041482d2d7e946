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
            if let Some(n) = self.nodes[to].as_mut() {
                n.handle_datagram(datagram, now, self.now_ms).unwrap();
            }
        }
    }

    fn step(&mut self) {
        self.now_ms += STEP_MS;
        let now = self.t0 + ms(self.now_ms);
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

    fn starts(&self, node: usize) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(_, n, a)| *n == node && matches!(a, Action::StartAnswering { .. }))
            .map(|(t, _, _)| *t)
            .collect()
    }
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
    let names = ["node-a", "node-b", "node-c"];
    let mut sim = Sim::new(&names, QuorumPolicy::Disabled);
    sim.run_until(2000);
    let owner = sim.owners()[0];
    sim.nodes[owner] = None; // crash: silent from now on
    let crash_at = sim.now_ms;
    sim.run_until(4000);
    let rest: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != sim.names[owner])
        .collect();
    let next = sim.idx(&Sim::expected(&rest));
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
    let names = ["node-a", "node-b", "node-c"];
    let mut sim = Sim::new(&names, QuorumPolicy::Disabled);
    sim.run_until(2000);
    let owner = sim.owners()[0];
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
    let rest: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != sim.names[owner])
        .collect();
    let next = sim.idx(&Sim::expected(&rest));
    assert_eq!(sim.owners(), vec![next]);
    assert!(
        sim.starts(next)[0] - left_at <= 2 * STEP_MS,
        "takeover must follow the leave at once"
    );
}

#[test]
fn partition_with_majority_quorum_has_one_owner() {
    let names = ["node-a", "node-b", "node-c"];
    let mut sim = Sim::new(&names, QuorumPolicy::Majority);
    sim.run_until(2000);
    let owner = sim.owners()[0];
    // Cut the owner off from both peers, both directions.
    for other in 0..3 {
        if other != owner {
            sim.link[owner][other] = false;
            sim.link[other][owner] = false;
        }
    }
    sim.run_until(3500);
    let o = sim.owners();
    assert_eq!(o.len(), 1, "exactly one owner, got {o:?}");
    assert_ne!(o[0], owner, "the isolated minority must release");
    // Heal: the original owner sorts first again and takes the IP back.
    for row in &mut sim.link {
        row.iter_mut().for_each(|l| *l = true);
    }
    sim.run_until(5000);
    assert_eq!(sim.owners(), vec![owner]);
}

#[test]
fn partition_without_quorum_is_split_brain_like_metallb() {
    let names = ["node-a", "node-b", "node-c"];
    let mut sim = Sim::new(&names, QuorumPolicy::Disabled);
    sim.run_until(2000);
    let owner = sim.owners()[0];
    for other in 0..3 {
        if other != owner {
            sim.link[owner][other] = false;
            sim.link[other][owner] = false;
        }
    }
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
