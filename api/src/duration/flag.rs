//! Command-line timer flags of every ferrolb binary: Go duration syntax (`100ms`, `2s`, `24h`,
//! `1m30s`, as MetalLB's Go flags accept) with each flag's bounds, checked once at startup.
//!
//! One home for the bound checks: a flag declares its [`Bounds`] and parses with
//! [`Bounds::parser`] (a clap value parser, so a bad value is a usage error naming the flag,
//! exit code 2, before anything starts). The bounds keep every timer far below the point where
//! `Instant + d` overflows or a value is silent nonsense: a zero interval (a busy loop), a
//! negative value, a lease of centuries. Relations between flags (`--dead-after` above
//! `--heartbeat-interval`, lease timings, two ports that must differ) are checked by each
//! binary with [`after`] and [`distinct_ports`], so their messages name both flags.

use std::time::Duration;

use super::GoDuration;

/// The longest value any timer flag may take (a year): beyond it a timer is certainly a typo,
/// and it keeps `Instant + d` and conversions to `i32` seconds far from overflow.
pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// The accepted range of one duration flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Smallest accepted value (inclusive).
    pub min: Duration,
    /// Largest accepted value (inclusive, at most [`MAX`]).
    pub max: Duration,
    /// `0` is also accepted and means "off" (e.g. `--max-incarnation-ahead 0s`).
    pub zero_disables: bool,
}

impl Bounds {
    /// `min..=max`.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Bounds {
            min,
            max,
            zero_disables: false,
        }
    }

    /// The same range, with `0` accepted as "disabled".
    pub const fn or_zero(self) -> Self {
        Bounds {
            zero_disables: true,
            ..self
        }
    }

    /// Parses `input` (Go syntax) and checks it against the bounds.
    pub fn parse(&self, input: &str) -> Result<Duration, String> {
        let d =
            GoDuration::parse(input.trim()).map_err(|e| format!("{e} (e.g. 100ms, 2s, 24h)"))?;
        if d.0 < 0 {
            return Err(format!("{input:?} is negative"));
        }
        let d = Duration::from_nanos(d.0.unsigned_abs());
        if d.is_zero() && self.zero_disables {
            return Ok(d);
        }
        let max = self.max.min(MAX);
        if d < self.min || d > max {
            let zero = if self.zero_disables {
                " (or 0s to disable)"
            } else {
                ""
            };
            return Err(format!(
                "{input:?} is out of range: must be between {} and {}{zero}",
                show(self.min),
                show(max)
            ));
        }
        Ok(d)
    }

    /// A clap value parser for these bounds.
    pub fn parser(
        self,
    ) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
        move |s: &str| self.parse(s)
    }
}

/// `d` as Go prints it (`100ms`, `1m0s`).
pub fn show(d: Duration) -> String {
    GoDuration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).to_string()
}

/// Checks that `later` (flag `later_flag`) is strictly greater than `earlier`.
pub fn after(
    (later_flag, later): (&str, Duration),
    (earlier_flag, earlier): (&str, Duration),
) -> Result<(), String> {
    if later > earlier {
        return Ok(());
    }
    Err(format!(
        "{later_flag} ({}) must be greater than {earlier_flag} ({})",
        show(later),
        show(earlier)
    ))
}

/// Checks that two listening ports differ unless one is `0` (disabled).
pub fn distinct_ports((a_flag, a): (&str, u16), (b_flag, b): (&str, u16)) -> Result<(), String> {
    if a != 0 && a == b {
        return Err(format!(
            "{a_flag} and {b_flag} are both {a}: they must differ"
        ));
    }
    Ok(())
}

/// A clap value parser for a port that must be set (`0` would bind a random port nobody knows).
pub fn nonzero_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err("0 is not a usable port here (1..=65535)".to_owned()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!("{s:?} is not a port (1..=65535)")),
    }
}

#[cfg(test)]
mod tests;
