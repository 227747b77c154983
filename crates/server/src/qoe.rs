//! Viewer quality of experience: what players report (`POST /api/v1/qoe`), kept as Prometheus
//! series per channel and as a ten-minute window the studio summarises; and the viewer count,
//! which is the players that reported in the last 30 s.
//!
//! Everything is bounded: reports per address are rate-limited, sessions and samples per channel
//! are capped, and only channels the server knows are accepted.

use crate::metrics as m;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A session that has not reported for this long no longer counts as a viewer (players report
/// every 10 s).
pub const VIEWER_TTL: Duration = Duration::from_secs(30);
/// The window the studio's summary covers.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Sessions tracked per channel; beyond it new sessions are counted in metrics only.
const MAX_SESSIONS: usize = 50_000;
/// Samples kept per channel for the studio's percentiles.
const MAX_SAMPLES: usize = 20_000;
/// Reports per second per address, and the burst allowed.
const RATE_PER_SEC: f64 = 1.0;
const BURST: f64 = 10.0;
/// Addresses tracked by the rate limiter before idle ones are pruned.
const MAX_ADDRESSES: usize = 100_000;

/// One report from a player.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The channel watched.
    pub channel: String,
    /// A random id per page view.
    pub session: String,
    /// `start`, `beat` or `end`.
    pub event: String,
    /// Page load to first frame.
    pub startup_ms: Option<f64>,
    /// Stalled time since the previous report.
    pub rebuffer_ms: Option<f64>,
    /// Played time since the previous report.
    pub played_ms: Option<f64>,
    /// Live latency now, seconds.
    pub latency_s: Option<f64>,
    /// Rendition switches since the previous report.
    pub switches: Option<u32>,
    /// Player errors since the previous report.
    pub errors: Option<u32>,
    /// The rendition playing (its height or name).
    pub rendition: Option<String>,
}

/// Why a report was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many reports from this address.
    RateLimited,
    /// A field is out of range.
    Invalid(&'static str),
}

/// Percentiles of one figure.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Spread {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
}

/// The studio's view of a channel's viewers over the last ten minutes.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Sessions that reported in the window.
    pub sessions: usize,
    /// Viewers now.
    pub viewers: usize,
    /// Startup times, ms.
    pub startup_ms: Spread,
    /// Live latencies, s.
    pub latency_s: Spread,
    /// Stalled time over played time.
    pub rebuffer_ratio: Option<f64>,
    /// Rendition switches.
    pub switches: u64,
    /// Player errors.
    pub errors: u64,
    /// Viewers now per rendition they play.
    pub renditions: std::collections::BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Copy)]
enum Sample {
    Startup(f64),
    Latency(f64),
    Period {
        rebuffer_ms: f64,
        played_ms: f64,
        switches: u32,
        errors: u32,
    },
}

#[derive(Debug)]
struct Session {
    seen: Instant,
    ended: bool,
    rendition: Option<String>,
}

#[derive(Debug, Default)]
struct ChannelQoe {
    /// Session → when it last reported, whether it said `end`, and the rendition it plays.
    sessions: HashMap<String, Session>,
    samples: VecDeque<(Instant, Sample)>,
}

impl ChannelQoe {
    fn prune(&mut self, now: Instant) {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
        self.sessions
            .retain(|_, s| now.duration_since(s.seen) <= WINDOW);
    }

    fn watching(&self, now: Instant) -> impl Iterator<Item = &Session> {
        self.sessions
            .values()
            .filter(move |s| !s.ended && now.duration_since(s.seen) <= VIEWER_TTL)
    }

    fn viewers(&self, now: Instant) -> usize {
        self.watching(now).count()
    }

    fn push(&mut self, now: Instant, sample: Sample) {
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((now, sample));
    }
}

