//! ffmpeg's `-progress` report and log lines, the restart back-off and the encode-speed watch.

use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest line kept from ffmpeg's stdout or stderr; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 1024;

/// Reads lines from ffmpeg's stdout or stderr, each bounded by [`MAX_LINE`] and decoded lossily,
/// so that neither a line without an end nor a byte that is not UTF-8 stops the reading (a pipe
/// nobody drains would stall ffmpeg).
pub struct BoundedLines<R> {
    reader: R,
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> BoundedLines<R> {
    /// Lines of `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            line: Vec::new(),
        }
    }

    /// The next line without its `\n` (or `\r\n`), at most [`MAX_LINE`] bytes of it; `None` at the
    /// end of the stream.
    pub async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        self.line.clear();
        let mut read_any = false;
        loop {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                break;
            }
            read_any = true;
            let (text, used, end) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            let room = MAX_LINE.saturating_sub(self.line.len());
            self.line.extend_from_slice(&text[..text.len().min(room)]);
            self.reader.consume(used);
            if end {
                break;
            }
        }
        if !read_any {
            return Ok(None);
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(Some(String::from_utf8_lossy(&self.line).into_owned()))
    }
}

/// One `-progress` block (`key=value` lines ended by `progress=continue|end`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// `frame=`: frames encoded so far (of the first output).
    pub frame: Option<u64>,
    /// `speed=`: media time encoded per wall-clock time (`1.01x`); `None` for `N/A`.
    pub speed: Option<f64>,
    /// `drop_frames=`: frames dropped so far.
    pub drop_frames: Option<u64>,
    /// `out_time_us=` (or `out_time_ms=`, which ffmpeg also gives in microseconds).
    pub out_time_us: Option<i64>,
    /// `progress=end`: the last block, ffmpeg is exiting.
    pub end: bool,
}

/// Collects `-progress` lines into [`Progress`] blocks.
#[derive(Debug, Default)]
pub struct ProgressParser {
    current: Progress,
}

impl ProgressParser {
    /// Feeds one line; returns the block it completes, if any. Unknown keys and values that do
    /// not parse are ignored.
    pub fn line(&mut self, line: &str) -> Option<Progress> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        match key.trim() {
            "frame" => self.current.frame = value.parse().ok(),
            "drop_frames" => self.current.drop_frames = value.parse().ok(),
            "speed" => {
                self.current.speed = value
                    .trim_end_matches('x')
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite())
            }
            "out_time_us" | "out_time_ms" => self.current.out_time_us = value.parse().ok(),
            "progress" => {
                let mut block = std::mem::take(&mut self.current);
                block.end = value == "end";
                return Some(block);
            }
            _ => {}
        }
        None
    }
}

/// Restart delays: 0.2 s, then 1 s, 2 s, 4 s ... at most 10 s; back to 0.2 s after a run that lasted.
#[derive(Default, Debug, Clone)]
pub struct Backoff {
    /// `None` until the first restart, which waits only [`FIRST_RESTART`].
    next: Option<Duration>,
}

/// Delay of the first restart after a crash: a single crash costs the rungs well under a
/// second more than ffmpeg's start-up (the ladder is back within 2 s).
pub const FIRST_RESTART: Duration = Duration::from_millis(200);
/// Delay of the second restart in a row, doubled for each further one.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest restart delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A run this long resets the back-off.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(30);

impl Backoff {
    /// The delay before the next restart, after a run that lasted `ran`.
    pub fn next_delay(&mut self, ran: Duration) -> Duration {
        if ran >= BACKOFF_RESET_AFTER {
            self.next = None;
        }
        let Some(delay) = self.next else {
            self.next = Some(BACKOFF_MIN);
            return FIRST_RESTART;
        };
        self.next = Some((delay * 2).min(BACKOFF_MAX));
        delay
    }
}

/// Encoding slower than real time for this long sheds the highest rung.
pub const SLOW_FOR: Duration = Duration::from_secs(5);
/// Speeds below this count as slow. Input arrives in real time, so a process that keeps up
/// measures about 1.0 with jitter; one that does not falls further behind every second.
pub const SLOW_SPEED: f64 = 0.97;

