//! Probes and metrics: `/healthz` (the process answers), `/readyz` (database reachable, models
//! loaded), `/metrics` (Prometheus text). Open routes: no API key needed; `/metrics` asks for
//! the bearer token of `[metrics] token_env` when one is configured.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::http::AppState;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database =
        match tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await {
            Ok(Ok(())) => "ok",
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: database unreachable");
                "unreachable"
            }
            Err(_) => "timeout",
        };
    // Models are loaded before the listener serves, so a serving process has them all.
    let models: Vec<&str> = state
        .pipeline
        .providers
        .all()
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    // Each model's cooldown: a model skipped after repeated failures does not make the replica
    // unready (its fallbacks serve), but operators see it here and in the metric.
    let upstreams: Vec<_> = state
        .pipeline
        .providers
        .all()
        .iter()
        .map(|m| {
            let cooling = m.health.cooling();
            json!({
                "model": m.name,
                "state": if cooling.is_some() { "cooldown" } else { "ok" },
                "consecutive_failures": m.health.consecutive_failures(),
                "cooldown_remaining_ms": cooling.map(|d| d.as_millis() as u64),
            })
        })
        .collect();
    // The recommender's daily refresh: its age (null before the first run finished).
    let now = crate::core::now_ms();
    let recommender = &state.recommend.recommender;
    let recommendations = json!({
        "articles": recommender.articles(),
        "model_version": recommender.model().version,
        "last_refresh_age_s": recommender.refresh_age(now).map(|d| d.as_secs()),
    });
    let ready = database == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "status": if ready { "ready" } else { "not_ready" }, "database": database, "models": models, "upstreams": upstreams, "recommendations": recommendations }),
        ),
    )
}

/// Whether `headers` carry `Authorization: Bearer <token>` (compared in constant time).
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, t)| t.trim());
    let (a, b) = (presented.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics.token
        && !bearer_matches(&headers, token.expose())
    {
        return ApiError::Unauthorized(
            "/metrics needs `Authorization: Bearer <token>` ([metrics] token_env).".into(),
        )
        .into_response();
    }
    state
        .metrics
        .log_queue_depth
        .set(state.pipeline.writer.depth() as i64);
    for m in state.pipeline.providers.all() {
        state
            .metrics
            .set_cooldown(&m.name, m.health.cooling().is_some());
    }
    state
        .metrics
        .log_spool_bytes
        .set(i64::try_from(state.pipeline.writer.spool_bytes()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
