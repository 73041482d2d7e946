//! Address-pool rules of MetalLB v0.12.1 (`parseAddressPool`, `parseBGPAdvertisements`,
//! overlap check of `config.Parse`), with address parsing and overlap detection delegated to
//! `ferrolb-core` (the same code that validates `IPAddressPool` CRs).
//!
//! A pool needs a name, at least one address (CIDR or `A-B` range) and a protocol. `layer2`
//! pools may not have `bgp-advertisements`. Advertisements: no two equal; per advertisement no
//! duplicate community; `aggregation-length` ≤ 32, `aggregation-length-v6` ≤ 128, and each
//! `addresses` entry's least specific prefix no longer than the aggregation length of its
//! family; communities are aliases of `bgp-communities` or `A:B` literals. Pool names are unique
//! (after name conversion) and no CIDR overlaps another, in the same or another pool.
//!
//! Unlike v0.12 (which rejected it), an unknown `protocol` (e.g. `l2`) is accepted, as
//! `configmaptocrs` accepts it: the pool gets no L2Advertisement. A warning says so.

use ferrolb_api::legacy::{BgpAdvertisement, LegacyConfig};
use ferrolb_core::pool::parse_entry;
use ferrolb_core::{PoolError, PoolSet, PoolSpec};
use ipnet::IpNet;

use crate::community;
use crate::error::{MigrateError, Reason};

/// Checks every pool; `pool_names` are the converted names by pool index. Pools that get no
/// advertisement are reported in `warnings`.
pub(crate) fn check_pools(
    config: &LegacyConfig,
    pool_names: &[String],
    warnings: &mut Vec<String>,
) -> Result<(), MigrateError> {
    for (i, pool) in config.address_pools.iter().enumerate() {
        let name = &pool_names[i];
        let base = format!("address-pools[{i}]");
        if pool.addresses.is_empty() {
            return Err(MigrateError::at(
                format!("{base}.addresses"),
                Reason::Pool(PoolError::Empty { pool: name.clone() }),
            ));
        }
        let mut entries = Vec::with_capacity(pool.addresses.len());
        for (k, entry) in pool.addresses.iter().enumerate() {
            let nets = parse_entry(entry).map_err(|reason| {
                MigrateError::at(
                    format!("{base}.addresses[{k}]"),
                    Reason::Pool(PoolError::InvalidAddress {
                        pool: name.clone(),
                        entry: entry.clone(),
                        reason,
                    }),
                )
            })?;
            entries.push((entry.as_str(), nets));
        }
        match pool.protocol.as_deref() {
            Some("layer2") if !pool.bgp_advertisements.is_empty() => {
                return Err(MigrateError::at(
                    format!("{base}.bgp-advertisements"),
                    Reason::BgpAdvertisementsInLayer2,
                ));
            }
            Some("layer2") => {}
            None | Some("") => {
                return Err(MigrateError::at(
                    format!("{base}.protocol"),
                    Reason::MissingProtocol,
                ));
            }
            Some(other) => {
                if other != "bgp" {
                    warnings.push(format!(
                        "{base}.protocol: unknown protocol {other:?}: pool {name:?} gets no L2Advertisement nor default BGPAdvertisement (as with MetalLB's converter); use \"layer2\" or \"bgp\""
                    ));
                }
                check_advertisements(config, &base, &pool.bgp_advertisements, &entries)?;
            }
        }
        if pool_names[..i].contains(name) {
            return Err(MigrateError::at(
                format!("{base}.name"),
                Reason::Pool(PoolError::DuplicatePool(name.clone())),
            ));
        }
    }
    check_overlaps(config, pool_names)
}

fn check_advertisements(
    config: &LegacyConfig,
    base: &str,
    ads: &[BgpAdvertisement],
    entries: &[(&str, Vec<IpNet>)],
) -> Result<(), MigrateError> {
    for (j, a) in ads.iter().enumerate() {
        if let Some(first) = ads[..j].iter().position(|b| a == b) {
            return Err(MigrateError::at(
                format!("{base}.bgp-advertisements[{j}]"),
                Reason::DuplicateAdvertisement(first + 1, j + 1),
            ));
        }
    }
    for (j, ad) in ads.iter().enumerate() {
        let path = format!("{base}.bgp-advertisements[{j}]");
        for (k, c) in ad.communities.iter().enumerate() {
            if ad.communities[..k].contains(c) {
                return Err(MigrateError::at(
                    format!("{path}.communities[{k}]"),
                    Reason::DuplicateCommunity(c.clone()),
                ));
            }
        }
        let v4 = ad.aggregation_length.unwrap_or(32);
        if v4 > 32 {
            return Err(MigrateError::at(
                format!("{path}.aggregation-length"),
                Reason::AggregationLengthOutOfRange {
                    length: v4,
                    family: "IPv4",
                },
            ));
        }
        let v6 = ad.aggregation_length_v6.unwrap_or(128);
        if v6 > 128 {
            return Err(MigrateError::at(
                format!("{path}.aggregation-length-v6"),
                Reason::AggregationLengthOutOfRange {
                    length: v6,
                    family: "IPv6",
                },
            ));
        }
        for (entry, nets) in entries {
            let Some(first) = nets.first() else { continue };
            let (length, key) = match first {
                IpNet::V4(_) => (v4, "aggregation-length"),
                IpNet::V6(_) => (v6, "aggregation-length-v6"),
            };
            let lowest = nets.iter().map(IpNet::prefix_len).min().unwrap_or(0);
            if length < i32::from(lowest) {
                return Err(MigrateError::at(
                    format!("{path}.{key}"),
                    Reason::AggregationTooSpecific {
                        length,
                        prefix: lowest,
                        addresses: (*entry).to_owned(),
                    },
                ));
            }
        }
        for (k, c) in ad.communities.iter().enumerate() {
            if config.bgp_communities.0.contains_key(c) {
                continue;
            }
            community::parse(c).map_err(|source| {
                MigrateError::at(
                    format!("{path}.communities[{k}]"),
                    Reason::InvalidCommunity {
                        value: c.clone(),
                        source,
                    },
                )
            })?;
        }
    }
    Ok(())
}

/// Overlaps across all pools, found by `ferrolb-core`; the error is mapped back to the
/// `addresses` entry that holds the later-declared CIDR.
fn check_overlaps(config: &LegacyConfig, names: &[String]) -> Result<(), MigrateError> {
    let specs: Vec<PoolSpec> = config
        .address_pools
        .iter()
        .zip(names)
        .map(|(p, name)| PoolSpec::new(name, p.addresses.iter().cloned()))
        .collect();
    let Err(err) = PoolSet::parse(&specs) else {
        return Ok(());
    };
    let mut path = "address-pools".to_owned();
    if let PoolError::Overlap { cidr, pool, .. } = &err
        && let Some(i) = names.iter().position(|n| n == pool)
    {
        path = format!("address-pools[{i}].addresses");
        let entry = config.address_pools[i].addresses.iter().position(|e| {
            parse_entry(e).is_ok_and(|nets| nets.iter().any(|n| n.to_string() == *cidr))
        });
        if let Some(k) = entry {
            path = format!("{path}[{k}]");
        }
    }
    Err(MigrateError::at(path, Reason::Pool(err)))
}
