//! The REST client the plugin speaks through: a token, JSON in and out, and every Problem
//! answer turned into a [`PluginError`] with the exit code a script can test.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::PluginError;

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: String,
}

impl Client {
    pub fn new(server: &str, token: &str) -> Result<Self, PluginError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| PluginError::Unreachable(e.to_string()))?;
        Ok(Client {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// `method path` with an optional JSON body; the answer's JSON, or text when it is not.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, PluginError> {
        self.exchange(method, path, body)
            .await
            .map(|(value, _)| value)
    }

    /// The answer's JSON and the next page's path, from its `Link: <…>; rel="next"`.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Value, Option<String>), PluginError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PluginError::Unreachable(format!("{}: {e}", self.server)))?;
        let status = response.status();
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let text = response
            .text()
            .await
            .map_err(|e| PluginError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return Ok((
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
                next,
            ));
        }
        Err(problem(status, &text))
    }

    /// Every page of a list, following `rel="next"` (at most `MAX_PAGES` of them).
    pub async fn get_all(&self, path: &str) -> Result<Value, PluginError> {
        const MAX_PAGES: usize = 100;
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        for _ in 0..MAX_PAGES {
            let Some(path) = next.take() else { break };
            let (page, link) = self.exchange(Method::GET, &path, None).await?;
            match page {
                Value::Array(rows) => items.extend(rows),
                other => return Ok(other),
            }
            next = link;
        }
        Ok(Value::Array(items))
    }

    pub async fn get(&self, path: &str) -> Result<Value, PluginError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, PluginError> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// The path of a `Link` header's `rel="next"` target (the server's links are paths).
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        (is_next && target.starts_with('/')).then(|| target.to_owned())
    })
}

/// A refused call as the plugin reports it: the Problem's detail and each field's complaint.
fn problem(status: StatusCode, text: &str) -> PluginError {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut detail = body["detail"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the server answered {status}"));
    if let Some(errors) = body["errors"].as_array().filter(|e| !e.is_empty()) {
        detail = errors
            .iter()
            .map(|e| match e["field"].as_str().filter(|f| !f.is_empty()) {
                Some(field) => format!("{field}: {}", e["message"].as_str().unwrap_or_default()),
                None => e["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    match status {
        StatusCode::UNAUTHORIZED => PluginError::Unauthenticated(detail),
        StatusCode::FORBIDDEN => PluginError::Forbidden(detail),
        StatusCode::NOT_FOUND => PluginError::NotFound(detail),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => PluginError::Invalid(detail),
        StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => PluginError::Conflict(detail),
        _ => PluginError::Unreachable(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn the_next_page_is_read_from_its_link() {
        assert_eq!(
            next_link("</api/v1/namespace-requests?cursor=ab&limit=200>; rel=\"next\""),
            Some("/api/v1/namespace-requests?cursor=ab&limit=200".to_owned())
        );
        assert_eq!(
            next_link("</a?x=1>; rel=\"prev\", </b?x=2>; rel=\"next\""),
            Some("/b?x=2".to_owned())
        );
        // Only this server's paths are followed: a link elsewhere would carry the token there.
        assert_eq!(
            next_link("<https://elsewhere.example/x>; rel=\"next\""),
            None
        );
        assert_eq!(next_link("garbage"), None);
    }
}
