//! Typed HLS playlists (RFC 8216) and their writer. INTERFACE STUB: the owner fills it in.
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::todo, unused)]

/// One variant stream of a multivariant playlist (RFC 8216 §4.3.4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct VariantStream {
    pub uri: String,
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    /// A human name, written as a comment-free attribute only where the spec allows (NAME is not
    /// a STREAM-INF attribute; kept for our own JSON/UI use).
    pub name: Option<String>,
}

/// A multivariant ("master") playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultivariantPlaylist {
    pub independent_segments: bool,
    pub variants: Vec<VariantStream>,
}

impl MultivariantPlaylist {
    pub fn render(&self) -> String {
        todo!()
    }
}
