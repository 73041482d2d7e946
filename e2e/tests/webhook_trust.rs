//! The webhook's certificate Secret on the real API server, as ServiceAccount `webhook`
//! (`config/rbac/webhook.yaml`): a Secret that is not ferrolb's (here: marked by cert-manager)
//! is served as it is and never written, even when ferrolb would renew its own; with
//! `--cert-takeover` it is replaced and marked as ferrolb's.
//!
//! The webhook runs without a ValidatingWebhookConfiguration (nothing is admitted through it);
//! the caBundle it injects into the BGPPeer CRD is removed afterwards.
//!
//! Skipped unless `FERROLB_E2E=1` (see `e2e/run.sh`).
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{Result, ensure};
use ferrolb_e2e::procs::{self, Proc, install_base};
use ferrolb_e2e::{Rig, wait_for};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

const NS: &str = "metallb-system";
const SECRET: &str = "metallb-webhook-cert";
const LOG: &str = "ferrolb-webhook-trust";
const TIMEOUT: Duration = Duration::from_secs(30);

/// Starts the webhook (certificate checked every second) with `extra` flags.
fn start(rig: &Rig, extra: &[&str]) -> Result<Proc> {
    let args = [&["--check-interval-secs", "1"], extra].concat();
    procs::start_webhook(rig, LOG, rig.host_port(19445), &args)
}

fn annotation(s: &Secret, key: &str) -> Option<String> {
    s.metadata.annotations.as_ref()?.get(key).cloned()
}

fn tls_crt(s: &Secret) -> Option<Vec<u8>> {
    s.data.as_ref()?.get("tls.crt").map(|b| b.0.clone())
}

#[tokio::test]
async fn foreign_certificate_secret_is_left_alone_unless_taken_over() -> Result<()> {
    let Some(rig) = Rig::from_env("foreign_certificate_secret_is_left_alone_unless_taken_over")
    else {
        return Ok(());
    };
    install_base(&rig, &["webhook"])?;
    let client = rig.admin_client().await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let _ = secrets.delete(SECRET, &DeleteParams::default()).await;
    let result = scenario(&rig, &secrets).await;
    let _ = secrets.delete(SECRET, &DeleteParams::default()).await;
    // the webhook injected its CA into the BGPPeer CRD's conversion
    ferrolb_e2e::webhook::restore_conversion(&client).await;
    result
}

async fn scenario(rig: &Rig, secrets: &Api<Secret>) -> Result<()> {
    let diag = || rig.log_tail(LOG, 30);
    // 1. ferrolb creates its Secret (a one-hour certificate), marked as its own.
    let webhook = start(
        rig,
        &["--cert-validity-secs", "3600", "--renew-before-secs", "600"],
    )?;
    let ours = wait_for("the webhook's own Secret", TIMEOUT, diag, || async {
        Ok(secrets
            .get_opt(SECRET)
            .await?
            .filter(|s| tls_crt(s).is_some()))
    })
    .await?;
    ensure!(
        annotation(&ours, "ferrolb.io/cert-managed-by").as_deref() == Some("ferrolb-webhook"),
        "the created Secret is not marked as ferrolb's: {:?}",
        ours.metadata.annotations
    );
    drop(webhook);
    // 2. cert-manager's now: ferrolb would renew its own at once (renew-before 2 h > the 1 h left).
    let patch = json!({"metadata": {"annotations": {
        "ferrolb.io/cert-managed-by": null, "cert-manager.io/certificate-name": "webhook"}}});
    let foreign = secrets
        .patch(SECRET, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let webhook = start(rig, &["--renew-before-secs", "7200"])?;
    wait_for(
        "the foreign Secret served as it is",
        TIMEOUT,
        diag,
        || async {
            Ok(diag()
                .contains("serving the certificate Secret as it is")
                .then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await; // five check intervals
    let after = secrets.get(SECRET).await?;
    ensure!(
        after.metadata.resource_version == foreign.metadata.resource_version,
        "the foreign Secret was written without --cert-takeover\n{}",
        diag()
    );
    drop(webhook);
    // 3. --cert-takeover: replaced, ferrolb's from now on.
    let _webhook = start(rig, &["--cert-takeover"])?;
    let taken = wait_for("the Secret taken over", TIMEOUT, diag, || async {
        let s = secrets.get(SECRET).await?;
        Ok((tls_crt(&s) != tls_crt(&foreign)).then_some(s))
    })
    .await?;
    ensure!(
        annotation(&taken, "ferrolb.io/cert-managed-by").as_deref() == Some("ferrolb-webhook")
            && annotation(&taken, "cert-manager.io/certificate-name").is_none(),
        "taken over but not marked as ferrolb's: {:?}",
        taken.metadata.annotations
    );
    ensure!(
        diag().contains("--cert-takeover: taking over"),
        "the takeover is not logged\n{}",
        diag()
    );
    Ok(())
}
