//! BGP mode through a frozen API server (issue 19), ferrolb's controller and BGP-only speakers
//! peering with FRR (setup in `ferrolb_e2e::bgp_setup`), a Service advertised by the three
//! nodes:
//!
//! - while the API server is frozen (SIGSTOP, `ferrolb_e2e::faults::Frozen`, ~9 s, under the
//!   rig's 16 s node grace period): every session with FRR stays Established and is never reset
//!   (FRR's `connectionsDropped` unchanged), the Service's route keeps its three next hops, and
//!   HTTP from the client through FRR is answered — sessions and advertisements run on the
//!   speaker's last known state, never torn down because the API server went quiet;
//! - after the thaw every ferrolb process is still running, still no session was reset, and a
//!   Service created afterwards is advertised by every node.
//!
//! Never calls the API server while it is frozen (kubectl has no default timeout). Skipped
//! unless `FERROLB_E2E=1`. Objects are removed at the end.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::Rig;
use ferrolb_e2e::bgp::{self, Family, Router};
use ferrolb_e2e::bgp_setup::{self as setup, Suite};
use ferrolb_e2e::faults::Frozen;
use ferrolb_e2e::l2::Speakers;

const NS: &str = "faults-bgp";
const SUITE: Suite = Suite {
    ns: NS,
    class: setup::CLASS,
    name: "faults-bgp",
};
const POOL: &str = "faults-bgp";
const CIDR: &str = "10.252.26.0/28";
const PEER: &str = "faults-bgp-frr";
const TIMEOUT: Duration = Duration::from_secs(60);

/// FRR's `connectionsDropped` of each node's IPv4 session.
fn dropped(rig: &Rig) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for n in rig.node_names() {
        let a = bgp::node_address(&n, Family::Ipv4)?;
        let nb = bgp::neighbor(rig, Router::Frr, &a)?
            .with_context(|| format!("FRR has no neighbour {a}"))?;
        ensure!(
            nb.is_established(),
            "FRR's session with {n} ({a}) is {}",
            nb.state
        );
        out.insert(n, nb.dropped_count.unwrap_or(0));
    }
    Ok(out)
}

/// FRR's route for `prefix` has one fresh path per node.
fn all_paths(rig: &Rig, prefix: &str) -> Result<()> {
    let paths = bgp::route(rig, Router::Frr, prefix)?;
    ensure!(
        paths.len() == rig.nodes && paths.iter().all(|p| !p.stale),
        "FRR's paths for {prefix}: {paths:?}"
    );
    Ok(())
}

async fn announced_everywhere(rig: &Rig, svc: &str) -> Result<String> {
    let ip = SUITE.wait_ip(rig, svc, TIMEOUT).await?;
    let prefix = format!("{ip}/32");
    let nodes = rig.nodes;
    bgp::wait_route(rig, Router::Frr, &prefix, TIMEOUT, |p| {
        p.len() == nodes && p.iter().all(|r| !r.stale)
    })
    .await?;
    Ok(ip)
}

#[tokio::test]
async fn bgp_sessions_and_routes_stay_while_the_api_server_is_frozen() -> Result<()> {
    let Some(rig) = Rig::from_env("bgp_sessions_and_routes_stay_while_the_api_server_is_frozen")
    else {
        return Ok(());
    };
    SUITE.install(&rig)?;
    let objects = vec![
        format!("bgppeers.metallb.io/{PEER}"),
        format!("bgpadvertisements.metallb.io/{POOL}"),
        format!("ipaddresspools.metallb.io/{POOL}"),
    ];
    let frr = Router::Frr.address(Family::Ipv4);
    let mut cfg = setup::pool_yaml(POOL, CIDR);
    cfg.push_str(&setup::peer_yaml(PEER, Router::Frr.asn(), &frr, ""));
    cfg.push_str(&setup::service_yaml(NS, "web", POOL, "web"));
    setup::apply(&rig, &cfg)?;
    let result = async {
        SUITE.workload(&rig, "web", 3, "IPv4", POOL)?;
        let mut op = SUITE.start_operator(&rig)?;
        let mut speakers =
            Speakers::none(&rig, &["--lb-class", setup::CLASS, "--enable-l2=false"])?;
        for n in rig.node_names() {
            speakers.start_one(&rig, &n)?;
        }
        for n in rig.node_names() {
            bgp::wait_established(
                &rig,
                Router::Frr,
                &bgp::node_address(&n, Family::Ipv4)?,
                TIMEOUT,
            )
            .await?;
        }
        let ip = announced_everywhere(&rig, "web").await?;
        let prefix = format!("{ip}/32");
        let url = format!("http://{ip}/");
        // The data path through FRR works before the fault (kube-proxy synced on every node).
        ferrolb_e2e::wait_for(
            "HTTP through FRR before the freeze",
            TIMEOUT,
            || SUITE.diag(&rig),
            || async {
                Ok(rig
                    .http_get_from_client(&url)
                    .ok()
                    .filter(|b| b.trim().starts_with("web-"))
                    .map(drop))
            },
        )
        .await?;
        let before = dropped(&rig)?;

        {
            let _frozen = Frozen::freeze(&rig, "kube-apiserver")?;
            let end = Instant::now() + Duration::from_secs(9);
            let mut checks = 0;
            while Instant::now() < end {
                all_paths(&rig, &prefix)?;
                ensure!(
                    dropped(&rig)? == before,
                    "a BGP session was reset while the API server was frozen"
                );
                let body = rig.http_get_from_client(&url)?;
                ensure!(body.trim().starts_with("web-"), "HTTP through FRR: {body}");
                checks += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
            ensure!(
                checks >= 5,
                "only {checks} checks while the API server was frozen"
            );
        }

        ensure!(
            op.0.try_wait()?.is_none(),
            "the controller exited during the freeze"
        );
        for (node, p) in speakers.procs.iter_mut() {
            ensure!(
                p.0.try_wait()?.is_none(),
                "{node}'s speaker exited during the freeze"
            );
        }
        // Recovery: a new Service is advertised by every node; still no session reset.
        setup::apply(&rig, &setup::service_yaml(NS, "web2", POOL, "web"))?;
        announced_everywhere(&rig, "web2").await?;
        all_paths(&rig, &prefix)?;
        ensure!(
            dropped(&rig)? == before,
            "a BGP session was reset after the thaw"
        );
        drop(speakers);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if result.is_err() {
        println!("{}", SUITE.diag(&rig));
    }
    SUITE.cleanup_objects(&rig, &objects);
    SUITE.cleanup(&rig);
    result
}
