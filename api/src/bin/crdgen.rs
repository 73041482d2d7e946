//! `crdgen`: writes `config/crd/bases/*.yaml` from the Rust types, or with `--check` fails when
//! the committed files differ from what the code generates.
//!
//! Usage: `cargo run -p ferrolb-api --bin crdgen -- [--check] [DIR]` (DIR defaults to
//! `config/crd/bases` relative to the workspace root).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: crdgen [--check] [DIR]");
                return ExitCode::SUCCESS;
            }
            a if a.starts_with('-') => {
                eprintln!("crdgen: unknown flag {a:?} (usage: crdgen [--check] [DIR])");
                return ExitCode::from(2);
            }
            a => dir = Some(PathBuf::from(a)),
        }
    }
    let dir = dir
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/crd/bases"));
    match ferrolb_api::crd::render_all() {
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::FAILURE
        }
        Ok(files) if check => {
            let drift = ferrolb_api::crd::drift(&dir, &files);
            for d in &drift {
                eprintln!("crdgen: {d}");
            }
            if drift.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(files) => {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("crdgen: creating {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            for (name, yaml) in files {
                let path = dir.join(&name);
                if let Err(e) = std::fs::write(&path, yaml) {
                    eprintln!("crdgen: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
    }
}
