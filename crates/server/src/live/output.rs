//! One broadcast's served state: a segment ring per rendition (the source and the transcoded
//! rungs), the playlists rendered from them, and the positions blocked Low-Latency HLS requests
//! wait on.

use axum::http::HeaderValue;
use bytes::Bytes;
use ferrocast_hls::{MultivariantPlaylist, RenditionReport, VariantStream};
use ferrocast_media::{ByteChain, TrackKind};
use ferrocast_packager::{
    target_duration_secs, Boundary, InitSegment, LiveWindow, MediaPart, MediaSegment, WindowConfig,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

pub use studio::RenditionState;

/// The untranscoded rendition, listed first.
pub const SOURCE_RENDITION: &str = "source";

/// Leader boundaries a slow follower may fall behind by before it misses some.
const BOUNDARY_CAPACITY: usize = 512;
/// Recent boundaries a new follower starts with (several segments' worth of parts), so one
/// started from an earlier keyframe still knows the cuts made since.
const RECENT_BOUNDARIES: usize = 64;

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
    /// When the position moved here (set when it is sent, not compared as part of it): released
    /// requests are timed from it.
    pub moved_at: Option<Instant>,
}

/// The numbers blocking requests to a Low-Latency rendition are judged and timed by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockingLimits {
    /// `EXT-X-TARGETDURATION`: a request waits at most three of these.
    pub target_duration: Duration,
    /// The declared `PART-TARGET`, which sets the Advance Part Limit.
    pub part_target: Duration,
}

/// What the multivariant playlist says about a transcoded rendition before it can be measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RungInfo {
    /// Configured video + audio bitrate, bit/s: BANDWIDTH until segments can be measured.
    pub configured_bps: u64,
    /// Frame rate it is encoded at.
    pub frame_rate: f64,
}

/// One rendition's window, cached playlists and position.
#[derive(Debug)]
pub struct Rendition {
    /// Rendition name: `source` or a rung's name.
    pub name: String,
    window: RwLock<WindowState>,
    /// Sent after each change is rendered into the caches, so a waiter that wakes up always
    /// reads a playlist that contains what it waited for.
    position: watch::Sender<Position>,
    /// Set when the rendition is Low-Latency.
    limits: Option<BlockingLimits>,
}

/// One broadcast: from its first publish until its playlist ends (or is replaced).
#[derive(Debug)]
pub struct Output {
    /// Broadcast id: part of every segment URI, so immutable caching never serves another
    /// broadcast's bytes under a reused media sequence number.
    pub sid: String,
    config: WindowConfig,
    source: Arc<Rendition>,
    /// Transcoded renditions, in ladder order; removed ones are not listed in the master.
    rungs: RwLock<Vec<Arc<Rendition>>>,
    /// Cuts of the source's (leader) segmenter, for the rungs' followers.
    boundaries: broadcast::Sender<Boundary>,
    /// The last [`RECENT_BOUNDARIES`] of them; sends happen under this lock so that a new
    /// subscriber's snapshot and stream neither overlap nor miss one.
    recent: Mutex<VecDeque<Boundary>>,
    /// Bumped after every change the multivariant playlist may show: an init or segment of any
    /// rendition, a rung listed or retired, a frame rate measured (parts never show there).
    master_generation: AtomicU64,
    /// The multivariant playlist as last rendered, with the generation it shows: rendered once
    /// per change, not per request.
    master: Mutex<Option<(u64, CachedPlaylist)>>,
    /// The DASH manifest's `availabilityStartTime` (unix ms), fixed at its first rendering so
    /// that every later manifest agrees with the first (see [`dash`]).
    dash_epoch: OnceLock<i64>,
    /// Every how many source frames the source's parts may start ([`part_frame_step`]), set by
    /// the transcoder when it plans the ladder and applied by the source's segmenter.
    ///
    /// [`part_frame_step`]: ferrocast_ladder::part_frame_step
    part_frame_step: AtomicU32,
    /// The transcoder's figures for the studio's health view.
    pub transcoder: super::TranscoderHealth,
}

#[derive(Debug)]
struct WindowState {
    window: LiveWindow,
    version: u64,
    media: CachedPlaylist,
    /// The Playlist Delta Update (`_HLS_skip=YES`); the full text when nothing can be skipped.
    delta: CachedPlaylist,
    /// The source's measured frame rate (a rung's is in `rung`).
    frame_rate: Option<f64>,
    rung: Option<RungInfo>,
    /// Listed in the multivariant playlist.
    listed: bool,
}

