//! Server configuration: flags, then `FERROCAST_*` environment variables, then a TOML config file,
//! then defaults. clap handles the first two; the file fills whatever they left unset.

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transcode::EncoderChoice;
use ferrocast_ladder::Ladder;

/// `ferrocast serve` options. Every one also reads an environment variable and a config-file key
/// of the same name (`segment_duration` in the file for `--segment-duration`).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file with any of the keys below.
    #[arg(long, env = "FERROCAST_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP listen address (API, playback, metrics) [default: 0.0.0.0:8080].
    #[arg(long, env = "FERROCAST_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// RTMP listen address (ingest) [default: 0.0.0.0:1935].
    #[arg(long, env = "FERROCAST_RTMP", value_name = "ADDR")]
    pub rtmp: Option<SocketAddr>,
    /// Directory for the database and the admin token [default: ./ferrocast-data].
    #[arg(long, env = "FERROCAST_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Segment duration in whole seconds; also EXT-X-TARGETDURATION [default: 2].
    #[arg(long, env = "FERROCAST_SEGMENT_DURATION", value_name = "SECONDS")]
    pub segment_duration: Option<u32>,
    /// Segments listed in each live playlist [default: 6].
    #[arg(long, env = "FERROCAST_WINDOW", value_name = "SEGMENTS")]
    pub window: Option<usize>,
    /// Low-Latency HLS part duration, 200ms to 1s, e.g. "500ms"; "off" or 0 disables LL-HLS
    /// (parts, blocking playlist reloads, delta updates) [default: 500ms].
    #[arg(long, env = "FERROCAST_PART_DURATION", value_name = "DURATION", value_parser = parse_part_duration)]
    pub part_duration: Option<PartDuration>,
    /// How long a dropped publisher may take to come back and continue the same playlist
    /// (after an EXT-X-DISCONTINUITY) before the playlist ends, e.g. "10s" [default: 10s].
    #[arg(long, env = "FERROCAST_RECONNECT_GRACE", value_name = "DURATION", value_parser = parse_duration)]
    pub reconnect_grace: Option<Duration>,
    /// How long HTTP keeps serving after SIGTERM so players fetch the ended playlists [default: 2s].
    #[arg(long, env = "FERROCAST_SHUTDOWN_DRAIN", value_name = "DURATION", value_parser = parse_duration)]
    pub shutdown_drain: Option<Duration>,
    /// A publisher that sends nothing for this long is dropped (its socket may still look open),
    /// e.g. "10s" [default: 10s].
    #[arg(long, env = "FERROCAST_PUBLISHER_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub publisher_idle_timeout: Option<Duration>,
    /// How long an ended broadcast's playlist and segments stay served, e.g. "5m" [default: 5m].
    #[arg(long, env = "FERROCAST_ENDED_RETENTION", value_name = "DURATION", value_parser = parse_duration)]
    pub ended_retention: Option<Duration>,
    /// Simultaneous RTMP connections allowed from one IP address [default: 16].
    #[arg(long, env = "FERROCAST_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Host name put in ingest and playback URLs; by default the Host header of the API request.
    #[arg(long, env = "FERROCAST_PUBLIC_HOST", value_name = "HOST")]
    pub public_host: Option<String>,
    /// Log format: "text" or "json" [default: text].
    #[arg(long, env = "FERROCAST_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Chat messages a viewer receives on joining [default: 50].
    #[arg(long, env = "FERROCAST_CHAT_BACKLOG", value_name = "N")]
    pub chat_backlog: Option<usize>,
    /// How long chat history is kept in the database, e.g. "30days" [default: 30days].
    #[arg(long, env = "FERROCAST_CHAT_RETENTION", value_name = "DURATION", value_parser = parse_duration)]
    pub chat_retention: Option<Duration>,
    /// Interval of chat heartbeats (WebSocket pings); a client silent for 2.5 intervals is
    /// disconnected, e.g. "20s" [default: 20s].
    #[arg(long, env = "FERROCAST_CHAT_HEARTBEAT", value_name = "DURATION", value_parser = parse_duration)]
    pub chat_heartbeat: Option<Duration>,
    /// Transcoding ladder: "on" adds the configured rungs (below the source's height) to every
    /// live channel, "off" serves the source only [default: on]. The rungs are set in the config
    /// file's `[ladder]` table; a channel's own ladder (`ferrocast channel ladder`) replaces it.
    #[arg(long, env = "FERROCAST_LADDER", value_name = "on|off", value_parser = parse_on_off)]
    pub ladder: Option<bool>,
    /// H.264 encoder of the ladder: auto (NVENC, QSV, VAAPI, then x264: the first whose trial
    /// encode works), x264, nvenc, vaapi or qsv [default: auto].
    #[arg(long, env = "FERROCAST_ENCODER", value_name = "ENCODER")]
    pub encoder: Option<EncoderChoice>,
    /// Video on demand.
    #[command(flatten)]
    pub vod: crate::config_vod::VodArgs,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(format!("expected on or off, got {other:?}")),
    }
}

