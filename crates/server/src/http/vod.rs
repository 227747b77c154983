//! Playback of videos on demand: `/vod/ID/...` served from object storage, with byte ranges.
//!
//! A private video needs `?token=` (a playback token, see [`crate::vod::tokens`]) on every
//! request. Players resolve a playlist's relative URIs against the playlist's URL *without* its
//! query string, so the playlists and the MPD of a private video are rewritten on the way out:
//! every URI they list gets the same `?token=`, and so does everything those list in turn.

use super::error::AppError;
use crate::state::AppState;
use crate::vod::valid_video_id;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferrocast_db::VideoState;
use serde::Deserialize;
use tower_http::cors::{Any, CorsLayer};

/// The VOD playback routes, with CORS for browser players.
pub fn routes() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::RANGE])
        .expose_headers([header::CONTENT_LENGTH, header::CONTENT_RANGE])
        .max_age(std::time::Duration::from_secs(86400));
    Router::new()
        .route("/vod/{id}/{*file}", get(serve))
        .layer(cors)
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or("") {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "m4s" => "video/iso.segment",
        "mp4" => "video/mp4",
        "jpg" => "image/jpeg",
        "vtt" => "text/vtt; charset=utf-8",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// A relative path of the published layout: no `..`, no empty or hidden components.
fn valid_file(file: &str) -> bool {
    !file.is_empty()
        && file.len() < 200
        && file.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

async fn serve(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let vod = state
        .vod
        .as_deref()
        .ok_or_else(|| AppError::not_found("video"))?;
    if !valid_video_id(&id) || !valid_file(&file) {
        return Err(AppError::not_found("file"));
    }
    let video = state
        .db
        .get_video(&id)
        .await?
        .filter(|v| v.state == VideoState::Ready)
        .ok_or_else(|| AppError::not_found("video"))?;
    if video.private && !vod.playback_allowed(&id, q.token.as_deref()) {
        return Err(AppError::bad_request(
            StatusCode::FORBIDDEN,
            "token_required",
            "this video is private: a valid, unexpired playback token is required",
        ));
    }
    let key = format!("{}{file}", crate::vod::vod_prefix(&id));
    let cache = if video.private {
        "private, max-age=300"
    } else if file.ends_with(".m4s") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let is_manifest = file.ends_with(".m3u8") || file.ends_with(".mpd") || file.ends_with(".vtt");
    if is_manifest && video.private {
        let bytes = vod
            .storage()
            .get_bytes(&key)
            .await
            .map_err(AppError::internal)?
            .ok_or_else(|| AppError::not_found("file"))?;
        let text = String::from_utf8_lossy(&bytes);
        let token = q.token.unwrap_or_default();
        let body = if file.ends_with(".m3u8") {
            sign_playlist(&text, &token)
        } else if file.ends_with(".vtt") {
            sign_vtt(&text, &token)
        } else {
            sign_mpd(&text, &token)
        };
        return Ok((
            [
                (header::CONTENT_TYPE, content_type(&file)),
                (header::CACHE_CONTROL, cache),
            ],
            body,
        )
            .into_response());
    }
    let range = match headers.get(header::RANGE).map(|r| r.to_str()) {
        None => None,
        Some(Ok(r)) => Some(r.to_owned()),
        Some(Err(_)) => return Err(bad_range()),
    };
    let Some(info) = vod.storage().head(&key).await.map_err(AppError::internal)? else {
        return Err(AppError::not_found("file"));
    };
    let total = info.size;
    let wanted = match &range {
        None => None,
        Some(r) => {
            let parsed = http_range_header::parse_range_header(r).map_err(|_| bad_range())?;
            match parsed.validate(total) {
                Ok(v) if v.len() == 1 => Some(*v[0].start()..*v[0].end() + 1),
                // Several ranges are answered whole, which RFC 9110 allows.
                Ok(_) => None,
                Err(_) => return Err(bad_range()),
            }
        }
    };
    let body = vod
        .storage()
        .get_range(&key, wanted.clone())
        .await
        .map_err(AppError::internal)?
        .ok_or_else(|| AppError::not_found("file"))?;
    let mut res = Response::new(Body::from_stream(body.stream));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(r) = wanted {
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{total}", r.start, r.end - 1)) {
            res.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&(r.end - r.start).to_string()) {
            res.headers_mut().insert(header::CONTENT_LENGTH, v);
        }
    } else if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        res.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    Ok(res)
}

fn bad_range() -> AppError {
    AppError::bad_request(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "bad_range",
        "requested range not satisfiable",
    )
}

fn with_token(uri: &str, token: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}token={token}")
}

