//! The console's files (`/`, `/console/*`) and the browser client
//! `/confab.js`, compiled in from `static/`: `cargo run` needs no files
//! beside the binary and no Node at run time.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The files under `/console/`, by name.
const CONSOLE: &[(&str, &str, &str)] = &[
    ("main.js", JS, include_str!("../../static/console/main.js")),
    ("admin.js", JS, include_str!("../../static/console/admin.js")),
    ("chat.js", JS, include_str!("../../static/console/chat.js")),
    ("ui.js", JS, include_str!("../../static/console/ui.js")),
    ("console.css", CSS, include_str!("../../static/console/console.css")),
    ("icon.svg", SVG, include_str!("../../static/console/icon.svg")),
];

/// The console's page.
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    let mut res = file(HTML, include_str!("../../static/index.html"));
    let headers = res.headers_mut();
    // Never served without a policy: a public URL that makes no header value (it would
    // not, as config checks it) falls back to Confab's own origin only.
    let policy = HeaderValue::from_str(&content_security_policy(&state.config.public_url))
        .unwrap_or_else(|_| HeaderValue::from_static(SELF_ONLY));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Temporary media URLs are bearer links: they must not leak through a Referer.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// One of the console's scripts or its style sheet.
pub async fn console_file(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let (_, kind, body) = CONSOLE.iter().find(|(n, _, _)| *n == name).ok_or(ApiError::NotFound)?;
    Ok(file(kind, body))
}

/// The browser client library (an ES module).
pub async fn client_library() -> HttpResponse {
    file(JS, include_str!("../../static/confab.js"))
}

fn file(kind: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(kind)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        // Revalidated on each load: a new release's console takes effect at once.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(body)
}

const SELF_ONLY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Scripts and styles only from Confab's own files (no inline code, so an
/// injected message body cannot run); media from Confab itself or from its
/// public URL, where temporary media URLs point.
pub fn content_security_policy(public_url: &str) -> String {
    let public = origin(public_url);
    let socket = public.replacen("http", "ws", 1);
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; \
         img-src 'self' {public}; media-src 'self' {public}; \
         connect-src 'self' {public} {socket}; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_public_origin() {
        let csp = content_security_policy("https://chat.example.com/base");
        assert!(csp.contains("img-src 'self' https://chat.example.com;"), "{csp}");
        assert!(csp.contains("connect-src 'self' https://chat.example.com wss://chat.example.com;"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "no inline scripts: {csp}");
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
