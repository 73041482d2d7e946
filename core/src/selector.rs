//! Kubernetes label selectors (`metav1.LabelSelector`) as plain data.
//!
//! Owns matching of `matchLabels` + `matchExpressions` (`In`, `NotIn`, `Exists`,
//! `DoesNotExist`) against a label map, with the semantics of
//! `metav1.LabelSelectorAsSelector`: all terms are ANDed, an empty selector matches
//! everything, `NotIn` and `DoesNotExist` match when the key is absent. Used by pool
//! `serviceAllocation` selectors here and reusable by the speaker (node/service/pool
//! selectors of advertisements). Also owns the validation rules MetalLB applies when it
//! converts a selector (`In`/`NotIn` need values, `Exists`/`DoesNotExist` take none).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Operator of a [`Requirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present (any value).
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl FromStr for Operator {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "In" => Ok(Self::In),
            "NotIn" => Ok(Self::NotIn),
            "Exists" => Ok(Self::Exists),
            "DoesNotExist" => Ok(Self::DoesNotExist),
            other => Err(SelectorError::UnknownOperator(other.to_owned())),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
        })
    }
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: Operator,
    /// Values (for `In`/`NotIn` only).
    pub values: Vec<String>,
}

impl Requirement {
    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// Errors converting a selector, mirroring `metav1.LabelSelectorAsSelector`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Operator is not one of `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[error("{0:?} is not a valid label selector operator")]
    UnknownOperator(String),
    /// `In`/`NotIn` with no values.
    #[error(
        "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty (key {0:?})"
    )]
    MissingValues(String),
    /// `Exists`/`DoesNotExist` with values.
    #[error(
        "values: Invalid value: for 'exists', 'doesnotexist' operators, values set must be empty (key {0:?})"
    )]
    UnexpectedValues(String),
    /// Empty label key.
    #[error("label key must not be empty")]
    EmptyKey,
    /// Label key not of the form `[prefix/]name` (DNS subdomain prefix, name of at most 63
    /// alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric).
    #[error(
        "invalid label key {0:?}: must be [prefix/]name, name at most 63 characters [A-Za-z0-9_.-] starting and ending alphanumeric, prefix a DNS subdomain"
    )]
    InvalidKey(String),
    /// Label value longer than 63 characters or with characters outside `[A-Za-z0-9_.-]`
    /// or not starting/ending alphanumeric.
    #[error(
        "invalid label value {0:?}: must be empty or at most 63 characters [A-Za-z0-9_.-] starting and ending alphanumeric"
    )]
    InvalidValue(String),
    /// A value listed twice in one expression.
    #[error("duplicate definition of match expression value in label selector {0:?}")]
    DuplicateValue(String),
    /// The same expression listed twice.
    #[error("duplicate definition of match expressions {0:?}")]
    DuplicateExpression(String),
}

/// A selector that [`LabelSelector::from_parts`] refused: the error, and the index of the
/// `matchExpressions` entry whose operator is unknown (`None` for the other rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct PartsError {
    /// The failing `matchExpressions` index, for an unknown operator.
    pub expression: Option<usize>,
    /// What is wrong.
    pub error: SelectorError,
}

