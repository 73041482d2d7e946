//! A Kubernetes `LabelSelector` as plain parts — `matchLabels`, and each `matchExpressions`
//! entry as (key, operator text, values) — the input of `ferrolb_core::LabelSelector::from_parts`,
//! the one conversion shared by the binaries and the validator.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// `matchLabels` and the `matchExpressions` entries of `sel`.
pub type Parts<'a> = (
    BTreeMap<String, String>,
    Vec<(&'a str, &'a str, Vec<String>)>,
);

/// The parts of `sel` (absent lists are empty).
pub fn parts(sel: &LabelSelector) -> Parts<'_> {
    let expressions = sel
        .match_expressions
        .iter()
        .flatten()
        .map(|e| {
            (
                e.key.as_str(),
                e.operator.as_str(),
                e.values.clone().unwrap_or_default(),
            )
        })
        .collect();
    (sel.match_labels.clone().unwrap_or_default(), expressions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn parts_keep_labels_and_expressions_in_order() {
        let sel = LabelSelector {
            match_labels: Some([("zone".to_owned(), "a".to_owned())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["web".into()]),
                },
                LabelSelectorRequirement {
                    key: "gpu".into(),
                    operator: "Exists".into(),
                    values: None,
                },
            ]),
        };
        let (labels, expressions) = parts(&sel);
        assert_eq!(labels["zone"], "a");
        assert_eq!(
            expressions,
            vec![
                ("tier", "In", vec!["web".to_owned()]),
                ("gpu", "Exists", vec![])
            ]
        );
        assert_eq!(parts(&LabelSelector::default()), (BTreeMap::new(), vec![]));
    }
}
