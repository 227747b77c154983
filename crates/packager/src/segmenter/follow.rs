//! Aligned renditions: a leader publishes its cuts as [`Boundary`]s, followers cut where they say.
//!
//! A follower's position (segment, part) only moves at the leader's boundaries; an interval it
//! has no media for is closed anyway, as a gap part, so that its segments and parts keep the
//! leader's numbers and durations. A segment made only of gaps is a gap segment.

use super::state::*;
use super::*;
use crate::BoundaryKind;

/// Bound on the frames a follower holds while it knows no boundary to place them against.
const MAX_HELD_FRAMES: usize = 4096;
/// A cutting frame later than its boundary by more than this many of its frame intervals means
/// frames are missing around the boundary.
const HOLE_INTERVALS: f64 = 1.5;

/// A follower's state.
#[derive(Default)]
pub(super) struct Follow {
    /// Boundaries not reached yet, in order.
    queue: VecDeque<Boundary>,
    /// Presentation time of the last boundary pushed.
    last_at: Option<i64>,
    /// Frames that came while waiting with no boundary ahead of them, replayed on the next push.
    held: VecDeque<(i64, Frame)>,
    held_bytes: usize,
    /// Video frames are dropped until a keyframe: frames went missing, or the configuration
    /// changed.
    need_key: bool,
    /// The configuration changed: media is dropped until the next segment boundary.
    reconfigure: bool,
    /// The next segment starts with a new init.
    need_init: bool,
    /// Configurations that take effect at the next segment boundary; until then the open
    /// segment's samples are timed with the ones they were made with.
    pending_video: Option<VideoConfig>,
    pending_audio: Option<AudioConfig>,
}

/// What a follower does with a frame.
pub(super) enum Gate {
    /// Keep it until a boundary comes (none is known past it).
    Hold,
    /// It cannot start the first segment.
    Drop,
    /// Move through these boundaries, then add the frame if `accept`.
    Go(Plan),
}

/// The cuts a follower makes before adding a frame.
pub(super) struct Plan {
    pub(super) steps: Vec<Step>,
    pub(super) accept: bool,
}

/// One boundary a follower moves through. `at` is where the cut is, in the follower's media
/// time; `None` means at the frame itself, so that the timeline stays continuous.
pub(super) enum Step {
    Part { at: Option<i64> },
    Segment { at: Option<i64>, boundary: Boundary },
}

/// What the gate needs to know about a frame.
pub(super) struct Arrival {
    /// Presentation time as it came in.
    pub(super) pts: i64,
    pub(super) keyframe: bool,
    pub(super) video: bool,
    /// Video, or audio without video: its frames make the cuts.
    pub(super) leads: bool,
    /// Audio in a stream whose video has stalled: it moves the position on its own.
    pub(super) stalled: bool,
    /// The leading track's frame interval (ms).
    pub(super) interval: f64,
}

