use super::*;
use crate::bgp_report::SessionReport;
use crate::status::fake_api::fake_api;
use crate::status::objects::{diff, new_meta, status_body};
use ferrolb_api::v1beta1::{ServiceBGPStatusSpec, ServiceBGPStatusStatus, ServiceL2Status};
use ferrolb_bgp::fsm::State;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

fn key(ns: &str, n: &str) -> ServiceKey {
    ServiceKey::new(ns, n)
}

fn peers(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

fn obj(name: &str, node: &str, svc: &str, p: &[&str], owner: &PodOwner) -> ServiceBGPStatus {
    ServiceBGPStatus {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: Some(owner.references()),
            ..ObjectMeta::default()
        },
        spec: ServiceBGPStatusSpec {},
        status: Some(ServiceBGPStatusStatus {
            node: Some(node.into()),
            service_name: Some(svc.into()),
            service_namespace: Some("ns".into()),
            peers: peers(p),
        }),
    }
}

fn report(services: &[(&str, &[&str])]) -> BgpReport {
    BgpReport {
        sessions: Vec::new(),
        services: services
            .iter()
            .map(|(s, p)| (key("ns", s), peers(p).into()))
            .collect(),
    }
}

#[test]
fn one_object_per_advertised_service_with_the_desired_peers() {
    let pod = PodOwner::new(Some("speaker-a".into()), Some("uid-2".into()));
    let old = PodOwner::new(Some("speaker-z".into()), Some("uid-1".into()));
    let r = report(&[
        ("kept", &["r1", "r2"]),
        ("peers-changed", &["r1", "r2"]),
        ("new", &["r1"]),
        ("old-pod", &["r1"]),
        ("shared", &["r1"]),
    ]);
    let existing = vec![
        obj("bgp-a", "me", "kept", &["r1", "r2"], &pod),
        obj("bgp-b", "me", "peers-changed", &["r1"], &pod),
        obj("bgp-c", "me", "withdrawn", &["r1"], &pod),
        obj("bgp-d", "me", "old-pod", &["r1"], &old),
        // Every node advertises in BGP mode: another node's objects stay, also for a Service
        // this node advertises too.
        obj("bgp-e", "other", "shared", &["r1"], &pod),
        obj("bgp-f", "other", "theirs", &["r1"], &pod),
    ];
    let d = diff_bgp("me", &pod, &existing, &r);
    assert_eq!(d.delete, vec!["bgp-c", "bgp-d"]);
    assert_eq!(
        d.create,
        vec![key("ns", "new"), key("ns", "old-pod"), key("ns", "shared")]
    );
    assert_eq!(
        d.update,
        vec![(
            "bgp-b".to_string(),
            key("ns", "peers-changed"),
            peers(&["r1", "r2"])
        )]
    );
    // Nothing advertised any more: only this node's objects go.
    let d = diff_bgp("me", &pod, &existing, &BgpReport::default());
    assert_eq!(d.delete, vec!["bgp-a", "bgp-b", "bgp-c", "bgp-d"]);
    assert!(d.create.is_empty() && d.update.is_empty());
}

/// The diff the BGP writer does: the generic one over `BgpReport::services`.
fn diff_bgp(
    me: &str,
    pod: &PodOwner,
    existing: &[ServiceBGPStatus],
    r: &BgpReport,
) -> crate::status::objects::StatusDiff {
    diff(me, pod, existing, &r.services)
}

#[test]
fn new_objects_have_metallbs_name_labels_owner_and_status() {
    let pod = PodOwner::new(Some("speaker-a".into()), Some("uid-2".into()));
    let m = new_meta::<ServiceBGPStatus>("metallb-system", "node-1", &pod, &key("web", "api"));
    assert_eq!(m.generate_name.as_deref(), Some("bgp-"));
    assert_eq!(m.namespace.as_deref(), Some("metallb-system"));
    let labels = m.labels.unwrap_or_default();
    assert_eq!(labels["metallb.io/node"], "node-1");
    assert_eq!(labels["metallb.io/service-name"], "api");
    assert_eq!(labels["metallb.io/service-namespace"], "web");
    assert_eq!(m.owner_references, Some(pod.references()));
    assert_eq!(
        status_body::<ServiceBGPStatus>("node-1", &key("web", "api"), &peers(&["r1", "r2"])),
        json!({"status": {"node": "node-1", "serviceName": "api",
            "serviceNamespace": "web", "peers": ["r1", "r2"]}})
    );
    // The L2 kind through the same code: interfaces as objects, `l2-` names.
    assert_eq!(
        status_body::<ServiceL2Status>("node-1", &key("web", "api"), &peers(&["eth0"])),
        json!({"status": {"node": "node-1", "serviceName": "api",
            "serviceNamespace": "web", "interfaces": [{"name": "eth0"}]}})
    );
    let m = new_meta::<ServiceL2Status>("metallb-system", "node-1", &pod, &key("web", "api"));
    assert_eq!(m.generate_name.as_deref(), Some("l2-"));
}