/// A label selector: `matchLabels` AND all `matchExpressions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelSelector {
    /// Exact key=value matches.
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    pub match_expressions: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector that matches every label set (`labels.Everything()`).
    pub fn everything() -> Self {
        Self::default()
    }

    /// Selector with only `matchLabels`.
    pub fn from_labels<K: Into<String>, V: Into<String>>(
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            match_labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// Builds and validates a selector from the parts of a Kubernetes `LabelSelector`
    /// (`matchLabels`, and each `matchExpressions` entry as key, operator text and values) —
    /// the one conversion used by the binaries and the validator. An unknown operator names
    /// its expression's index.
    pub fn from_parts<'a>(
        match_labels: BTreeMap<String, String>,
        expressions: impl IntoIterator<Item = (&'a str, &'a str, Vec<String>)>,
    ) -> Result<Self, PartsError> {
        let mut out = LabelSelector {
            match_labels,
            match_expressions: Vec::new(),
        };
        for (index, (key, operator, values)) in expressions.into_iter().enumerate() {
            let operator = operator.parse().map_err(|error| PartsError {
                expression: Some(index),
                error,
            })?;
            out.match_expressions.push(Requirement {
                key: key.to_owned(),
                operator,
                values,
            });
        }
        out.validate().map_err(|error| PartsError {
            expression: None,
            error,
        })?;
        Ok(out)
    }

    /// Adds a requirement (builder style).
    pub fn with_expression(mut self, key: &str, operator: Operator, values: &[&str]) -> Self {
        self.match_expressions.push(Requirement {
            key: key.to_owned(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        });
        self
    }

    /// Whether the selector matches nothing-but-everything (no terms).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every term.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Checks the rules MetalLB enforces when converting a selector.
    pub fn validate(&self) -> Result<(), SelectorError> {
        for (k, v) in &self.match_labels {
            check_key(k)?;
            check_value(v)?;
        }
        let mut seen = Vec::with_capacity(self.match_expressions.len());
        for r in &self.match_expressions {
            check_key(&r.key)?;
            for v in &r.values {
                check_value(v)?;
            }
            match r.operator {
                Operator::In | Operator::NotIn if r.values.is_empty() => {
                    return Err(SelectorError::MissingValues(r.key.clone()));
                }
                Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => {
                    return Err(SelectorError::UnexpectedValues(r.key.clone()));
                }
                _ => {}
            }
            for (i, v) in r.values.iter().enumerate() {
                if r.values[..i].contains(v) {
                    return Err(SelectorError::DuplicateValue(v.clone()));
                }
            }
            let mut sorted = r.clone();
            sorted.values.sort();
            if seen.contains(&sorted) {
                return Err(SelectorError::DuplicateExpression(requirement_string(r)));
            }
            seen.push(sorted);
        }
        Ok(())
    }

    /// Canonical form used for duplicate detection (values sorted, expressions sorted).
    pub fn canonical(&self) -> Self {
        let mut c = self.clone();
        for r in &mut c.match_expressions {
            r.values.sort();
        }
        c.match_expressions.sort();
        c
    }
}

/// A label name or value body: at most 63 characters of `[A-Za-z0-9_.-]`, starting and
/// ending alphanumeric (Kubernetes `IsQualifiedName` name part / `IsValidLabelValue`).
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated labels of lowercase
/// alphanumerics and `-`, each starting and ending alphanumeric.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn check_key(key: &str) -> Result<(), SelectorError> {
    if key.is_empty() {
        return Err(SelectorError::EmptyKey);
    }
    let ok = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    };
    if ok {
        Ok(())
    } else {
        Err(SelectorError::InvalidKey(key.to_owned()))
    }
}

fn check_value(value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(SelectorError::InvalidValue(value.to_owned()))
    }
}

fn requirement_string(r: &Requirement) -> String {
    let mut values = r.values.clone();
    values.sort();
    match r.operator {
        Operator::In => format!("{} in ({})", r.key, values.join(",")),
        Operator::NotIn => format!("{} notin ({})", r.key, values.join(",")),
        Operator::Exists => r.key.clone(),
        Operator::DoesNotExist => format!("!{}", r.key),
    }
}

