//! BFDProfile rules of MetalLB's `bfdProfileFromCR` (F1: value ranges, also enforced by the
//! CRD schema; messages `invalid value <v>, must be in <min>-<max> range` wrapped with the field).
//! F2 (duplicate names) is the generic duplicate-name check of [`crate::validate`]. M-N2 (any
//! BFDProfile rejected in native mode) is not copied: ferrolb's speaker accepts `bfdProfile`.

use ferrolb_api::v1beta1::BFDProfile;

use crate::model::{Kind, Problem, name_of};

/// The admission warning for a profile using echo mode.
pub const ECHO_WARNING: &str = "echo mode is not implemented by ferrolb: echoMode and echoInterval are accepted and ignored; failures are detected by control packets at receiveInterval/transmitInterval";

/// Warnings for legal settings without effect (`echoMode: true`).
pub fn warnings(profile: &BFDProfile, warnings: &mut Vec<Problem>) {
    if profile.spec.echo_mode == Some(true) {
        warnings.push(Problem::new(
            Kind::BFDProfile,
            name_of(&profile.metadata),
            "spec.echoMode",
            "true",
            ECHO_WARNING,
        ));
    }
}

/// Checks the ranges of one profile.
pub fn check(profile: &BFDProfile, problems: &mut Vec<Problem>) {
    let name = name_of(&profile.metadata);
    let s = &profile.spec;
    let checks = [
        (
            "detectMultiplier",
            s.detect_multiplier,
            2,
            255,
            "invalid detect multiplier value",
        ),
        (
            "receiveInterval",
            s.receive_interval,
            10,
            60000,
            "invalid receive interval value",
        ),
        (
            "transmitInterval",
            s.transmit_interval,
            10,
            60000,
            "invalid transmit interval value",
        ),
        (
            "echoInterval",
            s.echo_interval,
            10,
            60000,
            "invalid echo interval value",
        ),
        (
            "minimumTtl",
            s.minimum_ttl,
            1,
            254,
            "invalid minimum ttl value",
        ),
    ];
    for (field, value, min, max, what) in checks {
        if let Some(v) = value
            && !(min..=max).contains(&v)
        {
            problems.push(Problem::new(
                Kind::BFDProfile,
                name,
                format!("spec.{field}"),
                v.to_string(),
                format!("{what}: invalid value {v}, must be in {min}-{max} range"),
            ));
        }
    }
}