impl LiveSegmenter {
    /// Gives a follower the leader's next boundary (ignored by a leader).
    ///
    /// Boundaries must come in the order the leader published them; one that goes back in time
    /// means the leader restarted, and those still queued are forgotten. At most
    /// [`MAX_QUEUED_BOUNDARIES`] wait; older ones are dropped. Frames held while no boundary was
    /// known are replayed now, which may produce outputs (and their errors).
    ///
    /// A boundary that contradicts itself (a segment start not at part 0, a part start at part
    /// 0) is refused with [`PackagerError::InvalidBoundary`] and changes nothing. Times are not
    /// bounded (all arithmetic on them saturates): one that no frame ever reaches is dropped
    /// when the next boundary, earlier than it, resets the queue.
    pub fn push_boundary(&mut self, boundary: Boundary) -> Result<(), PackagerError> {
        let contradiction = match boundary.kind {
            BoundaryKind::SegmentStart if boundary.part != 0 => {
                Some("a segment start is part 0 of its segment")
            }
            BoundaryKind::PartStart if boundary.part == 0 => {
                Some("part 0 starts with its segment, not as a part start")
            }
            _ => None,
        };
        if let Some(reason) = contradiction {
            return Err(PackagerError::InvalidBoundary {
                msn: boundary.msn,
                part: boundary.part,
                reason,
            });
        }
        let Some(follow) = self.follow.as_mut() else {
            tracing::debug!("boundary ignored: not a follower");
            return Ok(());
        };
        if follow
            .last_at
            .is_some_and(|last| boundary.at_pts_ms <= last)
        {
            tracing::info!(
                at = boundary.at_pts_ms,
                msn = boundary.msn,
                "leader boundaries went back in time; queue reset"
            );
            follow.queue.clear();
        }
        follow.last_at = Some(boundary.at_pts_ms);
        if follow.queue.len() >= MAX_QUEUED_BOUNDARIES {
            tracing::warn!("follower boundary queue full; oldest dropped");
            follow.queue.pop_front();
        }
        follow.queue.push_back(boundary);
        if follow.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut follow.held);
        follow.held_bytes = 0;
        let mut result = Ok(());
        for (now_ms, frame) in held {
            let outcome = self.on_frame(now_ms, &frame);
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    /// Consumes the boundaries a frame reaches and decides what the follower does.
    pub(super) fn follow_gate(&mut self, frame: &Arrival) -> Gate {
        let Some(running) = self.running.as_mut() else {
            return Gate::Drop;
        };
        let open = running.segment.as_ref().map(|s| s.msn);
        let has_video = running.video.is_some();
        let shift = running.shift_ms;
        let parts = self.parts.is_some();
        let Some(follow) = self.follow.as_mut() else {
            return Gate::Drop;
        };
        let moves = frame.leads || (open.is_some() && frame.stalled);
        if !moves {
            return match open {
                Some(_) => Gate::Go(Plan {
                    steps: Vec::new(),
                    accept: !follow.reconfigure,
                }),
                None if follow.queue.is_empty() => Gate::Hold,
                None => Gate::Drop,
            };
        }
        let reach = frame.pts.saturating_add(BOUNDARY_TOLERANCE_MS);
        let mut reached: Vec<Boundary> = Vec::new();
        let mut current = open;
        while follow.queue.front().is_some_and(|b| b.at_pts_ms <= reach) {
            let Some(b) = follow.queue.pop_front() else {
                break;
            };
            let keep = match b.kind {
                BoundaryKind::SegmentStart => current.is_none_or(|m| b.msn > m),
                BoundaryKind::PartStart => current == Some(b.msn),
            };
            if !keep {
                tracing::trace!(msn = b.msn, part = b.part, "stale or unplaceable boundary");
                continue;
            }
            if b.kind == BoundaryKind::SegmentStart {
                // Before the first segment only the latest start matters.
                if open.is_none() {
                    reached.clear();
                }
                current = Some(b.msn);
            }
            reached.push(b);
        }

        let Some(_) = open else {
            // The first segment starts at a frame that reaches its start and no further: a
            // keyframe (or audio), so that the rendition begins decodable.
            let starts = frame.leads
                && (frame.keyframe || !frame.video)
                && reached
                    .last()
                    .is_some_and(|b| b.kind == BoundaryKind::SegmentStart);
            if !starts {
                // Nothing known past it yet: a boundary it reaches may still come.
                return if reached.is_empty() && follow.queue.is_empty() {
                    Gate::Hold
                } else {
                    Gate::Drop
                };
            }
            let Some(start) = reached.pop() else {
                return Gate::Drop;
            };
            follow.need_key = false;
            // Same media time as the leader for the same input time (RFC 8216 §6.2.4): decode
            // times count from the leader's origin, whatever frame this rendition starts with.
            running.origin_ms = clamp_ms(
                start
                    .at_pts_ms
                    .saturating_add(shift)
                    .saturating_sub(start.media_ms),
            );
            return Gate::Go(Plan {
                steps: vec![Step::Segment {
                    at: None,
                    boundary: start,
                }],
                accept: true,
            });
        };

        let shifted = |b: &Boundary| clamp_ms(b.at_pts_ms.saturating_add(shift));
        // A part boundary of the open segment that a frame its open part already holds reaches
        // (the leader cut before a frame it had, see `close_open_part`, or the boundary came
        // late) is placed before that frame, as the leader placed it: nothing is missing there.
        let frames = running.segment.as_ref().map_or(&[][..], |s| &s.part.video);
        let mut same_segment = true;
        let held: Vec<Option<i64>> = reached
            .iter()
            .map(|b| {
                same_segment &= b.kind == BoundaryKind::PartStart;
                let at = shifted(b).saturating_sub(BOUNDARY_TOLERANCE_MS);
                let reaches = |v: &&VideoSample| v.pts() >= at;
                (parts && same_segment)
                    .then(|| frames.iter().skip(1).find(reaches).map(|v| v.dts))
                    .flatten()
            })
            .collect();
        let unheld = held.iter().filter(|h| h.is_none()).count();
        let late = held.last().is_some_and(Option::is_none)
            && reached.last().is_some_and(|b| {
                (frame.pts - b.at_pts_ms) as f64 > frame.interval * HOLE_INTERVALS + 2.0
            });
        let hole = !reached.is_empty() && (!frame.leads || unheld > 1 || late);
        if hole && has_video {
            tracing::debug!(
                boundaries = reached.len(),
                "follower media missing across a boundary"
            );
            follow.need_key = true;
        }
        let count = reached.len();
        let mut steps = Vec::with_capacity(count);
        for (i, (b, held)) in reached.into_iter().zip(held).enumerate() {
            let at = match held {
                Some(dts) => Some(dts),
                None if i + 1 == count && frame.leads && !hole => None,
                None => Some(shifted(&b)),
            };
            match b.kind {
                BoundaryKind::PartStart if parts => steps.push(Step::Part { at }),
                BoundaryKind::PartStart => {}
                BoundaryKind::SegmentStart => {
                    if std::mem::take(&mut follow.reconfigure) {
                        follow.need_key = has_video;
                    }
                    steps.push(Step::Segment { at, boundary: b });
                }
            }
        }
        let blind = frame.video && follow.need_key && !frame.keyframe;
        let accept = !(follow.reconfigure || blind);
        if accept && frame.video && frame.keyframe {
            follow.need_key = false;
        }
        Gate::Go(Plan { steps, accept })
    }

    /// Moves a follower through the boundaries of its plan; `at_ms` is the frame's media time.
    pub(super) fn follow_steps(
        &mut self,
        steps: Vec<Step>,
        at_ms: i64,
    ) -> Result<(), PackagerError> {
        let mut result = Ok(());
        for step in steps {
            match step {
                Step::Part { at } => {
                    let outcome = self.close_open_part(at.unwrap_or(at_ms));
                    result = result.and(outcome);
                }
                Step::Segment { at, boundary } => {
                    let at = at.unwrap_or(at_ms);
                    let mut outcome = self.close_segment(Some(at));
                    self.apply_pending_configs();
                    if self.init_pending() {
                        outcome = outcome.and(self.emit_init());
                    }
                    self.open_following(&boundary, at);
                    result = result.and(outcome);
                }
            }
        }
        result
    }

    /// Whether a configuration change waits for a segment start to emit its init.
    fn init_pending(&mut self) -> bool {
        self.follow
            .as_mut()
            .is_some_and(|f| std::mem::take(&mut f.need_init))
    }

    /// What a follower does with a frame that does not lead cuts while no segment is open.
    pub(super) fn hold(&mut self, now_ms: i64, frame: &Frame) {
        let Some(follow) = self.follow.as_mut() else {
            return;
        };
        while !follow.held.is_empty()
            && (follow.held.len() >= MAX_HELD_FRAMES
                || follow.held_bytes + frame.data.len() > MAX_PENDING_BYTES)
        {
            if let Some((_, old)) = follow.held.pop_front() {
                follow.held_bytes = follow.held_bytes.saturating_sub(old.data.len());
            }
        }
        follow.held_bytes += frame.data.len();
        follow.held.push_back((now_ms, frame.clone()));
    }

    /// A follower's track configuration changed. Only a leader's segment boundary may start the
    /// segment the new init applies to, so media is dropped until the next one, where the new
    /// configuration takes effect; the open segment keeps its numbers, its remaining parts
    /// becoming gaps.
    pub(super) fn follower_reconfigure(
        &mut self,
        video: Option<VideoConfig>,
        audio: Option<AudioConfig>,
    ) {
        let open = self.running.as_ref().is_some_and(|r| r.segment.is_some());
        let Some(follow) = self.follow.as_mut() else {
            return;
        };
        follow.need_init = true;
        if let Some(video) = video {
            follow.pending_video = Some(video);
        }
        if let Some(audio) = audio {
            follow.pending_audio = Some(audio);
        }
        if open {
            follow.reconfigure = true;
        } else {
            self.apply_pending_configs();
        }
    }

    fn apply_pending_configs(&mut self) {
        let Some(follow) = self.follow.as_mut() else {
            return;
        };
        let (video, audio) = (follow.pending_video.take(), follow.pending_audio.take());
        let Some(running) = self.running.as_mut() else {
            return;
        };
        if let (Some(config), Some(track)) = (video, running.video.as_mut()) {
            track.config = config;
        }
        if let (Some(config), Some(track)) = (audio, running.audio.as_mut()) {
            track.config = config;
            // The sample rate may have changed: restart the sample count from the timestamps.
            track.next_decode = None;
        }
    }

    /// Opens a follower's segment at `start`, at media time `at_ms`.
    fn open_following(&mut self, start: &Boundary, at_ms: i64) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let boundary_ms = start.at_pts_ms.saturating_add(running.shift_ms);
        let wall_ms = start
            .program_date_time_ms
            .saturating_add(at_ms.saturating_sub(boundary_ms));
        running.segment = Some(OpenSegment::new(start.msn, at_ms, wall_ms));
        self.next_msn = start.msn.saturating_add(1);
    }

