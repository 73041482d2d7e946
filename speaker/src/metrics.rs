//! The speaker's Prometheus metrics under MetalLB's names (`speaker/main.go`,
//! `internal/layer2/stats.go`), registered in the shared `ferrolb_kube::metrics::Exporter`
//! that serves them on `--port` with `/healthz` + `/readyz` on `--health-probe-port`.
//!
//! - `metallb_speaker_announced{ip,node,protocol="layer2",service}` = 1 for every IP this node
//!   announces (the desired state, as MetalLB);
//! - `metallb_speaker_announced{ip,node,protocol="bgp",service}` = 1 for every IP of a Service
//!   this node advertises over BGP (MetalLB `bgp_controller.go` `SetBalancer`);
//! - BGP sessions, `peer="ip:port"` as MetalLB's native speaker (`internal/bgp/native/stats.go`):
//!   `metallb_bgp_session_up` (1 while Established), `metallb_bgp_updates_total` (UPDATEs sent),
//!   `metallb_bgp_announced_prefixes_total` (prefixes the peer has from us) and
//!   `metallb_bgp_pending_prefixes_total` (desired prefixes not sent yet); the series of a
//!   removed session go with it;
//! - BFD sessions, `peer="ip"` as MetalLB's FRR metrics (`frr-metrics/collector/bfd.go`):
//!   `metallb_bfd_session_up` (1 while Up), `metallb_bfd_control_packet_input` /
//!   `_output` (control packets received / sent), `metallb_bfd_session_up_events` /
//!   `_down_events` (transitions to / from Up): counters without a `_total` suffix, as MetalLB;
//! - `metallb_layer2_requests_received{ip}`, `metallb_layer2_responses_sent{ip}` (ARP requests /
//!   Neighbor Solicitations for an announced IP, and the replies), `metallb_layer2_gratuitous_sent{ip}`;
//! - MetalLB's `metallb_k8s_client_updates_total` / `_update_errors_total` (passes of the
//!   status writer that succeeded / failed), `metallb_k8s_client_config_loaded_bool` (1 once a
//!   plan was built from the caches) and `_config_stale_bool` (1 while part of the
//!   configuration is refused and its last good version serves), defined once in
//!   `ferrolb_kube::metrics::client` for the controller and the speaker;
//! - `ferrolb_speaker_malformed_frames_total` and `ferrolb_speaker_rejected_heartbeats_total`
//!   (hostile or broken input, dropped and counted), `ferrolb_speaker_replies_rate_limited_total`
//!   (replies not sent under a flood, `ferrolb_l2::limit`);
//! - `ferrolb_speaker_heartbeat_checks_total{reason}`: the liveness hardening checks
//!   (`ferrolb_l2::liveness`), by `reason`: `bad_key` (the HMAC does not verify with the
//!   current or previous key: a speaker with another `secretkey`, or a forgery),
//!   `future_incarnation` and `address_mismatch` (rejected, all three also counted in
//!   `ferrolb_speaker_rejected_heartbeats_total`), `previous_key`
//!   (accepted with the previous key: a key rotation is in progress) and `restarted_earlier`
//!   (a peer accepted again after restarting with an earlier clock).
//!
//! Series of an IP disappear when it is no longer announced here, so the label set is bounded
//! by the announced IPs (MetalLB keeps stale per-IP series forever).
//!
//! This file is the one home of the speaker's metric names. Every counter is an
//! `ExactCounter`, exposed as MetalLB's Go client exposes it (`# TYPE <name> counter`, samples
//! `<name>`, no `_total` appended); the exporter adds the Go client's `process_*` metrics.
//! `docs/metrics.md` lists them for operators.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use ferrolb_kube::metrics::client::ClientMetrics;
use ferrolb_kube::metrics::{ExactCounter, Exporter, ExporterBuilder};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use ferrolb_l2::liveness::Stats;

use crate::plan::Decisions;

/// Labels of `metallb_speaker_announced`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct Announced {
    /// The announced IP.
    pub ip: String,
    /// This node.
    pub node: String,
    /// `layer2`.
    pub protocol: String,
    /// `namespace/name`.
    pub service: String,
}

/// The `peer` label of the BGP session metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct PeerLabel {
    /// `ip:port` of the peer (`[v6]:port` for IPv6, as Go's `net.JoinHostPort`).
    pub peer: String,
}

/// The BGP session metrics.
#[derive(Default)]
struct BgpMetrics {
    session_up: Family<PeerLabel, Gauge>,
    updates: Family<PeerLabel, ExactCounter>,
    announced: Family<PeerLabel, Gauge>,
    pending: Family<PeerLabel, Gauge>,
}

