//! The binary's own Pod as the owner of the objects it writes about itself, as MetalLB does
//! (`metallb-api.md` §1.7–1.9): a speaker's ServiceL2Status objects and its ConfigurationState
//! `speaker-<node>`, and the controller's ConfigurationState `controller`, carry an
//! ownerReference to the Pod that wrote them, so the garbage collector removes them when that
//! Pod is deleted (a node drained or lost for good) instead of leaving stale status behind.
//!
//! The Pod is named by `--pod-name` (`METALLB_POD_NAME`, MetalLB's flag) and identified by
//! `--pod-uid` (`METALLB_POD_UID`); the manifests fill both from the downward API
//! (`metadata.name`, `metadata.uid`), so no `get pods` permission is needed. Without both
//! (e.g. a binary run outside a Pod) objects are written without an owner.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The Pod this binary runs in, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodOwner(Option<(String, String)>);

impl PodOwner {
    /// From `--pod-name` and `--pod-uid`; empty values count as missing (the downward API of
    /// a static Pod or a hand-written manifest may leave them empty).
    pub fn new(name: Option<String>, uid: Option<String>) -> Self {
        let name = name.filter(|n| !n.is_empty());
        let uid = uid.filter(|u| !u.is_empty());
        match (name, uid) {
            (Some(n), Some(u)) => PodOwner(Some((n, u))),
            (n, u) => {
                if n.is_some() || u.is_some() {
                    tracing::warn!(
                        pod_name = ?n, pod_uid = ?u,
                        "--pod-name and --pod-uid are both needed for owner references; writing objects without an owner"
                    );
                }
                PodOwner(None)
            }
        }
    }

    /// The Pod's UID, when known.
    pub fn uid(&self) -> Option<&str> {
        self.0.as_ref().map(|(_, u)| u.as_str())
    }

    /// The owner references to put on an object: the Pod, or none. Not a controller reference
    /// and no `blockOwnerDeletion` (that would need `update pods/finalizers`).
    pub fn references(&self) -> Vec<OwnerReference> {
        self.0
            .iter()
            .map(|(name, uid)| OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: name.clone(),
                uid: uid.clone(),
                controller: None,
                block_owner_deletion: None,
            })
            .collect()
    }

    /// Whether `refs` (an object's `metadata.ownerReferences`) already names this Pod — always
    /// true when the Pod is unknown (nothing to adopt).
    pub fn owns(&self, refs: Option<&[OwnerReference]>) -> bool {
        match self.uid() {
            None => true,
            Some(uid) => refs.unwrap_or_default().iter().any(|r| r.uid == uid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_name_and_uid_make_one_pod_reference() {
        let o = PodOwner::new(Some("speaker-x".into()), Some("u-1".into()));
        let r = o.references();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].api_version.as_str(), r[0].kind.as_str()),
            ("v1", "Pod")
        );
        assert_eq!(
            (r[0].name.as_str(), r[0].uid.as_str()),
            ("speaker-x", "u-1")
        );
        assert_eq!(r[0].block_owner_deletion, None);
        assert!(o.owns(Some(&r)));
        assert!(!o.owns(None));
        let old = PodOwner::new(Some("speaker-x".into()), Some("u-0".into())).references();
        assert!(
            !o.owns(Some(&old)),
            "a previous Pod's reference is not ours"
        );
    }

    #[test]
    fn missing_or_empty_parts_mean_no_owner() {
        for (n, u) in [
            (None, None),
            (Some("p"), None),
            (None, Some("u")),
            (Some(""), Some("u")),
            (Some("p"), Some("")),
        ] {
            let o = PodOwner::new(n.map(str::to_string), u.map(str::to_string));
            assert!(o.references().is_empty(), "{n:?} {u:?}");
            assert!(o.owns(None));
        }
    }
}
