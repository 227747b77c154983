//! The worker runtime: claim a job, keep its lease alive, run its step, record the outcome; and
//! the upkeep every process with a queue runs (reaping lost leases, queue metrics).

use super::steps::{self, StepError};
use super::{kind, Vod, LEASE};
use crate::clock::unix_ms;
use ferrocast_jobs::{Job, JobError, JobState, Lease};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// How long an idle worker sleeps when nothing wakes it. Enqueues in this process wake it at once,
/// and the upkeep wakes it every [`UPKEEP`] while jobs are due (another process's, retries whose
/// back-off ended), so this is only a backstop; polling the queue would cost an idle server a
/// write transaction per worker every tick.
const IDLE_POLL: Duration = Duration::from_secs(60);
/// How often leases are renewed: three chances before one lapses.
const HEARTBEAT: Duration = Duration::from_secs(LEASE.as_secs() / 3);
/// How often lost leases are reaped and queue gauges refreshed.
const UPKEEP: Duration = Duration::from_secs(2);
/// How often expired resumable uploads are removed.
const TUS_SWEEP: Duration = Duration::from_secs(60);

/// Starts `n` workers and the queue upkeep; they stop when `shutdown` turns true (a running
/// step's ffmpeg is killed and its lease left to lapse, so another worker takes the job over).
pub fn spawn_workers(
    vod: Arc<Vod>,
    n: usize,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    steps::sweep_scratch(vod.work_dir());
    let mut tasks = vec![tokio::spawn(upkeep(vod.clone(), shutdown.clone()))];
    for i in 0..n {
        let name = format!("{}#{i}", vod.worker_name);
        tasks.push(tokio::spawn(work(vod.clone(), name, shutdown.clone())));
    }
    tasks
}

async fn upkeep(vod: Arc<Vod>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPKEEP);
    let mut last_sweep = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = unix_ms();
        if last_sweep.elapsed() >= TUS_SWEEP {
            last_sweep = Instant::now();
            match vod.tus.sweep_expired(now.max(0) as u64).await {
                Ok(0) => {}
                Ok(n) => info!(uploads = n, "expired resumable uploads removed"),
                Err(error) => warn!(%error, "sweeping expired uploads"),
            }
        }
        // One read per tick when the queue is idle: reaping takes the write lock, so it runs only
        // while some job is running.
        let stats = match vod.queue.stats(now).await {
            Ok(stats) => stats,
            Err(error) => {
                warn!(%error, "queue stats");
                continue;
            }
        };
        if stats.count(JobState::Running) > 0 {
            reap(&vod, now).await;
        }
        for (state, n) in &stats.by_state {
            metrics::gauge!(crate::metrics::JOBS_DEPTH, "state" => state.as_str()).set(*n as f64);
        }
        metrics::gauge!(crate::metrics::JOBS_DUE).set(stats.due as f64);
        metrics::gauge!(crate::metrics::JOBS_OLDEST_AGE)
            .set(stats.oldest_ready_age_ms.unwrap_or(0) as f64 / 1000.0);
        // Idle workers sleep until woken: this wakes them for jobs no in-process enqueue
        // announced (another process's, a retry whose back-off ended).
        if stats.due > 0 {
            vod.wake.notify_waiters();
        }
    }
}

/// Takes back jobs whose worker lost its lease; dead ones go to the dead letter.
async fn reap(vod: &Arc<Vod>, now: i64) {
    match vod.queue.reap(now).await {
        Ok(reaped) => {
            for id in &reaped.requeued {
                info!(job = id.0, "lease lapsed: job requeued");
            }
            metrics::counter!(crate::metrics::JOBS_REAPED).increment(reaped.requeued.len() as u64);
            for id in reaped.dead {
                if let Ok(Some(job)) = vod.queue.get(id).await {
                    dead_letter(
                        vod,
                        &job,
                        job.last_error
                            .as_deref()
                            .unwrap_or("lost its worker too often"),
                    )
                    .await;
                }
            }
            if !reaped.requeued.is_empty() {
                vod.wake.notify_waiters();
            }
        }
        Err(error) => warn!(%error, "reaping jobs"),
    }
}

