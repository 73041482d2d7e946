//! BGP communities: the literal grammar of MetalLB's `internal/bgp/community/community.go`
//! (`A:B` with 16-bit fields, `large:X:Y:Z` with 32-bit fields) and the Community alias rules
//! of `communitiesFromCrs` (C1: every alias value parses, wrapped `parsing community "<alias>"`;
//! C2: alias names are unique across all Community objects).

use std::collections::BTreeMap;

use ferrolb_api::v1beta1::Community;

use crate::model::{Kind, Problem, name_of};

/// A parsed community literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommunityValue {
    /// RFC 1997 community `A:B`.
    Standard(u16, u16),
    /// RFC 8092 large community `large:X:Y:Z`.
    Large(u32, u32, u32),
}

/// Go's `strconv.ParseUint(s, 10, bits)` error text.
fn parse_uint(s: &str, bits: u32) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    match s.parse::<u64>() {
        Ok(v) if bits >= 64 || v < (1u64 << bits) => Ok(v),
        _ => Err(format!(
            "strconv.ParseUint: parsing {s:?}: value out of range"
        )),
    }
}

fn section(c: &str, x: &str, bits: u32) -> Result<u64, String> {
    parse_uint(x, bits).map_err(|err| {
        format!("invalid community value: invalid section {x:?} of community {c:?}, err: {err}")
    })
}

/// Parses a community literal with MetalLB's messages.
pub fn parse(c: &str) -> Result<CommunityValue, String> {
    let fields: Vec<&str> = c.split(':').collect();
    match fields.as_slice() {
        [a, b] => {
            let (a, b) = (section(c, a, 16)?, section(c, b, 16)?);
            Ok(CommunityValue::Standard(
                u16::try_from(a).unwrap_or(u16::MAX),
                u16::try_from(b).unwrap_or(u16::MAX),
            ))
        }
        [marker, x, y, z] => {
            if *marker != "large" {
                return Err(format!(
                    "invalid community value: invalid marker for large community, expected community to be of format large:<uint32>:<uint32>:<uint32> but got {c:?} instead"
                ));
            }
            let v = |s| section(c, s, 32).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            Ok(CommunityValue::Large(v(x)?, v(y)?, v(z)?))
        }
        _ => Err(format!("invalid community format: {c}")),
    }
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

    #[test]
    fn literals() {
        assert_eq!(parse("65000:100"), Ok(CommunityValue::Standard(65000, 100)));
        assert_eq!(
            parse("large:1:2:4294967295"),
            Ok(CommunityValue::Large(1, 2, u32::MAX))
        );
        assert_eq!(
            parse("70000:1").unwrap_err(),
            "invalid community value: invalid section \"70000\" of community \"70000:1\", err: strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert!(parse("big:1:2:3").unwrap_err().contains("invalid marker"));
        assert_eq!(
            parse("a:b:c").unwrap_err(),
            "invalid community format: a:b:c"
        );
        assert!(parse("1:x").unwrap_err().contains("invalid syntax"));
    }
}
