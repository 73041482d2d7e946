//! BFDProfile → [`ferrolb_bfd::Params`], the one place a profile's fields meet their
//! defaults (MetalLB: receive/transmit 300 ms, multiplier 3, echo 50 ms, passive off, minimum
//! TTL 254; `ferrolb_bfd::Params::DEFAULT`). Ranges are MetalLB's (`ferrolb_validate::bfd`,
//! also the CRD schema); a value outside them is an error naming the field, and the speaker
//! keeps the profile's last good version.

use std::time::Duration;

use ferrolb_api::v1beta1::BFDProfile;
use ferrolb_bfd::Params;

/// A BFDProfile that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BFDProfile {name:?}: {field}: {message}")]
pub struct BfdConvertError {
    /// The profile's name.
    pub name: String,
    /// The offending field.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn ranged(
    name: &str,
    field: &'static str,
    v: Option<u32>,
    (min, max): (u32, u32),
    default: u32,
) -> Result<u32, BfdConvertError> {
    match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(BfdConvertError {
            name: name.to_owned(),
            field,
            message: format!("invalid value {v}, must be in {min}-{max} range"),
        }),
    }
}

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Converts a profile, filling MetalLB's defaults.
pub fn bfd_profile(p: &BFDProfile) -> Result<Params, BfdConvertError> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let s = &p.spec;
    let d = Params::DEFAULT;
    let interval = |field, v, default| {
        ranged(&name, field, v, (10, 60_000), ms(default))
            .map(|v| Duration::from_millis(u64::from(v)))
    };
    let small = |field, v, range, default: u8| {
        ranged(&name, field, v, range, u32::from(default))
            .map(|v| u8::try_from(v).unwrap_or(u8::MAX))
    };
    Ok(Params {
        receive_interval: interval(
            "spec.receiveInterval",
            s.receive_interval,
            d.receive_interval,
        )?,
        transmit_interval: interval(
            "spec.transmitInterval",
            s.transmit_interval,
            d.transmit_interval,
        )?,
        detect_multiplier: small(
            "spec.detectMultiplier",
            s.detect_multiplier,
            (2, 255),
            d.detect_multiplier,
        )?,
        echo_interval: interval("spec.echoInterval", s.echo_interval, d.echo_interval)?,
        echo_mode: s.echo_mode.unwrap_or(d.echo_mode),
        passive: s.passive_mode.unwrap_or(d.passive),
        minimum_ttl: small("spec.minimumTtl", s.minimum_ttl, (1, 254), d.minimum_ttl)?,
    })
}

#[cfg(test)]
mod tests;
