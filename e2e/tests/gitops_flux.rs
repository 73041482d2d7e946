//! Flux installs and configures ferrolb from one Git commit (issue 21), on the real control
//! plane with Flux's own source-controller and kustomize-controller (`ferrolb_e2e::flux`).
//!
//! The repository (served by the rig's Git smart-HTTP server) is the layout of docs/gitops.md:
//! `ferrolb/` holds ferrolb's install as kustomize resources, copied from `config/` (namespace,
//! CRDs, RBAC, webhook configuration, Service and Secret), and `clusters/rig/` a kustomization of
//! `../../ferrolb` plus the home-lab guide's IPAddressPool and L2Advertisement (taken verbatim
//! from the first YAML block of docs/configure.md). What "install" means on the rig: ferrolb's
//! binaries run off-cluster as in every e2e test, so Flux applies every object of `config/`
//! except the Deployment and DaemonSet, and the test starts the controller and the webhook
//! processes once Flux has created their ServiceAccounts (as a kubelet starts the Pods). The
//! rig's overlay points the webhooks' `clientConfig` at the webhook's loopback URL (the rig has
//! no Service routing) and marks the objects other tests share (CRDs, namespace, RBAC) with
//! `kustomize.toolkit.fluxcd.io/prune: disabled`.
//!
//! 1. One commit, one Kustomization (`wait: true`, `prune: true`): Ready=True at that revision
//!    with no manual retry (Flux's kstatus health check passed for every object, including
//!    the pool's and advertisement's Ready conditions), and a LoadBalancer Service gets an IP
//!    of the pool.
//! 2. A commit adding an overlapping pool: Ready=False with ferrolb's webhook message
//!    (MetalLB's "overlaps with already defined CIDR"); the bad pool is not created, the good
//!    one is unchanged and the Service keeps its IP.
//! 3. A commit removing it: Ready=True again at that revision.
//! 4. A reconcile with no new commit changes nothing: the same revision and inventory, and the
//!    generation and kustomize-controller's managed-fields time of every object in the
//!    inventory are unchanged (Flux's server-side apply found no drift; a write would move them).
//! 5. kstatus judges ferrolb's objects by their status: with the controller stopped, a commit
//!    changing the L2Advertisement leaves it InProgress (`status.observedGeneration` behind),
//!    so the health check fails (Ready=False naming it); with the controller back it is Current
//!    and the Kustomization Ready=True at that commit. A commit adding a BGPPeer that names a
//!    missing BFDProfile (admitted with a warning) makes ferrolb write `Stalled=True` on it:
//!    kstatus reads Failed and the Kustomization fails naming the peer; removing it recovers.
//! 6. Deleting the Kustomization prunes the pool, advertisement and webhook configuration and
//!    keeps the CRDs.
//!
//! Skipped unless `FERROLB_E2E=1` (and Flux's binaries built by `e2e/build-upstream.sh`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use ferrolb_e2e::flux::{self, Flux, GitServer, Repo};
use ferrolb_e2e::procs::{self, OperatorOpts, Proc, project};
use ferrolb_e2e::{Rig, wait_for};
use serde_json::Value;

/// The Kustomization and GitRepository name.
const NAME: &str = "ferrolb";
/// Namespace of the test's Service.
const APP_NS: &str = "gitops-flux-e2e";
/// loadBalancerClass of the test's controller and Service (isolation on the shared rig).
const CLASS: &str = "ferrolb-gitops";
/// Log name of the test's controller.
const OPERATOR_LOG: &str = "ferrolb-operator-gitops";
/// The webhook's base host port (+100 × instance).
const WEBHOOK_PORT: u16 = 19186;
const VWC: &str = "metallb-webhook-configuration";
/// Bound for each Flux state change (Flux retries every 5 s; a cold sync takes ~10 s).
const TIMEOUT: Duration = Duration::from_secs(180);

