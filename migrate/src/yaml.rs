//! A small, deterministic YAML emitter for the generated custom resources.
//!
//! MetalLB's converter serialises with the Kubernetes JSON serializer in YAML mode, i.e.
//! `sigs.k8s.io/yaml` over `go-yaml`: keys sorted, block style, sequences inside mappings not
//! indented, two-space indentation. This emitter writes the same layout from a
//! [`serde_json::Value`] (keys sorted whatever the map's order), so the output is byte-stable.
//! Strings are written plain when no YAML 1.1 or 1.2 parser can read them as anything but the
//! same string; otherwise double-quoted with JSON escapes (valid YAML). Like go-yaml, strings
//! that a YAML 1.1 reader would take as a base-60 number (`64512:1`) are quoted.

use serde_json::Value;

/// Writes `value` (normally an object) as a block YAML document, without `---`.
pub fn emit(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(_) | Value::Array(_) => node(&mut out, value, 0),
        _ => {
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
    out
}

fn node(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                let v = &map[k];
                out.push_str(&pad);
                out.push_str(&string(k));
                out.push(':');
                match v {
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        node(out, v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        node(out, v, indent);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&scalar(v));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        item_block(out, item, indent, &pad);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        item_block(out, item, indent, &pad);
                    }
                    _ => {
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&scalar(item));
                        out.push('\n');
                    }
                }
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
}

/// A collection inside a sequence: its first line shares the `- ` of the item.
fn item_block(out: &mut String, item: &Value, indent: usize, pad: &str) {
    let mut inner = String::new();
    node(&mut inner, item, indent + 2);
    out.push_str(pad);
    out.push_str("- ");
    out.push_str(&inner[indent + 2..]);
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
    }
}

fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        // A JSON string literal is a valid YAML double-quoted scalar.
        serde_json::Value::String(s.to_owned()).to_string()
    }
}

/// Whether `s` can be written as a plain scalar and read back as the same string.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '/' || first == '_') {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._/:@+=".contains(c))
    {
        return false;
    }
    if s.ends_with(':') {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    const WORDS: [&str; 10] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    if WORDS.contains(&lower.as_str()) {
        return false;
    }
    !(looks_numeric(&lower) || looks_base60(s) || looks_like_date(s))
}

fn looks_numeric(lower: &str) -> bool {
    let no_sep: String = lower.chars().filter(|c| *c != '_').collect();
    if no_sep.parse::<f64>().is_ok() {
        return true;
    }
    for prefix in ["0x", "0o", "0b"] {
        if let Some(rest) = no_sep.strip_prefix(prefix)
            && !rest.is_empty()
            && rest.chars().all(|c| c.is_ascii_hexdigit())
        {
            return true;
        }
    }
    false
}

/// YAML 1.1 sexagesimal: `[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`.
fn looks_base60(s: &str) -> bool {
    let (body, _frac) = match s.rsplit_once('.') {
        Some((b, f)) if f.chars().all(|c| c.is_ascii_digit() || c == '_') => (b, f),
        _ => (s, ""),
    };
    let mut parts = body.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mut rest = parts.peekable();
    head_ok
        && rest.peek().is_some()
        && rest.all(|p| {
            (1..=2).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit())
                && p.parse::<u8>().is_ok_and(|v| v <= 59)
        })
}

/// YAML 1.1 timestamps start with `YYYY-M-D`.
fn looks_like_date(s: &str) -> bool {
    let mut it = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (it.next(), it.next(), it.next()) else {
        return false;
    };
    let day: String = d.chars().take_while(char::is_ascii_digit).collect();
    y.len() == 4
        && y.chars().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&m.len())
        && m.chars().all(|c| c.is_ascii_digit())
        && (1..=2).contains(&day.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layout_matches_go_yaml() {
        let v = json!({
            "spec": {"addresses": ["192.168.1.11-192.168.1.13"], "autoAssign": false},
            "apiVersion": "metallb.io/v1beta1",
            "metadata": {"name": "x", "namespace": "metallb-system"},
            "list": [{"b": 1, "a": {"c": [1, 2]}}, {}],
        });
        let expected = "apiVersion: metallb.io/v1beta1\n\
list:\n\
- a:\n    c:\n    - 1\n    - 2\n  b: 1\n\
- {}\n\
metadata:\n  name: x\n  namespace: metallb-system\n\
spec:\n  addresses:\n  - 192.168.1.11-192.168.1.13\n  autoAssign: false\n";
        assert_eq!(emit(&v), expected);
    }

    #[test]
    fn quoting() {
        for plain in [
            "1m30s",
            "10.0.0.1",
            "fc00:f853:0ccd:e799::/124",
            "65535:65281",
            "kubernetes.io/hostname",
            "no-export",
            "In",
            "peer1",
        ] {
            assert_eq!(string(plain), plain);
        }
        for quoted in [
            "",
            "64512:1",
            "1:30",
            "true",
            "No",
            "y",
            "~",
            "null",
            "123",
            "1e3",
            "0x1F",
            "1_000",
            "-",
            "- a",
            "a: b",
            "#x",
            "a #b",
            "2001-12-14",
            "*a",
            "a:",
            " a",
            "line\nbreak",
            "inf",
        ] {
            assert!(string(quoted).starts_with('"'), "{quoted:?}");
            let back: String = ferrolb_api::yaml::from_str(&string(quoted)).unwrap();
            assert_eq!(back, quoted);
        }
    }

    proptest::proptest! {
        /// Any string, as key or value, reads back unchanged.
        #[test]
        fn any_string_roundtrips(s in "\\PC{0,12}|[0-9a-z:._/ -]{0,10}") {
            let v = json!({ s.clone(): [s.clone(), {"k": s.clone()}] });
            let back: Value = ferrolb_api::yaml::from_str(&emit(&v)).unwrap();
            proptest::prop_assert_eq!(back, v);
        }
    }

    #[test]
    fn nested_sequences_and_roundtrip() {
        let v = json!({"a": [[1, "x"], []], "b": {}, "c": null, "d": "64512:1"});
        let text = emit(&v);
        assert_eq!(
            text,
            "a:\n- - 1\n  - x\n- []\nb: {}\nc: null\nd: \"64512:1\"\n"
        );
        let back: Value = ferrolb_api::yaml::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
