//! SQLite backend: the operator-facing half (cancel, retry, redrive, purge, inspect, stats) and
//! the reaper that enforces leases and attempt timeouts.

use crate::sqlite::{job, parse_state, SqliteQueue, COLUMNS};
use crate::types::{Job, JobId, JobState, QueueStats, Reaped};
use crate::JobError;
use sqlx::{Row, SqliteConnection};

impl SqliteQueue {
    /// Cancels every job still waiting (transitively) on `root`, which will never succeed.
    pub(crate) async fn cancel_dependents(
        conn: &mut SqliteConnection,
        root: JobId,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), JobError> {
        sqlx::query(
            "WITH RECURSIVE down(id) AS ( \
               SELECT job_id FROM job_deps WHERE depends_on = ? \
               UNION SELECT d.job_id FROM job_deps d JOIN down ON d.depends_on = down.id) \
             UPDATE jobs SET state = 'cancelled', cancel_reason = ?, finished_at_ms = ?, \
             updated_at_ms = ? WHERE state = 'pending' AND id IN (SELECT id FROM down)",
        )
        .bind(root.0)
        .bind(reason)
        .bind(now_ms)
        .bind(now_ms)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn state_of(conn: &mut SqliteConnection, id: JobId) -> Result<JobState, JobError> {
        let row = sqlx::query("SELECT state FROM jobs WHERE id = ?")
            .bind(id.0)
            .fetch_optional(conn)
            .await?
            .ok_or(JobError::NotFound(id))?;
        parse_state(row.try_get("state")?)
    }

    pub(crate) async fn cancel(
        &self,
        id: JobId,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, JobError> {
        let mut tx = self.begin().await?;
        match Self::state_of(&mut tx, id).await? {
            JobState::Cancelled => return Ok(false),
            st @ (JobState::Succeeded | JobState::Dead) => {
                return Err(JobError::InvalidState {
                    job: id,
                    state: st,
                    action: "cancel",
                })
            }
            _ => {}
        }
        // The fence stays as it is, so the lease holder's next heartbeat learns it was
        // cancelled (not merely superseded) and kills its work.
        sqlx::query(
            "UPDATE jobs SET state = 'cancelled', cancel_reason = ?, lease_expires_at_ms = NULL, \
             attempt_deadline_ms = NULL, finished_at_ms = ?, updated_at_ms = ? WHERE id = ?",
        )
        .bind(reason)
        .bind(now_ms)
        .bind(now_ms)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        let why = format!("dependency {id} is cancelled: {reason}");
        Self::cancel_dependents(&mut tx, id, &why, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn retry(&self, id: JobId, now_ms: i64) -> Result<JobState, JobError> {
        let mut tx = self.begin().await?;
        let state = Self::state_of(&mut tx, id).await?;
        if !matches!(
            state,
            JobState::Failed | JobState::Dead | JobState::Cancelled
        ) {
            return Err(JobError::InvalidState {
                job: id,
                state,
                action: "retry",
            });
        }
        // Purged dependencies no longer have rows; they had finished, so they do not count.
        let row = sqlx::query(
            "SELECT SUM(j.state IN ('dead', 'cancelled')) AS doomed, \
             SUM(j.state != 'succeeded') AS unmet \
             FROM job_deps d JOIN jobs j ON j.id = d.depends_on WHERE d.job_id = ?",
        )
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        let doomed: Option<i64> = row.try_get("doomed")?;
        let unmet: i64 = row.try_get::<Option<i64>, _>("unmet")?.unwrap_or(0);
        if doomed.unwrap_or(0) > 0 {
            return Err(JobError::InvalidState {
                job: id,
                state,
                action: "retry while a dependency is dead or cancelled",
            });
        }
        let next = if unmet > 0 {
            JobState::Pending
        } else {
            JobState::Ready
        };
        // A failed job keeps its attempt count (it is only skipping its back-off); a dead or
        // cancelled one starts over with a full set of attempts.
        sqlx::query(
            "UPDATE jobs SET state = ?, pending_deps = ?, run_at_ms = ?, \
             attempts = CASE WHEN state = 'failed' THEN attempts ELSE 0 END, \
             cancel_reason = NULL, finished_at_ms = NULL, updated_at_ms = ? WHERE id = ?",
        )
        .bind(next.as_str())
        .bind(unmet)
        .bind(now_ms)
        .bind(now_ms)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    pub(crate) async fn redrive_dead(&self, now_ms: i64) -> Result<u64, JobError> {
        // A dead job had run, so its dependencies had all succeeded: it is ready at once.
        let done = sqlx::query(
            "UPDATE jobs SET state = 'ready', attempts = 0, run_at_ms = ?, finished_at_ms = NULL, \
             updated_at_ms = ? WHERE state = 'dead'",
        )
        .bind(now_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn purge(&self, finished_before_ms: i64) -> Result<u64, JobError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('succeeded', 'dead', 'cancelled') \
             AND finished_at_ms < ?",
        )
        .bind(finished_before_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM job_deps WHERE job_id NOT IN (SELECT id FROM jobs) \
             OR depends_on NOT IN (SELECT id FROM jobs)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn get(&self, id: JobId) -> Result<Option<Job>, JobError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job).transpose()
    }

    pub(crate) async fn dependencies(&self, id: JobId) -> Result<Vec<JobId>, JobError> {
        let rows = sqlx::query("SELECT depends_on FROM job_deps WHERE job_id = ? ORDER BY 1")
            .bind(id.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(JobId(r.try_get("depends_on")?)))
            .collect()
    }

    pub(crate) async fn list(
        &self,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<Job>, JobError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE (? IS NULL OR state = ?) ORDER BY id LIMIT ?"
        ))
        .bind(state.map(JobState::as_str))
        .bind(state.map(JobState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job).collect()
    }

    pub(crate) async fn list_by_key_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<Job>, JobError> {
        // A range rather than LIKE, so the unique index on the key serves it.
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE idempotency_key >= ? AND idempotency_key < ? \
             ORDER BY id LIMIT ?"
        ))
        .bind(prefix)
        .bind(format!("{prefix}\u{10FFFF}"))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job).collect()
    }

    pub(crate) async fn stats(&self, now_ms: i64) -> Result<QueueStats, JobError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut by_state: Vec<(JobState, u64)> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
        for row in &rows {
            let st = parse_state(row.try_get("state")?)?;
            let n: i64 = row.try_get("n")?;
            if let Some(slot) = by_state.iter_mut().find(|(s, _)| *s == st) {
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(run_at_ms) AS oldest FROM jobs \
             WHERE state IN ('ready', 'failed') AND run_at_ms <= ?",
        )
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        let due: i64 = row.try_get("n")?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        Ok(QueueStats {
            by_state,
            due: u64::try_from(due).unwrap_or(0),
            oldest_ready_age_ms: oldest.map(|t| now_ms.saturating_sub(t)),
        })
    }

    pub(crate) async fn reap(&self, now_ms: i64) -> Result<Reaped, JobError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT id, attempts, max_attempts, worker, attempt_deadline_ms, timeout_ms \
             FROM jobs WHERE state = 'running' \
             AND (lease_expires_at_ms <= ? OR attempt_deadline_ms <= ?) ORDER BY id",
        )
        .bind(now_ms)
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut reaped = Reaped::default();
        for row in &rows {
            let id = JobId(row.try_get("id")?);
            let attempts: i64 = row.try_get("attempts")?;
            let max_attempts: i64 = row.try_get("max_attempts")?;
            let worker: String = row
                .try_get::<Option<String>, _>("worker")?
                .unwrap_or_default();
            let deadline: Option<i64> = row.try_get("attempt_deadline_ms")?;
            let error = if deadline.is_some_and(|d| d <= now_ms) {
                let timeout: Option<i64> = row.try_get("timeout_ms")?;
                format!(
                    "attempt {attempts} timed out after {} ms on worker {worker}",
                    timeout.unwrap_or_default()
                )
            } else {
                format!("lease expired: worker {worker} lost during attempt {attempts}")
            };
            // The lost attempt counts, so a job that kills its worker every time still ends
            // dead instead of looping. The retry itself is immediate: the worker, not the job,
            // is the likely culprit.
            let dead = attempts >= max_attempts;
            sqlx::query(
                "UPDATE jobs SET state = ?, last_error = ?, lease_expires_at_ms = NULL, \
                 attempt_deadline_ms = NULL, run_at_ms = CASE WHEN ? THEN run_at_ms ELSE ? END, \
                 finished_at_ms = CASE WHEN ? THEN ? ELSE NULL END, updated_at_ms = ? \
                 WHERE id = ?",
            )
            .bind(if dead { "dead" } else { "ready" })
            .bind(&error)
            .bind(dead)
            .bind(now_ms)
            .bind(dead)
            .bind(now_ms)
            .bind(now_ms)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            if dead {
                let reason = format!("dependency {id} is dead: {error}");
                Self::cancel_dependents(&mut tx, id, &reason, now_ms).await?;
                reaped.dead.push(id);
            } else {
                reaped.requeued.push(id);
            }
        }
        tx.commit().await?;
        Ok(reaped)
    }
}
