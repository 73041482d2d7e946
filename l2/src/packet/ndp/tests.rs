//! NDP codec tests. The expected checksum of the reference solicitation was computed
//! independently with a few lines of Python (one's-complement sum over the RFC 8200 §8.1
//! pseudo-header and the message): 0x4961.

use super::*;

const OURS: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const PEER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

fn vip() -> Ipv6Addr {
    "2001:db8::100".parse().unwrap()
}
fn ll(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
}

fn wire_ns() -> Vec<u8> {
    let mut f = vec![
        0x33, 0x33, 0xff, 0x00, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0x02, 0x86, 0xdd,
    ];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, 58, 255]);
    f.extend_from_slice(&ll(2).octets());
    f.extend_from_slice(&"ff02::1:ff00:100".parse::<Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&[135, 0, 0x49, 0x61, 0, 0, 0, 0]);
    f.extend_from_slice(&vip().octets());
    f.extend_from_slice(&[1, 1, 0x02, 0, 0, 0, 0, 0x02]);
    f
}

#[test]
fn solicited_node_group_and_mac() {
    // RFC 4291 §2.7.1: low 24 bits appended to ff02::1:ff00:0/104.
    let g = solicited_node_multicast("2001:db8::1:2345:6789".parse().unwrap());
    assert_eq!(g, "ff02::1:ff45:6789".parse::<Ipv6Addr>().unwrap());
    // RFC 2464 §7: 33:33 + last four octets.
    assert_eq!(multicast_mac(g).to_string(), "33:33:ff:45:67:89");
    assert_eq!(multicast_mac(ALL_NODES).to_string(), "33:33:00:00:00:01");
}

#[test]
fn parses_wire_ns_and_encoder_matches() {
    let NdpMessage::Solicitation(ns) = parse(&wire_ns()).unwrap() else {
        panic!("not an NS")
    };
    assert_eq!(ns, NeighborSolicitation::resolve(PEER, ll(2), vip()));
    assert_eq!(ns.encode(), wire_ns());
}

#[test]
fn solicited_reply_flags_and_addresses() {
    let ns = NeighborSolicitation::resolve(PEER, ll(2), vip());
    let na = respond(
        &ns,
        OURS,
        NaSource::LinkLocal(ll(1)),
        METALLB_SOLICITED_OVERRIDE,
        |t| t == vip(),
    )
    .unwrap();
    assert_eq!((na.eth_dst, na.eth_src), (PEER, OURS));
    assert_eq!((na.src, na.dst), (ll(1), ll(2)));
    assert!(!na.router && na.solicited && !na.override_flag);
    assert_eq!(na.target_lla, Some(OURS));
    let bytes = na.encode();
    assert_eq!(bytes.len(), 86);
    assert_eq!(bytes[54], 136);
    assert_eq!(bytes[58], 0x40); // S only
    assert_eq!(parse(&bytes).unwrap(), NdpMessage::Advertisement(na));
}

#[test]
fn target_source_by_default() {
    let ns = NeighborSolicitation::resolve(PEER, ll(2), vip());
    let na = respond(&ns, OURS, NaSource::default(), true, |_| true).unwrap();
    assert_eq!(na.src, vip());
    assert!(na.override_flag);
    assert_eq!(unsolicited(OURS, NaSource::Target, vip()).src, vip());
}

#[test]
fn unsolicited_na_flags() {
    let na = unsolicited(OURS, NaSource::LinkLocal(ll(1)), vip());
    let bytes = na.encode();
    assert_eq!(&bytes[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(bytes[58], 0x20); // O only
    assert_eq!(parse(&bytes).unwrap(), NdpMessage::Advertisement(na));
}

#[test]
fn drop_rules() {
    let mut ns = NeighborSolicitation::resolve(PEER, ll(2), vip());
    assert_eq!(
        respond(&ns, OURS, NaSource::LinkLocal(ll(1)), false, |_| false),
        Err(NdpDrop::NotOwned)
    );
    ns.source_lla = None;
    assert_eq!(
        respond(&ns, OURS, NaSource::LinkLocal(ll(1)), false, |_| true),
        Err(NdpDrop::NoSourceLla)
    );
}

#[test]
fn validation_errors() {
    let good = wire_ns();
    let mut hop = good.clone();
    hop[21] = 64;
    assert_eq!(parse(&hop), Err(PacketError::HopLimit(64)));
    let mut sum = good.clone();
    sum[57] ^= 1;
    assert_eq!(parse(&sum), Err(PacketError::Checksum));
    let mut nh = good.clone();
    nh[20] = 17;
    assert_eq!(parse(&nh), Err(PacketError::NextHeader(17)));
    let mut ver = good.clone();
    ver[14] = 0x40;
    assert_eq!(parse(&ver), Err(PacketError::IpVersion(4)));
    let mut plen = good.clone();
    plen[19] = 200;
    assert!(matches!(
        parse(&plen),
        Err(PacketError::PayloadLength { .. })
    ));
    assert!(matches!(
        parse(&good[..70]),
        Err(PacketError::PayloadLength { .. })
    ));
    // Zero-length option.
    let mut opt = NeighborSolicitation::resolve(PEER, ll(2), vip()).encode();
    opt[79] = 0;
    assert!(matches!(
        parse(&opt),
        Err(PacketError::BadOption | PacketError::Checksum)
    ));
    // DAD probe from :: with an SLLA is invalid; without it, it parses but is not answered.
    let mut dad = NeighborSolicitation::resolve(PEER, Ipv6Addr::UNSPECIFIED, vip());
    assert_eq!(
        parse(&dad.encode()),
        Err(PacketError::SllaWithUnspecifiedSource)
    );
    dad.source_lla = None;
    let NdpMessage::Solicitation(p) = parse(&dad.encode()).unwrap() else {
        panic!("not an NS")
    };
    assert_eq!(
        respond(&p, OURS, NaSource::LinkLocal(ll(1)), false, |_| true),
        Err(NdpDrop::NoSourceLla)
    );
    // Multicast target.
    let mc = NeighborSolicitation::resolve(PEER, ll(2), ALL_NODES);
    assert_eq!(parse(&mc.encode()), Err(PacketError::MulticastTarget));
}

#[test]
fn trailing_padding_is_ignored() {
    let mut padded = wire_ns();
    padded.extend_from_slice(&[0xaa; 10]);
    assert!(parse(&padded).is_ok());
}
