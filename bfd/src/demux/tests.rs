//! Discriminator allocation and §6.3 demultiplexing.

use super::*;
use crate::packet::{Diag, State};

fn pkt(your: u32) -> ControlPacket {
    ControlPacket {
        diag: Diag::None,
        state: if your == 0 { State::Down } else { State::Up },
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discr: 99,
        your_discr: your,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 1_000_000,
        required_min_echo_rx_us: 0,
    }
}

#[test]
fn allocates_unique_nonzero_discriminators() {
    let mut d = Demux::new(u32::MAX);
    let a = d.insert("a");
    let b = d.insert("b");
    assert_eq!(a, u32::MAX);
    assert_eq!(b, 1, "wraps around and skips 0");
    assert_eq!(d.insert("a"), a, "stable per key");
    assert_eq!(d.len(), 2);
    assert_eq!(d.remove(&"a"), Some(a));
    assert_eq!(d.discriminator(&"a"), None);
    assert!(!d.is_empty());
}

#[test]
fn lookup_by_your_discriminator_then_by_source() {
    let mut d = Demux::new(10);
    let a = d.insert("a");
    d.insert("b");
    assert_eq!(d.lookup(&pkt(a), &"b"), Some(&"a"), "discriminator wins");
    assert_eq!(d.lookup(&pkt(0), &"b"), Some(&"b"));
    assert_eq!(d.lookup(&pkt(0), &"c"), None);
    assert_eq!(d.lookup(&pkt(12345), &"a"), None, "unknown discriminator");
}
