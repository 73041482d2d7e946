//! Reconcile passes against simulated cluster state: the test applies the returned actions to
//! the snapshot the way the API server would, then runs the next pass.

use super::*;
use ferrolb_api::v1beta1::{ConfigurationStateStatus, IPAddressPoolSpec};
use ferrolb_kube::status::condition;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

fn now() -> Time {
    Time(Timestamp::from_second(1_700_000_000).expect("ts"))
}

fn pool(name: &str, addresses: &[&str]) -> Arc<IPAddressPool> {
    let mut p = IPAddressPool::new(
        name,
        IPAddressPoolSpec {
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
    );
    p.metadata.namespace = Some("metallb-system".into());
    p.metadata.generation = Some(1);
    Arc::new(p)
}

fn lb(ns: &str, name: &str, created: i64, extra: serde_json::Value) -> Arc<Service> {
    let mut v = json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "resourceVersion": "1",
                     "creationTimestamp": Timestamp::from_second(created).expect("ts").to_string()},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                 "ports": [{"port": 80, "protocol": "TCP"}]}
    });
    merge(&mut v, extra);
    Arc::new(serde_json::from_value(v).expect("service"))
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

/// A new resourceVersion, as the API server sets on every write.
fn bump(svc: &mut Service) {
    let rv: u64 = svc
        .metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    svc.metadata.resource_version = Some((rv + 1).to_string());
}

/// Applies actions as the API server would (bumping resourceVersions); returns the events.
fn apply(snap: &mut Snapshot, actions: &[Action]) -> Vec<(String, &'static str, String)> {
    let mut events = Vec::new();
    for a in actions {
        match a {
            Action::Service { key, write } => {
                let svc = find(snap, &key.namespace, &key.name);
                let mut v = serde_json::to_value(&*snap.services[svc]).expect("json");
                if let Some(ips) = &write.ips {
                    let ingress: Vec<_> =
                        ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
                    v["status"] = json!({"loadBalancer": {"ingress": ingress}});
                }
                let mut updated: Service = serde_json::from_value(v).expect("svc");
                if let Some(pool) = &write.pool {
                    let ann = updated
                        .metadata
                        .annotations
                        .get_or_insert_with(Default::default);
                    match pool {
                        Some(p) => ann.insert(ANNOTATION_IP_ALLOCATED_FROM_POOL.into(), p.clone()),
                        None => ann.remove(ANNOTATION_IP_ALLOCATED_FROM_POOL),
                    };
                }
                bump(&mut updated);
                snap.services[svc] = Arc::new(updated);
            }
            Action::Event {
                object,
                reason,
                note,
                ..
            } => {
                events.push((
                    object.name.clone().unwrap_or_default(),
                    *reason,
                    note.clone(),
                ));
            }
            Action::PoolStatus { name, status } => {
                let i = snap
                    .pools
                    .iter()
                    .position(|p| p.metadata.name.as_deref() == Some(name))
                    .expect("pool");
                let mut p = (*snap.pools[i]).clone();
                p.status = Some(status.clone());
                snap.pools[i] = Arc::new(p);
            }
            Action::ControllerState { error } => {
                let cond = condition(CONTROLLER_CONDITION, error.as_deref(), None, None, &now());
                let mut state = ConfigurationState::new("controller", Default::default());
                state.status = Some(ConfigurationStateStatus::summarize(vec![cond]));
                snap.controller_state = Some(Arc::new(state));
            }
        }
    }
    events
}

fn find(snap: &Snapshot, ns: &str, name: &str) -> usize {
    snap.services
        .iter()
        .position(|s| {
            s.metadata.namespace.as_deref() == Some(ns) && s.metadata.name.as_deref() == Some(name)
        })
        .expect("service")
}

fn ips(snap: &Snapshot, name: &str) -> Vec<String> {
    let s = snap
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .expect("svc");
    ingress_ips(s).iter().map(ToString::to_string).collect()
}

fn annotation(snap: &Snapshot, name: &str) -> Option<String> {
    let s = snap
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .expect("svc");
    s.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_IP_ALLOCATED_FROM_POOL))
        .cloned()
}

/// Runs passes until one returns no action (at most 5), returning all events.
fn converge(r: &mut Reconciler, snap: &mut Snapshot) -> Vec<(String, &'static str, String)> {
    converge_at(r, snap, now().0.as_second())
}

