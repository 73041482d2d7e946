//! The legacy (MetalLB ≤ v0.12) `config` ConfigMap format, parsed strictly.
//!
//! MetalLB read the `config` key of ConfigMap `config` in its namespace with yaml.v2's
//! `UnmarshalStrict`: an unknown or duplicate key is an error. ferrolb does the same, and every
//! error names the key path (e.g. `address-pools[0].protocl`) and the line where it is known.
//! Keys are those of v0.11.0 and v0.12.1 (`internal/config/config.go` upstream); semantic checks
//! (CIDRs, ASNs, timers, references) live with the converter, which needs the whole document.

mod strict_map;
mod types;

pub use strict_map::StrictMap;
pub use types::{
    AddressPool, BfdProfile, BgpAdvertisement, LegacyConfig, NodeSelector, Peer,
    SelectorRequirement,
};

/// Why a legacy configuration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// The YAML is malformed, or a key is unknown, duplicated or of the wrong type.
    #[error("could not parse config: {path}: {message}{}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Parse {
        /// Key path of the offending value, e.g. `peers[1].hold-time`; `.` for the document root.
        path: String,
        /// What is wrong there.
        message: String,
        /// 1-based line in the payload, when known.
        line: Option<usize>,
    },
}

/// Parses the `config` payload of a legacy ConfigMap strictly.
pub fn parse(payload: &str) -> Result<LegacyConfig, LegacyError> {
    if payload.trim().is_empty() {
        return Ok(LegacyConfig::default());
    }
    crate::yaml::from_str(payload).map_err(|err| {
        let path = err.path.unwrap_or_else(|| ".".to_owned());
        let mut message = err.message;
        // Messages of nested values may repeat the path of the enclosing map ("peers[0]: …").
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.is_empty()
            && path.starts_with(prefix)
        {
            message = rest.to_owned();
        }
        LegacyError::Parse {
            path,
            message,
            line: err.line,
        }
    })
}
