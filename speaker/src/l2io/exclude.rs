//! MetalLB's interface exclusion file (`/etc/metallb/excludel2.yaml`, the ConfigMap
//! `metallb-excludel2` mounted at `/etc/metallb`): `announcedInterfacesToExclude`, a list of
//! regular expressions naming interfaces that never get ARP/NDP responders
//! (`metallb-runtime.md` §2.2; the rule itself is `ferrolb_l2::iface::ExcludeList`).
//!
//! Read once at start, as MetalLB's speaker does. No file: MetalLB's shipped list. A file that
//! cannot be read or parsed, or a pattern that is not a regular expression, stops the speaker
//! with a message naming the file and the pattern: announcing on an interface the operator
//! excluded (a management or storage network) is worse than a Pod that does not start, and
//! during a rollout the speakers already running keep serving with the list they read.

use std::path::Path;

use ferrolb_l2::iface::{DEFAULT_EXCLUDE_PATTERNS, ExcludeList};
use serde::Deserialize;

/// Why the exclusion file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExcludeFileError {
    /// The file exists but cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not the expected YAML.
    #[error("{path}: {source} (expected `announcedInterfacesToExclude: [regex, ...]`)")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message with its position.
        source: ferrolb_api::yaml::YamlError,
    },
    /// A pattern does not compile.
    #[error("{path}: {source}")]
    Pattern {
        /// The file.
        path: String,
        /// Which pattern and why.
        source: ferrolb_l2::iface::ExcludePatternError,
    },
}

/// The file's shape (MetalLB: `internal/layer2` `excludeL2`); unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExcludeFile {
    #[serde(rename = "announcedInterfacesToExclude", default)]
    announced_interfaces_to_exclude: Vec<String>,
}

/// The exclusion list from `path`: MetalLB's defaults when it does not exist.
pub fn load(path: &Path) -> Result<ExcludeList, ExcludeFileError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(file = %shown, patterns = DEFAULT_EXCLUDE_PATTERNS.len(), "no interface exclusion file: MetalLB's default list");
            return Ok(ExcludeList::default());
        }
        Err(source) => {
            return Err(ExcludeFileError::Read {
                path: shown,
                source,
            });
        }
    };
    parse(&text, &shown)
}

/// The list in `text` (the content of the file named `path`).
fn parse(text: &str, path: &str) -> Result<ExcludeList, ExcludeFileError> {
    // An empty file (a ConfigMap key with no content) is an empty list, as in MetalLB.
    let file: ExcludeFile = if text.trim().is_empty() {
        ExcludeFile {
            announced_interfaces_to_exclude: Vec::new(),
        }
    } else {
        ferrolb_api::yaml::from_str(text).map_err(|source| ExcludeFileError::Parse {
            path: path.to_string(),
            source,
        })?
    };
    let list = ExcludeList::new(&file.announced_interfaces_to_exclude).map_err(|source| {
        ExcludeFileError::Pattern {
            path: path.to_string(),
            source,
        }
    })?;
    tracing::info!(file = %path, patterns = list.len(), "interface exclusion list loaded");
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metallbs_shipped_file_is_the_default_list() {
        let text = "announcedInterfacesToExclude:\n".to_string()
            + &DEFAULT_EXCLUDE_PATTERNS
                .iter()
                .map(|p| format!("- {p}\n"))
                .collect::<String>();
        let list = parse(&text, "excludel2.yaml").unwrap();
        assert_eq!(list.len(), DEFAULT_EXCLUDE_PATTERNS.len());
        assert!(list.excluded("cni0") && !list.excluded("eth0"));
    }

    #[test]
    fn the_shipped_configmap_lists_the_built_in_defaults() {
        // config/speaker/excludel2.yaml (copied into the chart) and the built-in list agree.
        let cm: serde_json::Value =
            ferrolb_api::yaml::from_str(include_str!("../../../config/speaker/excludel2.yaml"))
                .unwrap();
        let text = cm["data"]["excludel2.yaml"].as_str().unwrap();
        let file: ExcludeFile = ferrolb_api::yaml::from_str(text).unwrap();
        assert_eq!(
            file.announced_interfaces_to_exclude,
            DEFAULT_EXCLUDE_PATTERNS
        );
    }

    #[test]
    fn a_custom_file_replaces_the_defaults() {
        let list = parse("announcedInterfacesToExclude: ['^eth1$', 'wg.*']\n", "f").unwrap();
        assert!(list.excluded("eth1") && list.excluded("wg0"));
        assert!(!list.excluded("docker0") && !list.excluded("eth0"));
        assert!(parse("", "f").unwrap().is_empty());
    }

    #[test]
    fn bad_files_name_the_file_and_the_problem() {
        let e = parse(
            "announcedInterfacesToExclude: ['^eth0$', '[']\n",
            "/etc/metallb/excludel2.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/etc/metallb/excludel2.yaml")
                && e.contains("announcedInterfacesToExclude[1]"),
            "{e}"
        );
        let e = parse("announcedInterfaces: [eth0]\n", "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("announcedInterfaces") && e.contains("expected"),
            "{e}"
        );
        let e = parse("announcedInterfacesToExclude: eth0\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f: "), "{e}");
    }

    #[test]
    fn a_missing_file_gives_the_defaults_and_a_directory_is_an_error() {
        let list = load(Path::new("/nonexistent/ferrolb/excludel2.yaml")).unwrap();
        assert_eq!(list.len(), DEFAULT_EXCLUDE_PATTERNS.len());
        let e = load(Path::new("/")).unwrap_err().to_string();
        assert!(e.starts_with("reading /"), "{e}");
    }
}
