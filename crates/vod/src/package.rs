//! The published text files of a packaged video: media playlists, the multivariant playlist, the
//! static MPD and `meta.json`.
//!
//! Layout (all URIs relative, so the server can append a token to each):
//! `master.m3u8`, `v/{rung}/index.m3u8` + `init.mp4` + `{n}.m4s`, `a/index.m3u8` + `init.mp4` +
//! `{n}.m4s`, `manifest.mpd`, `meta.json`.

use ferrocast_dash::{
    AdaptationSet, ContentType, Mpd, MpdType, Period, Representation, SegmentTemplate,
    TimelineEntry,
};
use ferrocast_hls::{
    MediaPlaylist, MediaSegment, MediaType, MultivariantPlaylist, PlaylistType, Rendition,
    VariantStream,
};
use serde::{Deserialize, Serialize};

use crate::{TrackSummary, VodError, VodRung};

/// Segment duration aimed at, seconds: two keyframe intervals.
pub const SEGMENT_TARGET_S: u64 = 4;
/// The HLS audio group id.
pub const AUDIO_GROUP: &str = "aud";
/// The DASH representation id of the audio (its folder is `a/`).
pub const AUDIO_REPRESENTATION: &str = "a";
/// Video segments of the renditions may start this far apart (ticks at 90 kHz: 50 ms) and still
/// count as aligned.
const ALIGN_TOLERANCE_TICKS: u64 = 4500;

/// One rendition of a packaged video, as `meta.json` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionSummary {
    /// The rung's name (folder `v/{name}/`).
    pub name: String,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames per second.
    pub frame_rate: f64,
    /// Peak bits per second of video and audio together (`BANDWIDTH`).
    pub bandwidth: u64,
    /// Average bits per second of video and audio together (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth: u64,
    /// RFC 6381 codec strings, video then audio.
    pub codecs: Vec<String>,
    /// Playlist, relative to the video's root.
    pub playlist: String,
}

/// What `meta.json` holds: what the API shows about a ready video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageSummary {
    /// Duration in seconds (the top rendition's packaged length).
    pub duration_s: f64,
    /// Whether there is an audio rendition.
    pub has_audio: bool,
    /// The video renditions, top first.
    pub renditions: Vec<RenditionSummary>,
    /// The audio codec string, when there is audio.
    pub audio_codec: Option<String>,
    /// Segments per rendition.
    pub segment_count: usize,
}

/// Every text file of a packaged video, ready to write.
#[derive(Debug, Clone)]
pub struct RenderedPackage {
    /// `(relative path, content)`: `master.m3u8`, each `v/{rung}/index.m3u8`, `a/index.m3u8`,
    /// `manifest.mpd`, `meta.json`.
    pub files: Vec<(String, String)>,
    /// `meta.json`'s content, typed.
    pub summary: PackageSummary,
}

struct Rates {
    peak: u64,
    average: u64,
}

/// Peak and average bit rates of a track's segments. The peak is over segments of at least half
/// the target (a short last segment holding one keyframe would otherwise inflate it), or over all
/// when none is that long.
fn rates(track: &TrackSummary) -> Rates {
    let ts = f64::from(track.timescale.max(1));
    let rate = |s: &crate::SegmentInfo| {
        let secs = s.duration as f64 / ts;
        if secs > 0.0 {
            (s.bytes as f64 * 8.0 / secs).ceil() as u64
        } else {
            0
        }
    };
    let long_enough =
        |s: &&crate::SegmentInfo| s.duration as f64 / ts >= SEGMENT_TARGET_S as f64 / 2.0;
    let peak = track
        .segments
        .iter()
        .filter(long_enough)
        .map(rate)
        .max()
        .or_else(|| track.segments.iter().map(rate).max())
        .unwrap_or(0);
    let total_bytes: u64 = track.segments.iter().map(|s| s.bytes).sum();
    let secs = track.duration_s();
    let average = if secs > 0.0 {
        (total_bytes as f64 * 8.0 / secs).ceil() as u64
    } else {
        0
    };
    Rates { peak, average }
}

