//! HTTP routes, one module per route group. Handlers parse, call the library and map errors.
//!
//! Layer order, outermost first: metrics (sees every routed request, errors included) → auth and
//! per-key rate limit (only on `/v1/*`; the open routes are listed here and nowhere else).

mod chat;
mod health;
mod middleware;
mod models;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};

use crate::app::AppState;
use crate::error::ApiError;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/chat/completions", post(chat::completions))
        .route("/models", get(models::list))
        .route("/models/{id}", get(models::retrieve))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ));
    // Open routes: probes and metrics for the platform, nothing else.
    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    Router::new()
        .nest("/v1", v1)
        .merge(open)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::track,
        ))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_string())
}

/// Reads a request body up to `limit` bytes; more is a 413 (checked on `Content-Length` first,
/// so an honest oversized upload is refused before it is read).
pub(crate) async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })
}