#[test]
fn first_address_then_idempotent() {
    let mut snap = Snapshot {
        pools: vec![pool("ipaddresspool", &["192.168.0.200-192.168.0.250"])],
        services: vec![lb("kube-system", "traefik", 100, json!({}))],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    let events = converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "traefik"), ["192.168.0.200"]);
    assert_eq!(
        annotation(&snap, "traefik").as_deref(),
        Some("ipaddresspool")
    );
    assert_eq!(
        events,
        [(
            "traefik".to_string(),
            "IPAllocated",
            "Assigned IP [\"192.168.0.200\"]".to_string()
        )]
    );
    let status = snap.pools[0].status.clone().expect("pool status");
    assert_eq!((status.assigned_ipv4, status.available_ipv4), (1, 50));
    assert_eq!(status.conditions[0].status, "True");
    // A further pass over the converged state writes nothing.
    assert_eq!(r.pass(&snap, &now()), vec![]);
}

#[test]
fn three_services_get_consecutive_ips_in_creation_order() {
    let mut snap = Snapshot {
        pools: vec![pool("my-ippool", &["172.18.255.200-172.18.255.250"])],
        services: vec![
            lb("default", "svc3", 3, json!({})),
            lb("default", "svc1", 1, json!({})),
            lb("default", "svc2", 2, json!({})),
        ],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "svc1"), ["172.18.255.200"]);
    assert_eq!(ips(&snap, "svc2"), ["172.18.255.201"]);
    assert_eq!(ips(&snap, "svc3"), ["172.18.255.202"]);
}

#[test]
fn restart_keeps_every_ip() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.1-10.0.0.10"])],
        services: (1..=5)
            .map(|i| lb("d", &format!("s{i}"), i, json!({})))
            .collect(),
        ..Default::default()
    };
    converge(&mut Reconciler::new(None), &mut snap);
    let before: Vec<_> = (1..=5).map(|i| ips(&snap, &format!("s{i}"))).collect();
    // Delete s2, add a newer Service, restart the controller: no IP moves, and the new
    // Service gets the freed address, not one held by another Service.
    snap.services
        .retain(|s| s.metadata.name.as_deref() != Some("s2"));
    snap.services.insert(0, lb("d", "new", 99, json!({})));
    let mut fresh = Reconciler::new(None);
    converge(&mut fresh, &mut snap);
    for (i, want) in [1, 3, 4, 5]
        .iter()
        .zip([&before[0], &before[2], &before[3], &before[4]])
    {
        assert_eq!(&ips(&snap, &format!("s{i}")), want, "s{i} kept its IP");
    }
    assert_eq!(ips(&snap, "new"), before[1], "the freed address is reused");
}

#[test]
fn requested_ip_is_honoured_and_failure_reported_once() {
    let mut snap = Snapshot {
        pools: vec![pool("default", &["192.168.35.100-192.168.35.110"])],
        services: vec![
            lb(
                "kubeflow",
                "minio-service",
                1,
                json!({"spec": {"loadBalancerIP": "192.168.35.101"}}),
            ),
            lb(
                "kubeflow",
                "outside",
                2,
                json!({"spec": {"loadBalancerIP": "10.1.1.1"}}),
            ),
        ],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    let events = converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "minio-service"), ["192.168.35.101"]);
    assert!(ips(&snap, "outside").is_empty());
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.1 == "AllocationFailed")
        .collect();
    assert_eq!(failures.len(), 1, "{events:?}");
    assert!(
        failures[0].2.contains("10.1.1.1") && failures[0].2.contains("kubeflow/outside"),
        "{failures:?}"
    );
    // Later passes do not repeat the event.
    assert!(r.pass(&snap, &now()).is_empty());
}

