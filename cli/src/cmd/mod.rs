//! One module per subcommand. Each exposes a clap `Args` struct and a `run` function returning
//! what to print (or the errors), so `main` stays a thin dispatcher and tests can call `run`.

pub mod migrate;

/// What a successful subcommand prints.
#[derive(Debug, Default)]
pub struct Output {
    /// Written to stdout as is.
    pub stdout: String,
    /// Written to stderr, one `warning:` line each.
    pub warnings: Vec<String>,
}
