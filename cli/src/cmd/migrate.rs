//! `ferrolb migrate`: MetalLB's `configmaptocrs` as a subcommand.
//!
//! Reads a legacy (≤ v0.12) ConfigMap manifest or its bare `config` payload (detected), checks
//! it with MetalLB v0.12.1's rules and prints the equivalent `metallb.io` resources, in
//! `configmaptocrs` order and naming, to stdout. Unlike `configmaptocrs` it needs no
//! container, no `/var/input` and no `-only-data` flag; the namespace of the resources is
//! `--namespace`, else the ConfigMap's, else `metallb-system` (as upstream).

use ferrolb_api::names::DEFAULT_NAMESPACE;

use super::Output;
use crate::error::CliError;
use crate::input;

/// Arguments of `ferrolb migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ConfigMap manifest or `config` payload to convert; `-` reads stdin.
    #[arg(
        short = 'f',
        long = "filename",
        visible_alias = "file",
        value_name = "FILE|-"
    )]
    pub filename: String,
    /// Namespace of the generated resources [default: the ConfigMap's, else metallb-system].
    #[arg(short = 'n', long, value_parser = super::namespace_arg)]
    pub namespace: Option<String>,
}

/// Runs the conversion; returns the YAML to print, or the errors (one per line).
pub fn run(args: &Args) -> Result<Output, Vec<CliError>> {
    let text = input::read_source(&args.filename).map_err(|e| vec![e])?;
    convert_text(args, &text).map_err(|e| vec![e])
}

/// The conversion of already-read input (separate from I/O for tests).
pub fn convert_text(args: &Args, text: &str) -> Result<Output, CliError> {
    let found = input::legacy_config(&args.filename, text)?;
    let namespace = args
        .namespace
        .clone()
        .or(found.namespace)
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    let converted = ferrolb_migrate::convert(&found.config, &namespace).map_err(|source| {
        CliError::Migrate {
            origin: found.origin.clone(),
            source,
        }
    })?;
    let mut warnings = found.warnings;
    warnings.extend(converted.warnings.iter().cloned());
    Ok(Output {
        stdout: ferrolb_migrate::to_yaml(&converted),
        warnings,
    })
}
