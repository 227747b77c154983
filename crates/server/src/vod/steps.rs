//! The steps of a video's job graph: probe, transcode (rung groups in parallel), package, MP4,
//! thumbnails, publish. Each step reads its inputs from storage, works in a scratch directory of
//! its own (removed when it ends, swept at start-up after a crash), and writes its outputs back
//! to storage under `tmp/ID/`; only publish touches `vod/ID/`, deleting what was there first, so
//! a video has exactly one set of outputs however many attempts it took.

use super::media::{self, MediaFailure};
use super::worker::Progress;
use super::{kind, source_key, tmp_prefix, vod_prefix, Vod};
use crate::clock::unix_ms;
use ferrocast_db::{VideoState, VideoUpdate};
use ferrocast_jobs::{Job, JobId, Lease, NewJob};
use ferrocast_vod::{Limits, VodRung};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tokio::sync::watch;
use tracing::{info, warn};

/// How a step ended badly.
#[derive(Debug)]
pub enum StepError {
    /// The input can never work (not a video, over a cap): no retry, the video fails.
    Refused {
        /// For programs.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// Worth another attempt (a crash, storage trouble, a failed quality check).
    Failed(String),
    /// Stopped: cancelled, taken over, or shutting down.
    Cancelled,
}

impl From<MediaFailure> for StepError {
    fn from(f: MediaFailure) -> Self {
        match f {
            MediaFailure::Refused(r) => StepError::Refused {
                code: r.code,
                message: r.message,
            },
            MediaFailure::Failed(m) => StepError::Failed(m),
            MediaFailure::Cancelled => StepError::Cancelled,
        }
    }
}

impl From<ferrocast_storage::StorageError> for StepError {
    fn from(e: ferrocast_storage::StorageError) -> Self {
        StepError::Failed(format!("storage: {e}"))
    }
}

/// What every step after the probe knows about the video.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    video: String,
    rungs: Vec<VodRung>,
    has_audio: bool,
    duration_s: f64,
}

/// A transcode job's share of the rungs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TranscodeJob {
    #[serde(flatten)]
    plan: Plan,
    group: u32,
    groups: u32,
    mine: Vec<String>,
    audio: bool,
}

/// Runs `job`'s step.
pub async fn run(
    vod: &Vod,
    job: &Job,
    lease: &Lease,
    stop: watch::Receiver<bool>,
    progress: Progress,
) -> Result<(), StepError> {
    let Some(video) = job.payload.get("video").and_then(|v| v.as_str()) else {
        return Err(StepError::Refused {
            code: "bad_job",
            message: "the job names no video".into(),
        });
    };
    if !super::valid_video_id(video) {
        return Err(StepError::Refused {
            code: "bad_job",
            message: format!("{video:?} is not a video id"),
        });
    }
    if vod.db.get_video(video).await.ok().flatten().is_none() {
        info!(video, job = job.id.0, "video deleted: nothing to do");
        return Ok(());
    }
    let scratch = Scratch::new(vod.work_dir(), job.id, lease.attempt)?;
    let ctx = Ctx {
        vod,
        video,
        scratch: &scratch.0,
        stop,
        progress,
    };
    let parse = |what| {
        move |e: serde_json::Error| StepError::Refused {
            code: "bad_job",
            message: format!("{what} payload: {e}"),
        }
    };
    match job.kind.as_str() {
        kind::PROBE => probe(&ctx).await,
        kind::TRANSCODE => {
            let t: TranscodeJob =
                serde_json::from_value(job.payload.clone()).map_err(parse("transcode"))?;
            transcode(&ctx, &t).await
        }
        kind::PACKAGE | kind::MP4 | kind::THUMBS | kind::PUBLISH => {
            let plan: Plan = serde_json::from_value(job.payload.clone()).map_err(parse("plan"))?;
            match job.kind.as_str() {
                kind::PACKAGE => package(&ctx, &plan).await,
                kind::MP4 => mp4(&ctx, &plan).await,
                kind::THUMBS => thumbs(&ctx, &plan).await,
                _ => publish(&ctx, &plan).await,
            }
        }
        other => Err(StepError::Refused {
            code: "bad_job",
            message: format!("unknown job kind {other:?}"),
        }),
    }
}

