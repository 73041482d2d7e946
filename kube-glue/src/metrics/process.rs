//! The Go client's process metrics (`client_golang` `collectors.NewProcessCollector`, which
//! MetalLB's binaries export through controller-runtime's registry), read from `/proc/self` on
//! every scrape, under the Go client's names and types:
//!
//! | name | type | source |
//! |---|---|---|
//! | `process_cpu_seconds_total` | counter | `/proc/self/stat` utime + stime |
//! | `process_resident_memory_bytes` | gauge | `/proc/self/status` `VmRSS` |
//! | `process_virtual_memory_bytes` | gauge | `/proc/self/stat` vsize |
//! | `process_open_fds` | gauge | entries of `/proc/self/fd` |
//! | `process_max_fds` | gauge | `/proc/self/limits` "Max open files" (soft) |
//! | `process_start_time_seconds` | gauge | `/proc/stat` btime + stat starttime |
//!
//! A value that cannot be read (no `/proc`, an unlimited fd limit) is left out of the scrape,
//! as the Go client does.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

/// Kernel clock ticks per second in `/proc` (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// The process metrics of this process, registered in every exporter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessCollector;

/// One reading of the process metrics (`None`: could not be read).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<f64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit of open file descriptors.
    pub max_fds: Option<f64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self` (and `/proc/stat` for the boot time).
    pub fn read() -> Self {
        let text = |p: &str| std::fs::read_to_string(p).ok();
        let stat = text("/proc/self/stat").and_then(|s| parse_stat(&s));
        let btime = text("/proc/stat").and_then(|s| parse_btime(&s));
        Self {
            cpu_seconds: stat.map(|s| s.cpu_ticks as f64 / USER_HZ),
            resident_bytes: text("/proc/self/status").and_then(|s| parse_vm_rss(&s)),
            virtual_bytes: stat.map(|s| s.vsize as f64),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as f64),
            max_fds: text("/proc/self/limits").and_then(|s| parse_max_fds(&s)),
            start_time_seconds: stat
                .zip(btime)
                .map(|(s, b)| b as f64 + s.start_ticks as f64 / USER_HZ),
        }
    }

    /// `(name, help, type, value)` of every value read, in the Go client's order.
    pub fn samples(&self) -> Vec<(&'static str, &'static str, MetricType, f64)> {
        [
            (
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                MetricType::Counter,
                self.cpu_seconds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                MetricType::Gauge,
                self.max_fds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                MetricType::Gauge,
                self.open_fds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                MetricType::Gauge,
                self.resident_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                MetricType::Gauge,
                self.start_time_seconds,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                MetricType::Gauge,
                self.virtual_bytes,
            ),
        ]
        .into_iter()
        .filter_map(|(n, h, t, v)| v.map(|v| (n, h, t, v)))
        .collect()
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, ty, value) in ProcessStats::read().samples() {
            // The sample line of a gauge is the Go client's line for a counter too (no suffix);
            // whole numbers print without a fraction, as Go's `%g`.
            let mut metric = encoder.encode_descriptor(name, help, None, ty)?;
            match whole(value) {
                Some(n) => metric.encode_gauge(&n)?,
                None => metric.encode_gauge(&value)?,
            }
        }
        Ok(())
    }
}

/// `v` as an integer when it is one (and exactly representable).
fn whole(v: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    (v.fract() == 0.0 && v.abs() <= EXACT).then_some(v as i64)
}

/// What `/proc/<pid>/stat` gives: CPU ticks (utime + stime), start ticks after boot, vsize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, clock ticks.
    pub start_ticks: u64,
    /// Virtual memory size, bytes.
    pub vsize: u64,
}

/// Parses `/proc/<pid>/stat` (proc(5)): fields after the command name, which is in
/// parentheses and may itself hold spaces and parentheses.
pub fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let n = |i: usize| f.get(i - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: n(14)?.checked_add(n(15)?)?,
        start_ticks: n(22)?,
        vsize: n(23)?,
    })
}

/// The `btime` line of `/proc/stat`: boot time, seconds since the epoch.
pub fn parse_btime(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes (the file gives kB).
pub fn parse_vm_rss(s: &str) -> Option<f64> {
    let v = s.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: u64 = v.split_whitespace().next()?.parse().ok()?;
    Some(kb as f64 * 1024.0)
}

/// The soft "Max open files" limit of `/proc/<pid>/limits` (`None` when unlimited).
pub fn parse_max_fds(s: &str) -> Option<f64> {
    let v = s.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    v.split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()
        .map(|n| n as f64)
}
