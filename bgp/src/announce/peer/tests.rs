use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::announce::tests::{ip, node, peer, sel};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn local_v4() -> LocalAddresses {
    LocalAddresses {
        address: Some(ip("10.9.0.10")),
        interface: vec![ip("10.9.0.10")],
    }
}

#[test]
fn node_selectors_empty_means_all_nodes_and_any_selector_matches() {
    let mut a = peer("a", "10.0.0.1", 65001);
    a.node_selectors = vec![sel("rack", "r1"), sel("rack", "r2")];
    let b = peer("b", "10.0.0.2", 65001);
    let mut c = peer("c", "10.0.0.3", 65001);
    c.node_selectors = vec![sel("rack", "r3")];
    let peers = [a, b, c];
    let names = |n: &NodeFacts| -> Vec<String> {
        peers_for_node(&peers, n)
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    assert_eq!(names(&node("n1", &[("rack", "r2")])), ["a", "b"]);
    assert_eq!(names(&node("n2", &[("rack", "r3")])), ["b", "c"]);
    assert_eq!(names(&node("n3", &[])), ["b"]);
}

#[test]
fn timers_follow_metallb_derivation() {
    let mut p = peer("p", "10.0.0.1", 65001);
    assert_eq!(p.timers(), Ok((DEFAULT_HOLD_TIME, None)));
    p.hold_time = Some(Duration::from_millis(9_900));
    assert_eq!(
        p.timers(),
        Ok((secs(9), Some(secs(3)))),
        "hold truncated, ka = hold/3"
    );
    p.hold_time = None;
    p.keepalive_time = Some(secs(5));
    assert_eq!(
        p.timers(),
        Ok((secs(15), Some(secs(5)))),
        "hold = 3 x keepalive"
    );
    p.keepalive_time = Some(Duration::from_millis(5_700));
    assert_eq!(p.timers(), Ok((secs(15), Some(secs(5)))), "whole seconds");
    p.hold_time = Some(secs(0));
    p.keepalive_time = None;
    assert_eq!(
        p.timers(),
        Ok((secs(0), Some(secs(0)))),
        "hold 0 = no keepalives"
    );
    p.hold_time = Some(secs(2));
    let e = p.timers().expect_err("hold 2s");
    assert_eq!(
        e.to_string(),
        "BGPPeer p: spec.holdTime 2s: must be 0 or >=3s"
    );
    p.hold_time = Some(secs(9));
    p.keepalive_time = Some(secs(10));
    assert!(matches!(
        p.timers(),
        Err(AnnounceError::KeepaliveAboveHold {
            keepalive: 10,
            hold: 9,
            ..
        })
    ));
}

#[test]
fn crc32_is_the_ieee_checksum() {
    // The standard CRC-32/ISO-HDLC check value.
    assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32_ieee(b""), 0);
}

#[test]
fn router_id_fallback_order() {
    let mut p = peer("p", "fd00::1", 65001);
    let v6_only = LocalAddresses {
        address: Some(ip("fd00::10")),
        interface: vec![ip("fe80::1"), ip("fd00::10")],
    };
    let v6_and_v4 = LocalAddresses {
        address: Some(ip("fd00::10")),
        interface: vec![ip("fd00::10"), ip("192.168.1.5"), ip("192.168.1.6")],
    };
    // Golden values from Go: binary.LittleEndian.PutUint32(ip, crc32.ChecksumIEEE(name)).
    assert_eq!(
        router_id(&p, "kind-worker", &v6_only),
        Ok(Ipv4Addr::new(192, 61, 154, 117))
    );
    assert_eq!(
        router_id(&p, "node1", &LocalAddresses::default()),
        Ok(Ipv4Addr::new(64, 37, 239, 133))
    );
    assert_eq!(
        router_id(&p, "kind-worker", &v6_and_v4),
        Ok(Ipv4Addr::new(192, 168, 1, 5)),
        "first IPv4 of the interface"
    );
    assert_eq!(
        router_id(&p, "kind-worker", &local_v4()),
        Ok(Ipv4Addr::new(10, 9, 0, 10)),
        "the session's IPv4 local address"
    );
    p.router_id = Some(ip("1.2.3.4"));
    assert_eq!(
        router_id(&p, "kind-worker", &local_v4()),
        Ok(Ipv4Addr::new(1, 2, 3, 4))
    );
    p.router_id = Some(ip("fd00::9"));
    assert!(matches!(
        router_id(&p, "n", &local_v4()),
        Err(AnnounceError::RouterIdNotIpv4 { .. })
    ));
}

