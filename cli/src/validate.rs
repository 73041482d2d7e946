//! `ferrolb validate -f <file|dir|->`: the admission webhook's validation, offline.
//!
//! Reads every manifest given (files, directories — `*.yaml`, `*.yml`, `*.json`, recursively,
//! in name order — or `-` for stdin), gathers the `metallb.io` objects as the cluster would hold
//! them together (v1beta1 BGPPeers converted to v1beta2) and runs
//! [`ferrolb_validate::validate_with_cel`]: MetalLB's semantic rules, ferrolb's native-mode
//! decisions and the CRDs' CEL rules. A legacy `config` ConfigMap is converted as
//! `ferrolb migrate` would and its result validated too (with a warning: ferrolb reads only
//! custom resources). Other objects (Services, Deployments, …) are ignored.
//!
//! Output: one line per problem on stdout, `<kind>/<name>: <field>: <reason>`; warnings on
//! stderr as `warning: …`. Exit code 0 when valid, 1 on any problem (or unreadable input).
//! Nodes are not known offline: rules that depend on them assume what the reference documents
//! (see `ferrolb_validate::ads`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferrolb_api::manifest::{ApiObject, parse_manifests};
use ferrolb_api::names::DEFAULT_NAMESPACE;
use ferrolb_validate::{ClusterResources, Options, Report, validate_with_cel};

use crate::input;

/// Arguments of `ferrolb validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories to validate together; `-` reads stdin.
    #[arg(
        short = 'f',
        long = "filename",
        visible_alias = "file",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub filenames: Vec<String>,
    /// ferrolb's namespace: objects explicitly placed elsewhere are reported.
    #[arg(short = 'n', long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
}

/// What validation found, ready to print.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// One line per problem (input errors included).
    pub problems: Vec<String>,
    /// One line per warning.
    pub warnings: Vec<String>,
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        let manifest = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if p.is_dir() || manifest {
            collect_files(&p, out)?;
        }
    }
    Ok(())
}

/// Reads the inputs: `(source name, text)` per file, or error lines.
pub fn read_inputs(names: &[String]) -> (Vec<(String, String)>, Vec<String>) {
    let (mut texts, mut errors) = (Vec::new(), Vec::new());
    for name in names {
        let mut files = Vec::new();
        if name == "-" {
            files.push(PathBuf::from("-"));
        } else if let Err(e) = collect_files(Path::new(name), &mut files) {
            errors.push(format!("reading {name}: {e}"));
        }
        for f in files {
            let shown = f.display().to_string();
            match input::read_source(&shown) {
                Ok(t) => texts.push((shown, t)),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    (texts, errors)
}

/// Validates already-read manifests together.
pub fn validate_texts(inputs: &[(String, String)], namespace: &str) -> Outcome {
    let mut out = Outcome::default();
    let mut objects = Vec::new();
    for (source, text) in inputs {
        match parse_manifests(text) {
            Ok(objs) => {
                for o in objs {
                    match o {
                        ApiObject::LegacyConfigMap {
                            namespace: ns,
                            config,
                        } => {
                            let ns = ns.unwrap_or_else(|| namespace.to_owned());
                            match ferrolb_migrate::convert(&config, &ns) {
                                Ok(c) => {
                                    out.warnings.push(format!(
                                        "{source}: legacy ConfigMap \"config\" is not read by ferrolb; validated its `ferrolb migrate` conversion"
                                    ));
                                    objects
                                        .extend(c.pools.into_iter().map(ApiObject::IPAddressPool));
                                    objects.extend(c.peers.into_iter().map(ApiObject::BGPPeer));
                                    objects.extend(
                                        c.bgp_advertisements
                                            .into_iter()
                                            .map(ApiObject::BGPAdvertisement),
                                    );
                                    objects.extend(
                                        c.l2_advertisements
                                            .into_iter()
                                            .map(ApiObject::L2Advertisement),
                                    );
                                    objects.extend(
                                        c.bfd_profiles.into_iter().map(ApiObject::BFDProfile),
                                    );
                                    objects.extend(
                                        c.communities.into_iter().map(ApiObject::Community),
                                    );
                                }
                                Err(e) => out
                                    .problems
                                    .push(format!("{source}: ConfigMap config: {e}")),
                            }
                        }
                        other => objects.push(other),
                    }
                }
            }
            Err(e) => out.problems.push(format!("{source}: {e}")),
        }
    }
    let res = ClusterResources::from_objects(objects);
    let report: Report = validate_with_cel(
        &res,
        &Options {
            namespace: Some(namespace.to_owned()),
        },
    );
    out.problems.extend(
        report
            .errors
            .iter()
            .map(|p| crate::error::one_line(&p.to_string())),
    );
    out.warnings.extend(
        report
            .warnings
            .iter()
            .map(|p| crate::error::one_line(&p.to_string())),
    );
    out
}

/// Runs the subcommand and prints its result.
pub fn run(args: &Args) -> ExitCode {
    let (texts, mut problems) = read_inputs(&args.filenames);
    let out = validate_texts(&texts, &args.namespace);
    problems.extend(out.problems);
    let mut stderr = std::io::stderr().lock();
    for w in &out.warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
    let mut stdout = std::io::stdout().lock();
    for p in &problems {
        let _ = writeln!(stdout, "{p}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
