//! One rung's way back: ffmpeg's FLV from a Unix socket, demuxed into media events, cut by a
//! follower segmenter at the source's boundaries, pushed into the rung's window.

use crate::live::{Output, Rendition};
use bytes::{Buf, BytesMut};
use ferrocast_flv::{FlvTag, TagDemuxer, TagType, DEFAULT_MAX_TAG_SIZE};
use ferrocast_packager::{LiveSegmenter, SegmenterConfig, SegmenterOutput};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tracing::{debug, warn};

/// How long ffmpeg may take to connect to a rung's socket (it probes its input first).
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(20);

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

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
            if self.buf.len() < 9 {
                return Ok(None);
            }
            if &self.buf[..3] != b"FLV" {
                return Err(FlvStreamError::NotFlv);
            }
            let offset = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]);
            let skip = offset as usize + 4;
            if !(9..=64).contains(&(offset as usize)) {
                return Err(FlvStreamError::NotFlv);
            }
            if self.buf.len() < skip {
                return Ok(None);
            }
            self.buf.advance(skip);
            self.header_done = true;
        }
        if self.buf.len() < 11 {
            return Ok(None);
        }
        let size = u32::from_be_bytes([0, self.buf[1], self.buf[2], self.buf[3]]);
        if size > DEFAULT_MAX_TAG_SIZE {
            return Err(FlvStreamError::TooLarge(size));
        }
        let total = 11 + size as usize + 4;
        if self.buf.len() < total {
            return Ok(None);
        }
        let mut tag = self.buf.split_to(total).freeze();
        let kind = TagType(tag[0] & 0x1f);
        let filtered = tag[0] & 0x20 != 0;
        let timestamp = u32::from_be_bytes([tag[7], tag[4], tag[5], tag[6]]);
        let stream_id = u32::from_be_bytes([0, tag[8], tag[9], tag[10]]);
        tag.advance(11);
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
    pub boundaries: (
        Vec<ferrocast_packager::Boundary>,
        broadcast::Receiver<ferrocast_packager::Boundary>,
    ),
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
        for mut boundary in std::mem::take(&mut self.boundaries.0) {
            if boundary.at_pts_ms >= self.offset_ms {
                boundary.at_pts_ms -= self.offset_ms;
                if let Err(error) = follower.push_boundary(boundary) {
                    warn!(channel = %self.channel, rendition = %name, %error, "boundary refused");
                }
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
                    Ok(mut boundary) => {
                        boundary.at_pts_ms -= self.offset_ms;
                        if let Err(error) = follower.push_boundary(boundary) {
                            warn!(channel = %self.channel, rendition = %name, %error, "boundary refused");
                        }
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
                        if tag.kind != TagType::AUDIO && tag.kind != TagType::VIDEO {
                            continue;
                        }
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
        assert!(bad.next_tag().is_err());
    }
}
