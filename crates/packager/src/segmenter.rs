//! The live segmenter: media events in, CMAF init and media segments (and parts) out.

use crate::{
    join_parts, target_duration_secs, Boundary, InitSegment, MediaPart, MediaSegment,
    PackagerError, PartInfo, SegmenterConfig, SegmenterOutput, TrackView, TrackViews,
};
use bytes::Bytes;
use ferrocast_cmaf::{CmafError, Sample, TrackRun, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use ferrocast_media::{AudioConfig, ByteChain, Frame, MediaEvent, TrackKind, VideoConfig};
use std::collections::VecDeque;

mod cut;
mod follow;
mod parts;
mod state;

use follow::Follow;
pub(crate) use parts::part_target_ms;
use parts::PartTiming;
use state::*;

/// A keyframe closes a segment once the segment is at least `target - KEYFRAME_TOLERANCE_MS`
/// long. 100 ms absorbs millisecond rounding of GOPs of exactly the target (a 2 s GOP at 30 fps
/// shows up as 1999..2001 ms) and stays far below a whole GOP, so a 1 s GOP with a 2 s target
/// still cuts on every second keyframe.
pub const KEYFRAME_TOLERANCE_MS: i64 = 100;
/// Without metadata, how much media (ms) is buffered after the first video keyframe waiting for an
/// audio config, or of audio waiting for a video config, before starting with one track.
pub const AUDIO_WAIT_MS: i64 = 1000;
/// Bound on the frames buffered before the track set is known.
pub const MAX_PENDING_BYTES: usize = 16 << 20;
/// Bound on the payload of the open segment; exceeding it forces a cut.
pub const MAX_OPEN_SEGMENT_BYTES: usize = 48 << 20;
/// Bound on the samples of the open segment; exceeding it forces a cut.
pub const MAX_OPEN_SEGMENT_SAMPLES: usize = 8192;
/// Added to the configured part target to make the declared `PART-TARGET`: a part of exactly the
/// configured duration measured on millisecond timestamps that each jitter by ±1 ms may last 2 ms
/// longer, and the cut decision predicts the next frame's time with the same uncertainty.
pub const PART_TARGET_SLACK_MS: i64 = 4;
/// A follower cuts at the first frame whose presentation time is at least a boundary's minus this:
/// renditions encoded from the same timestamps may round them differently by a millisecond.
pub const BOUNDARY_TOLERANCE_MS: i64 = 2;
/// Bound on boundaries queued in a leader (unpolled) or a follower (not yet reached).
pub const MAX_QUEUED_BOUNDARIES: usize = 1024;

/// When metadata announces a track, how long (ms of buffered media) we wait for its config.
const METADATA_WAIT_MS: i64 = 5000;
/// With a video config but no keyframe yet, how much audio (ms) we buffer before going audio-only.
const KEYFRAME_WAIT_MS: i64 = 10_000;
/// Bound on the number of frames buffered before the track set is known.
const MAX_PENDING_FRAMES: usize = 4096;
/// A segment may last at most `target + 500 ms - MAX_DURATION_SLACK_MS`, so that EXTINF written
/// with three decimals and rounded to the nearest integer never exceeds EXT-X-TARGETDURATION.
const MAX_DURATION_SLACK_MS: i64 = 1;
/// Forced cuts aim this far below the maximum, absorbing frame-interval jitter.
const FORCED_CUT_MARGIN_MS: i64 = 50;
/// Audio decode time follows the frame count until it drifts this far from the timestamps.
const AUDIO_RESYNC_MS: i64 = 50;
/// A timestamp going back by this much is a timeline reset, not a reordering glitch.
const TIMELINE_RESET_MS: i64 = 1000;
/// Media time mapped to wall time is re-anchored when it strays this far from arrival times.
const PDT_REANCHOR_MS: i64 = 5000;
/// Video frame interval assumed before two frames have been seen (30 fps).
const DEFAULT_FRAME_MS: i64 = 33;
/// Frame intervals beyond this are gaps, not a frame rate.
const MAX_FRAME_MS: i64 = 1000;
/// Timestamps and clock readings are clamped to ±2^50 ms (35 000 years), so that no sum or
/// difference of them can overflow.
const MAX_ABS_MS: i64 = 1 << 50;
/// In a stream with video, audio alone forces a cut only once video is this far behind it.
const VIDEO_STALL_MS: i64 = 500;
/// Video media timescale per millisecond.
const VIDEO_TICKS_PER_MS: i64 = (ferrocast_cmaf::VIDEO_TIMESCALE / 1000) as i64;

/// Writes the bytes; swapped for a fake in unit tests so timing logic is tested without a muxer.
#[derive(Clone, Copy)]
pub(crate) struct Muxer {
    pub(crate) init: fn(Option<&VideoConfig>, Option<&AudioConfig>) -> Result<Bytes, CmafError>,
    pub(crate) fragment: fn(u32, &[TrackRun<'_>]) -> Result<ByteChain, CmafError>,
}

impl Muxer {
    const CMAF: Muxer = Muxer {
        init: ferrocast_cmaf::init_segment,
        fragment: ferrocast_cmaf::fragment_chain,
    };
}

/// Cuts a live stream into CMAF segments (see the crate docs for the driving loop).
///
/// **Track set.** Frames are buffered (bounded by [`MAX_PENDING_BYTES`]) until the tracks are
/// known: metadata's `has_video`/`has_audio` when given; otherwise a video keyframe plus an audio
/// config, or [`AUDIO_WAIT_MS`] of media with only one of them. Video before the first keyframe
/// and audio earlier than it are dropped, so both tracks start together. The set is fixed until
/// [`finish`](Self::finish): frames of a track outside it are ignored.
///
/// **Cutting.** A video keyframe closes the open segment when the segment is at least
/// `target - KEYFRAME_TOLERANCE_MS` long, or earlier when the last GOP length says the next
/// keyframe would come too late. Without a keyframe, a cut is forced at a non-keyframe so that no
/// segment exceeds `target + 499 ms` (its EXTINF rounds to at most EXT-X-TARGETDURATION, RFC 8216
/// §4.3.3.1); such a segment is not independent. Audio-only streams cut on duration. The segment
/// is emitted the moment its closing frame arrives; audio stamped before the cut that arrives
/// later goes into the next segment (decode times stay continuous).
///
/// **Timing.** Both tracks' decode times count from one origin, the first keyframe (or first audio
/// frame): video at 90 kHz (ms × 90), audio at its sample rate, counted in frames and resynced to
/// the timestamps when they drift apart by more than 50 ms. A timestamp jump back by more than
/// 1 s (an encoder restarting its clock) shifts the incoming timeline so output stays continuous.
///
/// **Program date-time.** Media time is mapped to the wall clock through the arrival time of the
/// stream's first frame, so consecutive PDTs differ by exactly the media time between segments;
/// the mapping is re-anchored (and logged) when it strays more than 5 s from arrival times.
///
/// **Config changes.** A sequence header that differs from the current one closes the open
/// segment and emits a new [`InitSegment`] with the same tracks. Timestamps stay continuous, so a
/// new EXT-X-MAP is enough; no discontinuity is needed (the window adds none for it).
///
/// **Parts** (with [`SegmenterConfig::part_target`]). The open segment is also cut into parts,
/// each a fragment emitted as [`SegmenterOutput::Part`] when the frame that starts the next one
/// arrives, and always at segment cuts. A video frame closes the part when waiting for the next
/// frame (predicted from the smoothed frame interval, ±2 ms for millisecond jitter) could exceed
/// the declared part target, or when the part is at least 85 % of it and either the frame is a
/// keyframe (so the next part is independent) or cutting now is nearer the configured target.
/// Both bounds hold whenever the frame interval is below about 15 % of the part target (e.g.
/// 75 ms for 500 ms parts); beyond that, or when frames go missing, a part may exceed it. A
/// forward timestamp jump (a looped input) stretches the frame before it: a part it would carry
/// over PART-TARGET is cut before that frame instead, which starts the next part.
/// Without video, parts are whole numbers of audio frames; while video stalls, audio cuts them.
///
/// **Boundaries.** Every segment and part a leader starts is published as a [`Boundary`]
/// ([`poll_boundary`](Self::poll_boundary)) for [`follower`](Self::follower)s.
pub struct LiveSegmenter {
    target_ms: i64,
    max_ms: i64,
    /// Part cutting, when enabled.
    parts: Option<PartTiming>,
    /// Media sequence number of the next segment a leader opens.
    next_msn: u64,
    /// Boundaries published by a leader, waiting for [`poll_boundary`](Self::poll_boundary).
    boundaries: VecDeque<Boundary>,
    /// Follower state; `None` for a leader.
    follow: Option<Follow>,
    video_config: Option<VideoConfig>,
    audio_config: Option<AudioConfig>,
    has_video: Option<bool>,
    has_audio: Option<bool>,
    pending: Pending,
    running: Option<Running>,
    sequence: u32,
    outputs: VecDeque<SegmenterOutput>,
    muxer: Muxer,
    /// [`SegmenterConfig::track_views`].
    track_views: bool,
}

impl LiveSegmenter {
    /// A segmenter (a leader) cutting segments of about `config.target_duration`.
    pub fn new(config: SegmenterConfig) -> Self {
        Self::with_muxer(config, Muxer::CMAF)
    }

    /// A follower: it cuts where the [`Boundary`]s given to
    /// [`push_boundary`](Self::push_boundary) say, and numbers segments and parts as they do.
    ///
    /// Feed it a rendition encoded from the leader's input: same timestamps, no B-frames,
    /// keyframes where the source has them. A frame whose presentation time reaches a boundary
    /// (within [`BOUNDARY_TOLERANCE_MS`]) starts that segment or part; its frames should come
    /// after the boundaries they reach (transcoded frames lag their source, so pushing each
    /// leader's boundaries as soon as they are polled is enough). A part boundary that comes
    /// late, after a frame it names (a leader announces a part it cut before a stretched frame
    /// only at the frame after), is still placed before that frame while the part is open; a
    /// late segment boundary is applied at the next frame. Decode times and program date-times
    /// are taken from the boundaries, so they match the leader's (RFC 8216 §6.2.4).
    ///
    /// - **Start.** Nothing is emitted until a keyframe (or audio frame, without video) reaches a
    ///   segment start: a follower that starts late simply begins at the leader's current
    ///   segment, and its window begins there. Frames that come before any boundary is known are
    ///   held (bounded) and replayed when one arrives.
    /// - **Missing media.** The position only moves at boundaries, so an interval without media
    ///   is still closed, as a gap part ([`MediaPart::gap`], `GAP=YES`); a segment with nothing
    ///   but gaps is a gap segment ([`MediaSegment::gap`], `EXT-X-GAP`). Numbers and durations stay
    ///   the leader's. After a hole across a boundary, pictures are dropped until a keyframe.
    /// - **Configuration change.** The new init can only start a segment, so media is dropped
    ///   until the next segment boundary, where the new configuration takes effect.
    /// - Parts are cut only when `config.part_target` is set (its value is not used: the
    ///   leader's boundaries decide); the leader's own cutting rules do not apply, and frames
    ///   beyond the open segment's bounds are dropped rather than cut.
    pub fn follower(config: SegmenterConfig) -> Self {
        Self::follower_with_muxer(config, Muxer::CMAF)
    }

    pub(crate) fn follower_with_muxer(config: SegmenterConfig, muxer: Muxer) -> Self {
        let mut segmenter = Self::with_muxer(config, muxer);
        segmenter.follow = Some(Follow::default());
        segmenter
    }

    pub(crate) fn with_muxer(config: SegmenterConfig, muxer: Muxer) -> Self {
        let whole_secs = i64::try_from(target_duration_secs(config.target_duration)).unwrap_or(1);
        let target_ms = i64::try_from(config.target_duration.as_millis())
            .unwrap_or(i64::MAX)
            .clamp(1000, whole_secs * 1000);
        Self {
            target_ms,
            max_ms: whole_secs * 1000 + 500 - MAX_DURATION_SLACK_MS,
            parts: PartTiming::new(&config),
            next_msn: config.first_msn,
            boundaries: VecDeque::new(),
            follow: None,
            video_config: None,
            audio_config: None,
            has_video: None,
            has_audio: None,
            pending: Pending::default(),
            running: None,
            sequence: 1,
            outputs: VecDeque::new(),
            muxer,
            track_views: config.track_views,
        }
    }

    /// `now_ms` is the wall clock (unix ms) when the event arrived.
    pub fn handle_event(&mut self, now_ms: i64, event: &MediaEvent) -> Result<(), PackagerError> {
        let now_ms = clamp_ms(now_ms);
        match event {
            MediaEvent::VideoConfig(config) => self.on_video_config(config),
            MediaEvent::AudioConfig(config) => self.on_audio_config(config),
            MediaEvent::Metadata(metadata) => {
                if self.running.is_none() {
                    self.has_video = metadata.has_video;
                    self.has_audio = metadata.has_audio;
                    self.try_start()
                } else {
                    Ok(())
                }
            }
            MediaEvent::Frame(frame) => {
                if self.running.is_some() {
                    self.on_frame(now_ms, frame)
                } else {
                    self.buffer(now_ms, frame);
                    self.try_start()
                }
            }
        }
    }

    /// The publisher went away: close the open segment.
    ///
    /// Timing state is reset, so the next publish starts a fresh timeline (with its own init
    /// segment); the caller marks the window's discontinuity. Fragment sequence numbers keep
    /// increasing across publishes.
    pub fn finish(&mut self) {
        // A follower never cuts on its own; a leader may cut its last part before a stretched
        // frame, as at any other cut.
        let mut closed = Ok(());
        if self.follow.is_none() {
            closed = self.cut_before_stretched_frame(None).map(|_| ());
        }
        if let Err(error) = closed.and(self.close_segment(None)) {
            tracing::warn!(%error, "closing the last segment failed");
        }
        if let Some(follow) = self.follow.as_mut() {
            *follow = Follow::default();
        }
        self.running = None;
        self.pending.clear();
        self.video_config = None;
        self.audio_config = None;
        self.has_video = None;
        self.has_audio = None;
    }

    /// The next output, in order; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<SegmenterOutput> {
        self.outputs.pop_front()
    }

    /// The next boundary a leader cut at, in order (a follower publishes none). Hand each one to
    /// every follower's [`push_boundary`](Self::push_boundary). At most
    /// [`MAX_QUEUED_BOUNDARIES`] wait; older ones are dropped.
    pub fn poll_boundary(&mut self) -> Option<Boundary> {
        self.boundaries.pop_front()
    }

    /// The `PART-TARGET` to declare in this rendition's playlist (and its followers'), if parts
    /// are enabled; see [`SegmenterConfig::declared_part_target`].
    pub fn declared_part_target(&self) -> Option<std::time::Duration> {
        self.parts.as_ref().map(PartTiming::declared)
    }

    /// Media sequence number of the next segment a leader opens.
    pub fn next_msn(&self) -> u64 {
        self.next_msn
    }

    /// Whether this is a [`follower`](Self::follower).
    pub fn is_follower(&self) -> bool {
        self.follow.is_some()
    }

    fn on_video_config(&mut self, config: &VideoConfig) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_mut() else {
            if self.video_config.as_ref().is_some_and(|c| c != config) {
                // Buffered pictures belong to the previous configuration.
                self.pending.drop_kind(TrackKind::Video);
            }
            self.video_config = Some(config.clone());
            return self.try_start();
        };
        let Some(video) = running.video.as_mut() else {
            tracing::debug!("video configuration ignored: the stream started without video");
            return Ok(());
        };
        if video.config == *config {
            return Ok(());
        }
        tracing::info!(codec = %config.codec_string, width = config.width, height = config.height,
            "video configuration changed");
        self.video_config = Some(config.clone());
        if self.follow.is_some() {
            self.follower_reconfigure(Some(config.clone()), None);
            return Ok(());
        }
        video.config = config.clone();
        video.wait_keyframe = true;
        // The segment closes, and the new init is emitted, when the next keyframe arrives: its
        // timestamp ends the segment exactly.
        running.reconfigure = Some(TrackKind::Video);
        Ok(())
    }

    fn on_audio_config(&mut self, config: &AudioConfig) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_mut() else {
            if self.audio_config.as_ref().is_some_and(|c| c != config) {
                self.pending.drop_kind(TrackKind::Audio);
            }
            self.audio_config = Some(config.clone());
            return self.try_start();
        };
        let Some(audio) = running.audio.as_mut() else {
            tracing::debug!("audio configuration ignored: the stream started without audio");
            return Ok(());
        };
        if audio.config == *config {
            return Ok(());
        }
        tracing::info!(codec = %config.codec_string, rate = config.sample_rate,
            "audio configuration changed");
        self.audio_config = Some(config.clone());
        if self.follow.is_some() {
            self.follower_reconfigure(None, Some(config.clone()));
            return Ok(());
        }
        audio.config = config.clone();
        // The sample rate may have changed: restart the sample count from the timestamps.
        audio.next_decode = None;
        // The segment closes at the next video frame (audio until then is dropped: it would need
        // the new init), or at the next audio frame in an audio-only stream.
        if running.reconfigure.is_none() {
            running.reconfigure = Some(TrackKind::Audio);
        }
        Ok(())
    }

    fn buffer(&mut self, now_ms: i64, frame: &Frame) {
        match frame.kind {
            TrackKind::Video => {
                if self.video_config.is_none() || (!self.pending.has_video() && !frame.keyframe) {
                    return;
                }
            }
            TrackKind::Audio => {
                if self.audio_config.is_none() {
                    return;
                }
            }
        }
        if self.pending.bytes + frame.data.len() > MAX_PENDING_BYTES
            || self.pending.frames.len() >= MAX_PENDING_FRAMES
        {
            tracing::warn!(
                frames = self.pending.frames.len(),
                bytes = self.pending.bytes,
                "start-up buffer full before the tracks were known; dropping it"
            );
            self.pending.clear();
            if frame.kind == TrackKind::Video && !frame.keyframe {
                return;
            }
        }
        let mut frame = frame.clone();
        frame.dts = clamp_ms(frame.dts);
        self.pending.push(now_ms, frame);
    }

    /// Starts the stream once the track set is known (see the type docs).
    fn try_start(&mut self) -> Result<(), PackagerError> {
        let have_video_config = self.video_config.is_some();
        let have_audio_config = self.audio_config.is_some();
        let (video, audio) = if let Some(key_dts) = self.pending.first_key_dts {
            let waited = self.pending.last_dts.unwrap_or(key_dts) - key_dts;
            let limit = if self.has_audio == Some(true) {
                METADATA_WAIT_MS
            } else {
                AUDIO_WAIT_MS
            };
            if have_audio_config {
                (true, true)
            } else if self.has_audio == Some(false) || waited >= limit {
                (true, false)
            } else {
                return Ok(());
            }
        } else if let (Some(first), Some(last)) =
            (self.pending.first_audio_dts, self.pending.last_audio_dts)
        {
            let waited = last - first;
            let limit = if have_video_config {
                KEYFRAME_WAIT_MS
            } else if self.has_video == Some(true) {
                METADATA_WAIT_MS
            } else {
                AUDIO_WAIT_MS
            };
            if self.has_video == Some(false) || waited >= limit {
                (false, true)
            } else {
                return Ok(());
            }
        } else {
            return Ok(());
        };
        self.start(video, audio)
    }

    fn start(&mut self, with_video: bool, with_audio: bool) -> Result<(), PackagerError> {
        let mut frames = std::mem::take(&mut self.pending.frames);
        self.pending.clear();
        let video_config = self.video_config.clone().filter(|_| with_video);
        let audio_config = self.audio_config.clone().filter(|_| with_audio);
        // The first keyframe leads; audio stamped before it is dropped so both tracks start together.
        let lead = if with_video {
            frames
                .iter()
                .position(|(_, f)| f.kind == TrackKind::Video && f.keyframe)
        } else {
            frames.iter().position(|(_, f)| f.kind == TrackKind::Audio)
        };
        let Some((lead_now, lead_frame)) = lead.and_then(|i| frames.remove(i)) else {
            return Ok(());
        };
        tracing::info!(
            video = video_config.as_ref().map(|c| c.codec_string.as_str()),
            audio = audio_config.as_ref().map(|c| c.codec_string.as_str()),
            "stream started"
        );
        self.running = Some(Running {
            video: video_config.map(|config| VideoTrack {
                config,
                last_dts: None,
                last_interval: DEFAULT_FRAME_MS,
                mean_interval: None,
                last_key_dts: None,
                gop_ms: None,
                wait_keyframe: false,
            }),
            audio: audio_config.map(|config| AudioTrack {
                config,
                next_decode: None,
            }),
            origin_ms: lead_frame.dts,
            shift_ms: 0,
            wall_anchor: (lead_frame.dts, lead_now),
            segment: None,
            reconfigure: None,
        });
        if let Err(error) = self.emit_init() {
            self.running = None;
            self.video_config = None;
            self.audio_config = None;
            return Err(error);
        }
        let mut result = self.on_frame(lead_now, &lead_frame);
        for (now_ms, frame) in frames {
            if frame.kind == TrackKind::Audio && with_video && frame.dts < lead_frame.dts {
                continue;
            }
            let outcome = self.on_frame(now_ms, &frame);
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    fn emit_init(&mut self) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_ref() else {
            return Ok(());
        };
        let video = running.video.as_ref().map(|v| v.config.clone());
        let audio = running.audio.as_ref().map(|a| a.config.clone());
        let bytes = (self.muxer.init)(video.as_ref(), audio.as_ref()).map_err(|source| {
            PackagerError::Init {
                video: video.is_some(),
                audio: audio.is_some(),
                source,
            }
        })?;
        let views = match (&video, &audio) {
            (Some(v), Some(a)) if self.track_views => {
                let single = |video, audio| {
                    (self.muxer.init)(video, audio).map_err(|source| PackagerError::Init {
                        video: video.is_some(),
                        audio: audio.is_some(),
                        source,
                    })
                };
                Some(TrackViews {
                    video: single(Some(v), None)?,
                    audio: single(None, Some(a))?,
                })
            }
            _ => None,
        };
        self.outputs.push_back(SegmenterOutput::Init(InitSegment {
            bytes,
            video,
            audio,
            views,
        }));
        Ok(())
    }
}

impl std::fmt::Debug for LiveSegmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self.running.as_ref();
        f.debug_struct("LiveSegmenter")
            .field("target_ms", &self.target_ms)
            .field("part_target_ms", &self.parts.as_ref().map(|p| p.target_ms))
            .field("follower", &self.follow.is_some())
            .field("next_msn", &self.next_msn)
            .field("started", &running.is_some())
            .field("video", &running.is_some_and(|r| r.video.is_some()))
            .field("audio", &running.is_some_and(|r| r.audio.is_some()))
            .field("pending_frames", &self.pending.frames.len())
            .field("next_sequence", &self.sequence)
            .field("queued_outputs", &self.outputs.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
