//! Low-Latency HLS delivery directives (draft-pantos-hls-rfc8216bis §6.2.5): the `_HLS_msn`,
//! `_HLS_part` and `_HLS_skip` query parameters, whether a blocking request can be answered, and
//! the wait for it on the rendition's position (a `watch` channel: no polling, and any number of
//! requests can wait on one rendition).

use crate::http::error::AppError;
use crate::live::{BlockingLimits, Output, Position};
use crate::metrics as m;
use axum::http::StatusCode;
use ferrocast_media::ByteChain;
use tokio::sync::watch;
use tracing::debug;

const MSN: &str = "_HLS_msn";
const PART: &str = "_HLS_part";
const SKIP: &str = "_HLS_skip";
/// A blocked request is given up on after this many target durations (§6.2.5.2).
const MAX_WAIT_TARGETS: u32 = 3;

/// The delivery directives of a playlist request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Directives {
    /// `_HLS_msn`: wait for this media sequence number.
    pub msn: Option<u64>,
    /// `_HLS_part`: and for this part of it.
    pub part: Option<u64>,
    /// `_HLS_skip=YES` or `v2`: answer with the Playlist Delta Update.
    pub skip: bool,
}

/// Why delivery directives were refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    /// A number that is not a decimal integer (or is out of range).
    #[error("{name} must be a decimal integer")]
    NotANumber {
        /// The parameter.
        name: &'static str,
    },
    /// The same directive twice.
    #[error("{name} is given more than once")]
    Repeated {
        /// The parameter.
        name: &'static str,
    },
    /// `_HLS_skip` with a value other than `YES` and `v2`.
    #[error("_HLS_skip must be YES or v2")]
    BadSkip,
    /// `_HLS_part` alone, which §6.2.5.2 requires to be refused.
    #[error("_HLS_part requires _HLS_msn")]
    PartWithoutMsn,
}

impl Directives {
    /// Reads the directives from a raw query string. Other parameters (cache busters, tokens,
    /// `_HLS_` names reserved for later directives) are ignored.
    pub fn parse(query: Option<&str>) -> Result<Self, DirectiveError> {
        let mut directives = Self::default();
        let mut skip_seen = false;
        for pair in query.unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                MSN => set_number(&mut directives.msn, MSN, value)?,
                PART => set_number(&mut directives.part, PART, value)?,
                SKIP => {
                    if std::mem::replace(&mut skip_seen, true) {
                        return Err(DirectiveError::Repeated { name: SKIP });
                    }
                    // Without EXT-X-DATERANGE a v2 delta is the same as a YES delta.
                    directives.skip = matches!(value, "YES" | "v2");
                    if !directives.skip {
                        return Err(DirectiveError::BadSkip);
                    }
                }
                _ => {}
            }
        }
        if directives.part.is_some() && directives.msn.is_none() {
            return Err(DirectiveError::PartWithoutMsn);
        }
        Ok(directives)
    }
}

fn set_number(
    slot: &mut Option<u64>,
    name: &'static str,
    value: &str,
) -> Result<(), DirectiveError> {
    if slot.is_some() {
        return Err(DirectiveError::Repeated { name });
    }
    *slot = Some(super::number(value).ok_or(DirectiveError::NotANumber { name })?);
    Ok(())
}

/// Where a blocking playlist request (`_HLS_msn`, `_HLS_part`) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The playlist contains what was asked for: answer now.
    Ready,
    /// The playlist has ended: directives are ignored, answer now (§6.2.5.2).
    Ended,
    /// Not yet: hold the request.
    Wait,
    /// Too far ahead to wait for: answer 400 (§6.2.5.2).
    TooFar,
}

/// Decides a blocking playlist request for segment `msn` (and part `part` of it) against the
/// rendition's `position`.
///
/// - Without a part, segment `msn` (or a later one) must be complete.
/// - With a part, that part or a later one must be listed; a part index beyond the last part of
///   a complete segment means part 0 of the next one (§6.2.5.2), which this order gives for free.
/// - Too far: `msn` more than two beyond the last complete segment, or `part` more than the
///   Advance Part Limit beyond the last listed part (3 / PART-TARGET parts below 1 s, else 3).
pub fn decide(
    position: &Position,
    msn: u64,
    part: Option<u64>,
    limits: &BlockingLimits,
) -> Decision {
    if position.ended {
        return Decision::Ended;
    }
    // The last complete segment is `next_msn - 1`; none yet counts as one before `next_msn`.
    if msn > position.next_msn.saturating_add(1) {
        return Decision::TooFar;
    }
    let Some(part) = part else {
        return if msn < position.next_msn {
            Decision::Ready
        } else {
            Decision::Wait
        };
    };
    let Some((last_msn, last_part)) = position.last else {
        return Decision::Wait;
    };
    // How many parts past the last listed one the request is, at least (a later segment's
    // parts come after all of the current one's, whose count is not known yet).
    let ahead = match msn.cmp(&last_msn) {
        std::cmp::Ordering::Less => 0.0,
        std::cmp::Ordering::Equal => part as f64 - last_part.map_or(-1.0, |p| p as f64),
        std::cmp::Ordering::Greater => part as f64 + 1.0,
    };
    if ahead > advance_part_limit(limits) {
        return Decision::TooFar;
    }
    let reached = last_msn > msn || (last_msn == msn && last_part.is_some_and(|p| p >= part));
    if reached {
        Decision::Ready
    } else {
        Decision::Wait
    }
}

