//! One rung's way back: ffmpeg's FLV from a Unix socket, demuxed into media events, cut by a
//! follower segmenter at the source's boundaries, pushed into the rung's window.

use crate::clock::unix_ms;
use crate::live::{Output, Rendition};
use bytes::{Buf, BytesMut};
use ferrocast_flv::{FlvTag, TagDemuxer, TagType, DEFAULT_MAX_TAG_SIZE};
use ferrocast_packager::{Boundary, LiveSegmenter, SegmenterConfig, SegmenterOutput};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tracing::{debug, warn};

/// How long ffmpeg may take to connect to a rung's socket (it probes its input first).
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(20);
/// FLV file header (9 bytes for version 1; a longer DataOffset is skipped, up to this much).
const FILE_HEADER_LEN: usize = 9;
const MAX_DATA_OFFSET: usize = 64;
/// Tag header, and the `PreviousTagSize` after each tag (and after the file header).
const TAG_HEADER_LEN: usize = 11;
const PREVIOUS_TAG_SIZE_LEN: usize = 4;

/// Splits an FLV byte stream into tags as it arrives.
#[derive(Debug, Default)]
pub struct FlvStream {
    buf: BytesMut,
    header_done: bool,
}

/// Why an FLV stream cannot be read further.
#[derive(Debug, thiserror::Error)]
pub enum FlvStreamError {
    /// The stream does not start with an FLV header.
    #[error("not an FLV stream")]
    NotFlv,
    /// A tag larger than we accept.
    #[error("tag of {0} bytes is over the cap")]
    TooLarge(u32),
}

impl FlvStream {
    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete tag, if one is buffered.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvStreamError> {
        if !self.header_done {
            let Some(header) = self.buf.get(..FILE_HEADER_LEN) else {
                return Ok(None);
            };
            if &header[..3] != b"FLV" {
                return Err(FlvStreamError::NotFlv);
            }
            let offset = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
            if !(FILE_HEADER_LEN..=MAX_DATA_OFFSET).contains(&offset) {
                return Err(FlvStreamError::NotFlv);
            }
            let skip = offset + PREVIOUS_TAG_SIZE_LEN;
            if self.buf.len() < skip {
                return Ok(None);
            }
            self.buf.advance(skip);
            self.header_done = true;
        }
        let Some(header) = self.buf.get(..TAG_HEADER_LEN) else {
            return Ok(None);
        };
        let size = u32::from_be_bytes([0, header[1], header[2], header[3]]);
        if size > DEFAULT_MAX_TAG_SIZE {
            return Err(FlvStreamError::TooLarge(size));
        }
        let total = TAG_HEADER_LEN + size as usize + PREVIOUS_TAG_SIZE_LEN;
        if self.buf.len() < total {
            return Ok(None);
        }
        let mut tag = self.buf.split_to(total).freeze();
        let kind = TagType(tag[0] & 0x1f);
        let filtered = tag[0] & 0x20 != 0;
        let timestamp = u32::from_be_bytes([tag[7], tag[4], tag[5], tag[6]]);
        let stream_id = u32::from_be_bytes([0, tag[8], tag[9], tag[10]]);
        tag.advance(TAG_HEADER_LEN);
        let body = tag.slice(..size as usize);
        Ok(Some(FlvTag {
            kind,
            filtered,
            timestamp,
            stream_id,
            body,
        }))
    }
}

/// What one rung task needs.
pub struct RungTask {
    /// Channel name, for logs.
    pub channel: String,
    /// The broadcast.
    pub output: Arc<Output>,
    /// The rung's rendition.
    pub rendition: Arc<Rendition>,
    /// Listener ffmpeg connects to.
    pub listener: UnixListener,
    /// Its path, removed once connected (or given up).
    pub path: PathBuf,
    /// The source segmenter's recent boundaries (pushed first) and those that follow.
    pub boundaries: (Vec<Boundary>, broadcast::Receiver<Boundary>),
    /// Subtracted from the source's timestamps when they were fed to ffmpeg.
    pub offset_ms: i64,
    /// The follower's configuration (same part target as the source).
    pub segmenter: SegmenterConfig,
}

