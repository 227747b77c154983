//! Shared test helpers: a fresh queue in its own temporary file.

use ferrocast_jobs::{Backoff, JobId, NewJob, Queue, SqliteQueue};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh queue (default back-off: 2 s base, 10 min cap) in a new temporary directory.
pub async fn queue() -> (Queue, TempDir) {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ferrocast-jobs-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let q = SqliteQueue::open(&dir.join("jobs.db"))
        .await
        .unwrap()
        .with_backoff(Backoff::default());
    (Queue::Sqlite(q), TempDir(dir))
}

/// Enqueues a no-op `probe` job at time 0 with the defaults.
pub async fn probe(q: &Queue) -> JobId {
    q.enqueue(&NewJob::new("probe", serde_json::json!(null)), 0)
        .await
        .unwrap()
        .id
}
