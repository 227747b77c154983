use thiserror::Error;

/// Why AMF0 bytes could not be decoded; offsets count from the start of the decoded input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Amf0Error {
    /// The input ended inside a value.
    #[error("AMF0 input ends at offset {offset}, {needed} more byte(s) needed")]
    UnexpectedEof {
        /// Where the missing bytes should have started.
        offset: usize,
        /// How many bytes the current field needed.
        needed: usize,
    },
    /// A type marker this decoder does not know (above 0x11).
    #[error("unknown AMF0 marker {marker:#04x} at offset {offset}")]
    UnknownMarker {
        /// The marker byte.
        marker: u8,
        /// Its position.
        offset: usize,
    },
    /// A known marker with no AMF0 value behind it (movie clip, record set, AVM+ switch).
    #[error("unsupported AMF0 marker {marker:#04x} at offset {offset}")]
    UnsupportedMarker {
        /// The marker byte.
        marker: u8,
        /// Its position.
        offset: usize,
    },
    /// An object-end marker where a value was expected.
    #[error("AMF0 object-end marker outside an object at offset {offset}")]
    UnexpectedObjectEnd {
        /// Its position.
        offset: usize,
    },
    /// Containers nest deeper than [`crate::Limits::max_depth`].
    #[error("AMF0 nesting deeper than {max} at offset {offset}")]
    DepthExceeded {
        /// The configured cap.
        max: usize,
        /// Where the container that crossed it starts.
        offset: usize,
    },
    /// A string, long string, XML document or property name longer than [`crate::Limits::max_string_len`].
    #[error("AMF0 string of {len} bytes at offset {offset} exceeds the cap of {max}")]
    StringTooLong {
        /// Declared length.
        len: usize,
        /// The configured cap.
        max: usize,
        /// Where the string starts.
        offset: usize,
    },
    /// A container with more entries than [`crate::Limits::max_entries`].
    #[error("AMF0 container at offset {offset} holds more than {max} entries")]
    TooManyEntries {
        /// The configured cap.
        max: usize,
        /// Where the offending entry or count is.
        offset: usize,
    },
}

impl Amf0Error {
    /// True when a configured cap tripped, which on a network connection means abuse, not a quirk.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Self::DepthExceeded { .. } | Self::StringTooLong { .. } | Self::TooManyEntries { .. }
        )
    }
}
