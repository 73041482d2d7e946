//! Admission: what a change introduces is denied; dangling references of the incoming object
//! warn; cross-kind breakage and IP moves.

use ferrolb_api::manifest::parse_manifests;

use crate::ServiceIps;
use crate::admission::{Object, Operation, Request, Verdict, admit};
use crate::fixtures::*;

fn obj(yaml: &str) -> Object {
    let mut v = parse_manifests(yaml).unwrap();
    Object::from_api(v.remove(0)).unwrap()
}

fn request(op: Operation, new: Option<&str>, old: Option<&str>) -> Request {
    let object = new.map(obj);
    let old_object = old.map(obj);
    let any = object.as_ref().or(old_object.as_ref()).unwrap();
    Request {
        operation: op,
        kind: any.kind(),
        name: any.name().to_owned(),
        namespace: any.meta().namespace.clone().unwrap_or_default(),
        object,
        old_object,
    }
}

fn run(existing: &str, op: Operation, new: Option<&str>, old: Option<&str>) -> Verdict {
    admit(&res(existing), &request(op, new, old), &Options::default())
}

#[test]
fn create_outside_namespace() {
    let p = pool("a", "{addresses: [10.0.0.0/24]}").replace("metallb-system", "default");
    let v = run("", Operation::Create, Some(&p), None);
    assert_eq!(
        v.message(),
        "IPAddressPool/a: metadata.namespace: resource must be created in metallb-system namespace"
    );
}

#[test]
fn update_and_delete_outside_namespace_are_not_judged() {
    let b = bfd("fast", "{}");
    let existing = format!(
        "{b}{}",
        peer(
            "p1",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, bfdProfile: fast}"
        )
    );
    let elsewhere = b.replace("metallb-system", "default");
    assert!(run(&existing, Operation::Delete, None, Some(&elsewhere)).allowed());
}

#[test]
fn overlapping_pool_denied_valid_allowed() {
    let existing = pool("a", "{addresses: [192.168.10.0/24]}");
    let v = run(
        &existing,
        Operation::Create,
        Some(&pool("b", "{addresses: [192.168.10.128-192.168.10.130]}")),
        None,
    );
    assert!(
        v.message()
            .contains("overlaps with already defined CIDR \"192.168.10.0/24\""),
        "{v:?}"
    );
    assert!(
        run(
            &existing,
            Operation::Create,
            Some(&pool("b", "{addresses: [192.168.11.0/24]}")),
            None
        )
        .allowed()
    );
}

#[test]
fn preexisting_problems_do_not_block_unrelated_edits() {
    let existing = format!(
        "{}{}",
        pool("a", "{addresses: [10.0.0.0/24]}"),
        pool("b", "{addresses: [10.0.0.0/25]}")
    );
    assert!(
        run(
            &existing,
            Operation::Create,
            Some(&pool("c", "{addresses: [10.1.0.0/24]}")),
            None
        )
        .allowed()
    );
}

#[test]
fn shrinking_pool_breaks_aggregation() {
    let existing = format!(
        "{}{}",
        pool("p", "{addresses: [10.0.0.0/24]}"),
        bgp_ad("ad", "{aggregationLength: 24}")
    );
    let v = run(
        &existing,
        Operation::Update,
        Some(&pool("p", "{addresses: [10.0.0.0/26]}")),
        Some(&pool("p", "{addresses: [10.0.0.0/24]}")),
    );
    assert!(!v.allowed());
    assert!(
        v.message().starts_with(
            "BGPAdvertisement/ad: spec.aggregationLength: invalid aggregation length 24: prefix 26"
        ),
        "{}",
        v.message()
    );
}

#[test]
fn removing_or_deleting_a_used_community_alias() {
    let c = community("c", "{communities: [{name: gold, value: '65000:1'}]}");
    let existing = format!("{c}{}", bgp_ad("ad", "{communities: [gold]}"));
    let v = run(&existing, Operation::Delete, None, Some(&c));
    assert_eq!(
        v.message(),
        "Community/c: metadata.name: failed to delete Community c, used by BGPAdvertisement ad (spec.communities[0]: gold)"
    );
    let v = run(
        &existing,
        Operation::Update,
        Some(&community(
            "c",
            "{communities: [{name: silver, value: '65000:2'}]}",
        )),
        Some(&c),
    );
    assert!(
        v.message()
            .starts_with("BGPAdvertisement/ad: spec.communities[0]"),
        "{}",
        v.message()
    );
    // Unused alias: fine.
    assert!(run(&c, Operation::Delete, None, Some(&c)).allowed());
}

