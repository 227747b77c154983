//! One track of a finished file into CMAF: an init segment and media segments cut at keyframes.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use ferrocast_cmaf::{Sample, TrackRun, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID};
use ferrocast_media::{AudioConfig, Frame, MediaEvent, TrackKind, VideoConfig};

use crate::VodError;

/// A keyframe closes a segment once the segment is at least `target - KEYFRAME_TOLERANCE_MS`
/// long: millisecond timestamps put a 2 s keyframe grid at 1999..2001 ms.
pub const KEYFRAME_TOLERANCE_MS: i64 = 100;
/// Longest video segment accepted without a keyframe, ms: our transcodes put one every 2 s.
pub const MAX_SEGMENT_MS: i64 = 60_000;
/// Largest segment payload, bytes.
pub const MAX_SEGMENT_BYTES: usize = 256 << 20;
/// Video frame interval assumed for a last frame whose interval is unknown (a one-frame video).
const DEFAULT_FRAME_MS: i64 = 33;
/// Audio decode times follow the frame count until they drift this far from the timestamps.
const AUDIO_RESYNC_MS: i64 = 50;
/// Video decode time in 90 kHz ticks per millisecond.
const TICKS_PER_MS: u64 = (VIDEO_TIMESCALE / 1000) as u64;

/// Where one finished segment lies on its track's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentInfo {
    /// Decode time of the first sample, ticks (the `tfdt`).
    pub start: u64,
    /// Sum of the sample durations, ticks.
    pub duration: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// A finished media segment, numbered from 0.
#[derive(Debug, Clone)]
pub struct VodSegment {
    /// Its number: the file is `{number}.m4s`.
    pub number: u64,
    /// `styp` + `moof` + `mdat`.
    pub bytes: Bytes,
    /// Timing and size.
    pub info: SegmentInfo,
}

/// What a [`VodSegmenter`] produces, in order: the init first, then the segments.
#[derive(Debug, Clone)]
pub enum VodOutput {
    /// `ftyp` + `moov` of the track (`init.mp4`).
    Init(Bytes),
    /// A media segment.
    Segment(VodSegment),
}

/// One track of a packaged file: its codec and every segment's timing and size.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrackSummary {
    /// RFC 6381 codec string from the actual SPS or AudioSpecificConfig.
    pub codec: String,
    /// Ticks per second of the segment times.
    pub timescale: u32,
    /// Picture size (video).
    pub width: Option<u32>,
    /// Picture height (video).
    pub height: Option<u32>,
    /// Sample rate (audio).
    pub sample_rate: Option<u32>,
    /// Channels (audio).
    pub channels: Option<u32>,
    /// The segments, in order.
    pub segments: Vec<SegmentInfo>,
}

impl TrackSummary {
    /// Seconds from the first segment's start to the last one's end.
    pub fn duration_s(&self) -> f64 {
        match (self.segments.first(), self.segments.last()) {
            (Some(first), Some(last)) => {
                (last.start + last.duration).saturating_sub(first.start) as f64
                    / f64::from(self.timescale.max(1))
            }
            _ => 0.0,
        }
    }
}

#[derive(Debug)]
struct Pending {
    dts_ms: i64,
    /// Decode time in ticks.
    decode: u64,
    cts_ticks: i32,
    keyframe: bool,
    data: Bytes,
}

/// Cuts one track of a finished file (video or audio, the other is ignored) into CMAF segments
/// of about `target` (4 s): video at the first keyframe at least `target - 100 ms` after the
/// segment's start; audio at the first frame at or after each multiple of `target` on the media
/// timeline, so audio segments end where the video's do when keyframes are on a 2 s grid from 0.
///
/// Timing: video at 90 kHz from the millisecond timestamps (composition offsets kept), each
/// sample lasting until the next one and the last one as long as the mean interval; audio at its
/// sample rate, counted in frames and resynced to the timestamps when they drift apart by more
/// than 50 ms. `tfdt` is the media time itself, so tracks packaged separately stay in sync.
///
/// Sans-IO: feed [`MediaEvent`]s with [`handle_event`](Self::handle_event), call
/// [`finish`](Self::finish) at the end of the file, and drain [`poll_output`](Self::poll_output)
/// after each call (segments are handed out as they close; only the open one is held).
#[derive(Debug)]
pub struct VodSegmenter {
    kind: TrackKind,
    target_ms: i64,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    open: Vec<Pending>,
    open_bytes: usize,
    /// Video: decode time of the first frame and frames seen, for the mean frame interval.
    first_decode: Option<u64>,
    frames: u64,
    last_decode: u64,
    /// Audio: the next frame's decode time in samples.
    next_audio_decode: Option<u64>,
    /// Audio: the next cut on the media timeline, ms.
    next_cut_ms: i64,
    sequence: u32,
    number: u64,
    outputs: VecDeque<VodOutput>,
    summary: Vec<SegmentInfo>,
    finished: bool,
}

