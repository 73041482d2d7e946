use super::*;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};

#[test]
fn warning_or_normal() {
    let w = event(true, "AllocationFailed", "no IP".into(), "Allocate");
    assert_eq!(w.type_, EventType::Warning);
    assert_eq!(
        (w.reason.as_str(), w.action.as_str()),
        ("AllocationFailed", "Allocate")
    );
    assert_eq!(w.note.as_deref(), Some("no IP"));
    let n = event(false, "IPAllocated", String::new(), "Allocate");
    assert_eq!(n.type_, EventType::Normal);
}

#[test]
fn reference_to_a_service() {
    let r = service_reference(&ServiceKey::new("ns", "web"), Some("u-1".into()));
    assert_eq!(
        (r.api_version.as_deref(), r.kind.as_deref()),
        (Some("v1"), Some("Service"))
    );
    assert_eq!(
        (r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref()),
        (Some("ns"), Some("web"), Some("u-1"))
    );
}

fn svc(name: &str) -> ObjectReference {
    service_reference(&ServiceKey::new("ns", name), Some(format!("u-{name}")))
}

fn assigned(node: &str) -> Event {
    event(
        false,
        "nodeAssigned",
        format!("announcing from node {node:?} with protocol \"bgp\""),
        "Announce",
    )
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("valid time")
}

#[test]
fn a_repeat_within_the_ttl_continues_the_series() {
    let mut c = DedupCache::new(8, DEDUP_TTL);
    let k = DedupKey::new(&assigned("n1"), &svc("web"));
    assert_eq!(c.repeat_of(&k, at(0)), None);
    c.record(k.clone(), "web.1".into(), 1, at(0));
    assert_eq!(c.repeat_of(&k, at(10)), Some(("web.1".into(), 2)));
    c.record(k.clone(), "web.1".into(), 2, at(10));
    assert_eq!(c.repeat_of(&k, at(20)), Some(("web.1".into(), 3)));
    // The TTL counts from the last observation.
    c.record(k.clone(), "web.1".into(), 3, at(20));
    assert_eq!(c.repeat_of(&k, at(20 + 359)), Some(("web.1".into(), 4)));
    assert_eq!(c.repeat_of(&k, at(20 + 360)), None, "6 minutes: forgotten");
    assert!(c.is_empty());
}

#[test]
fn another_note_object_reason_or_uid_is_another_event() {
    let base = DedupKey::new(&assigned("n1"), &svc("web"));
    assert_ne!(base, DedupKey::new(&assigned("n2"), &svc("web")), "note");
    assert_ne!(base, DedupKey::new(&assigned("n1"), &svc("api")), "object");
    let mut other_uid = svc("web");
    other_uid.uid = Some("u-new".into());
    assert_ne!(base, DedupKey::new(&assigned("n1"), &other_uid), "uid");
    let warn = event(true, "nodeAssigned", "x".into(), "Announce");
    let normal = event(false, "nodeAssigned", "x".into(), "Announce");
    assert_ne!(
        DedupKey::new(&warn, &svc("web")),
        DedupKey::new(&normal, &svc("web"))
    );
    assert_eq!(base, DedupKey::new(&assigned("n1"), &svc("web")));
}

#[test]
fn the_cache_is_bounded_and_forgets_the_least_recently_seen() {
    let mut c = DedupCache::new(3, DEDUP_TTL);
    let keys: Vec<DedupKey> = (0..5)
        .map(|i| DedupKey::new(&assigned("n1"), &svc(&format!("s{i}"))))
        .collect();
    for (i, k) in keys.iter().take(3).enumerate() {
        c.record(k.clone(), format!("s{i}.1"), 1, at(i as i64));
    }
    // s0 seen again: s1 is now the least recently seen.
    c.record(keys[0].clone(), "s0.1".into(), 2, at(5));
    c.record(keys[3].clone(), "s3.1".into(), 1, at(6));
    assert_eq!(c.len(), 3);
    assert_eq!(c.repeat_of(&keys[1], at(7)), None);
    assert_eq!(c.repeat_of(&keys[0], at(7)), Some(("s0.1".into(), 3)));
    c.record(keys[4].clone(), "s4.1".into(), 1, at(8));
    assert_eq!(c.len(), 3);
    assert_eq!(c.repeat_of(&keys[2], at(9)), None);
    // Many more events than the capacity stay within it.
    for i in 0..1000 {
        let k = DedupKey::new(&assigned("n1"), &svc(&format!("x{i}")));
        c.record(k, format!("x{i}.1"), 1, at(10 + i));
    }
    assert_eq!(c.len(), 3);
    assert_eq!(DedupCache::new(0, DEDUP_TTL).capacity, 1);
}

