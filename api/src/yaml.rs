//! The one YAML *input* parser of ferrolb: `serde-saphyr` (pure Rust, panic-free, bounded
//! against alias bombs; the deprecated `serde_yaml` is not used for input), configured once
//! here to read what `serde_yaml` read before: duplicate keys are errors (yaml.v2's
//! `UnmarshalStrict`, the API server's strict decoding); YAML 1.2 core scalars, so only
//! `true`/`false` are booleans (`n`, a valid namespace name, stays a string) and numbers with
//! leading zeros or underscores stay strings in untyped values.
//! Errors carry the key path, the message without decoration, and the 1-based line/column.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::{DuplicateKeyPolicy, Options};

/// Why YAML input could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Key path of the offending value (`.` for the root), when known.
    pub path: Option<String>,
    /// What is wrong, without the location.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " at line {l} column {c}"),
            (Some(l), None) => write!(f, " at line {l}"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for YamlError {}

fn options() -> Options {
    let mut o = Options::default();
    o.with_snippet = false;
    o.duplicate_keys = DuplicateKeyPolicy::Error;
    o.leading_zero_numbers_as_strings = true;
    o.underscored_numbers_as_strings = true;
    o.strict_booleans = true;
    o
}

/// The plain scalar written at 1-based `line`/`column` of `text` (up to a comment or the end
/// of a flow item).
fn scalar_at(text: &str, line: usize, column: usize) -> Option<&str> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let start = l.char_indices().nth(column.checked_sub(1)?)?.0;
    let rest = &l[start..];
    let end = rest.find([',', ']', '}', '#']).unwrap_or(rest.len());
    Some(rest[..end].trim()).filter(|s| !s.is_empty())
}

fn error(text: &str, e: &serde_saphyr::Error, path: Option<String>) -> YamlError {
    let location = e.location();
    let mut message = e.to_string();
    // The library appends " at line L, column C" (reported separately) and, for duplicate
    // keys, a hint about its own options that means nothing to a user.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    if let Some(i) = message.find(", set DuplicateKeyPolicy") {
        message.truncate(i);
    }
    let as_usize = |n: u64| usize::try_from(n).ok().filter(|n| *n > 0);
    let line = location.and_then(|l| as_usize(l.line()));
    let column = location.and_then(|l| as_usize(l.column()));
    // "invalid u32" does not say what was written: add the value, as serde's messages do.
    if let (Some(ty), Some(l), Some(c)) = (message.strip_prefix("invalid "), line, column)
        && !ty.contains(' ')
        && let Some(value) = scalar_at(text, l, c)
    {
        message = format!("invalid value {value:?}, expected {ty}");
    }
    YamlError {
        // An unknown last segment is dropped; what remains of a root path is `.` (fuzzing
        // found `.?` becoming an empty path).
        path: path.map(|p| match p.trim_end_matches(".?") {
            "" => ".".to_owned(),
            p => p.to_owned(),
        }),
        message,
        line,
        column,
    }
}

/// Every document of a YAML stream as JSON values; empty documents are skipped.
pub fn documents(text: &str) -> Result<Vec<Value>, YamlError> {
    serde_saphyr::from_multiple_with_options(text, options()).map_err(|e| error(text, &e, None))
}

/// One document, deserialized into `T` with the key path of any error.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| error(text, &e, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_like_kubernetes() {
        let docs = documents("a: 1\n---\n---\nb: [yes, n, True, 010, 1_000, ~, 1.5, \"x\"]\n")
            .expect("yaml");
        assert_eq!(
            docs,
            [
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": ["yes", "n", true, "010", "1_000", null, 1.5, "x"]})
            ]
        );
    }

    #[test]
    fn errors_have_a_location_and_no_decoration() {
        let e = documents("a: 1\nb: [2\n").unwrap_err();
        assert!(e.line.is_some(), "{e:?}");
        assert!(!e.message.contains(" at line "), "{e:?}");
        let e = documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.line),
            ("duplicate mapping key: a", Some(2))
        );
        // Deeply nested or aliased input is an error, not a stack overflow or a hang.
        let deep = "[".repeat(100_000);
        assert!(documents(&deep).is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_owned()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(documents(&bomb).is_err());
    }
}
