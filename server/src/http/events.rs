//! `GET /api/v1/events/quota` and `/rollouts`: server-sent events, one each time what the quota
//! or rollout views show has changed on any cluster of the fleet (at most one a second), so
//! pages reload their data when it moves instead of polling. A stream lives only as long as the sign-in it was opened with
//! (sign-out ends it at once; expiry or revocation within [`RECHECK`]), and each user, and the
//! server, hold a bounded number open.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use domain::identity::SignedIn;
use futures::Stream;
use tokio::sync::broadcast;

use super::AppState;
use super::auth::{BearerToken, SessionToken};
use super::error::ApiError;
use crate::store::Store;

/// After an event, changes within this long become the next one.
const COALESCE: Duration = Duration::from_secs(1);
/// How often a stream asks whether its sign-in still holds (expired, revoked elsewhere).
const RECHECK: Duration = Duration::from_secs(30);
/// Open streams per user (a few tabs each), and per server.
const PER_USER: usize = 8;
const TOTAL: usize = 2_000;

/// The open streams of this server: counts, and word of sessions that ended here.
#[derive(Debug)]
pub struct Streams {
    open: Mutex<HashMap<String, usize>>,
    ended: broadcast::Sender<String>,
}

impl Default for Streams {
    fn default() -> Self {
        Streams {
            open: Mutex::new(HashMap::new()),
            ended: broadcast::channel(64).0,
        }
    }
}

/// One admitted stream; dropping it (the stream ended) frees its place.
struct Ticket {
    streams: Arc<Streams>,
    user: String,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.open.lock()
            && let Some(n) = open.get_mut(&self.user)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl Streams {
    fn admit(self: &Arc<Self>, user: &str) -> Result<Ticket, ApiError> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| ApiError::Unavailable("live streams".to_owned()))?;
        let total: usize = open.values().sum();
        let mine = open.get(user).copied().unwrap_or(0);
        if mine >= PER_USER || total >= TOTAL {
            return Err(ApiError::TooManyStreams);
        }
        open.insert(user.to_owned(), mine + 1);
        Ok(Ticket {
            streams: self.clone(),
            user: user.to_owned(),
        })
    }

    /// A session ended (signed out): its streams end now.
    pub fn session_ended(&self, token: &str) {
        // Nobody listening is fine.
        let _ = self.ended.send(token.to_owned());
    }
}

/// What a stream re-checks its sign-in with.
struct Credential {
    token: String,
    bearer: bool,
    store: Store,
    idle: Duration,
}

fn open(
    state: &AppState,
    user: Option<Extension<SignedIn>>,
    session: Option<Extension<SessionToken>>,
    bearer: Option<Extension<BearerToken>>,
    name: &'static str,
    changes: Vec<tokio::sync::watch::Receiver<Option<u64>>>,
) -> Response {
    let Some(Extension(SignedIn(user))) = user else {
        return ApiError::Unauthenticated.into_response();
    };
    let (token, is_bearer) = match (bearer, session) {
        (Some(Extension(BearerToken(t))), _) => (t, true),
        (None, Some(Extension(SessionToken(t)))) => (t, false),
        (None, None) => return ApiError::Unauthenticated.into_response(),
    };
    let ticket = match state.streams.admit(&user.id) {
        Ok(ticket) => ticket,
        Err(err) => return err.into_response(),
    };
    let credential = Credential {
        token,
        bearer: is_bearer,
        store: state.services.store().clone(),
        idle: state.auth.session_idle,
    };
    Sse::new(stream(
        name,
        changes,
        state.streams.ended.subscribe(),
        credential,
        ticket,
    ))
    .keep_alive(KeepAlive::default())
    .into_response()
}

/// Server-sent events: a `change` whenever quota or namespaces the caller may see change.
#[utoipa::path(get, path = "/api/v1/events/quota", tag = "quota",
    responses((status = 200, body = String, content_type = "text/event-stream"),
        (status = "default", body = super::error::Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn quota(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
    session: Option<Extension<SessionToken>>,
    bearer: Option<Extension<BearerToken>>,
) -> Response {
    let changes = state
        .services
        .fleet()
        .members()
        .iter()
        .map(|m| m.caches.subscribe())
        .collect();
    open(&state, user, session, bearer, "quota", changes)
}

/// `GET /api/v1/events/rollouts`: the same for Deployments, StatefulSets and DaemonSets.
#[utoipa::path(get, path = "/api/v1/events/rollouts", tag = "rollouts",
    responses((status = 200, body = String, content_type = "text/event-stream"),
        (status = "default", body = super::error::Problem, content_type = "application/problem+json")),
    security(("token" = ["read"]), ("session" = [])))]