/// The `ferrolb/` install: the files of config/kustomization.yaml except the workloads.
fn write_install(repo: &Repo) -> Result<()> {
    let config = project().join("config");
    let base = std::fs::read_to_string(config.join("kustomization.yaml"))?;
    let mut resources = Vec::new();
    for line in base.lines() {
        let Some(file) = line.strip_prefix("- ") else {
            continue;
        };
        if file.starts_with("manager/") || file.starts_with("speaker/") {
            continue;
        }
        let text = std::fs::read_to_string(config.join(file))
            .with_context(|| format!("reading config/{file}"))?;
        repo.write(&format!("ferrolb/{file}"), &text)?;
        resources.push(format!("- {file}\n"));
    }
    ensure!(
        resources.len() > 10,
        "config/kustomization.yaml lists too few files"
    );
    repo.write(
        "ferrolb/kustomization.yaml",
        &format!(
            "# ferrolb's install (config/ of the ferrolb checkout) without the controller Deployment\n\
             # and speaker DaemonSet: on the e2e rig those run as host processes.\n\
             apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nsortOptions:\n  order: legacy\n\
             resources:\n{}",
            resources.concat()
        ),
    )
}

/// `clusters/rig/kustomization.yaml`: the install, the guide's configuration and the rig's
/// patches (webhook URLs, prune protection of shared objects).
fn write_cluster(repo: &Repo, webhook_port: u16, extra: &[&str]) -> Result<()> {
    let manifests = std::fs::read_to_string(project().join("config/webhook/manifests.yaml"))?;
    let mut ops = String::new();
    let paths = manifests
        .lines()
        .filter_map(|l| l.split("path: ").nth(1))
        .map(|p| p.trim_end_matches('}').trim());
    for (i, path) in paths.enumerate() {
        ops.push_str(&format!(
            "    - {{op: replace, path: /webhooks/{i}/clientConfig, value: {{url: \"https://127.0.0.1:{webhook_port}{path}\"}}}}\n"
        ));
    }
    ensure!(
        !ops.is_empty(),
        "no webhook paths in config/webhook/manifests.yaml"
    );
    let mut resources = vec!["../../ferrolb", "metallb/pool.yaml"];
    resources.extend_from_slice(extra);
    let resources: String = resources.iter().map(|r| format!("- {r}\n")).collect();
    repo.write(
        "clusters/rig/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{resources}\
             patches:\n\
             # the rig has no Service routing: the API server calls the webhook on loopback\n\
             - target: {{kind: ValidatingWebhookConfiguration, name: {VWC}}}\n  patch: |\n{ops}\
             # shared with the other e2e tests: never pruned\n\
             - target: {{kind: CustomResourceDefinition|Namespace|ServiceAccount|Role|RoleBinding|ClusterRole|ClusterRoleBinding}}\n  patch: |\n\
             \x20   apiVersion: v1\n    kind: Any\n    metadata:\n      name: any\n      annotations: {{kustomize.toolkit.fluxcd.io/prune: disabled}}\n"
        ),
    )
}

/// The home-lab guide's pool and advertisement: the first YAML block of docs/configure.md.
fn guide_config() -> Result<String> {
    let doc = std::fs::read_to_string(project().join("docs/configure.md"))?;
    let block = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default())
        .find(|b| b.contains("kind: IPAddressPool") && b.contains("kind: L2Advertisement"))
        .context("no IPAddressPool + L2Advertisement block in docs/configure.md")?;
    Ok(block.to_string())
}

