//! Directory thumbnails: a JPEG decoded by ffmpeg from the keyframe that starts the latest
//! complete segment of a live channel's source.
//!
//! Made on demand and kept for [`FRESH`], so a channel nobody browses costs nothing and a crowd
//! on the directory costs one decode per channel every few seconds. At most [`CONCURRENT`]
//! ffmpeg processes run at once, each with a time limit.

use crate::live::LiveChannel;
use crate::metrics as m;
use bytes::Bytes;
use ferrocast_media::TrackKind;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, Semaphore};

/// How long a thumbnail is served before a new one is made.
pub const FRESH: Duration = Duration::from_secs(5);
/// ffmpeg processes making thumbnails at once.
const CONCURRENT: usize = 2;
/// Longest a thumbnail may take.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Largest JPEG accepted from ffmpeg.
const MAX_JPEG: usize = 2 << 20;
/// Height of the picture; the width follows the aspect ratio.
const HEIGHT: u32 = 360;

/// A channel's last thumbnail, kept with the channel so it goes when the channel does.
#[derive(Debug, Default)]
pub struct ThumbnailSlot(Mutex<Option<(Instant, Bytes)>>);

/// Makes thumbnails.
#[derive(Debug)]
pub struct Thumbnails {
    ffmpeg: PathBuf,
    permits: Semaphore,
}

impl Thumbnails {
    /// Thumbnails made with the given ffmpeg program.
    pub fn new(ffmpeg: PathBuf) -> Self {
        Self {
            ffmpeg,
            permits: Semaphore::new(CONCURRENT),
        }
    }

    /// The channel's thumbnail: a fresh one while it is live, else the last one made.
    pub async fn get(&self, channel: &LiveChannel) -> Option<Bytes> {
        // One maker per channel: concurrent requests wait for it and share its result.
        let mut slot = channel.thumbnail.0.lock().await;
        let fresh = slot.as_ref().is_some_and(|(at, _)| at.elapsed() < FRESH);
        if fresh || !channel.is_live() {
            return slot.as_ref().map(|(_, jpeg)| jpeg.clone());
        }
        match self.make(channel).await {
            Ok(jpeg) => {
                metrics::counter!(m::THUMBNAILS, "outcome" => "ok").increment(1);
                *slot = Some((Instant::now(), jpeg));
            }
            Err(error) => {
                metrics::counter!(m::THUMBNAILS, "outcome" => "error").increment(1);
                tracing::debug!(channel = %channel.name, %error, "thumbnail not made");
                // Not retried on every request while it keeps failing.
                if let Some((at, _)) = slot.as_mut() {
                    *at = Instant::now();
                }
            }
        }
        slot.as_ref().map(|(_, jpeg)| jpeg.clone())
    }

    async fn make(&self, channel: &LiveChannel) -> Result<Bytes, String> {
        let output = channel.output().ok_or("no broadcast")?;
        let source = crate::live::SOURCE_RENDITION;
        let msn = output
            .next_msn()
            .checked_sub(1)
            .ok_or("no complete segment yet")?;
        let init = output
            .init_view(source, msn, TrackKind::Video)
            .ok_or("no init segment")?;
        let segment = output
            .segment_view(source, msn, TrackKind::Video)
            .ok_or("segment gone")?;
        let mut input = Vec::with_capacity(init.len() + segment.len());
        input.extend_from_slice(&init);
        for part in segment.parts() {
            input.extend_from_slice(part);
        }
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        tokio::time::timeout(TIME_LIMIT, self.decode(input))
            .await
            .map_err(|_| "ffmpeg took too long".to_owned())?
    }

    /// Decodes the first picture of an fMP4 fragment into a JPEG.
    async fn decode(&self, input: Vec<u8>) -> Result<Bytes, String> {
        let scale = format!("scale=-2:{HEIGHT}");
        let mut child = tokio::process::Command::new(&self.ffmpeg)
            .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-protocol_whitelist", "pipe", "-f", "mp4", "-i", "pipe:0"])
            .args(["-frames:v", "1", "-an", "-vf", &scale, "-q:v", "5"])
            .args(["-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting ffmpeg: {e}"))?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let writer = tokio::spawn(async move {
            // ffmpeg closes its input after the first frame: a broken pipe here is normal.
            let _ = stdin.write_all(&input).await;
        });
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let mut jpeg = Vec::new();
        (&mut stdout)
            .take(MAX_JPEG as u64 + 1)
            .read_to_end(&mut jpeg)
            .await
            .map_err(|e| e.to_string())?;
        let status = child.wait().await.map_err(|e| e.to_string())?;
        writer.abort();
        if !status.success() || jpeg.len() < 4 || jpeg.len() > MAX_JPEG {
            return Err(format!("ffmpeg {status}, {} bytes", jpeg.len()));
        }
        Ok(Bytes::from(jpeg))
    }
}
