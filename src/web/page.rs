//! Rendering: the templates (embedded in the binary, HTML-escaped by default: every
//! value from a zone file, a query or a request is shown as text, never as markup),
//! the security headers every response carries, and error pages that say what the
//! visitor can do without showing anything of ward's insides.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value};
use serde::Serialize;

/// The pages, compiled once.
pub(crate) struct Pages {
    env: Environment<'static>,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("index.html", include_str!("templates/index.html")),
    ("lookup.html", include_str!("templates/lookup.html")),
    ("explain.html", include_str!("templates/explain.html")),
    (
        "request_new.html",
        include_str!("templates/request_new.html"),
    ),
    ("request.html", include_str!("templates/request.html")),
    ("error.html", include_str!("templates/error.html")),
    ("search.html", include_str!("templates/search.html")),
    (
        "self_removed.html",
        include_str!("templates/self_removed.html"),
    ),
];

/// The style sheet: a file of its own, so the CSP can forbid inline styles.
pub(crate) const STYLE: &str = include_str!("templates/ward.css");

/// No scripts at all, styles and images from this site only, forms post only here,
/// and no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every response, public and admin.
pub(crate) fn security_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("referrer-policy"),
            // No address of ours leaks to other sites (dispute links); forms still
            // carry their Origin.
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PageError {
    #[error("template: {0}")]
    Template(#[from] minijinja::Error),
}

impl Pages {
    pub(crate) fn new() -> Result<Self, PageError> {
        let mut env = Environment::new();
        // `.html` templates escape every value by default; `|safe` is never used.
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Pages { env })
    }

    /// A page, or the generic error page if the template fails (logged).
    pub(crate) fn render(&self, name: &str, status: StatusCode, context: Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(context)) {
            Ok(html) => html_response(status, html),
            Err(error) => {
                tracing::error!(%error, template = name, "cannot render a page");
                self.error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
            }
        }
    }

    /// The error page with a message for the visitor.
    pub(crate) fn error(&self, status: StatusCode, message: &str) -> Response {
        let context = minijinja::context! { status => status.as_u16(), message => message };
        match self
            .env
            .get_template("error.html")
            .and_then(|t| t.render(context))
        {
            Ok(html) => html_response(status, html),
            Err(_) => (status, message.to_string()).into_response(),
        }
    }
}

/// What visitors see when something broke on ward's side.
pub(crate) const INTERNAL: &str = "Something went wrong on our side. Please try again in a minute.";

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Adds a `Set-Cookie` (the CSRF token) when there is one to set.
pub(crate) fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// A JSON body with a status.
pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec_pretty(body) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            let mut response = (status, bytes).into_response();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "cannot encode a JSON answer");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
        }
    }
}

/// `{"error": message}`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    let body = format!("{}\n", serde_json::json!({ "error": message }));
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A 429 with `Retry-After`.
pub(crate) fn too_many(mut response: Response, wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs().max(1).to_string();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}