fn flux_objects(repo_url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n\
         metadata: {{name: {NAME}, namespace: {ns}}}\n\
         spec: {{interval: 5s, url: \"{repo_url}\", ref: {{branch: main}}}}\n---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
         metadata: {{name: {NAME}, namespace: {ns}}}\n\
         spec:\n  interval: 10m\n  retryInterval: 5s\n  timeout: 20s\n  wait: true\n  prune: true\n\
         \x20 sourceRef: {{kind: GitRepository, name: {NAME}}}\n  path: ./clusters/rig\n",
        ns = flux::NAMESPACE
    )
}

/// ferrolb's controller for the test's Services only (`loadBalancerClass`), log [`OPERATOR_LOG`].
fn start_operator(rig: &Rig) -> Result<Proc> {
    procs::start_operator(
        rig,
        OperatorOpts {
            log: OPERATOR_LOG,
            lb_class: Some(CLASS),
            ..OperatorOpts::default()
        },
    )
}

fn diag(rig: &Rig) -> String {
    let get = |args: &[&str]| rig.kubectl(args).unwrap_or_default();
    let flux_yaml = |kind: &str| get(&["-n", flux::NAMESPACE, "get", kind, NAME, "-o", "yaml"]);
    format!(
        "--- kustomization ---\n{}\n--- gitrepository ---\n{}\n--- pools ---\n{}\n--- kustomize-controller ---\n{}\n--- source-controller ---\n{}\n--- webhook ---\n{}\n--- operator ---\n{}",
        flux_yaml("kustomization"),
        flux_yaml("gitrepository"),
        get(&[
            "-n",
            "metallb-system",
            "get",
            "ipaddresspools",
            "-o",
            "wide"
        ]),
        rig.log_tail("flux-kustomize-controller", 30),
        rig.log_tail("flux-source-controller", 15),
        rig.log_tail("ferrolb-webhook", 15),
        rig.log_tail(OPERATOR_LOG, 15),
    )
}

/// Waits until the Kustomization has Ready=`status` for commit `sha` (the applied revision for
/// True, the attempted one for False); returns the Ready message.
async fn wait_kustomization(rig: &Rig, status: &str, sha: &str) -> Result<String> {
    wait_for(
        &format!("Kustomization {NAME} Ready={status} at {sha}"),
        TIMEOUT,
        || diag(rig),
        || async {
            let k = flux::get(rig, "kustomization", NAME)?;
            let (s, _, msg) = flux::ready(&k);
            let field = if status == "True" {
                "lastAppliedRevision"
            } else {
                "lastAttemptedRevision"
            };
            let rev = k["status"][field].as_str().unwrap_or_default();
            Ok((s == status && rev.ends_with(sha)).then_some(msg))
        },
    )
    .await
}

/// Waits until `kubectl get <args>` succeeds.
async fn wait_exists(rig: &Rig, args: &[&str]) -> Result<()> {
    wait_for(
        &format!("{args:?} to exist"),
        TIMEOUT,
        || diag(rig),
        || async { Ok(rig.kubectl(args).is_ok().then_some(())) },
    )
    .await
}

fn service_ip(rig: &Rig) -> String {
    rig.kubectl(&[
        "-n",
        APP_NS,
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.status.loadBalancer.ingress[0].ip}",
    ])
    .unwrap_or_default()
}

/// What a write by Flux moves: the spec's generation and the time of kustomize-controller's
/// managed-fields entry (a server-side apply that changes nothing is not persisted, so neither
/// moves). Not the resourceVersion: ferrolb's controller writes the pools' status.
const WRITE_MARKS: &str = "jsonpath={.metadata.generation}|{.metadata.managedFields[?(@.manager==\"kustomize-controller\")].time}";

/// Inventory id (`<namespace>_<name>_<group>_<kind>`) → [`WRITE_MARKS`] of every object in
/// the Kustomization's inventory.
fn inventory_write_marks(rig: &Rig, k: &Value) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for e in k["status"]["inventory"]["entries"]
        .as_array()
        .context("no inventory")?
    {
        // id: <namespace>_<name>_<group>_<kind>, a `:` of the name written `__` (cli-utils'
        // ObjMetadata); namespaces, groups and kinds have no `_`
        let id = e["id"].as_str().context("inventory id")?;
        let parsed = id.rsplit_once('_').and_then(|(rest, kind)| {
            let (rest, group) = rest.rsplit_once('_')?;
            let (ns, name) = rest.split_once('_')?;
            Some((ns, name.replace("__", ":"), group, kind))
        });
        let (ns, name, group, kind) = parsed.with_context(|| format!("inventory id {id}"))?;
        let name = name.as_str();
        let resource = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut args = vec!["get", resource.as_str(), name, "-o", WRITE_MARKS];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        out.insert(id.to_string(), rig.kubectl(&args)?);
    }
    Ok(out)
}

