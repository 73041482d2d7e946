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

/// 100,000 requests/s for `secs`, each from a new MAC, interleaved with `known` established
/// clients asking 100 times a second each; (flood replies, client replies, client requests).
fn spoofed_flood(l: &mut ReplyLimiter, t0: Instant, known: u32, secs: u32) -> (u64, u64, u64) {
    let n = 100_000 * secs;
    let step = Duration::from_secs(secs.into()) / n;
    let (mut flood, mut clients, mut asked) = (0, 0, 0);
    for i in 0..n {
        let t = t0 + step * i;
        if l.allow(mac(1_000_000 + i), t) {
            flood += 1;
        }
        // Every 10 ms (1,000 flood frames), each known client asks once.
        if i % 1_000 == 0 {
            for k in 0..known {
                asked += 1;
                if l.allow(mac(k), t) {
                    clients += 1;
                }
            }
        }
    }
    (flood, clients, asked)
}

#[test]
fn a_spoofed_flood_drains_the_new_bucket_only_and_known_clients_keep_their_answers() {
    let lim = Limits::default();
    let t0 = Instant::now();
    let mut l = ReplyLimiter::new(lim, t0);
    // Ten clients known for 2 s before the flood.
    assert_eq!(drive(&mut l, t0, 10, 100, 2), 200);
    let t1 = t0 + Duration::from_secs(2);
    let (flood, clients, asked) = spoofed_flood(&mut l, t1, 10, 5);
    let max = u64::from(lim.new_burst) + 5 * u64::from(lim.new);
    assert!(
        flood <= max && flood + 5 >= max,
        "{flood} flood replies (max {max})"
    );
    assert_eq!(clients, asked, "every known client's request answered");
    assert!(l.tracked() <= lim.sources, "{} tracked", l.tracked());
    assert!(
        max + asked <= lim.most_in(Duration::from_secs(5)),
        "most_in bounds what was sent"
    );
}

#[test]
fn a_client_arriving_during_a_spoofed_flood_competes_with_it_until_established() {
    let lim = Limits::default();
    let t0 = Instant::now();
    let mut l = ReplyLimiter::new(lim, t0);
    // The flood first, then one newcomer asking 100 times a second.
    let (_, answered, asked) = spoofed_flood(&mut l, t0, 1, 3);
    assert!(answered > 0 && answered < asked, "{answered} of {asked}");
    // Its entry survived the flood's churn (not idle: it keeps asking), so once established
    // (after 1 s) it is answered every time: at most the first second's requests were lost.
    assert!(asked - answered <= 100, "{answered} of {asked}");
}

#[test]
fn a_full_table_forgets_idle_requesters_and_keeps_busy_ones() {
    let t0 = Instant::now();
    let lim = Limits {
        sources: 3,
        ..Limits::default()
    };
    let mut l = ReplyLimiter::new(lim, t0);
    for m in 1..=3 {
        assert!(l.allow(mac(m), t0));
    }
    // Within a second of their last request: nothing to forget, mac(4) is answered from the
    // new bucket but not remembered.
    let early = t0 + Duration::from_millis(900);
    assert!(l.allow(mac(4), early));
    assert_eq!(l.tracked(), 3);
    // mac(1) keeps asking (and empties its bucket); mac(2) and mac(3) stay silent.
    let t1 = t0 + Duration::from_millis(1200);
    let used = (0..lim.per_source_burst)
        .filter(|_| l.allow(mac(1), t1))
        .count();
    assert_eq!(used, lim.per_source_burst as usize);
    // Later the 10 ms sweep pause is over and both idle ones go; mac(1) keeps its empty
    // bucket (no fresh burst), mac(5) is remembered.
    assert!(l.allow(mac(5), t1));
    assert_eq!(l.tracked(), 2);
    assert!(
        !l.allow(mac(1), t1),
        "mac(1) was forgotten and got a fresh burst"
    );
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
