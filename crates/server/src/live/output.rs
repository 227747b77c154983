//! One broadcast's served state: the segment ring, the playlists rendered from it, and the
//! position blocked Low-Latency HLS requests wait on.

use axum::http::HeaderValue;
use bytes::Bytes;
use ferrocast_hls::{MultivariantPlaylist, RenditionReport, VariantStream};
use ferrocast_media::ByteChain;
use ferrocast_packager::{
    target_duration_secs, InitSegment, LiveWindow, MediaPart, MediaSegment, WindowConfig,
};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::watch;

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

/// How far a rendition's playlist has got: what blocked requests wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Media sequence number of the segment being produced; every lower one is complete.
    pub next_msn: u64,
    /// The last part listed and its segment's number, or the last segment when it has no parts
    /// ([`LiveWindow::last_position`]); `None` while nothing is listed.
    pub last: Option<(u64, Option<u64>)>,
    /// The part `EXT-X-PRELOAD-HINT` names (segment, part index), while one is named.
    pub hint: Option<(u64, u64)>,
    /// The playlist has `EXT-X-ENDLIST`.
    pub ended: bool,
}

/// The numbers blocking requests to a Low-Latency rendition are judged and timed by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockingLimits {
    /// `EXT-X-TARGETDURATION`: a request waits at most three of these.
    pub target_duration: Duration,
    /// The declared `PART-TARGET`, which sets the Advance Part Limit.
    pub part_target: Duration,
}

/// One broadcast: from its first publish until its playlist ends (or is replaced).
#[derive(Debug)]
pub struct Output {
    /// Broadcast id: part of every segment URI, so immutable caching never serves another
    /// broadcast's bytes under a reused media sequence number.
    pub sid: String,
    window: RwLock<WindowState>,
    /// The source rendition's position, sent after each change is rendered into the caches, so
    /// a waiter that wakes up always reads a playlist that contains what it waited for.
    position: watch::Sender<Position>,
    /// Set when the source rendition is Low-Latency.
    limits: Option<BlockingLimits>,
}

#[derive(Debug)]
struct WindowState {
    window: LiveWindow,
    version: u64,
    media: CachedPlaylist,
    /// The Playlist Delta Update (`_HLS_skip=YES`); the full text when nothing can be skipped.
    delta: CachedPlaylist,
    master: Option<CachedPlaylist>,
    frame_rate: Option<f64>,
}