impl VodSegmenter {
    /// A segmenter for the `kind` track, cutting segments of about `target`.
    pub fn new(kind: TrackKind, target: Duration) -> Self {
        let target_ms = i64::try_from(target.as_millis())
            .unwrap_or(i64::MAX)
            .max(1000);
        Self {
            kind,
            target_ms,
            video: None,
            audio: None,
            open: Vec::new(),
            open_bytes: 0,
            first_decode: None,
            frames: 0,
            last_decode: 0,
            next_audio_decode: None,
            next_cut_ms: target_ms,
            sequence: 1,
            number: 0,
            outputs: VecDeque::new(),
            summary: Vec::new(),
            finished: false,
        }
    }

    /// Feeds one event of the file. Events of the other track and metadata are ignored. A second,
    /// different decoder configuration is refused: one rendition of ours has one.
    pub fn handle_event(&mut self, event: &MediaEvent) -> Result<(), VodError> {
        if self.finished {
            return Err(VodError::Finished);
        }
        match (event, self.kind) {
            (MediaEvent::VideoConfig(c), TrackKind::Video) => {
                if self.video.as_ref().is_some_and(|v| v != c) {
                    return Err(VodError::ConfigChanged { track: self.kind });
                }
                if self.video.is_none() {
                    let init = ferrocast_cmaf::init_segment(Some(c), None)?;
                    self.outputs.push_back(VodOutput::Init(init));
                    self.video = Some(c.clone());
                }
                Ok(())
            }
            (MediaEvent::AudioConfig(c), TrackKind::Audio) => {
                if self.audio.as_ref().is_some_and(|a| a != c) {
                    return Err(VodError::ConfigChanged { track: self.kind });
                }
                if self.audio.is_none() {
                    let init = ferrocast_cmaf::init_segment(None, Some(c))?;
                    self.outputs.push_back(VodOutput::Init(init));
                    self.audio = Some(c.clone());
                }
                Ok(())
            }
            (MediaEvent::Frame(f), kind) if f.kind == kind => self.on_frame(f),
            _ => Ok(()),
        }
    }

    fn on_frame(&mut self, frame: &Frame) -> Result<(), VodError> {
        match self.kind {
            TrackKind::Video => self.on_video(frame),
            TrackKind::Audio => self.on_audio(frame),
        }
    }

    fn on_video(&mut self, frame: &Frame) -> Result<(), VodError> {
        if self.video.is_none() {
            return Err(VodError::NoConfig { track: self.kind });
        }
        let Some(last) = self.open.last() else {
            if self.summary.is_empty() && !frame.keyframe {
                // Pictures before the first keyframe cannot be decoded.
                return Ok(());
            }
            return self.push_video(frame);
        };
        // Timestamps must increase; a repeated or earlier one is moved just after the last.
        let dts = frame.dts.max(last.dts_ms + 1);
        let first = &self.open[0];
        let length = dts - first.dts_ms;
        if frame.keyframe && length >= self.target_ms - KEYFRAME_TOLERANCE_MS {
            self.close(Some(ms_to_ticks(dts)))?;
        } else if length > MAX_SEGMENT_MS {
            return Err(VodError::NoKeyframe {
                at_ms: first.dts_ms,
            });
        }
        let mut frame = frame.clone();
        frame.dts = dts;
        self.push_video(&frame)
    }

    fn push_video(&mut self, frame: &Frame) -> Result<(), VodError> {
        let cts = i64::from(frame.cts).saturating_mul(TICKS_PER_MS as i64);
        let decode = ms_to_ticks(frame.dts);
        self.first_decode.get_or_insert(decode);
        self.frames += 1;
        self.last_decode = decode;
        self.push(Pending {
            dts_ms: frame.dts,
            decode,
            cts_ticks: i32::try_from(cts).unwrap_or(0),
            keyframe: frame.keyframe,
            data: frame.data.clone(),
        })
    }

    fn on_audio(&mut self, frame: &Frame) -> Result<(), VodError> {
        let Some(config) = &self.audio else {
            return Err(VodError::NoConfig { track: self.kind });
        };
        let rate = i64::from(config.sample_rate.max(1));
        let per_frame = u64::from(config.samples_per_frame.max(1));
        let dts = frame.dts.max(0);
        let from_timestamp = u64::try_from(dts.saturating_mul(rate) / 1000).unwrap_or(0);
        let decode = match self.next_audio_decode {
            Some(counted) => {
                let drift_ms = (from_timestamp as i64 - counted as i64) * 1000 / rate;
                if drift_ms.abs() > AUDIO_RESYNC_MS {
                    from_timestamp.max(self.open.last().map_or(0, |p| p.decode + 1))
                } else {
                    counted
                }
            }
            None => from_timestamp,
        };
        self.next_audio_decode = Some(decode + per_frame);
        let time_ms = i64::try_from(decode.saturating_mul(1000) / rate as u64).unwrap_or(i64::MAX);
        if !self.open.is_empty() && time_ms >= self.next_cut_ms {
            self.close(Some(decode))?;
        }
        while time_ms >= self.next_cut_ms {
            self.next_cut_ms += self.target_ms;
        }
        self.push(Pending {
            dts_ms: dts,
            decode,
            cts_ticks: 0,
            keyframe: true,
            data: frame.data.clone(),
        })
    }

