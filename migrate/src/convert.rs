//! The mapping of `configmaptocrs` (`resourcesFor` and helpers in `configmaptocrs/main.go`,
//! MetalLB v0.13+), applied to an already validated configuration:
//!
//! * `peers[i]` → `v1beta2` BGPPeer `peer<i+1>`: ASNs and addresses as given, `peerPort` unless
//!   0, `holdTime` always (truncated to seconds, default `1m30s`, Go formatting),
//!   `keepaliveTime` only if given (truncated), `routerID`/`password`/`bfdProfile` unless empty,
//!   `ebgpMultiHop` only when true (Go `omitempty` bool), node selectors renamed to
//!   `matchLabels`/`matchExpressions`;
//! * `address-pools[i]` → IPAddressPool named after the (converted) pool name, addresses
//!   verbatim, `autoAssign` only if given, `avoidBuggyIPs` only when `true` (Go `omitempty`);
//! * each `bgp-advertisements[j]` → BGPAdvertisement `bgpadvertisement<n>` (n global, 1-based, in
//!   pool order) for the pool, aggregation lengths only if given, `localPref` unless 0,
//!   communities verbatim; a `bgp` pool without advertisements gets one empty advertisement;
//! * each `layer2` pool → L2Advertisement `l2advertisement<n>`; any other protocol gets none;
//! * `bfd-profiles` → BFDProfile (converted name, `echoMode`/`passiveMode` always written);
//! * `bgp-communities` → one Community `communities`, aliases sorted by name.

use std::collections::BTreeMap;

use ferrolb_api::legacy::{LegacyConfig, NodeSelector};
use ferrolb_api::v1beta1::{
    BFDProfile, BFDProfileSpec, BGPAdvertisement, BGPAdvertisementSpec, Community, CommunityAlias,
    CommunitySpec, IPAddressPool, IPAddressPoolSpec, L2Advertisement, L2AdvertisementSpec,
};
use ferrolb_api::v1beta2::{BGPPeer, BGPPeerSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::Converted;
use crate::check::Checked;

/// Builds the custom resources; `checked` comes from [`crate::check::check`] on `config`.
pub(crate) fn build(config: &LegacyConfig, checked: Checked, namespace: &str) -> Converted {
    let ns = Some(namespace.to_owned());
    let mut out = Converted {
        warnings: checked.warnings,
        ..Converted::default()
    };

    for (i, (p, timers)) in config.peers.iter().zip(&checked.peers).enumerate() {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let spec = BGPPeerSpec {
            my_asn: p.my_asn.unwrap_or_default(),
            peer_asn: p.peer_asn,
            peer_address: p.peer_address.clone(),
            source_address: non_empty(&p.source_address),
            peer_port: p.peer_port.filter(|port| *port != 0),
            hold_time: Some(timers.hold.to_string()),
            keepalive_time: timers.keepalive.map(|k| k.to_string()),
            router_id: non_empty(&p.router_id),
            node_selectors: p.node_selectors.iter().map(label_selector).collect(),
            password: non_empty(&p.password),
            bfd_profile: timers.bfd_profile.clone(),
            ebgp_multi_hop: p.ebgp_multihop.filter(|m| *m),
            ..BGPPeerSpec::default()
        };
        let mut peer = BGPPeer::new(&format!("peer{}", i + 1), spec);
        peer.metadata.namespace = ns.clone();
        out.peers.push(peer);
    }

    let mut bgp_index = 1;
    let mut l2_index = 1;
    for (pool, name) in config.address_pools.iter().zip(&checked.pool_names) {
        let spec = IPAddressPoolSpec {
            addresses: pool.addresses.clone(),
            auto_assign: pool.auto_assign,
            avoid_buggy_ips: pool.avoid_buggy_ips.filter(|b| *b),
            service_allocation: None,
        };
        let mut ipool = IPAddressPool::new(name, spec);
        ipool.metadata.namespace = ns.clone();
        out.pools.push(ipool);

        let mut push_bgp = |spec: BGPAdvertisementSpec| {
            let mut ad = BGPAdvertisement::new(&format!("bgpadvertisement{bgp_index}"), spec);
            ad.metadata.namespace = ns.clone();
            out.bgp_advertisements.push(ad);
            bgp_index += 1;
        };
        for ad in &pool.bgp_advertisements {
            push_bgp(BGPAdvertisementSpec {
                aggregation_length: ad.aggregation_length,
                aggregation_length_v6: ad.aggregation_length_v6,
                local_pref: ad.local_pref.filter(|l| *l != 0),
                communities: ad.communities.clone(),
                ip_address_pools: vec![name.clone()],
                ..BGPAdvertisementSpec::default()
            });
        }
        let protocol = pool.protocol.as_deref();
        if pool.bgp_advertisements.is_empty() && protocol == Some("bgp") {
            push_bgp(BGPAdvertisementSpec {
                ip_address_pools: vec![name.clone()],
                ..BGPAdvertisementSpec::default()
            });
        }
        if protocol == Some("layer2") {
            let spec = L2AdvertisementSpec {
                ip_address_pools: vec![name.clone()],
                ..L2AdvertisementSpec::default()
            };
            let mut l2 = L2Advertisement::new(&format!("l2advertisement{l2_index}"), spec);
            l2.metadata.namespace = ns.clone();
            out.l2_advertisements.push(l2);
            l2_index += 1;
        }
    }

    for (b, name) in config.bfd_profiles.iter().zip(&checked.bfd_names) {
        let spec = BFDProfileSpec {
            receive_interval: b.receive_interval,
            transmit_interval: b.transmit_interval,
            detect_multiplier: b.detect_multiplier,
            echo_interval: b.echo_interval,
            echo_mode: Some(b.echo_mode.unwrap_or(false)),
            passive_mode: Some(b.passive_mode.unwrap_or(false)),
            minimum_ttl: b.minimum_ttl,
        };
        let mut profile = BFDProfile::new(name, spec);
        profile.metadata.namespace = ns.clone();
        out.bfd_profiles.push(profile);
    }

    if !config.bgp_communities.0.is_empty() {
        let communities = config
            .bgp_communities
            .0
            .iter()
            .map(|(name, value)| CommunityAlias {
                name: Some(name.clone()),
                value: Some(value.clone()),
            })
            .collect();
        let mut c = Community::new("communities", CommunitySpec { communities });
        c.metadata.namespace = ns;
        out.communities.push(c);
    }
    out
}

/// `parseNodeSelector` of `configmaptocrs`: keys renamed, values copied verbatim.
fn label_selector(sel: &NodeSelector) -> LabelSelector {
    let labels: BTreeMap<String, String> = sel.match_labels.0.clone();
    let expressions: Vec<LabelSelectorRequirement> = sel
        .match_expressions
        .iter()
        .map(|r| LabelSelectorRequirement {
            key: r.key.clone(),
            operator: r.operator.clone(),
            values: (!r.values.is_empty()).then(|| r.values.clone()),
        })
        .collect();
    LabelSelector {
        match_labels: (!labels.is_empty()).then_some(labels),
        match_expressions: (!expressions.is_empty()).then_some(expressions),
    }
}
