//! `GET /api/v1/events/quota` and `/rollouts`: server-sent events, one each time what the quota
//! or rollout views show has changed (at most one a second), so pages reload their data when it
//! moves instead of polling.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::identity::SignedIn;
use futures::Stream;

use super::AppState;
use super::error::ApiError;

/// Changes closer together than this become one event.
const COALESCE: Duration = Duration::from_secs(1);

pub async fn quota(State(state): State<AppState>, user: Option<Extension<SignedIn>>) -> Response {
    if user.is_none() {
        return ApiError::Unauthenticated.into_response();
    }
    let changes = state.services.caches().subscribe();
    Sse::new(stream("quota", changes))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `GET /api/v1/events/rollouts`: the same for Deployments, StatefulSets and DaemonSets.
pub async fn rollouts(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
) -> Response {
    if user.is_none() {
        return ApiError::Unauthenticated.into_response();
    }
    let changes = state.services.caches().subscribe_rollouts();
    Sse::new(stream("rollouts", changes))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One event per burst of changes; ends when the caches stop.
fn stream(
    name: &'static str,
    changes: tokio::sync::watch::Receiver<Option<u64>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(changes, move |mut changes| async move {
        changes.changed().await.ok()?;
        tokio::time::sleep(COALESCE).await;
        let version = (*changes.borrow_and_update())?;
        Some((
            Ok(Event::default().event(name).data(version.to_string())),
            changes,
        ))
    })
}
