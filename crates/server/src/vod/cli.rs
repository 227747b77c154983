//! `ferrocast jobs ...` (the queue's operator commands, over a running server's API, so a
//! cancel kills the job's ffmpeg at once) and `ferrocast worker` (workers without the server).

use crate::client::{call, ClientArgs};
use crate::config::Config;
use clap::Subcommand;

/// Job queue operations.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, oldest first.
    List {
        /// Only jobs in this state (pending, ready, running, succeeded, failed, dead, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One job: attempts, last error, worker, lease, progress, timings, dependencies.
    Show {
        /// Job id.
        id: i64,
    },
    /// Run a failed, dead or cancelled job again now.
    Retry {
        /// Job id.
        id: i64,
    },
    /// Cancel a job and the jobs waiting on it; a running one's ffmpeg is killed.
    Cancel {
        /// Job id.
        id: i64,
        /// Why (recorded on the job and shown on its video).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Make every dead-lettered job ready again with fresh attempts.
    Redrive,
    /// Delete finished jobs.
    Purge {
        /// Only those finished longer ago than this, e.g. "7days".
        #[arg(long, default_value = "0s")]
        older_than: String,
    },
    /// Depth by state and the age of the oldest due job.
    Stats,
}

/// Runs a `jobs` command against the server at `args.url`.
pub fn run(args: &ClientArgs, cmd: &JobsCommand) -> anyhow::Result<()> {
    match cmd {
        JobsCommand::List { state, limit } => {
            let filter = state
                .as_deref()
                .map(|s| format!("&state={s}"))
                .unwrap_or_default();
            call(
                args,
                "GET",
                &format!("/api/v1/jobs?limit={limit}{filter}"),
                None,
            )
        }
        JobsCommand::Show { id } => call(args, "GET", &format!("/api/v1/jobs/{id}"), None),
        JobsCommand::Retry { id } => call(args, "POST", &format!("/api/v1/jobs/{id}/retry"), None),
        JobsCommand::Cancel { id, reason } => call(
            args,
            "POST",
            &format!("/api/v1/jobs/{id}/cancel"),
            Some(serde_json::json!({ "reason": reason })),
        ),
        JobsCommand::Redrive => call(args, "POST", "/api/v1/jobs/redrive", None),
        JobsCommand::Purge { older_than } => call(
            args,
            "POST",
            "/api/v1/jobs/purge",
            Some(serde_json::json!({ "older_than": older_than })),
        ),
        JobsCommand::Stats => call(args, "GET", "/api/v1/jobs/stats", None),
    }
}

/// `ferrocast worker`: opens the same data directory (database, queue, storage) as the server
/// and runs `--workers` jobs at once until SIGTERM; no listeners.
pub async fn worker(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let db = ferrocast_db::Store::open_sqlite(&config.data_dir.join("ferrocast.db")).await?;
    let _ = crate::metrics::install()?;
    let n = config.vod.workers.max(1);
    let vod = super::Vod::open(
        config.vod.clone(),
        &config.data_dir,
        db,
        config.ladder.clone(),
        super::media::MediaTools::from_path(),
    )
    .await?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = super::spawn_workers(vod, n, stop_rx);
    tracing::info!(workers = n, "ferrocast worker running");
    crate::app::wait_for_signal().await;
    tracing::info!("worker stopping");
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
