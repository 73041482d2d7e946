//! Go `time.Duration` parsing and formatting, as MetalLB's legacy parser and `configmaptocrs` use.
//!
//! `hold-time` and `keepalive-time` are parsed with Go's `time.ParseDuration` (units `ns`, `us`,
//! `µs`, `μs`, `ms`, `s`, `m`, `h`; decimal fractions; an optional sign; `0` alone needs no unit),
//! truncated to whole seconds (`time.Duration(int(d.Seconds())) * time.Second`), and written back
//! with `Duration.String()` — so `90s` becomes `1m30s` and `120s` becomes `2m0s`.
//!
//! The binaries' timer flags parse with the same syntax and their bounds ([`flag`]).

use std::fmt;

pub mod flag;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Fraction digits that matter: an hour has 3.6e12 ns, so the 13th digit of a fraction of an
/// hour is below a nanosecond; 18 digits keep `fraction × scale` far inside `i128`.
const MAX_FRACTION_DIGITS: usize = 18;

/// Why a duration string is not a Go duration; messages are Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Malformed (or out of range).
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    /// A number without unit.
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    /// An unknown unit.
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
}

/// A Go duration in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct GoDuration(pub i64);

impl GoDuration {
    /// `n` whole seconds, saturating at the bounds of `i64` nanoseconds (±292 years).
    pub const fn from_secs(n: i64) -> Self {
        Self(n.saturating_mul(NANOS_PER_SECOND as i64))
    }

