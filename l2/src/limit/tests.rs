use super::*;

fn mac(i: u32) -> MacAddr {
    let b = i.to_be_bytes();
    MacAddr([0x02, 0, b[0], b[1], b[2], b[3]])
}

/// Requests from `sources` round-robin, `per_sec` a second for `secs`; how many were allowed.
fn drive(l: &mut ReplyLimiter, t0: Instant, sources: u32, per_sec: u32, secs: u32) -> u64 {
    let n = per_sec * secs;
    let step = Duration::from_secs(1) / per_sec;
    (0..n)
        .filter(|i| l.allow(mac(i % sources), t0 + step * *i))
        .count() as u64
}

#[test]
fn a_prober_at_100_per_second_is_always_answered() {
    let t0 = Instant::now();
    let mut l = ReplyLimiter::new(Limits::default(), t0);
    assert_eq!(drive(&mut l, t0, 1, 100, 60), 6_000);
    assert_eq!(l.refused(), 0);
}

#[test]
fn one_flooding_mac_gets_its_rate_and_burst_only() {
    let t0 = Instant::now();
    let lim = Limits::default();
    let mut l = ReplyLimiter::new(lim, t0);
    let allowed = drive(&mut l, t0, 1, 100_000, 10);
    let max = u64::from(lim.per_source_burst) + 10 * u64::from(lim.per_source);
    assert!(
        allowed <= max && allowed >= max - 5,
        "{allowed} of 1,000,000 (max {max})"
    );
    // Another client is still answered meanwhile.
    assert!(l.allow(mac(99), t0 + Duration::from_secs(10)));
}

#[test]
fn spoofed_sources_are_capped_by_the_responder_bucket_and_the_table_stays_bounded() {
    let t0 = Instant::now();
    let lim = Limits::default();
    let mut l = ReplyLimiter::new(lim, t0);
    // 100,000 requests/s, every one from a new MAC, for 5 s.
    let n = 500_000u32;
    let step = Duration::from_secs(5) / n;
    let allowed = (0..n).filter(|i| l.allow(mac(*i), t0 + step * *i)).count() as u64;
    let max = u64::from(lim.total_burst) + 5 * u64::from(lim.total);
    assert!(
        allowed <= max && allowed >= max - 5,
        "{allowed} (max {max})"
    );
    assert!(l.tracked() <= lim.sources, "{} tracked", l.tracked());
    assert_eq!(l.refused(), u64::from(n) - allowed);
}

#[test]
fn a_quiet_requester_is_forgotten_before_a_busy_one() {
    let t0 = Instant::now();
    let lim = Limits {
        sources: 2,
        ..Limits::default()
    };
    let mut l = ReplyLimiter::new(lim, t0);
    assert!(l.allow(mac(1), t0));
    // mac(2) exhausts its burst.
    let busy = (0..lim.per_source_burst + 10)
        .filter(|_| l.allow(mac(2), t0))
        .count();
    assert_eq!(busy, lim.per_source_burst as usize);
    // 100 ms later mac(1) is full again and is the one forgotten for mac(3).
    let t1 = t0 + Duration::from_millis(100);
    assert!(l.allow(mac(3), t1));
    assert_eq!(l.tracked(), 2);
    // mac(2) kept its bucket: only what 100 ms refilled (a tenth of its rate), not a fresh
    // burst.
    let again = (0..lim.per_source_burst)
        .filter(|_| l.allow(mac(2), t1))
        .count();
    let tenth = (lim.per_source / 10) as usize;
    assert!((tenth - 1..=tenth).contains(&again), "{again}");
}

#[test]
fn buckets_refill_at_their_rate() {
    let t0 = Instant::now();
    let lim = Limits {
        per_source: 10,
        per_source_burst: 1,
        ..Limits::default()
    };
    let mut l = ReplyLimiter::new(lim, t0);
    assert!(l.allow(mac(1), t0));
    assert!(!l.allow(mac(1), t0));
    let dt = source_interval(&lim);
    assert!(l.allow(mac(1), t0 + dt));
    assert!(!l.allow(mac(1), t0 + dt));
}
