//! `status.conditions` (`Ready`) of the configuration kinds other than IPAddressPool (whose
//! status the allocator pass writes): L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile,
//! Community. MetalLB leaves these statuses empty; ferrolb validates the whole configuration
//! with `ferrolb-validate` (MetalLB's `config.For()` rules plus cross-kind references) and marks
//! each object `Ready=True`, or `Ready=False` with reason `ConfigurationError` and the problems
//! found on it, so Argo CD / Flux (kstatus) can judge health. One writer per status: this task,
//! field manager `ferrolb-config-status`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::status::ConfigStatus;
use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_validate::{ClusterResources, Kind, Options, Report, validate};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};
use serde_json::json;
use tokio::sync::Notify;

use crate::reconcile::ready_condition;
use crate::watch::reflect;

/// Field manager of the conditions this task writes.
pub const FIELD_MANAGER: &str = "ferrolb-config-status";

/// The `Ready` status each object should have, keyed by (kind, name): `None` = ready, else the
/// problems' text. Pure; unit-tested.
pub fn readiness(
    res: &ClusterResources,
    report: &Report,
) -> BTreeMap<(Kind, String), Option<String>> {
    let mut out = BTreeMap::new();
    let mut add = |kind: Kind, meta: &ObjectMeta| {
        out.insert((kind, meta.name.clone().unwrap_or_default()), None);
    };
    res.l2_advertisements
        .iter()
        .for_each(|o| add(Kind::L2Advertisement, &o.metadata));
    res.bgp_advertisements
        .iter()
        .for_each(|o| add(Kind::BGPAdvertisement, &o.metadata));
    res.peers
        .iter()
        .for_each(|o| add(Kind::BGPPeer, &o.metadata));
    res.bfd_profiles
        .iter()
        .for_each(|o| add(Kind::BFDProfile, &o.metadata));
    res.communities
        .iter()
        .for_each(|o| add(Kind::Community, &o.metadata));
    for p in &report.errors {
        if let Some(slot) = out.get_mut(&(p.kind, p.name.clone())) {
            let text = format!("{}: {}", p.field, p.reason);
            *slot = Some(match slot.take() {
                None => text,
                Some(prev) => format!("{prev}; {text}"),
            });
        }
    }
    out
}

async fn write<K>(
    client: &Client,
    ns: &str,
    obj: &K,
    error: Option<&str>,
    now: &Time,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let meta = obj.meta();
    let name = meta.name.clone().unwrap_or_default();
    let status: Option<ConfigStatus> = serde_json::to_value(obj)
        .ok()
        .and_then(|v| serde_json::from_value(v["status"].clone()).ok());
    let old = status.as_ref().and_then(|s| s.ready().cloned());
    let cond = ready_condition(error, meta.generation, old.as_ref(), now);
    let want = ConfigStatus {
        conditions: vec![cond],
        observed_generation: meta.generation,
    };
    if status.as_ref() == Some(&want) {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let body = json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": want});
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(drop)
}

fn owned<T: Clone>(items: Vec<Arc<T>>) -> Vec<T> {
    items.iter().map(|o| (**o).clone()).collect()
}

/// Watches the configuration and keeps every object's `Ready` condition current.
pub async fn run(client: Client, namespace: String) {
    let notify = Arc::new(Notify::new());
    let pools = reflect(
        Api::<IPAddressPool>::namespaced(client.clone(), &namespace),
        notify.clone(),
    );
    let l2 = reflect(
        Api::<L2Advertisement>::namespaced(client.clone(), &namespace),
        notify.clone(),
    );
    let bgp = reflect(
        Api::<BGPAdvertisement>::namespaced(client.clone(), &namespace),
        notify.clone(),
    );
    let peers = reflect(
        Api::<BGPPeer>::namespaced(client.clone(), &namespace),
        notify.clone(),
    );
    let bfd = reflect(
        Api::<BFDProfile>::namespaced(client.clone(), &namespace),
        notify.clone(),
    );
    let comm = reflect(
        Api::<Community>::namespaced(client.clone(), &namespace),
        notify.clone(),
    );
    let opts = Options {
        namespace: Some(namespace.clone()),
    };
    loop {
        let res = ClusterResources {
            pools: owned(pools.state()),
            l2_advertisements: owned(l2.state()),
            bgp_advertisements: owned(bgp.state()),
            peers: owned(peers.state()),
            bfd_profiles: owned(bfd.state()),
            communities: owned(comm.state()),
            ..Default::default()
        };
        let report = validate(&res, &opts);
        let ready = readiness(&res, &report);
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let err = |kind: Kind, meta: &ObjectMeta| {
            ready
                .get(&(kind, meta.name.clone().unwrap_or_default()))
                .cloned()
                .flatten()
        };
        let mut failures = Vec::new();
        for o in &res.l2_advertisements {
            failures.push(
                write(
                    &client,
                    &namespace,
                    o,
                    err(Kind::L2Advertisement, &o.metadata).as_deref(),
                    &now,
                )
                .await,
            );
        }
        for o in &res.bgp_advertisements {
            failures.push(
                write(
                    &client,
                    &namespace,
                    o,
                    err(Kind::BGPAdvertisement, &o.metadata).as_deref(),
                    &now,
                )
                .await,
            );
        }
        for o in &res.peers {
            failures.push(
                write(
                    &client,
                    &namespace,
                    o,
                    err(Kind::BGPPeer, &o.metadata).as_deref(),
                    &now,
                )
                .await,
            );
        }
        for o in &res.bfd_profiles {
            failures.push(
                write(
                    &client,
                    &namespace,
                    o,
                    err(Kind::BFDProfile, &o.metadata).as_deref(),
                    &now,
                )
                .await,
            );
        }
        for o in &res.communities {
            failures.push(
                write(
                    &client,
                    &namespace,
                    o,
                    err(Kind::Community, &o.metadata).as_deref(),
                    &now,
                )
                .await,
            );
        }
        for e in failures.into_iter().filter_map(Result::err) {
            tracing::warn!(error = %e, "writing a Ready condition; will retry");
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(crate::watch::RESYNC) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_yaml::from_str(s).expect("yaml")
    }

    #[test]
    fn problems_land_on_their_object_only() {
        let res = ClusterResources {
            pools: vec![yaml(
                "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [10.0.0.0/24]}\n",
            )],
            l2_advertisements: vec![yaml(
                "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: ok, namespace: metallb-system}\nspec: {ipAddressPools: [p]}\n",
            )],
            bgp_advertisements: vec![yaml(
                "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: bad, namespace: metallb-system}\nspec: {ipAddressPools: [p], aggregationLength: 16}\n",
            )],
            ..Default::default()
        };
        let report = validate(&res, &Options::default());
        let ready = readiness(&res, &report);
        assert_eq!(ready[&(Kind::L2Advertisement, "ok".to_string())], None);
        let bad = ready[&(Kind::BGPAdvertisement, "bad".to_string())]
            .clone()
            .expect("bad ad is not ready");
        assert!(bad.contains("aggregation"), "{bad}");
    }
}