/// The Advance Part Limit of rfc8216bis §6.2.5.2, in parts.
fn advance_part_limit(limits: &BlockingLimits) -> f64 {
    let secs = limits.part_target.as_secs_f64();
    if secs > 0.0 && secs < 1.0 {
        3.0 / secs
    } else {
        3.0
    }
}

/// Holds a playlist request until [`decide`] lets it through, for at most three target
/// durations; returns [`Decision::Ready`] or [`Decision::Ended`], or the error to answer.
pub async fn wait_playlist(
    mut position: watch::Receiver<Position>,
    msn: u64,
    part: Option<u64>,
    limits: BlockingLimits,
) -> Result<Decision, AppError> {
    let now = decide(&position.borrow_and_update(), msn, part, &limits);
    match now {
        Decision::Wait => {}
        Decision::TooFar => return Err(too_far("playlist", msn, part)),
        ready => return Ok(ready),
    }
    let reached = wait(&mut position, "playlist", msn, part, limits, |p| {
        decide(p, msn, part, &limits) != Decision::Wait
    })
    .await?;
    match decide(&reached, msn, part, &limits) {
        // Positions only move forward, so a request cannot become too far while waiting; refused
        // all the same rather than assumed.
        Decision::TooFar => Err(too_far("playlist", msn, part)),
        decision => Ok(decision),
    }
}

/// A part of the open segment that is not complete yet: when it is the one the preload hint
/// names, holds the request until it is complete (at most three target durations) and returns
/// it; otherwise (too far ahead, never coming, the playlist ended) `None`, a 404.
pub async fn wait_part(
    output: &Output,
    rendition: &str,
    msn: u64,
    index: u64,
    limits: BlockingLimits,
) -> Result<Option<ByteChain>, AppError> {
    let Some(mut position) = output.watch_position(rendition) else {
        return Ok(None);
    };
    let hinted = |p: &Position| p.hint == Some((msn, index));
    // The window is updated before the position is sent, so a lookup made after observing a
    // position sees at least that position.
    if hinted(&position.borrow_and_update()) {
        // Until the hint moves on: the part is complete, or was never made (a publisher left).
        wait(&mut position, "part", msn, Some(index), limits, |p| {
            !hinted(p)
        })
        .await?;
    }
    Ok(output.part(rendition, msn, index))
}

/// Holds a request until `done` holds for the position, for at most three target durations
/// (counted in [`m::HLS_BLOCKED`] meanwhile); a 503 when that time passes or the broadcast's
/// output is gone (the channel was deleted: nothing will come).
async fn wait(
    position: &mut watch::Receiver<Position>,
    kind: &'static str,
    msn: u64,
    part: Option<u64>,
    limits: BlockingLimits,
    done: impl FnMut(&Position) -> bool,
) -> Result<Position, AppError> {
    let _blocked = Blocked::new(kind);
    let wait = position.wait_for(done);
    match tokio::time::timeout(limits.target_duration * MAX_WAIT_TARGETS, wait).await {
        Ok(Ok(reached)) => {
            if let Some(at) = reached.moved_at {
                metrics::histogram!(m::HLS_BLOCKING_RELEASE, "kind" => kind)
                    .record(at.elapsed().as_secs_f64());
            }
            Ok(*reached)
        }
        Ok(Err(_)) | Err(_) => Err(not_ready(kind, msn, part)),
    }
}

/// A 400 for directives that cannot be read.
pub fn malformed(error: &DirectiveError) -> AppError {
    debug!(%error, "delivery directives refused");
    refusal(
        "playlist",
        StatusCode::BAD_REQUEST,
        "bad_delivery_directive",
        error.to_string(),
    )
}

fn too_far(kind: &'static str, msn: u64, part: Option<u64>) -> AppError {
    debug!(kind, msn, part, "blocking request too far ahead");
    refusal(
        kind,
        StatusCode::BAD_REQUEST,
        "too_far_ahead",
        "the requested segment or part is too far beyond the end of the playlist",
    )
}

fn not_ready(kind: &'static str, msn: u64, part: Option<u64>) -> AppError {
    debug!(kind, msn, part, "blocking request timed out");
    refusal(
        kind,
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "the requested segment or part did not become available in time",
    )
}

/// The error answered to a blocking request, counted by kind and status code.
fn refusal(
    kind: &'static str,
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> AppError {
    metrics::counter!(m::HLS_BLOCKING_ERRORS, "kind" => kind, "code" => status.as_str().to_owned())
        .increment(1);
    AppError::bad_request(status, code, message)
}

/// Counts a request in [`m::HLS_BLOCKED`] while it waits, however the wait ends (including the
/// client going away, which drops the handler's future).
struct Blocked(metrics::Gauge);

impl Blocked {
    fn new(kind: &'static str) -> Self {
        let gauge = metrics::gauge!(m::HLS_BLOCKED, "kind" => kind);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(test)]
mod tests;
