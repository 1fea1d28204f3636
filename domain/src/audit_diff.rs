//! What an audit event changed, for people: its `before` and `after` documents flattened to
//! fields (`spec.replicas`, `resources.requests.cpu`) and only the fields that differ kept.

use serde_json::Value;

/// How many characters of a value the page shows; the exports keep every one.
const MAX_VALUE: usize = 80;

/// One field an event changed; `None` where the field was not there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn text(v: &Value) -> String {
    let full = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if full.chars().count() > MAX_VALUE {
        let cut: String = full.chars().take(MAX_VALUE - 1).collect();
        format!("{cut}…")
    } else {
        full
    }
}

/// Every leaf of `v` by its dotted path (list items as `[i]`); nulls and empty objects and
/// lists count as absent.
fn flatten(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        Value::Null => {}
        Value::Object(map) => {
            for (k, child) in map {
                flatten(child, &join(k), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(child, &format!("{path}[{i}]"), out);
            }
        }
        leaf => out.push((
            if path.is_empty() {
                "value".to_owned()
            } else {
                path.to_owned()
            },
            text(leaf),
        )),
    }
}

/// The fields that differ between `before` and `after`, in the order they first appear
/// (before's fields, then those only after has).
pub fn changes(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let mut old = Vec::new();
    let mut new = Vec::new();
    if let Some(b) = before {
        flatten(b, "", &mut old);
    }
    if let Some(a) = after {
        flatten(a, "", &mut new);
    }
    let find = |list: &[(String, String)], field: &str| {
        list.iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.clone())
    };
    let mut out: Vec<FieldChange> = Vec::new();
    for (field, was) in &old {
        let now = find(&new, field);
        if now.as_deref() != Some(was.as_str()) {
            out.push(FieldChange {
                field: field.clone(),
                before: Some(was.clone()),
                after: now,
            });
        }
    }
    for (field, now) in &new {
        if find(&old, field).is_none() {
            out.push(FieldChange {
                field: field.clone(),
                before: None,
                after: Some(now.clone()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_scale_reads_as_its_replicas_before_and_after() {
        let got = changes(
            Some(&json!({ "replicas": 2 })),
            Some(&json!({ "replicas": 2_147_483_647 })),
        );
        assert_eq!(
            got,
            [FieldChange {
                field: "replicas".into(),
                before: Some("2".into()),
                after: Some("2147483647".into()),
            }]
        );
    }

    #[test]
    fn nested_fields_are_dotted_and_unchanged_ones_left_out() {
        let before = json!({ "container": "app", "resources": { "requests": { "cpu": "2", "memory": "4Gi" } } });
        let after = json!({ "container": "app", "resources": { "requests": { "cpu": "150m", "memory": "4Gi" }, "limits": { "cpu": "150m" } }, "tags": ["a", null] });
        let got = changes(Some(&before), Some(&after));
        let fields: Vec<&str> = got.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["resources.requests.cpu", "resources.limits.cpu", "tags[0]"]
        );
        assert_eq!(got[0].before.as_deref(), Some("2"));
        assert_eq!(got[1].before, None);
    }

    #[test]
    fn a_removed_field_has_no_after_and_long_values_are_cut() {
        let long = "x".repeat(500);
        let got = changes(Some(&json!({ "gone": true })), Some(&json!(long)));
        assert_eq!(got[0].field, "gone");
        assert_eq!(got[0].after, None);
        assert_eq!(got[1].field, "value");
        assert_eq!(
            got[1].after.as_ref().map(|v| v.chars().count()),
            Some(MAX_VALUE)
        );
        assert!(changes(None, None).is_empty());
        assert!(changes(Some(&json!({})), Some(&json!(null))).is_empty());
    }
}