#[test]
fn node_assigned_only_when_advertising_starts() {
    let mut seen = BTreeSet::new();
    let r = report(&[("a", &["r1"]), ("b", &["r1"])]);
    assert_eq!(
        newly_advertised(&r, &mut seen),
        vec![key("ns", "a"), key("ns", "b")]
    );
    assert!(newly_advertised(&r, &mut seen).is_empty(), "no repeat");
    let r2 = report(&[("a", &["r1", "r2"])]);
    assert!(
        newly_advertised(&r2, &mut seen).is_empty(),
        "peers changed only"
    );
    assert_eq!(
        newly_advertised(&r, &mut seen),
        vec![key("ns", "b")],
        "b came back"
    );
}

#[tokio::test]
async fn a_pass_writes_the_service_status_the_session_and_the_event() {
    let (client, log) = fake_api();
    let pod = PodOwner::new(Some("speaker-a".into()), Some("uid-2".into()));
    let cfg = BgpStatusConfig::new(&client, "metallb-system", "n1", pod.clone());
    let mut status = BgpStatus {
        client: client.clone(),
        services: Objects::new(client.clone(), "metallb-system", "n1", pod.clone()),
        sessions: SessionWriter::new(client, "metallb-system", "n1", pod.clone()),
        events: Events::new(cfg.recorder, "n1"),
        advertised: BTreeSet::new(),
        written: Written::default(),
    };
    let mut r = report(&[("web", &["r1"])]);
    r.sessions = vec![SessionReport {
        peer: "r1".into(),
        address: "192.0.2.1:179".parse().expect("addr"),
        state: State::Established,
        established_since: None,
        prefixes_sent: 1,
        pending_prefixes: 0,
        updates_sent: 1,
        last_error: None,
    }];
    let next = status.pass(&r, &Plan::default()).await;
    assert_eq!(next, Duration::from_secs(30), "every write succeeded");
    let requests = log.lock().expect("log").len();
    // The same report again: nothing to list or write.
    assert_eq!(status.pass(&r, &Plan::default()).await, next);
    assert_eq!(log.lock().expect("log").len(), requests, "no request");
    // Only a session counter moved: the sessions are looked at (and their write paced), the
    // ServiceBGPStatuses are not listed again.
    let mut r2 = r.clone();
    r2.sessions[0].prefixes_sent = 2;
    let next = status.pass(&r2, &Plan::default()).await;
    assert!(
        next <= Duration::from_secs(1),
        "a paced write is due: {next:?}"
    );
    {
        let log = log.lock().expect("log");
        let later: Vec<&String> = log[requests..].iter().map(|(_, p, _)| p).collect();
        assert!(
            later.iter().all(|p| p.ends_with("/bgpsessionstates")),
            "only the sessions were listed: {later:?}"
        );
        assert_eq!(later.len(), 1);
    }
    let log = log.lock().expect("log")[..requests].to_vec();
    let find = |method: &str, suffix: &str| {
        log.iter()
            .find(|(m, p, _)| m == method && p.ends_with(suffix))
            .map(|(_, _, b)| b.clone())
            .unwrap_or_else(|| panic!("no {method} …{suffix} in {log:#?}"))
    };
    let created = find("POST", "/namespaces/metallb-system/servicebgpstatuses");
    assert_eq!(created["metadata"]["generateName"], "bgp-");
    assert_eq!(created["metadata"]["labels"]["metallb.io/node"], "n1");
    assert_eq!(created["metadata"]["ownerReferences"][0]["uid"], "uid-2");
    let st = find("PATCH", "/servicebgpstatuses/bgp-abcde/status");
    assert_eq!(st["status"]["peers"], json!(["r1"]));
    let name = crate::status::session::session_name("n1", "r1");
    let meta = find("PATCH", &format!("/bgpsessionstates/{name}"));
    assert_eq!(meta["apiVersion"], "ferrolb.io/v1alpha1");
    assert_eq!(meta["metadata"]["labels"]["ferrolb.io/peer"], "r1");
    assert_eq!(meta["metadata"]["ownerReferences"][0]["uid"], "uid-2");
    let st = find("PATCH", &format!("/bgpsessionstates/{name}/status"));
    assert_eq!(st["status"]["bgpStatus"], "Established");
    assert_eq!(st["status"]["peer"], "192.0.2.1");
    // Not in the Layer 2 plan: the event's target UID is read from the API server.
    find("GET", "/api/v1/namespaces/ns/services/web");
    let ev = find("POST", "/events");
    assert_eq!(ev["reason"], "nodeAssigned");
    assert_eq!(
        ev["note"],
        "announcing from node \"n1\" with protocol \"bgp\""
    );
}
