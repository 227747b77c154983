//! An FLV file of ours (one rung, or the audio) fed as bytes into a [`VodSegmenter`].

use std::time::Duration;

use ferrocast_flv::{FlvStreamReader, TagDemuxer};
use ferrocast_media::TrackKind;

use crate::{TrackSummary, VodError, VodOutput, VodSegmenter};

/// Reads one track out of an FLV byte stream and segments it: feed the file in chunks of any
/// size with [`push_bytes`](Self::push_bytes), then [`finish`](Self::finish); drain
/// [`poll_output`](Self::poll_output) after each call. Memory stays at one tag plus the open
/// segment.
#[derive(Debug)]
pub struct FlvTrackPackager {
    reader: FlvStreamReader,
    demuxer: TagDemuxer,
    segmenter: VodSegmenter,
    offset: u64,
}

impl FlvTrackPackager {
    /// Packages the `kind` track of an FLV file into segments of about `target`.
    pub fn new(kind: TrackKind, target: Duration) -> Self {
        Self {
            reader: FlvStreamReader::new(),
            demuxer: TagDemuxer::new(),
            segmenter: VodSegmenter::new(kind, target),
            offset: 0,
        }
    }

    /// Feeds the next bytes of the file.
    pub fn push_bytes(&mut self, data: &[u8]) -> Result<(), VodError> {
        self.reader.extend(data);
        self.offset += data.len() as u64;
        while let Some(tag) = self.reader.next_tag()? {
            match self.demuxer.tag(&tag) {
                Ok(Some(event)) => self.segmenter.handle_event(&event)?,
                Ok(None) => {}
                // Our own intermediates hold H.264 and AAC only; anything else is a bad file.
                Err(error) => return Err(VodError::Flv(error)),
            }
        }
        Ok(())
    }

    /// The file ended: closes the last segment.
    pub fn finish(&mut self) -> Result<(), VodError> {
        self.segmenter.finish()
    }

    /// The next init or segment, in order.
    pub fn poll_output(&mut self) -> Option<VodOutput> {
        self.segmenter.poll_output()
    }

    /// The track as packaged so far.
    pub fn summary(&self) -> Option<TrackSummary> {
        self.segmenter.summary()
    }

    /// Bytes fed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }
}
