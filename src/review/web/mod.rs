//! The review pages under `/review`: server-rendered HTML (tera), usable without JavaScript and
//! on a phone, Portuguese first with an English switch. Only nurse and admin sessions open them;
//! API keys do not (and sessions do not open the API).
//!
//! | route | what |
//! |---|---|
//! | `GET/POST /review/login`, `POST /review/logout` | logging in and out (`login`) |
//! | `GET /review` | open batches and each nurse's progress |
//! | `GET /review/next?batch=ID` | locks the next item for this nurse, redirects to it |
//! | `GET/POST /review/items/{id}` | the conversation and the review form |
//! | `POST /review/items/{id}/promote` | admins: append the item to `[review] evalset` |
//! | `GET /review/stats` | reviews per week, score distributions, Cohen's kappa |
//!
//! Every POST carries a CSRF token: the session's (`user_sessions.csrf_token`) once logged in,
//! a cookie-bound double-submit token on the login form.

pub mod i18n;
mod login;
pub mod pages;
mod promote;
mod reviews;
pub mod session;
mod statistics;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use crate::app::AppState;
use crate::review::accounts::Accounts;
use pages::Pages;
use session::Visitor;
use throttle::LoginThrottle;

/// What the review pages share: the app's state, accounts, the login throttle and templates.
#[derive(Clone)]
pub struct ReviewState {
    pub app: AppState,
    pub accounts: Accounts,
    pub throttle: Arc<LoginThrottle>,
    pub pages: Arc<Pages>,
}

/// The review pages as a service to nest at `/review` (paths here are relative to it).
pub fn router(app: AppState) -> Router {
    // The templates are compiled into the binary; a template that does not parse is a bug
    // that the unit tests catch, never something input can cause.
    let pages = Pages::load().expect("the embedded review templates parse");
    let state = ReviewState {
        // Hashing a random password cannot fail in practice; if it did, logins would still
        // be checked correctly, only unknown e-mails would be answered faster.
        accounts: Accounts::new(app.store.clone())
            .unwrap_or_else(|_| Accounts::without_timing_guard(app.store.clone())),
        throttle: Arc::new(LoginThrottle::default()),
        pages: Arc::new(pages),
        app,
    };
    Router::new()
        .route("/", get(reviews::batches))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/next", get(reviews::next))
        .route("/items/{id}", get(reviews::item).post(reviews::submit))
        .route("/items/{id}/promote", post(promote::promote))
        .route("/stats", get(statistics::stats))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(
    axum::extract::State(state): axum::extract::State<ReviewState>,
    visitor: Visitor,
) -> Response {
    state.pages.message(
        visitor,
        StatusCode::NOT_FOUND,
        "not_found_title",
        "not_found",
    )
}

/// Parses an `application/x-www-form-urlencoded` body; `None` when it is not one.
pub(crate) fn parse_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}
