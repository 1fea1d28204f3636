//! Shared by the local cluster's integration tests.

use std::time::{Duration, Instant};

/// Polls `check` every 250 ms until it answers `Some`, or fails naming `what` after `limit`
/// (a bound, not a timing).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