/// Appends the token to every URI of an HLS playlist: URI lines and `URI="..."` attributes.
pub fn sign_playlist(text: &str, token: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if line.is_empty() {
            out.push('\n');
            continue;
        }
        if !line.starts_with('#') {
            out.push_str(&with_token(line, token));
        } else if let Some(start) = line.find("URI=\"") {
            let from = start + 5;
            match line[from..].find('"') {
                Some(len) => {
                    out.push_str(&line[..from]);
                    out.push_str(&with_token(&line[from..from + len], token));
                    out.push_str(&line[from + len..]);
                }
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Appends the token to the image URI of every WebVTT cue (`sprite.jpg#xywh=...`), before
/// its fragment.
pub fn sign_vtt(text: &str, token: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        match line.split_once("#xywh=") {
            Some((uri, rest)) if !line.contains("-->") => {
                out.push_str(&with_token(uri, token));
                out.push_str("#xywh=");
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Appends the token to the `media` and `initialization` templates of a DASH MPD.
pub fn sign_mpd(text: &str, token: &str) -> String {
    let mut out = text.to_owned();
    for attr in ["media=\"", "initialization=\""] {
        let mut result = String::with_capacity(out.len() + 64);
        let mut rest = out.as_str();
        while let Some(i) = rest.find(attr) {
            let from = i + attr.len();
            result.push_str(&rest[..from]);
            match rest[from..].find('"') {
                Some(len) => {
                    let uri = &rest[from..from + len];
                    // `&` must be escaped inside XML attributes.
                    result.push_str(&with_token(uri, token).replace("&token", "&amp;token"));
                    rest = &rest[from + len..];
                }
                None => {
                    rest = &rest[from..];
                    break;
                }
            }
        }
        result.push_str(rest);
        out = result;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_carry_the_token_on_every_uri() {
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",URI=\"a/index.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/720p/index.m3u8\n";
        let signed = sign_playlist(master, "T");
        assert!(signed.contains("URI=\"a/index.m3u8?token=T\""), "{signed}");
        assert!(signed.contains("\nv/720p/index.m3u8?token=T\n"), "{signed}");
        let media = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.000,\n0.m4s\n#EXT-X-ENDLIST\n";
        let signed = sign_playlist(media, "T");
        assert!(signed.contains("URI=\"init.mp4?token=T\""));
        assert!(signed.contains("\n0.m4s?token=T\n"));
        assert!(signed.contains("#EXT-X-ENDLIST"));
    }

    #[test]
    fn mpd_templates_carry_the_token() {
        let mpd = r#"<SegmentTemplate media="v/$RepresentationID$/$Number$.m4s" initialization="v/$RepresentationID$/init.mp4"/>"#;
        let signed = sign_mpd(mpd, "T");
        assert!(signed.contains(r#"media="v/$RepresentationID$/$Number$.m4s?token=T""#));
        assert!(signed.contains(r#"initialization="v/$RepresentationID$/init.mp4?token=T""#));
    }

    #[test]
    fn thumbnail_cues_carry_the_token() {
        let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90\n";
        let signed = sign_vtt(vtt, "T");
        assert!(
            signed.contains("\nsprite.jpg?token=T#xywh=0,0,160,90\n"),
            "{signed}"
        );
        assert!(signed.contains("00:00:00.000 --> 00:00:02.000"));
    }

    #[test]
    fn only_plain_relative_files_are_served() {
        assert!(valid_file("v/720p/12.m4s"));
        assert!(valid_file("master.m3u8"));
        assert!(!valid_file("../sources/x"));
        assert!(!valid_file("v//x"));
        assert!(!valid_file(".hidden"));
        assert!(!valid_file(""));
    }
}
