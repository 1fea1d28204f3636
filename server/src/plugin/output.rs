//! How the plugin prints: a table like kubectl's, or the API's own JSON or YAML.

use serde_json::Value;

use super::PluginError;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Columns padded to their widest cell, three spaces apart, headers in capitals.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c
                } else {
                    format!("{c:<width$}   ", width = widths[i])
                }
            })
            .collect::<String>()
    };
    let mut out = line(headers.iter().map(|h| h.to_uppercase()).collect());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.clone()));
        out.push('\n');
    }
    out
}

/// `value` as the format asks; `rows` builds the table from it.
pub fn print(
    format: Format,
    value: &Value,
    headers: &[&str],
    rows: impl FnOnce(&Value) -> Vec<Vec<String>>,
) -> Result<(), PluginError> {
    let text = match format {
        Format::Json => {
            serde_json::to_string_pretty(value).map_err(|e| PluginError::Invalid(e.to_string()))?
                + "\n"
        }
        Format::Yaml => {
            serde_yaml::to_string(value).map_err(|e| PluginError::Invalid(e.to_string()))?
        }
        Format::Table => {
            let rows = rows(value);
            if rows.is_empty() {
                "No resources found.\n".to_owned()
            } else {
                table(headers, &rows)
            }
        }
    };
    print!("{text}");
    Ok(())
}

/// A JSON field as a table cell: text as it is, `null` as `<none>`.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "<none>".to_owned(),
        Value::String(s) if s.is_empty() => "<none>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_capital_headers() {
        let text = table(
            &["name", "state"],
            &[
                vec!["payments-ledger".to_owned(), "Ready".to_owned()],
                vec!["a".to_owned(), "Pending".to_owned()],
            ],
        );
        assert_eq!(
            text,
            "NAME              STATE\npayments-ledger   Ready\na                 Pending\n"
        );
        assert_eq!(cell(&Value::Null), "<none>");
        assert_eq!(cell(&serde_json::json!(["a", "b"])), "a,b");
    }
}
