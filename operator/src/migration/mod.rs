//! Migration of a live MetalLB ≤ v0.12 `config` ConfigMap into `metallb.io` CRs.
//!
//! When the legacy ConfigMap (name `--config`, key `config`) exists in ferrolb's namespace, its
//! payload is converted exactly as MetalLB v0.13's `configmaptocrs` did (`ferrolb-migrate`) and
//! the CRs are applied with server-side apply (field manager `ferrolb-migration`), labelled
//! `ferrolb.io/migrated-from: configmap`. The ConfigMap's data is never edited or deleted; the
//! outcome is recorded in its annotations `ferrolb.io/migrated-hash` / `ferrolb.io/migration`,
//! an event, and the `configMigrationValid` condition of the controller's ConfigurationState.
//!
//! Decisions (documented in docs/migration.md):
//! - An existing CR with the same name that the migration did not create is never overwritten:
//!   the conflict is reported and the other objects are still applied.
//! - Editing the ConfigMap later re-migrates: changed objects are re-applied, objects the
//!   migration created that the new payload no longer yields are deleted. Objects the user
//!   created or took over (by removing the label) are never touched.
//! - An invalid payload applies nothing (all-or-nothing) and is reported with its key path.
//! - An edit is never allowed to take an IP from a Service ([`refusals`]): emptying or
//!   shrinking the payload so that a migrated IPAddressPool holding IPs would be deleted, or
//!   would no longer contain one of its IPs, is refused as a whole — a Warning event, the
//!   `ferrolb.io/migration` annotation and the `configMigrationValid` condition say why, and the
//!   CRs last applied keep serving. Deleting the ConfigMap (or its `config` key) changes
//!   nothing: the migrated CRs stay.
//! - Every object of one migrated payload is stamped with the set it belongs to
//!   ([`SET_ANNOTATION`]: the payload hash) and the number of IPAddressPools in that set
//!   ([`SET_SIZE_ANNOTATION`]): the objects are applied one by one, and the Service pass applies
//!   no pool configuration while it sees only some pools of a set
//!   (`services::reconcile::sets`), so no IP moves because a pool was not yet applied.
//! - A migration that fails on the way (API server or webhook not reachable) is retried with
//!   backoff and reported ([`task`]).

pub mod task;

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_api::v1beta1::IPAddressPool;

use serde_json::Value;

/// Label put on every CR the migration creates.
pub const MIGRATED_LABEL: &str = "ferrolb.io/migrated-from";
/// Value of [`MIGRATED_LABEL`].
pub const MIGRATED_VALUE: &str = "configmap";
/// ConfigMap annotation: hash of the payload last migrated.
pub const HASH_ANNOTATION: &str = "ferrolb.io/migrated-hash";
/// ConfigMap annotation: human-readable outcome of the last migration.
pub const RESULT_ANNOTATION: &str = "ferrolb.io/migration";
/// Annotation on every migrated object: the migration set it belongs to (the payload hash).
pub const SET_ANNOTATION: &str = "ferrolb.io/migration-set";
/// Annotation on every migrated object: how many IPAddressPools its migration set applies.
pub const SET_SIZE_ANNOTATION: &str = "ferrolb.io/migration-set-size";

/// A CR that exists in ferrolb's namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Existing {
    /// Kind, e.g. `IPAddressPool`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Carries [`MIGRATED_LABEL`].
    pub migrated: bool,
}

/// What to do for one payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Objects to server-side apply (labelled).
    pub apply: Vec<Value>,
    /// Existing objects not created by the migration that would be overwritten: skipped.
    pub conflicts: Vec<String>,
    /// (kind, name) of migrated objects the payload no longer yields: delete.
    pub prune: Vec<(String, String)>,
    /// Converter warnings (renamed pools, ...).
    pub warnings: Vec<String>,
}

impl Plan {
    /// One-line summary for the annotation and the event.
    pub fn summary(&self) -> String {
        let mut s = format!("applied {} object(s)", self.apply.len());
        if !self.prune.is_empty() {
            s.push_str(&format!(
                ", deleted {} no longer in the ConfigMap",
                self.prune.len()
            ));
        }
        if !self.conflicts.is_empty() {
            s.push_str(&format!("; not overwritten: {}", self.conflicts.join("; ")));
        }
        s
    }
}

