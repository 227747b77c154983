//! FLV arriving in pieces (ffmpeg's output over a socket): the same checks as [`FlvReader`],
//! on input that is fed as it is received.
//!
//! [`FlvReader`]: crate::FlvReader

use crate::reader::{
    parse_file_header, TagHeader, FILE_HEADER_LEN, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_LEN,
};
use crate::{FlvError, FlvTag, DEFAULT_MAX_TAG_SIZE};
use bytes::{Buf, BytesMut};

/// Largest DataOffset accepted in a stream: a longer header would have to be buffered whole, and
/// no writer uses more than the 9 bytes of version 1.
pub const MAX_STREAM_DATA_OFFSET: usize = 64;

/// Splits an FLV byte stream into tags as it arrives. It buffers at most one tag (bounded by the
/// maximum tag size) plus what was fed after it.
#[derive(Debug)]
pub struct FlvStreamReader {
    buf: BytesMut,
    header_done: bool,
    /// Bytes consumed so far, for error offsets.
    consumed: u64,
    max_tag_size: u32,
}

impl Default for FlvStreamReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvStreamReader {
    /// A reader expecting the file header first.
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            header_done: false,
            consumed: 0,
            max_tag_size: DEFAULT_MAX_TAG_SIZE,
        }
    }

    /// Sets the largest tag body accepted (tags over it yield [`FlvError::TagTooLarge`]).
    pub fn with_max_tag_size(mut self, max: u32) -> Self {
        self.max_tag_size = max;
        self
    }

    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.consumed += n as u64;
    }

    /// The next complete tag, `None` until more bytes arrive. After an error the stream cannot
    /// be read further.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        if !self.header_done {
            if self.buf.len() < FILE_HEADER_LEN {
                return Ok(None);
            }
            let header = parse_file_header(&self.buf)?;
            if header.data_offset > MAX_STREAM_DATA_OFFSET {
                return Err(FlvError::InvalidFileHeader {
                    reason: "DataOffset beyond any known header",
                });
            }
            let skip = header.data_offset + PREVIOUS_TAG_SIZE_LEN;
            if self.buf.len() < skip {
                return Ok(None);
            }
            self.consume(skip);
            self.header_done = true;
        }
        let Some(head) = self.buf.get(..TAG_HEADER_LEN) else {
            return Ok(None);
        };
        // Checked from the header, before the body is buffered.
        let head = TagHeader::parse(head, self.consumed, self.max_tag_size)?;
        let total = TAG_HEADER_LEN + head.size + PREVIOUS_TAG_SIZE_LEN;
        if self.buf.len() < total {
            return Ok(None);
        }
        let mut tag = self.buf.split_to(total).freeze();
        self.consumed += total as u64;
        tag.advance(TAG_HEADER_LEN);
        let body = tag.slice(..head.size);
        Ok(Some(head.tag(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlvWriter, TagDemuxer};
    use bytes::Bytes;
    use ferrocast_media::{AudioConfig, Frame, MediaEvent, TrackKind};

    #[test]
    fn tags_come_out_however_the_bytes_are_split() {
        let asc = Bytes::from_static(&[0x11, 0x90]);
        let config = crate::parse_audio_specific_config(asc).unwrap();
        let mut w = FlvWriter::new(false, true);
        let mut out = BytesMut::new();
        out.extend_from_slice(&w.header());
        w.write_event(&MediaEvent::AudioConfig(config.clone()), &mut out)
            .unwrap();
        let frame = Frame {
            kind: TrackKind::Audio,
            dts: 70_000,
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(&[1, 2, 3]),
        };
        w.write_event(&MediaEvent::Frame(frame), &mut out).unwrap();
        let bytes = out.freeze();
        for step in [1, 3, 7, bytes.len()] {
            let mut s = FlvStreamReader::new();
            let mut tags = Vec::new();
            for chunk in bytes.chunks(step) {
                s.extend(chunk);
                while let Some(t) = s.next_tag().unwrap() {
                    tags.push(t);
                }
            }
            assert_eq!(tags.len(), 2, "step {step}");
            assert_eq!(tags[1].timestamp, 70_000);
            assert_eq!(&tags[1].body[2..], &[1, 2, 3]);
            let mut d = TagDemuxer::new();
            assert!(matches!(
                d.tag(&tags[0]),
                Ok(Some(MediaEvent::AudioConfig(AudioConfig { .. })))
            ));
        }
        let mut bad = FlvStreamReader::new();
        bad.extend(b"GIF89a...........");
        assert!(matches!(
            bad.next_tag(),
            Err(FlvError::InvalidFileHeader { .. })
        ));
    }

    #[test]
    fn bad_headers_and_oversized_tags_are_refused() {
        let stream = |bytes: &[u8]| {
            let mut s = FlvStreamReader::new();
            s.extend(bytes);
            s.next_tag()
        };
        // DataOffset below the header's own size, or far beyond any known header.
        assert!(matches!(
            stream(b"FLV\x01\x05\0\0\0\x08\0\0\0\0"),
            Err(FlvError::InvalidFileHeader { .. })
        ));
        assert!(matches!(
            stream(b"FLV\x01\x05\0\0\x01\0"),
            Err(FlvError::InvalidFileHeader { .. })
        ));
        // Incomplete input is not an error: more may come.
        assert!(matches!(stream(b"FLV\x01\x05\0\0"), Ok(None)));
        assert!(matches!(
            stream(b"FLV\x01\x05\0\0\0\x09\0\0\0\0\x09\0\0"),
            Ok(None)
        ));
        // A tag over the cap is refused from its header, before its body is buffered.
        let mut huge = b"FLV\x01\x05\0\0\0\x09\0\0\0\0".to_vec();
        let size = DEFAULT_MAX_TAG_SIZE + 1;
        huge.push(9);
        huge.extend_from_slice(&size.to_be_bytes()[1..]);
        huge.extend_from_slice(&[0; 7]);
        assert!(matches!(
            stream(&huge),
            Err(FlvError::TagTooLarge { size: s, offset: 13, .. }) if s == size
        ));
    }
}
