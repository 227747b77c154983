//! Retries, back-off, dead letters, dependencies, priorities, scheduling, idempotency,
//! cancellation and the operator's tools, on a paused clock: every time below is exact.

mod common;

use ferrocast_jobs::{JobError, JobId, JobState, NewJob};
use serde_json::json;

#[tokio::test]
async fn retries_back_off_exponentially_with_jitter_then_dead_letter() {
    let (q, _dir) = common::queue().await;
    let new = NewJob {
        max_attempts: 3,
        ..NewJob::new("probe", json!(null))
    };
    let id = q.enqueue(&new, 0).await.unwrap().id;
    // Attempt 1 fails at 1 000 with neutral jitter: 2 s × 2^0 × 1.0.
    let (lease, _) = q.claim("w", &[], 30_000, 1_000).await.unwrap().unwrap();
    assert_eq!(
        q.fail(&lease, "boom 1", 0.5, 1_000).await.unwrap(),
        JobState::Failed
    );
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.run_at_ms, job.attempts),
        (JobState::Failed, 3_000, 1)
    );
    assert_eq!(job.last_error.as_deref(), Some("boom 1"));
    assert!(q.claim("w", &[], 30_000, 2_999).await.unwrap().is_none());
    // Attempt 2 fails at 3 000 with the least jitter: 2 s × 2^1 × 0.5.
    let (lease, _) = q.claim("w", &[], 30_000, 3_000).await.unwrap().unwrap();
    assert_eq!(lease.attempt, 2);
    q.fail(&lease, "boom 2", 0.0, 3_000).await.unwrap();
    assert_eq!(q.get(id).await.unwrap().unwrap().run_at_ms, 5_000);
    assert!(q.claim("w", &[], 30_000, 4_999).await.unwrap().is_none());
    // Attempt 3 is the last: dead, with its error.
    let (lease, _) = q.claim("w", &[], 30_000, 5_000).await.unwrap().unwrap();
    assert_eq!(
        q.fail(&lease, "boom 3", 1.0, 6_000).await.unwrap(),
        JobState::Dead
    );
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Dead, 3));
    assert_eq!(
        (job.last_error.as_deref(), job.finished_at_ms),
        (Some("boom 3"), Some(6_000))
    );
    assert!(q
        .claim("w", &[], 30_000, 1_000_000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(q.list(Some(JobState::Dead), 10).await.unwrap().len(), 1);
    // Redrive: ready now with a fresh set of attempts.
    assert_eq!(q.redrive_dead(7_000).await.unwrap(), 1);
    let (lease, _) = q.claim("w", &[], 30_000, 7_000).await.unwrap().unwrap();
    assert_eq!(lease.attempt, 1);
    q.complete(&lease, 7_001).await.unwrap();
}

#[tokio::test]
async fn permanent_failure_and_operator_retry() {
    let (q, _dir) = common::queue().await;
    let id = common::probe(&q).await;
    let (lease, _) = q.claim("w", &[], 30_000, 0).await.unwrap().unwrap();
    let st = q.fail_permanently(&lease, "not a video", 10).await.unwrap();
    assert_eq!(st, JobState::Dead);
    assert_eq!(q.retry(id, 20).await.unwrap(), JobState::Ready);
    let (lease, _) = q.claim("w", &[], 30_000, 20).await.unwrap().unwrap();
    assert_eq!(lease.attempt, 1);
    // Retrying a failed job skips its back-off but keeps its attempt count.
    q.fail(&lease, "flaky", 0.5, 30).await.unwrap();
    assert_eq!(q.retry(id, 40).await.unwrap(), JobState::Ready);
    let (lease, _) = q.claim("w", &[], 30_000, 40).await.unwrap().unwrap();
    assert_eq!(lease.attempt, 2);
    assert!(matches!(
        q.retry(id, 50).await,
        Err(JobError::InvalidState {
            state: JobState::Running,
            ..
        })
    ));
    assert!(matches!(
        q.retry(JobId(999), 50).await,
        Err(JobError::NotFound(_))
    ));
}

#[tokio::test]
async fn priorities_then_run_at_then_age_and_kinds() {
    let (q, _dir) = common::queue().await;
    let mk = |kind: &str, priority, run_at_ms| NewJob {
        priority,
        run_at_ms,
        ..NewJob::new(kind, json!(null))
    };
    let low = q.enqueue(&mk("a", 0, None), 0).await.unwrap().id;
    let high = q.enqueue(&mk("a", 10, None), 1).await.unwrap().id;
    let high_earlier = q.enqueue(&mk("a", 10, Some(0)), 2).await.unwrap().id;
    let scheduled = q.enqueue(&mk("a", 100, Some(5_000)), 3).await.unwrap().id;
    let other = q.enqueue(&mk("b", 50, None), 4).await.unwrap().id;
    let mut order = Vec::new();
    while let Some((lease, job)) = q.claim("w", &["a"], 30_000, 10).await.unwrap() {
        q.complete(&lease, 10).await.unwrap();
        order.push(job.id);
    }
    assert_eq!(order, vec![high_earlier, high, low]);
    // The scheduled job waits for its time, then beats the lower-priority kind "b".
    assert_eq!(q.stats(10).await.unwrap().due, 1);
    let (_, job) = q.claim("w", &[], 30_000, 5_000).await.unwrap().unwrap();
    assert_eq!(job.id, scheduled);
    let (_, job) = q
        .claim("w", &["b", "c"], 30_000, 5_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, other);
}

#[tokio::test]
async fn dependencies_run_after_all_succeed_and_die_with_a_failed_one() {
    let (q, _dir) = common::queue().await;
    let probe = q
        .enqueue(&NewJob::new("probe", json!(null)), 0)
        .await
        .unwrap()
        .id;
    let dep = |ids: Vec<JobId>| NewJob {
        depends_on: ids,
        ..NewJob::new("step", json!(null))
    };
    let r1 = q.enqueue(&dep(vec![probe]), 0).await.unwrap().id;
    let r2 = q.enqueue(&dep(vec![probe]), 0).await.unwrap().id;
    let package = q.enqueue(&dep(vec![r1, r2, r1]), 0).await.unwrap().id;
    assert_eq!(
        q.get(package).await.unwrap().unwrap().state,
        JobState::Pending
    );
    assert_eq!(q.dependencies(package).await.unwrap(), vec![r1, r2]);
    // Only the probe can run.
    let (lease, job) = q.claim("w", &[], 30_000, 1).await.unwrap().unwrap();
    assert_eq!(job.id, probe);
    assert!(q.claim("w", &[], 30_000, 1).await.unwrap().is_none());
    q.complete(&lease, 2).await.unwrap();
    // Both renditions run in parallel; packaging waits for the second.
    let (l1, _) = q.claim("w1", &[], 30_000, 3).await.unwrap().unwrap();
    let (l2, _) = q.claim("w2", &[], 30_000, 3).await.unwrap().unwrap();
    q.complete(&l1, 4).await.unwrap();
    let pkg = q.get(package).await.unwrap().unwrap();
    assert_eq!((pkg.state, pkg.pending_deps), (JobState::Pending, 1));
    q.complete(&l2, 5).await.unwrap();
    let pkg = q.get(package).await.unwrap().unwrap();
    assert_eq!((pkg.state, pkg.run_at_ms), (JobState::Ready, 5));
    // Unknown dependencies are refused.
    assert!(matches!(
        q.enqueue(&dep(vec![JobId(999)]), 6).await,
        Err(JobError::UnknownDependency(JobId(999)))
    ));

    // A dead dependency cancels the whole chain below it, with the reason.
    let root = q
        .enqueue(&NewJob::new("probe", json!(null)), 10)
        .await
        .unwrap()
        .id;
    let child = q.enqueue(&dep(vec![root]), 10).await.unwrap().id;
    let grandchild = q.enqueue(&dep(vec![child]), 10).await.unwrap().id;
    let (lease, _) = q.claim("w", &["probe"], 30_000, 11).await.unwrap().unwrap();
    q.fail_permanently(&lease, "not a video", 12).await.unwrap();
    for id in [child, grandchild] {
        let job = q.get(id).await.unwrap().unwrap();
        assert_eq!(
            (job.state, job.finished_at_ms),
            (JobState::Cancelled, Some(12))
        );
        let reason = job.cancel_reason.unwrap();
        assert!(
            reason.contains(&format!("dependency {root} is dead: not a video")),
            "{reason}"
        );
    }
    // A new job on a dead dependency is born cancelled; retrying it is refused.
    let late = q.enqueue(&dep(vec![root]), 13).await.unwrap().id;
    assert_eq!(
        q.get(late).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    assert!(matches!(
        q.retry(late, 14).await,
        Err(JobError::InvalidState { .. })
    ));
}

#[tokio::test]
async fn cancellation_reaches_the_worker_and_the_dependents() {
    let (q, _dir) = common::queue().await;
    let id = q
        .enqueue(&NewJob::new("render", json!(null)), 0)
        .await
        .unwrap()
        .id;
    let after = NewJob {
        depends_on: vec![id],
        ..NewJob::new("package", json!(null))
    };
    let dependent = q.enqueue(&after, 0).await.unwrap().id;
    let (lease, _) = q.claim("w", &[], 30_000, 1).await.unwrap().unwrap();
    assert!(q.cancel(id, "by admin", 2).await.unwrap());
    assert!(!q.cancel(id, "again", 3).await.unwrap());
    // The worker hears it at its next heartbeat (and kills its ffmpeg); its result is refused.
    match q.heartbeat(&lease, Some(0.5), 4).await {
        Err(JobError::Cancelled { job, reason }) => {
            assert_eq!((job, reason.as_str()), (id, "by admin"))
        }
        other => panic!("expected Cancelled, got {other:?}"),
    }
    assert!(matches!(
        q.complete(&lease, 5).await,
        Err(JobError::Cancelled { .. })
    ));
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.finished_at_ms),
        (JobState::Cancelled, Some(2))
    );
    let dep = q.get(dependent).await.unwrap().unwrap();
    assert_eq!(dep.state, JobState::Cancelled);
    assert_eq!(
        dep.cancel_reason.as_deref(),
        Some("dependency 1 is cancelled: by admin")
    );
    // Nothing cancelled is claimable; the reaper leaves it alone.
    assert!(q.claim("w", &[], 30_000, 100_000).await.unwrap().is_none());
    assert_eq!(q.reap(100_000).await.unwrap(), Default::default());
    // Retry brings the job back, and its dependent with it once retried too.
    assert_eq!(q.retry(id, 6).await.unwrap(), JobState::Ready);
    assert_eq!(q.retry(dependent, 6).await.unwrap(), JobState::Pending);
    let (lease, _) = q.claim("w", &[], 30_000, 7).await.unwrap().unwrap();
    q.complete(&lease, 8).await.unwrap();
    assert_eq!(
        q.get(dependent).await.unwrap().unwrap().state,
        JobState::Ready
    );
    // A finished job cannot be cancelled.
    assert!(matches!(
        q.cancel(id, "too late", 9).await,
        Err(JobError::InvalidState {
            state: JobState::Succeeded,
            ..
        })
    ));
}

