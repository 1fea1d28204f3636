//! What the UI needs from the server, as a trait: server functions call it and never touch
//! Postgres or the cluster themselves. The server provides the implementation as context.

use std::sync::Arc;

use domain::health::Readiness;

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Probes every dependency Berth needs to serve.
    async fn readiness(&self) -> Readiness;
}

/// How the backend travels through Leptos context.
pub type SharedBackend = Arc<dyn Backend>;
