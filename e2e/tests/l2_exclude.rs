//! MetalLB's interface exclusion list (ConfigMap `metallb-excludel2`, mounted at
//! `/etc/metallb/excludel2.yaml`; here passed with `--excludel2-file`) on the rig (issue 18):
//!
//! - every speaker reads a list excluding the nodes' LAN interface (`^eth0$`): the Service gets
//!   its IP, but no node answers ARP for it — then the speakers restart without the file
//!   (MetalLB's default list, which keeps `eth0`) and the elected node answers: the silence
//!   was the list, not a slow start;
//! - a list with a pattern that is not a regular expression stops the speaker with a message
//!   naming the file and the pattern (the speakers already running keep serving).
//!
//! Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::{Rig, wait_for};

fn speaker_log(rig: &Rig, node: &str) -> PathBuf {
    rig.run_dir
        .join(format!("logs/ferrolb-speaker-l2e2e-{node}.log"))
}

/// The log of `node`'s speaker from byte `from` on (the file is shared by every L2 test).
fn log_since(path: &Path, from: u64) -> String {
    let all = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(all.len());
    String::from_utf8_lossy(&all[from..]).into_owned()
}

fn log_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[tokio::test]
async fn excludel2_list_silences_an_interface_and_a_bad_list_stops_the_speaker() -> Result<()> {
    let Some(rig) =
        Rig::from_env("excludel2_list_silences_an_interface_and_a_bad_list_stops_the_speaker")
    else {
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let lists = rig.run_dir.join("excludel2");
    std::fs::create_dir_all(&lists)?;
    let eth0 = lists.join("eth0.yaml");
    std::fs::write(&eth0, "announcedInterfacesToExclude:\n- ^eth0$\n")?;
    let bad = lists.join("bad.yaml");
    std::fs::write(
        &bad,
        "announcedInterfacesToExclude:\n- ^eth1$\n- (unclosed\n",
    )?;
    let nodes = rig.node_names();
    let offsets: Vec<u64> = nodes
        .iter()
        .map(|n| log_len(&speaker_log(&rig, n)))
        .collect();

    let flag = format!("--excludel2-file={}", eth0.display());
    let mut speakers = Speakers::start(&rig, &[&flag])?;
    let result = async {
        workload(&rig, "web", 1, None, "Cluster")?;
        let ip = wait_ip(&rig, "web").await?;
        wait_ready(&rig, "web")?;
        // Every speaker loaded the one-pattern list (it is read before the L2 loop starts).
        for (n, off) in nodes.iter().zip(&offsets) {
            let path = speaker_log(&rig, n);
            wait_for(
                &format!("{n}'s speaker loading {}", eth0.display()),
                Duration::from_secs(60),
                || diag(&rig),
                || {
                    let log = log_since(&path, *off);
                    async move {
                        Ok(log
                            .contains("interface exclusion list loaded")
                            .then_some(()))
                    }
                },
            )
            .await?;
            let log = log_since(&path, *off);
            ensure!(
                log.contains("patterns=1"),
                "{n}: the list should have one pattern:\n{log}"
            );
        }
        // Bounded negative check: 3 s of ARP requests, no node answers.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            let macs = rig.arp_who_has(&ip, 2)?;
            ensure!(
                macs.is_empty(),
                "{ip} answered by {macs:?} although every node excludes eth0"
            );
        }

        // The same speakers without the list (MetalLB's defaults keep eth0): the elected node answers.
        speakers.extra.clear();
        for n in &nodes {
            speakers.kill(n);
            speakers.start_one(&rig, n)?;
        }
        let owner = expected_owner(&ip, &nodes)?;
        wait_arp_owner(&rig, &ip, &rig.node_mac(&owner)?).await?;

        // A bad list stops the speaker that reads it, naming the file and the pattern; the
        // others keep serving.
        let victim = nodes
            .iter()
            .find(|n| **n != owner)
            .context("a second node")?
            .clone();
        let path = speaker_log(&rig, &victim);
        let off = log_len(&path);
        speakers.kill(&victim);
        speakers.extra = vec![format!("--excludel2-file={}", bad.display())];
        speakers.start_one(&rig, &victim)?;
        let status = wait_for(
            &format!("{victim}'s speaker exiting on the bad list"),
            Duration::from_secs(60),
            || log_since(&path, off),
            || {
                let status = speakers.procs.get_mut(&victim).map(|p| p.0.try_wait());
                async move {
                    match status {
                        Some(Ok(Some(s))) => Ok(Some(s)),
                        Some(Ok(None)) => Ok(None),
                        Some(Err(e)) => Err(e.into()),
                        None => anyhow::bail!("no speaker process for the node"),
                    }
                }
            },
        )
        .await?;
        ensure!(
            !status.success(),
            "the speaker should fail on a bad list, exited {status}"
        );
        let log = log_since(&path, off);
        ensure!(
            log.contains(&bad.display().to_string())
                && log.contains("announcedInterfacesToExclude[1]")
                && log.contains("(unclosed"),
            "the error should name the file and the pattern:\n{log}"
        );
        wait_arp_owner(&rig, &ip, &rig.node_mac(&owner)?).await?;
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}
