//! Kubernetes glue shared by ferrolb's binaries (the controller and the speaker): what both need
//! to turn watched objects into the plain inputs of the pure crates, so it exists once.
//!
//! - [`convert`]: the one conversion of each Kubernetes object to `ferrolb-core` inputs (pools,
//!   Services, ingress IPs, "is this Service ours", [`convert::ServiceKey`]).
//! - [`reflect`]: a reflector store whose every change wakes a [`Notify`] (the binaries run one
//!   debounced, level-based pass per wake-up).
//! - [`selector`]: a Kubernetes `LabelSelector` → `ferrolb_core::LabelSelector`.
//! - [`events`]: the Events both binaries publish.
//! - [`http`]: the `/metrics`, `/healthz` and `/readyz` endpoints.
//! - [`logging`]: the `--log-level` / `--log-format` flags (MetalLB's words, JSON lines) and
//!   the tracing subscriber of every binary.
//! - [`metrics`]: a binary's Prometheus registry and readiness flag, served by [`http`].
//! - [`passes`]: the one debounced "watch → snapshot → pure pass → writes" loop.
//! - [`status`]: conditions (transition time kept when the status is unchanged) and the
//!   `ConfigurationState` writer.
//! - [`owner`]: the binary's own Pod as owner of the status objects it writes.
//! - [`lease`]: leader election over a Lease (one controller writes at a time).
//! - [`telemetry`]: OpenTelemetry traces, configured by the standard `OTEL_*` variables only
//!   (off without an OTLP endpoint).

pub mod convert;
pub mod events;
pub mod http;
pub mod lease;
pub mod logging;
pub mod metrics;
pub mod owner;
pub mod passes;
pub mod signal;
pub mod status;
pub mod telemetry;

use std::sync::Arc;

use ferrolb_core::LabelSelector;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::Notify;

/// What a reflector can cache: a Kubernetes resource that can be decoded, cloned and shared
/// between tasks (implemented for every such type).
pub trait Cached:
    kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static
{
}

impl<K> Cached for K where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// A reflector store for `api` whose every change (and every watch error) wakes `notify`.
/// Watch errors are retried with backoff; the store keeps the last listed objects meanwhile,
/// so a binary keeps acting on its last good view while the API server is unreachable.
///
/// Cached objects are [`trimmed`](trim) first: no ferrolb code reads `managedFields` or
/// kubectl's last-applied annotation, and they are often most of an object's size.
pub fn reflect<K>(api: Api<K>, notify: Arc<Notify>) -> Store<K>
where
    K: Cached,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    reflect_with(api, notify, |_: &mut K| {})
}

/// [`reflect`], with `slim` applied to every object after [`trim`]: a binary drops the fields
/// it never reads before they reach the cache (e.g. the speaker keeps only what its plan uses).
pub fn reflect_with<K, F>(api: Api<K>, notify: Arc<Notify>, slim: F) -> Store<K>
where
    F: FnMut(&mut K) + Send + 'static,
    K: Cached,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    reflect_waking(api, vec![notify], slim)
}

/// [`reflect_with`], waking every one of `wake` (none: a plain cache, e.g. the webhook's):
/// one watch of a kind that several loops of a binary read.
pub fn reflect_waking<K, F>(api: Api<K>, wake: Vec<Arc<Notify>>, slim: F) -> Store<K>
where
    F: FnMut(&mut K) + Send + 'static,
    K: Cached,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    reflect_selected(api, watcher::Config::default(), wake, slim)
}

/// A [`reflect`] store of one object: `name` in `api`'s namespace (field selector
/// `metadata.name`), e.g. an object a binary writes and must see deleted or edited at once.
pub fn reflect_named<K>(api: Api<K>, name: &str, wake: Vec<Arc<Notify>>) -> Store<K>
where
    K: Cached,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    reflect_selected(api, config, wake, |_: &mut K| {})
}

/// [`reflect_waking`] with a watch `config` (label or field selectors).
pub fn reflect_selected<K, F>(
    api: Api<K>,
    config: watcher::Config,
    wake: Vec<Arc<Notify>>,
    mut slim: F,
) -> Store<K>
where
    F: FnMut(&mut K) + Send + 'static,
    K: Cached,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(move |obj| {
            trim(obj);
            slim(obj);
        })
        .reflect(writer)
        .touched_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                tracing::warn!(error = %e, "watch error (retrying with backoff; keeping the last state)");
            }
            for n in &wake {
                n.notify_one();
            }
        }
    });
    store
}

/// A [`trim`]med reflector store that wakes no loop: a cache read on demand (the webhook's).
pub fn cache<K>(api: Api<K>) -> Store<K>
where
    K: Cached,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    reflect_waking(api, Vec::new(), |_: &mut K| {})
}

/// Drops what no ferrolb code reads from a cached object: `metadata.managedFields` and the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation (a full copy of the object).
pub fn trim<K: kube::Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// kubectl's client-side-apply annotation.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How many objects one page of [`list_trimmed`] asks for.
pub const LIST_PAGE: u32 = 250;