/// The file's `ladder` key: `"on"`/`"off"`/a boolean, or a `[ladder]` table with `enabled` and
/// `rungs`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileLadder {
    Switch(bool),
    Word(String),
    Table(FileLadderTable),
}

/// `[ladder]`: without `enabled` the default (or the flag) decides; without `rungs` the default
/// rungs apply.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLadderTable {
    enabled: Option<bool>,
    rungs: Option<Vec<ferrocast_ladder::Rung>>,
}

fn parse_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

/// A `--part-duration` value: a part length, or `None` for no Low-Latency HLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartDuration(Option<Duration>);

/// Parses `--part-duration`: a humantime duration, or "off" / "0" (also "0s") to disable.
fn parse_part_duration(s: &str) -> Result<PartDuration, humantime::DurationError> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") || s == "0" {
        return Ok(PartDuration(None));
    }
    let d = humantime::parse_duration(s)?;
    Ok(PartDuration((!d.is_zero()).then_some(d)))
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines with fields.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The config file's shape: the same keys as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http: Option<SocketAddr>,
    rtmp: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    segment_duration: Option<u32>,
    window: Option<usize>,
    #[serde(default, deserialize_with = "opt_part_duration")]
    part_duration: Option<PartDuration>,
    #[serde(default, with = "opt_duration")]
    reconnect_grace: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    shutdown_drain: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    publisher_idle_timeout: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    ended_retention: Option<Duration>,
    max_connections_per_ip: Option<usize>,
    public_host: Option<String>,
    log_format: Option<LogFormat>,
    chat_backlog: Option<usize>,
    #[serde(default, with = "opt_duration")]
    chat_retention: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    chat_heartbeat: Option<Duration>,
    ladder: Option<FileLadder>,
    encoder: Option<EncoderChoice>,
    vod: Option<crate::config_vod::FileVod>,
    storage: Option<crate::config_vod::FileStorage>,
}

mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `part_duration` in the file: a string as on the command line, or the number 0 (disabled).
fn opt_part_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<PartDuration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(0)) => Ok(Some(PartDuration(None))),
        Some(Raw::Number(n)) => Err(serde::de::Error::custom(format!(
            "part_duration {n} needs a unit, e.g. \"500ms\" (or \"off\")"
        ))),
        Some(Raw::Text(s)) => parse_part_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// The resolved configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub http: SocketAddr,
    /// RTMP listen address.
    pub rtmp: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Segment duration (whole seconds).
    pub segment_duration: Duration,
    /// Segments per playlist.
    pub window: usize,
    /// Low-Latency HLS part duration; `None`: regular-latency HLS only.
    pub part_duration: Option<Duration>,
    /// Reconnect grace period.
    pub reconnect_grace: Duration,
    /// Post-SIGTERM serving time.
    pub shutdown_drain: Duration,
    /// Silence after which a publisher is dropped.
    pub publisher_idle_timeout: Duration,
    /// How long an ended broadcast stays served.
    pub ended_retention: Duration,
    /// Per-address RTMP connection cap.
    pub max_connections_per_ip: usize,
    /// Host for generated URLs, if fixed.
    pub public_host: Option<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// Chat messages sent on join.
    pub chat_backlog: usize,
    /// Chat history retention.
    pub chat_retention: Duration,
    /// Chat heartbeat interval.
    pub chat_heartbeat: Duration,
    /// The transcoding ladder (`enabled` from `--ladder`).
    pub ladder: Ladder,
    pub encoder: EncoderChoice,
    /// Video on demand.
    pub vod: crate::config_vod::VodConfig,
}

/// Longest segment we accept: beyond this a live stream is no longer "live".
/// Whether channels are transcoded when neither flag, environment nor file says.
const DEFAULT_LADDER: bool = true;
const MAX_SEGMENT_SECONDS: u32 = 10;
/// Longest window: it bounds memory per channel.
const MAX_WINDOW: usize = 30;
/// Shortest part: below this the request and playlist-update rate costs more than it saves.
const MIN_PART: Duration = Duration::from_millis(200);
/// Longest part: beyond this parts no longer lower latency much below regular HLS.
const MAX_PART: Duration = Duration::from_secs(1);
/// Default part duration: a quarter of the default 2 s segment.
const DEFAULT_PART: Duration = Duration::from_millis(500);

