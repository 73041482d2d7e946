//! ConfigurationState (`api/v1beta1/configurationstate_types.go` upstream, v0.15+): status-only
//! object per component (`controller`, `speaker-<node>`) saying whether its configuration is valid.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// ConfigurationState has no spec; this empty struct is flattened away.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ConfigurationState",
    namespaced,
    no_spec,
    status = "ConfigurationStateStatus",
    derive = "PartialEq",
    doc = "ConfigurationState is a status-only CRD that reports configuration validation results from MetalLB components.",
    printcolumn(name = "Result", type_ = "string", json_path = ".status.result"),
    printcolumn(
        name = "ErrorSummary",
        type_ = "string",
        json_path = ".status.errorSummary"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct ConfigurationStateSpec {}

/// Overall result: `Unknown` with no conditions, `Invalid` if a condition is False with reason
/// `ConfigurationError`, else `Valid`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConfigurationResult {
    /// Every reconciler accepted its configuration.
    Valid,
    /// Some reconciler rejected its configuration.
    Invalid,
    /// Nothing reported yet.
    #[default]
    Unknown,
}

/// Status of a ConfigurationState.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStateStatus {
    /// Overall result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ConfigurationResult>,
    /// Newline-joined messages of the conditions with reason `ConfigurationError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_summary: Option<String>,
    /// One condition per reconciler (`configReconcilerValid`, `poolReconcilerValid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
}

impl ConfigurationStateStatus {
    /// Computes `result` and `errorSummary` from `conditions` exactly as MetalLB does.
    pub fn summarize(conditions: Vec<Condition>) -> Self {
        let errors: Vec<&str> = conditions
            .iter()
            .filter(|c| c.status == "False" && c.reason == "ConfigurationError")
            .map(|c| c.message.as_str())
            .collect();
        let result = if conditions.is_empty() {
            ConfigurationResult::Unknown
        } else if errors.is_empty() {
            ConfigurationResult::Valid
        } else {
            ConfigurationResult::Invalid
        };
        let error_summary = (!errors.is_empty()).then(|| errors.join("\n"));
        Self {
            result: Some(result),
            error_summary,
            conditions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                Default::default(),
            ),
            observed_generation: None,
        }
    }

    #[test]
    fn summary_follows_metallb_rules() {
        let s = ConfigurationStateStatus::summarize(vec![]);
        assert_eq!(s.result, Some(ConfigurationResult::Unknown));
        let s = ConfigurationStateStatus::summarize(vec![cond(
            "poolReconcilerValid",
            "True",
            "Reconciled",
            "",
        )]);
        assert_eq!(
            (s.result, s.error_summary),
            (Some(ConfigurationResult::Valid), None)
        );
        let s = ConfigurationStateStatus::summarize(vec![
            cond(
                "poolReconcilerValid",
                "False",
                "ConfigurationError",
                "bad pool",
            ),
            cond(
                "configReconcilerValid",
                "False",
                "ConfigurationError",
                "bad peer",
            ),
        ]);
        assert_eq!(s.result, Some(ConfigurationResult::Invalid));
        assert_eq!(s.error_summary.as_deref(), Some("bad pool\nbad peer"));
        // A failure that is not a configuration error does not make the result Invalid.
        let s =
            ConfigurationStateStatus::summarize(vec![cond("x", "False", "UnknownError", "boom")]);
        assert_eq!(s.result, Some(ConfigurationResult::Valid));
    }
}
