//! Prompt registry routes: `GET /v1/prompts`, `GET /v1/prompts/{id}`,
//! `GET /v1/prompts/{id}/versions/{version}`, `POST /v1/prompts/{id}/render` (any key),
//! `GET /v1/prompts/{id}/canary` and `POST /admin/prompts/reload` (admin key).

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthedKey;
use crate::error::ApiError;
use crate::http::AppState;
use crate::wire::PromptSelector;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let registry = state.pipeline.prompts.load();
    Json(json!({ "object": "list", "data": registry.summaries() }))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let registry = state.pipeline.prompts.load();
    let prompt = registry
        .get(&id)
        .ok_or_else(|| ApiError::PromptNotFound(format!("unknown prompt `{id}`")))?;
    Ok(Json(json!(prompt.summary())))
}

pub async fn version(
    State(state): State<AppState>,
    Path((id, version)): Path<(String, u32)>,
) -> Result<Json<Value>, ApiError> {
    let registry = state.pipeline.prompts.load();
    let prompt = registry
        .get(&id)
        .ok_or_else(|| ApiError::PromptNotFound(format!("unknown prompt `{id}`")))?;
    let detail = prompt.version_detail(version).ok_or_else(|| {
        ApiError::PromptNotFound(format!("prompt `{id}` has no version {version}"))
    })?;
    Ok(Json(json!(detail)))
}

/// The render body: a selector without the id (it is in the path).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderBody {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    persona: Option<String>,
    #[serde(default)]
    variables: serde_json::Map<String, Value>,
}

pub async fn render(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = super::read_body(&headers, body, state.config.server.max_body_bytes).await?;
    let body: RenderBody = if bytes.is_empty() {
        RenderBody {
            version: None,
            label: None,
            language: None,
            persona: None,
            variables: Default::default(),
        }
    } else {
        super::parse_json(&bytes)?
    };
    let selector = PromptSelector {
        id,
        version: body.version,
        label: body.label,
        language: body.language,
        persona: body.persona,
        variables: body.variables,
    };
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let rendered = state
        .pipeline
        .prompts
        .load()
        .render(&selector, accept_language)?;
    Ok(Json(json!({
        "prompt_ref": rendered.prompt_ref.to_string(),
        "language": rendered.language,
        "persona": rendered.persona,
        "messages": rendered.messages,
        "sha256": rendered.sha256,
    })))
}

pub async fn reload(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
) -> Result<Json<Value>, ApiError> {
    key.require_admin()?;
    let count = state
        .reload_prompts()
        .map_err(ApiError::PromptReloadFailed)?;
    Ok(Json(json!({ "status": "reloaded", "prompts": count })))
}

/// The prompt canary's state and the gate's decisions (admin).
pub async fn canary(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    key.require_admin()?;
    let registry = state.pipeline.prompts.load();
    crate::canary::gate::state(&state.store, &registry, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::PromptNotFound(format!("unknown prompt `{id}`")))
}
