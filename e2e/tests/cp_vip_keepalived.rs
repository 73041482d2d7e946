//! The control-plane VIP against its reference, keepalived (issue 20), on the same rig in the
//! same run: three node namespaces with an API server each (`ferrolb_e2e::cp_vip`), the VIP
//! held in turn by
//! - keepalived as the HA guide configures it (VRRPv2, `advert_int 1`, priorities 200/150/100),
//! - keepalived tuned (VRRPv3, `advert_int 0.1`),
//! - `ferrolb-speaker control-plane` with its default timers,
//! - the same with the tuned timers (`--heartbeat-interval 50ms --dead-after 250ms`),
//!
//! and, N times each, the owner's link cut (carrier off on its switch port, the fault both
//! handle; keepalived as configured has no API-server health check, so "the API server killed"
//! is ferrolb's row only, `cp_vip.rs` `z_bench_cp_vip`). Measured from the client namespace,
//! not from either system's logs: the ARP prober (a request every 10 ms) gives the takeover time
//! (fault → first reply from another MAC) and whether the old MAC answered after it; `/readyz`
//! through the VIP gives when the API answered again.
//!
//! A scripted benchmark, not a timed test: skipped unless `FERROLB_E2E=1` and
//! `FERROLB_CP_VIP_VS_KEEPALIVED_TRIALS=N` (at most 50); keepalived is the Debian package
//! `e2e/run.sh` installs. Every loop is bounded; every process is stopped at the end; traffic
//! stays inside the rig's namespaces.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::Rig;
use ferrolb_e2e::cp_vip::{
    CpNode, LinkDown, VIP, Vrrp, clear_vip, start_keepalived_nodes, start_speaker_nodes,
    wait_owner, wait_readyz,
};
use ferrolb_e2e::failover::{measure_takeover, now_ns, percentiles, probe_replies, start_probe};

/// The tuned timers of docs/control-plane-vip.md.
const TUNED: &[&str] = &[
    "--heartbeat-interval",
    "50ms",
    "--dead-after",
    "250ms",
    "--health-interval",
    "50ms",
    "--health-fall",
    "2",
];

/// One of the four VIP holders under test.
#[derive(Clone, Copy)]
enum Setup {
    Keepalived(Vrrp),
    Ferrolb(&'static [&'static str]),
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Keepalived(Vrrp::GuideV2) => "keepalived VRRPv2 advert_int 1 (the guide)",
            Setup::Keepalived(Vrrp::TunedV3) => "keepalived VRRPv3 advert_int 0.1 (tuned)",
            Setup::Ferrolb([]) => "ferrolb control-plane, default timers",
            Setup::Ferrolb(_) => "ferrolb control-plane, tuned timers",
        }
    }

    fn start(self, rig: &Rig) -> Result<Vec<CpNode>> {
        match self {
            Setup::Keepalived(v) => start_keepalived_nodes(rig, v),
            Setup::Ferrolb(extra) => start_speaker_nodes(rig, extra),
        }
    }

    /// How long the prober runs per trial: the guide's VRRPv2 takes ~3 s to move the VIP.
    fn probe_secs(self) -> u32 {
        match self {
            Setup::Keepalived(Vrrp::GuideV2) => 7,
            _ => 4,
        }
    }
}

/// One setup's figures.
struct Figures {
    arp: Vec<Duration>,
    readyz: Vec<Duration>,
    two_macs: usize,
    /// Trials in which the VIP moved again among the survivors within the probe.
    moved_again: usize,
}

/// `trials` link cuts of the current owner; the link comes back after each, and the VIP
/// settles (keepalived preempts back to the priority-200 node) before the next.
fn run_setup(rig: &Rig, setup: Setup, trials: usize) -> Result<Figures> {
    let nodes = setup.start(rig)?;
    wait_readyz(rig, Duration::from_secs(30))
        .with_context(|| format!("{}: the VIP never answered /readyz", setup.name()))?;
    let mut f = Figures {
        arp: Vec::new(),
        readyz: Vec::new(),
        two_macs: 0,
        moved_again: 0,
    };
    for trial in 0..trials {
        let owner = wait_owner(rig, &nodes, Duration::from_secs(10))?;
        let mac = rig.node_mac(&owner)?;
        let probe = start_probe(VIP, setup.probe_secs())?;
        std::thread::sleep(Duration::from_millis(500));
        let (t0_ns, t0) = (now_ns(), Instant::now());
        let link = LinkDown::cut(rig, &owner)?;
        let readyz = wait_readyz(rig, Duration::from_secs(10)).map(|_| t0.elapsed());
        let replies = probe_replies(probe)?;
        drop(link);
        let t = measure_takeover(&replies, t0_ns, &mac)
            .with_context(|| format!("{} trial {trial}: {owner}'s link cut", setup.name()))?;
        let readyz = readyz?;
        println!(
            "{} trial {trial}: {owner}'s link cut: ARP takeover {:?}, /readyz via VIP after {readyz:?}, two MACs: {}, MACs after the cut: {}",
            setup.name(),
            t.failover,
            t.both_answered,
            t.movers
        );
        f.arp.push(t.failover);
        f.readyz.push(readyz);
        f.two_macs += usize::from(t.both_answered);
        f.moved_again += usize::from(t.movers > 1);
        // The link is back: let the VIP settle (preemption, rejoin) before the next trial.
        std::thread::sleep(Duration::from_secs(4));
        wait_readyz(rig, Duration::from_secs(10))?;
    }
    drop(nodes);
    // Nothing may hold the VIP when the next setup starts (SIGKILLed speakers leave it).
    clear_vip(rig)?;
    let start = Instant::now();
    while !rig.arp_who_has(VIP, 1)?.is_empty() {
        ensure!(
            start.elapsed() < Duration::from_secs(10),
            "{}: the VIP outlived its holders",
            setup.name()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(f)
}

#[test]
fn z_bench_cp_vip_vs_keepalived() -> Result<()> {
    let Some(trials) = std::env::var("FERROLB_CP_VIP_VS_KEEPALIVED_TRIALS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        eprintln!("SKIP z_bench_cp_vip_vs_keepalived: set FERROLB_CP_VIP_VS_KEEPALIVED_TRIALS=N");
        return Ok(());
    };
    let Some(rig) = Rig::from_env("z_bench_cp_vip_vs_keepalived") else {
        return Ok(());
    };
    ensure!(rig.nodes >= 3, "needs three nodes");
    let setups = [
        Setup::Keepalived(Vrrp::GuideV2),
        Setup::Keepalived(Vrrp::TunedV3),
        Setup::Ferrolb(&[]),
        Setup::Ferrolb(TUNED),
    ];
    let mut rows = Vec::new();
    for setup in setups {
        let f = run_setup(&rig, setup, trials.min(50))?;
        rows.push(format!(
            "BENCH cp-vip link cut | {} | ARP takeover {} | /readyz via VIP {} | old MAC after the new one in {} of {n} trials | moved again among the survivors in {} of {n}",
            setup.name(),
            percentiles(f.arp),
            percentiles(f.readyz),
            f.two_macs,
            f.moved_again,
            n = trials.min(50)
        ));
    }
    println!(
        "BENCH cp-vip vs keepalived ({} build of the speaker, load {})",
        ferrolb_e2e::procs::speaker_build(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
