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
        let text = response
            .text()
            .await
            .map_err(|e| PluginError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)));
        }
        Err(problem(status, &text))
    }

    pub async fn get(&self, path: &str) -> Result<Value, PluginError> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, PluginError> {
        self.call(Method::POST, path, Some(body)).await
    }
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
