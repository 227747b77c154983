//! The broadcast as MPEG-DASH: a manifest over the same segments the HLS playlists list.
//!
//! DASH players (dash.js follows the DASH-IF guidelines) refuse multiplexed representations, so
//! the manifest addresses the segments' single-track views ([`MediaSegment::views`]): the same
//! samples and boundaries, one track per fragment. Segment numbers are the media sequence
//! numbers; one video adaptation set holds the source and every listed rung (their boundaries
//! and decode times are the source's), the audio set holds the source's audio.
//!
//! Periods: a new one starts where the source's timeline restarts (a reconnect, listed after a
//! discontinuity), where its init changes, and after a segment without views, so that `$Number$`
//! stays consecutive inside a period's timeline. Period ids follow the discontinuity sequence and
//! the init id, so they stay the same across manifest updates.
//!
//! [`MediaSegment::views`]: ferrocast_packager::MediaSegment::views

use super::*;
use ferrocast_dash::{
    AdaptationSet, ContentType, Mpd, MpdType, Period, Representation, SegmentTemplate,
    TimelineEntry,
};
use ferrocast_packager::ListedSegment;

/// The audio representation's id (the source's audio track).
const AUDIO_ID: &str = "audio";

/// One period's worth of the source's listed segments.
struct Run {
    id: String,
    /// Wall clock (unix ms) of media time zero on this run's timeline.
    anchor_ms: i64,
    first_msn: u64,
    last_msn: u64,
    video: Vec<TimelineEntry>,
    audio: Vec<TimelineEntry>,
    audio_rate: u32,
    audio_bits: f64,
    seconds: f64,
}

impl Output {
    /// The DASH manifest, once the source has a segment with both tracks. `utc_timing_url` is
    /// where players read the server's clock; `now_ms` is the manifest's publish time.
    pub fn dash_manifest(&self, now_ms: i64, utc_timing_url: Option<String>) -> Option<Bytes> {
        let source = self.source.read();
        let window = &source.window;
        let init = window.current_init()?;
        init.video.as_ref()?;
        let audio_config = init.audio.as_ref()?;
        let runs = runs(window.listed_segments(), window.discontinuity_sequence());
        let first = runs.first()?;
        let epoch = *self.dash_epoch.get_or_init(|| first.anchor_ms);
        let target = target_duration_secs(self.config.target_duration) as f64;

        let mut video_reps = vec![representation(
            SOURCE_RENDITION,
            window,
            source.frame_rate,
            None,
        )?];
        for rung in self.rungs() {
            let w = rung.read();
            if w.listed {
                video_reps.extend(representation(&rung.name, &w.window, None, w.rung));
            }
        }
        let sid = &self.sid;
        let periods = runs
            .iter()
            .map(|run| Period {
                id: run.id.clone(),
                start: (run.anchor_ms - epoch).max(0) as f64 / 1000.0,
                adaptation_sets: vec![
                    AdaptationSet {
                        id: 0,
                        content_type: ContentType::Video,
                        lang: None,
                        template: SegmentTemplate {
                            timescale: ferrocast_cmaf::VIDEO_TIMESCALE,
                            initialization: format!(
                                "$RepresentationID$/{sid}/init-v-{}.mp4",
                                run.last_msn
                            ),
                            media: format!("$RepresentationID$/{sid}/v-$Number$.m4s"),
                            start_number: run.first_msn,
                            presentation_time_offset: 0,
                            timeline: run.video.clone(),
                        },
                        representations: video_reps.clone(),
                    },
                    AdaptationSet {
                        id: 1,
                        content_type: ContentType::Audio,
                        lang: None,
                        template: SegmentTemplate {
                            timescale: run.audio_rate,
                            initialization: format!(
                                "{SOURCE_RENDITION}/{sid}/init-a-{}.mp4",
                                run.last_msn
                            ),
                            media: format!("{SOURCE_RENDITION}/{sid}/a-$Number$.m4s"),
                            start_number: run.first_msn,
                            presentation_time_offset: 0,
                            timeline: run.audio.clone(),
                        },
                        representations: vec![Representation {
                            id: AUDIO_ID.to_owned(),
                            codecs: audio_config.codec_string.clone(),
                            bandwidth: (run.audio_bits / run.seconds.max(0.001)).ceil().max(1.0)
                                as u64,
                            resolution: None,
                            frame_rate: None,
                            audio_sampling_rate: Some(audio_config.sample_rate),
                            audio_channels: Some(u32::from(audio_config.channels)),
                        }],
                    },
                ],
            })
            .collect::<Vec<_>>();
        let listed_seconds: f64 = runs.iter().map(|r| r.seconds).sum();
        let ended = window.is_ended();
        let last = runs.last()?;
        let end = (last.anchor_ms - epoch).max(0) as f64 / 1000.0 + last.seconds;
        let mpd = Mpd {
            kind: if ended {
                MpdType::Static
            } else {
                MpdType::Dynamic
            },
            availability_start_ms: epoch,
            publish_ms: now_ms,
            minimum_update_period: target,
            time_shift_buffer_depth: listed_seconds,
            // Two segments behind the newest: the one being made is never asked for.
            suggested_presentation_delay: 2.0 * target,
            min_buffer_time: target,
            max_segment_duration: target,
            media_presentation_duration: ended.then_some(end),
            utc_timing_url,
            periods,
        };
        Some(Bytes::from(mpd.render()))
    }

