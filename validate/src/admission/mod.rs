//! Admission decisions: one CREATE, UPDATE or DELETE of a configuration object, judged against
//! the objects already stored.
//!
//! MetalLB's webhooks (`internal/k8s/webhooks/*`) hand each kind's validator only its own list
//! (plus pools or nodes for some kinds) with the incoming object replacing the same-named one,
//! run `config.For()` and deny on any error (§2.1). ferrolb instead validates the *whole*
//! configuration before and after the change and denies what the change **introduces**:
//!
//! * the MetalLB rules on the incoming object and its relations (overlapping pools, aggregation
//!   length vs pool prefixes, localPref conflicts, alias uniqueness, …) are enforced as before;
//! * cross-kind breakage MetalLB lets through is refused: shrinking a pool an advertisement's
//!   aggregation length depends on, removing or deleting a Community alias still used, deleting
//!   a BFDProfile still referenced (MetalLB's W2 message: `failed to delete BFDProfile <name>,
//!   used by BGPPeer <peer>`);
//! * a problem that already existed (e.g. objects stored before the webhook ran) never blocks an
//!   unrelated edit;
//! * a reference from the incoming object to something that does not exist yet (a BFDProfile or
//!   Community alias applied later in the same `kubectl apply`) is a warning, not a denial — the
//!   reason MetalLB blanks such references before validating.
//!
//! Also kept from MetalLB: CREATE outside ferrolb's namespace is denied (W1,
//! `resource must be created in <ns> namespace`); `disableMP: true` gives MetalLB's deprecation
//! warning (W4, without W4's skipping of every other check). Added: a warning when a pool edit
//! or deletion moves the IPs of Services ("this change moves the IPs of N Services: …").

use std::collections::BTreeSet;

use ferrolb_api::v1beta1::{
    BFDProfile, BGPAdvertisement, Community, IPAddressPool, L2Advertisement,
};
use ferrolb_api::v1beta2::BGPPeer;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::{ClusterResources, Kind, Options, Problem, ServiceIps};
use crate::{cel, peers, pools, validate};

/// An admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// CREATE.
    Create,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
}

/// A configuration object of any kind.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// IPAddressPool.
    Pool(IPAddressPool),
    /// BGPPeer (v1beta2).
    Peer(BGPPeer),
    /// BGPAdvertisement.
    BgpAdvertisement(BGPAdvertisement),
    /// L2Advertisement.
    L2Advertisement(L2Advertisement),
    /// Community.
    Community(Community),
    /// BFDProfile.
    BfdProfile(BFDProfile),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Pool(_) => Kind::IPAddressPool,
            Self::Peer(_) => Kind::BGPPeer,
            Self::BgpAdvertisement(_) => Kind::BGPAdvertisement,
            Self::L2Advertisement(_) => Kind::L2Advertisement,
            Self::Community(_) => Kind::Community,
            Self::BfdProfile(_) => Kind::BFDProfile,
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Self::Pool(o) => &o.metadata,
            Self::Peer(o) => &o.metadata,
            Self::BgpAdvertisement(o) => &o.metadata,
            Self::L2Advertisement(o) => &o.metadata,
            Self::Community(o) => &o.metadata,
            Self::BfdProfile(o) => &o.metadata,
        }
    }

    /// The configuration object of a parsed manifest document (v1beta1 BGPPeers converted),
    /// or `None` for other kinds.
    pub fn from_api(obj: ferrolb_api::manifest::ApiObject) -> Option<Self> {
        use ferrolb_api::manifest::ApiObject;
        Some(match obj {
            ApiObject::IPAddressPool(o) => Self::Pool(o),
            ApiObject::BGPPeer(o) => Self::Peer(o),
            ApiObject::BGPPeerV1beta1(o) => Self::Peer(crate::conversion::to_v1beta2(&o)),
            ApiObject::BGPAdvertisement(o) => Self::BgpAdvertisement(o),
            ApiObject::L2Advertisement(o) => Self::L2Advertisement(o),
            ApiObject::Community(o) => Self::Community(o),
            ApiObject::BFDProfile(o) => Self::BfdProfile(o),
            _ => return None,
        })
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or("")
    }
}

/// One admission request.
#[derive(Debug, Clone)]
pub struct Request {
    /// CREATE, UPDATE or DELETE.
    pub operation: Operation,
    /// Kind of the object.
    pub kind: Kind,
    /// Name of the object.
    pub name: String,
    /// Namespace of the request.
    pub namespace: String,
    /// The new object (CREATE, UPDATE).
    pub object: Option<Object>,
    /// The stored object (UPDATE, DELETE).
    pub old_object: Option<Object>,
}

/// The decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Why the request is refused; empty = allowed.
    pub denied: Vec<Problem>,
    /// Admission warnings (shown by kubectl).
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.denied.is_empty()
    }

    /// The denial message: every problem, one after the other.
    pub fn message(&self) -> String {
        let lines: Vec<String> = self.denied.iter().map(ToString::to_string).collect();
        lines.join("; ")
    }
}

fn without(res: &mut ClusterResources, kind: Kind, name: &str) {
    let keep = |m: &ObjectMeta| m.name.as_deref() != Some(name);
    match kind {
        Kind::IPAddressPool => res.pools.retain(|o| keep(&o.metadata)),
        Kind::BGPPeer => res.peers.retain(|o| keep(&o.metadata)),
        Kind::BGPAdvertisement => res.bgp_advertisements.retain(|o| keep(&o.metadata)),
        Kind::L2Advertisement => res.l2_advertisements.retain(|o| keep(&o.metadata)),
        Kind::Community => res.communities.retain(|o| keep(&o.metadata)),
        Kind::BFDProfile => res.bfd_profiles.retain(|o| keep(&o.metadata)),
    }
}

