//! BGP community literals as MetalLB v0.12 accepts them (`ParseCommunity` in
//! `internal/config/config.go @v0.12.1`): exactly `A:B`, each part a decimal `uint16`
//! ([`ferrolb_core::community::parse_standard`]). Large communities (`large:X:Y:Z`) came with
//! the CRDs (v0.13) and are rejected here, as the legacy ConfigMap never accepted them. This
//! module owns only v0.12's wording ("first/second section").

use ferrolb_core::community::{self as core_community, SectionError};

/// Why a community literal is invalid; messages follow Go's (`strconv.ParseUint` included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    /// Not two `:`-separated fields.
    #[error("invalid community string {0:?}")]
    Format(String),
    /// The first field is not a `uint16`.
    #[error("invalid first section of community {field:?}: {reason}")]
    First {
        /// The field.
        field: String,
        /// `strconv.ParseUint`'s message.
        reason: String,
    },
    /// The second field is not a `uint16`.
    #[error("invalid second section of community {field:?}: {reason}")]
    Second {
        /// The field.
        field: String,
        /// `strconv.ParseUint`'s message.
        reason: String,
    },
}

impl From<core_community::CommunityError> for CommunityError {
    fn from(e: core_community::CommunityError) -> Self {
        use core_community::CommunityError as E;
        match e {
            E::Section { section, .. } => {
                let reason = section.to_string();
                let SectionError { text, position, .. } = section;
                if position == 0 {
                    CommunityError::First {
                        field: text,
                        reason,
                    }
                } else {
                    CommunityError::Second {
                        field: text,
                        reason,
                    }
                }
            }
            E::Format { community } | E::LargeMarker { community } => {
                CommunityError::Format(community)
            }
        }
    }
}

/// Parses `A:B` into the 32-bit community value.
pub fn parse(c: &str) -> Result<u32, CommunityError> {
    Ok(core_community::parse_standard(c)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uint16_pairs() {
        assert_eq!(parse("65535:65282"), Ok(0xFFFF_FF02));
        assert_eq!(parse("0:0"), Ok(0));
        assert_eq!(parse("64512:1"), Ok((64512 << 16) | 1));
    }

    #[test]
    fn rejects_like_metallb() {
        assert_eq!(
            parse("65000").unwrap_err().to_string(),
            "invalid community string \"65000\""
        );
        assert!(matches!(
            parse("large:1:2:3"),
            Err(CommunityError::Format(_))
        ));
        assert_eq!(
            parse("70000:1").unwrap_err().to_string(),
            "invalid first section of community \"70000\": strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert_eq!(
            parse("1:x").unwrap_err().to_string(),
            "invalid second section of community \"x\": strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        assert!(parse("+1:2").is_err());
        assert!(parse(":2").is_err());
        assert!(matches!(parse("no-export"), Err(CommunityError::Format(_))));
    }
}
