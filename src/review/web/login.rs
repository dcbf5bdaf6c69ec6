//! Logging in and out. The login form carries a double-submit CSRF token (a cookie and a hidden
//! field that must match), failed logins are throttled per account and per client address
//! (refused with "try again in N s" while the delay runs, never by sleeping), and an unknown
//! e-mail and a wrong password get the same answer. E-mails and passwords are never logged.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::i18n::tr;
use super::session::{Viewer, Visitor};
use super::{PageError, ReviewState, parse_form};
use crate::review::accounts::{Email, Password, Reviewer, constant_time_eq, random_token};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    csrf: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

/// The login page with a fresh form token. A visitor already logged in goes to the batches.
pub async fn form(
    State(state): State<ReviewState>,
    visitor: Visitor,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = visitor.session_token(&headers)
        && matches!(state.accounts.session(token).await, Ok(Some(_)))
    {
        return Redirect::to("/review").into_response();
    }
    login_page(&state, visitor, StatusCode::OK, "", None)
}

/// The login form, with `error` shown above it; sets a new form token each time.
fn login_page(
    state: &ReviewState,
    visitor: Visitor,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Response {
    let token = random_token();
    let mut ctx = state.pages.context(visitor);
    ctx.insert("login_csrf", &token);
    ctx.insert("email", email);
    ctx.insert("error", &error.unwrap_or_default());
    let mut res = state.pages.render(visitor, status, "login.html", &ctx);
    res.headers_mut()
        .append(header::SET_COOKIE, visitor.login_cookie(&token));
    res
}

/// Checks the form token, takes a throttle slot and a hashing slot, then the credentials; on
/// success opens a session and redirects to the batches.
pub async fn submit(
    State(state): State<ReviewState>,
    visitor: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = parse_form::<LoginForm>(&body).ok_or(PageError::BadRequest)?;
    let token_ok = visitor
        .login_token(&headers)
        .is_some_and(|cookie| !form.csrf.is_empty() && constant_time_eq(cookie, &form.csrf));
    if !token_ok {
        return Err(PageError::Csrf);
    }
    // A malformed e-mail is just a wrong login: the same answer, counted per address only.
    let Ok(email) = Email::parse(&form.email) else {
        if let Err(wait) = state.throttle.begin(None, visitor.ip) {
            return Ok(throttled(&state, visitor, &form.email, wait));
        }
        return Ok(refused(&state, visitor, &form.email));
    };
    if let Err(wait) = state.throttle.begin(Some(&email), visitor.ip) {
        return Ok(throttled(&state, visitor, &form.email, wait));
    }
    let Some(permit) = state.hashing.try_enter() else {
        state.throttle.cancel(&email, visitor.ip);
        state.hashing.refused();
        return Ok(busy(visitor));
    };
    let Some(reviewer) = check_credentials(&state, permit, &email, form.password).await? else {
        state.throttle.refused(&email, visitor.ip);
        tracing::info!("review login refused");
        return Ok(refused(&state, visitor, &form.email));
    };
    state.throttle.succeeded(&email, visitor.ip);
    open_session(&state, visitor, reviewer).await
}

/// The login form again, 401, with the one answer for every wrong login.
fn refused(state: &ReviewState, visitor: Visitor, email: &str) -> Response {
    login_page(
        state,
        visitor,
        StatusCode::UNAUTHORIZED,
        email,
        Some(tr(visitor.lang, "login_failed").to_string()),
    )
}

/// The login form again, 429, saying how long to wait (whole seconds, rounded up).
fn throttled(state: &ReviewState, visitor: Visitor, email: &str, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let message = tr(visitor.lang, "login_wait").replace("{n}", &secs.to_string());
    let mut res = login_page(
        state,
        visitor,
        StatusCode::TOO_MANY_REQUESTS,
        email,
        Some(message),
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

/// The outermost check on `POST /review/login`: while every hashing slot is taken, an attempt is
/// answered 429 before its body is received, routed or parsed, since it would be refused anyway.
/// Under a flood this is nearly every request, so it skips everything it can (the body, the
/// router, the request metrics, the form, the throttle).
pub async fn refuse_when_busy(
    State(state): State<ReviewState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() != axum::http::Method::POST
        || req.uri().path() != "/review/login"
        || !state.hashing.is_full()
    {
        return next.run(req).await;
    }
    let (mut parts, _) = req.into_parts();
    let Ok(visitor) =
        <Visitor as axum::extract::FromRequestParts<_>>::from_request_parts(&mut parts, &state)
            .await;
    state.hashing.refused();
    busy(visitor)
}

/// 429 with `Retry-After: 1` when every hashing slot is taken. A plain page, not the rendered
/// form: under a flood this is most answers, and it must cost next to nothing.
fn busy(visitor: Visitor) -> Response {
    let message = tr(visitor.lang, "login_wait").replace("{n}", "1");
    let html = format!(
        "<!doctype html><meta charset=\"utf-8\"><p>{message}</p><p><a href=\"/review/login\">/review/login</a></p>"
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, HeaderValue::from(1u64)),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
        ],
        html,
    )
        .into_response()
}

/// The account these credentials open, or `None` (the throttle already counted the attempt).
/// An oversized password is refused without hashing it. The check runs as its own task holding
/// the hashing `permit`, so a client that disconnects mid-check does not free the slot while the
/// hash is still running.
async fn check_credentials(
    state: &ReviewState,
    permit: tokio::sync::OwnedSemaphorePermit,
    email: &Email,
    password: String,
) -> Result<Option<Reviewer>, PageError> {
    if password.len() > Password::MAX_BYTES {
        return Ok(None);
    }
    let accounts = state.accounts.clone();
    let email = email.clone();
    tokio::spawn(async move {
        let _permit = permit;
        accounts.verify(&email, &password).await
    })
    .await
    .map_err(|e| PageError::internal(format!("checking a review login: {e}")))?
    .map_err(|e| PageError::internal(format!("checking a review login: {e}")))
}

/// Opens a session for `reviewer`: its cookie, the login form's cookie cleared, and a redirect
/// to the batches.
async fn open_session(
    state: &ReviewState,
    visitor: Visitor,
    reviewer: Reviewer,
) -> Result<Response, PageError> {
    let lasts = state.settings.session;
    let (token, session) = state
        .accounts
        .open_session(reviewer, lasts)
        .await
        .map_err(|e| PageError::internal(format!("opening a review session: {e}")))?;
    tracing::info!(user_id = %session.reviewer.id, "review login");
    let max_age = i64::try_from(lasts.as_secs()).unwrap_or(i64::MAX);
    let mut res = Redirect::to("/review").into_response();
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, visitor.session_cookie(&token, max_age));
    h.append(header::SET_COOKIE, visitor.clear_login_cookie());
    Ok(res)
}

/// Ends the session (its token opens nothing any more) and clears the cookie.
pub async fn logout(
    State(state): State<ReviewState>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, PageError> {
    let posted = parse_form::<CsrfForm>(&body).unwrap_or_default();
    if !viewer.csrf_ok(&posted.csrf) {
        return Err(PageError::Csrf);
    }
    state
        .accounts
        .close_session(&viewer.token)
        .await
        .map_err(|e| PageError::internal(format!("closing a review session: {e}")))?;
    let mut res = Redirect::to("/review/login").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, viewer.visitor.clear_session_cookie());
    Ok(res)
}
