//! The ARP/NDP responders: one packet socket and one tokio task per interface and protocol,
//! answering straight from the shared ownership [`View`] (so losing ownership stops the answers
//! before the next frame is read). Malformed frames are dropped and counted; nothing a peer
//! sends can panic a responder.
//!
//! Under a flood (issue 19): replies go through a [`ReplyLimiter`] (per requester MAC and per
//! responder; refusals counted in `ferrolb_speaker_replies_rate_limited_total`), and a responder
//! gives the runtime back after each frame's share of the task budget
//! (`tokio::task::consume_budget`), so a socket that never runs dry cannot starve the heartbeat
//! task on the same runtime.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use ferrolb_l2::limit::{Limits, ReplyLimiter};
use ferrolb_l2::owner::Interfaces;
use ferrolb_l2::packet::MacAddr;
use ferrolb_l2::packet::arp::{self, ArpFrame};
use ferrolb_l2::packet::ndp::{self, NaSource, NdpMessage};
use ferrolb_net::{Filter, PacketSocket};
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// Which IPs are answered on which interfaces (written by the shell, read by the responders).
pub type View = Arc<RwLock<BTreeMap<IpAddr, Interfaces>>>;

fn answers(view: &View, ip: IpAddr, ifname: &str) -> bool {
    let v = view.read().unwrap_or_else(|e| e.into_inner());
    v.get(&ip).is_some_and(|i| i.contains(ifname))
}

/// A packet socket registered with tokio.
pub struct Raw(PacketSocket);

impl Raw {
    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) -> std::io::Result<usize> {
        self.0.send(frame)
    }
}

impl AsRawFd for Raw {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_socket().as_raw_fd()
    }
}

/// A responder's socket.
pub type Socket = Arc<AsyncFd<Raw>>;

fn open(ifindex: u32, filter: Filter) -> std::io::Result<Socket> {
    let s = PacketSocket::open(ifindex, filter)?;
    s.set_nonblocking(true)?;
    // `AsyncFd::new` is deprecated in favour of the `unsafe` `register` (this crate forbids
    // unsafe). Its I/O-safety requirement holds here: `Raw` owns the socket, so the fd stays
    // open and unchanged for the whole life of the `AsyncFd`.
    #[allow(deprecated)]
    let fd = AsyncFd::new(Raw(s))?;
    Ok(Arc::new(fd))
}

/// The protocol a responder answers.
#[derive(Clone, Copy, Debug)]
pub enum Proto {
    /// ARP requests (RFC 826).
    Arp,
    /// Neighbor Solicitations (RFC 4861 §7.2.4).
    Ndp,
}

/// What a responder answers with, on which interface.
#[derive(Clone)]
pub struct Responder {
    /// The protocol.
    pub proto: Proto,
    /// The interface name (the view is per interface).
    pub ifname: String,
    /// The interface's MAC.
    pub mac: MacAddr,
    /// The source of Neighbor Advertisements.
    pub na_source: NaSource,
    /// What is answered where.
    pub view: View,
    /// Where the answers are counted.
    pub metrics: Arc<Metrics>,
}

impl Responder {
    /// Opens the socket on `ifindex` and starts answering on it.
    pub fn start(self, ifindex: u32) -> std::io::Result<(Socket, JoinHandle<()>)> {
        let filter = match self.proto {
            Proto::Arp => Filter::ArpRequests,
            Proto::Ndp => Filter::NeighborSolicitations,
        };
        let fd = open(ifindex, filter)?;
        let task = tokio::spawn(self.run(fd.clone()));
        Ok((fd, task))
    }

    async fn run(self, fd: Socket) {
        let mut buf = [0u8; 1600];
        let mut limiter = ReplyLimiter::new(Limits::default(), Instant::now());
        loop {
            let mut guard = match fd.readable().await {
                Ok(g) => g,
                Err(e) => {
                    tracing::warn!(interface = %self.ifname, error = %e, "responder stopped");
                    return;
                }
            };
            loop {
                let n = match guard.try_io(|inner| inner.get_ref().0.recv(&mut buf)) {
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => {
                        tracing::debug!(interface = %self.ifname, error = %e, "receive failed");
                        break;
                    }
                    Err(_would_block) => break,
                };
                if let Some(reply) = self.answer(&buf[..n], &mut limiter)
                    && let Err(e) = fd.get_ref().send(&reply)
                {
                    tracing::debug!(interface = %self.ifname, error = %e, "sending reply failed");
                }
                // Yields once this task used its budget: a flood keeps the socket readable.
                tokio::task::consume_budget().await;
            }
        }
    }

    /// The reply to one received frame, if any and if `limiter` allows it (counted in the
    /// metrics).
    fn answer(&self, frame: &[u8], limiter: &mut ReplyLimiter) -> Option<Vec<u8>> {
        let parsed = match self.proto {
            Proto::Arp => self.answer_arp(frame),
            Proto::Ndp => self.answer_ns(frame),
        };
        match parsed {
            Ok(reply) => {
                let (ip, requester, bytes) = reply?;
                // MetalLB counts requests for announced IPs only (`internal/layer2/arp.go`).
                self.metrics.request(ip);
                if !limiter.allow(requester, Instant::now()) {
                    self.metrics.reply_rate_limited();
                    return None;
                }
                self.metrics.response(ip);
                Some(bytes)
            }
            Err(e) => {
                self.metrics.malformed_frame();
                tracing::trace!(interface = %self.ifname, error = %e, "dropped malformed frame");
                None
            }
        }
    }

    fn answer_arp(&self, frame: &[u8]) -> Result<Option<Reply>, String> {
        let req = ArpFrame::parse(frame).map_err(|e| e.to_string())?;
        let rep = arp::respond(&req, self.mac, |ip| {
            answers(&self.view, IpAddr::V4(ip), &self.ifname)
        });
        Ok(rep
            .ok()
            .map(|r| (IpAddr::V4(req.target_ip), req.eth_src, r.encode().to_vec())))
    }

    fn answer_ns(&self, frame: &[u8]) -> Result<Option<Reply>, String> {
        let NdpMessage::Solicitation(ns) = ndp::parse(frame).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let na = ndp::respond(
            &ns,
            self.mac,
            self.na_source,
            ndp::METALLB_SOLICITED_OVERRIDE,
            |ip| answers(&self.view, IpAddr::V6(ip), &self.ifname),
        );
        Ok(na
            .ok()
            .map(|na| (IpAddr::V6(ns.target), ns.eth_src, na.encode())))
    }
}

/// A reply: the IP answered for, the requester's MAC (what the limiter counts), the frame.
type Reply = (IpAddr, MacAddr, Vec<u8>);
