//! ferrolb's Grafana dashboard (`charts/ferrolb/files/grafana/ferrolb-dashboard.json`) read
//! the way Grafana runs it: every panel's PromQL with the dashboard variables substituted
//! (`$job` = all jobs, `$__rate_interval` = 1m), so tests can render it through the chart and
//! run each query against a real Prometheus scraping ferrolb.

use anyhow::{Context, Result, ensure};
use serde_json::Value;

/// Every panel target's `expr`, with the variables replaced as Grafana would (all jobs, a
/// one-minute rate window).
pub fn dashboard_queries(dashboard: &Value) -> Result<Vec<String>> {
    let panels = dashboard["panels"]
        .as_array()
        .context("dashboard without panels")?;
    let mut out = Vec::new();
    for p in panels {
        let targets = p["targets"]
            .as_array()
            .with_context(|| format!("panel {} without targets", p["title"]))?;
        for t in targets {
            let e = t["expr"]
                .as_str()
                .with_context(|| format!("panel {}: target without expr", p["title"]))?;
            out.push(e.replace("$job", ".+").replace("$__rate_interval", "1m"));
        }
    }
    ensure!(!out.is_empty(), "dashboard without queries");
    Ok(out)
}

/// The metric names a query reads: identifiers starting with `metallb_`, `ferrolb_` or
/// `process_` (the families ferrolb exports).
pub fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        if ["metallb_", "ferrolb_", "process_"]
            .iter()
            .any(|p| word.starts_with(p))
            && !out.contains(&word)
        {
            out.push(word.clone());
        }
        word.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables() {
        let d = serde_json::json!({"panels": [{"title": "t", "targets": [
            {"expr": "sum by (ip) (rate(metallb_layer2_requests_received{job=~\"$job\"}[$__rate_interval]))"}
        ]}]});
        let q = dashboard_queries(&d).expect("queries");
        assert_eq!(
            q,
            ["sum by (ip) (rate(metallb_layer2_requests_received{job=~\".+\"}[1m]))"]
        );
        assert_eq!(metric_names(&q[0]), ["metallb_layer2_requests_received"]);
        assert!(dashboard_queries(&serde_json::json!({"panels": []})).is_err());
    }
}
