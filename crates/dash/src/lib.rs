//! Typed MPEG-DASH manifests (ISO/IEC 23009-1) for live CMAF, and their writer.
//!
//! The types describe a dynamic (live) or static MPD with the DASH-IF live profile: periods
//! (a publisher reconnecting starts a new one), adaptation sets (all video renditions in one, the
//! audio in another), representations, and a `SegmentTemplate` with a `SegmentTimeline` addressed
//! by `$Number$`, so the same CMAF segments the HLS playlists list are the DASH segments (the
//! media sequence number is the segment number). `UTCTiming` lets players sync their clock to the
//! server's, which live DASH players need to find the live edge.
//!
//! Rendering is infallible and never panics: text is XML-escaped, non-finite numbers are written
//! as zero.
#![forbid(unsafe_code)]

mod write;

pub use write::{format_duration, format_time};

/// `MPD@type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpdType {
    /// Live: the manifest changes; players reload it every `minimum_update_period`.
    Dynamic,
    /// On demand (an ended broadcast).
    Static,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Mpd {
    /// Live or on demand.
    pub kind: MpdType,
    /// `availabilityStartTime`: wall clock (unix ms) of media time zero of the first period.
    pub availability_start_ms: i64,
    /// `publishTime`: when this version of the manifest was made (unix ms).
    pub publish_ms: i64,
    /// `minimumUpdatePeriod` in seconds (dynamic only).
    pub minimum_update_period: f64,
    /// `timeShiftBufferDepth` in seconds: how far behind the live edge segments stay available.
    pub time_shift_buffer_depth: f64,
    /// `suggestedPresentationDelay` in seconds: how far behind the live edge players sit.
    pub suggested_presentation_delay: f64,
    /// `minBufferTime` in seconds.
    pub min_buffer_time: f64,
    /// `maxSegmentDuration` in seconds.
    pub max_segment_duration: f64,
    /// `mediaPresentationDuration` in seconds (static only).
    pub media_presentation_duration: Option<f64>,
    /// `UTCTiming` with `urn:mpeg:dash:utc:http-iso:2014` at this URL, if any.
    pub utc_timing_url: Option<String>,
    /// Periods, in order.
    pub periods: Vec<Period>,
}

/// One period: a continuous timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// `Period@id`.
    pub id: String,
    /// `Period@start` in seconds from `availabilityStartTime`.
    pub start: f64,
    /// The adaptation sets.
    pub adaptation_sets: Vec<AdaptationSet>,
}

/// Media kind of an adaptation set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// Video.
    Video,
    /// Audio.
    Audio,
}

/// A set of interchangeable representations (the ladder's video renditions, or the audio).
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptationSet {
    /// `AdaptationSet@id`.
    pub id: u32,
    /// Video or audio.
    pub content_type: ContentType,
    /// `lang`, if known.
    pub lang: Option<String>,
    /// The segment addressing shared by every representation of the set.
    pub template: SegmentTemplate,
    /// The representations, highest bandwidth first is customary but not required.
    pub representations: Vec<Representation>,
}

/// One encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Representation {
    /// `Representation@id`, substituted for `$RepresentationID$` in the templates.
    pub id: String,
    /// RFC 6381 codec string.
    pub codecs: String,
    /// Peak bits per second.
    pub bandwidth: u64,
    /// Width and height (video).
    pub resolution: Option<(u32, u32)>,
    /// Frames per second (video).
    pub frame_rate: Option<f64>,
    /// Sample rate (audio).
    pub audio_sampling_rate: Option<u32>,
    /// Channels (audio).
    pub audio_channels: Option<u32>,
}

/// `SegmentTemplate` with a `SegmentTimeline`, addressed by `$Number$`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentTemplate {
    /// Ticks per second of `t` and `d`.
    pub timescale: u32,
    /// `initialization` template, e.g. `$RepresentationID$/k3/init-0.mp4`.
    pub initialization: String,
    /// `media` template, e.g. `$RepresentationID$/k3/$Number$.m4s`.
    pub media: String,
    /// Number of the first segment of the timeline.
    pub start_number: u64,
    /// `presentationTimeOffset` in ticks: media time at the period's start.
    pub presentation_time_offset: u64,
    /// The segments: start time and duration in ticks; consecutive equal durations are written
    /// as one `S` with `r`.
    pub timeline: Vec<TimelineEntry>,
}

/// One segment of a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Start (decode) time in ticks.
    pub start: u64,
    /// Duration in ticks.
    pub duration: u64,
}

impl Mpd {
    /// Renders the manifest as XML.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024 + 256 * self.periods.len());
        write::mpd(self, &mut out);
        out
    }
}
