//! BGP communities: the one home of the value type ([`Community`]: RFC 1997 32-bit and
//! RFC 8092 96-bit large) and of the literal grammar, for every caller (admission checks,
//! legacy ConfigMap migration, the speaker's announcements).
//!
//! MetalLB has accepted three grammars over time, so there is one parser per grammar and each
//! caller picks the one it reproduces:
//!
//! - [`parse_standard`]: exactly `A:B`, each half a decimal `uint16` (`ParseCommunity` of
//!   `internal/config/config.go @v0.12.1`, the legacy ConfigMap; large communities came with
//!   the CRDs in v0.13 and were never valid there);
//! - [`parse`]: `A:B` or `large:X:Y:Z` with 32-bit fields (`internal/bgp/community/community.go`,
//!   MetalLB v0.13+, used by its config validation: well-known names are *not* accepted);
//! - [`parse_with_well_known`]: [`parse`] plus the IANA well-known community names by FRR's
//!   spelling (`no-export`, `no-advertise`, ...): MetalLB's FRR speaker hands unknown names on
//!   to FRR, which accepts these, so ferrolb's speaker announces them too.
//!
//! [`CommunityError`] renders MetalLB's (v0.13+) Go messages, `strconv.ParseUint` included;
//! its variants carry the offending section and its position so callers reproducing other
//! wording (v0.12's "first/second section", the speaker's) can render theirs.

use std::fmt;

/// An RFC 8092 large community: global administrator, two local data parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global: u32,
    /// Local data part 1.
    pub local1: u32,
    /// Local data part 2.
    pub local2: u32,
}

/// One BGP community value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Community {
    /// RFC 1997 community (`A:B` = `A << 16 | B`).
    Standard(u32),
    /// RFC 8092 large community (`large:X:Y:Z`).
    Large(LargeCommunity),
}

impl Community {
    /// The RFC 1997 community `high:low`.
    pub fn standard(high: u16, low: u16) -> Self {
        Community::Standard(standard_value(high, low))
    }
}

/// Why a section is not a number of the required width: the two `strconv.ParseUint` error
/// kinds (Go's `strconv.ErrSyntax`, `strconv.ErrRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionFault {
    /// Empty or not only ASCII decimal digits (Go accepts no sign, space or `_` in base 10).
    Syntax,
    /// Decimal, but too large for the field's width.
    Range,
}

impl fmt::Display for SectionFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SectionFault::Syntax => "invalid syntax",
            SectionFault::Range => "value out of range",
        })
    }
}

/// One `:`-separated section that does not parse; displays as Go's `strconv.NumError`
/// (`strconv.ParseUint: parsing "70000": value out of range`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionError {
    /// The section as written.
    pub text: String,
    /// Its index among the `:`-separated fields (`large:X:Y:Z`: `X` is 1).
    pub position: usize,
    /// Why it does not parse.
    pub fault: SectionFault,
}

impl fmt::Display for SectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "strconv.ParseUint: parsing {:?}: {}",
            self.text, self.fault
        )
    }
}

/// Why a community literal is invalid; messages are MetalLB's (`community.New`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    /// Not a field count the grammar accepts (or, with well-known names, an unknown name).
    #[error("invalid community format: {community}")]
    Format {
        /// The literal as written.
        community: String,
    },
    /// Four fields, but the first is not `large`.
    #[error(
        "invalid community value: invalid marker for large community, expected community to be of format large:<uint32>:<uint32>:<uint32> but got {community:?} instead"
    )]
    LargeMarker {
        /// The literal as written.
        community: String,
    },
    /// A field is not a decimal number of the allowed width.
    #[error(
        "invalid community value: invalid section {:?} of community {community:?}, err: {section}",
        section.text
    )]
    Section {
        /// The literal as written.
        community: String,
        /// The section and why.
        section: SectionError,
    },
}

/// Well-known communities (IANA "BGP Well-known Communities"), by FRR's names.
const WELL_KNOWN: [(&str, u32); 8] = [
    ("graceful-shutdown", 0xFFFF_0000), // RFC 8326
    ("accept-own", 0xFFFF_0001),        // RFC 7611
    ("blackhole", 0xFFFF_029A),         // RFC 7999
    ("no-export", 0xFFFF_FF01),         // RFC 1997
    ("no-advertise", 0xFFFF_FF02),      // RFC 1997
    ("no-export-subconfed", 0xFFFF_FF03),
    ("local-as", 0xFFFF_FF03), // FRR's alias of NO_EXPORT_SUBCONFED
    ("no-peer", 0xFFFF_FF04),  // RFC 3765
];

/// RFC 1997 §"Communities attribute": `high` is the AS, `low` its own value.
fn standard_value(high: u16, low: u16) -> u32 {
    (u32::from(high) << 16) | u32::from(low)
}

/// `strconv.ParseUint(fields[position], 10, bits)` where `bits` is `T`'s width.
fn section<T: TryFrom<u64>>(
    community: &str,
    fields: &[&str],
    position: usize,
) -> Result<T, CommunityError> {
    let text = fields.get(position).copied().unwrap_or_default();
    let fault = if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        SectionFault::Syntax
    } else {
        match text.parse::<u64>().ok().and_then(|v| T::try_from(v).ok()) {
            Some(v) => return Ok(v),
            None => SectionFault::Range,
        }
    };
    Err(CommunityError::Section {
        community: community.to_owned(),
        section: SectionError {
            text: text.to_owned(),
            position,
            fault,
        },
    })
}