impl Config {
    /// Resolves flags/env over the config file over defaults, and validates the result.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let segment_seconds = args.segment_duration.or(file.segment_duration).unwrap_or(2);
        if !(1..=MAX_SEGMENT_SECONDS).contains(&segment_seconds) {
            bail!("segment duration must be 1 to {MAX_SEGMENT_SECONDS} seconds, got {segment_seconds}");
        }
        let window = args.window.or(file.window).unwrap_or(6);
        if !(3..=MAX_WINDOW).contains(&window) {
            bail!("window must be 3 to {MAX_WINDOW} segments, got {window}");
        }
        let part_duration = args
            .part_duration
            .or(file.part_duration)
            .unwrap_or(PartDuration(Some(DEFAULT_PART)))
            .0;
        if let Some(part) = part_duration {
            if !(MIN_PART..=MAX_PART).contains(&part) {
                bail!(
                    "part duration must be 200ms to 1s (or \"off\"), got {}",
                    humantime::format_duration(part)
                );
            }
        }
        let max_per_ip = args
            .max_connections_per_ip
            .or(file.max_connections_per_ip)
            .unwrap_or(16);
        if max_per_ip == 0 {
            bail!("max connections per IP must be at least 1");
        }
        let publisher_idle_timeout = args
            .publisher_idle_timeout
            .or(file.publisher_idle_timeout)
            .unwrap_or(Duration::from_secs(10));
        if publisher_idle_timeout < Duration::from_secs(1) {
            bail!("publisher idle timeout must be at least 1s");
        }
        let chat_backlog = args.chat_backlog.or(file.chat_backlog).unwrap_or(50);
        if chat_backlog > 500 {
            bail!("chat backlog must be 0 to 500 messages, got {chat_backlog}");
        }
        let chat_heartbeat = args
            .chat_heartbeat
            .or(file.chat_heartbeat)
            .unwrap_or(Duration::from_secs(20));
        if chat_heartbeat < Duration::from_millis(100) {
            bail!("chat heartbeat must be at least 100ms");
        }
        let (file_switch, mut ladder) = match file.ladder {
            None => (None, Ladder::default()),
            Some(FileLadder::Switch(on)) => (Some(on), Ladder::default()),
            Some(FileLadder::Word(w)) => (
                Some(parse_on_off(&w).map_err(anyhow::Error::msg)?),
                Ladder::default(),
            ),
            Some(FileLadder::Table(t)) => (
                t.enabled,
                Ladder {
                    rungs: t.rungs.unwrap_or_else(|| Ladder::default().rungs),
                    ..Ladder::default()
                },
            ),
        };
        ladder.enabled = args.ladder.or(file_switch).unwrap_or(DEFAULT_LADDER);
        ladder.validate().context("ladder")?;
        let vod = crate::config_vod::VodConfig::resolve(
            &args.vod,
            file.vod.as_ref(),
            file.storage.as_ref(),
        )?;
        Ok(Config {
            vod,
            ladder,
            encoder: args.encoder.or(file.encoder).unwrap_or_default(),
            http: args
                .http
                .or(file.http)
                .unwrap_or(([0, 0, 0, 0], 8080).into()),
            rtmp: args
                .rtmp
                .or(file.rtmp)
                .unwrap_or(([0, 0, 0, 0], 1935).into()),
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("ferrocast-data")),
            segment_duration: Duration::from_secs(segment_seconds.into()),
            window,
            part_duration,
            reconnect_grace: args
                .reconnect_grace
                .or(file.reconnect_grace)
                .unwrap_or(Duration::from_secs(10)),
            shutdown_drain: args
                .shutdown_drain
                .or(file.shutdown_drain)
                .unwrap_or(Duration::from_secs(2)),
            publisher_idle_timeout,
            ended_retention: args
                .ended_retention
                .or(file.ended_retention)
                .unwrap_or(Duration::from_secs(300)),
            max_connections_per_ip: max_per_ip,
            public_host: args.public_host.clone().or(file.public_host),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            chat_backlog,
            chat_retention: args
                .chat_retention
                .or(file.chat_retention)
                .unwrap_or(Duration::from_secs(30 * 24 * 3600)),
            chat_heartbeat,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("ferrocast-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ferrocast.toml");
        std::fs::write(
            &path,
            "window = 8\nsegment_duration = 4\nreconnect_grace = \"3s\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            window: Some(5),
            ..ServeArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.window, 5);
        assert_eq!(c.segment_duration, Duration::from_secs(4));
        assert_eq!(c.reconnect_grace, Duration::from_secs(3));
        assert_eq!(c.http.port(), 8080);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_values_are_refused() {
        let args = ServeArgs {
            segment_duration: Some(0),
            ..ServeArgs::default()
        };
        assert!(Config::resolve(&args).is_err());
        let args = ServeArgs {
            window: Some(1000),
            ..ServeArgs::default()
        };
        assert!(Config::resolve(&args).is_err());
    }

    #[test]
    fn part_duration_defaults_parses_and_turns_off() {
        let resolve = |part: Option<&str>| {
            let args = ServeArgs {
                part_duration: part.map(|p| parse_part_duration(p).unwrap()),
                ..ServeArgs::default()
            };
            Config::resolve(&args).map(|c| c.part_duration)
        };
        assert_eq!(resolve(None).unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(
            resolve(Some("250ms")).unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(resolve(Some("1s")).unwrap(), Some(Duration::from_secs(1)));
        for off in ["off", "OFF", "0", "0s", "0ms"] {
            assert_eq!(resolve(Some(off)).unwrap(), None, "{off}");
        }
        for bad in ["100ms", "199ms", "1001ms", "2s"] {
            assert!(resolve(Some(bad)).is_err(), "{bad}");
        }
        assert!(parse_part_duration("fast").is_err());
        assert!(parse_part_duration("500").is_err());
    }

    #[test]
    fn part_duration_from_the_file() {
        let dir = std::env::temp_dir().join(format!("ferrocast-cfg3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let resolve = |text: &str| {
            let path = dir.join("part.toml");
            std::fs::write(&path, text).unwrap();
            Config::resolve(&ServeArgs {
                config: Some(path),
                ..ServeArgs::default()
            })
            .map(|c| c.part_duration)
        };
        assert_eq!(
            resolve("part_duration = \"300ms\"\n").unwrap(),
            Some(Duration::from_millis(300))
        );
        assert_eq!(resolve("part_duration = \"off\"\n").unwrap(), None);
        assert_eq!(resolve("part_duration = 0\n").unwrap(), None);
        assert!(resolve("part_duration = 500\n").is_err());
        assert!(resolve("part_duration = \"5s\"\n").is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn ladder_switch_and_table() {
        let dir = std::env::temp_dir().join(format!("ferrocast-cfg4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let resolve = |text: &str, flag: Option<bool>| {
            let path = dir.join("ladder.toml");
            std::fs::write(&path, text).unwrap();
            Config::resolve(&ServeArgs {
                config: Some(path),
                ladder: flag,
                ..ServeArgs::default()
            })
            .map(|c| (c.ladder.enabled, c.ladder.rungs.len(), c.encoder))
        };
        assert_eq!(
            resolve("", None).unwrap(),
            (DEFAULT_LADDER, 3, EncoderChoice::Auto)
        );
        assert!(resolve("ladder = \"on\"\n", None).unwrap().0);
        assert!(resolve("ladder = false\n", Some(true)).unwrap().0);
        let table = "encoder = \"x264\"\n[ladder]\nenabled = true\n[[ladder.rungs]]\n\
                     name = \"240p\"\nheight = 240\nvideo_bitrate_kbps = 400\n\
                     audio_bitrate_kbps = 64\nframe_rate = 30\n";
        assert_eq!(
            resolve(table, None).unwrap(),
            (true, 1, EncoderChoice::X264)
        );
        assert!(!resolve(table, Some(false)).unwrap().0);
        assert!(resolve("ladder = \"maybe\"\n", None).is_err());
        let rungs_only = table.replace("enabled = true\n", "");
        assert_eq!(resolve(&rungs_only, None).unwrap().0, DEFAULT_LADDER);
        assert_eq!(
            resolve("[ladder]\nenabled = false\n", None).unwrap(),
            (false, 3, EncoderChoice::Auto)
        );
        assert!(resolve("[ladder]\nenabld = true\n", None).is_err());
        assert!(parse_on_off("off") == Ok(false) && parse_on_off("x").is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("ferrocast-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "windw = 8\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..ServeArgs::default()
        };
        assert!(Config::resolve(&args).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
