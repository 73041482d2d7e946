//! Parsers of the routers' output, on output captured from the rig's FRR 8.4, GoBGP 3.10 and
//! BIRD 2.0.12 (trimmed).

use std::collections::BTreeMap;
use std::time::Duration;

use super::parse::*;
use super::*;

#[test]
fn frr_json_detail_paths_with_attributes() {
    let rib: Value = serde_json::from_str(
        r#"{"routerId":"192.168.0.1","localAS":64513,"routes":{"192.168.10.5/32":[
        {"prefix":"192.168.10.5/32","version":1},
        {"aspath":{"string":"64512","segments":[{"type":"as-sequence","list":[64512]}],"length":1},
         "origin":"incomplete","valid":true,"community":{"string":"64512:100 no-advertise","list":["64512:100","noAdvertise"]},
         "largeCommunity":{"string":"64512:1:2","list":["64512:1:2"]},
         "nexthops":[{"ip":"172.18.0.21","afi":"ipv4","used":true}],
         "peer":{"peerId":"192.168.5.21","routerId":"10.255.255.1","type":"external"}},
        {"aspath":{"string":"64512","segments":[{"type":"as-sequence","list":[64512]}],"length":1},
         "origin":"incomplete","valid":true,"metric":5,"locPrf":200,"bestpath":{"overall":true},
         "nexthops":[{"ip":"fc00:f853:ccd:e793::22","scope":"global"},{"ip":"fe80::1","scope":"link-local"}],
         "peer":{"peerId":"172.18.0.22","type":"external"}}]}}"#,
    )
    .unwrap();
    let r = parse_frr_routes(&rib).unwrap();
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].prefix, "192.168.10.5/32");
    assert_eq!(r[0].peer, "192.168.5.21");
    assert_eq!(r[0].as_path, vec![64512]);
    assert_eq!(r[0].communities, vec!["64512:100", "65535:65282"]);
    assert_eq!(r[0].large_communities, vec!["64512:1:2"]);
    assert_eq!((r[0].local_pref, r[0].med, r[0].best), (None, None, false));
    assert_eq!(r[1].next_hops, vec!["fc00:f853:ccd:e793::22", "fe80::1"]);
    assert_eq!(
        (r[1].local_pref, r[1].med, r[1].best),
        (Some(200), Some(5), true)
    );
    assert!(
        parse_frr_routes(&serde_json::json!({"routerId": "x"}))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn gobgp_rib_paths_with_attributes() {
    let rib: Value = serde_json::from_str(
        r#"{"2001:db8:10::5/128":[{"nlri":{"prefix":"2001:db8:10::5/128"},"best":true,"attrs":[
        {"type":1,"value":2},{"type":2,"as_paths":[{"segment_type":2,"num":1,"asns":[64512]}]},
        {"type":4,"metric":5},{"type":5,"value":300},{"type":8,"communities":[4227858439,4294967042]},
        {"type":32,"value":[{"ASN":64512,"LocalData1":3,"LocalData2":4}]},
        {"type":14,"nexthop":"fc00:f853:ccd:e793::22","afi":2,"safi":1,"value":[{"prefix":"2001:db8:10::5/128"}]}],
        "neighbor-ip":"fc00:f853:ccd:e793::22"}],
        "192.168.10.5/32":[{"nlri":{"prefix":"192.168.10.5/32"},"best":false,"attrs":[{"type":3,"nexthop":"172.18.0.21"}],"neighbor-ip":"172.18.0.21"}]}"#,
    )
    .unwrap();
    let mut r = parse_gobgp_routes(&rib).unwrap();
    r.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    assert_eq!(r[0].next_hops, vec!["172.18.0.21"]);
    assert!(!r[0].best && r[0].communities.is_empty() && r[0].local_pref.is_none());
    let v6 = &r[1];
    assert_eq!(v6.peer, "fc00:f853:ccd:e793::22");
    assert_eq!(v6.next_hops, vec!["fc00:f853:ccd:e793::22"]);
    assert_eq!(v6.as_path, vec![64512]);
    assert_eq!(v6.communities, vec!["64512:7", "65535:65282"]);
    assert_eq!(v6.large_communities, vec!["64512:3:4"]);
    assert_eq!((v6.local_pref, v6.med, v6.best), (Some(300), Some(5), true));
}

