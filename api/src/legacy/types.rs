//! Types of the legacy ConfigMap payload. Every struct denies unknown keys; serde's derive
//! rejects a repeated key within a struct, and [`StrictMap`] within a map.

use std::fmt;

use serde::de::{Deserializer, Error, Visitor};
use serde::{Deserialize, Serialize};

use super::StrictMap;

/// The whole payload: `peers`, `bgp-communities`, `address-pools`, `bfd-profiles`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LegacyConfig {
    /// BGP peers.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Community aliases: name → `A:B`.
    #[serde(default)]
    pub bgp_communities: StrictMap,
    /// Address pools.
    #[serde(default)]
    pub address_pools: Vec<AddressPool>,
    /// BFD profiles (v0.12).
    #[serde(default)]
    pub bfd_profiles: Vec<BfdProfile>,
}

/// One `peers[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Peer {
    /// Local ASN (required, non-zero).
    #[serde(default)]
    pub my_asn: Option<u32>,
    /// Peer ASN (required, non-zero).
    #[serde(default)]
    pub peer_asn: Option<u32>,
    /// Peer IP (required).
    #[serde(default)]
    pub peer_address: Option<String>,
    /// Source IP.
    #[serde(default)]
    pub source_address: Option<String>,
    /// Peer port; 0 or unset means 179.
    #[serde(default)]
    pub peer_port: Option<u16>,
    /// Hold time (Go duration; default 90s).
    #[serde(default, deserialize_with = "opt_scalar")]
    pub hold_time: Option<String>,
    /// Keepalive time (v0.12; Go duration).
    #[serde(default, deserialize_with = "opt_scalar")]
    pub keepalive_time: Option<String>,
    /// Router ID.
    #[serde(default)]
    pub router_id: Option<String>,
    /// TCP MD5 password.
    #[serde(default, deserialize_with = "opt_scalar")]
    pub password: Option<String>,
    /// BFD profile name (v0.12).
    #[serde(default)]
    pub bfd_profile: Option<String>,
    /// eBGP multi-hop (v0.12).
    #[serde(default)]
    pub ebgp_multihop: Option<bool>,
    /// Node selectors; empty means all nodes.
    #[serde(default)]
    pub node_selectors: Vec<NodeSelector>,
}

/// One `node-selectors[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeSelector {
    /// Exact label matches.
    #[serde(default)]
    pub match_labels: StrictMap,
    /// Expression matches.
    #[serde(default)]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `match-expressions[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// One `address-pools[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AddressPool {
    /// Pool name (required, unique).
    #[serde(default)]
    pub name: Option<String>,
    /// `layer2` or `bgp` (required).
    #[serde(default)]
    pub protocol: Option<String>,
    /// CIDRs or `A-B` ranges (required).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub auto_assign: Option<bool>,
    /// Skip `.0`/`.255`.
    #[serde(default)]
    pub avoid_buggy_ips: Option<bool>,
    /// BGP advertisements (bgp pools only).
    #[serde(default)]
    pub bgp_advertisements: Vec<BgpAdvertisement>,
}

/// One `bgp-advertisements[]` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BgpAdvertisement {
    /// IPv4 aggregation length; default 32.
    #[serde(default)]
    pub aggregation_length: Option<i32>,
    /// IPv6 aggregation length (v0.12); default 128.
    #[serde(default, rename = "aggregation-length-v6")]
    pub aggregation_length_v6: Option<i32>,
    /// LOCAL_PREF.
    #[serde(default, rename = "localpref")]
    pub local_pref: Option<u32>,
    /// Community aliases or literals.
    #[serde(default)]
    pub communities: Vec<String>,
}

/// One `bfd-profiles[]` entry (v0.12).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BfdProfile {
    /// Profile name (required, unique).
    #[serde(default)]
    pub name: Option<String>,
    /// ms, 10..=60000.
    #[serde(default)]
    pub receive_interval: Option<u32>,
    /// ms, 10..=60000.
    #[serde(default)]
    pub transmit_interval: Option<u32>,
    /// 2..=255.
    #[serde(default)]
    pub detect_multiplier: Option<u32>,
    /// ms, 10..=60000.
    #[serde(default)]
    pub echo_interval: Option<u32>,
    /// Echo mode.
    #[serde(default)]
    pub echo_mode: Option<bool>,
    /// Passive mode.
    #[serde(default)]
    pub passive_mode: Option<bool>,
    /// 1..=254.
    #[serde(default)]
    pub minimum_ttl: Option<u32>,
}

/// Any YAML scalar read as a string, as yaml.v2 does for Go `string` fields (`hold-time: 90`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

fn opt_scalar<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(deserializer)?.map(|s| s.0))
}
