//! The speakers' shared key, the pure part: MetalLB's controller creates Secret
//! `--ml-secret-name` (key `secretkey` = 16 random bytes, base64 raw standard encoding without
//! padding: 22 characters). MetalLB makes the controller Deployment (`--deployment`) its owner;
//! ferrolb does not: replacing that Deployment (`kubectl replace`, a Helm reinstall, a
//! re-applied manifest after `kubectl delete`) would garbage-collect the Secret, and its
//! recreation would give the speakers a new key while some still run with the old one, which
//! splits the memberlist cluster. So ferrolb's Secret has no owner; an owner reference to the
//! `--deployment` that an earlier version (or MetalLB) set is removed, the key kept. A deleted
//! Secret is recreated at once (new key: the old one is gone). The API calls are in [`task`].

pub mod task;

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The key's entry in the Secret (MetalLB's name; the speaker reads `<mount>/secretkey`).
pub const KEY: &str = "secretkey";
/// Random bytes in a key (MetalLB: 16).
pub const KEY_BYTES: usize = 16;

/// Encodes key bytes as MetalLB does: base64, standard alphabet, no padding.
pub fn encode_key(bytes: &[u8; KEY_BYTES]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// A fresh key from the operating system's random source.
pub fn random_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(encode_key(&bytes))
}

/// The owner references `existing` should keep, if that differs from what it has: every
/// reference but those to Deployment `deployment` (apps/v1), which would garbage-collect the
/// key with the Deployment.
pub fn owners_to_keep(existing: &Secret, deployment: &str) -> Option<Vec<OwnerReference>> {
    let refs = existing
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default();
    let is_deployment = |o: &OwnerReference| {
        o.kind == "Deployment" && o.api_version == "apps/v1" && o.name == deployment
    };
    refs.iter()
        .any(is_deployment)
        .then(|| refs.iter().filter(|o| !is_deployment(o)).cloned().collect())
}

/// The Secret to create: `name` in `namespace`, `secretkey` = `key`, without owner.
pub fn secret(name: &str, namespace: &str, key: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([
                ("app".to_owned(), "metallb".to_owned()),
                ("component".to_owned(), "speaker".to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            KEY.to_owned(),
            ByteString(key.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_22_chars_of_raw_std_base64() {
        // known vector: 16 bytes 0x00..0x0f, as Go's base64.RawStdEncoding encodes them
        let bytes: [u8; KEY_BYTES] = std::array::from_fn(|i| i as u8);
        assert_eq!(encode_key(&bytes), "AAECAwQFBgcICQoLDA0ODw");
        // 0xff… exercises the `+`/`/` alphabet (not URL-safe `-`/`_`)
        assert_eq!(encode_key(&[0xfb; KEY_BYTES]), "+/v7+/v7+/v7+/v7+/v7+w");
        let k = random_key().unwrap();
        assert_eq!(k.len(), 22, "{k}");
        assert!(!k.ends_with('='), "{k}");
        assert_eq!(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&k)
                .unwrap()
                .len(),
            KEY_BYTES
        );
        assert_ne!(random_key().unwrap(), k, "two keys must differ");
    }

    fn owner(kind: &str, name: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
            uid: "1234-uid".into(),
            ..OwnerReference::default()
        }
    }

    #[test]
    fn secret_shape_has_no_owner() {
        let s = secret("metallb-memberlist", "metallb-system", "k");
        assert_eq!(s.metadata.name.as_deref(), Some("metallb-memberlist"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("metallb-system"));
        assert_eq!(s.metadata.owner_references, None, "survives its Deployment");
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        let data = s.data.clone().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), [KEY]);
        assert_eq!(data[KEY].0, b"k");
        assert_eq!(owners_to_keep(&s, "controller"), None, "nothing to change");
        // as JSON the key is base64 of the 22 ASCII characters (what `kubectl get -o yaml` shows)
        let v = serde_json::to_value(secret("m", "ns", "AAECAwQFBgcICQoLDA0ODw")).unwrap();
        assert_eq!(v["data"][KEY], "QUFFQ0F3UUZCZ2NJQ1FvTERBME9Edw==");
    }

    #[test]
    fn only_the_deployment_owner_is_dropped() {
        let mut s = secret("m", "ns", "k");
        s.metadata.owner_references = Some(vec![owner("Deployment", "controller")]);
        assert_eq!(owners_to_keep(&s, "controller"), Some(vec![]));
        let other = owner("ConfigMap", "controller");
        s.metadata.owner_references = Some(vec![other.clone(), owner("Deployment", "controller")]);
        assert_eq!(owners_to_keep(&s, "controller"), Some(vec![other.clone()]));
        s.metadata.owner_references = Some(vec![other, owner("Deployment", "someone-else")]);
        assert_eq!(owners_to_keep(&s, "controller"), None);
    }
}