const BIRD_PROTOCOLS: &str = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     18:28:58.641  

dyn1       BGP        ---        start  18:28:58.641  Passive       
  BGP state:          Passive
    Neighbor range:   172.18.0.0/16
    Neighbor AS:      64512
  Channel ipv4
    State:          DOWN

md5_node1  BGP        ---        up     18:29:24.045  Established   
  BGP state:          Established
    Neighbor address: 192.168.5.21
    Neighbor AS:      64512
    Local AS:         64512
    Neighbor ID:      10.255.255.1
    Source address:   192.168.5.3
    Hold timer:       7.951/9
  Channel ipv4
    State:          UP
    Routes:         1 imported, 0 exported, 0 preferred
    Route change stats:     received   rejected   filtered    ignored   accepted
      Import updates:              1          0          0          0          1
  Channel ipv6
    State:          DOWN

dyn5_1     BGP        ---        up     18:32:18.886  Established   
  BGP state:          Established
    Neighbor address: fc00:f853:ccd:e793::22
    Neighbor AS:      64512
  Channel ipv4
    Routes:         1 imported, 0 exported, 0 preferred
  Channel ipv6
    Routes:         2 imported, 0 exported, 0 preferred
";

#[test]
fn bird_protocols_are_sessions_not_ranges() {
    let p = parse_bird_protocols(BIRD_PROTOCOLS);
    assert_eq!(p.keys().collect::<Vec<_>>(), vec!["dyn5_1", "md5_node1"]);
    let md5 = &p["md5_node1"];
    assert_eq!(md5.address, "192.168.5.21");
    assert_eq!(md5.peer_asn, Some(64512));
    assert!(md5.is_established());
    assert_eq!(md5.prefixes_received, Some(1));
    assert_eq!(p["dyn5_1"].address, "fc00:f853:ccd:e793::22");
    assert_eq!(p["dyn5_1"].prefixes_received, Some(3));
}

#[test]
fn bird_routes_several_paths_per_prefix() {
    let text = "BIRD 2.0.12 ready.
Table master4:
192.168.10.5/32      unicast [dyn5_1 18:32:23.101 from fc00:f853:ccd:e793::22] * (100) [?]
\tvia 172.18.0.22 on eth0
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path: 
\tBGP.next_hop: 172.18.0.22
\tBGP.local_pref: 300
                     unicast [dyn1_1 18:29:32.884] (100) [?]
\tvia 172.18.0.21 on eth0
\tBGP.as_path: 64999 65000
\tBGP.next_hop: 172.18.0.21
\tBGP.med: 7
\tBGP.local_pref: 250
\tBGP.community: (64512,100) (65535,65282)
\tBGP.large_community: (64512, 1, 2)

Table master6:
2001:db8:10::5/128   unicast [dyn5_1 18:32:23.024] * (100) [?]
\tvia fc00:f853:ccd:e793::22 on eth0
\tBGP.next_hop: fc00:f853:ccd:e793::22 fe80::2
";
    let peers: BTreeMap<String, String> = [
        ("dyn1_1", "172.18.0.21"),
        ("dyn5_1", "fc00:f853:ccd:e793::22"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let r = parse_bird_routes(text, &peers);
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(
        (
            r[0].prefix.as_str(),
            r[0].peer.as_str(),
            r[0].best,
            r[0].local_pref
        ),
        ("192.168.10.5/32", "fc00:f853:ccd:e793::22", true, Some(300))
    );
    assert!(r[0].as_path.is_empty() && r[0].communities.is_empty());
    assert_eq!(r[1].prefix, "192.168.10.5/32");
    assert_eq!(r[1].peer, "172.18.0.21");
    assert!(!r[1].best);
    assert_eq!(r[1].as_path, vec![64999, 65000]);
    assert_eq!(r[1].med, Some(7));
    assert_eq!(r[1].communities, vec!["64512:100", "65535:65282"]);
    assert_eq!(r[1].large_communities, vec!["64512:1:2"]);
    assert_eq!(r[2].prefix, "2001:db8:10::5/128");
    assert_eq!(r[2].next_hops, vec!["fc00:f853:ccd:e793::22", "fe80::2"]);
}

#[test]
fn frr_neighbors() {
    let v: Value = serde_json::from_str(
        r#"{"192.168.5.21":{"bgpState":"Established","remoteAs":64512,"connectionsEstablished":2,
        "connectionsDropped":1,"bgpTimerUpMsec":56000,"addressFamilyInfo":{"ipv4Unicast":{"acceptedPrefixCounter":3},"ipv6Unicast":{"acceptedPrefixCounter":1}}},
        "192.168.5.22":{"bgpState":"Active","remoteAs":64512,"connectionsEstablished":0,"bgpTimerUpMsec":0}}"#,
    )
    .unwrap();
    let mut n = parse_frr_neighbors(&v).unwrap();
    n.sort_by(|a, b| a.address.cmp(&b.address));
    assert!(n[0].is_established());
    assert_eq!(n[0].established_count, Some(2));
    assert_eq!(n[0].dropped_count, Some(1));
    assert_eq!(n[0].uptime, Some(Duration::from_secs(56)));
    assert_eq!(n[0].prefixes_received, Some(4));
    assert_eq!((n[1].state.as_str(), n[1].uptime), ("active", None));
}

