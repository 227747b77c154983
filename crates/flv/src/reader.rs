//! FLV files (FLV 10.1 Annex E.2–E.3): the header, then `PreviousTagSize` + tag, repeated.

use std::fmt;

use bytes::Bytes;

use crate::FlvError;

/// Largest tag body [`FlvReader`] accepts unless told otherwise (8 MiB; the format's own limit is
/// 16 MiB - 1).
pub const DEFAULT_MAX_TAG_SIZE: u32 = 8 << 20;

/// Size of the FLV file header (version 1).
pub(crate) const FILE_HEADER_LEN: usize = 9;
/// Size of a tag header.
pub(crate) const TAG_HEADER_LEN: usize = 11;
/// Size of a `PreviousTagSize` field.
pub(crate) const PREVIOUS_TAG_SIZE_LEN: usize = 4;

/// What the file header says.
pub(crate) struct FileHeader {
    /// Where the first `PreviousTagSize` starts.
    pub(crate) data_offset: usize,
    pub(crate) has_audio: bool,
    pub(crate) has_video: bool,
}

/// Checks the 9-byte file header at the start of `data`.
pub(crate) fn parse_file_header(data: &[u8]) -> Result<FileHeader, FlvError> {
    let Some(&[f, l, v, version, flags, o0, o1, o2, o3]) = data.get(..FILE_HEADER_LEN) else {
        return Err(FlvError::InvalidFileHeader {
            reason: "shorter than 9 bytes",
        });
    };
    if [f, l, v] != *b"FLV" {
        return Err(FlvError::InvalidFileHeader {
            reason: "no FLV signature",
        });
    }
    if version != 1 {
        return Err(FlvError::InvalidFileHeader {
            reason: "version is not 1",
        });
    }
    let data_offset = usize::try_from(u32::from_be_bytes([o0, o1, o2, o3]))
        .ok()
        .filter(|&p| p >= FILE_HEADER_LEN)
        .ok_or(FlvError::InvalidFileHeader {
            reason: "DataOffset inside the header",
        })?;
    Ok(FileHeader {
        data_offset,
        has_audio: flags & 0b100 != 0,
        has_video: flags & 0b1 != 0,
    })
}

/// A tag header (11 bytes).
pub(crate) struct TagHeader {
    kind: TagType,
    filtered: bool,
    /// Body size in bytes (< 2^24).
    pub(crate) size: usize,
    timestamp: u32,
    stream_id: u32,
}

impl TagHeader {
    /// Parses the header at stream offset `offset`, refusing a body over `max_size`.
    pub(crate) fn parse(head: &[u8], offset: u64, max_size: u32) -> Result<Self, FlvError> {
        let &[b0, s0, s1, s2, t0, t1, t2, t3, i0, i1, i2] = head else {
            return Err(FlvError::TruncatedFile {
                offset,
                needed: TAG_HEADER_LEN as u64,
                available: head.len() as u64,
            });
        };
        let size = u32::from_be_bytes([0, s0, s1, s2]);
        if size > max_size {
            return Err(FlvError::TagTooLarge {
                offset,
                size,
                max: max_size,
            });
        }
        Ok(Self {
            kind: TagType(b0 & 0x1f),
            filtered: b0 & 0x20 != 0,
            size: size as usize,
            timestamp: u32::from_be_bytes([t3, t0, t1, t2]),
            stream_id: u32::from_be_bytes([0, i0, i1, i2]),
        })
    }

    /// The tag with its body.
    pub(crate) fn tag(self, body: Bytes) -> FlvTag {
        FlvTag {
            kind: self.kind,
            filtered: self.filtered,
            timestamp: self.timestamp,
            stream_id: self.stream_id,
            body,
        }
    }
}

/// FLV TagType (5 bits), kept open so unknown types pass through.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagType(pub u8);

impl TagType {
    /// Audio data (AUDIODATA).
    pub const AUDIO: Self = Self(8);
    /// Video data (VIDEODATA).
    pub const VIDEO: Self = Self(9);
    /// Script data (SCRIPTDATA, e.g. `onMetaData`).
    pub const SCRIPT: Self = Self(18);
}

impl fmt::Debug for TagType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::AUDIO => f.write_str("Audio"),
            Self::VIDEO => f.write_str("Video"),
            Self::SCRIPT => f.write_str("Script"),
            Self(other) => write!(f, "TagType({other})"),
        }
    }
}

/// One tag of an FLV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// The tag type.
    pub kind: TagType,
    /// Whether the Filter bit (encrypted/pre-processed body) is set.
    pub filtered: bool,
    /// Timestamp in ms: the 24-bit field with TimestampExtended as its upper 8 bits.
    pub timestamp: u32,
    /// StreamID (always 0 in conforming files).
    pub stream_id: u32,
    /// The tag body, sharing the reader's input.
    pub body: Bytes,
}

/// Reads the tags of an FLV file held in memory; an [`Iterator`] that stops after the first error.
///
/// A file that ends exactly after a tag, with or without its trailing `PreviousTagSize`, ends
/// cleanly; one that ends inside a tag header or body yields [`FlvError::TruncatedFile`].
/// `PreviousTagSize` values are not checked, as many writers get them wrong.
#[derive(Debug, Clone)]
pub struct FlvReader {
    data: Bytes,
    /// Offset of the next `PreviousTagSize` field.
    pos: usize,
    has_audio: bool,
    has_video: bool,
    max_tag_size: u32,
    done: bool,
}

