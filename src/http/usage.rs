//! Admin reports: `GET /v1/usage?from=…&to=…&group_by=day|model|key|prompt` (requests, tokens,
//! cost and cost per message per group) and `GET /v1/alerts` (cost alerts, newest first).

use axum::Extension;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthedKey;
use crate::core::calendar::parse_instant;
use crate::core::now_ms;
use crate::error::ApiError;
use crate::http::AppState;
use crate::metering::{GroupBy, list_alerts, usage_report};

/// Query of `/v1/usage`. `from`/`to` take epoch ms, `YYYY-MM-DD` or RFC 3339 UTC; default the last
/// 24 hours; `group_by` defaults to `day`.
#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
}

pub async fn usage(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Value>, ApiError> {
    key.require_admin()?;
    let to = match &q.to {
        Some(t) => parse_instant(t).map_err(|e| ApiError::invalid("to", e))?,
        None => now_ms(),
    };
    let from = match &q.from {
        Some(f) => parse_instant(f).map_err(|e| ApiError::invalid("from", e))?,
        None => to - 24 * 3600 * 1000,
    };
    if from >= to {
        return Err(ApiError::invalid("from", "'from' must be before 'to'"));
    }
    let group_by: GroupBy = q
        .group_by
        .as_deref()
        .unwrap_or("day")
        .parse()
        .map_err(|e: String| ApiError::invalid("group_by", e))?;
    let report = usage_report(&state.store, from, to, group_by).await?;
    Ok(Json(json!(report)))
}

pub async fn alerts(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
) -> Result<Json<Value>, ApiError> {
    key.require_admin()?;
    let alerts = list_alerts(&state.store).await?;
    Ok(Json(json!({ "object": "list", "data": alerts })))
}