/// Converts `payload` and decides what to apply, given the CRs that already exist.
pub fn plan(payload: &str, namespace: &str, existing: &[Existing]) -> Result<Plan, String> {
    let legacy = ferrolb_api::legacy::parse(payload).map_err(|e| e.to_string())?;
    let converted = ferrolb_migrate::convert(&legacy, namespace).map_err(|e| e.to_string())?;
    let mut plan = Plan {
        warnings: converted.warnings.clone(),
        ..Default::default()
    };
    let mut produced = BTreeSet::new();
    for mut obj in converted.objects() {
        let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        produced.insert((kind.clone(), name.clone()));
        if let Some(e) = existing.iter().find(|e| e.kind == kind && e.name == name)
            && !e.migrated
        {
            plan.conflicts.push(format!(
                "{kind} {name:?} already exists and was not created by the migration"
            ));
            continue;
        }
        obj["metadata"]["labels"][MIGRATED_LABEL] = Value::String(MIGRATED_VALUE.into());
        plan.apply.push(obj);
    }
    plan.prune = existing
        .iter()
        .filter(|e| e.migrated && !produced.contains(&(e.kind.clone(), e.name.clone())))
        .map(|e| (e.kind.clone(), e.name.clone()))
        .collect();
    stamp_set(&mut plan.apply, &payload_hash(payload));
    Ok(plan)
}

/// Marks every object to apply as a member of set `hash`, sized by the IPAddressPools applied
/// (a pool skipped as a conflict is not awaited).
fn stamp_set(apply: &mut [Value], hash: &str) {
    let size = apply
        .iter()
        .filter(|o| o["kind"] == "IPAddressPool")
        .count();
    for obj in apply {
        let annotations = &mut obj["metadata"]["annotations"];
        annotations[SET_ANNOTATION] = Value::String(hash.to_owned());
        annotations[SET_SIZE_ANNOTATION] = Value::String(size.to_string());
    }
}

/// An IP a Service holds, with the pool it was allocated from (its
/// `metallb.io/ip-allocated-from-pool` annotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse {
    /// The Service, `namespace/name`.
    pub service: String,
    /// The pool.
    pub pool: String,
    /// The IP.
    pub ip: IpAddr,
}

/// Why applying `plan` would take an IP from a Service: a pool holding IPs would be deleted,
/// or would no longer contain one of them (shrunk, or `avoid-buggy-ips` turned on). Empty:
/// the plan is safe to apply.
pub fn refusals(plan: &Plan, in_use: &[InUse]) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, name) in &plan.prune {
        if kind != "IPAddressPool" {
            continue;
        }
        for u in in_use.iter().filter(|u| &u.pool == name) {
            out.push(format!(
                "IPAddressPool {name:?} would be deleted but Service {} holds {} from it",
                u.service, u.ip
            ));
        }
    }
    for obj in plan.apply.iter().filter(|o| o["kind"] == "IPAddressPool") {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let holders: Vec<&InUse> = in_use.iter().filter(|u| u.pool == name).collect();
        if holders.is_empty() {
            continue;
        }
        let pool = serde_json::from_value::<IPAddressPool>(obj.clone())
            .map_err(|e| e.to_string())
            .and_then(|p| ferrolb_kube::convert::pool_spec(&p).map_err(|e| e.to_string()))
            .and_then(|spec| spec.parse().map_err(|e| e.to_string()));
        match pool {
            Err(e) => out.push(format!("IPAddressPool {name:?}: {e}")),
            Ok(pool) => out.extend(holders.iter().filter(|u| !pool.contains(&u.ip)).map(|u| {
                format!(
                    "IPAddressPool {name:?} would no longer contain {}, held by Service {}",
                    u.ip, u.service
                )
            })),
        }
    }
    out
}

/// What a migration attempt ended with, as recorded on the ConfigMap, in an event and in the
/// `configMigrationValid` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The configuration was migrated (the condition is `True`).
    pub ok: bool,
    /// The event is a Warning.
    pub warning: bool,
    /// One line: the annotation's value, the event's note, the condition's message.
    pub summary: String,
}

impl Outcome {
    /// The payload could not be converted: nothing applied.
    pub fn invalid(message: &str) -> Self {
        Outcome {
            ok: false,
            warning: true,
            summary: format!("not migrated: {message}"),
        }
    }

