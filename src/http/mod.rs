//! HTTP routes, one module per route group. Handlers parse, call the library and map errors.
//!
//! Layer order, outermost first: metrics (sees every routed request, errors included) → auth and
//! per-key rate limit (only on `/v1/*`; the open routes are listed here and nowhere else).
//! Outside them all, `serve::body_deadline` receives each body within `[server] body_timeout_ms`,
//! and outside that a nurse login that no password-hashing slot could take is refused at once.

mod chat;
mod features;
mod health;
mod limits;
mod middleware;
mod models;
pub(crate) mod moderations;
mod prompts;
mod recommendations;
mod risk;
pub mod serve;
mod state;
mod usage;
pub mod validation;

pub use state::AppState;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};

use crate::error::ApiError;

/// The whole API.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/chat/completions", post(chat::completions))
        .route("/models", get(models::list))
        .route("/models/{id}", get(models::retrieve))
        .route("/moderations", post(moderations::create))
        .route("/prompts", get(prompts::list))
        .route("/prompts/{id}", get(prompts::get))
        .route("/prompts/{id}/versions/{version}", get(prompts::version))
        .route("/prompts/{id}/render", post(prompts::render))
        .route("/prompts/{id}/canary", get(prompts::canary))
        .route("/usage", get(usage::usage))
        .route("/alerts", get(usage::alerts))
        .route("/reviews/export", get(crate::review::export::handler))
        .route("/risk/obstetric", post(risk::obstetric))
        .route("/risk/outcomes", post(risk::outcomes))
        .route("/recommendations", get(recommendations::recommendations))
        .route(
            "/features/{group}/{patient_id}",
            get(features::get).put(features::put),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::model_version,
        ));
    // Admin routes: the same keys; each handler checks the admin role.
    let admin = Router::new()
        .route("/prompts/reload", post(prompts::reload))
        .route("/models/reload", post(risk::reload))
        .route("/triage/reload", post(risk::reload_triage))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ));
    // Open routes: probes and metrics for the platform, nothing else.
    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    let review = review_state(&state);
    let login_gate = review.clone();
    let release = release_header(&state.config.server.release);
    let body_limits = serve::BodyLimits {
        timeout: state.config.server.body_timeout,
        max_bytes: state.config.server.max_body_bytes,
    };
    Router::new()
        .nest("/v1", v1)
        .nest("/admin", admin)
        .nest_service("/review", crate::review::web::router(review))
        .merge(open)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::track,
        ))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            body_limits,
            serve::body_deadline,
        ))
        // A login flood is refused before its bodies are read (`review::web::refuse_when_busy`).
        .layer(axum::middleware::from_fn_with_state(
            login_gate,
            crate::review::web::refuse_when_busy,
        ))
        // Outermost: every response names the release that served it, errors and 408s too.
        .layer(axum::middleware::map_response_with_state(
            release,
            stamp_release,
        ))
}

/// What the review pages get of the app's state: only what they use.
fn review_state(state: &AppState) -> crate::review::web::ReviewState {
    crate::review::web::ReviewState::new(
        state.store.clone(),
        state.config.review.clone(),
        state.pipeline.prompts.clone(),
    )
    .trusting_proxies(state.config.server.trusted_proxies.clone())
}

/// The response header naming the release that served a request.
pub const RELEASE_HEADER: &str = "x-powerbirth-release";

/// `[server] release` as a header value (validated by the configuration to be header-safe).
fn release_header(release: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(release)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static(env!("CARGO_PKG_VERSION")))
}

async fn stamp_release(
    axum::extract::State(release): axum::extract::State<axum::http::HeaderValue>,
    mut res: axum::response::Response,
) -> axum::response::Response {
    res.headers_mut().insert(RELEASE_HEADER, release);
    res
}

/// The review export takes only the store from the app's state.
impl axum::extract::FromRef<AppState> for crate::store::Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_string())
}

/// Parses a JSON body; a wrong field is a 400 naming it (as for chat requests).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            ApiError::InvalidRequest {
                message: format!("Invalid JSON body: {inner}"),
                param: None,
                code: None,
            }
        } else {
            ApiError::invalid(path.clone(), format!("Invalid value for '{path}': {inner}"))
        }
    })
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