    /// One track of a segment, as its own fragment (what the manifest's `v-`/`a-` URLs name).
    pub fn segment_view(&self, rendition: &str, msn: u64, track: TrackKind) -> Option<ByteChain> {
        self.rendition(rendition)?
            .read()
            .window
            .segment_view(msn, track)
    }

    /// One track of the init that segment `msn` needs (or of the latest init).
    pub fn init_view(&self, rendition: &str, msn: u64, track: TrackKind) -> Option<Bytes> {
        self.rendition(rendition)?
            .read()
            .window
            .init_view_for(msn, track)
    }
}

/// The source's listed segments cut into periods (see the module docs).
fn runs<'a>(listed: impl Iterator<Item = ListedSegment<'a>>, discontinuities: u64) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut disc = discontinuities;
    let mut breaks = 0u32;
    let mut open = false;
    for l in listed {
        if l.discontinuity {
            disc += 1;
            open = false;
        }
        let Some(views) = l.segment.views.as_ref() else {
            breaks += 1;
            open = false;
            continue;
        };
        let id = format!("d{disc}-i{}-b{breaks}", l.init_id.unwrap_or(0));
        let continues = open
            && runs
                .last()
                .is_some_and(|r| r.id == id && r.last_msn + 1 == l.msn);
        if !continues {
            let video_ms = i64::try_from(views.video.start / 90).unwrap_or(0);
            runs.push(Run {
                id,
                anchor_ms: l.segment.program_date_time_ms - video_ms,
                first_msn: l.msn,
                last_msn: l.msn,
                video: Vec::new(),
                audio: Vec::new(),
                audio_rate: views.audio.timescale,
                audio_bits: 0.0,
                seconds: 0.0,
            });
            open = true;
        }
        let Some(run) = runs.last_mut() else {
            continue;
        };
        run.last_msn = l.msn;
        run.video.push(TimelineEntry {
            start: views.video.start,
            duration: views.video.duration,
        });
        run.audio.push(TimelineEntry {
            start: views.audio.start,
            duration: views.audio.duration,
        });
        run.audio_bits += views.audio.bytes.len() as f64 * 8.0;
        run.seconds += views.video.duration as f64 / f64::from(ferrocast_cmaf::VIDEO_TIMESCALE);
    }
    runs
}

/// A video representation from the rendition's `EXT-X-STREAM-INF` facts.
fn representation(
    name: &str,
    window: &LiveWindow,
    frame_rate: Option<f64>,
    rung: Option<RungInfo>,
) -> Option<Representation> {
    let v = variant(window, frame_rate, rung, name)?;
    let video = window.current_init()?.video.as_ref()?;
    Some(Representation {
        id: name.to_owned(),
        codecs: video.codec_string.clone(),
        bandwidth: v.average_bandwidth.unwrap_or(v.bandwidth),
        resolution: v.resolution,
        frame_rate: v.frame_rate,
        audio_sampling_rate: None,
        audio_channels: None,
    })
}
