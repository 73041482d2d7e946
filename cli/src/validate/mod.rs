//! `ferrolb validate -f <file|dir|->`: the admission webhook's validation, offline.
//!
//! Reads every manifest given (files, directories — `*.yaml`, `*.yml`, `*.json`, recursively,
//! in name order, see [`files`] — or `-` for stdin; a `kind: List` counts as its items), gathers the `metallb.io` objects as the cluster would hold
//! them together (v1beta1 BGPPeers converted to v1beta2) and runs
//! [`ferrolb_validate::validate_with_cel`]: MetalLB's semantic rules, ferrolb's native-mode
//! decisions and the CRDs' CEL rules. A legacy `config` ConfigMap is converted as
//! `ferrolb migrate` would and its result validated too (with a warning: ferrolb reads only
//! custom resources). Other objects (Services, Deployments, …) are ignored.
//!
//! What a cluster would refuse is reported too: unknown fields of `metallb.io` objects (the API
//! server's strict field validation, e.g. a typo'd `ipAddresPools`), wrong types, unknown kinds.
//!
//! Output: one line per problem on stdout, `<file>: <kind>/<name>: <field>: <reason>`;
//! warnings on stderr as `warning: …`. With `-o json`, one JSON document on stdout:
//! `{"valid": bool, "findings": [{"severity", "file", "kind", "name", "field", "message"}]}`.
//! Exit code 0 when valid, 1 on any problem (or unreadable input), 2 on bad usage.
//! Nodes are not known offline: rules that depend on them assume what the reference documents
//! (see `ferrolb_validate::ads`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use ferrolb_api::manifest::{ApiObject, read_manifest};
use ferrolb_api::names::DEFAULT_NAMESPACE;
use ferrolb_validate::{ClusterResources, Options, Report, validate_with_cel};

pub mod files;
pub mod findings;

use findings::{Finding, JsonReport, Severity};

use crate::input;

/// Output format of `ferrolb validate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per problem.
    #[default]
    Text,
    /// One JSON document with every finding.
    Json,
}

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
    #[arg(short = 'n', long, default_value = DEFAULT_NAMESPACE, value_parser = crate::cmd::namespace_arg)]
    pub namespace: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// Reads the inputs: `(source name, text)` per file, and the files that could not be read.
pub fn read_inputs(names: &[String]) -> (Vec<(String, String)>, Vec<Finding>) {
    let (mut texts, mut errors) = (Vec::new(), Vec::new());
    for name in names {
        let (paths, walk_errors) = files::files_of(name);
        errors.extend(
            walk_errors
                .into_iter()
                .map(|e| Finding::file(Severity::Error, None, e)),
        );
        for f in paths {
            let shown = f.display().to_string();
            match input::read_source(&shown) {
                Ok(t) => texts.push((shown, t)),
                Err(e) => errors.push(Finding::file(Severity::Error, None, e.to_string())),
            }
        }
    }
    (texts, errors)
}

/// Kind and name of a configuration object validation reports on.
fn kind_name(o: &ApiObject) -> Option<(&'static str, String)> {
    let (kind, meta) = match o {
        ApiObject::IPAddressPool(p) => ("IPAddressPool", &p.metadata),
        ApiObject::L2Advertisement(a) => ("L2Advertisement", &a.metadata),
        ApiObject::BGPAdvertisement(a) => ("BGPAdvertisement", &a.metadata),
        ApiObject::BGPPeerV1beta1(p) => ("BGPPeer", &p.metadata),
        ApiObject::BGPPeer(p) => ("BGPPeer", &p.metadata),
        ApiObject::BFDProfile(b) => ("BFDProfile", &b.metadata),
        ApiObject::Community(c) => ("Community", &c.metadata),
        _ => return None,
    };
    Some((kind, meta.name.clone().unwrap_or_default()))
}