/// The BFD session metrics.
#[derive(Default)]
struct BfdMetrics {
    session_up: Family<PeerLabel, Gauge>,
    input: Family<PeerLabel, ExactCounter>,
    output: Family<PeerLabel, ExactCounter>,
    up_events: Family<PeerLabel, ExactCounter>,
    down_events: Family<PeerLabel, ExactCounter>,
}

/// What a BFD session reports to the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BfdCounters {
    /// The session is Up.
    pub up: bool,
    /// Control packets received (accepted by the session).
    pub input: u64,
    /// Control packets sent.
    pub output: u64,
    /// Transitions to Up.
    pub up_events: u64,
    /// Transitions from Up to another state.
    pub down_events: u64,
}

/// The `ip` label of the layer2 counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct IpLabel {
    /// The service IP.
    pub ip: String,
}

/// The `reason` label of `ferrolb_speaker_heartbeat_checks`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `bad_key`, `future_incarnation`, `address_mismatch`, `previous_key` or
    /// `restarted_earlier`.
    pub reason: &'static str,
}

/// Every metric the speaker exports — the speaker's one set of counters: the periodic log
/// line ([`Metrics::summary`]) is read from them, and the rejected-heartbeat counter is derived
/// from `ferrolb_l2`'s liveness statistics ([`Metrics::heartbeats`]), so nothing is counted
/// twice.
pub struct Metrics {
    exporter: Exporter,
    announced: Family<Announced, Gauge>,
    requests: Family<IpLabel, ExactCounter>,
    responses: Family<IpLabel, ExactCounter>,
    gratuitous: Family<IpLabel, ExactCounter>,
    /// Frames dropped because they did not parse.
    malformed_frames: ExactCounter,
    /// Heartbeats rejected (bad tag, replay, malformed…), from the liveness statistics.
    rejected_heartbeats: ExactCounter,
    /// ARP replies / Neighbor Advertisements not sent: the requester or the responder was over
    /// its rate (`ferrolb_l2::limit`).
    replies_limited: ExactCounter,
    /// The liveness hardening checks by reason, from the liveness statistics.
    heartbeat_checks: Family<ReasonLabel, ExactCounter>,
    /// Sums of the per-IP counters over every IP ever counted (per-IP series go with their IP).
    totals: [ExactCounter; 3],
    shown: Mutex<(BTreeSet<Announced>, BTreeSet<IpLabel>)>,
    bgp: BgpMetrics,
    bfd: BfdMetrics,
    /// MetalLB's `metallb_k8s_client_*` (status write passes, configuration loaded / stale).
    pub client: ClientMetrics,
    /// `metallb_speaker_announced` series of protocol `bgp` currently shown.
    shown_bgp: Mutex<BTreeSet<Announced>>,
}

/// Indexes of [`Metrics::totals`], in the order of [`Metrics::per_ip`].
const REQUESTS: usize = 0;
const RESPONSES: usize = 1;
const GRATUITOUS: usize = 2;

