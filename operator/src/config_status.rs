//! `status.conditions` (`Ready`) of the configuration kinds other than IPAddressPool (whose
//! status the allocator pass writes): L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile,
//! Community. MetalLB leaves these statuses empty; ferrolb validates the whole configuration
//! with `ferrolb-validate` (MetalLB's `config.For()` rules plus cross-kind references) and marks
//! each object `Ready=True`, or `Ready=False` with reason `ConfigurationError` and the problems
//! found on it, so Argo CD / Flux (kstatus) can judge health. One writer per status: this task,
//! field manager `ferrolb-config-status`. Only the leader writes (see [`Leadership`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_api::status::ConfigStatus;
use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use ferrolb_kube::lease::shell::Leadership;
use ferrolb_kube::passes::{Pacing, run_passes};
use ferrolb_kube::reflect;
use ferrolb_kube::status::{now, object_conditions};
use ferrolb_validate::{ClusterResources, Kind, Options, Report, validate};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::reflector::Store;
use kube::{Client, Resource};
use serde_json::json;
use tokio::sync::Notify;

/// Field manager of the conditions this task writes.
pub const FIELD_MANAGER: &str = "ferrolb-config-status";

/// The wait between a change and its pass (validation looks at the whole configuration).
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// One object whose `Ready` condition this task owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Its kind.
    pub kind: Kind,
    /// Its API resource (for the status write).
    pub resource: ApiResource,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Its current status, if it has one ferrolb can read.
    pub status: Option<ConfigStatus>,
}

fn push<K>(out: &mut Vec<Item>, kind: Kind, objects: &[K])
where
    K: Resource<DynamicType = ()> + serde::Serialize,
{
    let resource = ApiResource::erase::<K>(&());
    out.extend(objects.iter().map(|o| {
        Item {
            kind,
            resource: resource.clone(),
            name: o.meta().name.clone().unwrap_or_default(),
            generation: o.meta().generation,
            status: serde_json::to_value(o)
                .ok()
                .and_then(|v| serde_json::from_value(v["status"].clone()).ok()),
        }
    }));
}

/// Every object of the kinds this task writes (all but IPAddressPool).
pub fn items(res: &ClusterResources) -> Vec<Item> {
    let mut out = Vec::new();
    push(&mut out, Kind::L2Advertisement, &res.l2_advertisements);
    push(&mut out, Kind::BGPAdvertisement, &res.bgp_advertisements);
    push(&mut out, Kind::BGPPeer, &res.peers);
    push(&mut out, Kind::BFDProfile, &res.bfd_profiles);
    push(&mut out, Kind::Community, &res.communities);
    out
}

/// The `Ready` status each item should have, keyed by (kind, name): `None` = ready, else the
/// problems' text. Pure; unit-tested.
pub fn readiness(items: &[Item], report: &Report) -> BTreeMap<(Kind, String), Option<String>> {
    let mut out: BTreeMap<_, _> = items
        .iter()
        .map(|i| ((i.kind, i.name.clone()), None))
        .collect();
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

/// The status `item` should have with `error`, or `None` when it already has it (the
/// transition time is kept while the status is unchanged).
pub fn desired(item: &Item, error: Option<&str>, now: &Time) -> Option<ConfigStatus> {
    let old = item
        .status
        .as_ref()
        .map_or(&[][..], |s| s.conditions.as_slice());
    let want = ConfigStatus {
        conditions: object_conditions(error, item.generation, old, now),
        observed_generation: item.generation,
    };
    (item.status.as_ref() != Some(&want)).then_some(want)
}

async fn write(
    client: &Client,
    ns: &str,
    item: &Item,
    status: &ConfigStatus,
) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &item.resource);
    let body = json!({
        "apiVersion": item.resource.api_version,
        "kind": item.resource.kind,
        "status": status,
    });
    api.patch_status(
        &item.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(drop)
}

