//! `GET /v1/recommendations?patient_id=…&k=5`: parses the query (422 naming the field), calls
//! the recommender, answers `{"items": [...], "model": {"name", "version"}}` with
//! `x-model-version`. Same key, rate limit and metrics as chat (the `/v1` layers).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::AppState;
use crate::ml::recommend::service::from_accept_language;

/// At most this many items per request.
pub const MAX_K: usize = 20;
/// A patient id (a pseudonym) longer than this is not one.
const MAX_ID: usize = 128;

/// A 422 in the API's error body, naming the field.
fn unprocessable(param: &str, message: String) -> Response {
    let mut res = ApiError::invalid(param, message).into_response();
    *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    res
}

pub async fn recommendations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(unknown) = query.keys().find(|k| *k != "patient_id" && *k != "k") {
        return unprocessable(
            unknown,
            format!("Unknown parameter '{unknown}': only patient_id and k are accepted."),
        );
    }
    let patient_id = match query.get("patient_id").map(|p| p.trim()) {
        Some(p) if !p.is_empty() && p.len() <= MAX_ID => p,
        Some(_) => {
            return unprocessable(
                "patient_id",
                format!("'patient_id' must be 1–{MAX_ID} characters."),
            );
        }
        None => return unprocessable("patient_id", "'patient_id' is required.".into()),
    };
    let k = match query.get("k").map(|k| k.trim().parse::<usize>()) {
        None => 5,
        Some(Ok(k)) if (1..=MAX_K).contains(&k) => k,
        Some(_) => {
            return unprocessable("k", format!("'k' must be an integer from 1 to {MAX_K}."));
        }
    };
    let language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(from_accept_language);
    let answer = state.recommend.recommend(patient_id, k, language).await;
    let version = HeaderValue::from_str(&answer.model.version).ok();
    let mut res = Json(answer).into_response();
    if let Some(v) = version {
        res.headers_mut().insert("x-model-version", v);
    }
    res
}
