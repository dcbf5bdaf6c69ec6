//! The admin's "promote to eval set" button: `POST /review/items/{id}/promote` appends the
//! reviewed conversation to `[review] evalset` (see `review::promote`) and shows the outcome.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::i18n::tr;
use super::reviews::{item_context, load};
use super::session::AdminSession;
use super::{PageError, ReviewState, parse_form};
use crate::review::promote::PromoteError;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

/// `POST /review/items/{id}/promote` (admins): appends the reviewed conversation to
/// `[review] evalset` as an eval case, and shows the item with the outcome.
pub async fn promote(
    State(state): State<ReviewState>,
    AdminSession(viewer): AdminSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let posted = parse_form::<CsrfForm>(&body).unwrap_or_default();
    if !viewer.csrf_ok(&posted.csrf) {
        return Err(PageError::Csrf);
    }
    let (detail, reviews, emails) = load(&state, &id).await?;
    let prompts = state.prompts.load_full();
    let outcome =
        crate::review::promote::promote(&state.store, &id, &state.settings.evalset, &prompts).await;
    let lang = viewer.visitor.lang;
    let mut ctx = item_context(&state, &viewer, &detail, &reviews, &emails);
    ctx.insert("saved", &false);
    let status = match outcome {
        Ok(case) => {
            tracing::info!(item = %id, case = %case.id, path = %case.path.display(), "review promoted");
            ctx.insert(
                "promoted",
                &tr(lang, "promoted")
                    .replace("{case}", &case.id)
                    .replace("{file}", &case.path.display().to_string()),
            );
            StatusCode::OK
        }
        Err(e) => {
            let status = match e {
                PromoteError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
                PromoteError::NotFound(_) => StatusCode::NOT_FOUND,
                PromoteError::Duplicate { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            tracing::warn!(item = %id, error = %e, "promotion refused");
            ctx.insert("promote_error", &e.to_string());
            status
        }
    };
    Ok(state
        .pages
        .render(viewer.visitor, status, "item.html", &ctx))
}
