//! The rules [`validate_media_playlist`](super::validate_media_playlist) can find broken.

/// One broken rule, with where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The text is longer than [`MAX_PLAYLIST_BYTES`](super::MAX_PLAYLIST_BYTES); nothing else is
    /// checked.
    #[error("the playlist is {len} bytes long, over the {max} read")]
    TooLarge {
        /// Length of the text in bytes.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A line that cannot be read as the tag it names.
    #[error("line {line}: {what}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The first line is not `#EXTM3U`.
    #[error("the first line is not #EXTM3U")]
    MissingHeader,
    /// A playlist tag that may appear only once appears again.
    #[error("line {line}: {tag} appears more than once")]
    DuplicateTag {
        /// 1-based line number of the repetition.
        line: usize,
        /// The repeated tag.
        tag: &'static str,
    },
    /// No `EXT-X-TARGETDURATION`.
    #[error("EXT-X-TARGETDURATION is missing")]
    MissingTargetDuration,
    /// `EXT-X-TARGETDURATION:0`; it must be at least 1.
    #[error("EXT-X-TARGETDURATION is 0")]
    ZeroTargetDuration,
    /// No `EXT-X-MEDIA-SEQUENCE`.
    #[error("EXT-X-MEDIA-SEQUENCE is missing")]
    MissingMediaSequence,
    /// `EXT-X-VERSION` (1 when absent) is below what the tags used require.
    #[error("EXT-X-VERSION {declared} is below the {required} the tags used require")]
    VersionTooLow {
        /// The declared version.
        declared: u64,
        /// The version the tags need.
        required: u64,
    },
    /// An `EXTINF` rounds to more than the target duration.
    #[error("segment {msn}: EXTINF {duration} exceeds EXT-X-TARGETDURATION {target_duration}")]
    SegmentTooLong {
        /// Media Sequence Number of the segment.
        msn: u64,
        /// Its `EXTINF`.
        duration: f64,
        /// The playlist's target duration.
        target_duration: u64,
    },
    /// `EXT-X-PART` without `EXT-X-PART-INF`.
    #[error("EXT-X-PART without EXT-X-PART-INF")]
    PartWithoutPartInf,
    /// A part longer than `PART-TARGET`.
    #[error(
        "part {index} of segment {msn}: DURATION {duration} exceeds PART-TARGET {part_target}"
    )]
    PartTooLong {
        /// Media Sequence Number of the parent segment.
        msn: u64,
        /// Part Index within the parent.
        index: usize,
        /// The part's `DURATION`.
        duration: f64,
        /// The playlist's `PART-TARGET`.
        part_target: f64,
    },
    /// A part shorter than 85% of `PART-TARGET` that none of the exceptions covers.
    #[error("part {index} of segment {msn}: DURATION {duration} is under 85% of PART-TARGET {part_target}")]
    PartTooShort {
        /// Media Sequence Number of the parent segment.
        msn: u64,
        /// Part Index within the parent.
        index: usize,
        /// The part's `DURATION`.
        duration: f64,
        /// The playlist's `PART-TARGET`.
        part_target: f64,
    },
    /// `EXT-X-PART-INF` without `PART-HOLD-BACK`.
    #[error("EXT-X-PART-INF without PART-HOLD-BACK")]
    MissingPartHoldBack,
    /// `PART-HOLD-BACK` under three `PART-TARGET`s.
    #[error("PART-HOLD-BACK {part_hold_back} is under three PART-TARGETs of {part_target}")]
    PartHoldBackTooSmall {
        /// The `PART-HOLD-BACK`.
        part_hold_back: f64,
        /// The `PART-TARGET`.
        part_target: f64,
    },
    /// `EXT-X-PART-INF` without `CAN-BLOCK-RELOAD=YES`.
    #[error("EXT-X-PART-INF without CAN-BLOCK-RELOAD=YES")]
    MissingBlockingReload,
    /// `HOLD-BACK` under three target durations.
    #[error("HOLD-BACK {hold_back} is under three target durations of {target_duration}")]
    HoldBackTooSmall {
        /// The `HOLD-BACK`.
        hold_back: f64,
        /// The target duration.
        target_duration: u64,
    },
    /// `CAN-SKIP-UNTIL` under six target durations.
    #[error("CAN-SKIP-UNTIL {can_skip_until} is under six target durations of {target_duration}")]
    SkipBoundaryTooSmall {
        /// The `CAN-SKIP-UNTIL`.
        can_skip_until: f64,
        /// The target duration.
        target_duration: u64,
    },
    /// `CAN-SKIP-DATERANGES=YES` without `CAN-SKIP-UNTIL`.
    #[error("CAN-SKIP-DATERANGES without CAN-SKIP-UNTIL")]
    SkipDaterangesWithoutSkipUntil,
    /// `EXT-X-PRELOAD-HINT` without `EXT-X-PART-INF`.
    #[error("EXT-X-PRELOAD-HINT without EXT-X-PART-INF")]
    PreloadHintWithoutPartInf,
    /// `EXT-X-PRELOAD-HINT` in a playlist with `EXT-X-ENDLIST`.
    #[error("EXT-X-PRELOAD-HINT in a playlist with EXT-X-ENDLIST")]
    PreloadHintWithEndList,
    /// `EXT-X-SKIP` without `CAN-SKIP-UNTIL`.
    #[error("EXT-X-SKIP without CAN-SKIP-UNTIL")]
    SkipWithoutCanSkipUntil,
    /// `EXT-X-SKIP` in a playlist with `EXT-X-ENDLIST`.
    #[error("EXT-X-SKIP in a playlist with EXT-X-ENDLIST")]
    SkipWithEndList,
    /// `EXT-X-SKIP` after a media segment tag or URI.
    #[error("line {line}: EXT-X-SKIP after the first media segment tag")]
    SkipMisplaced {
        /// 1-based line number of the `EXT-X-SKIP`.
        line: usize,
    },
    /// A delta update keeps fewer seconds of segments than the Skip Boundary.
    #[error(
        "the delta update keeps {remaining} s of segments, under CAN-SKIP-UNTIL {can_skip_until}"
    )]
    SkippedTooMany {
        /// Total `EXTINF` of the segments written.
        remaining: f64,
        /// The `CAN-SKIP-UNTIL`.
        can_skip_until: f64,
    },
    /// A delta update skips a segment the playlist it is applied to does not hold.
    #[error("the delta update skips segment {msn}, which the previous playlist lacks")]
    DeltaNotApplicable {
        /// Media Sequence Number of the missing segment.
        msn: u64,
    },
    /// `EXT-X-TARGETDURATION` differs between two versions of a playlist.
    #[error("EXT-X-TARGETDURATION changed from {previous} to {next}")]
    TargetDurationChanged {
        /// The earlier value.
        previous: u64,
        /// The later value.
        next: u64,
    },
    /// `PART-TARGET` differs (or appears or disappears) between two versions of a playlist.
    #[error("PART-TARGET changed from {previous:?} to {next:?}")]
    PartTargetChanged {
        /// The earlier value.
        previous: Option<f64>,
        /// The later value.
        next: Option<f64>,
    },
}