fn now_token() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("e2e-{t}")
}

#[tokio::test]
async fn flux_installs_and_configures_ferrolb_from_one_commit() -> Result<()> {
    let Some(rig) = Rig::from_env("flux_installs_and_configures_ferrolb_from_one_commit") else {
        return Ok(());
    };
    let mut run = Running::default();
    let result = scenario(&rig, &mut run).await;
    cleanup(&rig, &mut run);
    result
}

/// The processes of a run, stopped by [`cleanup`] (Flux last: its finalizers).
#[derive(Default)]
struct Running {
    flux: Option<Flux>,
    git: Option<GitServer>,
    webhook: Option<Proc>,
    operator: Option<Proc>,
}

async fn scenario(rig: &Rig, run: &mut Running) -> Result<()> {
    // A clean slate like a fresh cluster: no webhook configuration (one left by another test
    // would point at a webhook that is not running), no pools of other tests.
    delete_config(rig, "--wait=true");
    // The webhook's certificate Secret: the install ships it empty (type Opaque); one of another
    // type left by someone else could not be applied over (a Secret's type is immutable).
    let _ = rig.kubectl(&[
        "-n",
        "metallb-system",
        "delete",
        "secret",
        "metallb-webhook-cert",
        "--ignore-not-found",
    ]);
    let _ = rig.kubectl(&[
        "delete",
        "namespace",
        APP_NS,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=60s",
    ]);
    rig.kubectl(&["create", "namespace", APP_NS])?;

    run.flux = Some(Flux::start(rig)?);
    let git = run.git.insert(GitServer::start(rig)?);
    let repo_url = git.url("cluster");
    let repo = Repo::create(rig, git, "cluster")?;
    let webhook_port = rig.host_port(WEBHOOK_PORT);
    write_install(&repo)?;
    repo.write("clusters/rig/metallb/pool.yaml", &guide_config()?)?;
    write_cluster(&repo, webhook_port, &[])?;
    let sha1 = repo.commit("ferrolb install + home-lab pool")?;

    let objects = rig.run_dir.join("flux-objects.yaml");
    std::fs::write(&objects, flux_objects(&repo_url))?;
    let t0 = std::time::Instant::now();
    rig.apply_server_side(&objects)?;

    // The workloads start once Flux has created their ServiceAccounts (and the webhook's
    // certificate Secret: the webhook would create a missing one itself).
    let needed = ["sa/webhook", "sa/controller", "secret/metallb-webhook-cert"];
    wait_exists(
        rig,
        &[&["-n", "metallb-system", "get"], &needed[..]].concat(),
    )
    .await?;
    // ferrolb-webhook in metallb-system, its certificate valid for 127.0.0.1 (the rig's URL
    // client config), the CA bundle injected every 2 s once Flux creates the configuration
    let webhook_args = [
        "--namespace",
        "metallb-system",
        "--extra-san",
        "127.0.0.1",
        "--check-interval-secs",
        "2",
    ];
    run.webhook = Some(procs::start_webhook(
        rig,
        "ferrolb-webhook",
        webhook_port,
        &webhook_args,
    )?);
    run.operator = Some(start_operator(rig)?);
    wait_kustomization(rig, "True", &sha1).await?;
    eprintln!(
        "gitops_flux: first sync Ready=True after {:?}",
        t0.elapsed()
    );

    // A Service gets an IP of the guide's pool.
    let svc = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {APP_NS}, annotations: {{metallb.io/address-pool: ipaddresspool}}}}\n\
         spec: {{type: LoadBalancer, loadBalancerClass: {CLASS}, ports: [{{port: 80}}], selector: {{app: web}}}}\n"
    );
    let svc_file = rig.run_dir.join("gitops-flux-svc.yaml");
    std::fs::write(&svc_file, svc)?;
    rig.apply_server_side(&svc_file)?;
    let ip = wait_for(
        "Service web to get an IP",
        TIMEOUT,
        || diag(rig),
        || async {
            let ip = service_ip(rig);
            Ok((!ip.is_empty()).then_some(ip))
        },
    )
    .await?;
    let last: u8 = ip.rsplit('.').next().unwrap_or_default().parse()?;
    ensure!(
        ip.starts_with("192.168.0.") && (200..=250).contains(&last),
        "Service IP {ip} is not from the guide's pool 192.168.0.200-192.168.0.250"
    );
    // The webhook must answer before the bad commit: wait for the injected CA bundle.
    wait_for(
        "the webhook's CA bundle in the configuration",
        TIMEOUT,
        || diag(rig),
        || async {
            let ca = rig.kubectl(&[
                "get",
                "validatingwebhookconfiguration",
                VWC,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ])?;
            Ok((!ca.is_empty()).then_some(()))
        },
    )
    .await?;
    let pool_spec = |rig: &Rig| {
        rig.kubectl(&[
            "-n",
            "metallb-system",
            "get",
            "ipaddresspool",
            "ipaddresspool",
            "-o",
            "jsonpath={.metadata.generation}|{.spec}",
        ])
    };
    let spec_before = pool_spec(rig)?;

    // 2. An overlapping pool is refused by ferrolb's webhook; the last good config serves.
    repo.write(
        "clusters/rig/metallb/overlap.yaml",
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: overlap, namespace: metallb-system}\n\
         spec: {addresses: [192.168.0.240/28]}\n",
    )?;
    write_cluster(&repo, webhook_port, &["metallb/overlap.yaml"])?;
    let sha2 = repo.commit("an overlapping pool")?;
    let msg = wait_kustomization(rig, "False", &sha2).await?;
    ensure!(
        msg.contains("overlaps with already defined CIDR") && msg.contains("denied the request"),
        "Ready=False but not with ferrolb's webhook message: {msg}"
    );
    eprintln!("gitops_flux: bad commit refused: {msg}");
    ensure!(
        rig.kubectl(&["-n", "metallb-system", "get", "ipaddresspool", "overlap"])
            .is_err(),
        "the overlapping pool was created"
    );
    ensure!(
        pool_spec(rig)? == spec_before,
        "the good pool's spec changed"
    );
    ensure!(service_ip(rig) == ip, "the Service lost its IP {ip}");

    // 3. The fix.
    repo.remove("clusters/rig/metallb/overlap.yaml")?;
    write_cluster(&repo, webhook_port, &[])?;
    let sha3 = repo.commit("remove the overlapping pool")?;
    wait_kustomization(rig, "True", &sha3).await?;
    ensure!(service_ip(rig) == ip, "the Service lost its IP {ip}");

    // 4. No drift: a reconcile with no new commit writes nothing.
    let k = flux::get(rig, "kustomization", NAME)?;
    let before = inventory_write_marks(rig, &k)?;
    ensure!(
        before
            .keys()
            .any(|id| id.ends_with("_metallb.io_IPAddressPool"))
            && before
                .keys()
                .any(|id| id.ends_with("_ValidatingWebhookConfiguration")),
        "inventory lacks the pool or the webhook configuration: {before:?}"
    );
    let token = now_token();
    rig.kubectl(&[
        "-n",
        flux::NAMESPACE,
        "annotate",
        "--overwrite",
        "kustomization",
        NAME,
        &format!("reconcile.fluxcd.io/requestedAt={token}"),
    ])?;
    let k2 = wait_for(
        "the requested reconcile",
        TIMEOUT,
        || diag(rig),
        || async {
            let k = flux::get(rig, "kustomization", NAME)?;
            let done = k["status"]["lastHandledReconcileAt"] == token.as_str()
                && flux::ready(&k).0 == "True";
            Ok(done.then_some(k))
        },
    )
    .await?;
    ensure!(
        k2["status"]["lastAppliedRevision"] == k["status"]["lastAppliedRevision"]
            && k2["status"]["inventory"] == k["status"]["inventory"],
        "revision or inventory changed without a commit"
    );
    let after = inventory_write_marks(rig, &k2)?;
    ensure!(
        before == after,
        "objects rewritten by a reconcile without a commit:\nbefore {before:?}\nafter  {after:?}"
    );
    eprintln!("gitops_flux: no drift over {} objects", after.len());

    // 5. kstatus on ferrolb's status: with the controller down, a changed advertisement is
    // InProgress (status.observedGeneration behind metadata.generation), so Flux's health check
    // fails instead of calling it healthy; once the controller is back it is Current (Ready=True
    // for the new generation) and the Kustomization Ready again, with no new commit.
    run.operator = None;
    let guide = guide_config()?;
    let changed = guide.replace(
        "  ipAddressPools: [ipaddresspool]",
        "  interfaces: [eth0]\n  ipAddressPools: [ipaddresspool]",
    );
    ensure!(
        changed != guide,
        "the guide's L2Advertisement changed shape"
    );
    repo.write("clusters/rig/metallb/pool.yaml", &changed)?;
    let sha4 = repo.commit("announce on eth0 only")?;
    let msg = wait_kustomization(rig, "False", &sha4).await?;
    ensure!(
        msg.contains("health check failed"),
        "Ready=False but not by the health check: {msg}"
    );
    if !(msg.contains("L2Advertisement/metallb-system/default") && msg.contains("InProgress")) {
        // kustomize-controller's poller sometimes ends on its client rate limiter at the
        // deadline and reports that instead of the objects' status (seen at load ~10): the
        // object's own status is what kstatus judged.
        let gens = rig.kubectl(&[
            "-n",
            "metallb-system",
            "get",
            "l2advertisement",
            "default",
            "-o",
            "jsonpath={.metadata.generation}|{.status.observedGeneration}",
        ])?;
        let (g, o) = gens.trim().split_once('|').unwrap_or_default();
        ensure!(
            g != o,
            "the health check failed ({msg}) but the advertisement is not in progress: generation|observed {gens}"
        );
    }
    eprintln!("gitops_flux: controller down: {msg}");
    run.operator = Some(start_operator(rig)?);
    wait_kustomization(rig, "True", &sha4).await?;

    // 5b. kstatus Failed: a BGPPeer made to name a BFDProfile that does not exist is admitted
    // (a reference applied later is only a warning, as in MetalLB) but is wrong: the controller
    // writes Ready=False and Stalled=True for its new generation, which kstatus reads as Failed,
    // so the Kustomization fails; removing it recovers. (A peer *created* dangling would pass:
    // kstatus calls a custom resource with no status yet Current, and Flux's health check runs
    // milliseconds after the apply — so the peer exists first, valid.) Its address is an unused
    // one on the rig's LAN (no speaker runs here).
    let peer = |extra: &str| {
        format!(
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: dangling, namespace: metallb-system}}\n\
             spec: {{myASN: 64500, peerASN: 64501, peerAddress: 172.18.0.199{extra}}}\n"
        )
    };
    repo.write("clusters/rig/metallb/peer.yaml", &peer(""))?;
    write_cluster(&repo, webhook_port, &["metallb/peer.yaml"])?;
    let sha5a = repo.commit("a peer")?;
    wait_kustomization(rig, "True", &sha5a).await?;
    repo.write(
        "clusters/rig/metallb/peer.yaml",
        &peer(", bfdProfile: missing"),
    )?;
    let sha5 = repo.commit("the peer names a missing BFDProfile")?;
    let t5 = Instant::now();
    let msg = wait_kustomization(rig, "False", &sha5).await?;
    ensure!(
        (msg.contains("BGPPeer/metallb-system/dangling") && msg.contains("Failed"))
            || msg.contains("health check failed"),
        "Ready=False but not for the peer judged Failed: {msg}"
    );
    let stalled = rig.kubectl(&[
        "-n",
        "metallb-system",
        "get",
        "bgppeer",
        "dangling",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Stalled\")].status}|{.status.conditions[?(@.type==\"Stalled\")].message}",
    ])?;
    ensure!(
        stalled.starts_with("True|") && stalled.contains("non existing bfd profile missing"),
        "the peer's Stalled condition: {stalled:?}"
    );
    eprintln!(
        "gitops_flux: dangling peer judged Failed after {:?}: {msg}",
        t5.elapsed()
    );
    repo.remove("clusters/rig/metallb/peer.yaml")?;
    write_cluster(&repo, webhook_port, &[])?;
    let sha6 = repo.commit("remove the dangling peer")?;
    wait_kustomization(rig, "True", &sha6).await?;

    // 6. Deleting the Kustomization prunes the configuration, keeps the CRDs. The workloads
    // stop first (as their Deployments would be pruned): a running webhook would re-create the
    // pruned certificate Secret.
    run.webhook = None;
    run.operator = None;
    rig.kubectl(&[
        "-n",
        flux::NAMESPACE,
        "delete",
        "kustomization",
        NAME,
        "--timeout=120s",
    ])?;
    ensure!(
        rig.kubectl(&[
            "-n",
            "metallb-system",
            "get",
            "ipaddresspool",
            "ipaddresspool"
        ])
        .is_err(),
        "the pool was not pruned"
    );
    ensure!(
        rig.kubectl(&["get", "validatingwebhookconfiguration", VWC])
            .is_err(),
        "the webhook configuration was not pruned"
    );
    rig.kubectl(&["get", "crd", "ipaddresspools.metallb.io"])
        .context("the CRDs were pruned")?;
    Ok(())
}

