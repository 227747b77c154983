//! Part availability latency per rendition, for `bench/ladder.sh`: the time from the last frame
//! of a Low-Latency HLS part being received by ingest to the part being listed in a blocking
//! playlist response, for the source rendition and every transcoded rung.
//!
//! Method (every instant is read from this process's one monotonic clock):
//!
//! - **Ingest.** The publisher sends to this tool's RTMP relay, which forwards every byte to the
//!   server and follows the client-to-server chunk stream. Each audio and video message is
//!   stamped when its last byte has been written to the server's socket (on loopback the bytes
//!   are then in the server's receive buffer), keyed by its RTMP timestamp.
//! - **Listing.** Per rendition of the multivariant playlist, one keep-alive connection follows
//!   the live edge with blocking reloads for the preload-hinted part (`_HLS_msn`/`_HLS_part`). A
//!   part is listed when the first response that lists it has been read. When that request was
//!   sent before the part's last frame reached ingest, it was certainly waiting when the part was
//!   listed and the figure is exact; otherwise ("late request", counted) the part may have been
//!   listed before the request arrived and the figure is an upper bound. Both are kept.
//! - **Which frames a part holds.** Every part of every rendition is fetched and its `moof` read
//!   (`tfdt`, and the `trun` durations and composition offsets of each track). The packager
//!   counts times from the first video keyframe, and the rungs keep the source's timestamps, so a
//!   picture's presentation time names the source frame it was decoded from (the relay reads the
//!   composition time of each video message too). The part's last frame is the latest-received
//!   of those source frames, or the source audio frame nearest the part's last audio sample if
//!   that came later (a rung's audio is re-encoded: AAC frames differ, the timeline is the
//!   same). This holds whether or not a rung cuts its parts where the source does; the
//!   alignment check counts the rung parts whose pictures differ from those of the source part
//!   with the same numbers, and each rendition's parts are checked against its PART-TARGET.
//!
//! Left out of the statistics (and counted): parts whose last frame came in the first
//! `--warmup` seconds of the publish (the transcoder's start-up), and the stream's final part,
//! which the end of the publish closes rather than a following frame.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use ferrocast_load::{get, get_bytes};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

#[derive(Parser)]
struct Args {
    /// Address the RTMP relay listens on: publish to rtmp://RELAY/live/KEY.
    #[arg(long, default_value = "127.0.0.1:19397")]
    relay: String,
    /// The server's RTMP address, where the relay forwards to.
    #[arg(long)]
    rtmp: String,
    /// The server's HTTP address.
    #[arg(long)]
    server: String,
    /// Channel name.
    #[arg(long)]
    channel: String,
    /// Parts whose last frame came within this many seconds of the first frame are left out.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Seconds to keep following after the publisher disconnects.
    #[arg(long, default_value_t = 3.0)]
    tail: f64,
    /// Hard limit on the whole run, in seconds.
    #[arg(long, default_value_t = 900)]
    max_duration: u64,
    /// JSON file for the summary and every part measured.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Seconds on this process's monotonic clock.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The relay and its RTMP chunk stream follower.

/// What the relay saw the publisher send.
#[derive(Default)]
struct RelayLog {
    /// Video frames: (decode timestamp, presentation timestamp (ms), instant its last byte was
    /// forwarded), in arrival order.
    video: Vec<(i64, i64, f64)>,
    /// Audio frames: (timestamp ms, instant), in arrival order.
    audio: Vec<(i64, f64)>,
    first_keyframe_ts: Option<i64>,
    connected_at: Option<f64>,
    closed_at: Option<f64>,
    parse_error: Option<String>,
}

#[derive(Clone, Default)]
struct ChunkStream {
    ts: u32,
    delta: u32,
    len: u32,
    mtype: u8,
    left: u32,
    ext: bool,
    /// The first payload bytes of the message (codec, packet type, composition time).
    head: Vec<u8>,
}

/// Follows the client-to-server half of an RTMP connection (RTMP 1.0 §5.3) far enough to know
/// each media message's timestamp and kind: handshake C0+C1+C2 skipped, chunk basic and message
/// headers, extended timestamps, Set Chunk Size. Payloads are skipped but for their first bytes.
struct RtmpFollower {
    buf: Vec<u8>,
    skip: usize,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
}

const HANDSHAKE_BYTES: usize = 1 + 1536 + 1536;
/// Payload bytes kept per message: enough for an enhanced-RTMP header and its composition time.
const HEAD_BYTES: usize = 8;

fn be(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x))
}

