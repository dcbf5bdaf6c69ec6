//! Rendering: the tera templates (embedded in the binary, so the server runs from any
//! directory), the context every page shares, and the headers every page carries.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tera::{Context, Tera};

use super::i18n::{Lang, table, tr};
use super::session::{Viewer, Visitor};

/// `(name, text)` of every template.
pub const TEMPLATES: [(&str, &str); 6] = [
    (
        "base.html",
        include_str!("../../../templates/review/base.html"),
    ),
    (
        "login.html",
        include_str!("../../../templates/review/login.html"),
    ),
    (
        "message.html",
        include_str!("../../../templates/review/message.html"),
    ),
    (
        "batches.html",
        include_str!("../../../templates/review/batches.html"),
    ),
    (
        "item.html",
        include_str!("../../../templates/review/item.html"),
    ),
    (
        "stats.html",
        include_str!("../../../templates/review/stats.html"),
    ),
];

/// The templates, parsed once.
pub struct Pages {
    tera: Tera,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

/// Headers on every page: conversations are clinical data, so nothing is cached or framed, and
/// no script, style or form target outside this origin is allowed (the pages use no script).
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("cache-control", "no-store"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

impl Pages {
    /// Parses the embedded templates (an error here is a bug in a template, caught by tests).
    pub fn load() -> Result<Pages, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES)?;
        // Templates named *.html are escaped by default; say so rather than rely on it.
        tera.autoescape_on(vec![".html"]);
        Ok(Pages { tera })
    }

    /// The context of a page seen before logging in.
    pub fn context(&self, visitor: Visitor) -> Context {
        let mut ctx = Context::new();
        ctx.insert("lang", visitor.lang.code());
        ctx.insert("other_lang", visitor.lang.other().code());
        ctx.insert("t", &table(visitor.lang));
        ctx
    }

    /// The context of a page seen logged in: adds who it is and the logout form's CSRF token.
    pub fn viewer_context(&self, viewer: &Viewer) -> Context {
        let mut ctx = self.context(viewer.visitor);
        ctx.insert("viewer", &viewer.session.reviewer.email);
        ctx.insert("csrf", &viewer.session.csrf_token);
        ctx.insert("is_admin", &viewer.is_admin());
        ctx
    }

    /// Renders `template` with `status`; remembers a language chosen with `?lang=`.
    pub fn render(
        &self,
        visitor: Visitor,
        status: StatusCode,
        template: &str,
        ctx: &Context,
    ) -> Response {
        match self.tera.render(template, ctx) {
            Ok(html) => {
                let mut res = (status, axum::response::Html(html)).into_response();
                let headers = res.headers_mut();
                for (name, value) in SECURITY_HEADERS {
                    headers.insert(name, HeaderValue::from_static(value));
                }
                if visitor.lang_chosen {
                    headers.append(header::SET_COOKIE, visitor.lang_cookie());
                }
                res
            }
            Err(e) => {
                tracing::error!(error = ?e, template, "rendering a review page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    tr(visitor.lang, "internal_error").to_string(),
                )
                    .into_response()
            }
        }
    }

    /// A page with a heading and one sentence (errors, refusals, confirmations).
    pub fn message(
        &self,
        visitor: Visitor,
        status: StatusCode,
        heading_key: &str,
        text_key: &str,
    ) -> Response {
        let ctx = self.message_context(self.context(visitor), visitor.lang, heading_key, text_key);
        self.render(visitor, status, "message.html", &ctx)
    }

    /// As [`Pages::message`], for a logged-in viewer (keeps the menu).
    pub fn viewer_message(
        &self,
        viewer: &Viewer,
        status: StatusCode,
        heading_key: &str,
        text_key: &str,
        next_batch: Option<&str>,
    ) -> Response {
        let mut ctx = self.message_context(
            self.viewer_context(viewer),
            viewer.visitor.lang,
            heading_key,
            text_key,
        );
        if let Some(batch) = next_batch {
            ctx.insert("next_batch", batch);
        }
        self.render(viewer.visitor, status, "message.html", &ctx)
    }

    fn message_context(
        &self,
        mut ctx: Context,
        lang: Lang,
        heading_key: &str,
        text_key: &str,
    ) -> Context {
        ctx.insert("heading", tr(lang, heading_key));
        ctx.insert("text", tr(lang, text_key));
        ctx.insert("ok", &false);
        ctx
    }

    /// 500 with a request to try again; the cause is logged by the caller.
    pub fn internal_error(&self, visitor: Visitor) -> Response {
        self.message(
            visitor,
            StatusCode::INTERNAL_SERVER_ERROR,
            "error_title",
            "internal_error",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_templates_parse() {
        Pages::load().unwrap();
    }

    #[test]
    fn pages_escape_what_they_show() {
        let pages = Pages::load().unwrap();
        let visitor = Visitor {
            lang: Lang::En,
            lang_chosen: false,
            secure: false,
            ip: None,
        };
        let mut ctx = pages.context(visitor);
        ctx.insert("login_csrf", "x");
        ctx.insert("email", "<script>alert(1)</script>");
        ctx.insert("error", "");
        let html = pages.tera.render("login.html", &ctx).unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("Log in"));
    }
}