    /// Parses like Go's `time.ParseDuration`.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let invalid = || DurationError::Invalid(input.to_owned());
        let (neg, mut s) = match input.as_bytes().first() {
            Some(b'-') => (true, &input[1..]),
            Some(b'+') => (false, &input[1..]),
            _ => (false, input),
        };
        if s == "0" {
            return Ok(Self(0));
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let mut total: i128 = 0;
        while !s.is_empty() {
            let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let (int_part, rest) = s.split_at(int_len);
            let (frac_part, rest) = match rest.strip_prefix('.') {
                Some(r) => {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    r.split_at(n)
                }
                None => ("", rest),
            };
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
            let unit_len = rest
                .char_indices()
                .find(|(_, c)| *c == '.' || c.is_ascii_digit())
                .map_or(rest.len(), |(i, _)| i);
            let (unit, rest) = rest.split_at(unit_len);
            if unit.is_empty() {
                return Err(DurationError::MissingUnit(input.to_owned()));
            }
            let scale: i128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => NANOS_PER_SECOND,
                "m" => 60 * NANOS_PER_SECOND,
                "h" => 3600 * NANOS_PER_SECOND,
                _ => {
                    return Err(DurationError::UnknownUnit {
                        unit: unit.to_owned(),
                        input: input.to_owned(),
                    });
                }
            };
            let int: i128 = if int_part.is_empty() {
                0
            } else if int_part.len() > 20 {
                return Err(invalid());
            } else {
                int_part.parse().map_err(|_| invalid())?
            };
            let value = int.checked_mul(scale).ok_or_else(invalid)?;
            // Fraction: exact truncation of frac × scale (Go uses floats; the difference is
            // below a nanosecond and disappears when truncating to seconds). Digits past
            // MAX_FRACTION_DIGITS cannot change the nanoseconds of any unit and are ignored,
            // as Go's `leadingFraction` ignores digits that would overflow.
            let mut denom: i128 = 1;
            let mut frac: i128 = 0;
            for d in frac_part.bytes().take(MAX_FRACTION_DIGITS) {
                frac = frac * 10 + i128::from(d - b'0');
                denom *= 10;
            }
            let value = value
                .checked_add(frac * scale / denom)
                .ok_or_else(invalid)?;
            total = total.checked_add(value).ok_or_else(invalid)?;
            if total > i128::from(i64::MAX) + i128::from(neg) {
                return Err(invalid());
            }
            s = rest;
        }
        let total = if neg { -total } else { total };
        i64::try_from(total).map(Self).map_err(|_| invalid())
    }

    /// Truncated to whole seconds (towards zero), as MetalLB does.
    pub fn truncate_to_secs(self) -> Self {
        Self(self.0 / NANOS_PER_SECOND as i64 * NANOS_PER_SECOND as i64)
    }

    /// Whole seconds (towards zero).
    pub fn secs(self) -> i64 {
        self.0 / NANOS_PER_SECOND as i64
    }
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String()` for whole-second durations (`0s`, `45s`, `1m30s`, `2h0m0s`);
    /// sub-second remainders are printed as a fraction of a second, as Go does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v == 0 {
            return f.write_str("0s");
        }
        let sign = if v < 0 { "-" } else { "" };
        let u = v.unsigned_abs();
        let ns_per_s = NANOS_PER_SECOND as u64;
        if u < ns_per_s {
            // Go switches to ms/µs/ns below one second.
            let (div, unit) = if u < 1_000 {
                (1, "ns")
            } else if u < 1_000_000 {
                (1_000, "µs")
            } else {
                (1_000_000, "ms")
            };
            return write!(f, "{sign}{}{unit}", fraction(u, div));
        }
        let secs = u / ns_per_s;
        let sub = u % ns_per_s;
        let s = fraction(secs % 60 * ns_per_s + sub, ns_per_s);
        let (mins, hours) = (secs / 60 % 60, secs / 3600);
        if hours > 0 {
            write!(f, "{sign}{hours}h{mins}m{s}s")
        } else if secs >= 60 {
            write!(f, "{sign}{mins}m{s}s")
        } else {
            write!(f, "{sign}{s}s")
        }
    }
}

/// `value / div` with the remainder as a decimal fraction without trailing zeros.
fn fraction(value: u64, div: u64) -> String {
    let (whole, rem) = (value / div, value % div);
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> i64 {
        GoDuration::parse(s).unwrap().truncate_to_secs().secs()
    }

    #[test]
    fn parses_go_forms() {
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("1m30s"), 90);
        assert_eq!(secs("1.5m"), 90);
        assert_eq!(secs("1h"), 3600);
        assert_eq!(secs("2.9s"), 2);
        assert_eq!(secs("3500ms"), 3);
        assert_eq!(secs("0"), 0);
        assert_eq!(secs("+5s"), 5);
        assert_eq!(secs("-5s"), -5);
        assert_eq!(secs(".5h"), 1800);
        assert_eq!(GoDuration::parse("1µs").unwrap(), GoDuration(1000));
        assert_eq!(
            GoDuration::parse("1h1m1s1ms1us1ns").unwrap().0,
            3_661_001_001_001
        );
    }

    #[test]
    fn rejects_like_go() {
        for bad in ["", "s", "-", ".s", "abc"] {
            assert!(
                matches!(GoDuration::parse(bad), Err(DurationError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(
            GoDuration::parse("90").unwrap_err().to_string(),
            "time: missing unit in duration \"90\""
        );
        assert_eq!(
            GoDuration::parse("5d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"5d\""
        );
        assert!(matches!(
            GoDuration::parse("1.2.3s"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(GoDuration::parse("9999999999999999999h").is_err());
        assert!(GoDuration::parse("2562048h").is_err());
    }

    #[test]
    fn long_fractions_and_huge_values_are_errors_not_panics() {
        // Digits past nanosecond precision are ignored (Go's `leadingFraction` does the same).
        assert_eq!(
            GoDuration::parse("1.0000000000000000000000001s"),
            Ok(GoDuration::from_secs(1))
        );
        assert_eq!(
            GoDuration::parse("1.99999999999999999999999999999999h"),
            Ok(GoDuration(2 * 3600 * NANOS_PER_SECOND as i64 - 1))
        );
        for bad in [
            "9999999999999999999h",
            "99999999999999999999h",
            "2562047h47m16.854775808s",
            "-2562047h47m16.854775809s",
            "9223372036.999999999999999999999999999999s1h",
        ] {
            assert!(
                matches!(GoDuration::parse(bad), Err(DurationError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(
            GoDuration::parse("-2562047h47m16.854775808s"),
            Ok(GoDuration(i64::MIN))
        );
        assert_eq!(GoDuration::from_secs(i64::MAX), GoDuration(i64::MAX));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = GoDuration::parse(&s);
        }

        #[test]
        fn never_panics_on_duration_like_input(s in "[-+]?([0-9]{0,25}(\\.[0-9]{0,40})?(h|m|s|ms|us|µs|ns|x)?){1,4}") {
            if let Ok(d) = GoDuration::parse(&s) {
                // What parses formats back to something that parses to the same value.
                proptest::prop_assert_eq!(GoDuration::parse(&d.to_string()), Ok(d));
            }
        }
    }

    #[test]
    fn formats_like_go() {
        let f = |s: i64| GoDuration::from_secs(s).to_string();
        assert_eq!(f(0), "0s");
        assert_eq!(f(3), "3s");
        assert_eq!(f(59), "59s");
        assert_eq!(f(60), "1m0s");
        assert_eq!(f(90), "1m30s");
        assert_eq!(f(120), "2m0s");
        assert_eq!(f(3600), "1h0m0s");
        assert_eq!(f(3661), "1h1m1s");
        assert_eq!(f(-90), "-1m30s");
        assert_eq!(GoDuration(1_500_000_000).to_string(), "1.5s");
        assert_eq!(GoDuration(1_500_000).to_string(), "1.5ms");
        assert_eq!(GoDuration(20).to_string(), "20ns");
    }
}