/// One pass: validate the configuration, write every condition that changed (trace span
/// `config_status`, docs/tracing.md).
#[tracing::instrument(name = "config_status", skip_all,
    fields(objects = tracing::field::Empty, not_ready = tracing::field::Empty))]
async fn pass(client: &Client, namespace: &str, res: ClusterResources) {
    let options = Options {
        namespace: Some(namespace.to_owned()),
    };
    let report = validate(&res, &options);
    let items = items(&res);
    let ready = readiness(&items, &report);
    let span = tracing::Span::current();
    span.record("objects", items.len());
    span.record("not_ready", ready.values().filter(|e| e.is_some()).count());
    let now = now();
    for item in &items {
        let error = ready
            .get(&(item.kind, item.name.clone()))
            .cloned()
            .flatten();
        let Some(status) = desired(item, error.as_deref(), &now) else {
            continue;
        };
        if let Err(e) = write(client, namespace, item, &status).await {
            tracing::warn!(error = %e, kind = ?item.kind, name = %item.name,
                "writing a Ready condition; will retry");
        }
    }
}

fn owned<K>(store: &Store<K>) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store.state().iter().map(|o| (**o).clone()).collect()
}

/// Watches the configuration and keeps every object's `Ready` condition current. `pools` is
/// the controller's one IPAddressPool store; it wakes `notify`.
pub async fn run(
    client: Client,
    namespace: String,
    pools: Store<IPAddressPool>,
    notify: Arc<Notify>,
    leadership: Leadership,
) {
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
    let pacing = Pacing {
        debounce: DEBOUNCE,
        resync: crate::services::RESYNC,
    };
    run_passes(notify, pacing, || {
        let res = ClusterResources {
            pools: owned(&pools),
            l2_advertisements: owned(&l2),
            bgp_advertisements: owned(&bgp),
            peers: owned(&peers),
            bfd_profiles: owned(&bfd),
            communities: owned(&comm),
            ..Default::default()
        };
        let client = client.clone();
        let namespace = namespace.clone();
        let leads = leadership.is_leader();
        async move {
            if leads {
                pass(&client, &namespace, res).await;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<T: serde::de::DeserializeOwned>(s: &str) -> T {
        ferrolb_api::yaml::from_str(s).expect("yaml")
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
        let ready = readiness(&items(&res), &report);
        assert_eq!(ready[&(Kind::L2Advertisement, "ok".to_string())], None);
        let bad = ready[&(Kind::BGPAdvertisement, "bad".to_string())]
            .clone()
            .expect("bad ad is not ready");
        assert!(bad.contains("aggregation"), "{bad}");
    }

    #[test]
    fn a_condition_is_written_only_when_it_changes_and_keeps_its_time() {
        let res = ClusterResources {
            l2_advertisements: vec![yaml(
                "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: l2, namespace: metallb-system, generation: 3}\nspec: {}\n",
            )],
            ..Default::default()
        };
        let at = |s| Time(k8s_openapi::jiff::Timestamp::from_second(s).expect("timestamp"));
        let mut item = items(&res).remove(0);
        assert_eq!(
            (item.kind, item.name.as_str()),
            (Kind::L2Advertisement, "l2")
        );
        assert_eq!(item.resource.plural, "l2advertisements");
        let first = desired(&item, None, &at(10)).expect("no status yet: written");
        assert_eq!(first.observed_generation, Some(3));
        item.status = Some(first.clone());
        assert_eq!(desired(&item, None, &at(20)), None, "unchanged: no write");
        let failed = desired(&item, Some("bad"), &at(30)).expect("changed");
        assert_eq!(failed.conditions[0].last_transition_time, at(30));
        item.status = Some(failed);
        let still = desired(&item, Some("worse"), &at(40)).expect("new message");
        assert_eq!(
            still.conditions[0].last_transition_time,
            at(30),
            "time kept"
        );
    }
}
