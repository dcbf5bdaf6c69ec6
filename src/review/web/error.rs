//! The review pages' one error type, like the API's `ApiError`: each variant says its status and
//! the page it shows. Handlers return it; [`render_errors`], a layer over every page, turns it
//! into the message page in the visitor's language (with the menu when someone is logged in).
//! Internal causes are logged here and never shown.
//!
//! Rendering needs the templates, the visitor and, for the menu, the logged-in viewer, none of
//! which `IntoResponse` has: so the error travels in the response's extensions to the layer, and
//! the `Viewer` extractor leaves the viewer in a slot the layer put in the request.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::ReviewState;
use super::session::{Viewer, Visitor};

/// Why a page could not be shown.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PageError {
    /// 303 to the login page: no live session (a browser follows it).
    #[error("login required")]
    LoginRequired,
    /// 401: the caller presented an API key; keys never open these pages.
    #[error("API keys do not open the review pages")]
    ApiKeyRefused,
    /// 400: the posted body is not the form.
    #[error("bad request")]
    BadRequest,
    /// 403: the form's CSRF token is missing or wrong.
    #[error("CSRF check failed")]
    Csrf,
    /// 403: only admins may do this.
    #[error("admins only")]
    AdminOnly,
    /// 404: no such page or review item.
    #[error("not found")]
    NotFound,
    /// 409: another nurse holds the item; the page offers the batch's next item.
    #[error("item locked by another nurse")]
    Locked { batch: Option<String> },
    /// 409: the review was not stored; `text_key` (a key of the pages' string table) says why,
    /// and `batch` when set offers its next item.
    #[error("conflict: {text_key}")]
    Conflict {
        text_key: &'static str,
        batch: Option<String>,
    },
    /// 500: the cause is logged, the page only asks to try again.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PageError {
    /// A failure the visitor cannot act on (database, hashing): logged with its cause.
    pub fn internal(cause: impl std::fmt::Display) -> PageError {
        PageError::Internal(cause.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            PageError::LoginRequired => StatusCode::SEE_OTHER,
            PageError::ApiKeyRefused => StatusCode::UNAUTHORIZED,
            PageError::BadRequest => StatusCode::BAD_REQUEST,
            PageError::Csrf | PageError::AdminOnly => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Locked { .. } | PageError::Conflict { .. } => StatusCode::CONFLICT,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message page's heading and sentence, as keys of the string table.
    fn keys(&self) -> (&'static str, &'static str) {
        match self {
            PageError::LoginRequired | PageError::Internal(_) => ("error_title", "internal_error"),
            PageError::ApiKeyRefused => ("unauthorized_title", "api_key_refused"),
            PageError::BadRequest => ("error_title", "bad_request"),
            PageError::Csrf => ("forbidden_title", "csrf_failed"),
            PageError::AdminOnly => ("forbidden_title", "admin_only"),
            PageError::NotFound => ("not_found_title", "not_found"),
            PageError::Locked { .. } => ("locked_title", "locked_text"),
            PageError::Conflict { text_key, .. } => ("conflict_title", text_key),
        }
    }

    fn next_batch(&self) -> Option<&str> {
        match self {
            PageError::Locked { batch } | PageError::Conflict { batch, .. } => batch.as_deref(),
            _ => None,
        }
    }

    /// The page for this error, seen by `visitor` (and `viewer` when logged in).
    fn render(&self, state: &ReviewState, visitor: Visitor, viewer: Option<&Viewer>) -> Response {
        let (heading, text) = self.keys();
        match (self, viewer) {
            (PageError::LoginRequired, _) => Redirect::to("/review/login").into_response(),
            (PageError::Internal(cause), _) => {
                tracing::error!(error = %cause, "review page");
                state.pages.internal_error(visitor)
            }
            (_, Some(viewer)) => {
                state
                    .pages
                    .viewer_message(viewer, self.status(), heading, text, self.next_batch())
            }
            (_, None) => state.pages.message(visitor, self.status(), heading, text),
        }
    }
}

impl IntoResponse for PageError {
    /// A bare status carrying the error; [`render_errors`] renders it.
    fn into_response(self) -> Response {
        let mut res = self.status().into_response();
        res.extensions_mut().insert(Arc::new(self));
        res
    }
}

/// Where the `Viewer` extractor leaves the logged-in viewer for [`render_errors`].
#[derive(Clone, Default)]
pub(super) struct ViewerSlot(Arc<OnceLock<Viewer>>);

impl ViewerSlot {
    /// Records the viewer of this request (the first one wins; there is only one).
    pub(super) fn fill(parts: &axum::http::request::Parts, viewer: &Viewer) {
        if let Some(slot) = parts.extensions.get::<ViewerSlot>() {
            let _ = slot.0.set(viewer.clone());
        }
    }
}

/// Renders every [`PageError`] a page returned, in one place.
pub(super) async fn render_errors(
    State(state): State<ReviewState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(visitor) = Visitor::from_request_parts(&mut parts, &state).await;
    let slot = ViewerSlot::default();
    parts.extensions.insert(slot.clone());
    let mut res = next.run(Request::from_parts(parts, body)).await;
    match res.extensions_mut().remove::<Arc<PageError>>() {
        Some(error) => error.render(&state, visitor, slot.0.get()),
        None => res,
    }
}
