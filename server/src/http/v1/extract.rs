//! What a REST handler takes from a request: the signed-in caller and a JSON body, each
//! refused with a Problem answer rather than axum's plain-text rejection.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use domain::identity::{CurrentUser, RequestOrigin, SignedIn};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// The signed-in user (by session cookie or API token) and where the request came from.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: CurrentUser,
    pub origin: RequestOrigin,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let user = parts
            .extensions
            .get::<SignedIn>()
            .map(|s| s.0.clone())
            .ok_or(ApiError::Unauthenticated)?;
        let origin = parts
            .extensions
            .get::<RequestOrigin>()
            .cloned()
            .unwrap_or_default();
        Ok(Caller { user, origin })
    }
}

/// A JSON body of type `T`; anything else is a 400 that says what was wrong with it.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "the body is not what this call takes (see /api/v1/openapi.json): {}",
                rejection.body_text()
            ))),
        }
    }
}

/// A query string of type `T`, refused with a Problem when it does not parse.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}
