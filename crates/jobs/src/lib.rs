//! The durable job queue behind video on demand: at-least-once delivery with leases,
//! heartbeats, attempt timeouts and fencing tokens; priorities, scheduled jobs, retries with
//! exponential back-off and jitter, a dead-letter state, idempotency keys, cancellation,
//! progress and dependencies.
//!
//! [`Queue`] is the one interface callers use. The embedded default is [`SqliteQueue`], in its
//! own database file; PostgreSQL (`FOR UPDATE SKIP LOCKED`) joins later as another variant.
//! No operation reads a clock: every one takes `now_ms`, so tests drive time exactly and the
//! whole state machine is deterministic. See `docs/JOBS.md`.
#![forbid(unsafe_code)]

mod backoff;
mod queue;
mod sqlite;
mod sqlite_admin;
mod types;

pub use backoff::Backoff;
pub use queue::Queue;
pub use sqlite::SqliteQueue;
pub use types::{Enqueued, Job, JobId, JobState, Lease, NewJob, QueueStats, Reaped};

/// Errors of the job queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// No job has this id.
    #[error("job {0} not found")]
    NotFound(JobId),
    /// The lease is no longer the job's current one: it expired and was reaped, or the job was
    /// leased again. Nothing was changed; the worker must stop and drop its result.
    #[error("job {job}: lease with fence {fence} is stale")]
    Fenced {
        /// The job.
        job: JobId,
        /// The stale lease's fence token.
        fence: i64,
    },
    /// The job was cancelled while this lease held it; the worker must stop (kill its process).
    #[error("job {job} was cancelled: {reason}")]
    Cancelled {
        /// The job.
        job: JobId,
        /// Why it was cancelled.
        reason: String,
    },
    /// The operation does not apply to the job in its current state.
    #[error("job {job} is {state}: cannot {action}")]
    InvalidState {
        /// The job.
        job: JobId,
        /// Its current state.
        state: JobState,
        /// What was attempted.
        action: &'static str,
    },
    /// A job named as a dependency does not exist.
    #[error("dependency {0} not found")]
    UnknownDependency(JobId),
    /// The request itself is malformed (empty kind, zero attempts, ...).
    #[error("invalid job: {0}")]
    Invalid(String),
    /// A stored row could not be read back (unknown state, bad JSON).
    #[error("corrupt job row: {0}")]
    Corrupt(String),
    /// Opening the database failed.
    #[error("job database: {0}")]
    Open(#[from] ferrocast_db::DbError),
    /// Migrations could not be applied.
    #[error("applying job migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other driver error.
    #[error("job database: {0}")]
    Sqlx(#[from] sqlx::Error),
}
