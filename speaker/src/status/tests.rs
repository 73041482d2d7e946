use super::objects::{Evicted, diff, diff_sparing, forget_unwanted, gone, own_objects, remember};
use super::*;
use ferrolb_api::v1beta1::{InterfaceInfo, ServiceL2StatusSpec, ServiceL2StatusStatus};
use ferrolb_kube::owner::PodOwner;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn obj(name: &str, node: &str, ns: &str, svc: &str, ifs: &[&str]) -> ServiceL2Status {
    ServiceL2Status {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: ServiceL2StatusSpec {},
        status: Some(ServiceL2StatusStatus {
            node: Some(node.into()),
            service_name: Some(svc.into()),
            service_namespace: Some(ns.into()),
            interfaces: ifs
                .iter()
                .map(|n| InterfaceInfo {
                    name: n.to_string(),
                })
                .collect(),
        }),
    }
}

fn key(ns: &str, n: &str) -> ServiceKey {
    ServiceKey::new(ns, n)
}

#[test]
fn creates_missing_keeps_current_deletes_stale_and_foreign() {
    let existing = vec![
        obj("l2-a", "me", "ns", "kept", &[]),
        obj("l2-b", "me", "ns", "gone", &[]),
        obj("l2-c", "other", "ns", "taken", &[]),
        obj("l2-d", "other", "ns", "theirs", &[]),
        obj("l2-e", "me", "ns", "kept", &[]),
        obj("l2-f", "me", "ns", "ifs", &["eth0"]),
    ];
    let want = BTreeMap::from([
        (key("ns", "kept"), vec![]),
        (key("ns", "taken"), vec![]),
        (key("ns", "new"), vec![]),
        (key("ns", "ifs"), vec!["eth1".to_string()]),
    ]);
    let d = diff("me", &PodOwner::default(), &existing, &want);
    assert_eq!(d.delete, vec!["l2-b", "l2-c", "l2-e"]);
    assert_eq!(d.create, vec![key("ns", "new"), key("ns", "taken")]);
    assert_eq!(
        d.update,
        vec![(
            "l2-f".to_string(),
            key("ns", "ifs"),
            vec!["eth1".to_string()]
        )]
    );
}

#[test]
fn nothing_announced_removes_only_own_objects() {
    let existing = vec![
        obj("l2-a", "me", "ns", "x", &[]),
        obj("l2-b", "other", "ns", "y", &[]),
    ];
    let d = diff(
        "me",
        &PodOwner::default(),
        &existing,
        &BTreeMap::<ServiceKey, Vec<String>>::new(),
    );
    assert_eq!(d.delete, vec!["l2-a"]);
    assert!(d.create.is_empty() && d.update.is_empty());
}

#[test]
fn objects_of_an_earlier_pod_are_replaced() {
    let pod = PodOwner::new(Some("speaker-a".into()), Some("uid-2".into()));
    let mut old = obj("l2-old", "me", "ns", "x", &[]);
    old.metadata.owner_references =
        Some(PodOwner::new(Some("speaker-z".into()), Some("uid-1".into())).references());
    let mut cur = obj("l2-cur", "me", "ns", "y", &[]);
    cur.metadata.owner_references = Some(pod.references());
    // Written before ownership existed: no references at all.
    let bare = obj("l2-bare", "me", "ns", "z", &[]);
    // Another node's object is left alone whoever owns it.
    let foreign = obj("l2-f", "other", "ns", "w", &[]);
    let want = BTreeMap::from([
        (key("ns", "x"), vec![]),
        (key("ns", "y"), vec![]),
        (key("ns", "z"), vec![]),
    ]);
    let d = diff("me", &pod, &[old, cur, bare, foreign], &want);
    assert_eq!(d.delete, vec!["l2-old", "l2-bare"]);
    assert_eq!(d.create, vec![key("ns", "x"), key("ns", "z")]);
    assert!(d.update.is_empty());
    // Without a known Pod nothing is replaced.
    let again = vec![
        obj("l2-old", "me", "ns", "x", &[]),
        obj("l2-bare", "me", "ns", "z", &[]),
    ];
    let d = diff("me", &PodOwner::default(), &again, &want);
    assert!(d.delete.is_empty());
    assert_eq!(d.create, vec![key("ns", "y")]);
}