/// The objects `ferrolb migrate` makes of a legacy configuration.
fn migrated(c: ferrolb_migrate::Converted) -> impl Iterator<Item = ApiObject> {
    let pools = c.pools.into_iter().map(ApiObject::IPAddressPool);
    let peers = c.peers.into_iter().map(ApiObject::BGPPeer);
    let bgp = c
        .bgp_advertisements
        .into_iter()
        .map(ApiObject::BGPAdvertisement);
    let l2 = c
        .l2_advertisements
        .into_iter()
        .map(ApiObject::L2Advertisement);
    let bfd = c.bfd_profiles.into_iter().map(ApiObject::BFDProfile);
    let communities = c.communities.into_iter().map(ApiObject::Community);
    pools
        .chain(peers)
        .chain(bgp)
        .chain(l2)
        .chain(bfd)
        .chain(communities)
}

/// The objects of one file (legacy ConfigMaps converted), its problems and warnings.
fn read_file(source: &str, text: &str, namespace: &str, out: &mut Vec<Finding>) -> Vec<ApiObject> {
    let manifest = read_manifest(text);
    out.extend(manifest.errors.iter().map(|e| Finding::manifest(source, e)));
    out.extend(
        manifest
            .warnings
            .iter()
            .map(|w| Finding::file(Severity::Warning, Some(source), w.clone())),
    );
    let mut objects = Vec::new();
    for o in manifest.objects {
        let ApiObject::LegacyConfigMap {
            name,
            namespace: ns,
            config,
        } = o
        else {
            objects.push(o);
            continue;
        };
        let ns = ns.unwrap_or_else(|| namespace.to_owned());
        match ferrolb_migrate::convert(&config, &ns) {
            Ok(c) => {
                out.push(Finding::file(
                    Severity::Warning,
                    Some(source),
                    format!("legacy ConfigMap {name:?} is not read by ferrolb; validated its `ferrolb migrate` conversion"),
                ));
                objects.extend(migrated(c));
            }
            Err(e) => out.push(Finding::file(
                Severity::Error,
                Some(source),
                format!("ConfigMap {name}: {e}"),
            )),
        }
    }
    objects
}

/// Validates already-read manifests together; every finding names its file.
pub fn validate_texts(inputs: &[(String, String)], namespace: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut objects = Vec::new();
    let mut files_of: BTreeMap<(&'static str, String), Vec<String>> = BTreeMap::new();
    for (source, text) in inputs {
        for o in read_file(source, text, namespace, &mut out) {
            if let Some(key) = kind_name(&o) {
                let files = files_of.entry(key).or_default();
                if !files.contains(source) {
                    files.push(source.clone());
                }
            }
            objects.push(o);
        }
    }
    let res = ClusterResources::from_objects(objects);
    let opts = Options {
        namespace: Some(namespace.to_owned()),
    };
    let report: Report = validate_with_cel(&res, &opts);
    let file = |p: &ferrolb_validate::Problem| {
        files_of
            .get(&(p.kind.as_str(), p.name.clone()))
            .map(|f| f.join(", "))
    };
    for (severity, problems) in [
        (Severity::Error, &report.errors),
        (Severity::Warning, &report.warnings),
    ] {
        out.extend(
            problems
                .iter()
                .map(|p| Finding::problem(severity, file(p), p)),
        );
    }
    out
}

/// Runs the subcommand and prints its result.
pub fn run(args: &Args) -> ExitCode {
    let (texts, mut findings) = read_inputs(&args.filenames);
    findings.extend(validate_texts(&texts, &args.namespace));
    // Errors first (stable within each severity).
    findings.sort_by_key(|f| f.severity == Severity::Warning);
    let valid = !findings.iter().any(|f| f.severity == Severity::Error);
    let printed = match args.output {
        Format::Json => {
            let report = JsonReport {
                valid,
                findings: &findings,
            };
            serde_json::to_string_pretty(&report)
                .map_err(std::io::Error::other)
                .and_then(|json| writeln!(std::io::stdout().lock(), "{json}"))
        }
        Format::Text => print_text(&findings),
    };
    if let Err(e) = printed {
        let _ = writeln!(std::io::stderr(), "error: writing output: {e}");
        return ExitCode::FAILURE;
    }
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_text(findings: &[Finding]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    for f in findings {
        match f.severity {
            Severity::Error => writeln!(stdout, "{}", f.line())?,
            Severity::Warning => writeln!(stderr, "warning: {}", f.line())?,
        }
    }
    Ok(())
}
