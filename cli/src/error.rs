//! Errors of the `ferrolb` subcommands, printed one per line on stderr (exit code 1).

use ferrolb_api::legacy::LegacyError;
use ferrolb_migrate::MigrateError;

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input file (or stdin) could not be read.
    #[error("reading {source_name}: {message}")]
    Read {
        /// File name, or `-` for stdin.
        source_name: String,
        /// The I/O error.
        message: String,
    },
    /// The input is not YAML.
    #[error("{source_name}: invalid YAML: {message}")]
    Yaml {
        /// File name, or `-` for stdin.
        source_name: String,
        /// Parser message.
        message: String,
    },
    /// The input holds no usable legacy configuration.
    #[error("{source_name}: {message}")]
    Input {
        /// File name, or `-` for stdin.
        source_name: String,
        /// What is missing or ambiguous.
        message: String,
    },
    /// The legacy payload does not parse (unknown key, wrong type, …).
    #[error("{origin}{source}")]
    Parse {
        /// Where the payload came from (`<file>: ConfigMap ns/name data.config: `), or empty.
        origin: String,
        /// The parse error, with key path.
        source: LegacyError,
    },
    /// The configuration is semantically invalid.
    #[error("{origin}{source}")]
    Migrate {
        /// Where the payload came from, or empty.
        origin: String,
        /// The error, with key path.
        source: MigrateError,
    },
}

/// Collapses a (rare) multi-line message onto one line.
pub fn one_line(message: &str) -> String {
    message.replace(['\r', '\n'], " ")
}