impl Output {
    /// A new broadcast with an empty window.
    pub fn new(sid: String, config: WindowConfig) -> Self {
        let limits = config.low_latency.as_ref().map(|ll| BlockingLimits {
            target_duration: Duration::from_secs(target_duration_secs(config.target_duration)),
            part_target: ll.part_target,
        });
        let window = LiveWindow::new(config);
        let media = CachedPlaylist {
            body: window.media_playlist(),
            etag: etag_value(&sid, 0, ""),
        };
        let delta = CachedPlaylist {
            body: window.delta_playlist(),
            etag: etag_value(&sid, 0, "d"),
        };
        let (position, _) = watch::channel(position_of(&window, limits.is_some()));
        Self {
            sid,
            window: RwLock::new(WindowState {
                window,
                version: 0,
                media,
                delta,
                master: None,
                frame_rate: None,
            }),
            position,
            limits,
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

    /// The Playlist Delta Update of `rendition` (the full playlist when nothing can be skipped).
    pub fn delta_playlist(&self, rendition: &str) -> Option<CachedPlaylist> {
        (rendition == SOURCE_RENDITION).then(|| self.read().delta.clone())
    }

    /// The multivariant playlist, once the first segment exists.
    pub fn master_playlist(&self) -> Option<CachedPlaylist> {
        self.read().master.clone()
    }

    /// Blocking-request limits of `rendition`, if it exists and is Low-Latency.
    pub fn blocking_limits(&self, rendition: &str) -> Option<BlockingLimits> {
        self.limits.filter(|_| rendition == SOURCE_RENDITION)
    }

    /// Follows the position of `rendition`, if it exists.
    pub fn watch_position(&self, rendition: &str) -> Option<watch::Receiver<Position>> {
        (rendition == SOURCE_RENDITION).then(|| self.position.subscribe())
    }

    /// A media segment still downloadable.
    pub fn segment(&self, rendition: &str, msn: u64) -> Option<ByteChain> {
        if rendition != SOURCE_RENDITION {
            return None;
        }
        self.read().window.segment(msn)
    }

    /// A part still downloadable: of the segment in progress or of a complete one still held.
    pub fn part(&self, rendition: &str, msn: u64, index: u64) -> Option<ByteChain> {
        if rendition != SOURCE_RENDITION {
            return None;
        }
        self.read().window.part(msn, index)
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

    /// Media sequence number of the next segment: where a new segmenter continues the window.
    pub fn next_msn(&self) -> u64 {
        self.read().window.next_msn()
    }

    pub(super) fn set_frame_rate(&self, fps: f64) {
        self.write().frame_rate = Some(fps);
    }

    pub(super) fn push_init(&self, init: InitSegment) {
        self.update(|window| {
            window.push_init(init);
            true
        });
    }

    /// Regular-latency: the window numbers the segment itself.
    pub(super) fn push_segment(&self, segment: MediaSegment) -> u64 {
        let mut msn = 0;
        self.update(|window| {
            msn = window.push_segment(segment);
            true
        });
        msn
    }

    /// Low-Latency: the segmenter's number; `None` when it was already taken (ignored).
    pub(super) fn push_segment_at(&self, msn: u64, segment: MediaSegment) -> Option<u64> {
        let mut pushed = None;
        self.update(|window| {
            pushed = window.push_segment_at(msn, segment);
            pushed.is_some()
        });
        pushed
    }

    /// Returns whether the playlist changed (a last part waits for its segment, unlisted).
    pub(super) fn push_part(&self, part: MediaPart) -> bool {
        self.update(|window| window.push_part(part))
    }

    pub(super) fn mark_discontinuity(&self) {
        // Parts of an unfinished segment are sealed into a segment here, which changes the
        // playlist; otherwise only the next segment's tag changes, which nothing shows yet.
        self.update(|window| {
            let before = (window.next_msn(), window.last_position());
            window.mark_discontinuity();
            (window.next_msn(), window.last_position()) != before
        });
    }

    pub(super) fn end(&self) {
        self.update(|window| {
            if window.is_ended() {
                return false;
            }
            window.end();
            true
        });
    }

    /// Applies `change` to the window; when it reports a change, re-renders the cached
    /// playlists, then (after the lock is released) tells waiters the new position.
    fn update(&self, change: impl FnOnce(&mut LiveWindow) -> bool) -> bool {
        let position = {
            let mut w = self.write();
            if !change(&mut w.window) {
                return false;
            }
            self.rerender(&mut w);
            position_of(&w.window, self.limits.is_some())
        };
        self.position.send_if_modified(|current| {
            let modified = *current != position;
            *current = position;
            modified
        });
        true
    }

    fn rerender(&self, w: &mut WindowState) {
        w.version += 1;
        let etag = etag_value(&self.sid, w.version, "");
        // EXT-X-RENDITION-REPORTs of the sibling renditions go here once the transcoding ladder
        // adds them (their windows' `rendition_report`s); the source rendition is alone today.
        let reports: &[RenditionReport] = &[];
        w.media = CachedPlaylist {
            body: w.window.media_playlist_with_reports(reports),
            etag: etag.clone(),
        };
        w.delta = CachedPlaylist {
            body: w.window.delta_playlist_with_reports(reports),
            etag: etag_value(&self.sid, w.version, "d"),
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

/// Where `window` stands; the preload hint only exists in a Low-Latency window.
fn position_of(window: &LiveWindow, low_latency: bool) -> Position {
    let next_msn = window.next_msn();
    let last = window.last_position();
    let ended = window.is_ended();
    // Mirrors the window's EXT-X-PRELOAD-HINT: the part after the open ones, once an init exists.
    let hint = (low_latency && !ended && window.current_init().is_some()).then(|| {
        let open = match last {
            Some((msn, Some(part))) if msn == next_msn => part.saturating_add(1),
            _ => 0,
        };
        (next_msn, open)
    });
    Position {
        next_msn,
        last,
        hint,
        ended,
    }
}

/// The ETag of version `version` of a broadcast's playlists (the id is base 36, always valid).
fn etag_value(sid: &str, version: u64, variant: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{sid}-{version}{variant}\""))
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

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_packager::LowLatencyConfig;

    fn part(msn: u64, index: u32, last: bool) -> MediaPart {
        MediaPart {
            bytes: Bytes::from(vec![1; 100]).into(),
            duration: 0.5,
            independent: index == 0,
            start_ms: 0,
            program_date_time_ms: 1_714_564_800_000,
            msn,
            index,
            last_in_segment: last,
            gap: false,
        }
    }

    #[tokio::test]
    async fn waiters_see_each_part_and_the_end() {
        let mut config = WindowConfig::new(Duration::from_secs(2), 6, "s/");
        config.low_latency = Some(LowLatencyConfig::new(Duration::from_millis(504)));
        let output = Output::new("s".into(), config);
        let mut rx = output.watch_position(SOURCE_RENDITION).unwrap();
        assert!(output.watch_position("other").is_none());
        assert_eq!(
            output
                .blocking_limits(SOURCE_RENDITION)
                .unwrap()
                .target_duration,
            Duration::from_secs(2)
        );
        output.push_init(InitSegment {
            bytes: Bytes::from_static(b"init"),
            video: None,
            audio: None,
        });
        assert_eq!(rx.borrow_and_update().hint, Some((0, 0)));
        let waiter = tokio::spawn(async move {
            let reached = rx.wait_for(|p| p.last == Some((0, Some(1)))).await;
            reached.map(|p| *p).ok()
        });
        assert!(output.push_part(part(0, 0, false)));
        assert!(output.push_part(part(0, 1, false)));
        let seen = waiter.await.unwrap().unwrap();
        assert_eq!(seen.hint, Some((0, 2)));
        assert!(output.part(SOURCE_RENDITION, 0, 1).is_some());
        let text = output.media_playlist(SOURCE_RENDITION).unwrap().body;
        assert!(String::from_utf8_lossy(&text).contains("0.1.m4s"));
        output.end();
        let end = *output.watch_position(SOURCE_RENDITION).unwrap().borrow();
        assert!(end.ended);
        assert_eq!(end.hint, None);
    }
}
