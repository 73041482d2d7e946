//! Label selector lists as MetalLB checks them (`internal/config/config.go`
//! `selectorsFromCR`/`validateDuplicate*`): each selector must convert
//! (`metav1.LabelSelectorAsSelector`: known operator, `In`/`NotIn` with values,
//! `Exists`/`DoesNotExist` without, valid keys and values, no duplicate values or expressions),
//! and no two selectors of a list may be equal once their values are sorted
//! (`duplicate definition of <list> "<selector>"`).

use std::collections::BTreeSet;

use ferrolb_core::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use crate::model::{Kind, Problem};

/// Converts a Kubernetes label selector into a core one (validated by
/// [`LabelSelector::from_parts`], the binaries' conversion too), with MetalLB's message.
pub fn convert(sel: &metav1::LabelSelector) -> Result<LabelSelector, String> {
    let (labels, expressions) = ferrolb_api::selector::parts(sel);
    LabelSelector::from_parts(labels, expressions).map_err(|e| e.error.to_string())
}

/// The string form MetalLB prints for a selector (`metav1.FormatLabelSelector`-like).
pub fn display(sel: &metav1::LabelSelector) -> String {
    let mut labels: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        labels.push(format!(
            "{} {} ({})",
            e.key,
            e.operator.to_lowercase(),
            values.join(",")
        ));
    }
    labels.join(",")
}

/// Checks one selector list of one object; returns the converted selectors that are valid.
///
/// `list_name` is the field's name (`nodeSelectors`), `convert_context` the text MetalLB
/// prefixes conversion errors with (e.g. `failed to convert peer p1 node selector`).
pub fn check_list(
    kind: Kind,
    name: &str,
    list_name: &str,
    list: &[metav1::LabelSelector],
    convert_context: &str,
    problems: &mut Vec<Problem>,
) -> Vec<LabelSelector> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, sel) in list.iter().enumerate() {
        let field = format!("spec.{list_name}[{i}]");
        match convert(sel) {
            Ok(s) => {
                if !seen.insert(s.canonical()) {
                    problems.push(Problem::new(
                        kind,
                        name,
                        field,
                        display(sel),
                        format!("duplicate definition of {list_name} {:?}", s.to_string()),
                    ));
                }
                out.push(s);
            }
            Err(e) => problems.push(Problem::new(
                kind,
                name,
                field,
                display(sel),
                format!("{convert_context}: {e}"),
            )),
        }
    }
    out
}

/// Checks a list of names for duplicates (`duplicate definition of <list> "<v>"`).
pub fn check_names(
    kind: Kind,
    name: &str,
    list_name: &str,
    message_name: &str,
    list: &[String],
    problems: &mut Vec<Problem>,
) {
    let mut seen = BTreeSet::new();
    for (i, v) in list.iter().enumerate() {
        if !seen.insert(v) {
            problems.push(Problem::new(
                kind,
                name,
                format!("spec.{list_name}[{i}]"),
                v.clone(),
                format!("duplicate definition of {message_name} {v:?}"),
            ));
        }
    }
}

/// Whether any of `selectors` (empty = all) matches the labels.
pub fn any_matches(
    selectors: &[LabelSelector],
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}
