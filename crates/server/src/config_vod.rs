//! Video-on-demand configuration: workers, object storage, upload and playback limits. Flags and
//! `FERROCAST_*` variables win over the config file's `[vod]` and `[storage]` tables, which win
//! over defaults, as for the rest of the configuration.

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use std::time::Duration;

/// `ferrocast serve` / `ferrocast worker` options for video on demand.
#[derive(Debug, Clone, Default, Args)]
pub struct VodArgs {
    /// Jobs this process runs at once (0: none; run `ferrocast worker` elsewhere) [default: 2].
    #[arg(long, env = "FERROCAST_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Where uploads and outputs are kept: "local" (the data directory) or "s3" [default: local].
    #[arg(long, env = "FERROCAST_STORAGE", value_name = "local|s3")]
    pub storage: Option<String>,
    /// S3 bucket.
    #[arg(long, env = "FERROCAST_S3_BUCKET", value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 endpoint for S3-compatible servers (MinIO, Ceph, moto); empty for AWS.
    #[arg(long, env = "FERROCAST_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "FERROCAST_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "FERROCAST_S3_ACCESS_KEY_ID", value_name = "ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(
        long,
        env = "FERROCAST_S3_SECRET_ACCESS_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,
    /// Largest upload accepted, in bytes or with a unit ("20GiB") [default: 20GiB].
    #[arg(long, env = "FERROCAST_VOD_MAX_UPLOAD", value_name = "SIZE", value_parser = parse_size)]
    pub vod_max_upload: Option<u64>,
    /// x264 preset of VOD transcodes [default: veryfast].
    #[arg(long, env = "FERROCAST_VOD_PRESET", value_name = "PRESET")]
    pub vod_preset: Option<String>,
    /// Jobs the renditions of one video are split over, so that several workers transcode them
    /// in parallel (each job decodes the source once) [default: 1].
    #[arg(long, env = "FERROCAST_VOD_RENDITION_JOBS", value_name = "N")]
    pub vod_rendition_jobs: Option<usize>,
}

/// The file's `[vod]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileVod {
    workers: Option<usize>,
    max_upload: Option<SizeValue>,
    preset: Option<String>,
    rendition_jobs: Option<usize>,
    max_duration: Option<String>,
    max_width: Option<u32>,
    max_height: Option<u32>,
    max_fps: Option<f64>,
    upload_url_ttl: Option<String>,
    playback_token_ttl: Option<String>,
    max_attempts: Option<u32>,
    attempt_timeout: Option<String>,
}

/// The file's `[storage]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileStorage {
    backend: Option<String>,
    bucket: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// Where objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChoice {
    /// `{data_dir}/media`.
    Local,
    /// An S3-compatible bucket.
    S3 {
        /// Bucket.
        bucket: String,
        /// Endpoint URL for S3-compatible servers.
        endpoint: Option<String>,
        /// Region.
        region: String,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
    },
}

/// Resolved VOD configuration.
#[derive(Debug, Clone)]
pub struct VodConfig {
    /// Jobs run at once by this process.
    pub workers: usize,
    /// Object storage.
    pub storage: StorageChoice,
    /// Upload size cap, bytes.
    pub max_upload_bytes: u64,
    /// x264 preset.
    pub preset: String,
    /// Rendition jobs per video.
    pub rendition_jobs: usize,
    /// Longest source accepted, seconds.
    pub max_duration_s: f64,
    /// Widest source accepted.
    pub max_width: u32,
    /// Tallest source accepted.
    pub max_height: u32,
    /// Fastest frame rate accepted.
    pub max_fps: f64,
    /// How long an upload URL stays valid.
    pub upload_url_ttl: Duration,
    /// How long a private video's playback token stays valid.
    pub playback_token_ttl: Duration,
    /// Attempts of a job before the dead letter.
    pub max_attempts: u32,
    /// Longest one attempt of a job may run.
    pub attempt_timeout: Duration,
}

/// Parses "123", "20GiB", "500 MB", "2g".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    Ok((n * mult) as u64)
}

fn duration(s: Option<&String>, default: Duration, what: &str) -> anyhow::Result<Duration> {
    match s {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s).with_context(|| format!("[vod] {what}")),
    }
}