impl RtmpFollower {
    fn new() -> Self {
        Self {
            buf: Vec::new(),
            skip: HANDSHAKE_BYTES,
            chunk_size: 128,
            streams: HashMap::new(),
        }
    }

    fn feed(&mut self, mut data: &[u8], now: f64, log: &mut RelayLog) {
        if log.parse_error.is_some() {
            return;
        }
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            match self.chunk(pos, now, log) {
                Ok(Some(next)) => pos = next,
                Ok(None) => break,
                Err(e) => {
                    log.parse_error = Some(e);
                    self.buf.clear();
                    return;
                }
            }
        }
        self.buf.drain(..pos);
    }

    /// Reads the chunk at `pos`: the position after it, or `None` while it is incomplete.
    fn chunk(&mut self, pos: usize, now: f64, log: &mut RelayLog) -> Result<Option<usize>, String> {
        let b = &self.buf;
        let end = b.len();
        if pos >= end {
            return Ok(None);
        }
        let fmt = b[pos] >> 6;
        let mut csid = u32::from(b[pos] & 0x3F);
        let mut p = pos + 1;
        if csid == 0 {
            if end < p + 1 {
                return Ok(None);
            }
            csid = 64 + u32::from(b[p]);
            p += 1;
        } else if csid == 1 {
            if end < p + 2 {
                return Ok(None);
            }
            csid = 64 + u32::from(b[p]) + 256 * u32::from(b[p + 1]);
            p += 2;
        }
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        if end < p + header_len {
            return Ok(None);
        }
        let prev = match self.streams.get(&csid) {
            Some(s) => s.clone(),
            None if fmt == 0 => ChunkStream::default(),
            None => return Err(format!("chunk stream {csid} opens with header type {fmt}")),
        };
        let (mut field, mut length, mut mtype) = (None, None, None);
        let ext = if fmt <= 2 {
            let f = be(&b[p..p + 3]);
            field = Some(f);
            if fmt <= 1 {
                length = Some(be(&b[p + 3..p + 6]));
                mtype = Some(b[p + 6]);
            }
            f == 0xFF_FFFF
        } else {
            prev.ext
        };
        p += header_len;
        if ext {
            if end < p + 4 {
                return Ok(None);
            }
            let v = be(&b[p..p + 4]);
            p += 4;
            if field.is_some() {
                field = Some(v);
            }
        }
        let new = fmt <= 2 || prev.left == 0;
        let msg_len = length.unwrap_or(prev.len);
        let n = self.chunk_size.min(if new { msg_len } else { prev.left }) as usize;
        if end < p + n {
            return Ok(None);
        }
        let payload = &b[p..p + n];
        let mut st = prev;
        if new {
            match (fmt, field) {
                // A type-3 message after a type-0 one repeats its timestamp as the delta.
                (0, Some(f)) => (st.ts, st.delta) = (f, f),
                (_, Some(f)) => {
                    st.delta = f;
                    st.ts = st.ts.wrapping_add(f);
                }
                _ => st.ts = st.ts.wrapping_add(st.delta),
            }
            if let (Some(l), Some(t)) = (length, mtype) {
                st.len = l;
                st.mtype = t;
            }
            st.ext = ext;
            st.left = st.len;
            st.head = payload[..n.min(HEAD_BYTES)].to_vec();
        } else if st.head.len() < HEAD_BYTES {
            let k = (HEAD_BYTES - st.head.len()).min(n);
            st.head.extend_from_slice(&payload[..k]);
        }
        let new_chunk_size = if st.mtype == 1 && new {
            if n < 4 {
                return Err("short Set Chunk Size".into());
            }
            let size = be(&payload[..4]) & 0x7FFF_FFFF;
            if !(1..=1 << 24).contains(&size) {
                return Err(format!("chunk size {size}"));
            }
            Some(size)
        } else {
            None
        };
        st.left -= n as u32;
        if st.left == 0 {
            media_message(&st, now, log);
        }
        self.streams.insert(csid, st);
        if let Some(size) = new_chunk_size {
            self.chunk_size = size;
        }
        Ok(Some(p + n))
    }
}

/// A 24-bit signed big-endian integer.
fn si24(b: &[u8]) -> i64 {
    let v = i64::from(be(b));
    if v & 0x80_0000 != 0 {
        v - 0x100_0000
    } else {
        v
    }
}

