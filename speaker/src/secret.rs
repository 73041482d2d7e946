//! The heartbeat keys from the memberlist Secret (`--ml-secret-name`, default
//! `metallb-memberlist`, the Helm chart's name): `secretkey` is the key heartbeats are sent
//! with (MetalLB's memberlist key), the optional `previous-secretkey` a second key that is also
//! accepted during a rotation (`ferrolb_l2::liveness`, "Key rotation").
//!
//! The Secret is read once at start (the speaker does not watch it), so a rotation is two
//! rollouts of the speaker DaemonSet (docs/configure.md, "Rotating the heartbeat key").

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// Key of the current heartbeat secret in the Secret's data.
pub const CURRENT: &str = "secretkey";
/// Key of the previous (also accepted) heartbeat secret in the Secret's data.
pub const PREVIOUS: &str = "previous-secretkey";

/// The heartbeat keys of the Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatKeys {
    /// Heartbeats are sent with this key (and accepted).
    pub current: Vec<u8>,
    /// Also accepted, when present and not empty.
    pub previous: Option<Vec<u8>>,
}

/// The keys in a Secret's `data`; `None` when `secretkey` is missing or empty.
pub fn keys(data: Option<BTreeMap<String, ByteString>>) -> Option<HeartbeatKeys> {
    let mut data = data?;
    let current = data
        .remove(CURRENT)
        .map(|k| k.0)
        .filter(|k| !k.is_empty())?;
    let previous = data.remove(PREVIOUS).map(|k| k.0).filter(|k| !k.is_empty());
    Some(HeartbeatKeys { current, previous })
}

/// Reads the keys of Secret `name` in `namespace`, retrying every 2 s until it has a
/// `secretkey`.
pub async fn read(client: &Client, namespace: &str, name: &str) -> HeartbeatKeys {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    loop {
        match api.get(name).await {
            Ok(s) => match keys(s.data) {
                Some(k) => return k,
                None => tracing::warn!(secret = %name, "secret has no `{CURRENT}`; waiting"),
            },
            Err(e) => {
                tracing::warn!(secret = %name, error = %e, "cannot read the heartbeat secret; waiting")
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &[u8])]) -> Option<BTreeMap<String, ByteString>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                .collect(),
        )
    }

    #[test]
    fn current_and_optional_previous_key() {
        assert_eq!(
            keys(data(&[(CURRENT, b"new-key"), (PREVIOUS, b"old-key")])),
            Some(HeartbeatKeys {
                current: b"new-key".to_vec(),
                previous: Some(b"old-key".to_vec()),
            })
        );
        assert_eq!(
            keys(data(&[(CURRENT, b"only"), (PREVIOUS, b"")])),
            Some(HeartbeatKeys {
                current: b"only".to_vec(),
                previous: None,
            }),
            "an empty previous key means none"
        );
    }

    #[test]
    fn no_current_key_is_no_keys() {
        assert_eq!(keys(None), None);
        assert_eq!(keys(data(&[(PREVIOUS, b"old-key")])), None);
        assert_eq!(keys(data(&[(CURRENT, b"")])), None);
    }
}