#[test]
fn deleting_a_used_bfd_profile() {
    let b = bfd("fast", "{}");
    let existing = format!(
        "{b}{}",
        peer(
            "p1",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, bfdProfile: fast}"
        )
    );
    let v = run(&existing, Operation::Delete, None, Some(&b));
    assert!(
        v.message()
            .contains("failed to delete BFDProfile fast, used by BGPPeer p1"),
        "{}",
        v.message()
    );
    assert!(run(&b, Operation::Delete, None, Some(&b)).allowed());
}

#[test]
fn dangling_reference_of_incoming_object_only_warns() {
    let v = run(
        "",
        Operation::Create,
        Some(&peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, bfdProfile: later}",
        )),
        None,
    );
    assert!(v.allowed());
    assert!(v.warnings[0].contains("referencing non existing bfd profile later"));
    let v = run(
        "",
        Operation::Create,
        Some(&bgp_ad("ad", "{communities: [later]}")),
        None,
    );
    assert!(v.allowed() && v.warnings.len() == 1, "{v:?}");
}

#[test]
fn cel_runs_on_incoming_objects() {
    let v = run(
        "",
        Operation::Create,
        Some(&peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, connectTime: 1500ms}",
        )),
        None,
    );
    assert!(
        v.message()
            .contains("connect time should contain a whole number of seconds"),
        "{v:?}"
    );
    let old = peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, enableGracefulRestart: true}",
    );
    let new = peer(
        "p",
        "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, enableGracefulRestart: false}",
    );
    let v = run(&old, Operation::Update, Some(&new), Some(&old));
    assert!(
        v.message()
            .contains("EnableGracefulRestart cannot be changed after creation"),
        "{v:?}"
    );
}

#[test]
fn echo_mode_is_allowed_with_a_warning() {
    let v = run(
        "",
        Operation::Create,
        Some(&bfd("echo", "{echoMode: true, echoInterval: 50}")),
        None,
    );
    assert!(v.allowed(), "{v:?}");
    assert_eq!(v.warnings.len(), 1, "{v:?}");
    assert!(v.warnings[0].contains("spec.echoMode"), "{v:?}");
    assert!(v.warnings[0].ends_with(crate::bfd::ECHO_WARNING));
    let v = run(
        "",
        Operation::Create,
        Some(&bfd("plain", "{echoInterval: 50, echoMode: false}")),
        None,
    );
    assert!(v.allowed() && v.warnings.is_empty(), "{v:?}");
}

#[test]
fn disable_mp_warning() {
    let v = run(
        "",
        Operation::Create,
        Some(&peer(
            "p",
            "{myASN: 1, peerASN: 2, peerAddress: 10.9.9.9, disableMP: true}",
        )),
        None,
    );
    assert!(v.allowed());
    assert!(v.warnings[0].ends_with(crate::peers::DISABLE_MP_WARNING));
}

#[test]
fn pool_edit_moving_service_ips_warns() {
    let old = pool("p", "{addresses: [10.0.0.0/24]}");
    let mut existing = res(&old);
    existing.services = vec![
        ServiceIps {
            namespace: "default".into(),
            name: "web".into(),
            ips: vec!["10.0.0.200".parse().unwrap()],
        },
        ServiceIps {
            namespace: "default".into(),
            name: "db".into(),
            ips: vec!["10.0.0.5".parse().unwrap()],
        },
    ];
    let req = request(
        Operation::Update,
        Some(&pool("p", "{addresses: [10.0.0.0/25]}")),
        Some(&old),
    );
    let v = admit(&existing, &req, &Options::default());
    assert!(v.allowed());
    assert_eq!(
        v.warnings,
        ["IPAddressPool/p: this change moves the IPs of 1 Services: default/web (10.0.0.200)"]
    );
    let req = request(Operation::Delete, None, Some(&old));
    let v = admit(&existing, &req, &Options::default());
    assert!(
        v.warnings[0].contains("moves the IPs of 2 Services"),
        "{v:?}"
    );
}
