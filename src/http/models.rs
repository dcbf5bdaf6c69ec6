//! `GET /v1/models` and `GET /v1/models/{id}` in OpenAI's list format.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::AppState;
use crate::providers::ModelEntry;

fn model_object(m: &ModelEntry) -> Value {
    json!({ "id": m.name, "object": "model", "created": m.created, "owned_by": "powerbirth" })
}

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .pipeline
        .providers
        .all()
        .iter()
        .map(|m| model_object(m))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .pipeline
        .providers
        .get(&id)
        .map(|m| Json(model_object(m)))
        .ok_or(ApiError::ModelNotFound(id))
}
