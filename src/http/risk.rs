//! `POST /v1/risk/obstetric` (a risk answer from the production model), `POST /v1/risk/outcomes`
//! (the outcome later observed for a logged prediction) and `POST /admin/models/reload`. Thin:
//! parse, call `ml::serve`, map errors. Every answer carries `x-model-version` once a model is
//! loaded; bad input is a 422 naming the field, never a 500.

use std::time::Instant;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::middleware::ResponseMeta;
use super::validation::{error_response, unprocessable};
use crate::auth::AuthedKey;
use crate::error::ApiError;
use crate::features::{FeatureError, RiskFeatures};
use crate::http::AppState;
use crate::ml::serve::{AssessError, FieldError, Level, Reloaded, RiskRequest};

#[tracing::instrument(name = "risk", skip_all, fields(key = %key.0.name))]
pub async fn obstetric(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let object = match read_object(&state, &headers, body).await {
        Ok(o) => o,
        Err(res) => return versioned(&state, *res),
    };
    let request = match RiskRequest::parse(&object) {
        Ok(r) => r,
        Err(e) => return versioned(&state, unprocessable(&e.param, e.code, &e.message)),
    };
    let stored = match &request.patient_id {
        Some(id) => match stored_features(&state, id).await {
            Ok(s) => s,
            Err(res) => return versioned(&state, *res),
        },
        None => None,
    };
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    match state
        .risk
        .assess(&request, stored.as_ref(), accept_language, started)
    {
        Ok(a) => {
            let mut res = axum::Json(&a.answer).into_response();
            res.headers_mut().insert(
                "x-model-version",
                state
                    .risk
                    .current()
                    .filter(|m| m.version == a.answer.model.version)
                    .map_or_else(
                        || header_value(&a.answer.model.version),
                        |m| m.header.clone(),
                    ),
            );
            res.extensions_mut().insert(ResponseMeta {
                model: a.answer.model.name.clone(),
                upstream: std::time::Duration::ZERO,
            });
            res
        }
        Err(AssessError::Field(e, model)) => {
            let mut res = unprocessable(&e.param, e.code, &e.message);
            if let Some(m) = model {
                res.headers_mut()
                    .insert("x-model-version", m.header.clone());
            }
            res
        }
        Err(AssessError::NoModel) => no_model(),
    }
}

/// The patient's stored measurements from the feature store (Redis first, then the database);
/// an unknown patient has none, so only the request's own values count. A bad id is a 422; a
/// database failure is a 500 (its cause logged, never sent).
async fn stored_features(
    state: &AppState,
    patient_id: &str,
) -> Result<Option<RiskFeatures>, Box<Response>> {
    match state.features.risk(patient_id).await {
        Ok(stored) => Ok(stored.map(|s| s.values)),
        Err(FeatureError::Invalid(e)) => Err(Box::new(unprocessable(
            &e.field,
            "invalid_field",
            &format!("Invalid value for '{}': {}", e.field, e.message),
        ))),
        Err(e) => Err(Box::new(ApiError::Internal(e.into()).into_response())),
    }
}

/// `POST /v1/risk/outcomes {"prediction_id", "outcome": "low"|"mid"|"high"}`.
pub async fn outcomes(
    State(state): State<AppState>,
    Extension(_key): Extension<AuthedKey>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let object = match read_object(&state, &headers, body).await {
        Ok(o) => o,
        Err(res) => return versioned(&state, *res),
    };
    let res = match parse_outcome(&object) {
        Err(e) => unprocessable(&e.param, e.code, &e.message),
        Ok((id, outcome)) => {
            let at = crate::core::now_ms();
            match state.store.record_outcome(&id, outcome.as_str(), at).await {
                Ok(true) => axum::Json(json!({
                    "prediction_id": id, "outcome": outcome, "recorded_at": at
                }))
                .into_response(),
                Ok(false) => error_response(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    "prediction_not_found",
                    Some("prediction_id"),
                    &format!(
                        "No logged prediction has the id {id:?} (predictions are stored within a second of their answer)."
                    ),
                ),
                Err(e) => ApiError::from(e).into_response(),
            }
        }
    };
    versioned(&state, res)
}