impl Rendition {
    fn new(sid: &str, name: &str, config: WindowConfig, rung: Option<RungInfo>) -> Self {
        let limits = config.low_latency.as_ref().map(|ll| BlockingLimits {
            target_duration: Duration::from_secs(target_duration_secs(config.target_duration)),
            part_target: ll.part_target,
        });
        let window = LiveWindow::new(config);
        let media = CachedPlaylist {
            body: window.media_playlist(),
            etag: etag_value(sid, name, 0, ""),
        };
        let delta = CachedPlaylist {
            body: window.delta_playlist(),
            etag: etag_value(sid, name, 0, "d"),
        };
        let (position, _) = watch::channel(position_of(&window, limits.is_some()));
        Self {
            name: name.to_owned(),
            window: RwLock::new(WindowState {
                window,
                version: 0,
                media,
                delta,
                frame_rate: None,
                rung,
                listed: true,
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

    fn report(&self) -> Option<RenditionReport> {
        let (msn, part) = self.position.borrow().last?;
        Some(RenditionReport::new(
            format!("../{}/index.m3u8", self.name),
            msn,
            part,
        ))
    }
}

impl Output {
    /// A new broadcast with an empty source window.
    pub fn new(sid: String, config: WindowConfig) -> Self {
        let source = Arc::new(Rendition::new(&sid, SOURCE_RENDITION, config.clone(), None));
        let (boundaries, _) = broadcast::channel(BOUNDARY_CAPACITY);
        Self {
            sid,
            config,
            source,
            rungs: RwLock::new(Vec::new()),
            boundaries,
            recent: Mutex::new(VecDeque::new()),
            master_generation: AtomicU64::new(0),
            master: Mutex::new(None),
            dash_epoch: OnceLock::new(),
            part_frame_step: AtomicU32::new(1),
            transcoder: super::TranscoderHealth::default(),
        }
    }

    /// The multivariant playlist may have changed.
    fn master_changed(&self) {
        self.master_generation.fetch_add(1, Ordering::Release);
    }

    fn rungs(&self) -> Vec<Arc<Rendition>> {
        self.rungs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The rendition called `name`, if it exists.
    pub fn rendition(&self, name: &str) -> Option<Arc<Rendition>> {
        if name == SOURCE_RENDITION {
            return Some(self.source.clone());
        }
        self.rungs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|r| r.name == name)
            .cloned()
    }

    /// The transcoded rendition `name`, created (with the source's window settings) if missing,
    /// and listed in the multivariant playlist.
    pub fn add_rung(&self, name: &str, info: RungInfo) -> Arc<Rendition> {
        let rendition = {
            let mut rungs = self.rungs.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(r) = rungs.iter().find(|r| r.name == name) {
                let mut w = r.write();
                w.listed = true;
                w.rung = Some(info);
                r.clone()
            } else {
                let r = Arc::new(Rendition::new(
                    &self.sid,
                    name,
                    self.config.clone(),
                    Some(info),
                ));
                rungs.push(r.clone());
                r
            }
        };
        self.master_changed();
        rendition
    }

    /// Stops listing a rung in the multivariant playlist and ends its playlist.
    pub fn retire_rung(&self, rendition: &Rendition) {
        rendition.write().listed = false;
        self.master_changed();
        self.end_rendition(rendition);
    }

    /// Asks the source's segmenter to start parts only every `step` frames, so that rungs at a
    /// divided frame rate have a frame at every boundary.
    pub fn set_part_frame_step(&self, step: u32) {
        self.part_frame_step.store(step.max(1), Ordering::Relaxed);
    }

    /// The step the source's segmenter should use now.
    pub(super) fn part_frame_step(&self) -> u32 {
        self.part_frame_step.load(Ordering::Relaxed)
    }

    /// Sends a boundary of the source's segmenter to the rungs' followers.
    pub(super) fn publish_boundary(&self, boundary: Boundary) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() >= RECENT_BOUNDARIES {
            recent.pop_front();
        }
        recent.push_back(boundary.clone());
        let _ = self.boundaries.send(boundary);
    }

    /// The source segmenter's recent boundaries, and a receiver of those that follow.
    pub fn subscribe_boundaries(&self) -> (Vec<Boundary>, broadcast::Receiver<Boundary>) {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        (
            recent.iter().cloned().collect(),
            self.boundaries.subscribe(),
        )
    }

    /// Follows the source's position (its `ended` says when the broadcast is over).
    pub fn watch_source(&self) -> watch::Receiver<Position> {
        self.source.position.subscribe()
    }

    /// The media playlist of `rendition`, if it exists.
    pub fn media_playlist(&self, rendition: &str) -> Option<CachedPlaylist> {
        self.rendition(rendition).map(|r| r.read().media.clone())
    }

    /// The Playlist Delta Update of `rendition` (the full playlist when nothing can be skipped).
    pub fn delta_playlist(&self, rendition: &str) -> Option<CachedPlaylist> {
        self.rendition(rendition).map(|r| r.read().delta.clone())
    }

    /// The multivariant playlist, once the source's first segment exists.
    pub fn master_playlist(&self) -> Option<CachedPlaylist> {
        // Held while rendering, so a crowd arriving after a change waits for one rendering.
        let mut cached = self.master.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = self.master_generation.load(Ordering::Acquire);
        if let Some((rendered, playlist)) = cached.as_ref() {
            if *rendered == generation {
                return Some(playlist.clone());
            }
        }
        let source = {
            let w = self.source.read();
            variant(&w.window, w.frame_rate, None, SOURCE_RENDITION)?
        };
        let mut variants = vec![source];
        for rung in self.rungs() {
            let w = rung.read();
            if w.listed {
                variants.extend(variant(&w.window, None, w.rung, &rung.name));
            }
        }
        let playlist = CachedPlaylist {
            body: Bytes::from(
                MultivariantPlaylist {
                    independent_segments: false,
                    variants,
                }
                .render(),
            ),
            etag: etag_value(&self.sid, "m", generation, ""),
        };
        *cached = Some((generation, playlist.clone()));
        Some(playlist)
    }

    /// Blocking-request limits of `rendition`, if it exists and is Low-Latency.
    pub fn blocking_limits(&self, rendition: &str) -> Option<BlockingLimits> {
        self.rendition(rendition).and_then(|r| r.limits)
    }

    /// Follows the position of `rendition`, if it exists.
    pub fn watch_position(&self, rendition: &str) -> Option<watch::Receiver<Position>> {
        self.rendition(rendition).map(|r| r.position.subscribe())
    }

    /// A media segment still downloadable.
    pub fn segment(&self, rendition: &str, msn: u64) -> Option<ByteChain> {
        self.rendition(rendition)?.read().window.segment(msn)
    }

    /// A part still downloadable: of the segment in progress or of a complete one still held.
    pub fn part(&self, rendition: &str, msn: u64, index: u64) -> Option<ByteChain> {
        self.rendition(rendition)?.read().window.part(msn, index)
    }

    /// An init segment still referenced.
    pub fn init(&self, rendition: &str, id: u32) -> Option<Bytes> {
        self.rendition(rendition)?.read().window.init(id)
    }

    /// Bytes held in the rings.
    pub fn held_bytes(&self) -> usize {
        self.source.read().window.held_bytes()
            + self
                .rungs()
                .iter()
                .map(|r| r.read().window.held_bytes())
                .sum::<usize>()
    }

    /// Media sequence number of the next segment: where a new segmenter continues the window.
    pub fn next_msn(&self) -> u64 {
        self.source.read().window.next_msn()
    }

    pub(super) fn set_frame_rate(&self, fps: f64) {
        self.source.write().frame_rate = Some(fps);
        self.master_changed();
    }

    pub(super) fn push_init(&self, init: InitSegment) {
        self.push_init_to(&self.source, init);
    }

    /// Regular-latency: the window numbers the segment itself.
    pub(super) fn push_segment(&self, segment: MediaSegment) -> u64 {
        let mut msn = 0;
        self.update(&self.source, |window| {
            msn = window.push_segment(segment);
            true
        });
        self.master_changed();
        msn
    }

    /// Low-Latency: the segmenter's number; `None` when it was already taken (ignored).
    pub(super) fn push_segment_at(&self, msn: u64, segment: MediaSegment) -> Option<u64> {
        self.push_segment_to(&self.source, msn, segment)
    }

    /// Returns whether the playlist changed (a last part waits for its segment, unlisted).
    pub(super) fn push_part(&self, part: MediaPart) -> bool {
        self.push_part_to(&self.source, part)
    }

    pub(super) fn mark_discontinuity(&self) {
        self.mark_discontinuity_of(&self.source);
    }

    /// Ends the source's playlist (the transcoder ends the rungs' once they have flushed).
    pub(super) fn end(&self) {
        self.end_rendition(&self.source);
    }

    /// Registers an init segment in `rendition`'s window.
    pub fn push_init_to(&self, rendition: &Rendition, init: InitSegment) {
        self.update(rendition, |window| {
            window.push_init(init);
            true
        });
        self.master_changed();
    }

    /// Pushes a segment at the segmenter's number; `None` when it was already taken (ignored).
    pub fn push_segment_to(
        &self,
        rendition: &Rendition,
        msn: u64,
        segment: MediaSegment,
    ) -> Option<u64> {
        let mut pushed = None;
        if self.update(rendition, |window| {
            pushed = window.push_segment_at(msn, segment);
            pushed.is_some()
        }) {
            self.master_changed();
        }
        pushed
    }

    /// Pushes a part; returns whether the playlist changed.
    pub fn push_part_to(&self, rendition: &Rendition, part: MediaPart) -> bool {
        self.update(rendition, |window| window.push_part(part))
    }

    /// The next segment of `rendition` follows a discontinuity.
    pub fn mark_discontinuity_of(&self, rendition: &Rendition) {
        // Parts of an unfinished segment are sealed into a segment here, which changes the
        // playlist (and the multivariant playlist's BANDWIDTH); otherwise only the next
        // segment's tag changes, which nothing shows yet.
        if self.update(rendition, |window| {
            let before = (window.next_msn(), window.last_position());
            window.mark_discontinuity();
            (window.next_msn(), window.last_position()) != before
        }) {
            self.master_changed();
        }
    }

    /// Ends `rendition`'s playlist (EXT-X-ENDLIST).
    pub fn end_rendition(&self, rendition: &Rendition) {
        self.update(rendition, |window| {
            if window.is_ended() {
                return false;
            }
            window.end();
            true
        });
    }

    /// Applies `change` to the window; when it reports a change, re-renders the cached
    /// playlists, then (after the lock is released) tells waiters the new position.
    ///
    /// Rendition reports read the siblings' positions (`watch` values), never their windows, so
    /// two renditions updating at once never wait on each other's locks.
    fn update(&self, rendition: &Rendition, change: impl FnOnce(&mut LiveWindow) -> bool) -> bool {
        let reports: Vec<RenditionReport> = if rendition.limits.is_some() {
            std::iter::once(self.source.clone())
                .chain(self.rungs())
                .filter(|r| r.name != rendition.name)
                .filter_map(|r| r.report())
                .collect()
        } else {
            Vec::new()
        };
        let position = {
            let mut w = rendition.write();
            if !change(&mut w.window) {
                return false;
            }
            w.version += 1;
            let etag = etag_value(&self.sid, &rendition.name, w.version, "");
            w.media = CachedPlaylist {
                body: w.window.media_playlist_with_reports(&reports),
                etag,
            };
            w.delta = CachedPlaylist {
                body: w.window.delta_playlist_with_reports(&reports),
                etag: etag_value(&self.sid, &rendition.name, w.version, "d"),
            };
            position_of(&w.window, rendition.limits.is_some())
        };
        rendition.position.send_if_modified(|current| {
            let mut position = Position {
                moved_at: current.moved_at,
                ..position
            };
            let modified = *current != position;
            if modified {
                position.moved_at = Some(Instant::now());
                *current = position;
            }
            modified
        });
        true
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
        moved_at: None,
    }
}

/// The ETag of version `version` of a rendition's playlists (the id is base 36 and rendition
/// names are `[a-z0-9_-]`, always valid).
fn etag_value(sid: &str, rendition: &str, version: u64, variant: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{sid}-{rendition}-{version}{variant}\""))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// A rendition's `EXT-X-STREAM-INF`: CODECS from its init, BANDWIDTH measured from its segments
/// (or, for a rung not measured yet, its configured bitrate), FRAME-RATE the rung's or the
/// source's measured `frame_rate`.
fn variant(
    window: &LiveWindow,
    frame_rate: Option<f64>,
    rung: Option<RungInfo>,
    name: &str,
) -> Option<VariantStream> {
    let init = window.current_init()?;
    // A rung's configured bitrate stands in until two of its segments are measured.
    let measured = window
        .bitrates()
        .filter(|_| rung.is_none() || window.segment_count() >= 2);
    let (peak, average) =
        measured.or_else(|| rung.map(|r| (r.configured_bps, r.configured_bps)))?;
    let mut codecs = Vec::new();
    if let Some(v) = &init.video {
        codecs.push(v.codec_string.clone());
    }
    if let Some(a) = &init.audio {
        codecs.push(a.codec_string.clone());
    }
    Some(VariantStream {
        uri: format!("{name}/index.m3u8"),
        bandwidth: peak.max(1),
        average_bandwidth: Some(average.max(1)),
        codecs,
        resolution: init.video.as_ref().map(|v| (v.width, v.height)),
        frame_rate: init
            .video
            .as_ref()
            .and(rung.map(|r| r.frame_rate).or(frame_rate)),
        name: Some(name.to_owned()),
    })
}

mod dash;
mod studio;
#[cfg(test)]
mod tests;
