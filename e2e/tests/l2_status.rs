//! A speaker's ServiceL2Status converges at once (issue 14): the speaker watches its own
//! objects (label `metallb.io/node=<node>`), so one deleted by someone else is written back
//! without waiting for the periodic pass (30 s), and an object deleted between the speaker's
//! list and its update is created again instead of failing with `NotFound`.
//!
//! The bounds below (10 s) are well under the periodic pass, so they fail without the watch;
//! they are convergence bounds, not performance assertions.
//!
//! Harness: `ferrolb_e2e::l2`. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::{Rig, wait_for};

/// How long a deleted ServiceL2Status may stay away.
const BACK_WITHIN: Duration = Duration::from_secs(10);

fn selector(svc: &str) -> String {
    format!("metallb.io/service-name={svc},metallb.io/service-namespace={NS}")
}

/// Names of the ServiceL2Statuses of `NS/svc`, sorted.
fn status_names(rig: &Rig, svc: &str) -> Result<Vec<String>> {
    let out = rig.kubectl(&[
        "-n",
        SYSTEM,
        "get",
        "servicel2statuses",
        "-l",
        &selector(svc),
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])?;
    let mut v: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    v.sort();
    Ok(v)
}

/// Deletes every ServiceL2Status of `NS/svc` (as another program would), without waiting.
fn delete_statuses(rig: &Rig, svc: &str) -> Result<()> {
    rig.kubectl(&[
        "-n",
        SYSTEM,
        "delete",
        "servicel2statuses",
        "-l",
        &selector(svc),
        "--ignore-not-found",
        "--wait=false",
    ])
    .map(drop)
}

/// Waits (at most [`BACK_WITHIN`]) until `NS/svc` has exactly one ServiceL2Status, naming
/// `owner`, and not one of `deleted`.
async fn wait_back(rig: &Rig, svc: &str, owner: &str, deleted: &[String]) -> Result<()> {
    wait_for(
        &format!("a new ServiceL2Status of {NS}/{svc} on {owner} within {BACK_WITHIN:?}"),
        BACK_WITHIN,
        || diag(rig),
        || async {
            let names = status_names(rig, svc)?;
            let fresh = names.len() == 1 && !deleted.contains(&names[0]);
            Ok((fresh && status_nodes(rig, svc)? == [owner]).then_some(()))
        },
    )
    .await
}

/// Installs, starts the operator and every speaker, creates `web` and waits for its
/// ServiceL2Status; runs `body` with the owner node, then cleans up.
async fn with_announced_web<F, Fut>(rig: &Rig, body: F) -> Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    install(rig)?;
    let _op = start_operator(rig)?;
    let speakers = Speakers::start(rig, &[])?;
    let result = async {
        workload(rig, "web", 1, None, "Cluster")?;
        let ip = wait_ip(rig, "web").await?;
        let owner = expected_owner(&ip, &rig.node_names())?;
        wait_status_node(rig, "web", &owner).await?;
        body(owner).await
    }
    .await;
    drop(speakers);
    cleanup(rig);
    result
}

#[tokio::test]
async fn deleted_status_comes_back_at_once() -> Result<()> {
    let Some(rig) = Rig::from_env("deleted_status_comes_back_at_once") else {
        return Ok(());
    };
    with_announced_web(&rig, |owner| {
        let rig = &rig;
        async move {
            let before = status_names(rig, "web")?;
            ensure!(
                before.len() == 1,
                "one ServiceL2Status expected: {before:?}"
            );
            delete_statuses(rig, "web")?;
            wait_back(rig, "web", &owner, &before).await
        }
    })
    .await
}

#[tokio::test]
async fn status_comes_back_after_repeated_deletions() -> Result<()> {
    let Some(rig) = Rig::from_env("status_comes_back_after_repeated_deletions") else {
        return Ok(());
    };
    with_announced_web(&rig, |owner| {
        let rig = &rig;
        async move {
            // Another program keeps deleting the object for a few seconds (racing the
            // speaker's recreations and status writes), then stops.
            let mut deleted = Vec::new();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(4) {
                deleted.extend(status_names(rig, "web")?);
                delete_statuses(rig, "web")?;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            deleted.sort();
            deleted.dedup();
            ensure!(
                deleted.len() >= 2,
                "the speaker recreated nothing while its object was being deleted: {deleted:?}"
            );
            wait_back(rig, "web", &owner, &deleted).await
        }
    })
    .await
}
