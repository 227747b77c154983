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
//! Low-Latency HLS is written from optional fields that default to off, so a playlist that uses
//! none of it renders exactly as a plain RFC 8216 one: `EXT-X-SERVER-CONTROL` and `EXT-X-PART-INF`
//! among the playlist tags, `EXT-X-PART` before each segment's `EXTINF`, the parts of the segment in
//! progress after the last complete segment, then `EXT-X-PRELOAD-HINT` and
//! `EXT-X-RENDITION-REPORT`; `EXT-X-SKIP` turns a playlist into a delta update.
//!
//! [`validate`] parses rendered media playlists back and checks the spec's numeric rules, for
//! tests of whatever produces them.
#![forbid(unsafe_code)]

mod lowlatency;
mod media;
mod multivariant;
mod text;
pub mod validate;

pub use lowlatency::{
    PartialSegment, PreloadHint, PreloadHintKind, RenditionReport, ServerControl, Skip,
};
pub use media::{MediaPlaylist, MediaSegment, PlaylistType};
pub use multivariant::{MediaType, MultivariantPlaylist, Rendition, VariantStream};
pub use text::{format_program_date_time, write_program_date_time};
