//! Why a legacy configuration cannot be migrated.
//!
//! Each [`Reason`] keeps the wording of MetalLB v0.12.1's `config.Parse` (and of
//! `configmaptocrs` for name conversion), and each error carries the key path of the offending
//! value in the ConfigMap payload, e.g. `peers[0].hold-time: invalid hold time "2s": must be 0
//! or >=3s`. The first error found wins, in MetalLB's order (names, BFD profiles, peers,
//! communities, pools).

use ferrolb_core::PoolError;
use ferrolb_core::selector::SelectorError;

use crate::community::CommunityError;
use ferrolb_api::duration::DurationError;

/// A migration failure: where (key path in the `config` payload) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    /// A value of the legacy configuration is invalid.
    #[error("{path}: {reason}")]
    Invalid {
        /// Key path, e.g. `address-pools[1].bgp-advertisements[0].aggregation-length`.
        path: String,
        /// What is wrong, with the offending value (boxed: errors stay small).
        reason: Box<Reason>,
    },
}

impl MigrateError {
    pub(crate) fn at(path: impl Into<String>, reason: Reason) -> Self {
        Self::Invalid {
            path: path.into(),
            reason: Box::new(reason),
        }
    }

    /// The key path of the offending value.
    pub fn path(&self) -> &str {
        match self {
            Self::Invalid { path, .. } => path,
        }
    }

    /// What is wrong.
    pub fn reason(&self) -> &Reason {
        match self {
            Self::Invalid { reason, .. } => reason,
        }
    }
}

/// What is wrong with a value; messages follow MetalLB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// A pool or BFD profile name without any letter.
    #[error("failed to make {kind} K8S compatible: {name}")]
    IncompatibleName {
        /// `IpAddressPool` or `BFDProfile`.
        kind: &'static str,
        /// The name as written.
        name: String,
    },
    /// `bfd-profiles[].name` missing.
    #[error("missing bfd profile name")]
    MissingBfdName,
    /// A BFD setting out of range.
    #[error("{what}: invalid value {value}, must be in {min}-{max} range")]
    BfdRange {
        /// `invalid detect multiplier value`, …
        what: &'static str,
        /// The value.
        value: u32,
        /// Lower bound.
        min: u32,
        /// Upper bound.
        max: u32,
    },
    /// Two BFD profiles with the same (converted) name.
    #[error("found duplicate bfd profile name {0}")]
    DuplicateBfdProfile(String),
    /// `my-asn` missing or 0.
    #[error("missing local ASN")]
    MissingLocalAsn,
    /// `peer-asn` missing or 0.
    #[error("missing peer ASN")]
    MissingPeerAsn,
    /// `ebgp-multihop: true` on an iBGP session.
    #[error("invalid ebgp-multihop parameter set for an ibgp peer (my-asn = peer-asn = {0})")]
    EbgpMultihopForIbgp(u32),
    /// `peer-address` missing or not an IP.
    #[error("invalid peer IP {0:?}")]
    InvalidPeerIp(String),
    /// `hold-time` is not a duration, or is below 3s (and not 0).
    #[error("invalid hold time {value:?}: {reason}")]
    InvalidHoldTime {
        /// As written.
        value: String,
        /// Parse error or `must be 0 or >=3s`.
        reason: String,
    },
    /// `keepalive-time` is not a duration.
    #[error("invalid keepalive time {value:?}: {source}")]
    InvalidKeepaliveTime {
        /// As written.
        value: String,
        /// Parse error.
        source: DurationError,
    },
    /// `keepalive-time` longer than the hold time.
    #[error("invalid keepaliveTime {keepalive:?}: must be lower than the hold time {hold}")]
    KeepaliveAboveHold {
        /// As written.
        keepalive: String,
        /// The effective hold time.
        hold: String,
    },
    /// `router-id` not an IP.
    #[error("invalid router ID {0:?}")]
    InvalidRouterId(String),
    /// `source-address` not an IP.
    #[error("invalid source IP {0:?}")]
    InvalidSourceIp(String),
    /// A node selector does not convert to a label selector.
    #[error("parsing node selector: {0}")]
    InvalidNodeSelector(SelectorError),
    /// `bfd-profile` names no entry of `bfd-profiles`.
    #[error("referencing non existing bfd profile {0}")]
    UnknownBfdProfile(String),
    /// Two identical peers.
    #[error("peer already exists (same as peers[{0}])")]
    DuplicatePeer(usize),
    /// A `bgp-communities` value does not parse.
    #[error("parsing community {alias:?}: {source}")]
    InvalidCommunityAlias {
        /// The alias.
        alias: String,
        /// Why.
        source: CommunityError,
    },
    /// An advertisement's community is neither an alias nor a valid literal.
    #[error("invalid community {value:?} in BGP advertisement: {source}")]
    InvalidCommunity {
        /// As written.
        value: String,
        /// Why.
        source: CommunityError,
    },
    /// The same community twice in one advertisement.
    #[error("duplicate definition of community {0:?}")]
    DuplicateCommunity(String),
    /// `address-pools[].name` missing.
    #[error("missing pool name")]
    MissingPoolName,
    /// `protocol` missing.
    #[error("address pool is missing the protocol field")]
    MissingProtocol,
    /// `bgp-advertisements` in a `layer2` pool.
    #[error("cannot have bgp-advertisements configuration element in a layer2 address pool")]
    BgpAdvertisementsInLayer2,
    /// Two identical advertisements in one pool (1-based positions, as MetalLB prints them).
    #[error("duplicate definition of bgpadvertisements. advertisement {0} and {1} are equal")]
    DuplicateAdvertisement(usize, usize),
    /// `aggregation-length` > 32 or `aggregation-length-v6` > 128.
    #[error("invalid aggregation length \"{length}\" for {family}")]
    AggregationLengthOutOfRange {
        /// The value.
        length: i32,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// A pool entry has a prefix longer than the aggregation length.
    #[error(
        "invalid aggregation length {length}: prefix {prefix} in this pool is more specific than the aggregation length for addresses {addresses}"
    )]
    AggregationTooSpecific {
        /// The aggregation length of the entry's family.
        length: i32,
        /// The least specific prefix length among the entry's CIDRs.
        prefix: u8,
        /// The `addresses` entry.
        addresses: String,
    },
    /// Pool errors shared with the CRD path (no prefixes, bad CIDR or range, overlap,
    /// duplicate name), from `ferrolb-core`.
    #[error(transparent)]
    Pool(PoolError),
}
