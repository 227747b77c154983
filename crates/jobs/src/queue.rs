//! The one queue interface, dispatched by backend.

use crate::types::{Enqueued, Job, JobId, JobState, Lease, NewJob, QueueStats, Reaped};
use crate::{JobError, SqliteQueue};
use std::path::Path;

/// The durable job queue. Every operation takes the current time, `now_ms` (unix ms): the
/// queue never reads a clock, so tests run it on a paused one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Queue {
    /// Embedded SQLite, in its own file (the zero-configuration default).
    Sqlite(SqliteQueue),
}

impl Queue {
    /// Opens (creating if needed) the SQLite queue database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path) -> Result<Self, JobError> {
        Ok(Queue::Sqlite(SqliteQueue::open(path).await?))
    }

    /// Adds a job, or returns the existing one with the same idempotency key. A job with
    /// unfinished dependencies starts `pending`; one depending on a dead or cancelled job is
    /// created `cancelled` with the reason.
    pub async fn enqueue(&self, job: &NewJob, now_ms: i64) -> Result<Enqueued, JobError> {
        match self {
            Queue::Sqlite(q) => q.enqueue(job, now_ms).await,
        }
    }

    /// Leases the best due job (highest priority, then earliest `run_at_ms`, then oldest) of one
    /// of `kinds` (any kind when empty) to `worker` for `lease_ms`; `None` when nothing is due.
    pub async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<Option<(Lease, Job)>, JobError> {
        match self {
            Queue::Sqlite(q) => q.claim(worker, kinds, lease_ms, now_ms).await,
        }
    }

    /// Renews the lease for another lease period from `now_ms`, recording `progress` (0 to 1)
    /// if given; returns the new expiry. [`JobError::Cancelled`] tells the worker to stop its
    /// work, [`JobError::Fenced`] that the job is no longer its own.
    pub async fn heartbeat(
        &self,
        lease: &Lease,
        progress: Option<f32>,
        now_ms: i64,
    ) -> Result<i64, JobError> {
        match self {
            Queue::Sqlite(q) => q.heartbeat(lease, progress, now_ms).await,
        }
    }

    /// Marks the leased job succeeded and readies the dependents now complete. A stale lease
    /// changes nothing and gets [`JobError::Fenced`] (or [`JobError::Cancelled`]).
    pub async fn complete(&self, lease: &Lease, now_ms: i64) -> Result<(), JobError> {
        match self {
            Queue::Sqlite(q) => q.complete(lease, now_ms).await,
        }
    }

    /// Records a failed attempt: `failed` with the next try after back-off (`jitter` in
    /// `[0, 1]`, see [`crate::Backoff`]), or `dead` when it was the last attempt, which
    /// cancels its dependents. Returns the new state.
    pub async fn fail(
        &self,
        lease: &Lease,
        error: &str,
        jitter: f64,
        now_ms: i64,
    ) -> Result<JobState, JobError> {
        match self {
            Queue::Sqlite(q) => q.fail(lease, error, false, jitter, now_ms).await,
        }
    }

    /// Records a failure no retry can fix (a file that is not a video): straight to `dead`.
    pub async fn fail_permanently(
        &self,
        lease: &Lease,
        error: &str,
        now_ms: i64,
    ) -> Result<JobState, JobError> {
        match self {
            Queue::Sqlite(q) => q.fail(lease, error, true, 0.5, now_ms).await,
        }
    }

    /// Cancels a job that has not finished, and every job waiting on it; false when it was
    /// already cancelled. A running job's worker learns it at its next heartbeat.
    pub async fn cancel(&self, id: JobId, reason: &str, now_ms: i64) -> Result<bool, JobError> {
        match self {
            Queue::Sqlite(q) => q.cancel(id, reason, now_ms).await,
        }
    }

    /// Runs a failed, dead or cancelled job again now (dead and cancelled ones with a fresh set
    /// of attempts); returns its new state (`pending` while dependencies are unfinished).
    pub async fn retry(&self, id: JobId, now_ms: i64) -> Result<JobState, JobError> {
        match self {
            Queue::Sqlite(q) => q.retry(id, now_ms).await,
        }
    }

    /// Makes every dead job ready again with a fresh set of attempts; returns how many.
    pub async fn redrive_dead(&self, now_ms: i64) -> Result<u64, JobError> {
        match self {
            Queue::Sqlite(q) => q.redrive_dead(now_ms).await,
        }
    }

    /// Deletes succeeded, dead and cancelled jobs finished before `finished_before_ms`.
    pub async fn purge(&self, finished_before_ms: i64) -> Result<u64, JobError> {
        match self {
            Queue::Sqlite(q) => q.purge(finished_before_ms).await,
        }
    }

    /// One job, with its attempts, last error, worker, lease, progress and timings.
    pub async fn get(&self, id: JobId) -> Result<Option<Job>, JobError> {
        match self {
            Queue::Sqlite(q) => q.get(id).await,
        }
    }

    /// The jobs a job depends on (purged ones are gone).
    pub async fn dependencies(&self, id: JobId) -> Result<Vec<JobId>, JobError> {
        match self {
            Queue::Sqlite(q) => q.dependencies(id).await,
        }
    }

    /// Up to `limit` jobs, in one state or all, oldest first.
    pub async fn list(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, JobError> {
        match self {
            Queue::Sqlite(q) => q.list(state, limit).await,
        }
    }

    /// Up to `limit` jobs whose idempotency key starts with `prefix`, oldest first (callers
    /// key a group of jobs with a common prefix, e.g. one video's graph).
    pub async fn list_by_key_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<Job>, JobError> {
        match self {
            Queue::Sqlite(q) => q.list_by_key_prefix(prefix, limit).await,
        }
    }

    /// Depth by state and the age of the oldest due job, for metrics.
    pub async fn stats(&self, now_ms: i64) -> Result<QueueStats, JobError> {
        match self {
            Queue::Sqlite(q) => q.stats(now_ms).await,
        }
    }

    /// Takes back running jobs whose lease expired or whose attempt timed out: ready again
    /// (the attempt counts), or dead when it was the last one. Call it periodically.
    pub async fn reap(&self, now_ms: i64) -> Result<Reaped, JobError> {
        match self {
            Queue::Sqlite(q) => q.reap(now_ms).await,
        }
    }
}
