//! Status shared by ferrolb's configuration kinds (IPAddressPool, L2Advertisement,
//! BGPAdvertisement, BGPPeer, BFDProfile, Community).
//!
//! MetalLB leaves these statuses empty (`status: {}`); ferrolb adds standard
//! `metav1.Condition`s with a `Ready` type and `observedGeneration`, the shape kstatus
//! (Argo CD, Flux) understands. This is status only: no spec field is added.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The condition type every configuration kind reports.
pub const CONDITION_READY: &str = "Ready";
/// kstatus' "cannot progress without a change" condition: `True` (reason `ConfigurationError`)
/// while the object is wrong, absent otherwise; kstatus (Flux, `kubectl wait`, Argo CD health
/// checks built on it) reads it as **Failed**, so a sync fails at once with ferrolb's message.
pub const CONDITION_STALLED: &str = "Stalled";
/// `Ready=True` reason: the object was accepted into the running configuration.
pub const REASON_RECONCILED: &str = "Reconciled";
/// `Ready=False` reason: the object is invalid; the last good configuration keeps serving.
pub const REASON_CONFIGURATION_ERROR: &str = "ConfigurationError";

/// Status of a configuration object: conditions plus the generation they describe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// Standard conditions; `Ready` says whether the object is part of the running configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the conditions were computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl ConfigStatus {
    /// The `Ready` condition, if any.
    pub fn ready(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == CONDITION_READY)
    }
}
