//! Who is asking: the session cookie read into a [`Viewer`] (or a redirect to the login page),
//! the page language, cookie flags, and the CSRF check every POST goes through.
//!
//! Cookies are HttpOnly and SameSite=Strict. Behind TLS (per `[review] secure_cookie`; `auto`
//! trusts the proxy's `X-Forwarded-Proto: https`) they are also Secure and the session cookie
//! is `__Host-pb_review`. That prefix obliges browsers to refuse the cookie unless it is Secure,
//! has no Domain and has `Path=/`, so the Secure cookie is scoped to `/` (the API ignores it);
//! over plain HTTP it is `pb_review` with `Path=/review`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use super::ReviewState;
use super::error::{PageError, ViewerSlot};
use super::i18n::Lang;
use crate::review::accounts::{Session, constant_time_eq};
use crate::review::config::SecureCookie;

const SESSION_COOKIE: &str = "pb_review";
const SECURE_SESSION_COOKIE: &str = "__Host-pb_review";
const LOGIN_COOKIE: &str = "pb_review_login";
const SECURE_LOGIN_COOKIE: &str = "__Host-pb_review_login";
const LANG_COOKIE: &str = "pb_review_lang";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// How a request arrived, which decides the cookies' names and flags, and its language.
#[derive(Debug, Clone, Copy)]
pub struct Visitor {
    pub lang: Lang,
    /// `?lang=` chose the language on this request: the answer remembers it in a cookie.
    pub lang_chosen: bool,
    pub secure: bool,
    pub ip: Option<IpAddr>,
}

impl Visitor {
    fn session_cookie_name(self) -> &'static str {
        if self.secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    fn login_cookie_name(self) -> &'static str {
        if self.secure {
            SECURE_LOGIN_COOKIE
        } else {
            LOGIN_COOKIE
        }
    }

    /// A `Set-Cookie` value with this request's flags; `max_age_secs = 0` deletes the cookie.
    fn set_cookie(self, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
        // `__Host-` cookies must have Path=/ (see the module comment).
        let path = if name.starts_with("__Host-") {
            "/"
        } else {
            "/review"
        };
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
        );
        // Names and values are ours (hex tokens, language codes): always valid header text.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The cookie that carries a new session.
    pub fn session_cookie(self, token: &str, max_age_secs: i64) -> HeaderValue {
        self.set_cookie(self.session_cookie_name(), token, max_age_secs)
    }

    /// Deletes the session cookie (logout).
    pub fn clear_session_cookie(self) -> HeaderValue {
        self.set_cookie(self.session_cookie_name(), "", 0)
    }

    /// The pre-session CSRF token of the login form (double submit: cookie and hidden field
    /// must match, and another site can neither read nor set this cookie).
    pub fn login_cookie(self, token: &str) -> HeaderValue {
        self.set_cookie(self.login_cookie_name(), token, 3_600)
    }

    pub fn clear_login_cookie(self) -> HeaderValue {
        self.set_cookie(self.login_cookie_name(), "", 0)
    }

    /// The login form's token from the cookie.
    pub fn login_token(self, headers: &HeaderMap) -> Option<&str> {
        cookie(headers, self.login_cookie_name())
    }

    /// Remembers the chosen language for a year.
    pub fn lang_cookie(self) -> HeaderValue {
        self.set_cookie(LANG_COOKIE, self.lang.code(), 365 * 86_400)
    }

    /// The session token from the cookie, if any.
    pub fn session_token(self, headers: &HeaderMap) -> Option<&str> {
        cookie(headers, self.session_cookie_name()).filter(|t| !t.is_empty())
    }
}

/// The client address for the login throttle: the peer, or the client a trusted proxy names in
/// `X-Forwarded-For` (see `core::net`).
fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    Some(crate::core::net::client_ip(peer, forwarded, trusted))
}

fn query_lang(parts: &Parts) -> Option<Lang> {
    parts
        .uri
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v))
}

impl FromRequestParts<ReviewState> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ReviewState,
    ) -> Result<Self, Self::Rejection> {
        let secure = match state.settings.secure_cookie {
            SecureCookie::Always => true,
            SecureCookie::Never => false,
            SecureCookie::Auto => parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")),
        };
        let chosen = query_lang(parts);
        let lang = chosen
            .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse))
            .unwrap_or(Lang::Pt);
        Ok(Visitor {
            lang,
            lang_chosen: chosen.is_some(),
            secure,
            ip: client_ip(parts, &state.trusted_proxies),
        })
    }
}

/// A logged-in nurse or admin, with the raw token of their cookie (for logout).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub visitor: Visitor,
    pub session: Session,
    pub token: String,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.session.reviewer.role == crate::review::accounts::ReviewerRole::Admin
    }

    /// Whether a posted token is this session's CSRF token.
    pub fn csrf_ok(&self, posted: &str) -> bool {
        !posted.is_empty() && constant_time_eq(posted, &self.session.csrf_token)
    }
}

impl FromRequestParts<ReviewState> for Viewer {
    type Rejection = PageError;

    /// Without a live session: `401` when the caller presented an API key (keys never open
    /// these pages), otherwise a redirect to the login page.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &ReviewState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(visitor) = Visitor::from_request_parts(parts, state).await;
        let Some(token) = visitor.session_token(&parts.headers) else {
            return Err(no_session(parts));
        };
        let Some(session) = state
            .accounts
            .session(token)
            .await
            .map_err(|e| PageError::internal(format!("reading a review session: {e}")))?
        else {
            return Err(no_session(parts));
        };
        let viewer = Viewer {
            visitor,
            session,
            token: token.to_string(),
        };
        ViewerSlot::fill(parts, &viewer);
        Ok(viewer)
    }
}

fn no_session(parts: &Parts) -> PageError {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        PageError::ApiKeyRefused
    } else {
        PageError::LoginRequired
    }
}

/// A logged-in admin: pages that only admins may use take this instead of [`Viewer`], and
/// anyone else gets 403.
#[derive(Debug, Clone)]
pub struct AdminSession(pub Viewer);

impl FromRequestParts<ReviewState> for AdminSession {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ReviewState,
    ) -> Result<Self, Self::Rejection> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        if viewer.is_admin() {
            Ok(AdminSession(viewer))
        } else {
            Err(PageError::AdminOnly)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_several_headers_and_pairs() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; pb_review=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "pb_review"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "pb"), None);
    }

    #[test]
    fn secure_cookies_use_the_host_prefix_and_its_required_path() {
        let v = Visitor {
            lang: Lang::Pt,
            lang_chosen: false,
            secure: true,
            ip: None,
        };
        let c = v.session_cookie("tok", 60);
        assert_eq!(
            c.to_str().unwrap(),
            "__Host-pb_review=tok; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let plain = Visitor { secure: false, ..v }.session_cookie("tok", 60);
        assert_eq!(
            plain.to_str().unwrap(),
            "pb_review=tok; Path=/review; Max-Age=60; HttpOnly; SameSite=Strict"
        );
    }
}