/// The composition time offset (ms) of a video message: bytes 2..5 of a legacy AVC/HEVC
/// payload; after the FourCC of an enhanced-RTMP CodedFrames packet; zero otherwise.
fn composition_time(head: &[u8]) -> i64 {
    let Some(&b0) = head.first() else { return 0 };
    let at = if b0 & 0x80 != 0 {
        (b0 & 0x0F == 1).then_some(5)
    } else {
        matches!(b0 & 0x0F, 7 | 12).then_some(2)
    };
    at.and_then(|i| head.get(i..i + 3)).map_or(0, si24)
}

fn media_message(st: &ChunkStream, now: f64, log: &mut RelayLog) {
    let head = &st.head;
    let Some(&b0) = head.first() else { return };
    let ts = i64::from(st.ts);
    match st.mtype {
        9 => {
            let (frame_type, config) = if b0 & 0x80 != 0 {
                // Enhanced RTMP: packet type 0 is the sequence start.
                ((b0 >> 4) & 7, b0 & 0x0F == 0)
            } else {
                // AVC/HEVC: packet type 0 is the sequence header.
                (
                    b0 >> 4,
                    matches!(b0 & 0x0F, 7 | 12) && head.get(1) == Some(&0),
                )
            };
            if config || frame_type == 5 {
                return;
            }
            if frame_type == 1 && log.first_keyframe_ts.is_none() {
                log.first_keyframe_ts = Some(ts);
            }
            log.video.push((ts, ts + composition_time(head), now));
        }
        8 => {
            // AAC packet type 0 is the AudioSpecificConfig.
            if b0 >> 4 == 10 && head.get(1) == Some(&0) {
                return;
            }
            log.audio.push((ts, now));
        }
        _ => {}
    }
}

