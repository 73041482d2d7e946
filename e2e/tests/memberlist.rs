//! The controller creates the speakers' key Secret as MetalLB's controller does
//! (`METALLB_ML_SECRET_NAME`, `METALLB_DEPLOYMENT`), running as ServiceAccount
//! `metallb-system/controller` with exactly `config/rbac/controller.yaml`:
//! - `a_creates_key_without_owner_and_keeps_it`: with the Secret deleted, `metallb-memberlist`
//!   appears with a 22-character `secretkey` (16 random bytes, base64 without padding) and **no
//!   owner** (MetalLB owns it by the Deployment `controller`, so replacing the Deployment —
//!   Helm reinstall, Argo CD replace — garbage-collects it and every speaker's key changes;
//!   ferrolb keeps it); after a controller restart the Secret is untouched (same key, same
//!   resourceVersion);
//! - `b_keeps_provided_secret`: a Secret created beforehand (any key, as the Helm chart or a
//!   user provides it) is left as it is.
//!
//! Recreation after a deletion while the controller runs, and the removal of an earlier owner,
//! are in `controller_ha.rs`. Shared-rig hygiene: other tests (l2) use `metallb-memberlist` too,
//! so each test puts back the Secret it found (same data, no owner) or removes its own. The
//! controller runs with an `--lb-class` no Service uses, so it allocates nothing, and without
//! leader election (one controller; the election is tested in `controller_ha.rs`), so a
//! restart does not wait for the crashed one's Lease.
//!
//! Skipped unless `FERROLB_E2E=1` (see `e2e/run.sh`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::procs::{self, Proc};
use ferrolb_e2e::{Rig, wait_for};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};

const NS: &str = "metallb-system";
const SECRET: &str = "metallb-memberlist";
const OWNER: &str = "controller";
const TIMEOUT: Duration = Duration::from_secs(30);
const LB_CLASS: &str = "ferrolb.io/e2e-memberlist-none";

/// Starts the controller as ServiceAccount `metallb-system/controller` with the memberlist
/// flags' environment (as `config/manager/controller.yaml` sets it), logging to `<log>.log`
/// (truncated first, so the log holds only this run).
fn start_operator(rig: &Rig, log: &str) -> Result<Proc> {
    let kubeconfig = rig.kubeconfig_for(NS, "controller", false)?;
    let _ = std::fs::remove_file(rig.run_dir.join("logs").join(format!("{log}.log")));
    let out = rig.log_file(log)?;
    let child = Command::new(procs::binary("ferrolb-operator")?)
        .env("KUBECONFIG", &kubeconfig)
        .env("METALLB_NAMESPACE", NS)
        .env("METALLB_LB_CLASS", LB_CLASS)
        .env("METALLB_ML_SECRET_NAME", SECRET)
        .env("METALLB_DEPLOYMENT", OWNER)
        .env("FERROLB_LEADER_ELECT", "false")
        .env("FERROLB_LOG", "info,ferrolb_operator=debug")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting ferrolb-operator")?;
    Ok(Proc(child))
}

fn key_of(s: &Secret) -> Option<String> {
    let data = s.data.as_ref()?.get("secretkey")?;
    String::from_utf8(data.0.clone()).ok()
}

async fn wait_log(rig: &Rig, log: &str, needle: &str) -> Result<()> {
    wait_for(
        &format!("`{needle}` in {log}.log"),
        TIMEOUT,
        || rig.log_tail(log, 30),
        || async { Ok(rig.log_tail(log, 1000).contains(needle).then_some(())) },
    )
    .await
}

async fn delete_secret(rig: &Rig, secrets: &Api<Secret>) -> Result<()> {
    let _ = secrets.delete(SECRET, &DeleteParams::default()).await;
    wait_for(
        "memberlist Secret deleted",
        TIMEOUT,
        || rig.diagnostics(Some(NS)),
        || async { Ok(secrets.get_opt(SECRET).await?.is_none().then_some(())) },
    )
    .await
}