#[test]
fn crc_router_id_is_moved_out_of_multicast_and_class_e() {
    // Go gives 229.77.251.138 for "node-2" (multicast): strict peers refuse it.
    assert_eq!(crc_router_id("node-2"), Ipv4Addr::new(197, 77, 251, 138));
    let mut moved = 0;
    for i in 0..2000 {
        let name = format!("node-{i}");
        let raw = crc32_ieee(name.as_bytes()).to_le_bytes();
        let id = crc_router_id(&name);
        assert!(id.octets()[0] < 224, "{name}: {id}");
        assert!(!id.is_unspecified());
        if raw[0] >= 224 {
            moved += 1;
            assert_eq!(id.octets()[0], raw[0] & !0x20);
            assert_eq!(id.octets()[1..], raw[1..]);
        } else {
            assert_eq!(id.octets(), raw, "{name}: unicast results are Go's");
        }
    }
    assert!(moved > 0);
}

#[test]
fn session_config_maps_the_peer_fields() {
    let mut p = peer("p", "10.0.0.1", 65001);
    p.connect_time = Some(secs(7));
    p.enable_graceful_restart = true;
    let c = p.session_config("n1", &local_v4()).expect("config");
    assert_eq!(c.my_asn, 64512);
    assert_eq!(c.peer_asn, PeerAsn::Fixed(65001));
    assert_eq!(c.hold_time, DEFAULT_HOLD_TIME);
    assert_eq!(c.keepalive_time, None);
    assert_eq!(c.connect_time, secs(7));
    assert_eq!(c.router_id, Ipv4Addr::new(10, 9, 0, 10));
    assert_eq!(c.families, vec![Family::Ipv4Unicast], "peer family only");
    assert!(c.graceful_restart);
    assert!(!c.extended_next_hop);

    p.dual_stack_address_family = true;
    p.connect_time = None;
    let c = p.session_config("n1", &local_v4()).expect("config");
    assert_eq!(c.families, Family::ALL.to_vec());
    assert_eq!(c.connect_time, DEFAULT_CONNECT_TIME);
    assert!(!c.extended_next_hop, "IPv4 session: no RFC 8950");

    let mut v6 = peer("v6", "fd00::1", 65001);
    let c = v6.session_config("n1", &local_v4()).expect("config");
    assert_eq!(c.families, vec![Family::Ipv6Unicast]);
    assert!(!c.extended_next_hop);
    v6.dual_stack_address_family = true;
    let c = v6.session_config("n1", &local_v4()).expect("config");
    assert!(
        c.extended_next_hop,
        "IPv6 session carrying IPv4 offers RFC 8950"
    );

    let mut dynamic = peer("d", "10.0.0.1", 0);
    dynamic.peer_asn = PeerAsn::External;
    let c = dynamic.session_config("n1", &local_v4()).expect("config");
    assert_eq!(c.peer_asn, PeerAsn::External);
}

#[test]
fn ibgp_is_decided_against_the_session_asn() {
    let mut p = peer("p", "10.0.0.1", 64512);
    assert!(p.is_ibgp());
    p.local_asn = Some(65000);
    assert!(!p.is_ibgp(), "local-as makes it eBGP");
    p.peer_asn = PeerAsn::Fixed(65000);
    assert!(p.is_ibgp());
    assert_eq!(p.session_asn(), 65000);
    p.peer_asn = PeerAsn::Internal;
    assert!(p.is_ibgp());
    p.peer_asn = PeerAsn::External;
    assert!(!p.is_ibgp());
}

