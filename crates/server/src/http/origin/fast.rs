//! The playlist fast path: a live playlist GET is answered straight from the connection, without
//! the router, its middleware stack and the CORS layer, then given the headers and metrics those
//! would have added.
//!
//! Players and the probes that measure us poll playlists many times a second, mostly on fresh
//! connections, so this is the most frequent request the server sees; through the full stack
//! its cost was about twice nginx-rtmp's for the same bytes. Anything unusual (another method,
//! a percent-escape, an unknown shape) takes the router, and the answers are the same either way
//! (the end-to-end tests compare a GET with the router's HEAD).

use super::{master_answer, media_playlist_answer, EXPOSED};
use crate::http::error::AppError;
use crate::state::AppState;
use axum::http::{header, HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use metrics::SharedString;
use std::sync::OnceLock;
use std::time::Instant;

/// The router's pattern for the multivariant playlist, for the metrics' route label (the router's
/// own routes stay literals for the OpenAPI drift check; the end-to-end test sees both paths
/// counted under one label).
pub const MASTER_ROUTE: &str = "/live/{name}/master.m3u8";
/// The router's pattern for a media playlist.
pub const MEDIA_ROUTE: &str = "/live/{name}/{rendition}/index.m3u8";

/// A playlist request path, split.
#[derive(Debug, PartialEq, Eq)]
enum Playlist<'a> {
    /// `/live/NAME/master.m3u8`
    Master(&'a str),
    /// `/live/NAME/RENDITION/index.m3u8`
    Media(&'a str, &'a str),
}

/// Channel and rendition names are ASCII letters, digits, `_` and `-`; anything else (escapes included) goes to the
/// router, which decodes and refuses it properly.
fn plain(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn route(path: &str) -> Option<Playlist<'_>> {
    let rest = path.strip_prefix("/live/")?;
    let mut parts = rest.split('/');
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next());
    if parts.next().is_some() || !plain(a) {
        return None;
    }
    match (b, c) {
        ("master.m3u8", None) => Some(Playlist::Master(a)),
        (rendition, Some("index.m3u8")) if plain(rendition) => Some(Playlist::Media(a, rendition)),
        _ => None,
    }
}

/// Whether the fast path answers `req`.
pub fn handles<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET && route(req.uri().path()).is_some()
}

/// Answers a request [`handles`] accepted.
pub async fn answer<B>(state: AppState, req: Request<B>) -> Response {
    let start = Instant::now();
    let (route_label, result) = match route(req.uri().path()) {
        Some(Playlist::Master(name)) => (MASTER_ROUTE, master_answer(&state, name, req.headers())),
        Some(Playlist::Media(name, rendition)) => (
            MEDIA_ROUTE,
            media_playlist_answer(&state, name, rendition, req.uri().query(), req.headers()).await,
        ),
        None => ("unmatched", Err(AppError::not_found("route"))),
    };
    let mut response = result.into_response();
    add_cors(response.headers_mut());
    crate::metrics::record_http(
        SharedString::const_str(route_label),
        SharedString::const_str("GET"),
        response.status(),
        start,
    );
    response
}

/// What the playback routes' `CorsLayer` adds to a response that is not a preflight.
fn add_cors(headers: &mut axum::http::HeaderMap) {
    static EXPOSE: OnceLock<HeaderValue> = OnceLock::new();
    let expose = EXPOSE.get_or_init(|| {
        let names: Vec<&str> = EXPOSED.iter().map(|h| h.as_str()).collect();
        HeaderValue::from_str(&names.join(",")).unwrap_or(HeaderValue::from_static("etag"))
    });
    headers.append(
        header::VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_paths_are_recognised_and_everything_else_is_left_to_the_router() {
        assert_eq!(
            route("/live/main/master.m3u8"),
            Some(Playlist::Master("main"))
        );
        assert_eq!(
            route("/live/main/source/index.m3u8"),
            Some(Playlist::Media("main", "source"))
        );
        assert_eq!(
            route("/live/a_b-1/720p/index.m3u8"),
            Some(Playlist::Media("a_b-1", "720p"))
        );
        for other in [
            "/live/main/manifest.mpd",
            "/live/main/source/abc/0.m4s",
            "/live/main/source/index.m3u8/x",
            "/live/ma%69n/master.m3u8",
            "/live//master.m3u8",
            "/live/main//index.m3u8",
            "/live/main/master.m3u8/",
            "/live/utc",
            "/live/main",
            "/api/v1/channels",
            "/live/../master.m3u8",
        ] {
            assert_eq!(route(other), None, "{other}");
        }
    }

    #[test]
    fn only_gets_take_the_fast_path() {
        let get = Request::get("/live/main/master.m3u8").body(()).unwrap();
        assert!(handles(&get));
        let head = Request::head("/live/main/master.m3u8").body(()).unwrap();
        assert!(!handles(&head), "HEAD is the router's (it drops the body)");
        let options = Request::options("/live/main/master.m3u8").body(()).unwrap();
        assert!(!handles(&options), "preflights are the CORS layer's");
    }
}