/// Every channel's telemetry.
#[derive(Debug, Default)]
pub struct Qoe {
    channels: Mutex<HashMap<String, ChannelQoe>>,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

fn check(v: Option<f64>, max: f64, field: &'static str) -> Result<Option<f64>, Refused> {
    match v {
        Some(x) if !x.is_finite() || !(0.0..=max).contains(&x) => Err(Refused::Invalid(field)),
        v => Ok(v),
    }
}

impl Qoe {
    /// Takes one token of `ip`'s bucket.
    fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_ADDRESSES {
            buckets.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        }
        let (tokens, at) = buckets.entry(ip).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * RATE_PER_SEC).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Records a report from `ip` for a channel the caller has checked exists.
    pub fn record(&self, ip: IpAddr, r: &Report, now: Instant) -> Result<(), Refused> {
        if !self.admit(ip, now) {
            metrics::counter!(m::QOE_REFUSED, "reason" => "rate_limited").increment(1);
            return Err(Refused::RateLimited);
        }
        let invalid = |e| {
            metrics::counter!(m::QOE_REFUSED, "reason" => "invalid").increment(1);
            e
        };
        if r.session.is_empty() || r.session.len() > 64 {
            return Err(invalid(Refused::Invalid("session")));
        }
        let ended = match r.event.as_str() {
            "start" | "beat" => false,
            "end" => true,
            _ => return Err(invalid(Refused::Invalid("event"))),
        };
        let startup = check(r.startup_ms, 600_000.0, "startup_ms").map_err(invalid)?;
        let latency = check(r.latency_s, 3_600.0, "latency_s").map_err(invalid)?;
        let rebuffer = check(r.rebuffer_ms, 3_600_000.0, "rebuffer_ms").map_err(invalid)?;
        let played = check(r.played_ms, 3_600_000.0, "played_ms").map_err(invalid)?;
        let switches = r.switches.unwrap_or(0).min(10_000);
        let errors = r.errors.unwrap_or(0).min(10_000);

        let ch = || r.channel.clone();
        if let Some(s) = startup {
            metrics::histogram!(m::QOE_STARTUP, "channel" => ch()).record(s / 1000.0);
        }
        if let Some(l) = latency {
            metrics::histogram!(m::QOE_LATENCY, "channel" => ch()).record(l);
        }
        if rebuffer.is_some() || played.is_some() {
            metrics::histogram!(m::QOE_REBUFFER, "channel" => ch())
                .record(rebuffer.unwrap_or(0.0) / 1000.0);
            metrics::counter!(m::QOE_PLAYED, "channel" => ch())
                .increment((played.unwrap_or(0.0) / 1000.0).round() as u64);
        }
        metrics::counter!(m::QOE_SWITCHES, "channel" => ch()).increment(u64::from(switches));
        metrics::counter!(m::QOE_ERRORS, "channel" => ch()).increment(u64::from(errors));

        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let c = channels.entry(r.channel.clone()).or_default();
        c.prune(now);
        let rendition = r.rendition.as_ref().map(|n| n.chars().take(32).collect());
        if let Some(s) = c.sessions.get_mut(&r.session) {
            s.seen = now;
            s.ended = ended;
            s.rendition = rendition.or(s.rendition.take());
        } else if c.sessions.len() < MAX_SESSIONS {
            let s = Session {
                seen: now,
                ended,
                rendition,
            };
            c.sessions.insert(r.session.clone(), s);
        }
        if let Some(s) = startup {
            c.push(now, Sample::Startup(s));
        }
        if let Some(l) = latency {
            c.push(now, Sample::Latency(l));
        }
        if rebuffer.is_some() || played.is_some() || switches > 0 || errors > 0 {
            c.push(
                now,
                Sample::Period {
                    rebuffer_ms: rebuffer.unwrap_or(0.0),
                    played_ms: played.unwrap_or(0.0),
                    switches,
                    errors,
                },
            );
        }
        metrics::gauge!(m::VIEWERS, "channel" => ch()).set(c.viewers(now) as f64);
        Ok(())
    }

    /// Players of `channel` that reported in the last 30 s and have not left.
    pub fn viewers(&self, channel: &str, now: Instant) -> usize {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.get(channel).map_or(0, |c| c.viewers(now))
    }

