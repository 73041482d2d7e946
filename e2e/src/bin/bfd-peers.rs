//! `bfd-peers`: BFD peers for the speaker's memory benchmark (`z_bench_bgp_e_bfd_memory` in
//! `e2e/tests/bgp_bench.rs`): one RFC 5881 single-hop BFD session per local address, all with
//! one remote (a node's address), each the sans-IO `ferrolb_bfd::Session` (the rig has no
//! daemon answering BFD on many addresses of one host: FRR's bfdd is one peer per node).
//! Run inside the netns holding the addresses (`ip netns exec`); it stops by itself.
//!
//! ```text
//! bfd-peers SECONDS INTERVAL_MS REMOTE LOCAL...
//! ```
//!
//! Per session a thread with one UDP socket bound to `LOCAL:3784`, sending with TTL 255
//! (GTSM, RFC 5881 §5) to `REMOTE:3784`; datagrams from other sources are ignored. Once a
//! second it prints how many sessions are Up (`up N/M`) on stdout.
#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferrolb_bfd::{Action, ControlPacket, Session, SessionConfig, State};

/// RFC 5881 §4: single-hop control packets go to this port.
const PORT: u16 = 3784;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        bail!("usage: bfd-peers SECONDS INTERVAL_MS REMOTE LOCAL...");
    }
    let seconds: u64 = args[0].parse().context("SECONDS")?;
    let interval = Duration::from_millis(args[1].parse().context("INTERVAL_MS")?);
    let remote: IpAddr = args[2].parse().context("REMOTE")?;
    let locals = args[3..]
        .iter()
        .map(|a| a.parse::<IpAddr>().with_context(|| format!("LOCAL {a}")))
        .collect::<Result<Vec<_>>>()?;
    let until = Instant::now() + Duration::from_secs(seconds.min(3600));
    let cfg = SessionConfig {
        desired_min_tx: interval,
        required_min_rx: interval,
        detect_mult: 3,
        passive: false,
    };
    let up = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for (i, local) in locals.iter().enumerate() {
        let sock = UdpSocket::bind(SocketAddr::new(*local, PORT))
            .with_context(|| format!("bind {local}:{PORT}"))?;
        sock.set_ttl(255)?;
        let up = up.clone();
        let discr = 0x4000_0000 + i as u32 + 1;
        threads.push(std::thread::spawn(move || {
            run(sock, remote, cfg, discr, until, &up)
        }));
    }
    let n = locals.len();
    while Instant::now() < until {
        println!("up {}/{n}", up.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_secs(1));
    }
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            eprintln!("bfd-peers: {e:#}");
        }
    }
    Ok(())
}

/// One session until `until`; `up` counts the sessions in Up.
fn run(
    sock: UdpSocket,
    remote: IpAddr,
    cfg: SessionConfig,
    discr: u32,
    until: Instant,
    up: &AtomicUsize,
) -> Result<()> {
    let epoch = Instant::now();
    let to = SocketAddr::new(remote, PORT);
    let mut s = Session::new(cfg, discr, u64::from(discr) * 0x9e37_79b9, Duration::ZERO);
    let mut buf = [0u8; 64];
    let mut actions = s.tick(epoch.elapsed());
    while Instant::now() < until {
        for a in actions.drain(..) {
            match a {
                Action::Send(p) => {
                    let _ = sock.send_to(&p.encode(), to);
                }
                Action::StateChanged { from, to, .. } => {
                    if to == State::Up {
                        up.fetch_add(1, Ordering::Relaxed);
                    } else if from == State::Up {
                        up.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
        }
        let now = epoch.elapsed();
        let wait = s
            .next_deadline()
            .map_or(Duration::from_millis(100), |d| d.saturating_sub(now))
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        sock.set_read_timeout(Some(wait))?;
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && from.ip() == remote
            && let Ok(p) = ControlPacket::decode(&buf[..n])
        {
            actions = s.receive(&p, epoch.elapsed());
        }
        // Timers too: packets arriving faster than the transmit interval must not stall it.
        actions.extend(s.tick(epoch.elapsed()));
    }
    Ok(())
}
