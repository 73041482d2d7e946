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

/// Parses a `--namespace` value: a DNS-1123 label, as Kubernetes requires of namespace names.
pub fn namespace_arg(value: &str) -> Result<String, String> {
    if ferrolb_api::names::is_dns1123_label(value) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{:?} is not a valid namespace name: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit",
            value.chars().take(80).collect::<String>()
        ))
    }
}