/// A VOD media playlist of one track: `EXT-X-PLAYLIST-TYPE:VOD`, `EXT-X-INDEPENDENT-SEGMENTS`,
/// `EXT-X-MAP:URI="init.mp4"`, segments `0.m4s`, `1.m4s` ..., `EXT-X-ENDLIST`.
/// `EXT-X-TARGETDURATION` is the longest `EXTINF` rounded to the nearest integer (RFC 8216
/// §4.3.3.1), at least 1.
pub fn media_playlist(track: &TrackSummary) -> String {
    let ts = f64::from(track.timescale.max(1));
    let durations: Vec<f64> = track
        .segments
        .iter()
        .map(|s| s.duration as f64 / ts)
        .collect();
    let target = durations
        .iter()
        .map(|d| d.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut p = MediaPlaylist::new(target);
    p.playlist_type = Some(PlaylistType::Vod);
    p.independent_segments = true;
    p.end_list = true;
    for (n, d) in durations.iter().enumerate() {
        let mut s = MediaSegment::new(format!("{n}.m4s"), *d);
        s.map_uri = Some("init.mp4".into());
        p.segments.push(s);
    }
    p.render()
}

fn timeline(track: &TrackSummary) -> Vec<TimelineEntry> {
    track
        .segments
        .iter()
        .map(|s| TimelineEntry {
            start: s.start,
            duration: s.duration,
        })
        .collect()
}

/// Checks that every rendition has the top one's segments (same count, starts within 50 ms): the
/// DASH adaptation set shares one timeline and players switch renditions at segment boundaries.
fn check_aligned(video: &[(VodRung, TrackSummary)]) -> Result<(), VodError> {
    let Some((_, top)) = video.first() else {
        return Err(VodError::NoRenditions);
    };
    for (rung, track) in video {
        if track.segments.is_empty() {
            return Err(VodError::Empty {
                track: ferrocast_media::TrackKind::Video,
            });
        }
        let aligned = track.segments.len() == top.segments.len()
            && track.timescale == top.timescale
            && track
                .segments
                .iter()
                .zip(&top.segments)
                .all(|(a, b)| a.start.abs_diff(b.start) <= ALIGN_TOLERANCE_TICKS);
        if !aligned {
            return Err(VodError::Misaligned {
                rung: rung.name.clone(),
                segments: track.segments.len(),
                expected: top.segments.len(),
            });
        }
    }
    Ok(())
}

/// Renders every text file of a packaged video from its tracks: `video` holds each rung (top
/// first) with its packaged track, `audio` the audio track if any.
pub fn render_package(
    video: &[(VodRung, TrackSummary)],
    audio: Option<&TrackSummary>,
) -> Result<RenderedPackage, VodError> {
    check_aligned(video)?;
    let audio = audio.filter(|a| !a.segments.is_empty());
    let audio_rates = audio.map(rates);
    let mut files = Vec::new();
    let mut renditions = Vec::new();
    let mut variants = Vec::new();
    for (rung, track) in video {
        let r = rates(track);
        let (peak, average) = match &audio_rates {
            Some(a) => (r.peak + a.peak, r.average + a.average),
            None => (r.peak, r.average),
        };
        let mut codecs = vec![track.codec.clone()];
        if let Some(a) = audio {
            codecs.push(a.codec.clone());
        }
        let playlist = format!("v/{}/index.m3u8", rung.name);
        files.push((playlist.clone(), media_playlist(track)));
        let (width, height) = (
            track.width.unwrap_or(rung.width),
            track.height.unwrap_or(rung.height),
        );
        variants.push(VariantStream {
            uri: playlist.clone(),
            bandwidth: peak,
            average_bandwidth: Some(average),
            codecs: codecs.clone(),
            resolution: Some((width, height)),
            frame_rate: Some(rung.fps),
            name: Some(rung.name.clone()),
        });
        renditions.push(RenditionSummary {
            name: rung.name.clone(),
            width,
            height,
            frame_rate: rung.fps,
            bandwidth: peak,
            average_bandwidth: average,
            codecs,
            playlist,
        });
    }
    let master = MultivariantPlaylist {
        independent_segments: true,
        variants,
    };
    let master = match audio {
        Some(a) => {
            files.push(("a/index.m3u8".into(), media_playlist(a)));
            let audio_rendition = Rendition {
                media_type: MediaType::Audio,
                group_id: AUDIO_GROUP.into(),
                name: "Audio".into(),
                language: None,
                default: true,
                autoselect: true,
                channels: a.channels.map(|c| c.to_string()),
                uri: Some("a/index.m3u8".into()),
            };
            master.render_with_media(&[audio_rendition], Some(AUDIO_GROUP))
        }
        None => master.render(),
    };
    files.insert(0, ("master.m3u8".into(), master));

    let top = &video[0].1;
    let duration_s = top.duration_s();
    let max_segment = video
        .iter()
        .map(|(_, t)| t)
        .chain(audio)
        .flat_map(|t| {
            let ts = f64::from(t.timescale.max(1));
            t.segments.iter().map(move |s| s.duration as f64 / ts)
        })
        .fold(0.0, f64::max);
    files.push((
        "manifest.mpd".into(),
        mpd(video, audio, duration_s, max_segment),
    ));

    let summary = PackageSummary {
        duration_s,
        has_audio: audio.is_some(),
        renditions,
        audio_codec: audio.map(|a| a.codec.clone()),
        segment_count: top.segments.len(),
    };
    let meta = serde_json::to_string_pretty(&summary).map_err(VodError::Json)?;
    files.push(("meta.json".into(), meta));
    Ok(RenderedPackage { files, summary })
}

/// The static MPD: one period, a video adaptation set with every rung (representation id = rung
/// name = folder under `v/`) and an audio set (`a/`), `$Number$` templates from 0 with the
/// segment timeline.
fn mpd(
    video: &[(VodRung, TrackSummary)],
    audio: Option<&TrackSummary>,
    duration_s: f64,
    max_segment: f64,
) -> String {
    let top = &video[0].1;
    let mut sets = vec![AdaptationSet {
        id: 0,
        content_type: ContentType::Video,
        lang: None,
        template: SegmentTemplate {
            timescale: top.timescale,
            initialization: "v/$RepresentationID$/init.mp4".into(),
            media: "v/$RepresentationID$/$Number$.m4s".into(),
            start_number: 0,
            presentation_time_offset: 0,
            timeline: timeline(top),
        },
        representations: video
            .iter()
            .map(|(rung, track)| Representation {
                id: rung.name.clone(),
                codecs: track.codec.clone(),
                bandwidth: rates(track).peak,
                resolution: Some((
                    track.width.unwrap_or(rung.width),
                    track.height.unwrap_or(rung.height),
                )),
                frame_rate: Some(rung.fps),
                audio_sampling_rate: None,
                audio_channels: None,
            })
            .collect(),
    }];
    if let Some(a) = audio {
        sets.push(AdaptationSet {
            id: 1,
            content_type: ContentType::Audio,
            lang: None,
            template: SegmentTemplate {
                timescale: a.timescale,
                initialization: "a/init.mp4".into(),
                media: "a/$Number$.m4s".into(),
                start_number: 0,
                presentation_time_offset: 0,
                timeline: timeline(a),
            },
            representations: vec![Representation {
                id: AUDIO_REPRESENTATION.into(),
                codecs: a.codec.clone(),
                bandwidth: rates(a).peak,
                resolution: None,
                frame_rate: None,
                audio_sampling_rate: a.sample_rate,
                audio_channels: a.channels,
            }],
        });
    }
    Mpd {
        kind: MpdType::Static,
        availability_start_ms: 0,
        publish_ms: 0,
        minimum_update_period: 0.0,
        time_shift_buffer_depth: 0.0,
        suggested_presentation_delay: 0.0,
        min_buffer_time: SEGMENT_TARGET_S as f64,
        max_segment_duration: max_segment,
        media_presentation_duration: Some(duration_s),
        utc_timing_url: None,
        periods: vec![Period {
            id: "0".into(),
            start: 0.0,
            adaptation_sets: sets,
        }],
    }
    .render()
}