impl Default for Metrics {
    fn default() -> Self {
        let announced = Family::<Announced, Gauge>::default();
        let per_ip: [Family<IpLabel, ExactCounter>; 3] = Default::default();
        let (malformed_frames, rejected_heartbeats) =
            (ExactCounter::default(), ExactCounter::default());
        let heartbeat_checks = Family::<ReasonLabel, ExactCounter>::default();
        let mut r = ExporterBuilder::default();
        r.register(
            "metallb_speaker_announced",
            "The service IPs this speaker announces",
            announced.clone(),
        );
        for ((name, help), family) in [
            (
                "metallb_layer2_requests_received",
                "ARP requests and Neighbor Solicitations received for an announced IP",
            ),
            (
                "metallb_layer2_responses_sent",
                "ARP replies and Neighbor Advertisements sent for an announced IP",
            ),
            (
                "metallb_layer2_gratuitous_sent",
                "Gratuitous ARP and unsolicited Neighbor Advertisements sent",
            ),
        ]
        .into_iter()
        .zip(&per_ip)
        {
            r.register(name, help, family.clone());
        }
        r.register(
            "ferrolb_speaker_malformed_frames_total",
            "ARP/NDP frames dropped because they did not parse",
            malformed_frames.clone(),
        );
        let replies_limited = ExactCounter::default();
        r.register(
            "ferrolb_speaker_replies_rate_limited_total",
            "ARP replies and Neighbor Advertisements not sent because the requester or the responder was over its rate",
            replies_limited.clone(),
        );
        r.register(
            "ferrolb_speaker_rejected_heartbeats_total",
            "Liveness heartbeats rejected (authentication, replay, format)",
            rejected_heartbeats.clone(),
        );
        r.register(
            "ferrolb_speaker_heartbeat_checks_total",
            "Liveness hardening checks by reason (future incarnation, address mismatch, previous key accepted, restarted with an earlier clock)",
            heartbeat_checks.clone(),
        );
        let bgp = BgpMetrics::default();
        for (name, help, g) in [
            (
                "metallb_bgp_session_up",
                "BGP session state (1 is up, 0 is down)",
                &bgp.session_up,
            ),
            (
                "metallb_bgp_announced_prefixes_total",
                "Number of prefixes currently being advertised on the BGP session",
                &bgp.announced,
            ),
            (
                "metallb_bgp_pending_prefixes_total",
                "Number of prefixes that should be advertised on the BGP session",
                &bgp.pending,
            ),
        ] {
            r.register(name, help, g.clone());
        }
        r.register(
            "metallb_bgp_updates_total",
            "Number of BGP UPDATE messages sent",
            bgp.updates.clone(),
        );
        let bfd = BfdMetrics::default();
        r.register(
            "metallb_bfd_session_up",
            "BFD session state (1 is up, 0 is down)",
            bfd.session_up.clone(),
        );
        for (name, help, c) in [
            (
                "metallb_bfd_control_packet_input",
                "Number of received BFD control packets",
                &bfd.input,
            ),
            (
                "metallb_bfd_control_packet_output",
                "Number of sent BFD control packets",
                &bfd.output,
            ),
            (
                "metallb_bfd_session_up_events",
                "Number of BFD session up events",
                &bfd.up_events,
            ),
            (
                "metallb_bfd_session_down_events",
                "Number of BFD session down events",
                &bfd.down_events,
            ),
        ] {
            r.register(name, help, c.clone());
        }
        let client = ClientMetrics::default();
        client.register(&mut r);
        let [requests, responses, gratuitous] = per_ip;
        Self {
            exporter: r.build(),
            announced,
            requests,
            responses,
            gratuitous,
            malformed_frames,
            rejected_heartbeats,
            replies_limited,
            heartbeat_checks,
            totals: Default::default(),
            shown: Mutex::default(),
            bgp,
            bfd,
            client,
            shown_bgp: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// MetalLB's `peer` label: `ip:port` (IPv6 in brackets).
fn peer_label(peer: SocketAddr) -> PeerLabel {
    PeerLabel {
        peer: peer.to_string(),
    }
}

fn ip_label(ip: IpAddr) -> IpLabel {
    IpLabel { ip: ip.to_string() }
}

impl Metrics {
    /// The per-IP families, in the order of the [`Metrics::totals`] indexes.
    fn per_ip(&self) -> [&Family<IpLabel, ExactCounter>; 3] {
        [&self.requests, &self.responses, &self.gratuitous]
    }

    fn count(&self, which: usize, ip: IpAddr) {
        self.per_ip()[which].get_or_create(&ip_label(ip)).inc();
        self.totals[which].inc();
    }

    /// A request for an announced `ip` was received.
    pub fn request(&self, ip: IpAddr) {
        self.count(REQUESTS, ip);
    }

    /// A reply for `ip` was built and handed to the socket.
    pub fn response(&self, ip: IpAddr) {
        self.count(RESPONSES, ip);
    }

    /// A gratuitous ARP / unsolicited NA for `ip` was sent.
    pub fn gratuitous(&self, ip: IpAddr) {
        self.count(GRATUITOUS, ip);
    }

    /// A reply was not sent: over the rate (`ferrolb_l2::limit`).
    pub fn reply_rate_limited(&self) {
        self.replies_limited.inc();
    }

    /// A frame was dropped because it did not parse.
    pub fn malformed_frame(&self) {
        self.malformed_frames.inc();
    }

    /// Brings `ferrolb_speaker_rejected_heartbeats` up to the liveness statistics (their one
    /// source: every datagram the membership refused).
    pub fn heartbeats(&self, stats: &Stats) {
        let rejected = stats.malformed
            + stats.bad_tag
            + stats.replayed
            + stats.clock_skew
            + stats.own_name
            + stats.future_incarnation
            + stats.address_mismatch;
        self.rejected_heartbeats.catch_up(rejected);
        for (reason, n) in [
            ("bad_key", stats.bad_tag),
            ("future_incarnation", stats.future_incarnation),
            ("address_mismatch", stats.address_mismatch),
            ("previous_key", stats.previous_key),
            ("restarted_earlier", stats.restarted_earlier),
        ] {
            self.heartbeat_checks
                .get_or_create(&ReasonLabel { reason })
                .catch_up(n);
        }
    }

    /// One-line summary of the counters (the speaker's periodic log line).
    pub fn summary(&self) -> String {
        let t = |i: usize| self.totals[i].get();
        format!(
            "requests_received={} responses_sent={} replies_rate_limited={} gratuitous_sent={} malformed_frames={} rejected_heartbeats={}",
            t(REQUESTS),
            t(RESPONSES),
            self.replies_limited.get(),
            t(GRATUITOUS),
            self.malformed_frames.get(),
            self.rejected_heartbeats.get()
        )
    }

    /// Makes `metallb_speaker_announced` show exactly `decisions`, and drops the per-IP series
    /// of IPs no longer announced here.
    pub fn set_announced(&self, node: &str, decisions: &Decisions) {
        let now: BTreeSet<Announced> = decisions
            .announce
            .iter()
            .flat_map(|a| {
                a.ips.iter().map(|ip| Announced {
                    ip: ip.to_string(),
                    node: node.to_owned(),
                    protocol: "layer2".into(),
                    service: a.service.to_string(),
                })
            })
            .collect();
        let ips: BTreeSet<IpLabel> = now.iter().map(|a| IpLabel { ip: a.ip.clone() }).collect();
        let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        for gone in shown.0.difference(&now) {
            self.announced.remove(gone);
        }
        for gone in shown.1.difference(&ips) {
            for family in self.per_ip() {
                family.remove(gone);
            }
        }
        for a in &now {
            self.announced.get_or_create(a).set(1);
        }
        *shown = (now, ips);
    }

    /// Makes `metallb_speaker_announced{protocol="bgp"}` show exactly `services` (Service →
    /// its IPs advertised from this node).
    pub fn set_announced_bgp<'a>(
        &self,
        node: &str,
        services: impl IntoIterator<Item = (String, &'a [IpAddr])>,
    ) {
        let now: BTreeSet<Announced> = services
            .into_iter()
            .flat_map(|(service, ips)| {
                ips.iter().map(move |ip| Announced {
                    ip: ip.to_string(),
                    node: node.to_owned(),
                    protocol: "bgp".into(),
                    service: service.clone(),
                })
            })
            .collect();
        let mut shown = self
            .shown_bgp
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for gone in shown.difference(&now) {
            self.announced.remove(gone);
        }
        for a in &now {
            self.announced.get_or_create(a).set(1);
        }
        *shown = now;
    }

    /// Sets the session metrics of `peer` (`ip:port`).
    pub fn set_bgp_session(
        &self,
        peer: SocketAddr,
        up: bool,
        updates: u64,
        sent: u64,
        pending: u64,
    ) {
        let l = peer_label(peer);
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.bgp.session_up.get_or_create(&l).set(i64::from(up));
        self.bgp.updates.get_or_create(&l).catch_up(updates);
        self.bgp.announced.get_or_create(&l).set(gauge(sent));
        self.bgp.pending.get_or_create(&l).set(gauge(pending));
    }

    /// Removes the session metrics of `peer` (the session is gone).
    pub fn remove_bgp_session(&self, peer: SocketAddr) {
        let l = peer_label(peer);
        self.bgp.session_up.remove(&l);
        self.bgp.updates.remove(&l);
        self.bgp.announced.remove(&l);
        self.bgp.pending.remove(&l);
    }

    /// Sets the BFD metrics of the session with `peer`.
    pub fn set_bfd_session(&self, peer: IpAddr, c: &BfdCounters) {
        let l = PeerLabel {
            peer: peer.to_string(),
        };
        let b = &self.bfd;
        b.session_up.get_or_create(&l).set(i64::from(c.up));
        b.input.get_or_create(&l).catch_up(c.input);
        b.output.get_or_create(&l).catch_up(c.output);
        b.up_events.get_or_create(&l).catch_up(c.up_events);
        b.down_events.get_or_create(&l).catch_up(c.down_events);
    }

    /// Removes the BFD metrics of `peer` (the session is gone).
    pub fn remove_bfd_session(&self, peer: IpAddr) {
        let l = PeerLabel {
            peer: peer.to_string(),
        };
        let b = &self.bfd;
        b.session_up.remove(&l);
        for f in [&b.input, &b.output, &b.up_events, &b.down_events] {
            f.remove(&l);
        }
    }

    /// The shared exporter (registry, readiness, HTTP servers) these metrics are in.
    pub fn exporter(&self) -> &Exporter {
        &self.exporter
    }

    /// The text exposition of every metric.
    #[cfg(test)]
    fn render(&self) -> String {
        self.exporter.render()
    }
}

#[cfg(test)]
mod tests;
