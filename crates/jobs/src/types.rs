//! The queue's value types: job ids, states, requests, leases, rows and statistics.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A job's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a job is in its life. See `docs/JOBS.md` for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its dependencies to succeed.
    Pending,
    /// Claimable once `run_at_ms` has come (a future `run_at_ms` makes it scheduled).
    Ready,
    /// Leased by a worker.
    Running,
    /// Done (final).
    Succeeded,
    /// An attempt failed; claimable again at `run_at_ms` (after back-off).
    Failed,
    /// Out of attempts or failed permanently: the dead letter, with its last error.
    Dead,
    /// Cancelled by an operator or because a dependency died (final).
    Cancelled,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 7] = [
        JobState::Pending,
        JobState::Ready,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Dead,
        JobState::Cancelled,
    ];

    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// True for states no worker will ever move again (purge removes them).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Dead | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What the job does; workers claim by kind.
    pub kind: String,
    /// The job's input, opaque to the queue.
    pub payload: serde_json::Value,
    /// Higher runs first; ties go to the earliest `run_at_ms`, then the oldest job.
    pub priority: i32,
    /// Do not run before this time (a scheduled job); `None` means now.
    pub run_at_ms: Option<i64>,
    /// Attempts before the job goes dead, at least 1.
    pub max_attempts: u32,
    /// A second enqueue with the same key returns the first job instead of a new one.
    pub idempotency_key: Option<String>,
    /// Jobs that must all succeed before this one runs.
    pub depends_on: Vec<JobId>,
    /// Per-attempt limit: a worker still heartbeating past it is taken off the job anyway.
    pub timeout_ms: Option<i64>,
}

impl NewJob {
    /// A job of `kind` with defaults: priority 0, now, 5 attempts, no key, no dependencies, no
    /// attempt timeout.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            priority: 0,
            run_at_ms: None,
            max_attempts: 5,
            idempotency_key: None,
            depends_on: Vec::new(),
            timeout_ms: None,
        }
    }
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The job (the existing one when the idempotency key was already used).
    pub id: JobId,
    /// False when the idempotency key matched an existing job and nothing was inserted.
    pub created: bool,
}

/// A worker's hold on a job: only the holder of the current fence may heartbeat or finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job: JobId,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// Fencing token, larger on every lease of the job; stale ones are refused.
    pub fence: i64,
    /// The worker holding it.
    pub worker: String,
    /// When the lease lapses unless renewed by a heartbeat.
    pub expires_at_ms: i64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Kind.
    pub kind: String,
    /// Input.
    pub payload: serde_json::Value,
    /// Priority (higher first).
    pub priority: i32,
    /// Current state.
    pub state: JobState,
    /// Earliest time it may be claimed (next retry time when failed).
    pub run_at_ms: i64,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed before the dead letter.
    pub max_attempts: u32,
    /// Per-attempt timeout.
    pub timeout_ms: Option<i64>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Dependencies not yet succeeded.
    pub pending_deps: u32,
    /// Current (or last) fencing token.
    pub fence: i64,
    /// Current (or last) worker.
    pub worker: Option<String>,
    /// When the current lease lapses, while running.
    pub lease_expires_at_ms: Option<i64>,
    /// When the current attempt times out, while running with a timeout.
    pub attempt_deadline_ms: Option<i64>,
    /// Last reported progress, 0 to 1.
    pub progress: Option<f32>,
    /// Last attempt's error.
    pub last_error: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Enqueue time.
    pub created_at_ms: i64,
    /// First lease.
    pub started_at_ms: Option<i64>,
    /// Latest lease.
    pub attempt_started_at_ms: Option<i64>,
    /// When it reached a final state.
    pub finished_at_ms: Option<i64>,
    /// Last change.
    pub updated_at_ms: i64,
}

/// Queue depth by state, for metrics and autoscalers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Jobs in each state (every state listed, zero included).
    pub by_state: Vec<(JobState, u64)>,
    /// Ready or failed jobs whose time has come: the backlog workers could take now.
    pub due: u64,
    /// How long the oldest due job has been claimable, ms; `None` when nothing is due.
    pub oldest_ready_age_ms: Option<i64>,
}

impl QueueStats {
    /// Jobs in `state`.
    pub fn count(&self, state: JobState) -> u64 {
        self.by_state
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }
}

/// What a reaper pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Jobs whose lease expired or attempt timed out, ready again.
    pub requeued: Vec<JobId>,
    /// Jobs that were on their last attempt and went dead.
    pub dead: Vec<JobId>,
}