struct Ctx<'a> {
    vod: &'a Vod,
    video: &'a str,
    scratch: &'a Path,
    stop: watch::Receiver<bool>,
    progress: Progress,
}

impl Ctx<'_> {
    /// A file of storage as a local path: the object itself on the local backend, a download
    /// into the scratch directory otherwise.
    async fn local(&self, key: &str) -> Result<PathBuf, StepError> {
        if let Some(p) = self.vod.storage.local_path(key) {
            if p.exists() {
                return Ok(p);
            }
        }
        let name = key.rsplit('/').next().unwrap_or("object");
        let dir = self.scratch.join("in");
        std::fs::create_dir_all(&dir).map_err(io_failure)?;
        let path = dir.join(name);
        self.vod.storage.fetch_to_file(key, &path).await?;
        Ok(path)
    }

    async fn set_video(&self, update: VideoUpdate) {
        if let Err(error) = self
            .vod
            .db
            .update_video(self.video, &update, unix_ms())
            .await
        {
            warn!(video = self.video, %error, "updating the video");
        }
        self.vod.changed(self.video);
    }

    /// Reports a step's own progress (to its heartbeat) and the video's overall progress.
    async fn report(&self, step: f32, overall: f64) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = Some(step);
        self.set_video(VideoUpdate {
            state: Some(VideoState::Processing),
            progress: Some(overall.clamp(0.0, 1.0)),
            ..VideoUpdate::default()
        })
        .await;
    }

    /// Uploads every file under `dir` to `prefix` + its relative path.
    async fn put_tree(&self, dir: &Path, prefix: &str) -> Result<u64, StepError> {
        let mut n = 0;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(io_failure)? {
                let path = entry.map_err(io_failure)?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| StepError::Failed(e.to_string()))?;
                let key = format!("{prefix}{}", rel.to_string_lossy());
                self.vod.storage.put_file(&key, &path).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// A directory in the scratch space for the files a step stages.
    fn out_dir(&self) -> Result<PathBuf, StepError> {
        let out = self.scratch.join("out");
        std::fs::create_dir_all(&out).map_err(io_failure)?;
        Ok(out)
    }

    /// Uploads a step's `out` directory to the video's staging prefix, which publish copies.
    async fn stage(&self, out: &Path) -> Result<(), StepError> {
        self.put_tree(out, &format!("{}out/", tmp_prefix(self.video)))
            .await
            .map(|_| ())
    }

    /// The rung FLVs of the video, as one local directory.
    async fn rungs_dir(&self, plan: &Plan) -> Result<PathBuf, StepError> {
        let prefix = format!("{}rungs/", tmp_prefix(self.video));
        let mut names: Vec<String> = plan
            .rungs
            .iter()
            .map(|r| format!("{}.flv", r.name))
            .collect();
        if plan.has_audio {
            names.push("audio.flv".into());
        }
        if let Some(dir) = self.vod.storage.local_path(&prefix) {
            if names.iter().all(|n| dir.join(n).exists()) {
                return Ok(dir);
            }
        }
        let dir = self.scratch.join("rungs");
        std::fs::create_dir_all(&dir).map_err(io_failure)?;
        for n in &names {
            self.vod
                .storage
                .fetch_to_file(&format!("{prefix}{n}"), &dir.join(n))
                .await?;
        }
        Ok(dir)
    }
}

fn io_failure(e: std::io::Error) -> StepError {
    StepError::Failed(media::describe_io(&e))
}