pub async fn rollouts(
    State(state): State<AppState>,
    user: Option<Extension<SignedIn>>,
    session: Option<Extension<SessionToken>>,
    bearer: Option<Extension<BearerToken>>,
) -> Response {
    let changes = state
        .services
        .fleet()
        .members()
        .iter()
        .map(|m| m.caches.subscribe_rollouts())
        .collect();
    open(&state, user, session, bearer, "rollouts", changes)
}

struct Live {
    /// One per cluster of the fleet when the stream opened (the home cluster's first).
    changes: Vec<tokio::sync::watch::Receiver<Option<u64>>>,
    sent: bool,
    ended: broadcast::Receiver<String>,
    credential: Credential,
    next_check: tokio::time::Instant,
    _ticket: Ticket,
}

/// Which cluster's caches changed first, and whether they are still there.
async fn first_change(
    changes: &mut [tokio::sync::watch::Receiver<Option<u64>>],
) -> (Result<(), tokio::sync::watch::error::RecvError>, usize) {
    if changes.is_empty() {
        return futures::future::pending().await;
    }
    let (changed, at, _) =
        futures::future::select_all(changes.iter_mut().map(|c| Box::pin(c.changed()))).await;
    (changed, at)
}

/// An event as soon as something changes on any cluster, then at most one a second (changes
/// meanwhile fold into the next); ends when a cluster's caches stop (one removed from the
/// registry: the browser reconnects and follows the fleet as it is then) or the sign-in does.
fn stream(
    name: &'static str,
    changes: Vec<tokio::sync::watch::Receiver<Option<u64>>>,
    ended: broadcast::Receiver<String>,
    credential: Credential,
    ticket: Ticket,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let live = Live {
        changes,
        sent: false,
        ended,
        credential,
        next_check: tokio::time::Instant::now() + RECHECK,
        _ticket: ticket,
    };
    futures::stream::unfold(live, move |mut live| async move {
        if live.sent {
            tokio::time::sleep(COALESCE).await;
        }
        loop {
            tokio::select! {
                (changed, at) = first_change(&mut live.changes) => {
                    changed.ok()?;
                    let version = (*live.changes[at].borrow_and_update())?;
                    live.sent = true;
                    return Some((Ok(Event::default().event(name).data(version.to_string())), live));
                }
                gone = live.ended.recv() => match gone {
                    Ok(token) if token == live.credential.token => return None,
                    Ok(_) => {}
                    // Missed some: ask the database now.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        live.next_check = tokio::time::Instant::now();
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(live.next_check) => {
                    let c = &live.credential;
                    // A database that does not answer ends nothing: the next check asks again.
                    if let Ok(false) = c.store.credential_alive(&c.token, c.bearer, c.idle).await {
                        return None;
                    }
                    live.next_check = tokio::time::Instant::now() + RECHECK;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::first_change;
    use tokio::sync::watch;

    #[tokio::test]
    async fn a_change_on_any_cluster_wakes_the_stream_and_a_cluster_gone_ends_it() {
        let (home_tx, home) = watch::channel(Some(1));
        let (other_tx, other) = watch::channel(Some(1));
        let mut changes = vec![home, other];
        other_tx.send_replace(Some(2));
        let (changed, at) = first_change(&mut changes).await;
        assert!(changed.is_ok());
        assert_eq!(at, 1, "the second cluster's change");
        assert_eq!(*changes[at].borrow_and_update(), Some(2));
        home_tx.send_replace(Some(3));
        assert_eq!(first_change(&mut changes).await.1, 0);
        changes[0].borrow_and_update();
        drop(other_tx);
        let (changed, at) = first_change(&mut changes).await;
        assert!(changed.is_err(), "a cluster removed from the registry");
        assert_eq!(at, 1);
    }
}
