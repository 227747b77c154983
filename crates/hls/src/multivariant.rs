//! Multivariant playlists (RFC 8216 §4.3.4).

use crate::text::{write_quoted_inner, write_uri_line};
use std::fmt::Write as _;

/// One variant stream of a multivariant playlist (RFC 8216 §4.3.4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct VariantStream {
    /// URI of the variant's media playlist.
    pub uri: String,
    /// `BANDWIDTH`: peak segment bit rate in bits per second.
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH`: average segment bit rate in bits per second.
    pub average_bandwidth: Option<u64>,
    /// `CODECS`: RFC 6381 codec strings, written quoted and comma-joined.
    pub codecs: Vec<String>,
    /// `RESOLUTION` as (width, height).
    pub resolution: Option<(u32, u32)>,
    /// `FRAME-RATE`, written with three decimals.
    pub frame_rate: Option<f64>,
    /// A human name, written as a comment-free attribute only where the spec allows (NAME is not
    /// a STREAM-INF attribute; kept for our own JSON/UI use).
    pub name: Option<String>,
}

/// A multivariant ("master") playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultivariantPlaylist {
    /// Writes `EXT-X-INDEPENDENT-SEGMENTS` (RFC 8216 §4.3.5.1): applies to every media playlist.
    pub independent_segments: bool,
    /// The variant streams, in the order written.
    pub variants: Vec<VariantStream>,
}

impl MultivariantPlaylist {
    /// Renders the playlist. No `EXT-X-VERSION` is written: nothing here needs more than version 1.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(
            64 + self
                .variants
                .iter()
                .map(|v| 160 + v.uri.len())
                .sum::<usize>(),
        );
        self.render_into(&mut out);
        out
    }

    /// Appends the playlist text to `out`.
    pub fn render_into(&self, out: &mut String) {
        out.push_str("#EXTM3U\n");
        if self.independent_segments {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        for variant in &self.variants {
            write_stream_inf(out, variant);
        }
    }
}

fn write_stream_inf(out: &mut String, v: &VariantStream) {
    let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
    if let Some(average) = v.average_bandwidth {
        let _ = write!(out, ",AVERAGE-BANDWIDTH={average}");
    }
    let mut codecs = v
        .codecs
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .peekable();
    if codecs.peek().is_some() {
        out.push_str(",CODECS=\"");
        for (i, codec) in codecs.enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_quoted_inner(out, codec);
        }
        out.push('"');
    }
    if let Some((width, height)) = v.resolution {
        let _ = write!(out, ",RESOLUTION={width}x{height}");
    }
    if let Some(rate) = v
        .frame_rate
        .filter(|r| r.is_finite() && *r > 0.0 && *r < 1.0e6)
    {
        let _ = write!(out, ",FRAME-RATE={rate:.3}");
    }
    out.push('\n');
    write_uri_line(out, &v.uri);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant() -> VariantStream {
        VariantStream {
            uri: "720p/index.m3u8".into(),
            bandwidth: 3_000_000,
            average_bandwidth: None,
            codecs: vec![],
            resolution: None,
            frame_rate: None,
            name: None,
        }
    }

    #[test]
    fn minimal_variant() {
        let p = MultivariantPlaylist {
            independent_segments: false,
            variants: vec![variant()],
        };
        assert_eq!(
            p.render(),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000\n720p/index.m3u8\n"
        );
    }

    #[test]
    fn bad_values_are_dropped_not_written() {
        let mut v = variant();
        v.frame_rate = Some(f64::NAN);
        v.codecs = vec!["  ".into(), "avc1\"x".into()];
        v.uri = "a\nb".into();
        let p = MultivariantPlaylist {
            independent_segments: false,
            variants: vec![v],
        };
        assert_eq!(
            p.render(),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS=\"avc1x\"\nab\n"
        );
    }
}