async fn probe(ctx: &Ctx<'_>) -> Result<(), StepError> {
    let vod = ctx.vod;
    ctx.report(0.0, 0.01).await;
    let source = ctx.local(&source_key(ctx.video)).await?;
    let c = &vod.config;
    let limits = Limits {
        max_bytes: c.max_upload_bytes,
        max_duration_s: c.max_duration_s,
        max_width: c.max_width,
        max_height: c.max_height,
        max_fps: c.max_fps,
    };
    let probed = media::probe(&vod.tools, &source, &limits).await?;
    let rungs = ferrocast_vod::vod_rungs(&vod.ladder, &probed);
    if rungs.is_empty() {
        return Err(StepError::Refused {
            code: "no_video",
            message: "The file has no video we can encode.".into(),
        });
    }
    let plan = Plan {
        video: ctx.video.to_owned(),
        rungs: rungs.clone(),
        has_audio: probed.audio.is_some(),
        duration_s: probed.duration_s,
    };
    let (w, h) = probed
        .video
        .as_ref()
        .map_or((0, 0), |v| (i64::from(v.width), i64::from(v.height)));
    ctx.set_video(VideoUpdate {
        duration_s: Some(probed.duration_s),
        dimensions: Some((w, h)),
        ..VideoUpdate::default()
    })
    .await;
    enqueue_graph(vod, &plan).await?;
    info!(
        video = ctx.video,
        rungs = rungs.len(),
        duration_s = probed.duration_s,
        "probed; graph queued"
    );
    Ok(())
}

/// Splits the rungs over `n` jobs of about equal pixel rate, the audio with the first.
fn groups(rungs: &[VodRung], n: usize) -> Vec<Vec<String>> {
    let n = n.clamp(1, rungs.len().max(1));
    let mut out: Vec<(f64, Vec<String>)> = vec![(0.0, Vec::new()); n];
    let mut sorted: Vec<&VodRung> = rungs.iter().collect();
    sorted.sort_by(|a, b| cost(b).total_cmp(&cost(a)));
    for r in sorted {
        if let Some(slot) = out.iter_mut().min_by(|a, b| a.0.total_cmp(&b.0)) {
            slot.0 += cost(r);
            slot.1.push(r.name.clone());
        }
    }
    out.into_iter()
        .map(|(_, g)| g)
        .filter(|g| !g.is_empty())
        .collect()
}

fn cost(r: &VodRung) -> f64 {
    f64::from(r.width) * f64::from(r.height) * r.fps.max(1.0)
}

async fn enqueue_graph(vod: &Vod, plan: &Plan) -> Result<(), StepError> {
    let id = &plan.video;
    let now = unix_ms();
    let c = &vod.config;
    let mk = |k: &str, key: String, payload: serde_json::Value, deps: Vec<JobId>| {
        let mut job = NewJob::new(k, payload);
        job.idempotency_key = Some(key);
        job.max_attempts = c.max_attempts;
        job.timeout_ms = Some(c.attempt_timeout.as_millis() as i64);
        job.depends_on = deps;
        job
    };
    let enqueue = |job: NewJob| async move {
        vod.queue
            .enqueue(&job, now)
            .await
            .map(|e| e.id)
            .map_err(|e| StepError::Failed(format!("queue: {e}")))
    };
    let plan_json = serde_json::to_value(plan).map_err(|e| StepError::Failed(e.to_string()))?;
    let split = groups(&plan.rungs, c.rendition_jobs);
    let mut transcodes = Vec::new();
    for (g, mine) in split.iter().enumerate() {
        let t = TranscodeJob {
            plan: plan.clone(),
            group: g as u32,
            groups: split.len() as u32,
            mine: mine.clone(),
            audio: g == 0 && plan.has_audio,
        };
        let payload = serde_json::to_value(&t).map_err(|e| StepError::Failed(e.to_string()))?;
        transcodes.push(
            enqueue(mk(
                kind::TRANSCODE,
                format!("{id}:transcode:{g}"),
                payload,
                vec![],
            ))
            .await?,
        );
    }
    let mut finals = Vec::new();
    for (k, step) in [
        (kind::PACKAGE, "package"),
        (kind::MP4, "mp4"),
        (kind::THUMBS, "thumbs"),
    ] {
        finals.push(
            enqueue(mk(
                k,
                format!("{id}:{step}"),
                plan_json.clone(),
                transcodes.clone(),
            ))
            .await?,
        );
    }
    enqueue(mk(
        kind::PUBLISH,
        format!("{id}:publish"),
        plan_json,
        finals,
    ))
    .await?;
    vod.wake.notify_waiters();
    Ok(())
}

