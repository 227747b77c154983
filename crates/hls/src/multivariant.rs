//! Multivariant playlists (RFC 8216 §4.3.4), with alternative renditions (`EXT-X-MEDIA`,
//! §4.3.4.1) for a demultiplexed audio track.

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
        self.render_media_into(&[], None, out);
    }

    /// Renders the playlist with alternative renditions: each of `media` as an `EXT-X-MEDIA` tag
    /// before the variants, and, when `audio_group` is given, `AUDIO="<group>"` on every variant
    /// (RFC 8216 §4.3.4.2: the variants then play the group's audio, their own media playlists
    /// holding video only). The group should be the `GROUP-ID` of renditions in `media` of type
    /// [`MediaType::Audio`] (§4.3.4.1.1: a variant's AUDIO must name such a group).
    pub fn render_with_media(&self, media: &[Rendition], audio_group: Option<&str>) -> String {
        let mut out = String::with_capacity(
            64 + media.len() * 160
                + self
                    .variants
                    .iter()
                    .map(|v| 180 + v.uri.len())
                    .sum::<usize>(),
        );
        self.render_media_into(media, audio_group, &mut out);
        out
    }

    fn render_media_into(&self, media: &[Rendition], audio_group: Option<&str>, out: &mut String) {
        out.push_str("#EXTM3U\n");
        if self.independent_segments {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        for rendition in media {
            write_media(out, rendition);
        }
        for variant in &self.variants {
            write_stream_inf(out, variant, audio_group);
        }
    }
}

/// `EXT-X-MEDIA` `TYPE` (RFC 8216 §4.3.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `AUDIO`.
    Audio,
    /// `VIDEO`.
    Video,
    /// `SUBTITLES` (a URI is required).
    Subtitles,
}

/// An alternative rendition: one `EXT-X-MEDIA` tag (RFC 8216 §4.3.4.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    /// `TYPE`.
    pub media_type: MediaType,
    /// `GROUP-ID`: the group the variants name in their `AUDIO`/`VIDEO`/`SUBTITLES` attribute.
    pub group_id: String,
    /// `NAME`: a human-readable description, unique within the group.
    pub name: String,
    /// `LANGUAGE` (RFC 5646 tag), if known.
    pub language: Option<String>,
    /// `DEFAULT=YES`: played when the user expresses no preference.
    pub default: bool,
    /// `AUTOSELECT=YES`: may be chosen without the user's explicit choice. Written as `YES`
    /// whenever `default` is set (§4.3.4.1: "If the DEFAULT attribute is present with YES, the
    /// AUTOSELECT attribute MUST also be present with YES").
    pub autoselect: bool,
    /// `CHANNELS` of an audio rendition, e.g. `"2"`.
    pub channels: Option<String>,
    /// `URI` of the rendition's media playlist; `None` when the variants carry it.
    pub uri: Option<String>,
}

fn write_media(out: &mut String, r: &Rendition) {
    let kind = match r.media_type {
        MediaType::Audio => "AUDIO",
        MediaType::Video => "VIDEO",
        MediaType::Subtitles => "SUBTITLES",
    };
    let _ = write!(out, "#EXT-X-MEDIA:TYPE={kind},GROUP-ID=\"");
    write_quoted_inner(out, &r.group_id);
    out.push_str("\",NAME=\"");
    write_quoted_inner(out, &r.name);
    out.push('"');
    if let Some(language) = &r.language {
        out.push_str(",LANGUAGE=\"");
        write_quoted_inner(out, language);
        out.push('"');
    }
    let yes_no = |b: bool| if b { "YES" } else { "NO" };
    let _ = write!(
        out,
        ",DEFAULT={},AUTOSELECT={}",
        yes_no(r.default),
        yes_no(r.autoselect || r.default)
    );
    if let Some(channels) = &r.channels {
        out.push_str(",CHANNELS=\"");
        write_quoted_inner(out, channels);
        out.push('"');
    }
    if let Some(uri) = &r.uri {
        out.push_str(",URI=\"");
        write_quoted_inner(out, uri);
        out.push('"');
    }
    out.push('\n');
}

fn write_stream_inf(out: &mut String, v: &VariantStream, audio_group: Option<&str>) {
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
    if let Some(group) = audio_group {
        out.push_str(",AUDIO=\"");
        write_quoted_inner(out, group);
        out.push('"');
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
    fn audio_group() {
        let p = MultivariantPlaylist {
            independent_segments: true,
            variants: vec![variant()],
        };
        let audio = Rendition {
            media_type: MediaType::Audio,
            group_id: "aud".into(),
            name: "Audio".into(),
            language: None,
            default: true,
            autoselect: false,
            channels: Some("2".into()),
            uri: Some("a/index.m3u8".into()),
        };
        assert_eq!(
            p.render_with_media(&[audio], Some("aud")),
            "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"Audio\",DEFAULT=YES,AUTOSELECT=YES,\
             CHANNELS=\"2\",URI=\"a/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3000000,AUDIO=\"aud\"\n720p/index.m3u8\n"
        );
        assert_eq!(p.render_with_media(&[], None), p.render());
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
