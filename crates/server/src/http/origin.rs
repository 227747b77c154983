//! The HLS origin: playlists, CMAF segments and Low-Latency HLS parts from memory, with the
//! headers a CDN needs.
//!
//! Request paths are parsed into numbers and looked up in the in-memory ring; nothing from a
//! request ever becomes a file path. Blocking requests (`_HLS_msn`, preload-hinted parts) are in
//! [`blocking`].

mod blocking;
pub mod fast;

use super::chain_body::ChainBody;
use super::error::AppError;
use crate::live::{CachedPlaylist, Output};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferrocast_media::{ByteChain, TrackKind};
use std::sync::Arc;
use tower_http::cors::{Any, CorsLayer};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const MPD_TYPE: &str = "application/dash+xml";
const SEGMENT_TYPE: &str = "video/iso.segment";
const INIT_TYPE: &str = "video/mp4";
/// Segments never change under their URI (the broadcast id is in it).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Response headers browser players may read.
const EXPOSED: [header::HeaderName; 3] =
    [header::CONTENT_LENGTH, header::CONTENT_RANGE, header::ETAG];

/// The playback routes, with CORS for browser players.
pub fn routes() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::RANGE, header::IF_NONE_MATCH])
        .expose_headers(EXPOSED)
        .max_age(std::time::Duration::from_secs(86400));
    Router::new()
        .route("/live/{name}/master.m3u8", get(master))
        .route("/live/{name}/manifest.mpd", get(dash_manifest))
        .route("/live/utc", get(utc_time))
        .route("/live/{name}/{rendition}/index.m3u8", get(media_playlist))
        .route("/live/{name}/{rendition}/{sid}/{file}", get(segment))
        .layer(cors)
}

fn output_of(state: &AppState, name: &str) -> Result<Arc<Output>, AppError> {
    state
        .live
        .get(name)
        .and_then(|c| c.output())
        .ok_or_else(|| AppError::not_found("live channel"))
}

/// Playlists may be cached for half a segment: long enough to absorb a crowd, short enough that
/// players still see each new segment promptly.
pub fn playlist_cache_control(segment_duration: std::time::Duration) -> HeaderValue {
    public_max_age(segment_duration.as_secs() / 2)
}

/// Playlists answering a blocking reload may be cached for three target durations, as long as such
/// a request may wait: the URL names a position, and a playlist that reached it stays a correct
/// answer for it, so a CDN can collapse the requests of every viewer waiting for that position.
pub fn blocking_playlist_cache_control(segment_duration: std::time::Duration) -> HeaderValue {
    public_max_age(segment_duration.as_secs() * 3)
}

/// `public, max-age=N`, at least one second.
fn public_max_age(secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={}", secs.max(1)))
        .unwrap_or(HeaderValue::from_static("no-cache"))
}

fn playlist_response(headers: &HeaderMap, p: CachedPlaylist, cache: &HeaderValue) -> Response {
    let mut res = if if_none_match(headers, p.etag.to_str().unwrap_or_default()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(p.body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PLAYLIST_TYPE),
        );
        r
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, cache.clone());
    h.insert(header::ETAG, p.etag);
    res
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        })
}

async fn master(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    master_answer(&state, &name, &headers)
}

/// The multivariant playlist of channel `name` (also answered by [`fast`]).
fn master_answer(state: &AppState, name: &str, headers: &HeaderMap) -> Result<Response, AppError> {
    let out = output_of(state, name)?;
    let p = out
        .master_playlist()
        .ok_or_else(|| AppError::not_found("live channel"))?;
    Ok(playlist_response(headers, p, &state.playlist_cache_control))
}