/// Share of the video's progress the transcodes cover (the rest: probe, packaging, publish).
const TRANSCODE_SHARE: f64 = 0.9;

async fn transcode(ctx: &Ctx<'_>, t: &TranscodeJob) -> Result<(), StepError> {
    let vod = ctx.vod;
    let source = ctx.local(&source_key(ctx.video)).await?;
    let rungs: Vec<VodRung> = t
        .plan
        .rungs
        .iter()
        .filter(|r| t.mine.contains(&r.name))
        .cloned()
        .collect();
    let out = ctx.scratch.join("rungs");
    std::fs::create_dir_all(&out).map_err(io_failure)?;
    let (tx, mut rx) = watch::channel(0f32);
    let encode = media::transcode(
        &vod.tools,
        &source,
        &rungs,
        t.audio,
        &vod.config.preset,
        &out,
        t.plan.duration_s,
        move |p| {
            let _ = tx.send(p);
        },
        ctx.stop.clone(),
    );
    tokio::pin!(encode);
    let result = loop {
        tokio::select! {
            r = &mut encode => break r,
            changed = rx.changed() => {
                if changed.is_ok() {
                    let p = *rx.borrow_and_update();
                    let overall = {
                        let mut all = vod.progress.lock().unwrap_or_else(|p| p.into_inner());
                        let m = all.entry(ctx.video.to_owned()).or_default();
                        m.insert(t.group, p);
                        m.values().map(|v| f64::from(*v)).sum::<f64>() / f64::from(t.groups.max(1))
                    };
                    ctx.report(p, 0.02 + overall * (TRANSCODE_SHARE - 0.02)).await;
                }
            }
        }
    };
    result?;
    ctx.put_tree(&out, &format!("{}rungs/", tmp_prefix(ctx.video)))
        .await?;
    Ok(())
}

async fn package(ctx: &Ctx<'_>, plan: &Plan) -> Result<(), StepError> {
    let vod = ctx.vod;
    let rungs = ctx.rungs_dir(plan).await?;
    let out = ctx.out_dir()?;
    let summary = media::package(&rungs, &plan.rungs, plan.has_audio, &out).await?;
    media::verify(&vod.tools, &out, &summary, plan.duration_s).await?;
    ctx.stage(&out).await?;
    ctx.report(1.0, TRANSCODE_SHARE + 0.04).await;
    Ok(())
}

fn top(plan: &Plan) -> Result<&VodRung, StepError> {
    plan.rungs
        .iter()
        .max_by_key(|r| r.height)
        .ok_or_else(|| StepError::Failed("no renditions".into()))
}

async fn mp4(ctx: &Ctx<'_>, plan: &Plan) -> Result<(), StepError> {
    let rungs = ctx.rungs_dir(plan).await?;
    let out = ctx.out_dir()?;
    media::make_mp4(
        &ctx.vod.tools,
        &rungs,
        top(plan)?,
        plan.has_audio,
        &out,
        ctx.stop.clone(),
    )
    .await?;
    ctx.stage(&out).await
}

async fn thumbs(ctx: &Ctx<'_>, plan: &Plan) -> Result<(), StepError> {
    let rungs = ctx.rungs_dir(plan).await?;
    let out = ctx.out_dir()?;
    let input = rungs.join(format!("{}.flv", top(plan)?.name));
    media::make_thumbnails(
        &ctx.vod.tools,
        &input,
        plan.duration_s,
        &out,
        ctx.stop.clone(),
    )
    .await?;
    ctx.stage(&out).await
}

