//! Request middleware: metrics for every routed request, and API-key authentication with the
//! per-key rate limit for `/v1/*`.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::AuthedKey;
use crate::chat::Refusal;
use crate::error::ApiError;
use crate::http::AppState;
use crate::metrics::{HttpLabels, RouteLabels};
use crate::ratelimit::retry_after_secs;

/// Set by handlers on their response: which model answered and how long upstreams took, so the
/// metrics layer can label by model and compute the gateway's own overhead.
#[derive(Clone, Debug)]
pub struct ResponseMeta {
    pub model: String,
    pub upstream: Duration,
}

/// Counts requests and observes latency by route, model and status; overhead is the total time
/// to response headers minus time spent waiting on upstreams.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let metrics = &state.metrics;
    metrics.in_flight.inc();
    let started = Instant::now();
    let res = next.run(req).await;
    let elapsed = started.elapsed();
    metrics.in_flight.dec();
    let (model, upstream) = res
        .extensions()
        .get::<ResponseMeta>()
        .map_or((String::new(), Duration::ZERO), |m| {
            (m.model.clone(), m.upstream)
        });
    let labels = HttpLabels {
        route: route.clone(),
        model,
        status: res.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .request_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    metrics
        .overhead
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.saturating_sub(upstream).as_secs_f64());
    res
}

/// `Authorization: Bearer KEY` → [`AuthedKey`] in the request extensions, then the key's rate
/// limit. Runs before the body is read, so a bad key costs no parsing; an address with too many failed keys
/// this minute is refused before the key is looked up. On the chat route a
/// refusal is handed to the handler instead ([`Refusal`] in the extensions): the input guard
/// reads the turn first, and an urgent one is answered with its notice (see `chat::degraded`).
pub async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            crate::core::net::client_ip(c.0.ip(), forwarded, &state.config.server.trusted_proxies)
        });
    let key = state.keys.authenticate(req.headers(), client).await?;
    // An ingest key writes features and nothing else: a leaked ETL credential cannot chat,
    // spend or read reports.
    let features_route = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str().starts_with("/v1/features/"));
    if key.role == crate::store::keys::Role::Ingest && !features_route {
        return Err(ApiError::Forbidden);
    }
    let rpm = key.rpm.unwrap_or(state.config.ratelimit.default_rpm);
    if let Err(wait) = state.limiter.check(&key.id, rpm).await {
        state.metrics.ratelimit_rejections.inc();
        let refusal = Refusal {
            rpm,
            retry_after_secs: retry_after_secs(wait),
        };
        let chat = req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| p.as_str() == "/v1/chat/completions");
        if !chat {
            return Err(refusal.into());
        }
        req.extensions_mut().insert(refusal);
    }
    req.extensions_mut().insert(AuthedKey(key));
    Ok(next.run(req).await)
}

/// `x-model-version` on every answer of the model routes, the refusals before their handlers
/// (401, 429) included, so a client can always tell which model it was talking to. The handlers
/// set it on their own answers (the version that answered); this adds the one served now where
/// none is set. Paths are relative to `/v1`, where this layer sits.
pub async fn model_version(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let risk = matches!(req.uri().path(), "/risk/obstetric" | "/risk/outcomes");
    let recommend = req.uri().path() == "/recommendations";
    let mut res = next.run(req).await;
    if res.headers().contains_key(MODEL_VERSION) {
        return res;
    }
    let version = if risk {
        state.risk.current().map(|m| m.header.clone())
    } else if recommend {
        axum::http::HeaderValue::from_str(&state.recommend.recommender.model().version).ok()
    } else {
        None
    };
    if let Some(v) = version {
        res.headers_mut().insert(MODEL_VERSION, v);
    }
    res
}

/// The header naming the model version behind an answer.
pub const MODEL_VERSION: &str = "x-model-version";
