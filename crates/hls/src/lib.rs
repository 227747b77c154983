//! Typed HLS playlists and their writer.
//!
//! Follows RFC 8216 (HTTP Live Streaming) and its second edition draft (draft-pantos-hls-rfc8216bis),
//! which adds Low-Latency HLS. The types describe *what* a playlist says; the renderers decide *how*
//! it is spelled (tag order, number formats, when `EXT-X-MAP` must be repeated, the lowest
//! `EXT-X-VERSION` that the features used require).
//!
//! Rendering is infallible and never panics: values that cannot be written as they are (a `NaN`
//! duration, a line break inside a URI, a double quote inside a quoted string) are sanitised rather
//! than rejected, so a playlist served to players is always well formed.
//!
//! Low-Latency HLS (`EXT-X-SERVER-CONTROL`, `EXT-X-PART-INF`, `EXT-X-PART`, `EXT-X-PRELOAD-HINT`,
//! `EXT-X-RENDITION-REPORT`, `EXT-X-SKIP`) is not written yet. [`MediaPlaylist`] and
//! [`MediaSegment`] are `#[non_exhaustive]` so those fields can be added later without breaking
//! callers, and [`MediaPlaylist::render_into`] is laid out in the order RFC 8216bis §4.4 gives those
//! tags (playlist tags, then per segment: its parts before its `EXTINF`, then trailing parts,
//! preload hints and rendition reports).
#![forbid(unsafe_code)]

mod media;
mod multivariant;
mod text;

pub use media::{MediaPlaylist, MediaSegment, PlaylistType};
pub use multivariant::{MultivariantPlaylist, VariantStream};
pub use text::{format_program_date_time, write_program_date_time};
