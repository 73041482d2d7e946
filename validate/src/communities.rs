//! BGP communities as MetalLB's config validation checks them: literals follow
//! `internal/bgp/community/community.go` (`A:B`, `large:X:Y:Z`; the grammar and its Go error
//! messages live in [`ferrolb_core::community`]; well-known names such as `no-export` are
//! rejected, as MetalLB does), and the Community alias rules of `communitiesFromCrs`
//! (C1: every alias value parses, wrapped `parsing community "<alias>"`; C2: alias names are
//! unique across all Community objects).

use std::collections::BTreeMap;

use ferrolb_api::v1beta1::Community;
use ferrolb_core::community::{self, CommunityError};

use crate::model::{Kind, Problem, name_of};

/// Parses a community literal with MetalLB's grammar and messages (no well-known names).
pub fn parse(c: &str) -> Result<community::Community, CommunityError> {
    community::parse(c)
}

/// Checks every Community object; returns alias name → value for the advertisement checks.
pub fn check(communities: &[Community], problems: &mut Vec<Problem>) -> BTreeMap<String, String> {
    let mut aliases = BTreeMap::new();
    for cr in communities {
        let name = name_of(&cr.metadata);
        for (i, alias) in cr.spec.communities.iter().enumerate() {
            let alias_name = alias.name.clone().unwrap_or_default();
            let value = alias.value.clone().unwrap_or_default();
            if let Err(e) = parse(&value) {
                problems.push(Problem::new(
                    Kind::Community,
                    name,
                    format!("spec.communities[{i}].value"),
                    value.clone(),
                    format!("parsing community {alias_name:?}: {e}"),
                ));
            }
            if aliases.insert(alias_name.clone(), value).is_some() {
                problems.push(Problem::new(
                    Kind::Community,
                    name,
                    format!("spec.communities[{i}].name"),
                    alias_name.clone(),
                    format!("duplicate definition of community {alias_name:?}"),
                ));
            }
        }
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolb_core::community::LargeCommunity;

    fn message(c: &str) -> String {
        parse(c)
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn literals() {
        assert_eq!(
            parse("65000:100"),
            Ok(community::Community::standard(65000, 100))
        );
        assert_eq!(
            parse("large:1:2:4294967295"),
            Ok(community::Community::Large(LargeCommunity {
                global: 1,
                local1: 2,
                local2: u32::MAX
            }))
        );
        assert_eq!(
            message("70000:1"),
            "invalid community value: invalid section \"70000\" of community \"70000:1\", err: strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert_eq!(
            message("big:1:2:3"),
            "invalid community value: invalid marker for large community, expected community to be of format large:<uint32>:<uint32>:<uint32> but got \"big:1:2:3\" instead"
        );
        assert_eq!(message("a:b:c"), "invalid community format: a:b:c");
        assert_eq!(
            message("1:x"),
            "invalid community value: invalid section \"x\" of community \"1:x\", err: strconv.ParseUint: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn well_known_names_are_not_literals() {
        // MetalLB's community.New has no well-known names; only the speaker accepts them.
        assert_eq!(message("no-export"), "invalid community format: no-export");
    }
}