#[test]
fn interface_names_all_is_empty() {
    assert!(interface_names(&Interfaces::All).is_empty());
    assert_eq!(
        interface_names(&Interfaces::Named(["eth0".to_string()].into())),
        vec!["eth0"]
    );
}

#[test]
fn events_only_when_a_service_enters_a_state() {
    let mut seen = BTreeSet::new();
    let items = vec![key("ns", "a"), key("ns", "b")];
    fn id(k: &ServiceKey) -> &ServiceKey {
        k
    }
    assert_eq!(fresh(&items, id, &mut seen).len(), 2);
    assert!(fresh(&items, id, &mut seen).is_empty(), "no repeat");
    let items = vec![key("ns", "b")];
    assert!(fresh(&items, id, &mut seen).is_empty());
    let items = vec![key("ns", "a"), key("ns", "b")];
    assert_eq!(
        fresh(&items, id, &mut seen),
        vec![&key("ns", "a")],
        "a left and came back"
    );
}

use super::fake_api::{Requests, fake_api};

/// The `configReconcilerValid` conditions written so far (status, message, time).
fn written_conditions(seen: &Requests) -> Vec<(String, String, String)> {
    let seen = seen.lock().expect("log");
    seen.iter()
        .filter(|(m, p, _)| m == "PATCH" && p.ends_with("/speaker-n1/status"))
        .map(|(_, _, b)| {
            let c = &b["status"]["conditions"][0];
            assert_eq!(c["type"], "configReconcilerValid");
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (s("status"), s("message"), s("lastTransitionTime"))
        })
        .collect()
}

#[tokio::test]
async fn config_state_transition_time_moves_only_with_the_status() {
    let (client, seen) = fake_api();
    let recorder = events::recorder(client.clone(), "n1");
    let w = StatusWriter::new(
        client,
        "metallb-system".into(),
        "n1".into(),
        PodOwner::default(),
        recorder,
        ClientMetrics::default(),
    );
    let mut state = super::Seen::default();
    let d = Decisions::default();
    let pause = || tokio::time::sleep(Duration::from_millis(1100)); // RFC 3339 seconds
    assert!(w.pass(&d, vec!["pool a: bad".into()], &mut state).await);
    pause().await;
    assert!(w.pass(&d, vec!["pool b: bad".into()], &mut state).await);
    assert!(w.pass(&d, vec!["pool b: bad".into()], &mut state).await);
    pause().await;
    assert!(w.pass(&d, vec![], &mut state).await);
    let c = written_conditions(&seen);
    assert_eq!(c.len(), 3, "unchanged errors are not written again: {c:?}");
    assert_eq!((c[0].0.as_str(), c[0].1.as_str()), ("False", "pool a: bad"));
    assert_eq!((c[1].0.as_str(), c[1].1.as_str()), ("False", "pool b: bad"));
    assert_eq!(c[1].2, c[0].2, "another message, same status: time kept");
    assert_eq!(c[2].0, "True");
    assert_ne!(c[2].2, c[1].2, "a transition moves the time");
}

#[test]
fn an_object_gone_before_its_update_is_created_not_an_error() {
    let not_found = kube::Error::Api(
        kube::core::Status::failure("servicel2statuses \"l2-a\" not found", "NotFound")
            .with_code(404)
            .boxed(),
    );
    assert!(gone(&not_found));
    let conflict = kube::Error::Api(
        kube::core::Status::failure("the object has been modified", "Conflict")
            .with_code(409)
            .boxed(),
    );
    assert!(
        !gone(&conflict),
        "other API errors stand (retried by the next pass)"
    );
}

#[test]
fn deleted_object_is_recreated_by_the_next_diff() {
    let want = BTreeMap::from([(key("ns", "web"), vec![])]);
    let owner = PodOwner::new(None, None);
    // Someone deleted this node's object: the watch wakes the pass, which creates it again.
    let d = diff::<ServiceL2Status, _>("me", &owner, &[], &want);
    assert_eq!(d.create, vec![key("ns", "web")]);
    assert!(d.update.is_empty() && d.delete.is_empty());
    // Only this node's objects are watched (MetalLB's node label).
    assert_eq!(own_objects("node-1"), "metallb.io/node=node-1");
}