/// A media playlist. On a Low-Latency rendition the delivery directives apply: `_HLS_msn` (and
/// `_HLS_part`) hold the request until the playlist reaches that position, `_HLS_skip` asks
/// for the delta update. A regular-latency playlist advertises neither, so they are ignored.
async fn media_playlist(
    State(state): State<AppState>,
    Path((name, rendition)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    media_playlist_answer(&state, &name, &rendition, query.as_deref(), &headers).await
}

/// The media playlist `rendition` of channel `name`, after the wait its delivery directives ask
/// for (also answered by [`fast`]).
async fn media_playlist_answer(
    state: &AppState,
    name: &str,
    rendition: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let out = output_of(state, name)?;
    let rendition_missing = || AppError::not_found("rendition");
    let Some(limits) = out.blocking_limits(rendition) else {
        let p = out
            .media_playlist(rendition)
            .ok_or_else(rendition_missing)?;
        return Ok(playlist_response(headers, p, &state.playlist_cache_control));
    };
    let directives = blocking::Directives::parse(query).map_err(|e| blocking::malformed(&e))?;
    let mut cache = &state.playlist_cache_control;
    if let Some(msn) = directives.msn {
        let position = out
            .watch_position(rendition)
            .ok_or_else(rendition_missing)?;
        let decision = blocking::wait_playlist(position, msn, directives.part, limits).await?;
        // An ended playlist was answered without waiting: it is the plain playlist.
        if decision == blocking::Decision::Ready {
            cache = &state.blocking_cache_control;
        }
    }
    let p = if directives.skip {
        out.delta_playlist(rendition)
    } else {
        out.media_playlist(rendition)
    };
    Ok(playlist_response(
        headers,
        p.ok_or_else(rendition_missing)?,
        cache,
    ))
}

/// What a segment-route file name names.
#[derive(Debug, PartialEq, Eq)]
enum SegmentFile {
    /// `M.m4s`
    Media(u64),
    /// `M.P.m4s`: part P of segment M.
    Part(u64, u64),
    /// `init-K.mp4`
    Init(u32),
    /// `v-M.m4s`, `a-M.m4s`: one track of segment M (DASH).
    View(TrackKind, u64),
    /// `init-v-M.mp4`, `init-a-M.mp4`: one track of the init segment M needs (DASH).
    InitView(TrackKind, u64),
}

fn parse_file(file: &str) -> Option<SegmentFile> {
    let track = |t: &str| match t {
        "v" => Some(TrackKind::Video),
        "a" => Some(TrackKind::Audio),
        _ => None,
    };
    if let Some((t, n)) = file.strip_suffix(".m4s").and_then(|f| f.split_once('-')) {
        return Some(SegmentFile::View(track(t)?, number(n)?));
    }
    if let Some((t, n)) = file
        .strip_prefix("init-")
        .and_then(|f| f.strip_suffix(".mp4"))
        .and_then(|f| f.split_once('-'))
    {
        return Some(SegmentFile::InitView(track(t)?, number(n)?));
    }
    if let Some(n) = file.strip_suffix(".m4s") {
        return match n.split_once('.') {
            Some((msn, part)) => Some(SegmentFile::Part(number(msn)?, number(part)?)),
            None => number(n).map(SegmentFile::Media),
        };
    }
    number(file.strip_prefix("init-")?.strip_suffix(".mp4")?).map(SegmentFile::Init)
}

/// A decimal number of at most 20 digits and nothing else (`parse` alone would take a `+`).
fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    let digits = !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| s.parse().ok()).flatten()
}

async fn segment(
    State(state): State<AppState>,
    Path((name, rendition, sid, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let out = output_of(&state, &name)?;
    if out.sid != sid {
        return Err(AppError::not_found("segment"));
    }
    let (bytes, content_type, tag) = match parse_file(&file) {
        Some(SegmentFile::Media(msn)) => (
            out.segment(&rendition, msn),
            SEGMENT_TYPE,
            format!("\"{sid}-{rendition}-{msn}\""),
        ),
        Some(SegmentFile::Part(msn, index)) => {
            let mut bytes = out.part(&rendition, msn, index);
            if bytes.is_none() {
                if let Some(limits) = out.blocking_limits(&rendition) {
                    bytes = blocking::wait_part(&out, &rendition, msn, index, limits).await?;
                }
            }
            (
                bytes,
                SEGMENT_TYPE,
                format!("\"{sid}-{rendition}-{msn}.{index}\""),
            )
        }
        Some(SegmentFile::Init(id)) => (
            out.init(&rendition, id).map(ByteChain::from),
            INIT_TYPE,
            format!("\"{sid}-{rendition}-i{id}\""),
        ),
        Some(SegmentFile::View(track, msn)) => (
            out.segment_view(&rendition, msn, track),
            SEGMENT_TYPE,
            format!("\"{sid}-{rendition}-{msn}{}\"", track_letter(track)),
        ),
        Some(SegmentFile::InitView(track, msn)) => (
            out.init_view(&rendition, msn, track).map(ByteChain::from),
            INIT_TYPE,
            format!("\"{sid}-{rendition}-i{msn}{}\"", track_letter(track)),
        ),
        None => (None, SEGMENT_TYPE, String::new()),
    };
    let bytes = bytes.ok_or_else(|| AppError::not_found("segment"))?;
    Ok(immutable_response(&headers, bytes, content_type, &tag))
}

fn track_letter(track: TrackKind) -> char {
    match track {
        TrackKind::Video => 'v',
        TrackKind::Audio => 'a',
    }
}

/// The channel as MPEG-DASH (the same segments as HLS, one track per representation). Cached as
/// briefly as the playlists; `UTCTiming` points at [`utc_time`] on the host the player asked.
async fn dash_manifest(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let out = output_of(&state, &name)?;
    // Scheme-relative: players fetch it with the page's scheme, whatever proxy terminates TLS.
    let utc = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .map(|host| format!("//{host}/live/utc"));
    let body = out
        .dash_manifest(crate::clock::unix_ms(), utc)
        .ok_or_else(|| AppError::not_found("live channel"))?;
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MPD_TYPE));
    h.insert(header::CACHE_CONTROL, state.playlist_cache_control.clone());
    Ok(res)
}