#[test]
fn invalid_pool_edit_keeps_last_good_config() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.0/29"])],
        services: vec![lb("d", "a", 1, json!({}))],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "a"), ["10.0.0.0"]);
    let status = snap.pools[0].status.clone();
    snap.pools[0] = pool("p", &["10.0.0.0/33"]);
    Arc::make_mut(&mut snap.pools[0]).status = status;
    let actions = r.pass(&snap, &now());
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::ControllerState { error: Some(e) } if e.contains("\"p\""))
        ),
        "{actions:?}"
    );
    apply(&mut snap, &actions);
    let ready = &snap.pools[0].status.as_ref().expect("status").conditions[0];
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "ConfigurationError")
    );
    assert!(ready.message.contains("10.0.0.0/33"), "{}", ready.message);
    assert_eq!(ips(&snap, "a"), ["10.0.0.0"], "the Service keeps its IP");
    // A new Service is still served from the last good pools.
    snap.services.push(lb("d", "b", 2, json!({})));
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "b"), ["10.0.0.1"]);
}

#[test]
fn pool_edit_moves_only_invalidated_services() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.1-10.0.0.4"])],
        services: (1..=3)
            .map(|i| lb("d", &format!("s{i}"), i, json!({})))
            .collect(),
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge(&mut r, &mut snap);
    assert_eq!(
        [ips(&snap, "s1"), ips(&snap, "s2"), ips(&snap, "s3")],
        [["10.0.0.1"], ["10.0.0.2"], ["10.0.0.3"]]
    );
    let status = snap.pools[0].status.clone();
    snap.pools[0] = pool("p", &["10.0.0.2-10.0.0.6"]);
    Arc::make_mut(&mut snap.pools[0]).status = status;
    let events = converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "s2"), ["10.0.0.2"]);
    assert_eq!(ips(&snap, "s3"), ["10.0.0.3"]);
    assert_eq!(ips(&snap, "s1"), ["10.0.0.4"], "only s1 moved");
    assert!(
        events
            .iter()
            .any(|e| e.0 == "s1" && e.1 == "ClearAssignment"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.0 != "s1"), "{events:?}");
}

#[test]
fn type_change_and_foreign_services() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.1-10.0.0.4"])],
        services: vec![
            lb("d", "a", 1, json!({})),
            lb(
                "d",
                "other-class",
                2,
                json!({"spec": {"loadBalancerClass": "example.com/lb"},
                "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}),
            ),
        ],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "a"), ["10.0.0.1"]);
    assert_eq!(
        ips(&snap, "other-class"),
        ["203.0.113.9"],
        "another implementation's Service is untouched"
    );
    let i = find(&snap, "d", "a");
    let mut v = serde_json::to_value(&*snap.services[i]).expect("json");
    v["spec"]["type"] = json!("ClusterIP");
    let mut updated: Service = serde_json::from_value(v).expect("svc");
    bump(&mut updated);
    snap.services[i] = Arc::new(updated);
    converge(&mut r, &mut snap);
    assert!(ips(&snap, "a").is_empty());
    assert_eq!(annotation(&snap, "a"), None);
    assert_eq!(r.allocator().map(|a| a.len()), Some(0));
}

#[test]
fn no_pools_yet_means_hands_off_until_configured() {
    let held = json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}]}}});
    let mut snap = Snapshot {
        services: vec![lb("d", "a", 1, json!({})), lb("d", "held", 2, held)],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    let events = converge(&mut r, &mut snap);
    assert!(ips(&snap, "a").is_empty());
    assert_eq!(
        ips(&snap, "held"),
        ["10.0.0.2"],
        "no pools yet: existing IPs are not cleared"
    );
    assert!(events.is_empty(), "{events:?}");
    snap.pools.push(pool("p", &["10.0.0.1-10.0.0.2"]));
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "a"), ["10.0.0.1"]);
    assert_eq!(
        ips(&snap, "held"),
        ["10.0.0.2"],
        "kept once its pool appears"
    );
}

#[test]
fn deleting_every_pool_removes_all_ips() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.1/32"])],
        services: vec![lb("d", "a", 1, json!({}))],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "a"), ["10.0.0.1"]);
    snap.pools.clear();
    let events = converge(&mut r, &mut snap);
    assert!(
        ips(&snap, "a").is_empty(),
        "MetalLB e2e: removing all pools removes all IPs"
    );
    assert!(
        events.iter().any(|e| e.1 == "AllocationFailed"),
        "{events:?}"
    );
}

