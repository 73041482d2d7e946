//! The speaker's `/metrics`, `/healthz` and `/readyz` on the rig: the owner node (and only it)
//! reports `metallb_speaker_announced` for the service IP, and counts the client's ARP requests
//! and its replies under MetalLB's exact names and types (`# TYPE
//! metallb_layer2_requests_received counter`, samples without a `_total` suffix, as MetalLB's
//! Go client exposes them), next to the Go client's `process_*` metrics. The test speakers listen on 27472/27473 inside their
//! node netns (not 7472/17472, which a demo speaker on the same rig may hold).
//!
//! Harness: `ferrolb_e2e::l2`. Skipped unless `FERROLB_E2E=1`.
#![forbid(unsafe_code)]

use anyhow::{Result, ensure};
use ferrolb_e2e::l2::*;
use ferrolb_e2e::{Rig, wait_for};

const METRICS: &str = "http://127.0.0.1:27472/metrics";

#[tokio::test]
async fn speaker_metrics_and_health() -> Result<()> {
    let Some(rig) = Rig::from_env("speaker_metrics_and_health") else {
        return Ok(());
    };
    install(&rig)?;
    let _op = start_operator(&rig)?;
    let speakers = Speakers::start(&rig, &["--port", "27472", "--health-probe-port", "27473"])?;
    let result = async {
        workload(&rig, "web", 1, None, "Cluster")?;
        let ip = wait_ip(&rig, "web").await?;
        let nodes = rig.node_names();
        let owner = expected_owner(&ip, &nodes)?;
        let mac = rig.node_mac(&owner)?;
        wait_arp_owner(&rig, &ip, &mac).await?;
        let announced = format!(
            r#"metallb_speaker_announced{{ip="{ip}",node="{owner}",protocol="layer2",service="{NS}/web"}} 1"#
        );
        let requests = format!(r#"metallb_layer2_requests_received{{ip="{ip}"}} "#);
        let responses = format!(r#"metallb_layer2_responses_sent{{ip="{ip}"}} "#);
        let count = |text: &str, prefix: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        wait_for(
            &format!("{owner} to report {ip} as announced, with requests and responses counted"),
            TIMEOUT,
            || diag(&rig),
            || async {
                let text = rig.http_get_from_node(&owner, METRICS)?;
                Ok((text.contains(&announced)
                    && count(&text, &requests) >= 1
                    && count(&text, &responses) >= 1)
                    .then_some(()))
            },
        )
        .await?;
        let text = rig.http_get_from_node(&owner, METRICS)?;
        for line in [
            "# TYPE metallb_layer2_requests_received counter",
            "# TYPE metallb_layer2_responses_sent counter",
            "# TYPE metallb_layer2_gratuitous_sent counter",
            "# TYPE metallb_speaker_announced gauge",
            "# TYPE process_cpu_seconds_total counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_open_fds gauge",
            "# TYPE process_start_time_seconds gauge",
        ] {
            ensure!(
                text.lines().any(|l| l == line),
                "{owner} lacks {line:?}:\n{text}"
            );
        }
        ensure!(
            !text.contains("metallb_layer2_requests_received_total") && !text.contains("# EOF"),
            "{owner} serves OpenMetrics-style names, not MetalLB's:\n{text}"
        );
        for n in nodes.iter().filter(|n| **n != owner) {
            let text = rig.http_get_from_node(n, METRICS)?;
            ensure!(
                !text.contains(&format!(r#"ip="{ip}""#)),
                "{n} is not the owner but reports {ip}:\n{text}"
            );
            ensure!(
                text.contains("ferrolb_speaker_malformed_frames_total "),
                "{n} does not serve its metrics:\n{text}"
            );
        }
        for n in &nodes {
            for path in ["healthz", "readyz"] {
                let body = rig.http_get_from_node(n, &format!("http://127.0.0.1:27473/{path}"))?;
                ensure!(body.trim() == "ok", "{n} /{path}: {body}");
            }
        }
        Ok(())
    }
    .await;
    drop(speakers);
    cleanup(&rig);
    result
}
