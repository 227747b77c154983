//! Leases, expiry, heartbeats, attempt timeouts, fencing and concurrent claims, on a paused
//! clock: every time below is exact.

mod common;

use ferrocast_jobs::{JobError, JobState, NewJob};
use serde_json::json;

#[tokio::test]
async fn expired_lease_is_reaped_and_released_with_the_attempt_counted() {
    let (q, _dir) = common::queue().await;
    let id = q
        .enqueue(&NewJob::new("probe", json!({"v": 1})), 0)
        .await
        .unwrap()
        .id;
    let (lease, job) = q.claim("w1", &[], 30_000, 1_000).await.unwrap().unwrap();
    assert_eq!((lease.job, lease.attempt, lease.fence), (id, 1, 1));
    assert_eq!(lease.expires_at_ms, 31_000);
    assert_eq!(job.payload, json!({"v": 1}));
    assert_eq!(job.state, JobState::Running);
    // Nobody else can take a running job.
    assert!(q.claim("w2", &[], 30_000, 2_000).await.unwrap().is_none());
    // One ms before expiry nothing happens; at expiry the job is ready again.
    assert!(q.reap(30_999).await.unwrap().requeued.is_empty());
    let reaped = q.reap(31_000).await.unwrap();
    assert_eq!(reaped.requeued, vec![id]);
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempts, job.run_at_ms),
        (JobState::Ready, 1, 31_000)
    );
    assert!(job.last_error.unwrap().contains("lease expired: worker w1"));
    let (lease2, _) = q.claim("w2", &[], 30_000, 31_500).await.unwrap().unwrap();
    assert_eq!(
        (lease2.attempt, lease2.fence, lease2.worker.as_str()),
        (2, 2, "w2")
    );
}

#[tokio::test]
async fn heartbeat_extends_lease_and_records_progress() {
    let (q, _dir) = common::queue().await;
    let id = q
        .enqueue(&NewJob::new("render", json!(null)), 0)
        .await
        .unwrap()
        .id;
    let (lease, _) = q
        .claim("w1", &["render"], 30_000, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        q.heartbeat(&lease, Some(0.25), 20_000).await.unwrap(),
        50_000
    );
    assert!(q.reap(30_000).await.unwrap().requeued.is_empty());
    // No progress keeps the last one; out-of-range progress is clamped, NaN ignored.
    assert_eq!(q.heartbeat(&lease, None, 40_000).await.unwrap(), 70_000);
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!(
        (job.progress, job.lease_expires_at_ms),
        (Some(0.25), Some(70_000))
    );
    q.heartbeat(&lease, Some(f32::NAN), 41_000).await.unwrap();
    q.heartbeat(&lease, Some(7.0), 42_000).await.unwrap();
    assert_eq!(q.get(id).await.unwrap().unwrap().progress, Some(1.0));
    assert!(q.reap(71_999).await.unwrap().requeued.is_empty());
    assert_eq!(q.reap(72_000).await.unwrap().requeued, vec![id]);
    // The reaped lease can no longer be renewed.
    assert!(matches!(
        q.heartbeat(&lease, None, 72_001).await,
        Err(JobError::Fenced { fence: 1, .. })
    ));
}

#[tokio::test]
async fn attempt_timeout_catches_a_live_but_stuck_worker() {
    let (q, _dir) = common::queue().await;
    let new = NewJob {
        timeout_ms: Some(60_000),
        max_attempts: 2,
        ..NewJob::new("render", json!(null))
    };
    let id = q.enqueue(&new, 0).await.unwrap().id;
    let (lease, job) = q.claim("w1", &[], 30_000, 1_000).await.unwrap().unwrap();
    assert_eq!(job.attempt_deadline_ms, Some(61_000));
    // Heartbeats keep the lease alive, but not past the attempt deadline.
    for t in [20_000, 40_000, 60_000] {
        q.heartbeat(&lease, None, t).await.unwrap();
    }
    assert!(q.reap(60_999).await.unwrap().requeued.is_empty());
    assert_eq!(q.reap(61_000).await.unwrap().requeued, vec![id]);
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Ready);
    assert!(job.last_error.unwrap().contains("timed out after 60000 ms"));
    // The stuck worker is told at its next heartbeat.
    assert!(matches!(
        q.heartbeat(&lease, None, 61_001).await,
        Err(JobError::Fenced { .. })
    ));
    // The second (last) attempt times out too: dead.
    q.claim("w2", &[], 30_000, 62_000).await.unwrap().unwrap();
    let reaped = q.reap(122_000).await.unwrap();
    assert_eq!((reaped.requeued.len(), reaped.dead), (0, vec![id]));
    assert_eq!(q.get(id).await.unwrap().unwrap().state, JobState::Dead);
}

