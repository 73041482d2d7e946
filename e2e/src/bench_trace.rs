//! Where the time of a BGP benchmark goes (`tests/bgp_bench.rs`): wall-clock timestamps of
//! the steps between "Service created" and "prefix in FRR's RIB", from sources that do not
//! change what they measure — kube watches run by the test itself (the Service gets its
//! address, its EndpointSlice gets a ready endpoint), the speakers' log lines (tracing's
//! RFC 3339 timestamps with microseconds: `new plan`, `UPDATE sent`) and FRR's bgpd log
//! (`%ADJCHANGE` in `logs/frr-bgpd-ms.log`, the rig's file target with millisecond
//! timestamps: `log timestamp precision 3`).
//!
//! Everything runs on one machine, so the clocks are the same clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses the timestamp at the start of a log line: tracing's `2026-12-06T21:30:00.123456Z`
/// or FRR's `2026/12/06 21:30:00.123` (UTC, as the rig's machine runs).
pub fn line_time(line: &str) -> Option<SystemTime> {
    let b = line.as_bytes();
    if b.len() < 19 || !(b[4] == b'-' || b[4] == b'/') || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| line.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    let secs = days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let mut nanos = 0u32;
    if b.get(19) == Some(&b'.') {
        let frac: String = line[20..]
            .chars()
            .take_while(char::is_ascii_digit)
            .take(9)
            .collect();
        let scale = 10u32.pow(9 - frac.len() as u32);
        nanos = frac.parse::<u32>().ok()? * scale;
    }
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// The time of the first line of `log` at or after `after` containing every one of `needles`.
pub fn first_line_after(log: &str, after: SystemTime, needles: &[&str]) -> Option<SystemTime> {
    log.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .filter_map(line_time)
        .find(|t| *t >= after)
}

/// `later - earlier` in milliseconds (negative when `later` is earlier).
pub fn ms_between(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// When each Service of a namespace was first seen with an ingress address, by name.
pub type SeenAt = Arc<Mutex<BTreeMap<String, SystemTime>>>;

/// Watches the Services of `api` in the background, recording when each first has an ingress
/// address. Abort the returned task when done.
pub fn watch_service_ips(api: Api<Service>) -> (SeenAt, tokio::task::JoinHandle<()>) {
    let seen: SeenAt = Arc::default();
    let s = seen.clone();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
        while let Some(ev) = stream.next().await {
            let Ok(svc) = ev else { continue };
            let has_ip = svc
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|l| l.ingress)
                .is_some_and(|i| !i.is_empty());
            if has_ip && let Ok(mut m) = s.lock() {
                m.entry(svc.metadata.name.unwrap_or_default())
                    .or_insert_with(SystemTime::now);
            }
        }
    });
    (seen, task)
}

/// One observed state of a Service's EndpointSlices: when, and the nodes with a ready
/// endpoint.
pub type SliceLog = Arc<Mutex<Vec<(SystemTime, String, Vec<String>)>>>;

/// Watches the EndpointSlices of `api` in the background, recording every change as
/// `(time, service name, sorted nodes of its ready endpoints)`.
pub fn watch_slices(api: Api<EndpointSlice>) -> (SliceLog, tokio::task::JoinHandle<()>) {
    let log: SliceLog = Arc::default();
    let l = log.clone();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
        while let Some(ev) = stream.next().await {
            let Ok(slice) = ev else { continue };
            let svc = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .cloned()
                .unwrap_or_default();
            let mut nodes: Vec<String> = slice
                .endpoints
                .iter()
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                .filter_map(|e| e.node_name.clone())
                .collect();
            nodes.sort();
            if let Ok(mut v) = l.lock() {
                v.push((SystemTime::now(), svc, nodes));
            }
        }
    });
    (log, task)
}

/// The first time at or after `after` that `service`'s slices showed exactly `nodes` ready.
pub fn slice_state_at(
    log: &SliceLog,
    service: &str,
    after: SystemTime,
    nodes: &[&str],
) -> Option<SystemTime> {
    let v = log.lock().ok()?;
    v.iter()
        .find(|(t, s, n)| {
            *t >= after && s == service && n.iter().map(String::as_str).eq(nodes.iter().copied())
        })
        .map(|(t, _, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tracing_and_frr_timestamps() {
        let t = line_time("2026-12-06T21:30:00.123456Z DEBUG x: UPDATE sent").expect("tracing");
        let d = t.duration_since(UNIX_EPOCH).expect("after epoch");
        // 2026-12-06 is day 20793 since the epoch.
        assert_eq!(d.as_secs(), 20_793 * 86_400 + 21 * 3600 + 30 * 60);
        assert_eq!(d.subsec_micros(), 123_456);
        let f = line_time("2026/12/06 21:30:00.123 BGP: [X] %ADJCHANGE").expect("frr");
        assert_eq!(ms_between(f, t).round(), 0.0);
        assert!(line_time("BGP: no time").is_none());
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn finds_the_first_matching_line_after_a_time() {
        let log = "2026-12-06T21:30:00.100000Z DEBUG UPDATE sent peer=a\n\
                   2026-12-06T21:30:00.200000Z DEBUG UPDATE sent peer=b\n\
                   2026-12-06T21:30:00.300000Z DEBUG UPDATE sent peer=a\n";
        let after = line_time("2026-12-06T21:30:00.150000Z").expect("t");
        let got = first_line_after(log, after, &["UPDATE sent", "peer=a"]).expect("line");
        assert_eq!(ms_between(after, got).round(), 150.0);
        assert!(first_line_after(log, got + Duration::from_millis(1), &["peer=a"]).is_none());
    }
}
