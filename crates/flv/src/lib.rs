//! FLV (Adobe FLV 10.1) tag payloads into media events. INTERFACE STUB: the owner fills it in.
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::todo, unused)]

use bytes::Bytes;
use ferrocast_media::{MediaEvent, StreamMetadata};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlvError {
    #[error("stub")]
    Stub,
}

/// Turns RTMP/FLV audio and video tag bodies into [`MediaEvent`]s: unwraps 32-bit ms timestamps,
/// parses sequence headers, strips FLV framing so frames carry only codec data.
#[derive(Debug, Default)]
pub struct TagDemuxer {}

impl TagDemuxer {
    pub fn new() -> Self {
        todo!()
    }
    /// An audio tag body (AUDIODATA) with its 32-bit wrapping ms timestamp.
    /// Returns None for tags that carry nothing for us (e.g. an AAC end of sequence).
    pub fn audio(&mut self, timestamp: u32, payload: Bytes) -> Result<Option<MediaEvent>, FlvError> {
        todo!()
    }
    /// A video tag body (VIDEODATA) with its 32-bit wrapping ms timestamp.
    pub fn video(&mut self, timestamp: u32, payload: Bytes) -> Result<Option<MediaEvent>, FlvError> {
        todo!()
    }
}

/// Reads the fields we use out of onMetaData properties.
pub fn parse_metadata(properties: &[(String, ferrocast_amf0::Value)]) -> StreamMetadata {
    todo!()
}
