//! JSON values written as YAML, the way people read Kubernetes manifests. Only what manifests
//! need: block maps and lists, and scalars quoted whenever plain text would read as something
//! else (a number, a boolean, null, or YAML syntax).

use serde_json::Value;

/// One YAML document for `value`, ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(_) | Value::Array(_) if !is_empty(value) => write_block(&mut out, value, 0),
        _ => {
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
    out
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn write_block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                out.push_str(&pad);
                out.push_str(&string(key));
                out.push(':');
                write_child(out, v, indent);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // The first key shares the dash's line, the rest align under it.
                        let mut nested = String::new();
                        write_block(&mut nested, item, indent + 2);
                        out.push(' ');
                        out.push_str(nested.trim_start());
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        write_block(out, item, indent + 2);
                    }
                    _ => {
                        out.push(' ');
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

fn write_child(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_block(out, value, indent + 2);
        }
        // Lists sit at the key's own indentation, as kubectl writes them.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_block(out, value, indent);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
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

/// Plain when it is unambiguous, otherwise single-quoted (or double-quoted with escapes when it
/// holds line breaks or control characters).
fn string(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"));
    }
    if needs_quotes(s) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        s.to_owned()
    }
}

fn needs_quotes(s: &str) -> bool {
    const SPECIAL_START: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`', ' ',
    ];
    const WORDS: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "null", "~", "y", "n",
    ];
    s.is_empty()
        || s.starts_with(SPECIAL_START)
        || s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || WORDS.contains(&s.to_ascii_lowercase().as_str())
        || looks_numeric(s)
}

fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    t.parse::<f64>().is_ok()
        || t.starts_with("0x")
        || t.starts_with("0o")
        || matches!(t.to_ascii_lowercase().as_str(), ".inf" | ".nan")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_a_manifest_as_kubectl_would() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": { "name": "q", "labels": { "app.kubernetes.io/managed-by": "berth" } },
            "spec": { "hard": { "pods": "20", "requests.memory": "4Gi" } },
        });
        assert_eq!(
            to_yaml(&v),
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\n  labels:\n    \
             app.kubernetes.io/managed-by: berth\nspec:\n  hard:\n    pods: '20'\n    \
             requests.memory: 4Gi\n"
        );
    }

    #[test]
    fn lists_of_maps_put_the_first_key_on_the_dash() {
        let v = json!({ "subjects": [ { "kind": "User", "name": "dana" }, { "kind": "Group", "name": "g" } ], "empty": [], "none": {} });
        assert_eq!(
            to_yaml(&v),
            "subjects:\n- kind: User\n  name: dana\n- kind: Group\n  name: g\nempty: []\nnone: {}\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for (s, want) in [
            ("2", "'2'"),
            ("1.5", "'1.5'"),
            ("true", "'true'"),
            ("No", "'No'"),
            ("", "''"),
            ("- x", "'- x'"),
            ("a: b", "'a: b'"),
            ("it's", "it's"),
            ("'q'", "'''q'''"),
            ("line\nbreak", "\"line\\nbreak\""),
            ("<script>alert(1)</script>", "<script>alert(1)</script>"),
            ("2026-11-29T10:00:00Z", "2026-11-29T10:00:00Z"),
            ("500m", "500m"),
        ] {
            assert_eq!(string(s), want, "{s:?}");
        }
    }

    #[test]
    fn scalars_stand_alone() {
        assert_eq!(to_yaml(&json!(3)), "3\n");
        assert_eq!(to_yaml(&json!(null)), "null\n");
        assert_eq!(
            to_yaml(&json!({"a": [1, [2, 3]]})),
            "a:\n- 1\n-\n  - 2\n  - 3\n"
        );
    }
}
