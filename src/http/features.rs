//! `PUT /v1/features/{group}/{patient_id}` (the group's values as the JSON body) and
//! `GET /v1/features/{group}/{patient_id}`, for `admin` and `ingest` keys. Bad input is 422
//! naming the field; an unknown group is 404. See `docs/features.md`.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::auth::AuthedKey;
use crate::error::ApiError;
use crate::features::{FeatureError, FeatureGroup, FeatureValues, FeatureWrite, Stored};
use crate::http::AppState;
use crate::http::validation::MlError;
use crate::store::keys::Role;

fn allowed(key: &AuthedKey) -> Result<(), ApiError> {
    match key.0.role {
        Role::Admin | Role::Ingest => Ok(()),
        Role::Client => Err(ApiError::Forbidden),
    }
}

fn group(name: &str) -> Result<FeatureGroup, MlError> {
    FeatureGroup::parse(name).ok_or_else(|| {
        MlError::NotFound(format!(
            "Unknown feature group {name:?} (expected risk or engagement)"
        ))
    })
}

fn map_err(e: FeatureError) -> MlError {
    match e {
        FeatureError::Invalid(field) => field.into(),
        other => ApiError::Internal(other.into()).into(),
    }
}

fn body<T: serde::Serialize>(stored: &Stored<T>, group: FeatureGroup) -> Json<Value> {
    Json(json!({
        "object": "features",
        "group": group.as_str(),
        "patient_id": stored.patient_id,
        "values": stored.values,
        "updated_at_ms": stored.updated_at_ms,
    }))
}

/// Stores the values; answers the row stored afterwards (the stored one when it was newer).
#[tracing::instrument(skip_all, fields(group = %group_name))]
pub async fn put(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    Path((group_name, patient_id)): Path<(String, String)>,
    headers: HeaderMap,
    request: Body,
) -> Result<Json<Value>, MlError> {
    allowed(&key)?;
    let group = group(&group_name)?;
    crate::features::validate::patient_id(&patient_id)?;
    let bytes =
        crate::http::read_body(&headers, request, state.config.server.max_body_bytes).await?;
    let values = FeatureValues::parse(group, &bytes)?;
    let write = FeatureWrite { patient_id, values };
    let store = &state.features;
    Ok(match write.values {
        FeatureValues::Risk(v) => body(
            &store
                .put_risk(&write.patient_id, v)
                .await
                .map_err(map_err)?,
            group,
        ),
        FeatureValues::Engagement(v) => body(
            &store
                .put_engagement(&write.patient_id, v)
                .await
                .map_err(map_err)?,
            group,
        ),
    })
}

/// The stored values (Redis first, then the database); 404 when the patient has none.
#[tracing::instrument(skip_all, fields(group = %group_name))]
pub async fn get(
    State(state): State<AppState>,
    Extension(key): Extension<AuthedKey>,
    Path((group_name, patient_id)): Path<(String, String)>,
) -> Result<Json<Value>, MlError> {
    allowed(&key)?;
    let group = group(&group_name)?;
    let store = &state.features;
    let found = match group {
        FeatureGroup::Risk => store
            .risk(&patient_id)
            .await
            .map_err(map_err)?
            .map(|s| body(&s, group)),
        FeatureGroup::Engagement => store
            .engagement(&patient_id)
            .await
            .map_err(map_err)?
            .map(|s| body(&s, group)),
    };
    found.ok_or_else(|| {
        MlError::NotFound(format!(
            "No {} features are stored for this patient",
            group.as_str()
        ))
    })
}