/// The Kubernetes string form (`a=b,c in (x,y),!d`), terms sorted by key.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms: Vec<(String, String)> = self
            .match_labels
            .iter()
            .map(|(k, v)| (k.clone(), format!("{k}={v}")))
            .collect();
        terms.extend(
            self.match_expressions
                .iter()
                .map(|r| (r.key.clone(), requirement_string(r))),
        );
        terms.sort();
        let parts: Vec<&str> = terms.iter().map(|(_, s)| s.as_str()).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn from_parts_builds_validates_and_names_the_bad_operator() {
        let sel = LabelSelector::from_parts(
            labels(&[("zone", "a")]),
            [("tier", "In", vec!["web".to_owned()])],
        )
        .expect("valid");
        assert!(sel.matches(&labels(&[("zone", "a"), ("tier", "web")])));
        assert!(!sel.matches(&labels(&[("zone", "a"), ("tier", "db")])));
        let bad = LabelSelector::from_parts(
            BTreeMap::new(),
            [("a", "Exists", vec![]), ("tier", "Near", vec![])],
        )
        .expect_err("unknown operator");
        assert_eq!(bad.expression, Some(1));
        assert_eq!(bad.error, SelectorError::UnknownOperator("Near".into()));
        let invalid = LabelSelector::from_parts(BTreeMap::new(), [("tier", "In", vec![])])
            .expect_err("In without values");
        assert_eq!(invalid.expression, None);
        assert_eq!(invalid.error, SelectorError::MissingValues("tier".into()));
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(LabelSelector::everything().matches(&BTreeMap::new()));
        assert!(LabelSelector::everything().matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_all_must_match() {
        let s = LabelSelector::from_labels([("app", "web"), ("tier", "fe")]);
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "be")])));
    }

    #[test]
    fn expressions() {
        let s = LabelSelector::default().with_expression("env", Operator::In, &["prod", "stg"]);
        assert!(s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[("env", "dev")])));
        assert!(!s.matches(&labels(&[])));

        let s = LabelSelector::default().with_expression("env", Operator::NotIn, &["prod"]);
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("env", "dev")])));
        assert!(!s.matches(&labels(&[("env", "prod")])));

        let s = LabelSelector::default().with_expression("gpu", Operator::Exists, &[]);
        assert!(s.matches(&labels(&[("gpu", "")])));
        assert!(!s.matches(&labels(&[])));

        let s = LabelSelector::default().with_expression("gpu", Operator::DoesNotExist, &[]);
        assert!(!s.matches(&labels(&[("gpu", "")])));
        assert!(s.matches(&labels(&[])));
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let s = LabelSelector::from_labels([("app", "web")]).with_expression(
            "env",
            Operator::In,
            &["prod"],
        );
        assert!(s.matches(&labels(&[("app", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("env", "dev")])));
        assert!(!s.matches(&labels(&[("app", "db"), ("env", "prod")])));
    }

    #[test]
    fn validation() {
        assert_eq!(
            LabelSelector::default()
                .with_expression("a", Operator::In, &[])
                .validate(),
            Err(SelectorError::MissingValues("a".into()))
        );
        assert_eq!(
            LabelSelector::default()
                .with_expression("a", Operator::Exists, &["x"])
                .validate(),
            Err(SelectorError::UnexpectedValues("a".into()))
        );
        assert_eq!(
            LabelSelector::default()
                .with_expression("a", Operator::In, &["x", "x"])
                .validate(),
            Err(SelectorError::DuplicateValue("x".into()))
        );
        assert!(matches!(
            LabelSelector::default()
                .with_expression("a", Operator::In, &["x", "y"])
                .with_expression("a", Operator::In, &["y", "x"])
                .validate(),
            Err(SelectorError::DuplicateExpression(_))
        ));
        assert_eq!(
            "Contains".parse::<Operator>(),
            Err(SelectorError::UnknownOperator("Contains".into()))
        );
        assert!(
            LabelSelector::from_labels([("a", "b")])
                .with_expression("c", Operator::NotIn, &["d"])
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn label_syntax() {
        for key in ["app", "app.kubernetes.io/name", "a_b-c.d", "x/y", "A1"] {
            assert_eq!(check_key(key), Ok(()), "{key}");
        }
        for key in [
            "-a",
            "a-",
            "a b",
            "Example.com/x",
            "a/b/c",
            "/x",
            "x/",
            &"k".repeat(64),
        ] {
            assert_eq!(
                check_key(key),
                Err(SelectorError::InvalidKey(key.to_owned())),
                "{key}"
            );
        }
        assert_eq!(check_key(""), Err(SelectorError::EmptyKey));
        assert_eq!(check_value(""), Ok(()));
        assert_eq!(check_value("v1.2_x-y"), Ok(()));
        assert!(check_value("bad value").is_err());
        assert!(check_value(&"v".repeat(64)).is_err());
        assert!(matches!(
            LabelSelector::from_labels([("app", "we b")]).validate(),
            Err(SelectorError::InvalidValue(_))
        ));
        assert!(matches!(
            LabelSelector::default()
                .with_expression("bad key", Operator::Exists, &[])
                .validate(),
            Err(SelectorError::InvalidKey(_))
        ));
    }

    #[test]
    fn display_is_sorted_k8s_form() {
        let s = LabelSelector::from_labels([("b", "2"), ("a", "1")])
            .with_expression("c", Operator::In, &["y", "x"])
            .with_expression("d", Operator::DoesNotExist, &[]);
        assert_eq!(s.to_string(), "a=1,b=2,c in (x,y),!d");
    }
}
