use super::*;

const S: Duration = Duration::from_secs(1);

fn held_by(holder: &str, renew: &str) -> Record {
    Record {
        holder: Some(holder.into()),
        duration_seconds: Some(15),
        renew_time: Some(renew.into()),
        transitions: 3,
    }
}

#[test]
fn no_lease_is_created_and_a_free_one_is_taken() {
    let mut e = Elector::new("a", Timings::default());
    let t0 = Instant::now();
    assert_eq!(e.step(None, t0), Step::Create);
    let free = Record {
        holder: Some(String::new()),
        transitions: 2,
        ..Record::default()
    };
    assert_eq!(e.step(Some(&free), t0), Step::Acquire { transitions: 3 });
}

#[test]
fn a_live_lease_of_another_is_followed_until_unchanged_for_its_duration() {
    let mut e = Elector::new("b", Timings::default());
    let t0 = Instant::now();
    let r = held_by("a", "t1");
    assert_eq!(e.step(Some(&r), t0), Step::Follow { holder: "a".into() });
    assert_eq!(
        e.step(Some(&r), t0 + 14 * S),
        Step::Follow { holder: "a".into() }
    );
    // A renewal restarts the count, measured on our clock from when we saw it.
    let renewed = held_by("a", "t2");
    assert_eq!(
        e.step(Some(&renewed), t0 + 14 * S),
        Step::Follow { holder: "a".into() }
    );
    assert_eq!(
        e.step(Some(&renewed), t0 + 28 * S),
        Step::Follow { holder: "a".into() }
    );
    assert_eq!(
        e.step(Some(&renewed), t0 + 29 * S),
        Step::Acquire { transitions: 4 }
    );
    assert!(
        !e.is_leader(t0 + 29 * S),
        "not leader before the write succeeds"
    );
}

#[test]
fn the_holder_renews_and_leads_only_until_its_renew_deadline() {
    let mut e = Elector::new("a", Timings::default());
    let t0 = Instant::now();
    assert_eq!(e.step(None, t0), Step::Create);
    e.succeeded(t0);
    assert!(e.is_leader(t0 + 9 * S));
    assert_eq!(e.step(Some(&held_by("a", "t0")), t0 + 2 * S), Step::Renew);
    // Renewals fail from now on (partition): leadership lapses at t0 + 10 s.
    e.failed();
    assert!(e.is_leader(t0 + 9 * S));
    assert!(!e.is_leader(t0 + 10 * S));
}

#[test]
fn a_partitioned_holder_stops_before_anyone_can_acquire() {
    let timings = Timings::default();
    let (mut a, mut b) = (Elector::new("a", timings), Elector::new("b", timings));
    let t0 = Instant::now();
    // a's last successful renewal started at t0 and reached the server at t0 + 1 s at the
    // latest; b sees that record no earlier than the server has it.
    a.succeeded(t0);
    let record = held_by("a", "t0");
    let seen = t0 + S;
    assert!(matches!(b.step(Some(&record), seen), Step::Follow { .. }));
    let mut t = seen;
    while !matches!(b.step(Some(&record), t), Step::Acquire { .. }) {
        t += Duration::from_millis(100);
    }
    assert!(
        !a.is_leader(t),
        "a still led when b could acquire at {:?}",
        t - t0
    );
    let a_stopped = a.leader_until().expect("a led");
    assert!(a_stopped < t);
}

#[test]
fn losing_the_lease_to_another_ends_leadership_at_once() {
    let mut a = Elector::new("a", Timings::default());
    let t0 = Instant::now();
    a.succeeded(t0);
    assert!(matches!(
        a.step(Some(&held_by("b", "x")), t0 + S),
        Step::Follow { .. }
    ));
    assert!(!a.is_leader(t0 + S));
}

#[test]
fn timings_must_leave_the_holder_time_to_stop() {
    let ok = Timings::default();
    assert_eq!(ok.validate(), Ok(ok));
    let late = Timings {
        renew_deadline: Duration::from_secs(15),
        ..ok
    };
    assert!(matches!(
        late.validate(),
        Err(TimingsError::RenewNotBeforeExpiry { .. })
    ));
    let slow = Timings {
        retry_period: Duration::from_secs(10),
        ..ok
    };
    assert!(matches!(
        slow.validate(),
        Err(TimingsError::RetryNotBeforeDeadline { .. })
    ));
}