    fn push(&mut self, pending: Pending) -> Result<(), VodError> {
        self.open_bytes += pending.data.len();
        self.open.push(pending);
        if self.open_bytes > MAX_SEGMENT_BYTES {
            return Err(VodError::SegmentTooLarge {
                bytes: self.open_bytes,
            });
        }
        Ok(())
    }

    /// Closes the open segment; `end` is the next sample's decode time (`None` at the end of the
    /// file: the last sample lasts the mean frame interval, or one AAC frame).
    fn close(&mut self, end: Option<u64>) -> Result<(), VodError> {
        if self.open.is_empty() {
            return Ok(());
        }
        let last_duration = match self.kind {
            // The mean frame interval: millisecond timestamps make single intervals jitter.
            TrackKind::Video => match self.first_decode {
                Some(first) if self.frames > 1 => {
                    ((self.last_decode - first) / (self.frames - 1)).max(1)
                }
                _ => ms_to_ticks(DEFAULT_FRAME_MS),
            },
            TrackKind::Audio => u64::from(
                self.audio
                    .as_ref()
                    .map_or(1024, |a| a.samples_per_frame.max(1)),
            ),
        };
        let open = std::mem::take(&mut self.open);
        self.open_bytes = 0;
        let start = open[0].decode;
        let mut samples = Vec::with_capacity(open.len());
        for (i, p) in open.iter().enumerate() {
            let next = open.get(i + 1).map(|n| n.decode).or(end);
            let duration = match next {
                Some(n) => n.saturating_sub(p.decode).max(1),
                None => last_duration,
            };
            samples.push(Sample {
                duration: u32::try_from(duration).unwrap_or(u32::MAX),
                composition_offset: p.cts_ticks,
                keyframe: p.keyframe,
                data: p.data.clone(),
            });
        }
        let track_id = match self.kind {
            TrackKind::Video => VIDEO_TRACK_ID,
            TrackKind::Audio => AUDIO_TRACK_ID,
        };
        let run = TrackRun {
            track_id,
            base_decode_time: start,
            samples: &samples,
        };
        let bytes = ferrocast_cmaf::fragment(self.sequence, &[run])?;
        self.sequence = self.sequence.wrapping_add(1);
        let info = SegmentInfo {
            start,
            duration: samples.iter().map(|s| u64::from(s.duration)).sum(),
            bytes: bytes.len() as u64,
        };
        self.summary.push(info);
        self.outputs.push_back(VodOutput::Segment(VodSegment {
            number: self.number,
            bytes,
            info,
        }));
        self.number += 1;
        Ok(())
    }

    /// The file ended: closes the last segment. Fails when the track had no configuration or no
    /// sample at all.
    pub fn finish(&mut self) -> Result<(), VodError> {
        if self.finished {
            return Ok(());
        }
        self.close(None)?;
        self.finished = true;
        if self.summary.is_empty() {
            return Err(if self.video.is_none() && self.audio.is_none() {
                VodError::NoConfig { track: self.kind }
            } else {
                VodError::Empty { track: self.kind }
            });
        }
        Ok(())
    }

    /// The next output, in order; call until `None` after every input.
    pub fn poll_output(&mut self) -> Option<VodOutput> {
        self.outputs.pop_front()
    }

    /// The track as packaged so far (all of it after [`finish`](Self::finish)); `None` before its
    /// configuration is known.
    pub fn summary(&self) -> Option<TrackSummary> {
        let segments = self.summary.clone();
        match self.kind {
            TrackKind::Video => self.video.as_ref().map(|v| TrackSummary {
                codec: v.codec_string.clone(),
                timescale: VIDEO_TIMESCALE,
                width: Some(v.width),
                height: Some(v.height),
                sample_rate: None,
                channels: None,
                segments,
            }),
            TrackKind::Audio => self.audio.as_ref().map(|a| TrackSummary {
                codec: a.codec_string.clone(),
                timescale: a.sample_rate.max(1),
                width: None,
                height: None,
                sample_rate: Some(a.sample_rate),
                channels: Some(u32::from(a.channels)),
                segments,
            }),
        }
    }
}

fn ms_to_ticks(ms: i64) -> u64 {
    u64::try_from(ms.max(0))
        .unwrap_or(0)
        .saturating_mul(TICKS_PER_MS)
}