fn parse_outcome(object: &Map<String, Value>) -> Result<(String, Level), FieldError> {
    if let Some(k) = object
        .keys()
        .find(|k| *k != "prediction_id" && *k != "outcome")
    {
        let message = format!("Unknown field '{k}'. Known fields: prediction_id, outcome.");
        return Err(field_error(k, "invalid_field", &message));
    }
    let id = match object.get("prediction_id").map(|v| v.as_str()) {
        Some(Some(id)) if !id.trim().is_empty() && id.len() <= 64 => id.trim().to_string(),
        None => {
            return Err(field_error(
                "prediction_id",
                "missing_field",
                "prediction_id is required.",
            ));
        }
        _ => {
            return Err(field_error(
                "prediction_id",
                "invalid_field",
                "prediction_id must be the id a risk answer gave (a string).",
            ));
        }
    };
    let outcome = match object
        .get("outcome")
        .map(|v| v.as_str().and_then(Level::parse))
    {
        Some(Some(l)) => l,
        None => {
            return Err(field_error(
                "outcome",
                "missing_field",
                "outcome is required: low, mid or high.",
            ));
        }
        Some(None) => {
            return Err(field_error(
                "outcome",
                "invalid_field",
                "outcome must be one of low, mid, high.",
            ));
        }
    };
    Ok((id, outcome))
}

/// `POST /admin/models/reload`: reads the registry's `production` now and swaps it in if it moved.
pub async fn reload(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
) -> Result<Response, ApiError> {
    key.require_admin()?;
    let res = match state.risk.reload().await {
        Ok(Reloaded::Swapped { from, to }) => swapped(from, to),
        Ok(Reloaded::Unchanged(v)) => unchanged(v),
        Ok(Reloaded::NoProduction) => error_response(
            StatusCode::CONFLICT,
            "invalid_request_error",
            "no_production_model",
            None,
            "The registry has no production version of the risk model; nothing was loaded.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "admin risk model reload failed");
            reload_failed(&format!(
                "The reload failed and the current model keeps serving: {e}"
            ))
        }
    };
    Ok(versioned(&state, res))
}

/// A reload's answers, the same for every served model.
fn swapped(from: impl serde::Serialize, to: impl serde::Serialize) -> Response {
    axum::Json(json!({"status": "swapped", "from": from, "version": to})).into_response()
}

fn unchanged(version: impl serde::Serialize) -> Response {
    axum::Json(json!({"status": "unchanged", "version": version})).into_response()
}

fn reload_failed(message: &str) -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        "model_reload_failed",
        None,
        message,
    )
}

/// `POST /admin/triage/reload`: looks `[guard] triage_model`'s registry selector up now and swaps
/// the version it names in if it moved. 404 when no triage classifier is installed; a failure
/// (registry unreachable, alias gone, a version that does not load) is 503 and the current
/// version keeps serving.
pub async fn reload_triage(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
) -> Result<Response, ApiError> {
    key.require_admin()?;
    use crate::ml::triage::select::Swap;
    let Some(triage) = &state.triage else {
        return Ok(error_response(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "no_triage_model",
            None,
            "No triage classifier is installed ([guard] triage_model is not set).",
        ));
    };
    Ok(match triage.reload().await {
        Ok(Swap::Swapped { from, to }) => swapped(from, to),
        Ok(Swap::Unchanged(v)) => unchanged(v),
        Err(e) => {
            tracing::error!(error = %e, "admin triage model reload failed");
            reload_failed(&format!(
                "The reload failed and the current triage version keeps serving: {e}"
            ))
        }
    })
}

fn field_error(param: &str, code: &'static str, message: &str) -> FieldError {
    FieldError {
        param: param.to_string(),
        code,
        message: message.to_string(),
    }
}

/// The body as a JSON object: over the limit 413, not JSON 400, not an object 422.
async fn read_object(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, Box<Response>> {
    let bytes = super::read_body(headers, body, state.config.server.max_body_bytes)
        .await
        .map_err(|e| Box::new(e.into_response()))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Box::new(unprocessable(
            "",
            "invalid_field",
            "The body must be a JSON object.",
        ))),
        Err(e) => Err(Box::new(
            ApiError::InvalidRequest {
                message: format!("Invalid JSON body: {e}"),
                param: None,
                code: None,
            }
            .into_response(),
        )),
    }
}

/// Adds `x-model-version` of the model served now, if any.
fn versioned(state: &AppState, mut res: Response) -> Response {
    if let Some(m) = state.risk.current() {
        res.headers_mut()
            .insert("x-model-version", m.header.clone());
    }
    res
}

fn header_value(v: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(v)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("unknown"))
}

fn no_model() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        "model_not_loaded",
        None,
        "No production risk model is loaded yet; promote one (`powerbirth models bootstrap`) and retry.",
    )
}
