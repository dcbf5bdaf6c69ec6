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

mod error;
pub mod i18n;
mod login;
pub mod pages;
mod promote;
mod reviews;
pub mod session;
mod statistics;
pub mod throttle;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::routing::{get, post};

use crate::prompts::PromptRegistry;
use crate::review::ReviewConfig;
use crate::review::accounts::Accounts;
use crate::store::Store;
pub use error::PageError;
pub use login::refuse_when_busy;
use pages::Pages;
use throttle::{HashGate, LoginThrottle};

/// What the review pages use, and nothing more of the app: the store (review and user
/// repositories), the `[review]` settings, the prompts (to check a promoted case), the login
/// throttle and the templates. Cheap to clone.
#[derive(Clone)]
pub struct ReviewState {
    pub store: Store,
    pub accounts: Accounts,
    pub settings: Arc<ReviewConfig>,
    /// The live prompt registry (swapped on reload).
    pub prompts: Arc<ArcSwap<PromptRegistry>>,
    pub throttle: Arc<LoginThrottle>,
    /// Bounds the password hashes running at once (one per core).
    pub hashing: Arc<HashGate>,
    /// Peers whose `X-Forwarded-For` names the client (`[server] trusted_proxies`).
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    pub pages: Arc<Pages>,
}

impl ReviewState {
    /// Parses the templates and prepares the accounts (hashing the stand-in password for unknown
    /// e-mails: ~0.1 s of CPU, so build this before serving).
    pub fn new(
        store: Store,
        settings: ReviewConfig,
        prompts: Arc<ArcSwap<PromptRegistry>>,
    ) -> ReviewState {
        // The templates are compiled into the binary; a template that does not parse is a bug
        // that the unit tests catch, never something input can cause.
        let pages = Pages::load().expect("the embedded review templates parse");
        ReviewState {
            // Hashing a random password cannot fail in practice; if it did, logins would still
            // be checked correctly, only unknown e-mails would be answered faster.
            accounts: Accounts::new(store.clone())
                .unwrap_or_else(|_| Accounts::without_timing_guard(store.clone())),
            store,
            settings: Arc::new(settings),
            prompts,
            throttle: Arc::new(LoginThrottle::default()),
            hashing: Arc::new(HashGate::default()),
            trusted_proxies: Arc::new(Vec::new()),
            pages: Arc::new(pages),
        }
    }

    /// Believes `X-Forwarded-For` from these peers only (none by default).
    pub fn trusting_proxies(mut self, proxies: Vec<ipnet::IpNet>) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }
}

/// The review pages as a service to nest at `/review` (paths here are relative to it).
pub fn router(state: ReviewState) -> Router {
    Router::new()
        .route("/", get(reviews::batches))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/next", get(reviews::next))
        .route("/items/{id}", get(reviews::item).post(reviews::submit))
        .route("/items/{id}/promote", post(promote::promote))
        .route("/stats", get(statistics::stats))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_errors,
        ))
        .with_state(state)
}

async fn not_found() -> PageError {
    PageError::NotFound
}

/// Parses an `application/x-www-form-urlencoded` body; `None` when it is not one.
pub(crate) fn parse_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}
