//! A BFDProfile's values as plain numbers, with MetalLB's defaults (`metallb-api.md`
//! BFDProfile: receive and transmit 300 ms, detect multiplier 3, echo interval 50 ms, passive
//! off, minimum TTL 254 for multi-hop sessions), and their mapping onto a
//! [`SessionConfig`]. The Kubernetes object is converted in `ferrolb_kube::convert::bfd`;
//! the ranges are the validator's (`ferrolb_validate::bfd`).

use std::time::Duration;

use crate::session::SessionConfig;

/// TTL / hop limit of every single-hop packet, and the only one accepted (RFC 5881 §5).
pub const SINGLE_HOP_TTL: u8 = 255;

/// The BFD parameters of one BGP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Params {
    /// `receiveInterval`: Required Min RX Interval.
    pub receive_interval: Duration,
    /// `transmitInterval`: Desired Min TX Interval once Up.
    pub transmit_interval: Duration,
    /// `detectMultiplier`.
    pub detect_multiplier: u8,
    /// `echoInterval` (accepted, unused: see the crate docs on echo mode).
    pub echo_interval: Duration,
    /// `echoMode` (accepted, unused).
    pub echo_mode: bool,
    /// `passiveMode`: do not transmit until the peer's first packet (RFC 5880 §6.1).
    pub passive: bool,
    /// `minimumTtl`: lowest TTL accepted on multi-hop sessions (RFC 5883 §2).
    pub minimum_ttl: u8,
}

impl Params {
    /// MetalLB's (FRR's) defaults for every unset field.
    pub const DEFAULT: Params = Params {
        receive_interval: Duration::from_millis(300),
        transmit_interval: Duration::from_millis(300),
        detect_multiplier: 3,
        echo_interval: Duration::from_millis(50),
        echo_mode: false,
        passive: false,
        minimum_ttl: 254,
    };

    /// The session state machine's configuration.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            desired_min_tx: self.transmit_interval,
            required_min_rx: self.receive_interval,
            detect_mult: self.detect_multiplier,
            passive: self.passive,
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::DEFAULT
    }
}