/// The server's clock as `xs:dateTime` (DASH `UTCTiming` scheme `http-iso`), never cached.
async fn utc_time() -> Response {
    let mut res = Response::new(Body::from(ferrocast_dash::format_time(
        crate::clock::unix_ms(),
    )));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn immutable_response(
    headers: &HeaderMap,
    bytes: ByteChain,
    content_type: &'static str,
    etag: &str,
) -> Response {
    let total = bytes.len() as u64;
    let mut res = if if_none_match(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match headers
            .get(header::RANGE)
            .map(|r| r.to_str().map(http_range_header::parse_range_header))
        {
            None => Response::new(Body::new(ChainBody::new(&bytes))),
            Some(Ok(Ok(ranges))) => match ranges.validate(total) {
                // One range is what players send; several are answered whole, which RFC 9110 allows.
                Ok(v) if v.len() == 1 => {
                    let r = &v[0];
                    let (start, end) = (*r.start(), *r.end());
                    let part = bytes.slice(start as usize, end as usize + 1);
                    let mut res = Response::new(Body::new(ChainBody::from_parts(part)));
                    *res.status_mut() = StatusCode::PARTIAL_CONTENT;
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")) {
                        res.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                    res
                }
                Ok(_) => Response::new(Body::new(ChainBody::new(&bytes))),
                Err(_) => range_not_satisfiable(total),
            },
            Some(_) => range_not_satisfiable(total),
        }
    };
    let status = res.status();
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_TYPE)
        && status != StatusCode::NOT_MODIFIED
        && status != StatusCode::RANGE_NOT_SATISFIABLE
    {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    res
}

fn range_not_satisfiable(total: u64) -> Response {
    let mut res = AppError::bad_request(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "bad_range",
        "requested range not satisfiable",
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
        res.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse_to_numbers_only() {
        assert_eq!(parse_file("12.m4s"), Some(SegmentFile::Media(12)));
        assert_eq!(parse_file("init-3.mp4"), Some(SegmentFile::Init(3)));
        assert_eq!(parse_file("12.3.m4s"), Some(SegmentFile::Part(12, 3)));
        assert_eq!(
            parse_file("v-12.m4s"),
            Some(SegmentFile::View(TrackKind::Video, 12))
        );
        assert_eq!(
            parse_file("init-a-7.mp4"),
            Some(SegmentFile::InitView(TrackKind::Audio, 7))
        );
        for bad in [
            "1..m4s",
            ".1.m4s",
            "1.2.3.m4s",
            "1.-2.m4s",
            "1.99999999999999999999999.m4s",
            "../x.m4s",
            ".m4s",
            "-1.m4s",
            "1.m4s.m4s",
            "init-.mp4",
            "init-1.m4s",
            "99999999999999999999999.m4s",
            "1 .m4s",
            "x-1.m4s",
            "v-.m4s",
            "v-1.2.m4s",
            "init-x-1.mp4",
            "init-v-.mp4",
            "v--1.m4s",
        ] {
            assert_eq!(parse_file(bad), None, "{bad}");
        }
    }

    #[test]
    fn etag_matching_accepts_lists_weak_and_star() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(if_none_match(&h, "\"b\""));
        assert!(!if_none_match(&h, "\"c\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&h, "\"c\""));
    }
}