    /// The plan would take IPs from Services: nothing applied.
    pub fn refused(reasons: &[String]) -> Self {
        Outcome {
            ok: false,
            warning: true,
            summary: format!(
                "not migrated, the last applied configuration keeps serving: {}",
                reasons.join("; ")
            ),
        }
    }

    /// The plan was applied (conflicting objects skipped).
    pub fn applied(plan: &Plan) -> Self {
        let conflicts = !plan.conflicts.is_empty();
        Outcome {
            ok: !conflicts,
            warning: conflicts,
            summary: plan.summary(),
        }
    }

    /// The event's reason (MetalLB has no migration events; these are ferrolb's).
    pub fn reason(&self) -> &'static str {
        if self.ok {
            "ConfigMigrated"
        } else {
            "ConfigMigrationFailed"
        }
    }
}

/// Hex SHA-256 prefix of a payload, to recognise one already migrated.
pub fn payload_hash(payload: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(payload.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: &str = "address-pools:\n- name: nginx-ip-range\n  protocol: layer2\n  addresses:\n  - 192.168.1.11-192.168.1.13\n";

    fn names(p: &Plan) -> Vec<(String, String)> {
        p.apply
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap_or_default().into(),
                    o["metadata"]["name"].as_str().unwrap_or_default().into(),
                )
            })
            .collect()
    }

    #[test]
    fn book_config_becomes_pool_and_l2_advertisement() {
        let p = plan(BOOK, "metallb-system", &[]).expect("plan");
        assert_eq!(
            names(&p),
            [
                ("IPAddressPool".into(), "nginx-ip-range".into()),
                ("L2Advertisement".into(), "l2advertisement1".into())
            ]
        );
        for o in &p.apply {
            assert_eq!(o["metadata"]["namespace"], "metallb-system");
            assert_eq!(o["metadata"]["labels"][MIGRATED_LABEL], MIGRATED_VALUE);
        }
        assert_eq!(
            p.apply[0]["spec"]["addresses"][0],
            "192.168.1.11-192.168.1.13"
        );
        assert!(p.conflicts.is_empty() && p.prune.is_empty());
        assert_eq!(p.summary(), "applied 2 object(s)");
    }

    #[test]
    fn every_object_names_its_set_and_the_pools_it_applies() {
        let two = "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.0.0.0/30]\n- name: b\n  protocol: layer2\n  addresses: [10.0.1.0/30]\n";
        let p = plan(two, "metallb-system", &[]).expect("plan");
        assert!(p.apply.len() > 2, "{:?}", names(&p));
        for o in &p.apply {
            let ann = &o["metadata"]["annotations"];
            assert_eq!(ann[SET_ANNOTATION], payload_hash(two).as_str(), "{o}");
            assert_eq!(ann[SET_SIZE_ANNOTATION], "2", "{o}");
        }
        // A pool skipped as a conflict is not awaited.
        let existing = [Existing {
            kind: "IPAddressPool".into(),
            name: "b".into(),
            migrated: false,
        }];
        let p = plan(two, "metallb-system", &existing).expect("plan");
        assert!(
            p.apply
                .iter()
                .all(|o| o["metadata"]["annotations"][SET_SIZE_ANNOTATION] == "1")
        );
    }

    #[test]
    fn user_objects_are_not_overwritten() {
        let existing = [Existing {
            kind: "IPAddressPool".into(),
            name: "nginx-ip-range".into(),
            migrated: false,
        }];
        let p = plan(BOOK, "metallb-system", &existing).expect("plan");
        assert_eq!(
            names(&p),
            [("L2Advertisement".into(), "l2advertisement1".into())]
        );
        assert_eq!(p.conflicts.len(), 1);
        assert!(
            p.summary()
                .contains("IPAddressPool \"nginx-ip-range\" already exists"),
            "{}",
            p.summary()
        );
    }

    #[test]
    fn re_migration_updates_and_prunes_only_migrated_objects() {
        let existing = [
            Existing {
                kind: "IPAddressPool".into(),
                name: "nginx-ip-range".into(),
                migrated: true,
            },
            Existing {
                kind: "IPAddressPool".into(),
                name: "old-pool".into(),
                migrated: true,
            },
            Existing {
                kind: "IPAddressPool".into(),
                name: "users-own".into(),
                migrated: false,
            },
        ];
        let p = plan(BOOK, "metallb-system", &existing).expect("plan");
        assert_eq!(p.apply.len(), 2, "migrated objects are re-applied");
        assert_eq!(
            p.prune,
            [("IPAddressPool".to_string(), "old-pool".to_string())]
        );
    }

    #[test]
    fn invalid_payload_applies_nothing_and_names_the_key() {
        let err = plan(
            "address-pools:\n- name: a\n  protocl: layer2\n",
            "metallb-system",
            &[],
        )
        .expect_err("typo");
        assert!(err.contains("address-pools[0].protocl"), "{err}");
        let err = plan(
            "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.0.0.0/33]\n",
            "metallb-system",
            &[],
        )
        .expect_err("bad cidr");
        assert!(err.contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn hash_is_stable_and_distinguishes_payloads() {
        assert_eq!(payload_hash(BOOK), payload_hash(BOOK));
        assert_ne!(payload_hash(BOOK), payload_hash("peers: []\n"));
        assert_eq!(payload_hash(BOOK).len(), 24);
    }

    fn held(pool: &str, ip: &str) -> InUse {
        InUse {
            service: "default/web".into(),
            pool: pool.into(),
            ip: ip.parse().expect("ip"),
        }
    }

    fn migrated_pool(name: &str) -> Existing {
        Existing {
            kind: "IPAddressPool".into(),
            name: name.into(),
            migrated: true,
        }
    }

    #[test]
    fn emptying_the_payload_never_deletes_a_pool_holding_ips() {
        let existing = [migrated_pool("nginx-ip-range"), migrated_pool("idle")];
        let p = plan("peers: []\n", "metallb-system", &existing).expect("plan");
        assert_eq!(p.prune.len(), 2);
        let refused = refusals(&p, &[held("nginx-ip-range", "192.168.1.12")]);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("\"nginx-ip-range\" would be deleted")
                && refused[0].contains("192.168.1.12"),
            "{refused:?}"
        );
        assert!(
            refusals(&p, &[]).is_empty(),
            "no IPs held: the pools may go"
        );
        let outcome = Outcome::refused(&refused);
        assert!(!outcome.ok && outcome.warning);
        assert_eq!(outcome.reason(), "ConfigMigrationFailed");
        assert!(
            outcome.summary.contains("keeps serving"),
            "{}",
            outcome.summary
        );
    }

    #[test]
    fn shrinking_a_pool_may_not_drop_an_ip_in_use() {
        let existing = [migrated_pool("nginx-ip-range")];
        let shrunk = "address-pools:\n- name: nginx-ip-range\n  protocol: layer2\n  addresses:\n  - 192.168.1.11-192.168.1.12\n";
        let p = plan(shrunk, "metallb-system", &existing).expect("plan");
        assert!(refusals(&p, &[held("nginx-ip-range", "192.168.1.12")]).is_empty());
        let refused = refusals(&p, &[held("nginx-ip-range", "192.168.1.13")]);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("no longer contain 192.168.1.13"),
            "{refused:?}"
        );
        // IPs of other pools do not matter.
        assert!(refusals(&p, &[held("other", "192.168.1.13")]).is_empty());
        // Turning avoid-buggy-ips on would take `.0` from its Service.
        let buggy = "address-pools:\n- name: nginx-ip-range\n  protocol: layer2\n  avoid-buggy-ips: true\n  addresses:\n  - 192.168.1.0/24\n";
        let p = plan(buggy, "metallb-system", &existing).expect("plan");
        assert_eq!(
            refusals(&p, &[held("nginx-ip-range", "192.168.1.0")]).len(),
            1
        );
    }

    #[test]
    fn outcomes() {
        let p = plan(BOOK, "metallb-system", &[]).expect("plan");
        let ok = Outcome::applied(&p);
        assert!(ok.ok && !ok.warning);
        assert_eq!(ok.reason(), "ConfigMigrated");
        let bad = Outcome::invalid("address-pools[0]: bad");
        assert_eq!(bad.summary, "not migrated: address-pools[0]: bad");
        assert!(!bad.ok && bad.warning);
    }
}