#[tokio::test]
async fn stale_fence_cannot_commit_over_a_newer_attempt() {
    let (q, _dir) = common::queue().await;
    let id = common::probe(&q).await;
    let (old, _) = q.claim("w1", &[], 10_000, 0).await.unwrap().unwrap();
    q.reap(10_000).await.unwrap();
    let (new, _) = q.claim("w2", &[], 10_000, 10_001).await.unwrap().unwrap();
    assert!(new.fence > old.fence);
    let before = q.get(id).await.unwrap().unwrap();
    assert!(matches!(
        q.complete(&old, 10_002).await,
        Err(JobError::Fenced { fence: 1, .. })
    ));
    assert!(matches!(
        q.fail(&old, "late", 0.5, 10_002).await,
        Err(JobError::Fenced { .. })
    ));
    assert!(matches!(
        q.heartbeat(&old, Some(0.9), 10_002).await,
        Err(JobError::Fenced { .. })
    ));
    // Nothing changed: still running under the new lease.
    assert_eq!(q.get(id).await.unwrap().unwrap(), before);
    q.complete(&new, 10_003).await.unwrap();
    let job = q.get(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.finished_at_ms),
        (JobState::Succeeded, Some(10_003))
    );
    // Completing twice is refused too.
    assert!(matches!(
        q.complete(&new, 10_004).await,
        Err(JobError::Fenced { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_claim_every_job_exactly_once() {
    let (q, _dir) = common::queue().await;
    for i in 0..60 {
        q.enqueue(&NewJob::new("noop", json!(i)), 0).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            while let Some((lease, job)) = q.claim(&format!("w{w}"), &[], 30_000, 1).await.unwrap()
            {
                q.complete(&lease, 2).await.unwrap();
                done.push(job.id.0);
            }
            done
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=60).collect::<Vec<i64>>());
    assert_eq!(q.stats(3).await.unwrap().count(JobState::Succeeded), 60);
}

/// A rough throughput check, not a benchmark (run with `--ignored --nocapture`, ideally with
/// `--release`): 4 workers enqueue and complete no-op jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "timing measurement, not a test"]
async fn throughput_noop_jobs_with_four_workers() {
    const JOBS: usize = 4_000;
    let (q, _dir) = common::queue().await;
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..JOBS / 4 {
                q.enqueue(&NewJob::new("noop", json!(i)), 0).await.unwrap();
            }
            let mut n = 0;
            while let Some((lease, _)) = q.claim(&format!("w{w}"), &[], 30_000, 1).await.unwrap() {
                q.complete(&lease, 2).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(done, JOBS);
    #[allow(clippy::print_stderr)] // the measurement is the point of this test
    {
        eprintln!(
            "{JOBS} jobs in {secs:.2} s: {:.0} jobs/s",
            JOBS as f64 / secs
        );
    }
}

#[tokio::test]
async fn two_handles_on_one_file_share_the_queue() {
    // What `ferrocast serve` and a separate `ferrocast worker` do: two pools on one file.
    let (a, dir) = common::queue().await;
    let b = ferrocast_jobs::Queue::open_sqlite(&dir.0.join("jobs.db"))
        .await
        .unwrap();
    let id = a
        .enqueue(&NewJob::new("probe", json!(null)), 0)
        .await
        .unwrap()
        .id;
    let (lease, _) = b.claim("remote", &[], 30_000, 1).await.unwrap().unwrap();
    assert!(a.claim("local", &[], 30_000, 1).await.unwrap().is_none());
    assert_eq!(
        a.get(id).await.unwrap().unwrap().worker.as_deref(),
        Some("remote")
    );
    a.cancel(id, "operator", 2).await.unwrap();
    assert!(matches!(
        b.heartbeat(&lease, None, 3).await,
        Err(JobError::Cancelled { .. })
    ));
}
