//! Validation of a whole `metallb.io` configuration, shared by ferrolb's admission webhook and
//! the offline `ferrolb validate`. Pure: no I/O, no async.
//!
//! [`validate`] reproduces MetalLB's semantic parser `config.For()` (`internal/config/config.go`,
//! rules §2.3 of the reference: peers, communities, pools and overlaps, L2 and BGP
//! advertisements, BFD profiles) and its native BGP mode rules (§2.5) for what ferrolb's speaker
//! cannot do, keeping MetalLB's error texts. Unlike `config.For()` it does not stop at the first
//! error: every problem is reported, each with the object, the field, the value and the reason.
//! Objects are validated in name order so that findings are stable whatever order the input
//! came in. Which MetalLB rules are deliberately not copied is documented in [`peers`], [`ads`]
//! and [`bfd`].
//!
//! [`admission::admit`] decides one admission request against the objects already stored: an
//! edit is refused when it *introduces* a problem anywhere in the configuration — which catches
//! the cross-kind breakage MetalLB's per-kind webhooks let through (shrinking a pool that an
//! advertisement's aggregation length depends on, deleting a Community alias or a BFDProfile
//! still referenced) — and warns about risky but legal edits (a pool edit that moves Services'
//! IPs). [`conversion`] is MetalLB's BGPPeer v1beta1 ↔ v1beta2 conversion.
//!
//! ```
//! use ferrolb_validate::{ClusterResources, Options, validate};
//! let yaml = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a, namespace: metallb-system}\nspec:\n  addresses: [10.0.0.0/24, 10.0.0.128/25]\n";
//! let pool = ferrolb_api::yaml::from_str(yaml)?;
//! let report = validate(&ClusterResources { pools: vec![pool], ..Default::default() }, &Options::default());
//! assert_eq!(
//!     report.errors[0].to_string(),
//!     "IPAddressPool/a: spec.addresses[1]: CIDR \"10.0.0.128/25\" in pool \"a\" overlaps with already defined CIDR \"10.0.0.0/24\" (pool \"a\")"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod admission;
pub mod ads;
pub mod bfd;
pub mod cel;
pub mod communities;
pub mod conversion;
mod model;
pub mod peers;
pub mod pools;
pub mod selectors;

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use model::{ClusterResources, Kind, NodeInfo, Options, Problem, Report, ServiceIps};

fn sorted<T: Clone>(items: &[T], meta: impl Fn(&T) -> &ObjectMeta) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort_by(|a, b| meta(a).name.cmp(&meta(b).name));
    v
}

/// Object-level checks: names unique per kind (A4, F2, P16, B7 — only reachable offline, where
/// a manifest may define an object twice) and, when [`Options::namespace`] is set, objects
/// explicitly placed in another namespace (the webhook's W1).
fn check_objects<'a>(
    kind: Kind,
    metas: impl Iterator<Item = &'a ObjectMeta>,
    opts: &Options,
    problems: &mut Vec<Problem>,
) {
    let mut seen = BTreeSet::new();
    for m in metas {
        let name = m.name.as_deref().unwrap_or("");
        if !seen.insert(name) {
            problems.push(Problem::new(
                kind,
                name,
                "metadata.name",
                name,
                format!("duplicate definition of {kind} {name:?}"),
            ));
        }
        if let (Some(want), Some(ns)) = (&opts.namespace, m.namespace.as_deref())
            && want != ns
        {
            problems.push(Problem::new(
                kind,
                name,
                "metadata.namespace",
                ns,
                format!("resource must be created in {want} namespace"),
            ));
        }
    }
}

/// Validates a whole configuration (see the crate docs).
pub fn validate(res: &ClusterResources, opts: &Options) -> Report {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let pools_in = sorted(&res.pools, |p| &p.metadata);
    let peers_in = sorted(&res.peers, |p| &p.metadata);
    let bgp_in = sorted(&res.bgp_advertisements, |a| &a.metadata);
    let l2_in = sorted(&res.l2_advertisements, |a| &a.metadata);
    let comm_in = sorted(&res.communities, |c| &c.metadata);
    let bfd_in = sorted(&res.bfd_profiles, |b| &b.metadata);

    check_objects(
        Kind::IPAddressPool,
        pools_in.iter().map(|o| &o.metadata),
        opts,
        &mut errors,
    );
    check_objects(
        Kind::BGPPeer,
        peers_in.iter().map(|o| &o.metadata),
        opts,
        &mut errors,
    );
    check_objects(
        Kind::BGPAdvertisement,
        bgp_in.iter().map(|o| &o.metadata),
        opts,
        &mut errors,
    );
    check_objects(
        Kind::L2Advertisement,
        l2_in.iter().map(|o| &o.metadata),
        opts,
        &mut errors,
    );
    check_objects(
        Kind::Community,
        comm_in.iter().map(|o| &o.metadata),
        opts,
        &mut errors,
    );
    check_objects(
        Kind::BFDProfile,
        bfd_in.iter().map(|o| &o.metadata),
        opts,
        &mut errors,
    );

    // MetalLB's order: BFD profiles → peers → communities → pools → L2 ads → BGP ads.
    for b in &bfd_in {
        bfd::check(b, &mut errors);
        bfd::warnings(b, &mut warnings);
    }
    let bfd_names: BTreeSet<&str> = bfd_in
        .iter()
        .filter_map(|b| b.metadata.name.as_deref())
        .collect();
    for p in &peers_in {
        peers::check_peer(p, &bfd_names, &mut errors);
        peers::warnings(p, &mut warnings);
    }
    let aliases = communities::check(&comm_in, &mut errors);
    let parsed_pools: Vec<pools::ParsedPool> = pools_in
        .iter()
        .map(|p| pools::check_pool(p, &mut errors))
        .collect();
    pools::check_overlaps(&parsed_pools, &mut errors);
    for a in &l2_in {
        ads::check_l2(a, &mut errors);
    }
    ads::check_bgp(&bgp_in, &parsed_pools, &aliases, &res.nodes, &mut errors);
    Report { errors, warnings }
}

/// [`validate`] plus the CRDs' CEL rules on every BGPAdvertisement and BGPPeer (what the API
/// server would also check). A CEL finding on a field that already has a semantic problem is
/// dropped, so one mistake gives one line.
pub fn validate_with_cel(res: &ClusterResources, opts: &Options) -> Report {
    let mut report = validate(res, opts);
    let cel = res
        .bgp_advertisements
        .iter()
        .flat_map(cel::bgp_advertisement)
        .chain(res.peers.iter().flat_map(|p| cel::bgp_peer(p, None)));
    let mut extra = Vec::new();
    for c in cel {
        let covered = report
            .errors
            .iter()
            .any(|e| e.kind == c.kind && e.name == c.name && e.field.starts_with(c.field.as_str()));
        if !covered {
            extra.push(c);
        }
    }
    report.errors.extend(extra);
    report
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
