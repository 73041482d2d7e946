//! The one home of status conditions and of the `ConfigurationState` write, shared by the
//! controller and the speaker.
//!
//! - [`condition`]: a condition from "error or not", keeping `lastTransitionTime` when the
//!   status did not change (Kubernetes API conventions: the time moves only on a transition, so
//!   GitOps tools do not show churn on every write).
//! - [`ConfigStateWriter`]: MetalLB's `ConfigurationState` object of one component
//!   (`controller`, or `speaker-<node>`), metadata (labels, owner Pod) and status written by
//!   server-side apply; the last written condition is remembered (and read back once from the
//!   API after a restart) so its transition time is kept.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde_json::json;
use tokio::sync::Mutex;

use ferrolb_api::names::{LABEL_COMPONENT_TYPE, LABEL_NODE_NAME};
use ferrolb_api::status::{CONDITION_READY, CONDITION_STALLED};
use ferrolb_api::v1beta1::{ConfigurationState, ConfigurationStateStatus};

use crate::owner::PodOwner;

/// The name of the controller's `ConfigurationState`.
pub const CONTROLLER_STATE: &str = "controller";

/// The condition type of the controller's `ConfigurationState` (MetalLB's).
pub const CONTROLLER_CONDITION: &str = "poolReconcilerValid";

/// Whether `state` (as a watch shows it; `None`: absent) carries the condition `type_` that
/// [`ConfigStateWriter::write`] writes for `error` (and a summary): a writer compares
/// this, not its memory of past writes, so an object deleted or edited by someone else is
/// rewritten by the next pass.
pub fn state_shows(state: Option<&ConfigurationState>, type_: &str, error: Option<&str>) -> bool {
    let Some(status) = state.and_then(|s| s.status.as_ref()) else {
        return false;
    };
    let Some(have) = find(&status.conditions, type_) else {
        return false;
    };
    // Only this writer's condition: others (the migration's `configMigrationValid`) may
    // share the object.
    *have == condition(type_, error, None, Some(have), &have.last_transition_time)
        && status.result.is_some()
}

/// MetalLB's reason of a condition whose object is fine.
pub const REASON_RECONCILED: &str = "Reconciled";
/// MetalLB's reason of a condition whose object (or configuration) is wrong.
pub const REASON_CONFIGURATION_ERROR: &str = "ConfigurationError";