impl FlvReader {
    /// Checks the file header and positions the reader at the first tag.
    pub fn new(data: impl Into<Bytes>) -> Result<Self, FlvError> {
        let data = data.into();
        let header = parse_file_header(&data)?;
        let pos = Some(header.data_offset)
            .filter(|&p| p <= data.len())
            .ok_or(FlvError::InvalidFileHeader {
                reason: "DataOffset outside the file",
            })?;
        Ok(Self {
            data,
            pos,
            has_audio: header.has_audio,
            has_video: header.has_video,
            max_tag_size: DEFAULT_MAX_TAG_SIZE,
            done: false,
        })
    }

    /// Sets the largest tag body accepted (tags over it yield [`FlvError::TagTooLarge`]).
    pub fn with_max_tag_size(mut self, max: u32) -> Self {
        self.max_tag_size = max;
        self
    }

    /// The header's TypeFlagsAudio.
    pub fn has_audio(&self) -> bool {
        self.has_audio
    }

    /// The header's TypeFlagsVideo.
    pub fn has_video(&self) -> bool {
        self.has_video
    }

    fn truncated(&self, offset: usize, needed: usize) -> FlvError {
        FlvError::TruncatedFile {
            offset: offset as u64,
            needed: needed as u64,
            available: self.data.len().saturating_sub(offset) as u64,
        }
    }

    fn read_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        let header_at = self.pos + PREVIOUS_TAG_SIZE_LEN;
        if header_at >= self.data.len() {
            // Clean end: nothing, or only the last PreviousTagSize (possibly cut short), is left.
            return Ok(None);
        }
        let Some(head) = self.data.get(header_at..header_at + TAG_HEADER_LEN) else {
            return Err(self.truncated(header_at, TAG_HEADER_LEN));
        };
        let head = TagHeader::parse(head, header_at as u64, self.max_tag_size)?;
        let body_at = header_at + TAG_HEADER_LEN;
        // size < 2^24, so this cannot overflow.
        let body_end = body_at + head.size;
        if body_end > self.data.len() {
            return Err(self.truncated(header_at, TAG_HEADER_LEN + head.size));
        }
        self.pos = body_end;
        Ok(Some(head.tag(self.data.slice(body_at..body_end))))
    }
}

impl Iterator for FlvReader {
    type Item = Result<FlvTag, FlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.read_tag().transpose();
        if !matches!(result, Some(Ok(_))) {
            self.done = true;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tags: &[(u8, u32, &[u8])]) -> Vec<u8> {
        let mut out = b"FLV\x01\x05\x00\x00\x00\x09".to_vec();
        let mut prev = 0u32;
        for &(kind, ts, body) in tags {
            out.extend(prev.to_be_bytes());
            out.push(kind);
            out.extend(&(body.len() as u32).to_be_bytes()[1..]);
            out.extend(&ts.to_be_bytes()[1..]);
            out.push((ts >> 24) as u8);
            out.extend([0, 0, 0]);
            out.extend(body);
            prev = 11 + body.len() as u32;
        }
        out.extend(prev.to_be_bytes());
        out
    }

    #[test]
    fn reads_tags_with_extended_timestamps() {
        let data = file(&[
            (9, 0, b"\x17\x00"),
            (8, 0x0123_4567, b"\xaf\x01xyz"),
            (18, 5, b""),
        ]);
        let reader = FlvReader::new(data).unwrap();
        assert!(reader.has_audio() && reader.has_video());
        let tags: Vec<FlvTag> = reader.map(Result::unwrap).collect();
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[0].kind, TagType::VIDEO);
        assert_eq!(&tags[0].body[..], b"\x17\x00");
        assert_eq!(tags[1].kind, TagType::AUDIO);
        assert_eq!(tags[1].timestamp, 0x0123_4567);
        assert_eq!(&tags[1].body[..], b"\xaf\x01xyz");
        assert_eq!((tags[2].kind, tags[2].body.len()), (TagType::SCRIPT, 0));
    }

    #[test]
    fn clean_end_without_last_previous_tag_size() {
        let mut data = file(&[(9, 0, b"ab")]);
        data.truncate(data.len() - 4);
        assert_eq!(FlvReader::new(data.clone()).unwrap().count(), 1);
        data.truncate(data.len() - 1);
        let mut r = FlvReader::new(data).unwrap();
        assert_eq!(
            r.next(),
            Some(Err(FlvError::TruncatedFile {
                offset: 13,
                needed: 13,
                available: 12
            }))
        );
        assert_eq!(r.next(), None);
    }

    #[test]
    fn header_errors() {
        let err = |d: &'static [u8]| FlvReader::new(Bytes::from_static(d)).unwrap_err();
        assert!(matches!(err(b"FLV"), FlvError::InvalidFileHeader { .. }));
        assert!(matches!(
            err(b"FLX\x01\x05\0\0\0\x09"),
            FlvError::InvalidFileHeader { .. }
        ));
        assert!(matches!(
            err(b"FLV\x02\x05\0\0\0\x09"),
            FlvError::InvalidFileHeader { .. }
        ));
        assert!(matches!(
            err(b"FLV\x01\x05\0\0\0\x08"),
            FlvError::InvalidFileHeader { .. }
        ));
        assert!(matches!(
            err(b"FLV\x01\x05\xff\0\0\x09"),
            FlvError::InvalidFileHeader { .. }
        ));
    }

    #[test]
    fn tag_size_cap() {
        let data = file(&[(9, 0, &[0u8; 100])]);
        let mut r = FlvReader::new(data).unwrap().with_max_tag_size(99);
        assert_eq!(
            r.next(),
            Some(Err(FlvError::TagTooLarge {
                offset: 13,
                size: 100,
                max: 99
            }))
        );
        assert_eq!(r.next(), None);
    }
}
