//! The one error type of this crate.

/// Why an init segment or fragment could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CmafError {
    /// `init_segment` was given neither a video nor an audio configuration.
    #[error("an init segment needs at least one track")]
    NoTracks,
    /// The video configuration cannot be written into a sample entry.
    #[error("video configuration cannot be written: {reason}")]
    InvalidVideoConfig {
        /// What was wrong.
        reason: &'static str,
    },
    /// The audio configuration cannot be written into a sample entry.
    #[error("audio configuration cannot be written: {reason}")]
    InvalidAudioConfig {
        /// What was wrong.
        reason: &'static str,
    },
    /// A fragment was asked for with no track runs.
    #[error("fragment {sequence_number} has no track runs")]
    NoTrackRuns {
        /// The fragment's sequence number.
        sequence_number: u32,
    },
    /// A track run has no samples; leave the track out of the fragment instead.
    #[error("fragment {sequence_number}: track {track_id} has no samples")]
    EmptyTrackRun {
        /// The fragment's sequence number.
        sequence_number: u32,
        /// The track of the empty run.
        track_id: u32,
    },
    /// Track id 0 is reserved (ISO/IEC 14496-12 §8.3.2.3).
    #[error("fragment {sequence_number}: track id 0 is reserved")]
    ZeroTrackId {
        /// The fragment's sequence number.
        sequence_number: u32,
    },
    /// A box or a data offset would not fit its 32-bit field.
    #[error("fragment {sequence_number}: {what} is {size} bytes, too large for a 32-bit field")]
    FragmentTooLarge {
        /// The fragment's sequence number.
        sequence_number: u32,
        /// Which size overflowed.
        what: &'static str,
        /// The size that did not fit.
        size: u64,
    },
}