#[test]
fn expired_entries_make_room_before_live_ones_are_evicted() {
    let mut c = DedupCache::new(2, SignedDuration::from_secs(60));
    let k = |n: &str| DedupKey::new(&assigned("n1"), &svc(n));
    c.record(k("old"), "old.1".into(), 1, at(0));
    c.record(k("live"), "live.1".into(), 1, at(50));
    c.record(k("new"), "new.1".into(), 1, at(70));
    assert_eq!(c.repeat_of(&k("live"), at(71)), Some(("live.1".into(), 2)));
    assert_eq!(c.repeat_of(&k("new"), at(71)), Some(("new.1".into(), 2)));
}

#[test]
fn a_new_event_has_kube_runtimes_shape() {
    let reporter = Reporter {
        controller: "metallb-speaker".into(),
        instance: Some("node-1".into()),
    };
    let e = new_event(&assigned("node-1"), &svc("web"), &reporter, at(0));
    assert_eq!(e.metadata.namespace.as_deref(), Some("ns"));
    let name = e.metadata.name.as_deref().expect("name");
    assert!(name.starts_with("web."), "{name}");
    assert_eq!(e.reason.as_deref(), Some("nodeAssigned"));
    assert_eq!(e.action.as_deref(), Some("Announce"));
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    assert_eq!(e.reporting_controller.as_deref(), Some("metallb-speaker"));
    assert_eq!(e.reporting_instance.as_deref(), Some("node-1"));
    assert_eq!(e.event_time, Some(MicroTime(at(0))));
    assert_eq!(
        e.regarding.as_ref().and_then(|r| r.uid.as_deref()),
        Some("u-web")
    );
    assert!(e.series.is_none());
    let p = series_patch(3, at(1));
    assert_eq!(p["series"]["count"], 3);
    assert!(p["series"]["lastObservedTime"].is_string());
    assert_eq!(p.as_object().map(|o| o.len()), Some(1), "only the series");
}

type Requests = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;

/// A fake API server: POST echoes the Event, PATCH answers 404 when `gone`, else the name.
fn fake_api(gone: bool) -> (Client, Requests) {
    let seen = Requests::default();
    let log = seen.clone();
    let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
        let log = log.clone();
        async move {
            let what = format!("{} {}", req.method(), req.uri().path());
            let patch = req.method() == "PATCH";
            let bytes = req.into_body().collect().await.expect("body").to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            log.lock().expect("log").push((what, body.clone()));
            let (code, reply) = if patch && gone {
                let s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "reason": "NotFound", "code": 404});
                (404, s)
            } else if patch {
                (
                    200,
                    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                    "metadata": {"name": "x"}}),
                )
            } else {
                (201, body)
            };
            Response::builder()
                .status(code)
                .body(kube::client::Body::from(
                    serde_json::to_vec(&reply).expect("json"),
                ))
                .map_err(|e| e.to_string())
        }
    });
    (Client::new(svc, "default"), seen)
}

fn reporter() -> Reporter {
    Reporter {
        controller: "metallb-speaker".into(),
        instance: Some("node-1".into()),
    }
}

#[tokio::test]
async fn a_repeat_is_a_series_patch_of_the_first_event() {
    let (client, seen) = fake_api(false);
    let r = Recorder::new(client, reporter());
    r.publish(&assigned("node-1"), &svc("web"))
        .await
        .expect("create");
    r.publish(&assigned("node-1"), &svc("web"))
        .await
        .expect("patch");
    r.publish(&assigned("node-1"), &svc("api"))
        .await
        .expect("create");
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].0,
        "POST /apis/events.k8s.io/v1/namespaces/ns/events"
    );
    let name = seen[0].1["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_owned();
    assert_eq!(
        seen[1].0,
        format!("PATCH /apis/events.k8s.io/v1/namespaces/ns/events/{name}")
    );
    assert_eq!(seen[1].1["series"]["count"], 2);
    assert!(seen[2].0.starts_with("POST "));
    assert_eq!(seen[2].1["regarding"]["name"], "api");
}

#[tokio::test]
async fn a_deleted_event_is_created_again() {
    let (client, seen) = fake_api(true);
    let r = Recorder::new(client, reporter());
    r.publish(&assigned("node-1"), &svc("web"))
        .await
        .expect("create");
    r.publish(&assigned("node-1"), &svc("web"))
        .await
        .expect("recreated");
    r.publish(&assigned("node-1"), &svc("web"))
        .await
        .expect("recreated");
    let seen = seen.lock().expect("log").clone();
    let methods: Vec<&str> = seen
        .iter()
        .map(|(w, _)| w.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(methods, ["POST", "PATCH", "POST", "PATCH", "POST"]);
}
