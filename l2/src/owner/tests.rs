//! Ownership state machine tests.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn garps(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::SendGratuitous { .. }))
        .count()
}

#[test]
fn gain_answers_then_announces_immediately() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::metallb());
    let a = t.set(ip(1), Some(Interfaces::All), t0);
    assert_eq!(
        a,
        vec![
            Action::StartAnswering {
                ip: ip(1),
                interfaces: Interfaces::All
            },
            Action::SendGratuitous {
                ip: ip(1),
                interfaces: Interfaces::All
            },
        ]
    );
    assert!(t.is_owned(ip(1)));
    assert_eq!(t.next_deadline(), Some(t0 + ms(1100)));
}

#[test]
fn metallb_schedule_has_five_bursts() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::metallb());
    let mut sent = garps(&t.set(ip(1), Some(Interfaces::All), t0));
    let mut times = vec![0];
    // Drive with a 50 ms tick for 10 s (bounded loop).
    for step in 1..=200u64 {
        let n = garps(&t.poll(t0 + ms(step * 50)));
        if n > 0 {
            times.push(step * 50);
        }
        sent += n;
    }
    assert_eq!(sent, 5);
    assert_eq!(times, vec![0, 1100, 2200, 3300, 4400]);
    assert_eq!(t.next_deadline(), None);
}

#[test]
fn fast_schedule_and_deadline_driving() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::fast());
    let mut times = vec![];
    if garps(&t.set(ip(1), Some(Interfaces::All), t0)) > 0 {
        times.push(Duration::ZERO);
    }
    // Drive exactly at deadlines, as an adapter with a timer would.
    for _ in 0..20 {
        let Some(d) = t.next_deadline() else { break };
        if garps(&t.poll(d)) > 0 {
            times.push(d - t0);
        }
    }
    assert_eq!(times, [0, 250, 1100, 2200, 3300, 4400].map(ms).to_vec());
}

#[test]
fn unchanged_desired_state_is_silent() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::metallb());
    t.reconcile([(ip(1), Interfaces::All)], t0);
    for i in 1..10 {
        assert!(
            t.reconcile([(ip(1), Interfaces::All)], t0 + ms(i * 10))
                .is_empty()
        );
    }
}

#[test]
fn losing_ownership_stops_and_cancels_burst() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::metallb());
    t.reconcile([(ip(1), Interfaces::All), (ip(2), Interfaces::All)], t0);
    let a = t.reconcile([(ip(2), Interfaces::All)], t0 + ms(100));
    assert_eq!(a, vec![Action::StopAnswering { ip: ip(1) }]);
    let later = t.poll(t0 + ms(1100));
    assert_eq!(
        later,
        vec![Action::SendGratuitous {
            ip: ip(2),
            interfaces: Interfaces::All
        }]
    );
}

#[test]
fn interface_change_restarts_answering_and_burst() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::metallb());
    let eth0 = Interfaces::Named(["eth0".to_string()].into());
    t.set(ip(1), Some(eth0.clone()), t0);
    let both = eth0.union(Interfaces::Named(["eth1".to_string()].into()));
    let a = t.set(ip(1), Some(both.clone()), t0 + ms(10));
    assert_eq!(
        a[0],
        Action::StartAnswering {
            ip: ip(1),
            interfaces: both.clone()
        }
    );
    assert_eq!(garps(&a), 1);
    assert!(both.contains("eth1") && !both.contains("eth2"));
    assert!(t.answers_on(ip(1), "eth1") && !t.answers_on(ip(1), "eth2"));
    assert!(!t.answers_on(ip(2), "eth0"));
}

#[test]
fn reconcile_merges_shared_ips() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::metallb());
    let a = Interfaces::Named(["eth0".to_string()].into());
    let b = Interfaces::Named(["eth1".to_string()].into());
    t.reconcile([(ip(1), a.clone()), (ip(1), b.clone())], t0);
    assert_eq!(t.interfaces(ip(1)), Some(&a.union(b)));
}

#[test]
fn refresh_after_burst() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::from_offsets(vec![ms(0)]).with_refresh(ms(1000)));
    assert_eq!(garps(&t.set(ip(1), Some(Interfaces::All), t0)), 1);
    assert_eq!(t.next_deadline(), Some(t0 + ms(1000)));
    assert_eq!(garps(&t.poll(t0 + ms(999))), 0);
    assert_eq!(garps(&t.poll(t0 + ms(1000))), 1);
    assert_eq!(t.next_deadline(), Some(t0 + ms(2000)));
}

#[test]
fn retrigger_and_release_all() {
    let t0 = Instant::now();
    let mut t = OwnerTable::new(GarpSchedule::metallb());
    t.set(ip(1), Some(Interfaces::All), t0);
    assert_eq!(garps(&t.retrigger(ip(1), t0 + ms(500))), 1);
    assert_eq!(t.next_deadline(), Some(t0 + ms(1600)));
    assert!(t.retrigger(ip(9), t0).is_empty());
    assert_eq!(t.release_all(), vec![Action::StopAnswering { ip: ip(1) }]);
    assert_eq!(t.owned().count(), 0);
}