impl RungTask {
    /// Accepts ffmpeg's connection and packages what it sends until it closes.
    pub async fn run(mut self) {
        let name = self.rendition.name.clone();
        let accepted = tokio::time::timeout(ACCEPT_TIMEOUT, self.listener.accept()).await;
        let _ = std::fs::remove_file(&self.path);
        let mut stream = match accepted {
            Ok(Ok((stream, _))) => stream,
            Ok(Err(error)) => {
                warn!(channel = %self.channel, rendition = %name, %error, "rung accept failed");
                return;
            }
            Err(_) => {
                warn!(channel = %self.channel, rendition = %name, "ffmpeg never connected");
                return;
            }
        };
        debug!(channel = %self.channel, rendition = %name, "rung connected");
        let mut follower = LiveSegmenter::follower(self.segmenter.clone());
        // Cuts made since the keyframe ffmpeg started from.
        for boundary in std::mem::take(&mut self.boundaries.0) {
            if boundary.at_pts_ms >= self.offset_ms {
                self.push_boundary(&mut follower, boundary);
            }
        }
        let mut demux = TagDemuxer::new();
        let mut flv = FlvStream::default();
        let mut buf = vec![0u8; 64 * 1024];
        let mut boundaries_open = true;
        loop {
            tokio::select! {
                biased;
                b = self.boundaries.1.recv(), if boundaries_open => match b {
                    Ok(boundary) => {
                        self.push_boundary(&mut follower, boundary);
                        self.drain(&mut follower);
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(channel = %self.channel, rendition = %name, missed = n, "rung missed boundaries");
                    }
                    Err(broadcast::error::RecvError::Closed) => boundaries_open = false,
                },
                read = stream.read(&mut buf) => {
                    let n = match read {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(error) => {
                            warn!(channel = %self.channel, rendition = %name, %error, "rung read failed");
                            break;
                        }
                    };
                    flv.extend(&buf[..n]);
                    loop {
                        let tag = match flv.next_tag() {
                            Ok(Some(tag)) => tag,
                            Ok(None) => break,
                            Err(error) => {
                                warn!(channel = %self.channel, rendition = %name, %error, "rung stream unreadable");
                                follower.finish(unix_ms());
                                self.drain(&mut follower);
                                return;
                            }
                        };
                        // Script tags (onMetaData) yield nothing.
                        match demux.tag(&tag) {
                            Ok(Some(event)) => {
                                if let Err(error) = follower.handle_event(unix_ms(), &event) {
                                    warn!(channel = %self.channel, rendition = %name, %error, "rung packager dropped input");
                                }
                                self.drain(&mut follower);
                            }
                            Ok(None) => {}
                            Err(error) => {
                                debug!(channel = %self.channel, rendition = %name, %error, "rung tag skipped");
                            }
                        }
                    }
                }
            }
        }
        follower.finish(unix_ms());
        self.drain(&mut follower);
        debug!(channel = %self.channel, rendition = %name, "rung stream ended");
    }

    /// Gives the follower a cut of the source, on the timeline ffmpeg was fed.
    fn push_boundary(&self, follower: &mut LiveSegmenter, mut boundary: Boundary) {
        boundary.at_pts_ms -= self.offset_ms;
        if let Err(error) = follower.push_boundary(boundary) {
            warn!(channel = %self.channel, rendition = %self.rendition.name, %error, "boundary refused");
        }
    }

    fn drain(&self, follower: &mut LiveSegmenter) {
        let r = &self.rendition;
        while let Some(out) = follower.poll_output() {
            match out {
                SegmenterOutput::Init(init) => self.output.push_init_to(r, init),
                SegmenterOutput::Part(part) => {
                    self.output.push_part_to(r, part);
                }
                SegmenterOutput::Segment(seg) => {
                    let msn = seg.msn;
                    if self.output.push_segment_to(r, msn, seg).is_none() {
                        debug!(channel = %self.channel, rendition = %r.name, msn, "rung segment number taken");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ferrocast_flv::FlvWriter;
    use ferrocast_media::{AudioConfig, MediaEvent};

    #[test]
    fn tags_come_out_however_the_bytes_are_split() {
        let asc = Bytes::from_static(&[0x11, 0x90]);
        let config = ferrocast_flv::parse_audio_specific_config(asc).unwrap();
        let mut w = FlvWriter::new(false, true);
        let mut out = BytesMut::new();
        out.extend_from_slice(&w.header());
        w.write_event(&MediaEvent::AudioConfig(config.clone()), &mut out)
            .unwrap();
        let frame = ferrocast_media::Frame {
            kind: ferrocast_media::TrackKind::Audio,
            dts: 70_000,
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(&[1, 2, 3]),
        };
        w.write_event(&MediaEvent::Frame(frame), &mut out).unwrap();
        let bytes = out.freeze();
        for step in [1, 3, 7, bytes.len()] {
            let mut s = FlvStream::default();
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
        let mut bad = FlvStream::default();
        bad.extend(b"GIF89a...........");
        assert!(matches!(bad.next_tag(), Err(FlvStreamError::NotFlv)));
    }

    #[test]
    fn bad_headers_and_oversized_tags_are_refused() {
        let stream = |bytes: &[u8]| {
            let mut s = FlvStream::default();
            s.extend(bytes);
            s.next_tag()
        };
        // DataOffset below the header's own size, or far beyond any known header.
        assert!(matches!(
            stream(b"FLV\x01\x05\0\0\0\x08\0\0\0\0"),
            Err(FlvStreamError::NotFlv)
        ));
        assert!(matches!(
            stream(b"FLV\x01\x05\0\0\x01\0"),
            Err(FlvStreamError::NotFlv)
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
            Err(FlvStreamError::TooLarge(s)) if s == size
        ));
    }
}