async fn publish(ctx: &Ctx<'_>, plan: &Plan) -> Result<(), StepError> {
    let storage = &ctx.vod.storage;
    let staged = format!("{}out/", tmp_prefix(ctx.video));
    let dest = vod_prefix(ctx.video);
    let meta_key = format!("{dest}meta.json");
    let objects = storage.list(&staged).await?;
    if objects.is_empty() {
        // Staging is removed only once the outputs are in place: a publish run again after that
        // (killed before it marked the video ready, or its completion lost) just finishes.
        if storage.head(&meta_key).await?.is_none() {
            return Err(StepError::Failed("nothing staged to publish".into()));
        }
    } else {
        // Copies rather than moves: a publish killed halfway is simply run again.
        storage.delete_prefix(&dest).await?;
        for (key, _) in &objects {
            let rel = key.strip_prefix(&staged).unwrap_or(key);
            storage.copy(key, &format!("{dest}{rel}")).await?;
        }
        // Intermediates go before the video shows ready, so a ready video has left nothing.
        storage.delete_prefix(&tmp_prefix(ctx.video)).await?;
    }
    let meta = storage
        .get_bytes(&meta_key)
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    ctx.set_video(VideoUpdate {
        state: Some(VideoState::Ready),
        progress: Some(1.0),
        error: Some(None),
        meta,
        ready_at_ms: Some(unix_ms()),
        ..VideoUpdate::default()
    })
    .await;
    ctx.vod
        .progress
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(ctx.video);
    metrics::counter!(crate::metrics::VOD_VIDEOS_READY).increment(1);
    info!(
        video = ctx.video,
        objects = objects.len(),
        duration_s = plan.duration_s,
        "video ready"
    );
    Ok(())
}

/// A step's scratch directory, `work/jobs/PID-JOB-ATTEMPT`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(work: &Path, job: JobId, attempt: u32) -> Result<Self, StepError> {
        let dir = work
            .join("jobs")
            .join(format!("{}-{}-{attempt}", std::process::id(), job.0));
        std::fs::create_dir_all(&dir).map_err(io_failure)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            if error.kind() != std::io::ErrorKind::NotFound {
                warn!(dir = %self.0.display(), %error, "removing scratch directory");
            }
        }
    }
}

/// Removes scratch directories of processes that no longer run (a crash or SIGKILL leaves them),
/// and direct uploads a crash cut off (`work/uploads/PID-*.part`).
pub fn sweep_scratch(work: &Path) {
    if let Ok(entries) = std::fs::read_dir(work.join("uploads")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().unwrap_or("");
            if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(work.join("jobs")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().unwrap_or("");
        let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
        if !alive || pid == std::process::id().to_string() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => info!(dir = %entry.path().display(), "stale scratch directory removed"),
                Err(error) => {
                    warn!(dir = %entry.path().display(), %error, "removing stale scratch")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(name: &str, w: u32, h: u32) -> VodRung {
        VodRung {
            name: name.into(),
            width: w,
            height: h,
            video_kbps: 1000,
            fps: 30.0,
            reduced_from: None,
        }
    }

    #[test]
    fn rungs_split_into_balanced_groups() {
        let rungs = [
            rung("1080p", 1920, 1080),
            rung("720p", 1280, 720),
            rung("480p", 854, 480),
            rung("360p", 640, 360),
        ];
        assert_eq!(
            groups(&rungs, 1),
            vec![vec!["1080p", "720p", "480p", "360p"]]
        );
        let two = groups(&rungs, 2);
        assert_eq!(two, vec![vec!["1080p"], vec!["720p", "480p", "360p"]]);
        assert_eq!(groups(&rungs[..1], 4).len(), 1);
    }
}