/// Parses exactly `A:B` (MetalLB v0.12's legacy grammar) into the 32-bit value.
pub fn parse_standard(c: &str) -> Result<u32, CommunityError> {
    let fields: Vec<&str> = c.split(':').collect();
    if fields.len() != 2 {
        return Err(CommunityError::Format {
            community: c.to_owned(),
        });
    }
    let high: u16 = section(c, &fields, 0)?;
    let low: u16 = section(c, &fields, 1)?;
    Ok(standard_value(high, low))
}

/// Parses `A:B` or `large:X:Y:Z` (MetalLB v0.13+ `community.New`); no well-known names.
pub fn parse(c: &str) -> Result<Community, CommunityError> {
    let fields: Vec<&str> = c.split(':').collect();
    match fields.len() {
        2 => Ok(Community::Standard(parse_standard(c)?)),
        4 if fields.first() != Some(&"large") => Err(CommunityError::LargeMarker {
            community: c.to_owned(),
        }),
        4 => Ok(Community::Large(LargeCommunity {
            global: section(c, &fields, 1)?,
            local1: section(c, &fields, 2)?,
            local2: section(c, &fields, 3)?,
        })),
        _ => Err(CommunityError::Format {
            community: c.to_owned(),
        }),
    }
}

/// [`parse`], and a literal without `:` is looked up among the well-known names FRR accepts
/// (what ferrolb's speaker announces; MetalLB's validation rejects these names).
pub fn parse_with_well_known(c: &str) -> Result<Community, CommunityError> {
    if c.contains(':') {
        return parse(c);
    }
    WELL_KNOWN
        .iter()
        .find(|(name, _)| *name == c)
        .map(|(_, v)| Community::Standard(*v))
        .ok_or_else(|| CommunityError::Format {
            community: c.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section_err(
        community: &str,
        text: &str,
        position: usize,
        fault: SectionFault,
    ) -> CommunityError {
        CommunityError::Section {
            community: community.into(),
            section: SectionError {
                text: text.into(),
                position,
                fault,
            },
        }
    }

    #[test]
    fn standard_grammar_is_exactly_two_uint16() {
        assert_eq!(parse_standard("65535:65282"), Ok(0xFFFF_FF02));
        assert_eq!(parse_standard("64512:1"), Ok((64512 << 16) | 1));
        assert_eq!(
            parse_standard("large:1:2:3"),
            Err(CommunityError::Format {
                community: "large:1:2:3".into()
            })
        );
        assert_eq!(
            parse_standard("1:65536"),
            Err(section_err("1:65536", "65536", 1, SectionFault::Range))
        );
        for bad in ["+1:2", " 1:2", ":2", "1_0:2"] {
            let Err(CommunityError::Section { section, .. }) = parse_standard(bad) else {
                panic!("{bad} must be a section error");
            };
            assert_eq!((section.position, section.fault), (0, SectionFault::Syntax));
        }
    }

    #[test]
    fn metallb_grammar_and_messages() {
        assert_eq!(parse("65000:100"), Ok(Community::standard(65000, 100)));
        assert_eq!(
            parse("large:4294967295:0:7"),
            Ok(Community::Large(LargeCommunity {
                global: u32::MAX,
                local1: 0,
                local2: 7
            }))
        );
        assert_eq!(
            parse("large:1:4294967296:2"),
            Err(section_err(
                "large:1:4294967296:2",
                "4294967296",
                2,
                SectionFault::Range
            ))
        );
        assert_eq!(
            parse("70000:1").map_err(|e| e.to_string()),
            Err("invalid community value: invalid section \"70000\" of community \"70000:1\", err: strconv.ParseUint: parsing \"70000\": value out of range".into())
        );
        assert_eq!(
            parse("big:1:2:3").map_err(|e| e.to_string()),
            Err("invalid community value: invalid marker for large community, expected community to be of format large:<uint32>:<uint32>:<uint32> but got \"big:1:2:3\" instead".into())
        );
        assert_eq!(
            parse("a:b:c").map_err(|e| e.to_string()),
            Err("invalid community format: a:b:c".into())
        );
        assert_eq!(
            parse("no-export"),
            Err(CommunityError::Format {
                community: "no-export".into()
            })
        );
    }

    #[test]
    fn well_known_names_only_where_asked() {
        assert_eq!(
            parse_with_well_known("no-export"),
            Ok(Community::Standard(0xFFFF_FF01))
        );
        assert_eq!(
            parse_with_well_known("local-as"),
            parse_with_well_known("no-export-subconfed")
        );
        assert_eq!(parse_with_well_known("1:2"), parse("1:2"));
        for unknown in ["gold", ""] {
            assert_eq!(
                parse_with_well_known(unknown),
                Err(CommunityError::Format {
                    community: unknown.into()
                })
            );
        }
    }
}