async fn relay(listener: TcpListener, upstream: String, log: Arc<Mutex<RelayLog>>, clock: Clock) {
    let result = async {
        let (client, _) = listener.accept().await?;
        lock(&log).connected_at = Some(clock.now());
        let server = TcpStream::connect(&upstream).await?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = server.into_split();
        let back = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
            let _ = to_client.shutdown().await;
        });
        let mut follower = RtmpFollower::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = from_client.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            // Forward first: following the stream must not delay the server.
            to_server.write_all(&buf[..n]).await?;
            let now = clock.now();
            follower.feed(&buf[..n], now, &mut lock(&log));
        }
        let _ = to_server.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), back).await;
        anyhow::Ok(())
    }
    .await;
    let mut log = lock(&log);
    log.closed_at = Some(clock.now());
    if let Err(e) = result {
        eprintln!("relay: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Playlists, parts and the followers.

#[derive(Default)]
struct MediaPlaylist {
    /// (msn, part index, URI, the URI of its EXT-X-MAP, DURATION).
    parts: Vec<(u64, u64, String, String, f64)>,
    part_target: Option<f64>,
    hint: Option<(u64, u64)>,
    ended: bool,
}

/// A decimal attribute of a tag line (`NAME=1.5`).
fn attribute(line: &str, name: &str) -> Option<f64> {
    line.split([':', ','])
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
        .parse()
        .ok()
}

fn quoted_uri(line: &str) -> Option<&str> {
    line.split("URI=\"").nth(1)?.split('"').next()
}

/// (M, P) of a part URI ending in `M.P.m4s`.
fn part_numbers(uri: &str) -> Option<(u64, u64)> {
    let name = uri.rsplit('/').next()?.strip_suffix(".m4s")?;
    let (msn, part) = name.split_once('.')?;
    Some((msn.parse().ok()?, part.parse().ok()?))
}

fn parse_media_playlist(text: &str) -> MediaPlaylist {
    let mut pl = MediaPlaylist::default();
    let mut map = String::new();
    for line in text.lines() {
        if line.starts_with("#EXT-X-MAP:") {
            map = quoted_uri(line).unwrap_or_default().to_owned();
        } else if line.starts_with("#EXT-X-PART:") {
            if let Some(uri) = quoted_uri(line) {
                if let Some((m, p)) = part_numbers(uri) {
                    let duration = attribute(line, "DURATION").unwrap_or(f64::NAN);
                    pl.parts.push((m, p, uri.to_owned(), map.clone(), duration));
                }
            }
        } else if line.starts_with("#EXT-X-PART-INF:") {
            pl.part_target = attribute(line, "PART-TARGET");
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
            pl.hint = quoted_uri(line).and_then(part_numbers);
        } else if line.starts_with("#EXT-X-ENDLIST") {
            pl.ended = true;
        }
    }
    pl
}

/// When a rendition's follower first saw a part listed.
struct Seen {
    rendition: String,
    msn: u64,
    part: u64,
    /// When the request whose response first listed it was sent, and when that response was read.
    sent: f64,
    arrived: f64,
    /// It was listed in the follower's first, non-blocking playlist: not measured.
    initial: bool,
    /// Its EXT-X-PART DURATION and the playlist's PART-TARGET.
    duration: f64,
    part_target: Option<f64>,
}

/// A track's samples in one part, in milliseconds from the packager's origin.
#[derive(Clone, Default)]
struct TrackTimes {
    /// Presentation time of each sample (decode time + composition offset).
    pts_ms: Vec<f64>,
    /// Decode time of the last sample.
    last_dts_ms: f64,
    /// Earliest presentation time, and the latest presentation end (pts + duration).
    first_pts_ms: f64,
    end_pts_ms: f64,
}

#[derive(Clone, Default)]
struct PartMedia {
    video: Option<TrackTimes>,
    audio: Option<TrackTimes>,
}

#[derive(Default)]
struct Data {
    seen: Vec<Seen>,
    media: HashMap<(String, u64, u64), PartMedia>,
    errors: BTreeMap<String, u64>,
}

impl Data {
    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
    }
}

struct FetchJob {
    msn: u64,
    part: u64,
    path: String,
    init_path: String,
}

struct Follower {
    server: String,
    rendition: String,
    /// The media playlist's path, and its directory (with the trailing slash).
    path: String,
    dir: String,
    data: Arc<Mutex<Data>>,
    clock: Clock,
}

impl Follower {
    async fn run(self) {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(fetch_parts(
            self.server.clone(),
            self.rendition.clone(),
            self.data.clone(),
            rx,
        ));
        let mut seen = HashSet::new();
        let mut initial = true;
        loop {
            let Ok(mut conn) = TcpStream::connect(&self.server).await else {
                lock(&self.data).error(format!("{}: connect", self.rendition));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut target = None;
            loop {
                let path = match target {
                    Some((m, p)) => format!("{}?_HLS_msn={m}&_HLS_part={p}", self.path),
                    None => self.path.clone(),
                };
                let sent = self.clock.now();
                let answer = get(&mut conn, &self.server, &path).await;
                let arrived = self.clock.now();
                let body = match answer {
                    Ok((200, body)) => body,
                    Ok((status, _)) => {
                        lock(&self.data).error(format!("{}: status {status}", self.rendition));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        target = None;
                        continue;
                    }
                    Err(_) => break,
                };
                let pl = parse_media_playlist(&body);
                {
                    let mut data = lock(&self.data);
                    for (msn, part, uri, map, duration) in &pl.parts {
                        if !seen.insert((*msn, *part)) {
                            continue;
                        }
                        data.seen.push(Seen {
                            rendition: self.rendition.clone(),
                            msn: *msn,
                            part: *part,
                            sent,
                            arrived,
                            initial,
                            duration: *duration,
                            part_target: pl.part_target,
                        });
                        let _ = tx.send(FetchJob {
                            msn: *msn,
                            part: *part,
                            path: format!("{}{uri}", self.dir),
                            init_path: format!("{}{map}", self.dir),
                        });
                    }
                }
                initial = false;
                if pl.ended {
                    return;
                }
                target = pl.hint;
                if target.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Fetches every part a follower saw, on a connection of its own, and reads its decode times.
async fn fetch_parts(
    server: String,
    rendition: String,
    data: Arc<Mutex<Data>>,
    mut jobs: mpsc::UnboundedReceiver<FetchJob>,
) {
    let mut inits: HashMap<String, Tracks> = HashMap::new();
    let mut conn: Option<TcpStream> = None;
    while let Some(job) = jobs.recv().await {
        let mut result = None;
        for _attempt in 0..2 {
            if conn.is_none() {
                conn = TcpStream::connect(&server).await.ok();
            }
            let Some(c) = conn.as_mut() else { break };
            if !inits.contains_key(&job.init_path) {
                match get_bytes(c, &server, &job.init_path).await {
                    Ok((200, bytes)) => {
                        inits.insert(job.init_path.clone(), parse_init(&bytes));
                    }
                    Ok(_) => break,
                    Err(_) => {
                        conn = None;
                        continue;
                    }
                }
            }
            match get_bytes(c, &server, &job.path).await {
                Ok((200, bytes)) => {
                    result = Some(parse_fragment(&bytes, &inits[&job.init_path]));
                    break;
                }
                Ok(_) => break,
                Err(_) => conn = None,
            }
        }
        let mut d = lock(&data);
        match result {
            Some(media) => {
                d.media
                    .insert((rendition.clone(), job.msn, job.part), media);
            }
            None => d.error(format!("{rendition}: part fetch failed")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ISO BMFF: just enough of the init segment and the fragments.

/// Track id → (is video, timescale, trex default sample duration).
type Tracks = HashMap<u32, (bool, u32, u32)>;

fn children(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p + 8 <= data.len() {
        let size = be(&data[p..p + 4]) as u64;
        let kind: [u8; 4] = data[p + 4..p + 8].try_into().unwrap_or_default();
        let (header, size) = match size {
            1 if p + 16 <= data.len() => {
                let hi = u64::from(be(&data[p + 8..p + 12]));
                let lo = u64::from(be(&data[p + 12..p + 16]));
                (16, (hi << 32) | lo)
            }
            0 => (8, (data.len() - p) as u64),
            s => (8, s),
        };
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        if size < header || p + size > data.len() {
            break;
        }
        out.push((kind, &data[p + header..p + size]));
        p += size;
    }
    out
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, d)| d)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(be)
}

fn parse_init(bytes: &[u8]) -> Tracks {
    let mut tracks = Tracks::new();
    let Some(moov) = child(bytes, b"moov") else {
        return tracks;
    };
    let mut defaults = HashMap::new();
    if let Some(mvex) = child(moov, b"mvex") {
        for (kind, trex) in children(mvex) {
            if &kind == b"trex" {
                if let (Some(id), Some(duration)) = (u32_at(trex, 4), u32_at(trex, 12)) {
                    defaults.insert(id, duration);
                }
            }
        }
    }
    for (kind, trak) in children(moov) {
        if &kind != b"trak" {
            continue;
        }
        let id = child(trak, b"tkhd").and_then(|t| {
            let version = *t.first()?;
            u32_at(t, if version == 1 { 20 } else { 12 })
        });
        let mdia = child(trak, b"mdia");
        let timescale = mdia.and_then(|m| child(m, b"mdhd")).and_then(|t| {
            let version = *t.first()?;
            u32_at(t, if version == 1 { 20 } else { 12 })
        });
        let video = mdia
            .and_then(|m| child(m, b"hdlr"))
            .and_then(|h| h.get(8..12))
            .map(|h| h == b"vide");
        if let (Some(id), Some(timescale), Some(video)) = (id, timescale, video) {
            let default = defaults.get(&id).copied().unwrap_or(0);
            tracks.insert(id, (video, timescale.max(1), default));
        }
    }
    tracks
}

/// The samples of each track in a fragment (one or more `moof`s), in milliseconds.
fn parse_fragment(bytes: &[u8], tracks: &Tracks) -> PartMedia {
    let mut media = PartMedia::default();
    for (kind, moof) in children(bytes) {
        if &kind != b"moof" {
            continue;
        }
        for (kind, traf) in children(moof) {
            if &kind != b"traf" {
                continue;
            }
            let Some((video, t)) = traf_times(traf, tracks) else {
                continue;
            };
            let slot = if video {
                &mut media.video
            } else {
                &mut media.audio
            };
            match slot {
                None => *slot = Some(t),
                Some(prev) => {
                    prev.pts_ms.extend_from_slice(&t.pts_ms);
                    prev.last_dts_ms = prev.last_dts_ms.max(t.last_dts_ms);
                    prev.first_pts_ms = prev.first_pts_ms.min(t.first_pts_ms);
                    prev.end_pts_ms = prev.end_pts_ms.max(t.end_pts_ms);
                }
            }
        }
    }
    media
}

fn traf_times(traf: &[u8], tracks: &Tracks) -> Option<(bool, TrackTimes)> {
    let tfhd = child(traf, b"tfhd")?;
    let flags = u32_at(tfhd, 0)? & 0xFF_FFFF;
    let id = u32_at(tfhd, 4)?;
    let &(video, timescale, trex_duration) = tracks.get(&id)?;
    let mut p = 8;
    if flags & 0x01 != 0 {
        p += 8;
    }
    if flags & 0x02 != 0 {
        p += 4;
    }
    let default_duration = if flags & 0x08 != 0 {
        u32_at(tfhd, p)?
    } else {
        trex_duration
    };
    let tfdt = child(traf, b"tfdt")?;
    let mut dts = if *tfdt.first()? == 1 {
        (u64::from(u32_at(tfdt, 4)?) << 32) | u64::from(u32_at(tfdt, 8)?)
    } else {
        u64::from(u32_at(tfdt, 4)?)
    };
    let ms = |ticks: f64| ticks * 1000.0 / f64::from(timescale);
    let mut t = TrackTimes {
        first_pts_ms: f64::INFINITY,
        end_pts_ms: f64::NEG_INFINITY,
        ..TrackTimes::default()
    };
    for (kind, trun) in children(traf) {
        if &kind != b"trun" {
            continue;
        }
        let flags = u32_at(trun, 0)? & 0xFF_FFFF;
        let count = u32_at(trun, 4)? as usize;
        let mut p = 8;
        if flags & 0x001 != 0 {
            p += 4;
        }
        if flags & 0x004 != 0 {
            p += 4;
        }
        for _ in 0..count {
            let mut duration = default_duration;
            let mut offset = 0i64;
            if flags & 0x100 != 0 {
                duration = u32_at(trun, p)?;
                p += 4;
            }
            if flags & 0x200 != 0 {
                p += 4;
            }
            if flags & 0x400 != 0 {
                p += 4;
            }
            if flags & 0x800 != 0 {
                // Signed in version 1; version 0 offsets are never negative in practice.
                offset = i64::from(u32_at(trun, p)? as i32);
                p += 4;
            }
            let pts = ms(dts as f64 + offset as f64);
            t.pts_ms.push(pts);
            t.last_dts_ms = ms(dts as f64);
            t.first_pts_ms = t.first_pts_ms.min(pts);
            t.end_pts_ms = t.end_pts_ms.max(pts + ms(f64::from(duration)));
            dts += u64::from(duration);
        }
    }
    (!t.pts_ms.is_empty()).then_some((video, t))
}

// ---------------------------------------------------------------------------------------------
// Discovery, the run, the analysis.

async fn discover(
    args: Arc<Args>,
    data: Arc<Mutex<Data>>,
    clock: Clock,
    set: Arc<Mutex<JoinSet<()>>>,
) {
    let master = format!("/live/{}/master.m3u8", args.channel);
    let dir = format!("/live/{}/", args.channel);
    let mut known = HashSet::new();
    let mut conn: Option<TcpStream> = None;
    loop {
        if conn.is_none() {
            conn = TcpStream::connect(&args.server).await.ok();
        }
        if let Some(c) = conn.as_mut() {
            match get(c, &args.server, &master).await {
                Ok((200, body)) => {
                    for uri in body
                        .lines()
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    {
                        let rendition = uri.split('/').next().unwrap_or(uri).to_owned();
                        if !known.insert(rendition.clone()) {
                            continue;
                        }
                        let path = format!("{dir}{uri}");
                        let media_dir = path
                            .rsplit_once('/')
                            .map_or(dir.clone(), |(d, _)| format!("{d}/"));
                        eprintln!("following {rendition} ({path})");
                        lock(&set).spawn(
                            Follower {
                                server: args.server.clone(),
                                rendition,
                                path,
                                dir: media_dir,
                                data: data.clone(),
                                clock,
                            }
                            .run(),
                        );
                    }
                }
                Ok(_) => {}
                Err(_) => conn = None,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Instant of the relay entry at timestamp `ts` (within `tolerance` ms, the nearest).
fn received_at(frames: &[(i64, f64)], ts: f64, tolerance: f64) -> Option<f64> {
    frames
        .iter()
        .map(|&(t, at)| ((t as f64 - ts).abs(), at))
        .filter(|&(d, _)| d <= tolerance)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, at)| at)
}

fn stats(values: &mut [f64]) -> Value {
    if values.is_empty() {
        return json!(null);
    }
    values.sort_by(f64::total_cmp);
    let q = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    json!({
        "n": values.len(),
        "min": q(0.0),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "max": q(1.0),
        "mean": mean,
    })
}

fn fmt_stats(s: &Value) -> String {
    if s.is_null() {
        return "no parts measured".into();
    }
    let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
    format!(
        "n {} p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} ms (min {:.1})",
        s["n"],
        f("p50"),
        f("p90"),
        f("p99"),
        f("max"),
        f("min")
    )
}

fn analyse(args: &Args, log: &RelayLog, data: &Data) -> Value {
    let origin = log.first_keyframe_ts.unwrap_or(0) as f64;
    let first_frame = log
        .video
        .iter()
        .map(|&(_, _, at)| at)
        .chain(log.audio.iter().map(|&(_, at)| at))
        .fold(f64::INFINITY, f64::min);
    let last_video = log.video.last().map_or(f64::INFINITY, |&(_, _, at)| at);
    let mut video_by_pts: HashMap<i64, f64> = HashMap::new();
    for &(_, pts, at) in &log.video {
        video_by_pts.entry(pts).or_insert(at);
    }
    // A picture's source frame, by presentation time (rounded to the ms, ±1 ms).
    let picture_at = |pts: f64| {
        let pts = pts.round() as i64;
        [pts, pts - 1, pts + 1]
            .iter()
            .find_map(|p| video_by_pts.get(p).copied())
    };
    // Ingest instant of the last source frame of each part of each rendition: the latest of the
    // source frames its pictures were decoded from, and the source audio frame nearest its last
    // audio sample (rung audio is re-encoded; AAC frames last 21.3 ms at 48 kHz).
    let mut reference: HashMap<(String, u64, u64), f64> = HashMap::new();
    let (mut unmatched_video, mut unmatched_audio) = (0u64, 0u64);
    for (key, media) in &data.media {
        let video = media.video.as_ref().map(|v| {
            let ats: Option<Vec<f64>> = v.pts_ms.iter().map(|&p| picture_at(origin + p)).collect();
            if ats.is_none() {
                unmatched_video += 1;
            }
            ats.map(|a| a.into_iter().fold(f64::NEG_INFINITY, f64::max))
        });
        let audio = media.audio.as_ref().map(|a| {
            let at = received_at(&log.audio, origin + a.last_dts_ms, 11.0);
            if at.is_none() {
                unmatched_audio += 1;
            }
            at
        });
        if video == Some(None) || audio == Some(None) {
            continue;
        }
        let at = video
            .flatten()
            .into_iter()
            .chain(audio.flatten())
            .fold(f64::NEG_INFINITY, f64::max);
        if at.is_finite() {
            reference.insert(key.clone(), at);
        }
    }
    // Alignment: the pictures of a rung part against those of the source part with the same
    // numbers. (With a B-frame source, a source part's pictures are not one interval of
    // presentation time, so a rung part cut on presentation time cannot match it exactly.)
    let mut alignment: BTreeMap<String, (u64, u64, usize)> = BTreeMap::new();
    for ((rendition, msn, part), media) in &data.media {
        if rendition == "source" {
            continue;
        }
        let source = data.media.get(&("source".to_owned(), *msn, *part));
        if let (Some(v), Some(s)) = (&media.video, source.and_then(|s| s.video.as_ref())) {
            let set = |t: &TrackTimes| -> HashSet<i64> {
                t.pts_ms.iter().map(|p| p.round() as i64).collect()
            };
            let (a, b) = (set(v), set(s));
            let near = |x: &HashSet<i64>, p: i64| (p - 1..=p + 1).any(|q| x.contains(&q));
            let differ = a.iter().filter(|&&p| !near(&b, p)).count()
                + b.iter().filter(|&&p| !near(&a, p)).count();
            let e = alignment.entry(rendition.clone()).or_default();
            e.0 += 1;
            if differ > 0 {
                e.1 += 1;
            }
            e.2 = e.2.max(differ);
        }
    }
    // Parts longer than the playlist's PART-TARGET (RFC 8216bis §4.4.4.9 forbids it).
    let mut over_target: BTreeMap<String, (u64, f64, f64)> = BTreeMap::new();
    for s in &data.seen {
        let e = over_target.entry(s.rendition.clone()).or_default();
        e.1 = e.1.max(s.duration);
        if let Some(t) = s.part_target {
            e.2 = t;
            if s.duration > t {
                e.0 += 1;
            }
        }
    }
    let mut renditions: BTreeMap<String, (Vec<f64>, BTreeMap<&str, u64>)> = BTreeMap::new();
    let mut rows = Vec::new();
    for s in &data.seen {
        let entry = renditions.entry(s.rendition.clone()).or_default();
        let mut count = |k| *entry.1.entry(k).or_default() += 1;
        if s.initial {
            count("listed_before_following");
            continue;
        }
        let Some(&ingest) = reference.get(&(s.rendition.clone(), s.msn, s.part)) else {
            count("no_reference");
            continue;
        };
        let latency_ms = (s.arrived - ingest) * 1000.0;
        let class = if ingest >= last_video {
            "final_part"
        } else if ingest - first_frame < args.warmup {
            "warmup"
        } else if s.sent > ingest {
            // Sent after the last frame came in: if the part was listed before the request,
            // the figure overstates the latency. Kept (conservative) and counted.
            "measured_late_request"
        } else {
            "measured"
        };
        count(class);
        if class.starts_with("measured") {
            entry.0.push(latency_ms);
        }
        let media = data.media.get(&(s.rendition.clone(), s.msn, s.part));
        let span = |t: &TrackTimes| [t.first_pts_ms, t.end_pts_ms];
        let video = media.and_then(|m| m.video.as_ref()).map(span);
        let audio = media.and_then(|m| m.audio.as_ref()).map(span);
        rows.push(json!({
            "rendition": s.rendition, "msn": s.msn, "part": s.part,
            "video_pts_ms": video, "audio_pts_ms": audio,
            "request_sent_s": s.sent, "listed_s": s.arrived, "last_frame_ingest_s": ingest,
            "latency_ms": latency_ms, "class": class,
        }));
    }
    let mut pooled = Vec::new();
    let mut per_rendition = serde_json::Map::new();
    for (name, (values, counts)) in &mut renditions {
        if name != "source" {
            pooled.extend_from_slice(values);
        }
        let mut entry = json!({ "latency_ms": stats(values), "parts": counts });
        if let Some((over, longest, target)) = over_target.get(name) {
            entry["part_durations"] =
                json!({ "part_target_s": target, "longest_s": longest, "over_part_target": over });
        }
        if let Some((checked, differing, most)) = alignment.get(name) {
            entry["alignment_with_source"] = json!({
                "parts_checked": checked,
                "parts_with_other_pictures": differing,
                "most_pictures_differing": most,
            });
        }
        per_rendition.insert(name.clone(), entry);
    }
    json!({
        "method": "per part of each rendition: from the relay-stamped ingest of the last source frame it carries (pictures by presentation time, audio by the nearest timestamp) to the first blocking playlist response listing it; see bench/load/src/bin/part-latency.rs",
        "warmup_s": args.warmup,
        "relay": {
            "video_frames": log.video.len(),
            "audio_frames": log.audio.len(),
            "origin_rtmp_ts": log.first_keyframe_ts,
            "published_s": log.closed_at.zip(log.connected_at).map(|(c, o)| c - o),
            "parse_error": log.parse_error,
        },
        "parts_not_matched_to_ingest": { "video": unmatched_video, "audio": unmatched_audio },
        "renditions": per_rendition,
        "transcoded_pooled_latency_ms": stats(&mut pooled),
        "errors": data.errors,
        "parts": rows,
        "ingest_video": log.video.iter().map(|&(dts, pts, at)| json!([dts, pts, at])).collect::<Vec<_>>(),
        "ingest_audio": log.audio.iter().map(|&(ts, at)| json!([ts, at])).collect::<Vec<_>>(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let clock = Clock(Instant::now());
    let log = Arc::new(Mutex::new(RelayLog::default()));
    let data = Arc::new(Mutex::new(Data::default()));
    let listener = TcpListener::bind(&args.relay).await?;
    tokio::spawn(relay(listener, args.rtmp.clone(), log.clone(), clock));
    println!("relay listening on {}", args.relay);
    let set = Arc::new(Mutex::new(JoinSet::new()));
    let discovery = tokio::spawn(discover(args.clone(), data.clone(), clock, set.clone()));
    let deadline = clock.now() + args.max_duration as f64;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let closed = lock(&log).closed_at;
        if closed.is_some_and(|c| clock.now() > c + args.tail) || clock.now() > deadline {
            break;
        }
    }
    discovery.abort();
    lock(&set).abort_all();
    let result = {
        let log = lock(&log);
        let data = lock(&data);
        analyse(&args, &log, &data)
    };
    println!(
        "relay: {} video / {} audio frames{}",
        result["relay"]["video_frames"],
        result["relay"]["audio_frames"],
        result["relay"]["parse_error"]
            .as_str()
            .map(|e| format!(", parse error: {e}"))
            .unwrap_or_default()
    );
    if let Some(r) = result["renditions"].as_object() {
        for (name, v) in r {
            let d = &v["part_durations"];
            let mut alignment = format!(
                "; longest part {:.3} s (PART-TARGET {:.3}, {} over)",
                d["longest_s"].as_f64().unwrap_or(f64::NAN),
                d["part_target_s"].as_f64().unwrap_or(f64::NAN),
                d["over_part_target"]
            );
            let a = &v["alignment_with_source"];
            if !a.is_null() {
                alignment += &format!(
                    "; {} of {} parts carry pictures other than the source part of the same number (at most {})",
                    a["parts_with_other_pictures"], a["parts_checked"], a["most_pictures_differing"]
                );
            }
            println!(
                "{name}: {}; parts {}{alignment}",
                fmt_stats(&v["latency_ms"]),
                v["parts"]
            );
        }
    }
    println!(
        "transcoded pooled: {}",
        fmt_stats(&result["transcoded_pooled_latency_ms"])
    );
    println!(
        "parts not matched to ingested frames {}; errors {}",
        result["parts_not_matched_to_ingest"], result["errors"]
    );
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_vec_pretty(&result)?)?;
    }
    Ok(())
}
