//! The console's responses: whole pages with the headers that keep them in their own frame
//! and origin, the live views' partial answers, assets, plain text and redirects.

use hyper::body::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Response, StatusCode};

use super::html;
use crate::status::{Body, full};

pub(super) fn html_page(
    status: StatusCode,
    title: &str,
    active: &str,
    main: &str,
    live: bool,
    logout: Option<&str>,
) -> Response<Body> {
    let mut response = Response::new(full(html::page(title, active, main, live, logout)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

/// A live view fetched again by the page's script: only its `main`.
pub(super) trait PartialResponse {
    fn pipe_partial(self, partial: bool, main: &str) -> Self;
}

impl PartialResponse for Response<Body> {
    fn pipe_partial(mut self, partial: bool, main: &str) -> Self {
        if partial {
            *self.body_mut() = full(main.to_owned());
        }
        self
    }
}

pub(super) fn asset(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(body.as_bytes())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

pub(super) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(full(body.to_owned()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // What it says may echo a form's input: never sniffed as HTML, never kept.
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) fn see_other(location: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// The page for an id the console does not know, saying what it does keep.
pub(super) fn not_found(what: &str, logout: Option<&str>) -> Response<Body> {
    html_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "",
        &format!("<h1>Not found</h1><p>{}</p>", html::escape(what)),
        false,
        logout,
    )
}
