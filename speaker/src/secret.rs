//! The heartbeat keys from the memberlist Secret (`--ml-secret-name`, default
//! `metallb-memberlist`, the Helm chart's name): `secretkey` is the key heartbeats are sent
//! with (MetalLB's memberlist key), the optional `previous-secretkey` a second key that is also
//! accepted during a rotation (`ferrolb_l2::liveness`, "Key rotation").
//!
//! The Secret is read once at start (the speaker does not watch it), so a rotation is two
//! rollouts of the speaker DaemonSet (docs/configure.md, "Rotating the heartbeat key").

use std::collections::BTreeMap;
use std::time::Duration;

use ferrolb_l2::liveness::MIN_SECRET_LEN;
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

/// The keys in a Secret's `data`, or which field is missing or unusable (shorter than
/// `ferrolb_l2::liveness::MIN_SECRET_LEN`; an empty `previous-secretkey` means none).
pub fn keys(data: Option<BTreeMap<String, ByteString>>) -> Result<HeartbeatKeys, String> {
    let mut data = data.unwrap_or_default();
    let current = data
        .remove(CURRENT)
        .map(|k| k.0)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| format!("no `{CURRENT}`"))?;
    let previous = data.remove(PREVIOUS).map(|k| k.0).filter(|k| !k.is_empty());
    for (field, key) in [(CURRENT, Some(&current)), (PREVIOUS, previous.as_ref())] {
        if key.is_some_and(|k| k.len() < MIN_SECRET_LEN) {
            return Err(format!("`{field}` is shorter than {MIN_SECRET_LEN} bytes"));
        }
    }
    Ok(HeartbeatKeys { current, previous })
}

/// Reads the keys of Secret `name` in `namespace`, retrying every 2 s until they are usable
/// (the speaker stays unready meanwhile, so a rollout with a broken Secret stops at the first
/// Pod).
pub async fn read(client: &Client, namespace: &str, name: &str) -> HeartbeatKeys {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    loop {
        match api.get(name).await.map(|s| keys(s.data)) {
            Ok(Ok(k)) => return k,
            Ok(Err(why)) => {
                tracing::warn!("Secret {namespace}/{name}: {why}; waiting");
            }
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
        let (new, old) = (b"new-key-0123456789", b"old-key-0123456789");
        assert_eq!(
            keys(data(&[(CURRENT, new), (PREVIOUS, old)])),
            Ok(HeartbeatKeys {
                current: new.to_vec(),
                previous: Some(old.to_vec()),
            })
        );
        assert_eq!(
            keys(data(&[(CURRENT, new), (PREVIOUS, b"")])),
            Ok(HeartbeatKeys {
                current: new.to_vec(),
                previous: None,
            }),
            "an empty previous key means none"
        );
    }

    #[test]
    fn missing_or_short_keys_name_the_field() {
        let long = b"0123456789abcdef";
        assert_eq!(keys(None), Err("no `secretkey`".into()));
        assert_eq!(
            keys(data(&[(PREVIOUS, long)])),
            Err("no `secretkey`".into())
        );
        assert_eq!(keys(data(&[(CURRENT, b"")])), Err("no `secretkey`".into()));
        assert_eq!(
            keys(data(&[(CURRENT, b"short")])),
            Err("`secretkey` is shorter than 16 bytes".into())
        );
        assert_eq!(
            keys(data(&[(CURRENT, long), (PREVIOUS, b"short")])),
            Err("`previous-secretkey` is shorter than 16 bytes".into())
        );
    }
}
