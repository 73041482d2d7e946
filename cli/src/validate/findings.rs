//! What `ferrolb validate` reports: one [`Finding`] per problem or warning, each naming the
//! file it comes from, printed as text lines or as one JSON document (`-o json`).

use ferrolb_api::manifest::ManifestError;
use ferrolb_validate::Problem;
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration is invalid (exit code 1).
    Error,
    /// Legal but worth a look.
    Warning,
}

/// One problem or warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The file (`-` for stdin); several, comma-separated, when the object is defined in
    /// several; absent when it is about no file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The object's kind, when the finding is about one object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Field path, e.g. `spec.addresses[1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Finding {
    /// A finding about a file as a whole (unreadable, not YAML, …).
    pub fn file(severity: Severity, file: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            severity,
            file: file.map(str::to_owned),
            kind: None,
            name: None,
            field: None,
            message: crate::error::one_line(&message.into()),
        }
    }

    /// A manifest reading error of `file`.
    pub fn manifest(file: &str, e: &ManifestError) -> Self {
        let (kind, name, field, message) = match e {
            ManifestError::UnknownField {
                kind, name, path, ..
            } => (kind, name, path, "unknown field".to_owned()),
            ManifestError::Object {
                kind,
                name,
                path,
                message,
                ..
            } => (kind, name, path, message.clone()),
            other => return Self::file(Severity::Error, Some(file), other.to_string()),
        };
        Self {
            severity: Severity::Error,
            file: Some(file.to_owned()),
            kind: Some(kind.clone()),
            name: Some(name.clone()),
            field: Some(field.clone()),
            message: crate::error::one_line(&message),
        }
    }

    /// A validation finding about an object defined in `file`.
    pub fn problem(severity: Severity, file: Option<String>, p: &Problem) -> Self {
        Self {
            severity,
            file,
            kind: Some(p.kind.to_string()),
            name: Some(p.name.clone()),
            field: Some(p.field.clone()),
            message: crate::error::one_line(&p.reason),
        }
    }

    /// `<file>: <kind>/<name>: <field>: <message>`, parts that are absent left out.
    pub fn line(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.file.clone());
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => parts.push(format!("{k}/{n}")),
            (Some(k), None) => parts.push(k.clone()),
            _ => {}
        }
        parts.extend(self.field.clone());
        parts.push(self.message.clone());
        parts.join(": ")
    }
}

/// The `-o json` document.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// No error found.
    pub valid: bool,
    /// Errors, then warnings.
    pub findings: &'a [Finding],
}