/// Runs `body` with the rig's namespace, CRDs and controller RBAC in place, then puts the
/// Secret back as it was before (data only), whatever `body` returned.
async fn with_restored_secret<F, Fut>(rig: &Rig, body: F) -> Result<()>
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    procs::install_base(rig, &["controller"])?;
    let client = rig.admin_client().await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let saved = secrets.get_opt(SECRET).await?.and_then(|s| s.data);
    let res = body(client).await;
    let restored = async {
        delete_secret(rig, &secrets).await?;
        if let Some(data) = saved {
            let mut s = Secret::default();
            s.metadata.name = Some(SECRET.into());
            s.data = Some(data);
            secrets.create(&PostParams::default(), &s).await?;
        }
        anyhow::Ok(())
    }
    .await;
    res.and(restored.context("restoring the memberlist Secret"))
}

#[tokio::test]
async fn a_creates_key_without_owner_and_keeps_it() -> Result<()> {
    let Some(rig) = Rig::from_env("memberlist::a_creates_key_without_owner_and_keeps_it") else {
        return Ok(());
    };
    with_restored_secret(&rig, |client| creates_key_and_keeps_it(&rig, client)).await
}

async fn creates_key_and_keeps_it(rig: &Rig, client: kube::Client) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client, NS);
    delete_secret(rig, &secrets).await?;
    let op = start_operator(rig, "ferrolb-operator-memberlist")?;
    let diag = || rig.log_tail("ferrolb-operator-memberlist", 30);
    let created = wait_for("memberlist Secret created", TIMEOUT, diag, || async {
        Ok(secrets.get_opt(SECRET).await?)
    })
    .await?;
    let key = key_of(&created).context("no secretkey")?;
    ensure!(
        key.len() == 22
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "secretkey {key:?}: want 22 characters of base64 without padding"
    );
    ensure!(
        created
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "unexpected owner {:?}: the Secret must survive the Deployment being replaced",
        created.metadata.owner_references
    );
    wait_log(
        rig,
        "ferrolb-operator-memberlist",
        "created the memberlist Secret",
    )
    .await?;

    // a restart finds it and changes nothing
    op.crash();
    let _op = start_operator(rig, "ferrolb-operator-memberlist")?;
    wait_log(
        rig,
        "ferrolb-operator-memberlist",
        "memberlist Secret exists",
    )
    .await?;
    let after = secrets.get(SECRET).await?;
    ensure!(
        key_of(&after).as_deref() == Some(key.as_str())
            && after.metadata.resource_version == created.metadata.resource_version,
        "the restarted controller changed the Secret: {:?} -> {:?}",
        created.metadata,
        after.metadata
    );
    Ok(())
}

#[tokio::test]
async fn b_keeps_provided_secret() -> Result<()> {
    let Some(rig) = Rig::from_env("memberlist::b_keeps_provided_secret") else {
        return Ok(());
    };
    with_restored_secret(&rig, |client| keeps_provided_secret(&rig, client)).await
}

async fn keeps_provided_secret(rig: &Rig, client: kube::Client) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client, NS);
    delete_secret(rig, &secrets).await?;
    // provided beforehand, with a key in another format (the Helm chart's is 32 random bytes)
    let provided = "provided-by-e2e-0123456789abcdef0123456789";
    let mut s = Secret::default();
    s.metadata.name = Some(SECRET.into());
    s.data = Some(BTreeMap::from([(
        "secretkey".to_owned(),
        ByteString(provided.as_bytes().to_vec()),
    )]));
    let before = secrets.create(&PostParams::default(), &s).await?;
    let _op = start_operator(rig, "ferrolb-operator-memberlist")?;
    wait_log(
        rig,
        "ferrolb-operator-memberlist",
        "memberlist Secret exists",
    )
    .await?;
    let after = secrets.get(SECRET).await?;
    ensure!(
        key_of(&after).as_deref() == Some(provided)
            && after.metadata.resource_version == before.metadata.resource_version,
        "the controller changed a provided Secret: {:?}",
        after.metadata
    );
    Ok(())
}
