//! `ferrolb`: the command-line tool of ferrolb.
//!
//! Subcommands live in [`cmd`], one module each, and share input handling ([`input`]) and
//! error reporting ([`error`]). `migrate` reproduces MetalLB v0.13's `configmaptocrs`
//! (`quay.io/metallb/configmaptocrs`) without the container: it reads a legacy ConfigMap (or
//! its `config` payload) and prints the equivalent custom resources.
//!
//! `validate` runs the admission webhook's validation on manifests (see [`validate`]).
//!
//! Exit codes: 0 success, 1 invalid input (each error on one stderr line), 2 bad usage.

mod cmd;
mod error;
mod input;
mod validate;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ferrolb: a MetalLB-compatible load balancer for bare-metal Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "ferrolb", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert a MetalLB legacy (<= v0.12) ConfigMap into metallb.io custom resources.
    Migrate(cmd::migrate::Args),
    /// Validate metallb.io manifests offline, with the admission webhook's rules.
    Validate(validate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Migrate(args) => cmd::migrate::run(args),
        Command::Validate(args) => return validate::run(args),
    };
    let mut stderr = std::io::stderr().lock();
    match outcome {
        Ok(out) => {
            for w in &out.warnings {
                let _ = writeln!(stderr, "warning: {}", error::one_line(w));
            }
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(out.stdout.as_bytes())
                .and_then(|()| stdout.flush())
            {
                let _ = writeln!(stderr, "error: writing output: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                let _ = writeln!(stderr, "error: {}", error::one_line(&e.to_string()));
            }
            ExitCode::FAILURE
        }
    }
}