    /// A leader announces the segment or part now open: the boundary names the part's first
    /// frame (the one just added, or a frame the part was cut before, see
    /// [`close_open_part`](Self::close_open_part)), so followers cut before the same frame.
    pub(super) fn publish_boundary(&mut self, kind: BoundaryKind) {
        if self.follow.is_some() {
            return;
        }
        let Some(running) = self.running.as_ref() else {
            return;
        };
        let Some(segment) = running.segment.as_ref() else {
            return;
        };
        let first = &segment.part;
        let (at_pts_ms, media_ms, independent) = if let Some(video) = first.video.first() {
            // A part that starts inside a GOP is cut in decode order. With B-frames its first
            // frame is presented later than frames that follow it, and a follower (no B-frames:
            // presentation order is decode order) cutting at that presentation time would cut
            // frames late and make longer parts. The cut is where the part starts in decode time,
            // plus the presentation delay the segment's keyframe had: the same durations.
            let cts = if kind == BoundaryKind::PartStart && !video.keyframe {
                segment.lead_cts
            } else {
                video.cts
            };
            let delay = i64::from(cts) - i64::from(video.cts);
            let media_ms = (video.dts - running.origin_ms).saturating_add(i64::from(cts));
            (video.pts_in.saturating_add(delay), media_ms, video.keyframe)
        } else if let (Some(sample), Some(audio)) = (first.audio.first(), &running.audio) {
            (sample.pts_in, audio.samples_to_ms(sample.decode), true)
        } else {
            return;
        };
        let boundary = Boundary {
            at_pts_ms,
            msn: segment.msn,
            part: segment.part_index(),
            kind,
            independent,
            media_ms,
            program_date_time_ms: segment.wall_at(segment.part_start_ms),
        };
        if kind == BoundaryKind::SegmentStart {
            if let Some(video) = first.video.first() {
                let cts = video.cts;
                if let Some(segment) = self.running.as_mut().and_then(|r| r.segment.as_mut()) {
                    segment.lead_cts = cts;
                }
            }
        }
        if self.boundaries.len() >= MAX_QUEUED_BOUNDARIES {
            self.boundaries.pop_front();
        }
        self.boundaries.push_back(boundary);
    }
}
