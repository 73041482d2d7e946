//! The speakers' shared key, the pure part: MetalLB's controller creates Secret
//! `--ml-secret-name` (key `secretkey` = 16 random bytes, base64 raw standard encoding without
//! padding: 22 characters), owned by the controller Deployment (`--deployment`) so it goes away
//! with the install. The API calls are in [`task`].

pub mod task;

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
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

/// An owner reference to `deployment` (None without a name or uid). Neither `controller` nor
/// `blockOwnerDeletion` is set: the latter would need `update` on `deployments/finalizers`.
pub fn owner_reference(deployment: &Deployment) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: deployment.metadata.name.clone()?,
        uid: deployment.metadata.uid.clone()?,
        ..OwnerReference::default()
    })
}

/// The Secret to create: `name` in `namespace`, `secretkey` = `key`, owned by `owner` if given.
pub fn secret(name: &str, namespace: &str, key: &str, owner: Option<OwnerReference>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([
                ("app".to_owned(), "metallb".to_owned()),
                ("component".to_owned(), "speaker".to_owned()),
            ])),
            owner_references: owner.map(|o| vec![o]),
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

    #[test]
    fn secret_shape_with_and_without_owner() {
        let mut dep = Deployment::default();
        assert_eq!(owner_reference(&dep), None, "no name or uid yet");
        dep.metadata.name = Some("controller".into());
        assert_eq!(owner_reference(&dep), None, "no uid");
        dep.metadata.uid = Some("1234-uid".into());
        let owner = owner_reference(&dep).unwrap();
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str()),
            ("apps/v1", "Deployment")
        );
        assert_eq!(
            (owner.name.as_str(), owner.uid.as_str()),
            ("controller", "1234-uid")
        );
        assert_eq!(owner.block_owner_deletion, None);

        let s = secret(
            "metallb-memberlist",
            "metallb-system",
            "k",
            Some(owner.clone()),
        );
        assert_eq!(s.metadata.name.as_deref(), Some("metallb-memberlist"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("metallb-system"));
        assert_eq!(s.metadata.owner_references, Some(vec![owner]));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        let data = s.data.unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), [KEY]);
        assert_eq!(data[KEY].0, b"k");
        let s = secret("m", "ns", "k", None);
        assert_eq!(s.metadata.owner_references, None);
        // as JSON the key is base64 of the 22 ASCII characters (what `kubectl get -o yaml` shows)
        let v = serde_json::to_value(secret("m", "ns", "AAECAwQFBgcICQoLDA0ODw", None)).unwrap();
        assert_eq!(v["data"][KEY], "QUFFQ0F3UUZCZ2NJQ1FvTERBME9Edw==");
    }
}