#[test]
fn lb_class_flag_selects_services() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.1-10.0.0.4"])],
        services: vec![
            lb("d", "plain", 1, json!({})),
            lb(
                "d",
                "ours",
                2,
                json!({"spec": {"loadBalancerClass": "ferrolb"}}),
            ),
        ],
        ..Default::default()
    };
    converge(&mut Reconciler::new(Some("ferrolb".into())), &mut snap);
    assert!(ips(&snap, "plain").is_empty());
    assert_eq!(ips(&snap, "ours"), ["10.0.0.1"]);
}

#[test]
fn legacy_annotation_warns_once() {
    let mut snap = Snapshot {
        pools: vec![pool("a", &["10.0.0.1/32"]), pool("b", &["10.0.1.1/32"])],
        services: vec![lb(
            "d",
            "s",
            1,
            json!({"metadata": {"annotations": {"metallb.universe.tf/address-pool": "b"}}}),
        )],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    let events = converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "s"), ["10.0.1.1"]);
    let warnings: Vec<_> = events
        .iter()
        .filter(|e| e.1 == "deprecatedAnnotation")
        .collect();
    assert_eq!(warnings.len(), 1, "{events:?}");
}

/// Settled Services are skipped only while nothing they depend on changed: a failed one is
/// retried when an IP frees up (its own resourceVersion unchanged), and namespace label
/// changes re-evaluate settled ones.
#[test]
fn skipping_settled_services_never_hides_a_change() {
    let mut snap = Snapshot {
        pools: vec![pool("one", &["10.0.0.1/32"])],
        services: vec![lb("d", "a", 1, json!({})), lb("d", "b", 2, json!({}))],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    let events = converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "a"), ["10.0.0.1"]);
    assert!(ips(&snap, "b").is_empty());
    assert_eq!(
        events.iter().filter(|e| e.1 == "AllocationFailed").count(),
        1
    );
    assert!(r.pass(&snap, &now()).is_empty(), "steady state: no writes");
    // `a` goes away: `b`, untouched since it failed, gets the freed IP.
    snap.services
        .retain(|s| s.metadata.name.as_deref() != Some("a"));
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "b"), ["10.0.0.1"]);

    // A pool restricted by namespace labels: removing the label invalidates a settled IP.
    let mut restricted = (*pool("team", &["10.1.0.1/32"])).clone();
    restricted.spec.service_allocation = Some(
        serde_json::from_value(json!({"namespaceSelectors": [{"matchLabels": {"team": "x"}}]}))
            .expect("allocation"),
    );
    let mut snap = Snapshot {
        pools: vec![Arc::new(restricted)],
        services: vec![lb("t", "c", 1, json!({}))],
        namespaces: [(
            "t".to_string(),
            [("team".to_string(), "x".to_string())].into(),
        )]
        .into(),
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "c"), ["10.1.0.1"]);
    assert!(r.pass(&snap, &now()).is_empty(), "settled");
    snap.namespaces.insert("t".into(), BTreeMap::new());
    converge(&mut r, &mut snap);
    assert!(
        ips(&snap, "c").is_empty(),
        "the namespace no longer matches the pool: the IP is withdrawn"
    );
}

