//! Arbitrary strings into the Go duration parser (`GoDuration::parse`, Go's
//! `time.ParseDuration`) and the timer-flag parser (`duration::flag::Bounds::parse`).
//! Asserted: no panic; a value that parses prints (`Display`, Go's `Duration.String()`) to a
//! string that parses to the same value; a sign prefix negates (or keeps) the value; truncation
//! to seconds agrees with `secs`; a flag value that parses lies within its bounds (or is the
//! allowed `0`) and `show` prints it back to the same value.
#![no_main]

use std::time::Duration;

use ferrolb_api::duration::GoDuration;
use ferrolb_api::duration::flag::{self, Bounds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first 3 bytes pick flag bounds; the rest is the text.
    let (bounds, text) = match data {
        [a, b, z, rest @ ..] => {
            let min = Duration::from_millis(u64::from(*a) * 37);
            let max = min + Duration::from_secs(u64::from(*b) * 97);
            let mut bounds = Bounds::new(min, max);
            if z & 1 == 1 {
                bounds = bounds.or_zero();
            }
            (bounds, rest)
        }
        _ => (Bounds::new(Duration::ZERO, flag::MAX), data),
    };
    let Ok(s) = std::str::from_utf8(text) else {
        return;
    };
    if let Ok(d) = GoDuration::parse(s) {
        let printed = d.to_string();
        assert_eq!(
            GoDuration::parse(&printed),
            Ok(d),
            "{s:?} printed as {printed:?}"
        );
        assert_eq!(d.truncate_to_secs().0, d.secs() * 1_000_000_000);
        if !s.starts_with(['+', '-']) {
            assert_eq!(GoDuration::parse(&format!("+{s}")), Ok(d));
            assert_eq!(GoDuration::parse(&format!("-{s}")), Ok(GoDuration(-d.0)));
        }
    }
    if let Ok(d) = bounds.parse(s) {
        let max = bounds.max.min(flag::MAX);
        assert!(
            (bounds.min..=max).contains(&d) || (d.is_zero() && bounds.zero_disables),
            "{s:?} -> {d:?} outside {bounds:?}"
        );
        let shown = flag::show(d);
        assert_eq!(bounds.parse(&shown), Ok(d), "{s:?} shown as {shown:?}");
    }
});