async fn work(vod: Arc<Vod>, name: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Registered before claiming, so an enqueue between an empty claim and the wait still
        // wakes this worker.
        let woken = vod.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let lease_ms = LEASE.as_millis() as i64;
        match vod
            .queue
            .claim(&name, &kind::ALL, lease_ms, unix_ms())
            .await
        {
            Ok(Some((lease, job))) => run_one(&vod, lease, job, &shutdown).await,
            Ok(None) => {
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            Err(error) => {
                warn!(worker = %name, %error, "claiming a job");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Shared between a step (which reports progress) and its heartbeat (which sends it).
pub(crate) type Progress = Arc<Mutex<Option<f32>>>;

async fn run_one(vod: &Arc<Vod>, lease: Lease, job: Job, shutdown: &watch::Receiver<bool>) {
    let started = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    vod.running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(job.id, stop_tx.clone());
    let progress: Progress = Arc::new(Mutex::new(None));
    let heartbeat = tokio::spawn(keep_alive(
        vod.clone(),
        lease.clone(),
        progress.clone(),
        stop_tx.clone(),
        shutdown.clone(),
    ));
    info!(job = job.id.0, kind = %job.kind, attempt = lease.attempt, worker = %lease.worker, "job started");
    let result = steps::run(vod, &job, &lease, stop_rx, progress).await;
    heartbeat.abort();
    vod.running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&job.id);
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!(crate::metrics::JOB_SECONDS, "kind" => job.kind.clone()).record(seconds);
    let now = unix_ms();
    let outcome = match result {
        Ok(()) => match vod.queue.complete(&lease, now).await {
            Ok(()) => {
                vod.wake.notify_waiters();
                "succeeded"
            }
            Err(error) => {
                warn!(job = job.id.0, %error, "result dropped");
                "dropped"
            }
        },
        Err(StepError::Refused { code, message }) => {
            let _ = vod.queue.fail_permanently(&lease, &message, now).await;
            if let Some(video) = video_of(&job) {
                vod.fail_video(video, code, &message).await;
            }
            "refused"
        }
        Err(StepError::Failed(message)) => {
            match vod
                .queue
                .fail(&lease, &message, rand::random::<f64>(), now)
                .await
            {
                Ok(JobState::Dead) => dead_letter(vod, &job, &message).await,
                Ok(_) => {
                    warn!(job = job.id.0, kind = %job.kind, error = %message, "attempt failed; will retry")
                }
                Err(error) => warn!(job = job.id.0, %error, "recording a failure"),
            }
            "failed"
        }
        Err(StepError::Cancelled) => {
            // Cancelled through the queue (already recorded), or this process is stopping: the
            // lease then lapses and another worker takes the job over.
            "cancelled"
        }
    };
    metrics::counter!(crate::metrics::JOBS_FINISHED, "kind" => job.kind.clone(), "outcome" => outcome)
        .increment(1);
    info!(job = job.id.0, kind = %job.kind, outcome, seconds, "job ended");
}

async fn dead_letter(vod: &Vod, job: &Job, message: &str) {
    warn!(job = job.id.0, kind = %job.kind, error = %message, "job dead-lettered");
    if let Some(video) = video_of(job) {
        vod.fail_video(
            video,
            "processing_failed",
            &format!(
                "Processing failed after {} attempts: {message}",
                job.max_attempts
            ),
        )
        .await;
    }
}

fn video_of(job: &Job) -> Option<&str> {
    job.payload.get("video").and_then(|v| v.as_str())
}

/// Renews the lease until the step ends; stops the step when the job was cancelled or taken
/// over, or when the process shuts down.
async fn keep_alive(
    vod: Arc<Vod>,
    lease: Lease,
    progress: Progress,
    stop: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => {
                let _ = stop.send(true);
                return;
            }
        }
        let p = *progress.lock().unwrap_or_else(|p| p.into_inner());
        match vod.queue.heartbeat(&lease, p, unix_ms()).await {
            Ok(_) => debug!(job = lease.job.0, "heartbeat"),
            Err(JobError::Cancelled { reason, .. }) => {
                info!(job = lease.job.0, reason = %reason, "job cancelled: stopping it");
                let _ = stop.send(true);
                return;
            }
            Err(JobError::Fenced { .. }) => {
                warn!(job = lease.job.0, "lease lost: stopping the step");
                let _ = stop.send(true);
                return;
            }
            Err(error) => warn!(job = lease.job.0, %error, "heartbeat failed"),
        }
    }
}
