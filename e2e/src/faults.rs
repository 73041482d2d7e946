//! Control-plane faults on the rig (issue 19): a rig component frozen with SIGSTOP — the API
//! server (clients' connections hang, as with a wedged or partitioned API server) or etcd (the
//! API server answers, with timeouts and errors) — and thawed with SIGCONT when the guard drops,
//! so a failing test never leaves the rig frozen. Only this rig instance's own processes (its
//! pid files) are touched.

use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::Rig;

/// A frozen rig component; dropping it thaws it.
pub struct Frozen {
    pid: String,
    /// The component (`kube-apiserver`, `etcd`, ...).
    pub name: String,
}

impl Frozen {
    /// Freezes the rig's `name` process (its pid file under the run directory).
    pub fn freeze(rig: &Rig, name: &str) -> Result<Self> {
        let file = rig.run_dir.join(format!("pids/{name}.pid"));
        let pid = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?
            .trim()
            .to_string();
        ensure!(
            pid.parse::<u32>().is_ok(),
            "{}: not a pid: {pid:?}",
            file.display()
        );
        signal(&pid, "-STOP")?;
        Ok(Frozen {
            pid,
            name: name.to_string(),
        })
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Err(e) = signal(&self.pid, "-CONT") {
            eprintln!("thawing {} (pid {}): {e:#}", self.name, self.pid);
        }
    }
}

fn signal(pid: &str, sig: &str) -> Result<()> {
    let st = Command::new("kill").args([sig, pid]).status()?;
    ensure!(st.success(), "kill {sig} {pid} failed ({st})");
    Ok(())
}
