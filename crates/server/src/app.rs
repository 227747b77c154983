//! Starting and stopping the server: listeners, tasks and graceful shutdown.

use crate::chat::{Chat, ChatConfig};
use crate::config::Config;
use crate::live::{Live, LiveConfig};
use crate::state::{AppState, Shared};
use crate::{auth, http, ingest, metrics};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

/// A started server.
pub struct Running {
    /// Shared state (the demo uses it to create its channel).
    pub state: AppState,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound RTMP address.
    pub rtmp_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    http_task: JoinHandle<()>,
    ingest_task: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

/// Opens the data directory and database, binds both listeners and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let token = auth::load_or_create_admin_token(&config.data_dir)?;
    match &token.path {
        Some(p) => {
            info!(path = %p.display(), "admin token file (send as Authorization: Bearer TOKEN)")
        }
        None => info!("admin token from FERROCAST_ADMIN_TOKEN"),
    }
    let db_path = config.data_dir.join("ferrocast.db");
    let db = ferrocast_db::Store::open_sqlite(&db_path).await?;
    let metrics = metrics::install()?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let runtime = tokio::runtime::Handle::current().metrics();
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
            ::metrics::gauge!(metrics::TASKS_ALIVE).set(runtime.num_alive_tasks() as f64);
        }
    });

    let http_listener = TcpListener::bind(config.http)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http))?;
    let rtmp_listener = TcpListener::bind(config.rtmp)
        .await
        .with_context(|| format!("binding RTMP on {}", config.rtmp))?;
    let http_addr = http_listener.local_addr()?;
    let rtmp_addr = rtmp_listener.local_addr()?;

    let transcode = crate::transcode::setup(
        config.ladder.clone(),
        config.encoder,
        &config.data_dir,
        db.clone(),
    )
    .await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let live = Arc::new(Live::new(
        LiveConfig {
            segment_duration: config.segment_duration,
            window: config.window,
            part_duration: config.part_duration,
            reconnect_grace: config.reconnect_grace,
            ended_retention: config.ended_retention,
            // Always: a channel may have its own ladder when the server's is off.
            transcode: Some(transcode.clone()),
        },
        shutdown_rx.clone(),
    ));
    let vod = crate::vod::Vod::open(
        config.vod.clone(),
        &config.data_dir,
        db.clone(),
        config.ladder.clone(),
        crate::vod::media::MediaTools {
            ffmpeg: transcode.ffmpeg.clone(),
            ffprobe: crate::vod::media::MediaTools::from_path().ffprobe,
        },
    )
    .await?;
    let workers = crate::vod::spawn_workers(vod.clone(), config.vod.workers, shutdown_rx.clone());
    let chat_secret = auth::load_or_create_secret(&config.data_dir.join("chat-secret"))?;
    let chat = Chat::start(
        db.clone(),
        ChatConfig {
            backlog: config.chat_backlog,
            retention: config.chat_retention,
            heartbeat: config.chat_heartbeat,
        },
        chat_secret.into_bytes(),
        shutdown_rx.clone(),
    );
    let playlist_cache_control = http::origin::playlist_cache_control(config.segment_duration);
    let blocking_cache_control =
        http::origin::blocking_playlist_cache_control(config.segment_duration);
    let state = AppState::new(Shared {
        config: Arc::new(config),
        db,
        live,
        chat,
        transcode: transcode.clone(),
        admin_token: token.token.into(),
        metrics: Some(metrics),
        ready: AtomicBool::new(false),
        playlist_cache_control,
        blocking_cache_control,
        http_port: http_addr.port(),
        rtmp_port: rtmp_addr.port(),
        qoe: crate::qoe::Qoe::default(),
        thumbnails: crate::thumbnail::Thumbnails::new(transcode.ffmpeg.clone()),
        vod: Some(vod),
    });

    let sweeper = state.live.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            let n = sweeper.sweep_idle();
            if n > 0 {
                tracing::debug!(channels = n, "idle channels freed");
            }
        }
    });
    let ingest_task = tokio::spawn(ingest::serve(
        rtmp_listener,
        state.clone(),
        shutdown_rx.clone(),
    ));
    let router = http::router(state.clone());
    let http_stop = http_shutdown(state.clone(), shutdown_rx);
    let http_task = tokio::spawn(http::serve::serve(
        http_listener,
        state.clone(),
        router,
        http_stop,
    ));
    state.ready.store(true, Ordering::Relaxed);
    info!(http = %http_addr, rtmp = %rtmp_addr, data_dir = %state.config.data_dir.display(), "ferrocast serving");
    Ok(Running {
        state,
        http_addr,
        rtmp_addr,
        shutdown,
        http_task,
        ingest_task,
        workers,
    })
}

/// Resolves when HTTP should stop: after shutdown began, every broadcast ended, and the drain
/// period passed, so players fetch playlists that end with EXT-X-ENDLIST.
async fn http_shutdown(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while state.live.all().iter().any(|c| c.is_packaging())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(state.config.shutdown_drain).await;
}

impl Running {
    /// Begins a graceful shutdown and waits for it to finish.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        info!("shutting down: telling publishers, ending playlists");
        self.state.ready.store(false, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        let _ = self.ingest_task.await;
        self.http_task.await?;
        for w in self.workers {
            let _ = w.await;
        }
        self.state.chat.drain(Duration::from_secs(5)).await;
        info!("shutdown complete");
        Ok(())
    }
}

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
