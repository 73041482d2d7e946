use super::*;

fn feed(g: &mut HealthGate, results: &[bool]) -> Vec<Option<Transition>> {
    results.iter().map(|r| g.observe(*r)).collect()
}

#[test]
fn starts_withdrawn_and_needs_rise_successes() {
    let mut g = HealthGate::new(2, 3);
    assert_eq!(g.state(), State::Withdrawn);
    assert_eq!(g.observe(true), None);
    assert_eq!(g.observe(true), Some(Transition::BecameCandidate));
    assert_eq!(g.state(), State::Candidate);
}

#[test]
fn withdraws_after_fall_consecutive_failures_only() {
    let mut g = HealthGate::new(1, 3);
    assert_eq!(g.observe(true), Some(Transition::BecameCandidate));
    // Two failures, a success resets the streak: still a candidate.
    assert_eq!(
        feed(&mut g, &[false, false, true, false, false]),
        vec![None; 5]
    );
    assert_eq!(g.state(), State::Candidate);
    assert_eq!(g.observe(false), Some(Transition::Withdrew));
    assert_eq!(g.state(), State::Withdrawn);
    // Further failures change nothing.
    assert_eq!(feed(&mut g, &[false, false]), vec![None; 2]);
}

#[test]
fn flapping_below_rise_never_becomes_candidate() {
    let mut g = HealthGate::new(3, 1);
    let out = feed(&mut g, &[true, true, false, true, true, false, true]);
    assert!(out.iter().all(Option::is_none), "{out:?}");
    assert_eq!(g.state(), State::Withdrawn);
    assert_eq!(
        feed(&mut g, &[true, true]),
        vec![None, Some(Transition::BecameCandidate)]
    );
}

#[test]
fn zero_thresholds_act_as_one() {
    let mut g = HealthGate::new(0, 0);
    assert_eq!(g.observe(true), Some(Transition::BecameCandidate));
    assert_eq!(g.observe(false), Some(Transition::Withdrew));
}

#[test]
fn a_refused_connection_withdraws_a_candidate_at_once() {
    let mut g = HealthGate::new(2, 3);
    assert_eq!(
        feed(&mut g, &[true, true]),
        vec![None, Some(Transition::BecameCandidate)]
    );
    // One failure already counted: the refusal withdraws regardless of the fall streak.
    assert_eq!(g.observe(false), None);
    assert_eq!(g.refused(), Some(Transition::Withdrew));
    assert_eq!(g.state(), State::Withdrawn);
    // While withdrawn it only restarts the rise count.
    assert_eq!(g.observe(true), None);
    assert_eq!(g.refused(), None);
    assert_eq!(g.observe(true), None);
    assert_eq!(g.observe(true), Some(Transition::BecameCandidate));
}