#[test]
fn services_going_away_keep_their_ip_but_get_no_new_one() {
    // `old` holds the only address; `doomed` (terminating namespace) and `deleting` (its own
    // deletionTimestamp) wait for one; `fresh` is created last.
    let mut snap = Snapshot {
        pools: vec![pool("one", &["10.0.0.1-10.0.0.2"])],
        services: vec![
            lb("gone", "old", 1, json!({})),
            lb("gone", "doomed", 2, json!({})),
            lb(
                "d",
                "deleting",
                3,
                json!({"metadata": {"deletionTimestamp": "2026-11-25T00:00:00Z",
                "finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}}),
            ),
            lb("d", "fresh", 4, json!({})),
        ],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    // Before the namespace is deleted, `old` and `doomed` are served first come, first served.
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "old"), ["10.0.0.1"]);
    assert_eq!(ips(&snap, "doomed"), ["10.0.0.2"]);
    assert!(
        ips(&snap, "deleting").is_empty(),
        "a deleting Service gets nothing"
    );

    // Namespace `gone` starts terminating and `doomed` loses its IP (e.g. a pool edit) ...
    snap.terminating.insert("gone".into());
    let i = find(&snap, "gone", "doomed");
    let mut doomed = (*snap.services[i]).clone();
    doomed.status = None;
    bump(&mut doomed);
    snap.services[i] = Arc::new(doomed);
    let events = converge(&mut r, &mut snap);
    // ... it is not given a new one: the freed address goes to `fresh`; `old` keeps its IP.
    assert!(ips(&snap, "doomed").is_empty());
    assert_eq!(ips(&snap, "old"), ["10.0.0.1"]);
    assert_eq!(ips(&snap, "fresh"), ["10.0.0.2"]);
    assert!(ips(&snap, "deleting").is_empty());
    assert!(
        !events.iter().any(|e| e.0 == "doomed" || e.0 == "deleting"),
        "no events for Services going away: {events:?}"
    );
    assert!(r.pass(&snap, &now()).is_empty(), "steady state");
}

/// MetalLB writes `metallb.io/ip-allocated-from-pool` too: a Service of another
/// loadBalancerClass carrying it (and its IP) belongs to the other implementation and is never
/// written; only a Service this controller allocated is cleared when it stops being ours.
#[test]
fn another_implementations_services_are_left_alone() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.1-10.0.0.4"])],
        services: vec![
            lb(
                "d",
                "metallb-owned",
                1,
                json!({"metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "theirs"}},
                "spec": {"loadBalancerClass": "metallb.io/metallb"},
                "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}),
            ),
            lb("d", "ours", 2, json!({})),
        ],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    let actions = r.pass(&snap, &now());
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Service { key, .. } if key.name == "metallb-owned")),
        "{actions:?}"
    );
    converge(&mut r, &mut snap);
    assert_eq!(ips(&snap, "metallb-owned"), ["203.0.113.9"]);
    assert_eq!(
        annotation(&snap, "metallb-owned").as_deref(),
        Some("theirs")
    );
    // `ours` moves to the other implementation: what ferrolb wrote is undone.
    assert_eq!(ips(&snap, "ours"), ["10.0.0.1"]);
    let i = find(&snap, "d", "ours");
    let mut v = serde_json::to_value(&*snap.services[i]).expect("json");
    v["spec"]["loadBalancerClass"] = json!("metallb.io/metallb");
    let mut moved: Service = serde_json::from_value(v).expect("svc");
    bump(&mut moved);
    snap.services[i] = Arc::new(moved);
    converge(&mut r, &mut snap);
    assert!(ips(&snap, "ours").is_empty());
    assert_eq!(annotation(&snap, "ours"), None);
}

#[test]
fn the_controller_state_is_rewritten_when_deleted_or_edited() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["192.168.0.200-192.168.0.250"])],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge(&mut r, &mut snap);
    assert!(snap.controller_state.is_some(), "written once");
    assert_eq!(r.pass(&snap, &now()), vec![], "converged: nothing to write");
    // Someone deletes it: the next pass writes it again.
    let shown = snap.controller_state.take();
    assert_eq!(
        r.pass(&snap, &now()),
        vec![Action::ControllerState { error: None }]
    );
    // Someone edits its condition: written again.
    let mut edited = (*shown.expect("state")).clone();
    if let Some(st) = edited.status.as_mut() {
        st.conditions[0].status = "False".into();
    }
    snap.controller_state = Some(Arc::new(edited));
    assert_eq!(
        r.pass(&snap, &now()),
        vec![Action::ControllerState { error: None }]
    );
}

fn at(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).expect("ts"))
}

/// A pool applied by the migration of payload `set`, which yields `size` pools.
fn migrated(name: &str, addresses: &[&str], set: &str, size: usize) -> Arc<IPAddressPool> {
    let mut p = (*pool(name, addresses)).clone();
    p.metadata.annotations = Some(
        [
            (
                crate::migration::SET_ANNOTATION.to_string(),
                set.to_string(),
            ),
            (
                crate::migration::SET_SIZE_ANNOTATION.to_string(),
                size.to_string(),
            ),
        ]
        .into(),
    );
    Arc::new(p)
}