/// Watches encode speed, measured from `out_time` advances over wall-clock time (ffmpeg's own
/// `speed=` is an average since start, which a live input holds below 1.0 for a long time after
/// the initial analysis delay).
#[derive(Debug, Default)]
pub struct SpeedWatch {
    /// (wall ms, out_time µs) samples of the last [`SLOW_FOR`] and a bit.
    samples: std::collections::VecDeque<(u64, i64)>,
}

impl SpeedWatch {
    /// Records a progress block at `wall_ms`; returns the speed over the last [`SLOW_FOR`] once
    /// that much has been observed.
    pub fn observe(&mut self, wall_ms: u64, out_time_us: i64) -> Option<f64> {
        self.samples.push_back((wall_ms, out_time_us));
        let window = SLOW_FOR.as_millis() as u64;
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|&(t, _)| wall_ms.saturating_sub(t) >= window)
        {
            self.samples.pop_front();
        }
        let &(t0, o0) = self.samples.front()?;
        let span = wall_ms.saturating_sub(t0);
        if span < window {
            return None;
        }
        Some((out_time_us - o0) as f64 / 1000.0 / span as f64)
    }

    /// Whether the last [`SLOW_FOR`] was slower than real time.
    pub fn is_slow(speed: Option<f64>) -> bool {
        speed.is_some_and(|s| s < SLOW_SPEED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_blocks() {
        let mut p = ProgressParser::default();
        let text = "frame=120\nfps=30.00\nstream_0_0_q=23.0\nbitrate= 800.1kbits/s\n\
                    out_time_us=4000000\nout_time_ms=4000000\nout_time=00:00:04.000000\n\
                    dup_frames=0\ndrop_frames=3\nspeed=0.998x\nprogress=continue\n\
                    frame=150\nspeed=N/A\nprogress=end\n";
        let blocks: Vec<_> = text.lines().filter_map(|l| p.line(l)).collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0],
            Progress {
                frame: Some(120),
                speed: Some(0.998),
                drop_frames: Some(3),
                out_time_us: Some(4_000_000),
                end: false,
            }
        );
        assert_eq!(blocks[1].frame, Some(150));
        assert_eq!(blocks[1].speed, None);
        assert_eq!(blocks[1].drop_frames, None, "each block stands alone");
        assert!(blocks[1].end);
        assert_eq!(p.line("garbage"), None);
        assert_eq!(p.line("speed=  1.5x "), None);
        assert_eq!(p.line("progress=continue").unwrap().speed, Some(1.5));
    }

    #[tokio::test]
    async fn lines_are_bounded_and_read_past_bad_bytes() {
        let mut input = b"frame=1\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
        input.extend_from_slice(b"\nbad \xff\n\nlast");
        // A reader that hands out a few bytes at a time, as a pipe may.
        let mut lines = BoundedLines::new(tokio::io::BufReader::with_capacity(7, &input[..]));
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        let long = "x".repeat(MAX_LINE);
        assert_eq!(got, ["frame=1", long.as_str(), "bad \u{fffd}", "", "last"]);
        let mut empty = BoundedLines::new(&b""[..]);
        assert_eq!(empty.next_line().await.unwrap(), None);
    }

    #[test]
    fn backoff_starts_quick_doubles_to_ten_seconds_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(100);
        let delays: Vec<u128> = (0..7).map(|_| b.next_delay(short).as_millis()).collect();
        assert_eq!(delays, [200, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(b.next_delay(Duration::from_secs(60)), FIRST_RESTART);
        assert_eq!(b.next_delay(short), BACKOFF_MIN);
    }

    #[test]
    fn speed_over_five_seconds() {
        let mut w = SpeedWatch::default();
        // Real time: out_time advances 1 s per second.
        for i in 0..5u64 {
            assert_eq!(w.observe(i * 1000, i as i64 * 1_000_000), None);
        }
        let s = w.observe(5000, 5_000_000).unwrap();
        assert!((s - 1.0).abs() < 1e-9);
        assert!(!SpeedWatch::is_slow(Some(s)));
        // Then half speed for five seconds.
        let mut out = 5_000_000;
        let mut last = None;
        for i in 6..=10u64 {
            out += 500_000;
            last = w.observe(i * 1000, out);
        }
        assert!((last.unwrap() - 0.5).abs() < 1e-9);
        assert!(SpeedWatch::is_slow(last));
        assert!(!SpeedWatch::is_slow(None));
    }
}