impl VodConfig {
    /// Resolves flags/env over the file's tables over defaults.
    pub(crate) fn resolve(
        args: &VodArgs,
        file: Option<&FileVod>,
        storage: Option<&FileStorage>,
    ) -> anyhow::Result<Self> {
        let empty_vod = FileVod::default();
        let empty_storage = FileStorage::default();
        let f = file.unwrap_or(&empty_vod);
        let s = storage.unwrap_or(&empty_storage);
        let max_upload_bytes = match (&args.vod_max_upload, &f.max_upload) {
            (Some(n), _) => *n,
            (None, Some(SizeValue::Bytes(n))) => *n,
            (None, Some(SizeValue::Text(t))) => parse_size(t).map_err(anyhow::Error::msg)?,
            (None, None) => 20 * 1024 * 1024 * 1024,
        };
        if max_upload_bytes == 0 {
            bail!("the upload size cap must be above zero");
        }
        let backend = args
            .storage
            .clone()
            .or(s.backend.clone())
            .unwrap_or_else(|| "local".into());
        let storage = match backend.to_ascii_lowercase().as_str() {
            "local" => StorageChoice::Local,
            "s3" => {
                let need = |v: Option<String>, name: &str| {
                    v.filter(|v| !v.is_empty()).with_context(|| {
                        format!("S3 storage needs {name} (flag, FERROCAST_ variable or [storage])")
                    })
                };
                StorageChoice::S3 {
                    bucket: need(args.s3_bucket.clone().or(s.bucket.clone()), "a bucket")?,
                    endpoint: args
                        .s3_endpoint
                        .clone()
                        .or(s.endpoint.clone())
                        .filter(|e| !e.is_empty()),
                    region: args
                        .s3_region
                        .clone()
                        .or(s.region.clone())
                        .unwrap_or_else(|| "us-east-1".into()),
                    access_key_id: need(
                        args.s3_access_key_id.clone().or(s.access_key_id.clone()),
                        "an access key id",
                    )?,
                    secret_access_key: need(
                        args.s3_secret_access_key
                            .clone()
                            .or(s.secret_access_key.clone()),
                        "a secret access key",
                    )?,
                }
            }
            other => bail!("storage must be \"local\" or \"s3\", got {other:?}"),
        };
        let rendition_jobs = args.vod_rendition_jobs.or(f.rendition_jobs).unwrap_or(1);
        if !(1..=8).contains(&rendition_jobs) {
            bail!("rendition jobs must be 1 to 8, got {rendition_jobs}");
        }
        let workers = args.workers.or(f.workers).unwrap_or(2);
        if workers > 64 {
            bail!("workers must be 0 to 64, got {workers}");
        }
        let max_attempts = f.max_attempts.unwrap_or(3);
        if max_attempts == 0 {
            bail!("[vod] max_attempts must be at least 1");
        }
        Ok(VodConfig {
            workers,
            storage,
            max_upload_bytes,
            preset: args
                .vod_preset
                .clone()
                .or(f.preset.clone())
                .unwrap_or_else(|| "veryfast".into()),
            rendition_jobs,
            max_duration_s: duration(
                f.max_duration.as_ref(),
                Duration::from_secs(6 * 3600),
                "max_duration",
            )?
            .as_secs_f64(),
            max_width: f.max_width.unwrap_or(4096),
            max_height: f.max_height.unwrap_or(4096),
            max_fps: f.max_fps.unwrap_or(120.0),
            upload_url_ttl: duration(
                f.upload_url_ttl.as_ref(),
                Duration::from_secs(24 * 3600),
                "upload_url_ttl",
            )?,
            playback_token_ttl: duration(
                f.playback_token_ttl.as_ref(),
                Duration::from_secs(6 * 3600),
                "playback_token_ttl",
            )?,
            max_attempts,
            attempt_timeout: duration(
                f.attempt_timeout.as_ref(),
                Duration::from_secs(6 * 3600),
                "attempt_timeout",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("20GiB").unwrap(), 20 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("1.5 MB").unwrap(), 1_500_000);
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn s3_needs_its_bucket_and_keys() {
        let args = VodArgs {
            storage: Some("s3".into()),
            ..VodArgs::default()
        };
        let err = VodConfig::resolve(&args, None, None).unwrap_err();
        assert!(err.to_string().contains("bucket"), "{err}");
        let local = VodConfig::resolve(&VodArgs::default(), None, None).unwrap();
        assert_eq!(local.storage, StorageChoice::Local);
        assert_eq!(local.workers, 2);
    }
}
