//! `/api/v1/docs`: the OpenAPI document as a page a person reads, rendered on the server from
//! the document itself (no script fetched from elsewhere).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;
use utoipa::openapi::OpenApi;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `#/components/schemas/Name` → `Name`.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", schema_name(items));
    }
    schema
        .get("type")
        .map(|t| match t {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| "object".to_owned())
}

fn bodies(content: Option<&Value>) -> String {
    let Some(content) = content.and_then(Value::as_object) else {
        return String::new();
    };
    content
        .iter()
        .map(|(media, body)| {
            let schema = body.get("schema").map(schema_name).unwrap_or_default();
            format!("{} <code>{}</code>", escape(&schema), escape(media))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render(document: &OpenApi) -> String {
    let value = serde_json::to_value(document).unwrap_or(Value::Null);
    // Operations by tag, in path order.
    let mut by_tag: BTreeMap<String, Vec<(String, String, Value)>> = BTreeMap::new();
    if let Some(paths) = value["paths"].as_object() {
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let tag = operation["tags"][0].as_str().unwrap_or("other").to_owned();
                by_tag.entry(tag).or_default().push((
                    method.to_ascii_uppercase(),
                    path.clone(),
                    operation.clone(),
                ));
            }
        }
    }
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Berth REST API</title><link rel=\"stylesheet\" href=\"/pkg/berth.css\"></head>\
         <body><main class=\"api-docs\"><h1>Berth REST API, v1</h1>",
    );
    let description = value["info"]["description"].as_str().unwrap_or_default();
    let _ = write!(
        html,
        "<p>{}</p><p>The machine-readable document: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> (OpenAPI {}).</p><nav><ul>",
        escape(description),
        escape(value["openapi"].as_str().unwrap_or_default())
    );
    for tag in by_tag.keys() {
        let _ = write!(html, "<li><a href=\"#{0}\">{0}</a></li>", escape(tag));
    }
    html.push_str("</ul></nav>");
    for (tag, operations) in &by_tag {
        let _ = write!(html, "<section id=\"{0}\"><h2>{0}</h2>", escape(tag));
        for (method, path, operation) in operations {
            let scope = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|r| r["token"][0].as_str())
                .unwrap_or("none: signed-in session only");
            let _ = write!(
                html,
                "<article class=\"operation\"><h3><code>{} {}</code></h3><p>{}</p>\
                 <p>Token scope: <code>{}</code></p>",
                escape(method),
                escape(path),
                escape(
                    operation["summary"]
                        .as_str()
                        .or(operation["description"].as_str())
                        .unwrap_or_default()
                ),
                escape(scope),
            );
            if let Some(params) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
                html.push_str("<p>Parameters:</p><ul>");
                for p in params {
                    let _ = write!(
                        html,
                        "<li><code>{}</code> ({}){}</li>",
                        escape(p["name"].as_str().unwrap_or_default()),
                        escape(p["in"].as_str().unwrap_or_default()),
                        p["description"]
                            .as_str()
                            .map(|d| format!(": {}", escape(d)))
                            .unwrap_or_default()
                    );
                }
                html.push_str("</ul>");
            }
            let request = bodies(operation.get("requestBody").and_then(|b| b.get("content")));
            if !request.is_empty() {
                let _ = write!(html, "<p>Body: {request}</p>");
            }
            html.push_str("<p>Answers:</p><ul>");
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let _ = write!(
                    html,
                    "<li><code>{}</code> {}</li>",
                    escape(status),
                    bodies(response.get("content"))
                );
            }
            html.push_str("</ul></article>");
        }
        html.push_str("</section>");
    }
    html.push_str("</main></body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_the_document_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_page_lists_every_operation() {
        let page = render(super::super::document());
        for needle in [
            "<code>POST /api/v1/namespace-requests</code>",
            "<code>POST /api/v1/access/{id}/review</code>",
            "<code>GET /api/v1/cost</code>",
            "Token scope: <code>access</code>",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
    }
}