#[test]
fn transport_port_ttl_and_redacted_password() {
    let mut p = peer("p", "10.0.0.1", 65001);
    p.port = 0;
    p.password = Some("s3cret".into());
    p.source_address = Some(ip("10.0.0.9"));
    let t = p.transport();
    assert_eq!(t.peer, "10.0.0.1:179".parse().expect("addr"));
    assert_eq!(t.ttl, TTL_SINGLE_HOP);
    assert_eq!(t.source, Some(ip("10.0.0.9")));
    assert_eq!(t.password.as_deref(), Some("s3cret"));
    assert!(!format!("{t:?}").contains("s3cret"));
    assert!(!format!("{p:?}").contains("s3cret"));
    p.ebgp_multihop = true;
    p.port = 1790;
    let t = p.transport();
    assert_eq!((t.peer.port(), t.ttl), (1790, TTL_MULTI_HOP));
    let ibgp = peer("i", "10.0.0.1", 64512);
    assert_eq!(ibgp.transport().ttl, TTL_MULTI_HOP);
}

#[test]
fn identity_ignores_what_the_session_does_not_use() {
    let base = peer("p", "10.0.0.1", 65001);
    let id = |p: &PeerSpec| p.identity("n1", &local_v4()).expect("identity");
    let same = [
        {
            let mut p = base.clone();
            p.name = "renamed".into();
            p
        },
        {
            let mut p = base.clone();
            p.bfd_profile = Some("fast".into());
            p
        },
        {
            let mut p = base.clone();
            p.node_selectors = vec![sel("rack", "r1")];
            p
        },
        {
            let mut p = base.clone();
            p.password = None;
            p.port = 179;
            p
        },
    ];
    for p in &same {
        assert_eq!(id(p), id(&base), "{p:?}");
    }
    // Equal timers spelled differently: holdTime 90s ≡ 90.4s ≡ keepaliveTime 30s.
    let timers = |h: Option<Duration>, k: Option<Duration>| {
        let mut p = base.clone();
        p.hold_time = h;
        p.keepalive_time = k;
        id(&p)
    };
    let hold90 = timers(Some(secs(90)), None);
    assert_eq!(hold90, timers(Some(Duration::from_millis(90_400)), None));
    assert_eq!(hold90, timers(None, Some(secs(30))));
    assert_eq!(hold90, timers(Some(secs(90)), Some(secs(30))));
}

#[test]
fn identity_changes_with_every_session_field() {
    let base = peer("p", "10.0.0.1", 65001);
    let id = |p: &PeerSpec| p.identity("n1", &local_v4()).expect("identity");
    type Change = (&'static str, fn(&mut PeerSpec));
    let changes: Vec<Change> = vec![
        ("address", |p| p.address = ip("10.0.0.2")),
        ("port", |p| p.port = 1179),
        ("myASN", |p| p.my_asn = 64513),
        ("peerASN", |p| p.peer_asn = PeerAsn::Fixed(65002)),
        ("dynamicASN", |p| p.peer_asn = PeerAsn::External),
        ("localASN", |p| p.local_asn = Some(65500)),
        ("sourceAddress", |p| {
            p.source_address = Some(ip("10.9.0.11"))
        }),
        ("holdTime", |p| p.hold_time = Some(secs(30))),
        ("keepaliveTime", |p| p.keepalive_time = Some(secs(20))),
        ("connectTime", |p| p.connect_time = Some(secs(5))),
        ("routerID", |p| p.router_id = Some(ip("1.1.1.1"))),
        ("ebgpMultiHop", |p| p.ebgp_multihop = true),
        ("password", |p| p.password = Some("x".into())),
        ("gracefulRestart", |p| p.enable_graceful_restart = true),
        ("dualStack", |p| p.dual_stack_address_family = true),
    ];
    for (what, change) in changes {
        let mut p = base.clone();
        change(&mut p);
        assert_ne!(id(&p), id(&base), "{what}");
    }
    // The fallback router ID follows the local address.
    let moved = LocalAddresses {
        address: Some(ip("10.9.0.99")),
        interface: vec![],
    };
    assert_ne!(base.identity("n1", &moved).expect("identity"), id(&base));
}