#[tokio::test]
async fn idempotency_keys_and_input_validation() {
    let (q, _dir) = common::queue().await;
    let new = NewJob {
        idempotency_key: Some("video-7-probe".into()),
        ..NewJob::new("probe", json!(null))
    };
    let first = q.enqueue(&new, 0).await.unwrap();
    let second = q.enqueue(&new, 1).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
    assert_eq!(q.list(None, 10).await.unwrap().len(), 1);
    for bad in [
        NewJob::new("", json!(null)),
        NewJob {
            max_attempts: 0,
            ..NewJob::new("x", json!(null))
        },
        NewJob {
            timeout_ms: Some(0),
            ..NewJob::new("x", json!(null))
        },
    ] {
        assert!(matches!(
            q.enqueue(&bad, 0).await,
            Err(JobError::Invalid(_))
        ));
    }
    assert!(matches!(
        q.claim("w", &[], 0, 0).await,
        Err(JobError::Invalid(_))
    ));
}

#[tokio::test]
async fn stats_list_and_purge() {
    let (q, _dir) = common::queue().await;
    for t in [100, 200, 300] {
        q.enqueue(&NewJob::new("noop", json!(t)), t).await.unwrap();
    }
    let scheduled = NewJob {
        run_at_ms: Some(10_000),
        ..NewJob::new("noop", json!(null))
    };
    q.enqueue(&scheduled, 0).await.unwrap();
    let stats = q.stats(1_000).await.unwrap();
    assert_eq!((stats.count(JobState::Ready), stats.due), (4, 3));
    assert_eq!(stats.oldest_ready_age_ms, Some(900));
    let (lease, _) = q.claim("w", &[], 30_000, 1_000).await.unwrap().unwrap();
    q.complete(&lease, 1_500).await.unwrap();
    let (_running, _) = q.claim("w", &[], 30_000, 1_600).await.unwrap().unwrap();
    let stats = q.stats(2_000).await.unwrap();
    assert_eq!(stats.count(JobState::Succeeded), 1);
    assert_eq!(stats.count(JobState::Running), 1);
    assert_eq!(stats.oldest_ready_age_ms, Some(1_700));
    let running = q.list(Some(JobState::Running), 10).await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].worker.as_deref(), Some("w"));
    assert_eq!(running[0].started_at_ms, Some(1_600));
    // Purge takes only finished jobs, and only those finished before the cutoff.
    assert_eq!(q.purge(1_500).await.unwrap(), 0);
    assert_eq!(q.purge(1_501).await.unwrap(), 1);
    assert_eq!(q.list(None, 10).await.unwrap().len(), 3);
    assert_eq!(q.stats(2_000).await.unwrap().count(JobState::Succeeded), 0);
}

#[tokio::test]
async fn a_scheduled_dependent_keeps_its_own_later_time() {
    let (q, _dir) = common::queue().await;
    let first = q
        .enqueue(&NewJob::new("probe", json!(null)), 0)
        .await
        .unwrap()
        .id;
    let later = NewJob {
        run_at_ms: Some(60_000),
        depends_on: vec![first],
        ..NewJob::new("publish", json!(null))
    };
    let id = q.enqueue(&later, 0).await.unwrap().id;
    let (lease, _) = q.claim("w", &[], 30_000, 10).await.unwrap().unwrap();
    q.complete(&lease, 20).await.unwrap();
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.run_at_ms), (JobState::Ready, 60_000));
    assert!(q.claim("w", &[], 30_000, 59_999).await.unwrap().is_none());
    assert_eq!(
        q.claim("w", &[], 30_000, 60_000)
            .await
            .unwrap()
            .unwrap()
            .1
            .id,
        id
    );
}