/// Lists every object of `api` matching `params` in pages of [`LIST_PAGE`] (the API server's
/// `limit`/`continue`), [`trim`]ming each page before the next is fetched: a periodic list of
/// thousands of objects (a speaker's per-Service status objects) never holds more than one
/// page's response body, nor anyone's `managedFields`. `params.limit` is overridden.
pub async fn list_trimmed<K>(
    api: &kube::Api<K>,
    params: &kube::api::ListParams,
) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let mut out = Vec::new();
    let mut page = params.clone().limit(LIST_PAGE);
    loop {
        let list = api.list(&page).await?;
        out.extend(list.items.into_iter().map(|mut o| {
            trim(&mut o);
            o
        }));
        match list.metadata.continue_ {
            Some(token) if !token.is_empty() => page = page.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

/// Converts a Kubernetes label selector into a core one ([`LabelSelector::from_parts`]); the
/// error names the bad expression.
pub fn selector(sel: &metav1::LabelSelector) -> Result<LabelSelector, String> {
    let (labels, expressions) = ferrolb_api::selector::parts(sel);
    LabelSelector::from_parts(labels, expressions).map_err(|e| match e.expression {
        Some(i) => format!("matchExpressions[{i}].operator: {}", e.error),
        None => e.error.to_string(),
    })
}

/// A timer flag without a flag-specific range: Go syntax, `0s` up to
/// [`ferrolb_api::duration::flag::MAX`] (a year). Prefer a flag's own
/// [`Bounds`](ferrolb_api::duration::flag::Bounds) — this is that rule with the widest range,
/// kept for flags that have none yet.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    use ferrolb_api::duration::flag::{Bounds, MAX};
    Bounds::new(std::time::Duration::ZERO, MAX).parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_drops_managed_fields_and_last_applied_only() {
        let mut svc: k8s_openapi::api::core::v1::Service =
            serde_json::from_value(serde_json::json!({
                "metadata": {
                    "name": "web",
                    "annotations": {LAST_APPLIED: "{...}", "metallb.io/address-pool": "prod"},
                    "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
                },
                "spec": {"type": "LoadBalancer"}
            }))
            .expect("valid Service");
        trim(&mut svc);
        assert_eq!(svc.metadata.managed_fields, None);
        let annotations = svc.metadata.annotations.expect("kept");
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["metallb.io/address-pool"], "prod");
        assert_eq!(svc.metadata.name.as_deref(), Some("web"));
    }

    /// A fake API server holding 600 ConfigMaps that pages as kube-apiserver does (`limit`,
    /// `continue`); records each list request's query.
    fn paging_api() -> (kube::Client, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use axum::http::{Request, Response};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let log = log.clone();
            async move {
                let query = req.uri().query().unwrap_or_default().to_owned();
                log.lock().expect("log").push(query.clone());
                let param = |k: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                        .and_then(|v| v.parse::<usize>().ok())
                };
                let (from, limit) = (
                    param("continue").unwrap_or(0),
                    param("limit").unwrap_or(600),
                );
                let to = (from + limit).min(600);
                let items: Vec<serde_json::Value> = (from..to)
                    .map(|i| {
                        serde_json::json!({"metadata": {"name": format!("cm-{i}"),
                        "managedFields": [{"manager": "m", "operation": "Update"}]}})
                    })
                    .collect();
                let next = if to < 600 {
                    to.to_string()
                } else {
                    String::new()
                };
                let body = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMapList",
                    "metadata": {"continue": next}, "items": items});
                Response::builder()
                    .status(200)
                    .body(kube::client::Body::from(
                        serde_json::to_vec(&body).expect("json"),
                    ))
                    .map_err(|e| e.to_string())
            }
        });
        (kube::Client::new(svc, "default"), seen)
    }

    #[tokio::test]
    async fn list_trimmed_pages_through_everything_and_trims_each_object() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let (client, seen) = paging_api();
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
        let params = kube::api::ListParams::default().labels("a=b");
        let all = list_trimmed(&api, &params).await.expect("listed");
        assert_eq!(all.len(), 600);
        assert_eq!(all[599].metadata.name.as_deref(), Some("cm-599"));
        assert!(all.iter().all(|o| o.metadata.managed_fields.is_none()));
        let queries = seen.lock().expect("log").clone();
        assert_eq!(queries.len(), 3, "{queries:?}");
        assert!(
            queries
                .iter()
                .all(|q| q.contains(&format!("limit={LIST_PAGE}"))
                    && q.contains("labelSelector=a%3Db")),
            "{queries:?}"
        );
        assert!(
            queries[1].contains("continue=250") && queries[2].contains("continue=500"),
            "{queries:?}"
        );
    }

    #[test]
    fn durations_use_the_flag_rule() {
        use std::time::Duration;
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("9000h").is_err());
        assert!(parse_duration("18446744073709551615s").is_err());
    }

    #[test]
    fn selectors() {
        let sel = metav1::LabelSelector {
            match_labels: Some([("zone".to_string(), "a".to_string())].into()),
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["web".into()]),
            }]),
        };
        let s = selector(&sel).expect("valid");
        let labels = [("zone", "a"), ("tier", "web")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        assert!(s.matches(&labels));
        let bad = metav1::LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Near".into(),
                values: None,
            }]),
        };
        assert!(selector(&bad).is_err_and(|e| e.contains("matchExpressions[0].operator")));
    }
}