fn with(res: &mut ClusterResources, obj: &Object) {
    match obj.clone() {
        Object::Pool(o) => res.pools.push(o),
        Object::Peer(o) => res.peers.push(o),
        Object::BgpAdvertisement(o) => res.bgp_advertisements.push(o),
        Object::L2Advertisement(o) => res.l2_advertisements.push(o),
        Object::Community(o) => res.communities.push(o),
        Object::BfdProfile(o) => res.bfd_profiles.push(o),
    }
}

/// Rewords a problem a DELETE would cause as MetalLB's W2 does for BFD profiles.
fn deletion_reason(req: &Request, p: &Problem) -> Problem {
    let mut p = p.clone();
    if p.dangling_reference {
        p.reason = format!(
            "failed to delete {} {}, used by {} {} ({}: {})",
            req.kind, req.name, p.kind, p.name, p.field, p.value
        );
        p.kind = req.kind;
        p.name = req.name.clone();
        p.field = "metadata.name".into();
        p.value = req.name.clone();
    }
    p
}

/// Decides one request against the stored objects `existing` (see the module docs).
pub fn admit(existing: &ClusterResources, req: &Request, opts: &Options) -> Verdict {
    let mut verdict = Verdict::default();
    if req.operation == Operation::Create
        && let Some(ns) = &opts.namespace
        && ns != &req.namespace
    {
        verdict.denied.push(Problem::new(
            req.kind,
            &req.name,
            "metadata.namespace",
            req.namespace.clone(),
            format!("resource must be created in {ns} namespace"),
        ));
        return verdict;
    }
    // UPDATE/DELETE outside ferrolb's namespace: such objects are ignored by ferrolb (and absent
    // from `existing`), so there is nothing to judge — MetalLB does not re-check them either.
    if let Some(ns) = &opts.namespace
        && ns != &req.namespace
    {
        return verdict;
    }
    let mut after = existing.clone();
    without(&mut after, req.kind, &req.name);
    if req.operation != Operation::Delete
        && let Some(obj) = &req.object
    {
        with(&mut after, obj);
    }
    let inner = Options { namespace: None };
    let before: BTreeSet<Problem> = validate(existing, &inner).errors.into_iter().collect();
    let now = validate(&after, &inner);
    for p in now.errors.into_iter().filter(|p| !before.contains(p)) {
        let own = p.kind == req.kind && p.name == req.name;
        match req.operation {
            Operation::Delete => verdict.denied.push(deletion_reason(req, &p)),
            _ if own && p.dangling_reference => verdict.warnings.push(p.to_string()),
            _ => verdict.denied.push(p),
        }
    }
    let old_peer = match &req.old_object {
        Some(Object::Peer(p)) => Some(p),
        _ => None,
    };
    let cel_problems = match (&req.operation, &req.object) {
        (Operation::Delete, _) | (_, None) => Vec::new(),
        (_, Some(Object::BgpAdvertisement(a))) => cel::bgp_advertisement(a),
        (_, Some(Object::Peer(p))) => cel::bgp_peer(p, old_peer),
        _ => Vec::new(),
    };
    for c in cel_problems {
        let covered = verdict
            .denied
            .iter()
            .any(|e| e.kind == c.kind && e.name == c.name && e.field.starts_with(c.field.as_str()));
        if !covered {
            verdict.denied.push(c);
        }
    }
    if let (Operation::Create | Operation::Update, Some(Object::Peer(p))) =
        (&req.operation, &req.object)
    {
        let mut w = Vec::new();
        peers::warnings(p, &mut w);
        verdict.warnings.extend(w.iter().map(ToString::to_string));
    }
    if let (Operation::Create | Operation::Update, Some(Object::BfdProfile(b))) =
        (&req.operation, &req.object)
    {
        let mut w = Vec::new();
        crate::bfd::warnings(b, &mut w);
        verdict.warnings.extend(w.iter().map(ToString::to_string));
    }
    if let Some(Object::Pool(old)) = &req.old_object {
        let new = match (&req.operation, &req.object) {
            (Operation::Update, Some(Object::Pool(p))) => Some(p),
            _ => None,
        };
        if let Some(w) = moved_services(old, new, &existing.services) {
            verdict.warnings.push(w);
        }
    }
    verdict
}

/// The warning for Services whose current IPs are in `old` but not in `new` (none when deleted).
pub fn moved_services(
    old: &IPAddressPool,
    new: Option<&IPAddressPool>,
    services: &[ServiceIps],
) -> Option<String> {
    let mut scratch = Vec::new();
    let old_p = pools::check_pool(old, &mut scratch);
    let new_p = new.map(|n| pools::check_pool(n, &mut scratch));
    let moved: Vec<String> = services
        .iter()
        .filter_map(|s| {
            let lost: Vec<String> = s
                .ips
                .iter()
                .filter(|ip| old_p.contains(ip) && !new_p.as_ref().is_some_and(|n| n.contains(ip)))
                .map(ToString::to_string)
                .collect();
            (!lost.is_empty()).then(|| format!("{}/{} ({})", s.namespace, s.name, lost.join(", ")))
        })
        .collect();
    if moved.is_empty() {
        return None;
    }
    const SHOWN: usize = 10;
    let more = moved.len().saturating_sub(SHOWN);
    let mut list = moved
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        list.push_str(&format!(" and {more} more"));
    }
    let name = old.metadata.name.as_deref().unwrap_or("");
    Some(format!(
        "IPAddressPool/{name}: this change moves the IPs of {} Services: {list}",
        moved.len()
    ))
}

#[cfg(test)]
mod tests;
