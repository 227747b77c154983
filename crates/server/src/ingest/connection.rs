//! One RTMP connection: drives the sans-IO session over a TCP stream and answers its requests.

use super::stats::IngestStats;
use crate::live::{PublishGuard, PublishRefusal};
use crate::metrics as m;
use crate::state::AppState;
use bytes::Bytes;
use ferrocast_flv::TagDemuxer;
use ferrocast_media::MediaEvent;
use ferrocast_rtmp::{RequestId, ServerEvent, ServerSession, SessionConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

/// The only application name we serve: `rtmp://HOST/live/KEY`.
const APP: &str = "live";
/// A connection must be publishing within this time of connecting (stops idle sockets).
const PUBLISH_DEADLINE: Duration = Duration::from_secs(15);
/// Our writes are small; a peer that will not take them for this long is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer: a few chunks of a 6 Mbit/s stream per syscall.
const READ_BUFFER: usize = 64 * 1024;
/// Demux errors logged per publish before the rest are only counted.
const DEMUX_ERRORS_LOGGED: u32 = 5;

struct Publishing {
    guard: PublishGuard,
    stats: IngestStats,
    demuxer: TagDemuxer,
    demux_errors: u32,
}

pub(super) struct Connection {
    id: u64,
    peer: SocketAddr,
    state: AppState,
    shutdown: watch::Receiver<bool>,
    session: ServerSession,
    kick: Arc<Notify>,
    publishing: Option<Publishing>,
    connected_at: Instant,
    last_read: Instant,
    /// Set once we asked the session to say goodbye; the connection then only flushes.
    closing: bool,
}

/// Why a connection ended, for logs and metrics.
enum End {
    PeerClosed,
    Closed,
    Error(&'static str, String),
}

impl Connection {
    pub(super) fn new(
        id: u64,
        peer: SocketAddr,
        state: AppState,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let now = Instant::now();
        let config = SessionConfig {
            max_stream_key_len: crate::auth::MAX_STREAM_KEY_LEN,
            ..SessionConfig::default()
        };
        Self {
            id,
            peer,
            state,
            shutdown,
            session: ServerSession::new(config, now),
            kick: Arc::new(Notify::new()),
            publishing: None,
            connected_at: now,
            last_read: now,
            closing: false,
        }
    }

    pub(super) async fn run(mut self, stream: TcpStream) {
        debug!(conn = self.id, peer = %self.peer, "rtmp connected");
        let end = self.drive(stream).await;
        let channel = self
            .publishing
            .as_ref()
            .map(|p| p.guard.channel().name.clone());
        match &end {
            End::PeerClosed | End::Closed => {
                debug!(conn = self.id, peer = %self.peer, channel, "rtmp connection closed")
            }
            End::Error(kind, detail) => {
                metrics::counter!(m::RTMP_ERRORS, "kind" => *kind).increment(1);
                info!(conn = self.id, peer = %self.peer, channel, kind, error = %detail, "rtmp connection ended");
            }
        }
        if let Some(p) = self.publishing.take() {
            p.stats.finish();
            info!(conn = self.id, peer = %self.peer, channel = %p.guard.channel().name, "publish ended");
        }
    }

    async fn drive(&mut self, stream: TcpStream) -> End {
        let (mut rd, mut wr) = stream.into_split();
        let mut buf = vec![0u8; READ_BUFFER];
        if *self.shutdown.borrow() {
            return End::Closed;
        }
        // Created once, not per read: this loop runs for every few kilobytes of a 6 Mbit/s stream.
        let kick = self.kick.clone();
        let kicked = kick.notified();
        tokio::pin!(kicked);
        let mut shutdown = self.shutdown.clone();
        let stopping = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        tokio::pin!(stopping);
        loop {
            while let Some(ev) = self.session.poll_event() {
                self.handle_event(ev).await;
            }
            if let Err(e) = flush(&mut self.session, &mut wr).await {
                return e;
            }
            if self.session.is_closed() {
                let _ = wr.shutdown().await;
                return End::Closed;
            }
            let deadline = self.deadline();
            tokio::select! {
                read = rd.read(&mut buf) => match read {
                    Ok(0) => return End::PeerClosed,
                    Ok(n) => {
                        let now = Instant::now();
                        self.last_read = now;
                        if let Err(e) = self.session.handle_input(now, &buf[..n]) {
                            return End::Error(if e.is_peer_error() { "protocol" } else { "internal" }, e.to_string());
                        }
                    }
                    Err(e) => return End::Error("io", e.to_string()),
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    if let Err(e) = self.session.handle_timeout(now) {
                        return End::Error("handshake_timeout", e.to_string());
                    }
                    if self.publishing.is_none() && now >= self.connected_at + PUBLISH_DEADLINE {
                        return End::Error("publish_timeout", "no publish within the deadline".into());
                    }
                    if now >= self.last_read + self.state.config.publisher_idle_timeout {
                        return End::Error("idle_timeout", "no data from the peer".into());
                    }
                }
                _ = &mut kicked, if !self.closing => {
                    self.say_goodbye("the channel's stream key was rotated or the channel deleted", true);
                }
                _ = &mut stopping, if !self.closing => {
                    self.say_goodbye("server shutting down", true);
                }
            }
        }
    }

    fn deadline(&self) -> Instant {
        let mut d = self.last_read + self.state.config.publisher_idle_timeout;
        if self.publishing.is_none() {
            d = d.min(self.connected_at + PUBLISH_DEADLINE);
        }
        if let Some(t) = self.session.poll_timeout() {
            d = d.min(t);
        }
        d
    }

    fn say_goodbye(&mut self, why: &str, clean: bool) {
        self.closing = true;
        if let Some(p) = &mut self.publishing {
            if clean {
                p.guard.set_clean();
            }
        }
        if let Err(e) = self.session.shutdown(why) {
            debug!(conn = self.id, error = %e, "rtmp shutdown message failed");
        }
    }

    async fn handle_event(&mut self, ev: ServerEvent) {
        match ev {
            ServerEvent::ConnectRequested { request, app, .. } => self.on_connect(request, &app),
            ServerEvent::PublishRequested {
                request,
                app,
                stream_key,
                ..
            } => self.on_publish(request, &app, &stream_key).await,
            ServerEvent::Metadata { properties } => {
                if let Some(p) = &self.publishing {
                    let meta = ferrocast_flv::parse_metadata(&properties);
                    info!(conn = self.id, channel = %p.guard.channel().name, encoder = meta.encoder.as_deref(),
                        width = meta.width, height = meta.height, fps = meta.frame_rate, "stream metadata");
                    p.guard.channel().hub.publish(MediaEvent::Metadata(meta));
                }
            }
            ServerEvent::Audio { timestamp, payload } => self.on_media(false, timestamp, payload),
            ServerEvent::Video { timestamp, payload } => self.on_media(true, timestamp, payload),
            ServerEvent::PublishFinished { .. } => {
                if let Some(mut p) = self.publishing.take() {
                    p.guard.set_clean();
                    p.stats.finish();
                    info!(conn = self.id, channel = %p.guard.channel().name, "publisher unpublished");
                }
            }
            ServerEvent::PlayRefused { stream_name } => {
                debug!(conn = self.id, peer = %self.peer, stream = %stream_name.len(), "rtmp play refused: ingest only");
            }
        }
    }

    fn on_connect(&mut self, request: RequestId, app: &str) {
        let app = app.trim_end_matches('/');
        let result = if app == APP {
            self.session.accept_connect(request)
        } else {
            metrics::counter!(m::PUBLISH_REFUSED, "reason" => "unknown_app").increment(1);
            warn!(conn = self.id, peer = %self.peer, app_len = app.len(), "rtmp connect refused: unknown application");
            self.session.reject_connect(
                request,
                "unknown application; publish to rtmp://HOST/live/STREAM_KEY",
            )
        };
        if let Err(e) = result {
            debug!(conn = self.id, error = %e, "rtmp connect answer failed");
        }
    }

    async fn on_publish(&mut self, request: RequestId, app: &str, key: &str) {
        let refuse = |session: &mut ServerSession, reason: &'static str, description: &str| {
            metrics::counter!(m::PUBLISH_REFUSED, "reason" => reason).increment(1);
            if let Err(e) =
                session.reject_publish(request, "NetStream.Publish.BadName", description)
            {
                debug!(error = %e, "rtmp publish refusal failed");
            }
        };
        if self.publishing.is_some() {
            refuse(
                &mut self.session,
                "already_publishing",
                "this connection is already publishing",
            );
            return;
        }
        if app.trim_end_matches('/') != APP {
            refuse(&mut self.session, "unknown_app", "unknown application");
            return;
        }
        let channel = match self.state.channel_for_key(key).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                // Never log the key itself: a near-miss would leak most of a real one.
                warn!(conn = self.id, peer = %self.peer, reason = "invalid_key", "publish refused");
                refuse(&mut self.session, "invalid_key", "invalid stream key");
                return;
            }
            Err(e) => {
                warn!(conn = self.id, peer = %self.peer, error = %e, "publish refused: database error");
                refuse(&mut self.session, "internal", "server error; try again");
                return;
            }
        };
        match self
            .state
            .live
            .start_publish(&channel, self.id, self.kick.clone())
        {
            Ok(guard) => {
                if let Err(e) = self.session.accept_publish(request) {
                    debug!(conn = self.id, error = %e, "rtmp publish accept failed");
                    return;
                }
                metrics::counter!(m::PUBLISH_ACCEPTED, "channel" => channel.clone()).increment(1);
                info!(conn = self.id, peer = %self.peer, channel = %channel, session = guard.session(), "publish started");
                let stats = IngestStats::new(guard.channel().clone());
                self.publishing = Some(Publishing {
                    guard,
                    stats,
                    demuxer: TagDemuxer::new(),
                    demux_errors: 0,
                });
            }
            Err(PublishRefusal::AlreadyLive) => {
                warn!(conn = self.id, peer = %self.peer, channel = %channel, reason = "already_live", "publish refused");
                refuse(
                    &mut self.session,
                    "already_live",
                    "the channel is already live",
                );
            }
            Err(PublishRefusal::ShuttingDown) => {
                refuse(&mut self.session, "shutting_down", "server shutting down");
            }
        }
    }

    fn on_media(&mut self, video: bool, timestamp: u32, payload: Bytes) {
        let Some(p) = &mut self.publishing else {
            return;
        };
        p.stats.message(payload.len(), Instant::now());
        let result = if video {
            p.demuxer.video(timestamp, payload)
        } else {
            p.demuxer.audio(timestamp, payload)
        };
        match result {
            Ok(Some(event)) => {
                if let MediaEvent::Frame(f) = &event {
                    p.stats.frame(f);
                    if f.keyframe && f.kind == ferrocast_media::TrackKind::Video {
                        tracing::trace!(dts = f.dts, "keyframe in");
                    }
                }
                p.guard.channel().hub.publish(event);
            }
            Ok(None) => {}
            Err(e) => {
                p.stats.demux_error();
                p.demux_errors += 1;
                if p.demux_errors <= DEMUX_ERRORS_LOGGED {
                    warn!(conn = self.id, channel = %p.guard.channel().name, video, error = %e, "media message dropped");
                }
            }
        }
    }
}

async fn flush(session: &mut ServerSession, wr: &mut OwnedWriteHalf) -> Result<(), End> {
    while let Some(bytes) = session.poll_transmit() {
        match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(End::Error("io", e.to_string())),
            Err(_) => return Err(End::Error("write_timeout", "peer does not read".into())),
        }
    }
    Ok(())
}
