//! Static checks of the rig's shell scripts: `bash -n` always, `shellcheck -x` when installed
//! (e2e/run.sh and CI install it; elsewhere the check prints SKIP). Needs no rig.
#![forbid(unsafe_code)]

use std::process::Command;

const SCRIPTS: &[&str] = &[
    "build-upstream.sh",
    "rig.sh",
    "run.sh",
    "kind/run.sh",
    "kind/build-node-image.sh",
    "kind/lib.sh",
    "kind/bgp.sh",
    "kind/rootfs.sh",
    "kind/build-frr-image.sh",
    "kind/node/ferrolb-cni.sh",
];

#[test]
fn scripts_parse_with_bash() {
    let dir_owned = ferrolb_e2e::e2e_dir();
    let dir = dir_owned.as_path();
    for s in SCRIPTS {
        let out = Command::new("bash")
            .arg("-n")
            .arg(dir.join(s))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "bash -n {s}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn scripts_are_shellcheck_clean() {
    let dir_owned = ferrolb_e2e::e2e_dir();
    let dir = dir_owned.as_path();
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIP scripts_are_shellcheck_clean: shellcheck is not installed");
        return;
    }
    for s in SCRIPTS {
        let out = Command::new("shellcheck")
            .args(["-x", "-P", "SCRIPTDIR"])
            .arg(dir.join(s))
            .current_dir(dir)
            .output()
            .expect("shellcheck runs");
        assert!(
            out.status.success(),
            "shellcheck {s}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
