//! The I/O side of [`crate::memberlist`]: watches the speakers' key Secret by name and, while
//! this controller leads, creates it whenever it is missing (at start, and at once after
//! someone deletes it) and removes an owner reference to the controller Deployment from it.
//! The key of an existing Secret is never changed (a Helm install or a user may have created
//! it first); a lost create race (409 AlreadyExists) counts as success. Failures are retried
//! with backoff in the background: the allocator never waits for this.

use std::sync::Arc;
use std::time::Duration;

use ferrolb_kube::lease::shell::Leadership;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use tokio::sync::Notify;

use super::{KEY, owners_to_keep, random_key, secret};
use crate::backoff::{INITIAL_BACKOFF, next_backoff};

/// The Secret is looked at at least this often.
const RESYNC: Duration = Duration::from_secs(30);

/// Why one attempt failed (the task retries).
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// An API call failed.
    #[error("failed to {action}: {source}")]
    Kube {
        /// What was attempted.
        action: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// No random bytes from the operating system.
    #[error("failed to generate a key: {0}")]
    Random(getrandom::Error),
}

/// What an attempt found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The Secret was there as it should be (left untouched).
    Existed,
    /// The owner reference to the Deployment was removed (key unchanged).
    Disowned,
    /// Created.
    Created,
}

/// What the task watches and writes.
struct Target {
    api: Api<Secret>,
    key: ObjectRef<Secret>,
    namespace: String,
    name: String,
    deployment: Option<String>,
}

impl Target {
    fn err(&self, action: &str, source: kube::Error) -> SecretError {
        SecretError::Kube {
            action: format!("{action} Secret {}/{}", self.namespace, self.name),
            source,
        }
    }

    /// Brings the Secret (as the cache shows it) to what it should be.
    async fn ensure(&self, existing: Option<Arc<Secret>>) -> Result<Outcome, SecretError> {
        if let Some(s) = existing {
            if !s.data.as_ref().is_some_and(|d| d.contains_key(KEY)) {
                tracing::warn!(secret = %self.name,
                    "memberlist Secret has no `{KEY}` key; leaving it as it is");
            }
            let keep = self
                .deployment
                .as_deref()
                .and_then(|d| owners_to_keep(&s, d));
            let Some(keep) = keep else {
                return Ok(Outcome::Existed);
            };
            let patch = json!({"metadata": {"ownerReferences": keep}});
            self.api
                .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| self.err("remove the Deployment owner of", e))?;
            return Ok(Outcome::Disowned);
        }
        let key = random_key().map_err(SecretError::Random)?;
        let fresh = secret(&self.name, &self.namespace, &key);
        match self.api.create(&PostParams::default(), &fresh).await {
            Ok(_) => Ok(Outcome::Created),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Outcome::Existed),
            Err(e) => Err(self.err("create", e)),
        }
    }
}

/// Keeps Secret `name` in `namespace` present and without owner, forever; writes only while
/// `leadership` holds. `deployment`: the controller Deployment whose owner reference is removed.
pub async fn run(
    client: Client,
    namespace: String,
    name: String,
    deployment: Option<String>,
    leadership: Leadership,
) {
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    let wake = Arc::new(Notify::new());
    let store: Store<Secret> = ferrolb_kube::reflect_named(api.clone(), &name, vec![wake.clone()]);
    if let Err(e) = store.wait_until_ready().await {
        tracing::warn!(error = %e, "memberlist Secret watch ended before its first list");
        return;
    }
    let target = Target {
        api,
        key: ObjectRef::new(&name).within(&namespace),
        namespace,
        name,
        deployment,
    };
    let mut delay = INITIAL_BACKOFF;
    let mut reported = false;
    loop {
        let mut pause = RESYNC;
        if leadership.is_leader() {
            match target.ensure(store.get(&target.key)).await {
                Ok(outcome) => {
                    let name = &target.name;
                    match outcome {
                        Outcome::Existed if reported => {}
                        Outcome::Existed => {
                            tracing::info!(secret = %name, "memberlist Secret exists; left unchanged");
                        }
                        Outcome::Disowned => tracing::info!(secret = %name,
                            "removed the Deployment owner of the memberlist Secret (key kept)"),
                        Outcome::Created => {
                            tracing::info!(secret = %name, "created the memberlist Secret");
                        }
                    }
                    reported = true;
                    delay = INITIAL_BACKOFF;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "memberlist Secret not ensured");
                    pause = delay;
                    delay = next_backoff(delay);
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = leadership.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
