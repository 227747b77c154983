//! `ferrocast`: a self-hosted live video platform in one binary.
#![forbid(unsafe_code)]

/// jemalloc rather than glibc's allocator: the HTTP and chat paths allocate and free many small
/// objects per request, and glibc spent about a quarter of the CPU of 5 000 blocked LL-HLS
/// requests in `malloc`/`free` and consolidation; jemalloc returns freed memory to the system
/// only after it has stayed unused for seconds, so the rings' steady churn of frame buffers
/// costs no page faults (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod accounts;
mod app;
mod auth;
mod chat;
mod client;
mod clock;
mod config;
mod config_vod;
mod demo;
mod http;
mod ingest;
mod live;
mod metrics;
mod qoe;
mod state;
mod thumbnail;
mod transcode;
mod vod;

use clap::{Parser, Subcommand};
use config::{Config, LogFormat, ServeArgs};

/// Live video and video on demand: RTMP and uploads in, HLS and DASH out.
#[derive(Debug, Parser)]
#[command(name = "ferrocast", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: RTMP ingest, HLS playback, the API and /metrics.
    Serve(ServeArgs),
    /// Run the server with a synthetic live channel `demo` published by ffmpeg.
    Demo(ServeArgs),
    /// Manage channels through a running server's API.
    Channel {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: client::ChannelCommand,
    },
    /// Manage accounts, directly on the data directory's database.
    User(accounts::cli::UserArgs),
    /// Run video-on-demand workers only (no listeners), on the same data directory and
    /// configuration as the server.
    Worker(ServeArgs),
    /// Operate the job queue through a running server's API.
    Jobs {
        #[command(flatten)]
        client: client::ClientArgs,
        #[command(subcommand)]
        command: vod::cli::JobsCommand,
    },
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("FERROCAST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::resolve(&args)?;
            init_logging(config.log_format);
            runtime()?.block_on(async {
                let running = app::start(config).await?;
                app::wait_for_signal().await;
                running.shutdown().await
            })
        }
        Command::Demo(args) => {
            let config = Config::resolve(&args)?;
            init_logging(config.log_format);
            runtime()?.block_on(demo::run(config))
        }
        Command::Channel { client, command } => client::run(&client, &command),
        Command::User(args) => accounts::cli::run(&args),
        Command::Worker(args) => {
            let config = Config::resolve(&args)?;
            init_logging(config.log_format);
            runtime()?.block_on(vod::cli::worker(config))
        }
        Command::Jobs { client, command } => vod::cli::run(&client, &command),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