    /// The last ten minutes of `channel`.
    pub fn summary(&self, channel: &str, now: Instant) -> Summary {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(c) = channels.get_mut(channel) else {
            return Summary::default();
        };
        c.prune(now);
        let (mut startup, mut latency) = (Vec::new(), Vec::new());
        let (mut rebuffer, mut played, mut switches, mut errors) = (0.0, 0.0, 0u64, 0u64);
        for (_, s) in &c.samples {
            match *s {
                Sample::Startup(v) => startup.push(v),
                Sample::Latency(v) => latency.push(v),
                Sample::Period {
                    rebuffer_ms,
                    played_ms,
                    switches: sw,
                    errors: er,
                } => {
                    rebuffer += rebuffer_ms;
                    played += played_ms;
                    switches += u64::from(sw);
                    errors += u64::from(er);
                }
            }
        }
        let mut renditions = std::collections::BTreeMap::new();
        for s in c.watching(now) {
            let name = s.rendition.clone().unwrap_or_else(|| "unknown".into());
            *renditions.entry(name).or_insert(0) += 1;
        }
        Summary {
            renditions,
            sessions: c.sessions.len(),
            viewers: c.viewers(now),
            startup_ms: spread(&mut startup),
            latency_s: spread(&mut latency),
            rebuffer_ratio: (played > 0.0).then(|| rebuffer / played),
            switches,
            errors,
        }
    }

    /// Forgets a deleted channel.
    pub fn forget(&self, channel: &str) {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(channel);
    }
}

/// Nearest-rank percentiles.
fn spread(values: &mut [f64]) -> Spread {
    if values.is_empty() {
        return Spread::default();
    }
    values.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    };
    Spread {
        p50: Some(at(0.5)),
        p90: Some(at(0.9)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn report(session: &str, event: &str) -> Report {
        Report {
            channel: "c".into(),
            session: session.into(),
            event: event.into(),
            startup_ms: None,
            rebuffer_ms: None,
            played_ms: None,
            latency_s: None,
            switches: None,
            errors: None,
            rendition: None,
        }
    }

    #[test]
    fn viewers_are_sessions_heard_from_in_the_last_30_s_that_did_not_leave() {
        let q = Qoe::default();
        let t0 = Instant::now();
        let ip = |n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        q.record(ip(1), &report("a", "start"), t0).unwrap();
        q.record(ip(2), &report("b", "start"), t0).unwrap();
        assert_eq!(q.viewers("c", t0), 2);
        q.record(ip(2), &report("b", "end"), t0).unwrap();
        assert_eq!(q.viewers("c", t0), 1);
        assert_eq!(q.viewers("c", t0 + Duration::from_secs(31)), 0);
        assert_eq!(q.viewers("other", t0), 0);
    }

    #[test]
    fn an_address_gets_a_burst_of_ten_then_one_per_second() {
        let q = Qoe::default();
        let t0 = Instant::now();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..10 {
            q.record(ip, &report("a", "beat"), t0).unwrap();
        }
        assert_eq!(
            q.record(ip, &report("a", "beat"), t0),
            Err(Refused::RateLimited)
        );
        q.record(ip, &report("a", "beat"), t0 + Duration::from_secs(1))
            .unwrap();
    }

    #[test]
    fn out_of_range_figures_are_refused() {
        let q = Qoe::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut r = report("a", "beat");
        r.latency_s = Some(-1.0);
        assert_eq!(
            q.record(ip, &r, Instant::now()),
            Err(Refused::Invalid("latency_s"))
        );
        let r = report("a", "dance");
        assert_eq!(
            q.record(ip, &r, Instant::now()),
            Err(Refused::Invalid("event"))
        );
    }

    #[test]
    fn the_summary_has_percentiles_and_the_rebuffer_ratio() {
        let q = Qoe::default();
        let t0 = Instant::now();
        for (i, startup) in [500.0, 700.0, 900.0, 4000.0].into_iter().enumerate() {
            let mut r = report(&format!("s{i}"), "start");
            r.startup_ms = Some(startup);
            q.record(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)), &r, t0)
                .unwrap();
        }
        let mut beat = report("s0", "beat");
        beat.played_ms = Some(9_000.0);
        beat.rebuffer_ms = Some(1_000.0);
        beat.latency_s = Some(2.5);
        beat.switches = Some(2);
        q.record(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), &beat, t0)
            .unwrap();
        let s = q.summary("c", t0);
        assert_eq!(s.sessions, 4);
        assert_eq!(s.startup_ms.p50, Some(700.0));
        assert_eq!(s.startup_ms.p90, Some(4000.0));
        assert_eq!(s.latency_s.p50, Some(2.5));
        assert_eq!(s.rebuffer_ratio, Some(1_000.0 / 9_000.0));
        assert_eq!(s.switches, 2);
        // Ten minutes later the window is empty.
        assert_eq!(
            q.summary("c", t0 + WINDOW + Duration::from_secs(1))
                .sessions,
            0
        );
    }
}
