//! The controller creates the speakers' key Secret as MetalLB's controller does
//! (`METALLB_ML_SECRET_NAME`, `METALLB_DEPLOYMENT`), running as ServiceAccount
//! `metallb-system/controller` with exactly `config/rbac/controller.yaml`:
//! - `a_creates_owned_key_and_keeps_it`: with the Secret deleted, `metallb-memberlist` appears
//!   with a 22-character `secretkey` (16 random bytes, base64 without padding) and an
//!   ownerReference to Deployment `controller`; after a controller restart the Secret is
//!   untouched (same key, same resourceVersion);
//! - `b_keeps_provided_secret_and_works_without_owner`: a Secret created beforehand (any key, as
//!   the Helm chart or a user provides it) is left as it is; when the owner Deployment cannot
//!   be read (RBAC allows only `controller`), the Secret is still created, without owner.
//!
//! Shared-rig hygiene: other tests (l2) use `metallb-memberlist` too, so each test puts back the
//! Secret it found (same data, no owner) or removes its own. The owner is a Deployment
//! `controller` with 0 replicas (no pods), created only when absent and deleted afterwards, so
//! `install.rs` (which applies the real one) is not disturbed. The controller runs with an
//! `--lb-class` no Service uses, so it allocates nothing.
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
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const NS: &str = "metallb-system";
const SECRET: &str = "metallb-memberlist";
const OWNER: &str = "controller";
const TIMEOUT: Duration = Duration::from_secs(30);
const LB_CLASS: &str = "ferrolb.io/e2e-memberlist-none";

/// Starts the controller as ServiceAccount `metallb-system/controller` with the memberlist
/// flags' environment (as `config/manager/controller.yaml` sets it), logging to `<log>.log`
/// (truncated first, so the log holds only this run).
fn start_operator(rig: &Rig, log: &str, deployment: &str) -> Result<Proc> {
    let kubeconfig = rig.kubeconfig_for(NS, "controller", false)?;
    let _ = std::fs::remove_file(rig.run_dir.join("logs").join(format!("{log}.log")));
    let out = rig.log_file(log)?;
    let child = Command::new(procs::binary("ferrolb-operator")?)
        .env("KUBECONFIG", &kubeconfig)
        .env("METALLB_NAMESPACE", NS)
        .env("METALLB_LB_CLASS", LB_CLASS)
        .env("METALLB_ML_SECRET_NAME", SECRET)
        .env("METALLB_DEPLOYMENT", deployment)
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
async fn a_creates_owned_key_and_keeps_it() -> Result<()> {
    let Some(rig) = Rig::from_env("memberlist::a_creates_owned_key_and_keeps_it") else {
        return Ok(());
    };
    with_restored_secret(&rig, |client| creates_owned_key_and_keeps_it(&rig, client)).await
}

async fn creates_owned_key_and_keeps_it(rig: &Rig, client: kube::Client) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let deployments: Api<Deployment> = Api::namespaced(client, NS);
    delete_secret(rig, &secrets).await?;
    // the owner: the real Deployment if one is installed, else a 0-replica stand-in
    let created_owner = deployments.get_opt(OWNER).await?.is_none();
    if created_owner {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"name": OWNER, "namespace": NS},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"ferrolb-e2e": "memberlist-owner"}},
                "template": {
                    "metadata": {"labels": {"ferrolb-e2e": "memberlist-owner"}},
                    "spec": {"containers": [{"name": "none", "image": "registry.invalid/none"}]},
                },
            },
        }))?;
        deployments.create(&PostParams::default(), &d).await?;
    }
    let res = async {
        let uid = deployments.get(OWNER).await?.metadata.uid;
        let op = start_operator(rig, "ferrolb-operator-memberlist", OWNER)?;
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
        let owners = created
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default();
        ensure!(
            owners.len() == 1
                && owners[0].api_version == "apps/v1"
                && owners[0].kind == "Deployment"
                && owners[0].name == OWNER
                && Some(&owners[0].uid) == uid.as_ref(),
            "ownerReferences {owners:?}, want Deployment {OWNER} uid {uid:?}"
        );
        wait_log(
            rig,
            "ferrolb-operator-memberlist",
            "created the memberlist Secret",
        )
        .await?;

        // a restart finds it and changes nothing
        op.crash();
        let _op = start_operator(rig, "ferrolb-operator-memberlist", OWNER)?;
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
        anyhow::Ok(())
    }
    .await;
    if created_owner {
        let _ = deployments.delete(OWNER, &DeleteParams::default()).await;
    }
    res
}

#[tokio::test]
async fn b_keeps_provided_secret_and_works_without_owner() -> Result<()> {
    let Some(rig) = Rig::from_env("memberlist::b_keeps_provided_secret_and_works_without_owner")
    else {
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
    {
        let _op = start_operator(rig, "ferrolb-operator-memberlist", OWNER)?;
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
    }

    // the owner cannot be read (RBAC grants `get` on Deployment `controller` only): created anyway
    delete_secret(rig, &secrets).await?;
    let _op = start_operator(rig, "ferrolb-operator-memberlist", "not-the-controller")?;
    let diag = || rig.log_tail("ferrolb-operator-memberlist", 30);
    let created = wait_for("memberlist Secret created", TIMEOUT, diag, || async {
        Ok(secrets.get_opt(SECRET).await?)
    })
    .await?;
    ensure!(
        key_of(&created).is_some_and(|k| k.len() == 22),
        "secretkey {:?}",
        key_of(&created)
    );
    ensure!(
        created
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "unexpected owner {:?}",
        created.metadata.owner_references
    );
    wait_log(
        rig,
        "ferrolb-operator-memberlist",
        "cannot read the controller Deployment",
    )
    .await
}
