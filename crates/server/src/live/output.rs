//! One broadcast's served state: the segment ring and the playlists rendered from it.

use axum::http::HeaderValue;
use bytes::Bytes;
use ferrocast_hls::{MultivariantPlaylist, VariantStream};
use ferrocast_media::ByteChain;
use ferrocast_packager::{InitSegment, LiveWindow, MediaSegment, WindowConfig};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The only rendition this server offers until the transcoding ladder lands.
pub const SOURCE_RENDITION: &str = "source";

/// A rendered playlist with its validator.
#[derive(Debug, Clone)]
pub struct CachedPlaylist {
    /// Playlist text.
    pub body: Bytes,
    /// Strong ETag, quoted, ready to send.
    pub etag: HeaderValue,
}

/// One broadcast: from its first publish until its playlist ends (or is replaced).
#[derive(Debug)]
pub struct Output {
    /// Broadcast id: part of every segment URI, so immutable caching never serves another
    /// broadcast's bytes under a reused media sequence number.
    pub sid: String,
    window: RwLock<WindowState>,
}

#[derive(Debug)]
struct WindowState {
    window: LiveWindow,
    version: u64,
    media: CachedPlaylist,
    master: Option<CachedPlaylist>,
    frame_rate: Option<f64>,
}

impl Output {
    /// A new broadcast with an empty window.
    pub fn new(sid: String, config: WindowConfig) -> Self {
        let window = LiveWindow::new(config);
        let media = CachedPlaylist {
            body: window.media_playlist(),
            etag: etag_value(&sid, 0),
        };
        Self {
            sid,
            window: RwLock::new(WindowState {
                window,
                version: 0,
                media,
                master: None,
                frame_rate: None,
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, WindowState> {
        self.window.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, WindowState> {
        self.window.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The media playlist of `rendition`, if it exists.
    pub fn media_playlist(&self, rendition: &str) -> Option<CachedPlaylist> {
        (rendition == SOURCE_RENDITION).then(|| self.read().media.clone())
    }

    /// The multivariant playlist, once the first segment exists.
    pub fn master_playlist(&self) -> Option<CachedPlaylist> {
        self.read().master.clone()
    }

    /// A media segment still downloadable.
    pub fn segment(&self, rendition: &str, msn: u64) -> Option<ByteChain> {
        if rendition != SOURCE_RENDITION {
            return None;
        }
        self.read().window.segment(msn)
    }

    /// An init segment still referenced.
    pub fn init(&self, rendition: &str, id: u32) -> Option<Bytes> {
        if rendition != SOURCE_RENDITION {
            return None;
        }
        self.read().window.init(id)
    }

    /// Bytes held in the ring.
    pub fn held_bytes(&self) -> usize {
        self.read().window.held_bytes()
    }

    pub(super) fn set_frame_rate(&self, fps: f64) {
        self.write().frame_rate = Some(fps);
    }

    pub(super) fn push_init(&self, init: InitSegment) {
        let mut w = self.write();
        w.window.push_init(init);
        self.rerender(&mut w);
    }

    pub(super) fn push_segment(&self, segment: MediaSegment) -> u64 {
        let mut w = self.write();
        let msn = w.window.push_segment(segment);
        self.rerender(&mut w);
        msn
    }

    pub(super) fn mark_discontinuity(&self) {
        self.write().window.mark_discontinuity();
    }

    pub(super) fn end(&self) {
        let mut w = self.write();
        if !w.window.is_ended() {
            w.window.end();
            self.rerender(&mut w);
        }
    }

    fn rerender(&self, w: &mut WindowState) {
        w.version += 1;
        let etag = etag_value(&self.sid, w.version);
        w.media = CachedPlaylist {
            body: w.window.media_playlist(),
            etag: etag.clone(),
        };
        if w.window.segment_count() == 0 {
            return;
        }
        let master = render_master(&w.window, w.frame_rate);
        if let Some(body) = master {
            w.master = Some(CachedPlaylist {
                body: Bytes::from(body),
                etag,
            });
        }
    }
}

/// The ETag of version `version` of a broadcast's playlists (the id is base 36, always valid).
fn etag_value(sid: &str, version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{sid}-{version}\""))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

fn render_master(window: &LiveWindow, frame_rate: Option<f64>) -> Option<String> {
    let init = window.current_init()?;
    let (peak, average) = window.bitrates()?;
    let mut codecs = Vec::new();
    if let Some(v) = &init.video {
        codecs.push(v.codec_string.clone());
    }
    if let Some(a) = &init.audio {
        codecs.push(a.codec_string.clone());
    }
    let playlist = MultivariantPlaylist {
        independent_segments: false,
        variants: vec![VariantStream {
            uri: format!("{SOURCE_RENDITION}/index.m3u8"),
            bandwidth: peak.max(1),
            average_bandwidth: Some(average.max(1)),
            codecs,
            resolution: init.video.as_ref().map(|v| (v.width, v.height)),
            frame_rate: init.video.as_ref().and(frame_rate),
            name: Some(SOURCE_RENDITION.to_owned()),
        }],
    };
    Some(playlist.render())
}
