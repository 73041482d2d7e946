//! `ferrolb-operator` is a multi-call binary: `ferrolb-operator webhook [flags]` is the webhook
//! (the operator image ships only this binary); every other command line is the controller.
//! Only `--help` and usage errors are exercised here (no API server needed); the e2e suite runs
//! both for real.

use std::process::{Command, Output};

fn operator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolb-operator"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("running ferrolb-operator")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn webhook_subcommand_has_the_webhook_flags() {
    let o = operator(&["webhook", "--help"]);
    assert!(o.status.success(), "{o:?}");
    let help = stdout(&o);
    assert!(help.contains("Usage: ferrolb-operator webhook"), "{help}");
    for flag in [
        "--cert-service-name",
        "--disable-cert-rotation",
        "--webhook-secret",
        "--listen",
    ] {
        assert!(help.contains(flag), "{flag} missing: {help}");
    }
    assert!(
        !help.contains("--ml-secret-name"),
        "controller flag in webhook help: {help}"
    );
}

#[test]
fn controller_flags_without_subcommand() {
    let o = operator(&["--help"]);
    assert!(o.status.success(), "{o:?}");
    let help = stdout(&o);
    assert!(help.contains("Usage: ferrolb-operator [OPTIONS]"), "{help}");
    for flag in ["--port", "--lb-class", "--ml-secret-name", "--deployment"] {
        assert!(help.contains(flag), "{flag} missing: {help}");
    }
    assert!(
        !help.contains("--cert-service-name"),
        "webhook flag in controller help: {help}"
    );
}

#[test]
fn usage_errors_name_the_right_command() {
    // a webhook flag is not a controller flag, and the other way round
    let o = operator(&["--cert-service-name=x"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let o = operator(&["webhook", "--lb-class=x"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ferrolb-operator webhook"), "{err}");
}
