//! Shared helpers for the network-namespace tests: bounded commands and a guard that owns
//! the namespaces and child processes and removes them on every exit path.

#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};

/// The responder/speaker tool built from this package.
pub const BIN: &str = env!("CARGO_BIN_EXE_ferrolb-net-responder");

/// Whether the netns tests were requested (`FERROLB_NETNS_TESTS=1`).
pub fn enabled() -> bool {
    std::env::var("FERROLB_NETNS_TESTS").is_ok_and(|v| v == "1")
}

/// Runs a command under `timeout 20`.
pub fn run(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("20")
        .args(args)
        .output()
        .expect("spawn command")
}

/// Runs a command that must succeed; returns its stdout.
pub fn must(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespaces and processes created by a test; all removed on drop.
#[derive(Default)]
pub struct Netns {
    namespaces: Vec<String>,
    children: Vec<Option<Child>>,
}

impl Netns {
    /// Creates namespace `name` with loopback up, DAD off and `arp_ignore=1` (the kernel
    /// must never answer for VIPs, testbed.md §6.3).
    pub fn add(&mut self, name: &str) {
        must(&["ip", "netns", "add", name]);
        self.namespaces.push(name.to_owned());
        for sysctl in [
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv4.conf.all.arp_ignore=1",
        ] {
            must(&["ip", "netns", "exec", name, "sysctl", "-qw", sysctl]);
        }
        must(&["ip", "-n", name, "link", "set", "lo", "up"]);
    }

    /// MAC address of `iface` in `ns`, lower case.
    pub fn mac(&self, ns: &str, iface: &str) -> String {
        must(&[
            "ip",
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{iface}/address"),
        ])
        .trim()
        .to_lowercase()
    }

    /// Starts the tool in `ns` (bounded by `timeout 40`); returns a handle index.
    pub fn spawn(&mut self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("timeout")
            .args(["40", "ip", "netns", "exec", ns, BIN])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tool");
        self.children.push(Some(child));
        self.children.len() - 1
    }

    /// Waits for a spawned tool and returns its stdout (it must have succeeded unless killed).
    pub fn wait_output(&mut self, idx: usize, must_succeed: bool) -> String {
        let child = self.children[idx].take().expect("child already waited for");
        let out = child.wait_with_output().expect("wait tool");
        if must_succeed {
            assert!(
                out.status.success(),
                "tool failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kill -9` every process inside `ns` (a crashed node).
    pub fn kill_all_in(&self, ns: &str) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            // `ip netns del` does nothing while processes live in the namespace (testbed §6.2).
            self.kill_all_in(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
