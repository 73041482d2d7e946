//! Which files a `-f` argument names: a file, `-`, or a directory walked recursively in name
//! order for `*.yaml`, `*.yml` and `*.json`. Symbolic links are followed, but a directory is
//! read once: a link back to a directory being walked (a loop) is reported, not followed
//! forever; a directory reached twice by other links is skipped the second time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The walk's state: canonical directories on the current path and all seen.
#[derive(Default)]
struct Walk {
    stack: Vec<PathBuf>,
    seen: BTreeSet<PathBuf>,
    files: Vec<PathBuf>,
    errors: Vec<String>,
}

fn is_manifest(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

impl Walk {
    fn dir(&mut self, path: &Path) {
        let canonical = match path.canonicalize() {
            Ok(c) => c,
            Err(e) => return self.errors.push(format!("reading {}: {e}", path.display())),
        };
        if self.stack.contains(&canonical) {
            return self.errors.push(format!(
                "reading {}: symbolic link loop (leads back to {}); not followed",
                path.display(),
                canonical.display()
            ));
        }
        if !self.seen.insert(canonical.clone()) {
            return;
        }
        let entries = std::fs::read_dir(path).and_then(|rd| {
            rd.map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<Vec<_>>>()
        });
        let mut entries = match entries {
            Ok(e) => e,
            Err(e) => return self.errors.push(format!("reading {}: {e}", path.display())),
        };
        entries.sort();
        self.stack.push(canonical);
        for p in entries {
            if p.is_dir() {
                self.dir(&p);
            } else if is_manifest(&p) {
                self.files.push(p);
            }
        }
        self.stack.pop();
    }
}

/// The files named by `arg` (`-` is stdin), and the problems met on the way.
pub fn files_of(arg: &str) -> (Vec<PathBuf>, Vec<String>) {
    let path = Path::new(arg);
    if arg == "-" || !path.is_dir() {
        return (vec![path.to_owned()], Vec::new());
    }
    let mut walk = Walk::default();
    walk.dir(path);
    (walk.files, walk.errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_loop_is_reported_once_and_the_rest_is_read() {
        let dir = std::env::temp_dir().join(format!("ferrolb-files-{}", std::process::id()));
        let sub = dir.join("sub");
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(sub.join("a.yaml"), "").expect("write");
        std::fs::write(sub.join("notes.txt"), "").expect("write");
        let _ = std::fs::remove_file(sub.join("up"));
        std::os::unix::fs::symlink(&dir, sub.join("up")).expect("symlink");
        let (files, errors) = files_of(dir.to_str().expect("utf-8"));
        assert_eq!(files, [sub.join("a.yaml")]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("symbolic link loop"), "{errors:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
