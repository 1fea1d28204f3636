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

/// After an event, changes within this long become the next one.
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

/// An event as soon as something changes, then at most one a second (changes meanwhile fold
/// into the next); ends when the caches stop.
fn stream(
    name: &'static str,
    changes: tokio::sync::watch::Receiver<Option<u64>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold((changes, false), move |(mut changes, sent)| async move {
        if sent {
            tokio::time::sleep(COALESCE).await;
        }
        changes.changed().await.ok()?;
        let version = (*changes.borrow_and_update())?;
        Some((
            Ok(Event::default().event(name).data(version.to_string())),
            (changes, true),
        ))
    })
}