#[test]
fn gobgp_neighbors() {
    let v: Value = serde_json::from_str(
        r#"[{"conf":{"local_asn":64514,"peer_asn":64512,"peer_group":"speakers"},
        "state":{"neighbor_address":"172.18.0.21","peer_asn":64512,"session_state":6,"flops":1},
        "timers":{"state":{"uptime":{"seconds":1000}}},
        "afi_safis":[{"state":{"family":{"afi":1,"safi":1},"received":2}},{"state":{"family":{"afi":2,"safi":1}}}]},
        {"conf":{"neighbor_address":"192.168.5.22","peer_asn":64512},"state":{"session_state":3}}]"#,
    )
    .unwrap();
    let n = parse_gobgp_neighbors(&v, 1030).unwrap();
    assert_eq!(n[0].address, "172.18.0.21");
    assert!(n[0].is_established());
    assert_eq!(
        (n[0].established_count, n[0].dropped_count),
        (Some(2), Some(1))
    );
    assert_eq!(n[0].uptime, Some(Duration::from_secs(30)));
    assert_eq!(n[0].prefixes_received, Some(2));
    assert_eq!(n[1].address, "192.168.5.22");
    assert_eq!(
        (n[1].state.as_str(), n[1].peer_asn),
        ("active", Some(64512))
    );
    assert_eq!(
        gobgp_state(Some(&serde_json::json!("ESTABLISHED"))),
        "established"
    );
}

#[test]
fn kernel_routes_single_and_ecmp() {
    let v: Value = serde_json::from_str(
        r#"[{"dst":"192.168.10.5","nhid":24,"protocol":"bgp","metric":20,"flags":[],"nexthops":[
        {"gateway":"172.18.0.22","dev":"eth0","weight":1},{"gateway":"172.18.0.21","dev":"eth0","weight":1}]},
        {"dst":"2001:db8:10::5","nhid":20,"gateway":"fc00:f853:ccd:e793::22","dev":"eth0","protocol":"bgp"}]"#,
    )
    .unwrap();
    let r = parse_kernel_routes(&v);
    assert_eq!(r[0].next_hops, vec!["172.18.0.21", "172.18.0.22"]);
    assert_eq!(r[0].protocol, "bgp");
    assert_eq!(r[1].dst, "2001:db8:10::5");
    assert_eq!(r[1].next_hops, vec!["fc00:f853:ccd:e793::22"]);
}