/// Another node's object for a Service this node announces is deleted once per ownership: one
/// that comes back belongs to a node that announces too (split brain) and is left alone; once
/// this node stops announcing the Service, the memory goes.
#[test]
fn another_nodes_object_is_deleted_once_per_ownership() {
    let want = BTreeMap::from([(key("ns", "web"), Vec::<String>::new())]);
    let mut evicted = Evicted::new();
    let existing = vec![
        obj("l2-me", "me", "ns", "web", &[]),
        obj("l2-b1", "other", "ns", "web", &[]),
    ];
    let d = diff_sparing("me", &PodOwner::default(), &existing, &want, &evicted);
    assert_eq!(d.delete, vec!["l2-b1"]);
    assert_eq!(d.evicted, vec![(key("ns", "web"), "other".to_string())]);
    remember(&mut evicted, &d);
    // The other node recreated its object: it announces too. Left alone now; a third node's
    // object is still deleted (once).
    let again = vec![
        obj("l2-me", "me", "ns", "web", &[]),
        obj("l2-b2", "other", "ns", "web", &[]),
        obj("l2-c1", "third", "ns", "web", &[]),
    ];
    let d = diff_sparing("me", &PodOwner::default(), &again, &want, &evicted);
    assert_eq!(d.delete, vec!["l2-c1"]);
    assert!(d.create.is_empty() && d.update.is_empty());
    remember(&mut evicted, &d);
    // Another Service's objects of the same node are not spared.
    let want2 = BTreeMap::from([
        (key("ns", "web"), Vec::<String>::new()),
        (key("ns", "db"), Vec::<String>::new()),
    ]);
    let other_svc = vec![obj("l2-b3", "other", "ns", "db", &[])];
    let d = diff_sparing("me", &PodOwner::default(), &other_svc, &want2, &evicted);
    assert_eq!(d.delete, vec!["l2-b3"]);
    // No longer announced: forgotten, so the next ownership deletes the other's object again.
    forget_unwanted(&mut evicted, &BTreeMap::<ServiceKey, Vec<String>>::new());
    assert!(evicted.is_empty());
    let d = diff_sparing("me", &PodOwner::default(), &again, &want, &evicted);
    assert_eq!(d.delete, vec!["l2-b2", "l2-c1"]);
}

/// Two nodes that both announce a Service (a partition between speakers) take turns on the
/// shared objects, each pass woken by the other's writes, as their watches do: they delete each
/// other's object once and then both objects stay (without the memory, every pass deletes and
/// recreates: a write storm for as long as the partition lasts).
#[test]
fn two_announcers_of_one_service_stop_deleting_each_others_objects() {
    let want = BTreeMap::from([(key("ns", "web"), Vec::<String>::new())]);
    let run = |spare: bool| {
        let nodes = ["node-a", "node-b"];
        let mut evicted = [Evicted::new(), Evicted::new()];
        let mut store: Vec<ServiceL2Status> = Vec::new();
        let (mut created, mut deleted) = (0, 0);
        for round in 0..40 {
            let i = round % 2;
            forget_unwanted(&mut evicted[i], &want);
            let memory = if spare {
                evicted[i].clone()
            } else {
                Evicted::new()
            };
            let d = diff_sparing(nodes[i], &PodOwner::default(), &store, &want, &memory);
            deleted += d.delete.len();
            store.retain(|o| !d.delete.contains(o.metadata.name.as_ref().unwrap()));
            for k in &d.create {
                created += 1;
                let name = format!("l2-{created}");
                store.push(obj(&name, nodes[i], &k.namespace, &k.name, &[]));
            }
            remember(&mut evicted[i], &d);
        }
        let mut on: Vec<String> = store
            .iter()
            .filter_map(|o| o.status.as_ref().and_then(|s| s.node.clone()))
            .collect();
        on.sort();
        (created, deleted, on)
    };
    let (created, deleted, on) = run(true);
    assert_eq!((created, deleted), (4, 2));
    assert_eq!(on, vec!["node-a", "node-b"], "both announcers are shown");
    let (created, deleted, _) = run(false);
    assert!(
        created >= 39 && deleted >= 38,
        "control: without the memory every pass writes ({created} created, {deleted} deleted)"
    );
}
