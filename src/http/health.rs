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
    let ready = database == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "status": if ready { "ready" } else { "not_ready" }, "database": database, "models": models, "upstreams": upstreams }),
        ),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .metrics
        .log_queue_depth
        .set(state.pipeline.writer.depth() as i64);
    for m in state.pipeline.providers.all() {
        state
            .metrics
            .set_cooldown(&m.name, m.health.cooling().is_some());
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
