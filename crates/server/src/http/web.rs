//! The web app: the embedded build of `web/` (see `build.rs` and docs/WEB.md).
//!
//! Hashed files under `/assets/` are immutable for a year; every page path answers `index.html`,
//! never cached, so a new binary's pages take effect at the next load. Files are sent in the
//! best pre-compressed form the client accepts: nothing is compressed per request.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// One embedded file.
#[derive(Debug)]
pub struct WebAsset {
    /// URL path, from `/`.
    pub path: &'static str,
    /// The file as built.
    pub body: &'static [u8],
    /// Its brotli form, when the build made one.
    pub br: Option<&'static [u8]>,
    /// Its gzip form, when the build made one.
    pub gzip: Option<&'static [u8]>,
}

/// Every file of the web build, sorted by path.
pub static ASSETS: &[WebAsset] = include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Files outside `/assets/` keep their names across builds, so they are revalidated often.
const SHORT: &str = "public, max-age=300";

/// What the pages may load: only this origin (hls.js runs its transmuxer in a blob worker and
/// plays through MediaSource blob URLs; chat is a WebSocket to the same host).
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
    worker-src 'self' blob:; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// The page routes and the assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/api/docs", get(page))
        .route("/studio", get(page))
        .route("/studio/{*rest}", get(page))
        .route("/videos/{id}", get(page))
        .route("/assets/{*path}", get(asset))
        .route("/{name}", get(top_level))
}

/// Finds an embedded file by URL path.
pub fn find(path: &str) -> Option<&'static WebAsset> {
    ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .map(|i| &ASSETS[i])
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether `Accept-Encoding` admits `coding` (a `q=0` refuses it).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

fn serve(asset: &'static WebAsset, headers: &HeaderMap, cache: &'static str) -> Response {
    let (body, coding) = match (asset.br, asset.gzip) {
        (Some(br), _) if accepts(headers, "br") => (br, Some("br")),
        (_, Some(gz)) if accepts(headers, "gzip") => (gz, Some("gzip")),
        _ => (asset.body, None),
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(asset.path)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.br.is_some() || asset.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let Some(coding) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    res
}

/// `index.html` for any page path: the app renders the page (and its own 404) from the API.
async fn page(headers: HeaderMap) -> Response {
    let Some(index) = find("/index.html") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut res = serve(index, &headers, "no-cache");
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match find(&format!("/assets/{path}")) {
        Some(a) => serve(a, &headers, IMMUTABLE),
        None => super::error::AppError::not_found("asset").into_response(),
    }
}

/// A file at the top of the build (`/favicon.svg`), else a page (`/CHANNEL`, `/login`).
async fn top_level(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match find(&format!("/{name}")) {
        Some(a) if name != "index.html" => serve(a, &headers, SHORT),
        _ => page(headers).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        h
    }

    #[test]
    fn accept_encoding_is_read_with_q_values() {
        assert!(accepts(&headers("gzip, deflate, br"), "br"));
        assert!(accepts(&headers("gzip;q=0.5"), "gzip"));
        assert!(!accepts(&headers("gzip;q=0, br"), "gzip"));
        assert!(!accepts(&headers("identity"), "gzip"));
        assert!(!accepts(&HeaderMap::new(), "br"));
    }

    #[test]
    fn the_build_is_embedded_sorted_with_an_index() {
        assert!(find("/index.html").is_some());
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
    }
}
