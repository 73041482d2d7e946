//! The I/O side of [`crate::migration`]: watches the legacy ConfigMap and applies the plan.

use std::collections::BTreeMap;

use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, ConfigurationState, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_kube::status::{CONTROLLER_STATE, condition, find};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use super::{
    Existing, HASH_ANNOTATION, MIGRATED_LABEL, MIGRATED_VALUE, RESULT_ANNOTATION, payload_hash,
    plan,
};

/// Field manager of the CRs the migration writes.
pub const FIELD_MANAGER: &str = "ferrolb-migration";
/// Condition type in the controller's ConfigurationState.
pub const CONDITION: &str = "configMigrationValid";

/// A failed API call during migration, naming the object.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct MigrationError {
    what: String,
    #[source]
    source: kube::Error,
}

fn resources() -> Vec<(&'static str, ApiResource)> {
    vec![
        ("BGPPeer", ApiResource::erase::<BGPPeer>(&())),
        ("IPAddressPool", ApiResource::erase::<IPAddressPool>(&())),
        (
            "BGPAdvertisement",
            ApiResource::erase::<BGPAdvertisement>(&()),
        ),
        (
            "L2Advertisement",
            ApiResource::erase::<L2Advertisement>(&()),
        ),
        ("BFDProfile", ApiResource::erase::<BFDProfile>(&())),
        ("Community", ApiResource::erase::<Community>(&())),
    ]
}

/// Watches ConfigMap `name` in `namespace` and migrates it whenever its payload changes.
pub async fn run(client: Client, namespace: String, name: String, recorder: Recorder) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = std::pin::pin!(watcher(api, cfg).default_backoff().applied_objects());
    while let Some(event) = stream.next().await {
        match event {
            Ok(cm) => {
                if let Err(e) = migrate(&client, &namespace, &cm, &recorder).await {
                    tracing::warn!(error = %e, configmap = %name, "migration failed; will retry on the next change");
                }
            }
            Err(e) => tracing::warn!(error = %e, "watching the legacy ConfigMap"),
        }
    }
}

async fn migrate(
    client: &Client,
    namespace: &str,
    cm: &ConfigMap,
    recorder: &Recorder,
) -> Result<(), MigrationError> {
    let Some(payload) = cm
        .data
        .as_ref()
        .and_then(|d| d.get(ferrolb_api::names::LEGACY_CONFIGMAP_KEY))
    else {
        return Ok(());
    };
    let hash = payload_hash(payload);
    if cm.annotations().get(HASH_ANNOTATION) == Some(&hash) {
        return Ok(());
    }
    let mut existing = Vec::new();
    for (kind, ar) in resources() {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|source| MigrationError {
                what: format!("listing {kind}s in {namespace}"),
                source,
            })?;
        existing.extend(list.items.iter().map(|o| Existing {
            kind: kind.to_owned(),
            name: o.name_any(),
            migrated: o.labels().get(MIGRATED_LABEL).map(String::as_str) == Some(MIGRATED_VALUE),
        }));
    }
    let (ok, summary, warning) = match plan(payload, namespace, &existing) {
        Err(message) => (false, format!("not migrated: {message}"), true),
        Ok(plan) => {
            let ssa = PatchParams::apply(FIELD_MANAGER).force();
            for obj in &plan.apply {
                let kind = obj["kind"].as_str().unwrap_or_default();
                let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                let Some((_, ar)) = resources().into_iter().find(|(k, _)| *k == kind) else {
                    continue;
                };
                let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
                api.patch(name, &ssa, &Patch::Apply(obj))
                    .await
                    .map_err(|source| MigrationError {
                        what: format!("applying {kind} {namespace}/{name}"),
                        source,
                    })?;
            }
            for (kind, name) in &plan.prune {
                let Some((_, ar)) = resources().into_iter().find(|(k, _)| k == kind) else {
                    continue;
                };
                let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
                api.delete(name, &DeleteParams::default())
                    .await
                    .map_err(|source| MigrationError {
                        what: format!("deleting {kind} {namespace}/{name}"),
                        source,
                    })?;
            }
            for w in &plan.warnings {
                tracing::warn!(warning = %w, "migration");
            }
            let conflicts = !plan.conflicts.is_empty();
            (!conflicts, plan.summary(), conflicts)
        }
    };
    tracing::info!(result = %summary, "migrated the legacy ConfigMap");
    let cm_name = cm.name_any();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let annotations: BTreeMap<&str, &str> = [
        (HASH_ANNOTATION, hash.as_str()),
        (RESULT_ANNOTATION, summary.as_str()),
    ]
    .into();
    cms.patch(
        &cm_name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::Merge(&json!({"metadata": {"annotations": annotations}})),
    )
    .await
    .map_err(|source| MigrationError {
        what: format!("annotating ConfigMap {namespace}/{cm_name}"),
        source,
    })?;
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: if ok {
            "ConfigMigrated"
        } else {
            "ConfigMigrationFailed"
        }
        .into(),
        note: Some(summary.clone()),
        action: "Migrate".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &cm.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing migration event");
    }
    let states: Api<ConfigurationState> = Api::namespaced(client.clone(), namespace);
    let old = match states.get_opt(CONTROLLER_STATE).await {
        Ok(state) => state
            .and_then(|s| s.status)
            .and_then(|s| find(&s.conditions, CONDITION).cloned()),
        Err(e) => {
            tracing::warn!(error = %e, "reading ConfigurationState {CONTROLLER_STATE}");
            None
        }
    };
    let condition = migration_condition(ok, summary, old.as_ref(), &ferrolb_kube::status::now());
    let body = json!({
        "apiVersion": ConfigurationState::api_version(&()), "kind": ConfigurationState::kind(&()),
        "status": {"conditions": [condition]},
    });
    if let Err(e) = states
        .patch_status(
            CONTROLLER_STATE,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        tracing::warn!(error = %e, "recording the migration in ConfigurationState");
    }
    Ok(())
}

/// The `configMigrationValid` condition of an outcome: its message is the summary (also on
/// success), and `lastTransitionTime` is `old`'s while the status is unchanged.
pub fn migration_condition(
    ok: bool,
    summary: String,
    old: Option<&Condition>,
    now: &Time,
) -> Condition {
    let error = (!ok).then_some(summary.as_str());
    Condition {
        message: summary.clone(),
        ..condition(CONDITION, error, None, old, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("timestamp"))
    }

    #[test]
    fn a_new_migration_keeps_the_transition_time_while_the_outcome_holds() {
        let first = migration_condition(true, "applied 2 object(s)".into(), None, &at(10));
        assert_eq!(
            (first.status.as_str(), first.reason.as_str()),
            ("True", "Reconciled")
        );
        assert_eq!(first.message, "applied 2 object(s)");
        let again = migration_condition(true, "applied 3 object(s)".into(), Some(&first), &at(20));
        assert_eq!(again.last_transition_time, at(10), "same status: time kept");
        assert_eq!(again.message, "applied 3 object(s)");
        let failed = migration_condition(false, "not migrated: bad".into(), Some(&again), &at(30));
        assert_eq!(
            (failed.status.as_str(), failed.reason.as_str()),
            ("False", "ConfigurationError")
        );
        assert_eq!(failed.last_transition_time, at(30), "a transition moves it");
    }
}
