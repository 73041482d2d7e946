//! BGP communities of a BGPAdvertisement: Community CR aliases (an alias name wins) over the
//! literal grammar of [`ferrolb_core::community::parse_with_well_known`] (MetalLB's
//! `internal/bgp/community/community.go`: `A:B` with 16-bit halves, RFC 1997; `large:X:Y:Z`
//! with 32-bit fields, RFC 8092; plus the RFC 1997 / IANA well-known names FRR accepts,
//! `no-export`, `no-advertise`, ..., as a fallback for names that are not aliases: MetalLB's
//! FRR speaker passes them on to FRR, which accepts them, while MetalLB's validation does not).
//! This module owns the speaker's wording of a bad community and the alias resolution.

use std::collections::BTreeMap;

use ferrolb_core::community as core_community;

use super::AnnounceError;

/// One community value to attach to a route (RFC 1997 or RFC 8092): `ferrolb-core`'s type.
pub use ferrolb_core::community::Community;

/// Why a community string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    /// Neither `A:B`, `large:X:Y:Z`, an alias, nor a well-known name.
    #[error("not a community (A:B, large:X:Y:Z), Community alias or well-known name")]
    Format,
    /// A field is not a decimal number of the allowed width.
    #[error("section {0:?} is not a decimal number of the allowed width")]
    Section(String),
}

impl From<core_community::CommunityError> for CommunityError {
    fn from(e: core_community::CommunityError) -> Self {
        match e {
            core_community::CommunityError::Section { section, .. } => {
                CommunityError::Section(section.text)
            }
            core_community::CommunityError::Format { .. }
            | core_community::CommunityError::LargeMarker { .. } => CommunityError::Format,
        }
    }
}

/// Parses a literal (`A:B`, `large:X:Y:Z`) or a well-known name.
pub fn parse_literal(s: &str) -> Result<Community, CommunityError> {
    Ok(core_community::parse_with_well_known(s)?)
}

/// Resolves a BGPAdvertisement's `communities`: an entry naming a Community alias takes the
/// alias's value (`aliases`: alias name → value, from all Community objects), otherwise it is
/// parsed as a literal or well-known name. Duplicates collapse (the result is sorted).
pub fn resolve_communities(
    advertisement: &str,
    entries: &[String],
    aliases: &BTreeMap<String, String>,
) -> Result<Vec<Community>, AnnounceError> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let literal = aliases.get(entry).unwrap_or(entry);
        let c = parse_literal(literal).map_err(|source| AnnounceError::Community {
            advertisement: advertisement.to_owned(),
            value: entry.clone(),
            source,
        })?;
        out.push(c);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::LargeCommunity;

    #[test]
    fn literals_and_well_known_names() {
        assert_eq!(
            parse_literal("65000:100"),
            Ok(Community::Standard((65000 << 16) | 100))
        );
        assert_eq!(
            parse_literal("large:4200000000:1:2"),
            Ok(Community::Large(LargeCommunity {
                global: 4_200_000_000,
                local1: 1,
                local2: 2
            }))
        );
        assert_eq!(
            parse_literal("no-advertise"),
            Ok(Community::Standard(0xFFFF_FF02))
        );
        assert_eq!(
            parse_literal("no-export"),
            Ok(Community::Standard(0xFFFF_FF01))
        );
        assert_eq!(
            parse_literal("70000:1"),
            Err(CommunityError::Section("70000".into()))
        );
        assert_eq!(parse_literal("big:1:2:3"), Err(CommunityError::Format));
        assert_eq!(
            parse_literal("large:1:2:4294967296"),
            Err(CommunityError::Section("4294967296".into()))
        );
        assert_eq!(
            parse_literal("+1:2"),
            Err(CommunityError::Section("+1".into()))
        );
        assert_eq!(parse_literal("unknown-name"), Err(CommunityError::Format));
    }

    #[test]
    fn aliases_win_over_well_known_names_and_duplicates_collapse() {
        let aliases = BTreeMap::from([
            ("no-advertise".to_string(), "65535:1".to_string()),
            ("gold".to_string(), "large:1:2:3".to_string()),
        ]);
        let entries: Vec<String> = ["no-advertise", "gold", "65535:1", "no-export"]
            .map(String::from)
            .to_vec();
        let got = resolve_communities("ad1", &entries, &aliases).expect("resolves");
        assert_eq!(
            got,
            vec![
                Community::Standard(0xFFFF_0001),
                Community::Standard(0xFFFF_FF01),
                Community::Large(LargeCommunity {
                    global: 1,
                    local1: 2,
                    local2: 3
                }),
            ]
        );
    }

    #[test]
    fn a_bad_entry_names_the_advertisement_and_entry() {
        let err = resolve_communities("ad1", &["missing-alias".to_string()], &BTreeMap::new())
            .expect_err("unknown alias");
        assert_eq!(
            err.to_string(),
            "BGPAdvertisement ad1: spec.communities \"missing-alias\": not a community (A:B, large:X:Y:Z), Community alias or well-known name"
        );
    }
}