#[test]
fn md5_counters_from_netstat() {
    let netstat = "TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure\n\
                   TcpExt: 0 4 1 7\n\
                   IpExt: InNoRoutes\nIpExt: 0\n";
    let c = parse_md5_counters(netstat).unwrap();
    assert_eq!(
        (c.not_found, c.unexpected, c.failure, c.total()),
        (4, 1, 7, 12)
    );
    assert!(parse_md5_counters("IpExt: A\nIpExt: 1\n").is_err());
}

#[test]
fn communities_and_addresses() {
    assert_eq!(normalize_community("noExport"), "65535:65281");
    assert_eq!(normalize_community("no-advertise"), "65535:65282");
    assert_eq!(normalize_community("64512:5"), "64512:5");
    assert_eq!(
        bird_tuples("(64512, 1, 2) (64512, 3, 4)"),
        vec!["64512:1:2", "64512:3:4"]
    );
    assert_eq!(node_address("node-2", Family::Ipv4).unwrap(), "172.18.0.22");
    assert_eq!(
        node_address("node-3", Family::Ipv6).unwrap(),
        "fc00:f853:ccd:e793::23"
    );
    assert_eq!(node_md5_address("node-1").unwrap(), "192.168.5.21");
    assert!(node_address("client", Family::Ipv4).is_err());
    assert_eq!(Router::Bird.address(Family::Ipv4), "172.18.0.3");
    assert_eq!(
        Router::GobgpMd5.md5_address().as_deref(),
        Some("192.168.5.4")
    );
    assert_eq!(Router::Gobgp.md5_address(), None);
    assert_eq!(Router::Collector(3).port(), 1792);
    assert!(Router::Bird.is_ibgp() && !Router::Frr.is_ibgp());
    assert_eq!(Family::of("2001:db8::/64"), Family::Ipv6);
}

#[test]
fn zebra_selected_route_fib_next_hops() {
    let v: Value = serde_json::from_str(
        r#"{"192.168.10.9/32":[{"prefix":"192.168.10.9/32","protocol":"bgp","selected":true,"installed":true,
        "nexthops":[{"flags":3,"fib":true,"ip":"172.18.0.22","afi":"ipv4","active":true},
                    {"flags":3,"fib":true,"ip":"172.18.0.21","afi":"ipv4","active":true},
                    {"flags":1,"ip":"172.18.0.23","afi":"ipv4"}]}]}"#,
    )
    .unwrap();
    let r = parse_zebra_route(&v, "192.168.10.9/32").unwrap();
    assert_eq!(r.next_hops, vec!["172.18.0.21", "172.18.0.22"]);
    assert_eq!(r.protocol, "bgp");
    assert!(parse_zebra_route(&serde_json::json!({}), "192.168.10.9/32").is_none());
}

#[test]
fn bird_sessions_are_the_same_despite_a_millisecond_of_wobble() {
    let s = |p: &str, t: &str| BirdSession {
        protocol: p.into(),
        since: t.into(),
    };
    let before = s("dyn1_2", "23:41:37.922");
    assert!(
        s("dyn1_2", "23:41:37.923").same_as(&before),
        "seen on the rig"
    );
    assert!(s("dyn1_2", "23:41:38.900").same_as(&before));
    assert!(
        !s("dyn1_2", "23:41:39.923").same_as(&before),
        "came back up later"
    );
    assert!(
        !s("dyn1_3", "23:41:37.922").same_as(&before),
        "a new protocol"
    );
    assert!(s("dyn1_2", "00:00:00.100").same_as(&s("dyn1_2", "23:59:59.900")));
    assert!(s("dyn1_2", "12:00:01").same_as(&s("dyn1_2", "12:00:00.5")));
    assert!(!s("dyn1_2", "junk").same_as(&s("dyn1_2", "other")));
    assert!(s("dyn1_2", "junk").same_as(&s("dyn1_2", "junk")));
}