/// Best effort: the Flux objects, the Service namespace, and what pruning may have left.
fn cleanup(rig: &Rig, run: &mut Running) {
    // The workloads first (a running webhook would re-create a pruned certificate Secret), then
    // the Flux objects while Flux still runs (their finalizers), then Flux.
    run.webhook = None;
    run.operator = None;
    let _ = rig.kubectl(&[
        "-n",
        flux::NAMESPACE,
        "delete",
        "kustomization,gitrepository",
        "--all",
        "--timeout=60s",
    ]);
    // Flux never started, or did not finish: drop the finalizers (bounded, best effort).
    for kind in ["kustomization", "gitrepository"] {
        let _ = rig.kubectl(&[
            "-n",
            flux::NAMESPACE,
            "patch",
            kind,
            NAME,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ]);
    }
    run.flux = None;
    run.git = None;
    // The shared objects Flux kept (prune: disabled) carry its labels and the annotation: drop
    // them, so the rig looks as the other tests left it.
    for (ns, kinds) in [
        ("", "crd,namespace,clusterrole,clusterrolebinding"),
        ("metallb-system", "serviceaccount,role,rolebinding"),
    ] {
        let selector = format!("kustomize.toolkit.fluxcd.io/name={NAME}");
        let ns_args: &[&str] = if ns.is_empty() { &[] } else { &["-n", ns] };
        let labels = [
            "kustomize.toolkit.fluxcd.io/name-",
            "kustomize.toolkit.fluxcd.io/namespace-",
        ];
        let prune = ["kustomize.toolkit.fluxcd.io/prune-"];
        let _ = rig.kubectl(&[ns_args, &["annotate", kinds, "-l", &selector], &prune[..]].concat());
        let _ = rig.kubectl(&[ns_args, &["label", kinds, "-l", &selector], &labels[..]].concat());
    }
    let _ = rig.kubectl(&["delete", "namespace", APP_NS, "--wait=false"]);
    delete_config(rig, "--wait=false");
}

/// Deletes every pool and L2Advertisement in metallb-system (`wait`: `--wait=true|false`, at
/// most 60 s) and the webhook configuration (best effort).
fn delete_config(rig: &Rig, wait: &str) {
    let _ = rig.kubectl(&[
        "delete",
        "validatingwebhookconfiguration",
        VWC,
        "--ignore-not-found",
    ]);
    let _ = rig.kubectl(&[
        "-n",
        "metallb-system",
        "delete",
        "ipaddresspools,l2advertisements",
        "--all",
        wait,
        "--timeout=60s",
    ]);
}
