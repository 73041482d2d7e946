//! The I/O side of [`crate::migration`]: watches the legacy ConfigMap and applies the plan,
//! unless it would take an IP from a Service ([`refusals`]). A failed attempt (API server or
//! webhook not reachable) is reported and retried with backoff ([`crate::backoff`]) until it
//! succeeds or a newer ConfigMap replaces it. Only the leader migrates.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrolb_api::names::ANNOTATION_IP_ALLOCATED_FROM_POOL;
use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, ConfigurationState, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_kube::convert::{ServiceKey, ingress_ips};
use ferrolb_kube::events::event;
use ferrolb_kube::lease::shell::Leadership;
use ferrolb_kube::status::{CONTROLLER_STATE, condition, find};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::events::Recorder;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use super::{
    Existing, HASH_ANNOTATION, InUse, MIGRATED_LABEL, MIGRATED_VALUE, Outcome, Plan,
    RESULT_ANNOTATION, payload_hash, plan, refusals,
};
use crate::backoff::{INITIAL_BACKOFF, next_backoff};

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

fn failed(what: String) -> impl FnOnce(kube::Error) -> MigrationError {
    move |source| MigrationError { what, source }
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

/// What the migration needs to talk to the API server.
struct Migrator {
    client: Client,
    namespace: String,
    recorder: Recorder,
}

/// Watches ConfigMap `name` in `namespace` and migrates it whenever its payload changes; a
/// failed attempt is retried with backoff while no newer ConfigMap arrives.
pub async fn run(
    client: Client,
    namespace: String,
    name: String,
    recorder: Recorder,
    leadership: Leadership,
) {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = std::pin::pin!(watcher(api, cfg).default_backoff().applied_objects());
    let m = Migrator {
        client,
        namespace,
        recorder,
    };
    let mut pending: Option<ConfigMap> = None;
    let mut delay = INITIAL_BACKOFF;
    loop {
        let retry = async {
            match &pending {
                Some(_) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = stream.next() => match event {
                None => return,
                Some(Ok(cm)) => {
                    pending = Some(cm);
                    delay = INITIAL_BACKOFF;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "watching the legacy ConfigMap");
                    continue;
                }
            },
            _ = retry => delay = next_backoff(delay),
        }
        let Some(cm) = &pending else { continue };
        if !leadership.is_leader() {
            // Only the leader writes; take in the events that came meanwhile first.
            leadership.acquired().await;
            continue;
        }
        match m.migrate(cm).await {
            Ok(()) => pending = None,
            Err(e) => m.report_failure(cm, &e, delay).await,
        }
    }
}

impl Migrator {
    fn api(&self, resource: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, resource)
    }

    /// One attempt: plan, check, apply, record. `Err`: nothing recorded yet, retry.
    async fn migrate(&self, cm: &ConfigMap) -> Result<(), MigrationError> {
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
        let existing = self.existing().await?;
        let outcome = match plan(payload, &self.namespace, &existing) {
            Err(message) => Outcome::invalid(&message),
            Ok(plan) => {
                let refused = refusals(&plan, &self.in_use().await?);
                if refused.is_empty() {
                    self.apply(&plan).await?;
                    Outcome::applied(&plan)
                } else {
                    Outcome::refused(&refused)
                }
            }
        };
        tracing::info!(result = %outcome.summary, "migrated the legacy ConfigMap");
        self.annotate(cm, &hash, &outcome.summary).await?;
        self.record(cm, &outcome).await;
        Ok(())
    }

    /// The CRs of the kinds the migration writes that exist now.
    async fn existing(&self) -> Result<Vec<Existing>, MigrationError> {
        let mut existing = Vec::new();
        for (kind, ar) in resources() {
            let list = self
                .api(&ar)
                .list(&ListParams::default())
                .await
                .map_err(failed(format!("listing {kind}s in {}", self.namespace)))?;
            existing.extend(list.items.iter().map(|o| Existing {
                kind: kind.to_owned(),
                name: o.name_any(),
                migrated: o.labels().get(MIGRATED_LABEL).map(String::as_str)
                    == Some(MIGRATED_VALUE),
            }));
        }
        Ok(existing)
    }

    /// Every IP a Service holds, with the pool it came from.
    async fn in_use(&self) -> Result<Vec<InUse>, MigrationError> {
        let services = Api::<Service>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(failed("listing Services".into()))?;
        Ok(services
            .items
            .iter()
            .filter_map(|svc| {
                let pool = svc.annotations().get(ANNOTATION_IP_ALLOCATED_FROM_POOL)?;
                let service = ServiceKey::of(&svc.metadata).to_string();
                Some(ingress_ips(svc).into_iter().map(move |ip| InUse {
                    service: service.clone(),
                    pool: pool.clone(),
                    ip,
                }))
            })
            .flatten()
            .collect())
    }

    /// Applies the plan's objects, then deletes the pruned ones.
    async fn apply(&self, plan: &Plan) -> Result<(), MigrationError> {
        let ns = &self.namespace;
        let ssa = PatchParams::apply(FIELD_MANAGER).force();
        let resource = |kind: &str| resources().into_iter().find(|(k, _)| *k == kind);
        for obj in &plan.apply {
            let kind = obj["kind"].as_str().unwrap_or_default();
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            let Some((_, ar)) = resource(kind) else {
                continue;
            };
            self.api(&ar)
                .patch(name, &ssa, &Patch::Apply(obj))
                .await
                .map_err(failed(format!("applying {kind} {ns}/{name}")))?;
        }
        for (kind, name) in &plan.prune {
            let Some((_, ar)) = resource(kind) else {
                continue;
            };
            self.api(&ar)
                .delete(name, &DeleteParams::default())
                .await
                .map_err(failed(format!("deleting {kind} {ns}/{name}")))?;
        }
        for w in &plan.warnings {
            tracing::warn!(warning = %w, "migration");
        }
        Ok(())
    }

    /// Records the payload as handled, with its outcome, on the ConfigMap.
    async fn annotate(
        &self,
        cm: &ConfigMap,
        hash: &str,
        summary: &str,
    ) -> Result<(), MigrationError> {
        let name = cm.name_any();
        let annotations: BTreeMap<&str, &str> =
            [(HASH_ANNOTATION, hash), (RESULT_ANNOTATION, summary)].into();
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace)
            .patch(
                &name,
                &params,
                &Patch::Merge(&json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .map(drop)
            .map_err(failed(format!(
                "annotating ConfigMap {}/{name}",
                self.namespace
            )))
    }

    /// A failed attempt: logged, and reported by a Warning event and the condition.
    async fn report_failure(&self, cm: &ConfigMap, e: &MigrationError, retry_in: Duration) {
        tracing::warn!(error = %e, retry_in = ?retry_in, "migration failed; retrying");
        let outcome = Outcome {
            ok: false,
            warning: true,
            summary: format!("migration failed, retrying in {}s: {e}", retry_in.as_secs()),
        };
        self.record(cm, &outcome).await;
    }

    /// The event on the ConfigMap and the `configMigrationValid` condition (best effort).
    async fn record(&self, cm: &ConfigMap, outcome: &Outcome) {
        let event = event(
            outcome.warning,
            outcome.reason(),
            outcome.summary.clone(),
            "Migrate",
        );
        if let Err(e) = self.recorder.publish(&event, &cm.object_ref(&())).await {
            tracing::warn!(error = %e, "publishing migration event");
        }
        if let Err(e) = self.write_condition(outcome).await {
            tracing::warn!(error = %e, "recording the migration in ConfigurationState");
        }
    }

    async fn write_condition(&self, outcome: &Outcome) -> Result<(), kube::Error> {
        let states: Api<ConfigurationState> = Api::namespaced(self.client.clone(), &self.namespace);
        let old = states
            .get_opt(CONTROLLER_STATE)
            .await?
            .and_then(|s| s.status)
            .and_then(|s| find(&s.conditions, CONDITION).cloned());
        let condition = migration_condition(
            outcome.ok,
            outcome.summary.clone(),
            old.as_ref(),
            &ferrolb_kube::status::now(),
        );
        let body = json!({
            "apiVersion": ConfigurationState::api_version(&()), "kind": ConfigurationState::kind(&()),
            "status": {"conditions": [condition]},
        });
        states
            .patch_status(
                CONTROLLER_STATE,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map(drop)
    }
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
