//! Probes and metrics: `/healthz` (the process answers), `/readyz` (database reachable, models
//! loaded), `/metrics` (Prometheus text). Open routes: no key needed.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

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
    let ready = database == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "status": if ready { "ready" } else { "not_ready" }, "database": database, "models": models }),
        ),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .metrics
        .log_queue_depth
        .set(state.pipeline.writer.depth() as i64);
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
}
