//! The I/O side of [`crate::memberlist`]: creates the speakers' key Secret once at start if it
//! does not exist, as MetalLB's controller does (`--ml-secret-name`, `--deployment`). An existing
//! Secret is never changed (a Helm install or a user may have created it first); a lost create
//! race (409 AlreadyExists) counts as success. Failures are retried with backoff in the
//! background: the allocator never waits for this.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};

use super::{KEY, owner_reference, random_key, secret};
use crate::backoff::{INITIAL_BACKOFF, next_backoff};

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
    /// The Secret was already there (left untouched).
    Existed,
    /// Created; `owned` says whether it carries the Deployment as owner.
    Created {
        /// An ownerReference to the Deployment was set.
        owned: bool,
    },
}

/// Creates Secret `name` in `namespace` unless it exists, owned by Deployment `deployment`
/// when that can be read (else without owner, with a warning).
pub async fn ensure(
    client: &Client,
    namespace: &str,
    name: &str,
    deployment: Option<&str>,
) -> Result<Outcome, SecretError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let existing = secrets
        .get_opt(name)
        .await
        .map_err(|source| SecretError::Kube {
            action: format!("read Secret {namespace}/{name}"),
            source,
        })?;
    if let Some(s) = existing {
        if !s.data.as_ref().is_some_and(|d| d.contains_key(KEY)) {
            tracing::warn!(
                secret = name,
                "memberlist Secret has no `{KEY}` key; leaving it as it is"
            );
        }
        return Ok(Outcome::Existed);
    }
    let owner = match deployment {
        None => None,
        Some(d) => match Api::<Deployment>::namespaced(client.clone(), namespace)
            .get(d)
            .await
        {
            Ok(dep) => owner_reference(&dep),
            Err(e) => {
                tracing::warn!(deployment = d, error = %e,
                    "cannot read the controller Deployment; creating the memberlist Secret without an owner");
                None
            }
        },
    };
    let owned = owner.is_some();
    let key = random_key().map_err(SecretError::Random)?;
    match secrets
        .create(
            &PostParams::default(),
            &secret(name, namespace, &key, owner),
        )
        .await
    {
        Ok(_) => Ok(Outcome::Created { owned }),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Outcome::Existed),
        Err(source) => Err(SecretError::Kube {
            action: format!("create Secret {namespace}/{name}"),
            source,
        }),
    }
}

/// [`ensure`] until it succeeds, with exponential backoff between attempts.
pub async fn run(client: Client, namespace: String, name: String, deployment: Option<String>) {
    let mut delay = INITIAL_BACKOFF;
    loop {
        match ensure(&client, &namespace, &name, deployment.as_deref()).await {
            Ok(Outcome::Existed) => {
                tracing::info!(secret = %name, "memberlist Secret exists; left unchanged");
                return;
            }
            Ok(Outcome::Created { owned }) => {
                tracing::info!(secret = %name, owned, "created the memberlist Secret");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "memberlist Secret not ensured");
                tokio::time::sleep(delay).await;
                delay = next_backoff(delay);
            }
        }
    }
}