fn holding(name: &str, created: i64, ip: &str, pool: &str) -> Arc<Service> {
    lb(
        "d",
        name,
        created,
        json!({"metadata": {"annotations": {ANNOTATION_IP_ALLOCATED_FROM_POOL: pool}},
               "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}),
    )
}

/// Runs passes at second `t` until one returns no action (at most 5), returning all events.
fn converge_at(
    r: &mut Reconciler,
    snap: &mut Snapshot,
    t: i64,
) -> Vec<(String, &'static str, String)> {
    let mut events = Vec::new();
    for _ in 0..5 {
        let actions = r.pass(snap, &at(t));
        if actions.is_empty() {
            return events;
        }
        events.extend(apply(snap, &actions));
    }
    panic!("no convergence after 5 passes");
}

fn controller_error(snap: &Snapshot) -> Option<String> {
    let state = snap.controller_state.as_ref()?.status.as_ref()?;
    let c = ferrolb_kube::status::find(&state.conditions, CONTROLLER_CONDITION)?;
    (c.status == "False").then(|| c.message.clone())
}

#[test]
fn a_partly_seen_migration_set_moves_no_ip() {
    // The controller starts while the migration is applying pool a, then pool b.
    let mut snap = Snapshot {
        services: vec![
            holding("in-a", 1, "10.0.0.1", "a"),
            holding("in-b", 2, "10.0.1.1", "b"),
        ],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge_at(&mut r, &mut snap, 0);
    snap.pools
        .push(migrated("a", &["10.0.0.1-10.0.0.2"], "h1", 2));
    let events = converge_at(&mut r, &mut snap, 1);
    assert_eq!(
        ips(&snap, "in-b"),
        ["10.0.1.1"],
        "only pool a seen: {events:?}"
    );
    assert_eq!(annotation(&snap, "in-b").as_deref(), Some("b"));
    assert_eq!(
        controller_error(&snap),
        None,
        "a migration in progress is no error"
    );
    snap.pools
        .push(migrated("b", &["10.0.1.1-10.0.1.2"], "h1", 2));
    let events = converge_at(&mut r, &mut snap, 2);
    assert_eq!(ips(&snap, "in-a"), ["10.0.0.1"], "{events:?}");
    assert_eq!(ips(&snap, "in-b"), ["10.0.1.1"], "{events:?}");
    assert_eq!(annotation(&snap, "in-b").as_deref(), Some("b"));
    assert!(
        events
            .iter()
            .all(|(_, reason, _)| *reason != "ClearAssignment"),
        "{events:?}"
    );
    assert_eq!(controller_error(&snap), None);
}

#[test]
fn pools_not_from_a_migration_set_apply_at_once() {
    let mut snap = Snapshot {
        pools: vec![pool("p", &["10.0.0.1-10.0.0.2"])],
        services: vec![lb("d", "new", 1, json!({}))],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge_at(&mut r, &mut snap, 0);
    assert_eq!(ips(&snap, "new"), ["10.0.0.1"]);
    // A complete set applies at once too.
    snap.pools = vec![migrated("m", &["10.0.0.1-10.0.0.2"], "h", 1)];
    snap.services.push(lb("d", "newer", 2, json!({})));
    converge_at(&mut r, &mut snap, 1);
    assert_eq!(ips(&snap, "newer"), ["10.0.0.2"]);
    assert_eq!(annotation(&snap, "newer").as_deref(), Some("m"));
}

#[test]
fn a_migration_set_that_never_completes_is_reported() {
    let mut snap = Snapshot {
        pools: vec![migrated("a", &["10.0.0.1-10.0.0.2"], "h1", 2)],
        services: vec![holding("in-b", 1, "10.0.1.1", "b")],
        ..Default::default()
    };
    let mut r = Reconciler::new(None);
    converge_at(&mut r, &mut snap, 0);
    converge_at(&mut r, &mut snap, 59);
    assert_eq!(controller_error(&snap), None, "not yet overdue");
    converge_at(&mut r, &mut snap, 60);
    let error = controller_error(&snap).expect("reported");
    assert!(
        error.contains("\"h1\"") && error.contains("1 of 2"),
        "{error}"
    );
    assert_eq!(r.config_error(), Some(error.as_str()));
    assert_eq!(ips(&snap, "in-b"), ["10.0.1.1"], "still nothing moves");
    snap.pools
        .push(migrated("b", &["10.0.1.1-10.0.1.2"], "h1", 2));
    converge_at(&mut r, &mut snap, 61);
    assert_eq!(controller_error(&snap), None, "complete: error cleared");
    assert_eq!(ips(&snap, "in-b"), ["10.0.1.1"]);
}