/// The condition `type_` for an object: `True`/`Reconciled` without `error`, else
/// `False`/`ConfigurationError` with the error as message. `lastTransitionTime` is `old`'s when
/// the status is unchanged, `now` otherwise.
pub fn condition(
    type_: &str,
    error: Option<&str>,
    generation: Option<i64>,
    old: Option<&Condition>,
    now: &Time,
) -> Condition {
    let (status, reason, message) = match error {
        None => ("True", REASON_RECONCILED, String::new()),
        Some(e) => ("False", REASON_CONFIGURATION_ERROR, e.to_owned()),
    };
    let last_transition_time = match old {
        Some(o) if o.status == status => o.last_transition_time.clone(),
        _ => now.clone(),
    };
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The conditions of a configuration object (the one home of their shape, used by the pool
/// status and by every other kind's): `Ready` ([`condition`]) and, while `error` is set,
/// `Stalled=True` with the same reason and message — kstatus reads `Stalled=True` as Failed, so
/// Flux or `kubectl wait` stop at once with the problem instead of waiting out their timeout
/// (kstatus reads `Ready=False` alone as InProgress). `Stalled` is left out when the object is
/// fine: the writer owns the list by server-side apply, so a fixed object loses it.
pub fn object_conditions(
    error: Option<&str>,
    generation: Option<i64>,
    old: &[Condition],
    now: &Time,
) -> Vec<Condition> {
    let ready = condition(
        CONDITION_READY,
        error,
        generation,
        find(old, CONDITION_READY),
        now,
    );
    let Some(e) = error else {
        return vec![ready];
    };
    let last_transition_time = match find(old, CONDITION_STALLED) {
        Some(o) if o.status == "True" => o.last_transition_time.clone(),
        _ => now.clone(),
    };
    let stalled = Condition {
        type_: CONDITION_STALLED.into(),
        status: "True".into(),
        reason: REASON_CONFIGURATION_ERROR.into(),
        message: e.to_owned(),
        observed_generation: generation,
        last_transition_time,
    };
    vec![ready, stalled]
}

/// The condition of type `type_` in a list, if any.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Writes one component's `ConfigurationState` (MetalLB: `controller` with condition
/// `poolReconcilerValid`, `speaker-<node>` with `configReconcilerValid`).
pub struct ConfigStateWriter {
    api: Api<ConfigurationState>,
    name: String,
    component: &'static str,
    node: Option<String>,
    condition_type: &'static str,
    owner: PodOwner,
    ssa: PatchParams,
    /// The condition last written, `None` until the first write (then read from the API).
    last: Mutex<Option<Condition>>,
}

impl ConfigStateWriter {
    /// The controller's object `controller`.
    pub fn controller(
        client: Client,
        namespace: &str,
        owner: PodOwner,
        field_manager: &str,
    ) -> Self {
        Self::new(client, namespace, "controller", None, owner, field_manager)
    }

    /// A speaker's object `speaker-<node>`.
    pub fn speaker(
        client: Client,
        namespace: &str,
        node: &str,
        owner: PodOwner,
        field_manager: &str,
    ) -> Self {
        Self::new(
            client,
            namespace,
            "speaker",
            Some(node.to_owned()),
            owner,
            field_manager,
        )
    }

    fn new(
        client: Client,
        namespace: &str,
        component: &'static str,
        node: Option<String>,
        owner: PodOwner,
        field_manager: &str,
    ) -> Self {
        let (name, condition_type) = match &node {
            None => (CONTROLLER_STATE.to_owned(), CONTROLLER_CONDITION),
            Some(n) => (format!("speaker-{n}"), "configReconcilerValid"),
        };
        ConfigStateWriter {
            api: Api::namespaced(client, namespace),
            name,
            component,
            node,
            condition_type,
            owner,
            ssa: PatchParams::apply(field_manager).force(),
            last: Mutex::new(None),
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The object's metadata as applied: labels and the owner Pod.
    pub fn metadata(&self) -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        labels.insert(LABEL_COMPONENT_TYPE.into(), self.component.into());
        if let Some(node) = &self.node {
            labels.insert(LABEL_NODE_NAME.into(), node.clone().into());
        }
        json!({
            "apiVersion": ConfigurationState::api_version(&()),
            "kind": ConfigurationState::kind(&()),
            "metadata": {
                "name": self.name,
                "labels": labels,
                "ownerReferences": self.owner.references(),
            },
        })
    }

    /// Applies the object with `error` (none: valid) as its one condition. The transition time
    /// is kept when the status did not change since the last write (or since the object read
    /// back after a restart).
    pub async fn write(&self, error: Option<&str>) -> Result<(), kube::Error> {
        let mut last = self.last.lock().await;
        if last.is_none() {
            *last = self.read_condition().await;
        }
        self.api
            .patch(&self.name, &self.ssa, &Patch::Apply(&self.metadata()))
            .await?;
        let cond = condition(self.condition_type, error, None, last.as_ref(), &now());
        let body = json!({
            "apiVersion": ConfigurationState::api_version(&()),
            "kind": ConfigurationState::kind(&()),
            "status": ConfigurationStateStatus::summarize(vec![cond.clone()]),
        });
        self.api
            .patch_status(&self.name, &self.ssa, &Patch::Apply(&body))
            .await?;
        *last = Some(cond);
        Ok(())
    }

    /// Forgets the last written condition (the object was deleted or edited by someone else).
    pub async fn forget(&self) {
        *self.last.lock().await = None;
    }

    async fn read_condition(&self) -> Option<Condition> {
        let obj = self.api.get_opt(&self.name).await.ok().flatten()?;
        let conditions = obj.status?.conditions;
        find(&conditions, self.condition_type).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("valid timestamp"))
    }

    #[test]
    fn the_state_shows_only_its_own_current_condition() {
        let mine = condition(CONTROLLER_CONDITION, None, None, None, &at(10));
        let other = condition("configMigrationValid", Some("refused"), None, None, &at(5));
        let mut state = ConfigurationState::new("controller", Default::default());
        assert!(!state_shows(None, CONTROLLER_CONDITION, None), "absent");
        assert!(
            !state_shows(Some(&state), CONTROLLER_CONDITION, None),
            "no status"
        );
        state.status = Some(ConfigurationStateStatus::summarize(vec![
            other.clone(),
            mine.clone(),
        ]));
        assert!(state_shows(Some(&state), CONTROLLER_CONDITION, None));
        assert!(
            !state_shows(Some(&state), CONTROLLER_CONDITION, Some("overlap")),
            "an error to report"
        );
        state.status = Some(ConfigurationStateStatus::summarize(vec![other]));
        assert!(
            !state_shows(Some(&state), CONTROLLER_CONDITION, None),
            "condition removed"
        );
    }

    #[test]
    fn a_wrong_object_is_stalled_for_kstatus_and_a_fixed_one_is_not() {
        let ok = object_conditions(None, Some(1), &[], &at(10));
        assert_eq!(ok.len(), 1, "only Ready while fine: {ok:?}");
        assert_eq!(
            (ok[0].type_.as_str(), ok[0].status.as_str()),
            ("Ready", "True")
        );
        let bad = object_conditions(Some("cidr overlaps pool \"b\""), Some(2), &ok, &at(20));
        let ready = find(&bad, "Ready").expect("Ready");
        let stalled = find(&bad, "Stalled").expect("Stalled while wrong");
        assert_eq!(
            (ready.status.as_str(), ready.last_transition_time.clone()),
            ("False", at(20))
        );
        assert_eq!(stalled.status, "True");
        assert_eq!(stalled.reason, REASON_CONFIGURATION_ERROR);
        assert_eq!(stalled.message, ready.message, "the same problem text");
        assert_eq!(stalled.observed_generation, Some(2));
        let still = object_conditions(Some("another problem"), Some(3), &bad, &at(30));
        let stalled = find(&still, "Stalled").expect("still stalled");
        assert_eq!(
            stalled.last_transition_time,
            at(20),
            "time moves only on a transition"
        );
        assert_eq!(stalled.message, "another problem");
        let fixed = object_conditions(None, Some(4), &still, &at(40));
        assert!(
            find(&fixed, "Stalled").is_none(),
            "a fixed object loses Stalled: {fixed:?}"
        );
        assert_eq!(
            find(&fixed, "Ready").map(|c| c.last_transition_time.clone()),
            Some(at(40))
        );
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let first = condition("Ready", None, Some(1), None, &at(10));
        assert_eq!(first.status, "True");
        assert_eq!(first.reason, REASON_RECONCILED);
        assert_eq!(first.last_transition_time, at(10));
        let same = condition("Ready", None, Some(2), Some(&first), &at(20));
        assert_eq!(
            same.last_transition_time,
            at(10),
            "unchanged status keeps the time"
        );
        assert_eq!(same.observed_generation, Some(2));
        let failed = condition("Ready", Some("bad cidr"), Some(3), Some(&same), &at(30));
        assert_eq!(failed.status, "False");
        assert_eq!(failed.reason, REASON_CONFIGURATION_ERROR);
        assert_eq!(failed.message, "bad cidr");
        assert_eq!(failed.last_transition_time, at(30));
        let still = condition("Ready", Some("other"), Some(4), Some(&failed), &at(40));
        assert_eq!(
            still.last_transition_time,
            at(30),
            "a new message is no transition"
        );
        assert_eq!(still.message, "other");
    }

    #[test]
    fn find_by_type() {
        let a = condition("A", None, None, None, &at(1));
        let b = condition("B", Some("x"), None, None, &at(1));
        let list = vec![a, b.clone()];
        assert_eq!(find(&list, "B"), Some(&b));
        assert_eq!(find(&list, "C"), None);
    }

    /// The requests a fake API server received: method and path, body.
    type Requests = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

    /// A fake API server answering every request with `stored`; every request's method,
    /// path and body are recorded.
    fn fake_api(stored: serde_json::Value) -> (Client, Requests) {
        use axum::http::{Request, Response};
        use http_body_util::BodyExt;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let (log, stored) = (log.clone(), stored.clone());
            async move {
                let what = format!("{} {}", req.method(), req.uri().path());
                let bytes = req.into_body().collect().await.expect("body").to_bytes();
                let body: serde_json::Value =
                    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                log.lock().expect("log").push((what, body));
                let bytes = serde_json::to_vec(&stored).expect("json");
                Ok::<_, std::convert::Infallible>(Response::new(kube::client::Body::from(bytes)))
            }
        });
        (Client::new(svc, "metallb-system"), seen)
    }

    #[tokio::test]
    async fn the_writer_keeps_the_transition_time_across_writes_and_restarts() {
        let stored = json!({
            "apiVersion": "metallb.io/v1beta1", "kind": "ConfigurationState",
            "metadata": {"name": "controller", "namespace": "metallb-system"},
            "status": {"conditions": [{"type": "poolReconcilerValid", "status": "True",
                "reason": "Reconciled", "message": "", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
        });
        let (client, seen) = fake_api(stored);
        let w = ConfigStateWriter::controller(
            client,
            "metallb-system",
            PodOwner::new(None, None),
            "test",
        );
        let time_of_last_status_write = || {
            let seen = seen.lock().expect("log");
            let (what, body) = seen.last().expect("a write").clone();
            assert!(
                what.ends_with("/configurationstates/controller/status"),
                "{what}"
            );
            body["status"]["conditions"][0]["lastTransitionTime"].clone()
        };
        w.write(None).await.expect("write");
        assert_eq!(
            time_of_last_status_write(),
            "2020-01-01T00:00:00Z",
            "unchanged since before the restart: time kept"
        );
        w.write(Some("bad pool")).await.expect("write");
        let failed_at = time_of_last_status_write();
        assert_ne!(
            failed_at, "2020-01-01T00:00:00Z",
            "a transition moves the time"
        );
        w.write(Some("another error")).await.expect("write");
        assert_eq!(
            time_of_last_status_write(),
            failed_at,
            "still failing: time kept"
        );
    }
}
