//! Chat load generator for `bench/chat.sh`: opens many WebSocket connections to Ferrocast chat
//! rooms, publishes messages at a fixed rate and measures delivery (count, loss, latency), the
//! server's CPU and resident memory. Also a connection-churn mode.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ferrocast_load::proc_usage;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

#[derive(Parser)]
struct Args {
    /// Server HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    server: String,
    /// Server process id (CPU and memory are read from /proc).
    #[arg(long)]
    pid: u32,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// N connections in each room, R messages per second published into each room.
    Fanout {
        /// Rooms (channels created beforehand) are `PREFIX0`, `PREFIX1`, ...
        #[arg(long, default_value = "load")]
        prefix: String,
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        #[arg(long, default_value_t = 100)]
        conns_per_room: usize,
        /// Messages per second into each room.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Seconds of publishing.
        #[arg(long, default_value_t = 20)]
        duration: u64,
    },
    /// Connect, join and disconnect at a rate, then check the server returns to its baseline.
    Churn {
        #[arg(long, default_value = "load0")]
        room: String,
        /// Connections per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        duration: u64,
    },
}

/// Delivery latency histogram: 1 ms buckets up to 10 s.
struct Stats {
    buckets: Vec<AtomicU64>,
    delivered: AtomicU64,
}

impl Stats {
    fn new() -> Self {
        Self {
            buckets: (0..10_001).map(|_| AtomicU64::new(0)).collect(),
            delivered: AtomicU64::new(0),
        }
    }
    fn record(&self, latency_us: u64) {
        let ms = (latency_us / 1000).min(10_000) as usize;
        self.buckets[ms].fetch_add(1, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        let target = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (ms, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target && total > 0 {
                return ms as u64;
            }
        }
        10_000
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

type Ws = WebSocketStream<TcpStream>;

async fn connect_join(server: &str, room: &str, name: &str) -> anyhow::Result<Ws> {
    let tcp = TcpStream::connect(server).await?;
    tcp.set_nodelay(true)?;
    // tungstenite zero-fills its whole read buffer before every read: keep it small, or the
    // load generator spends its time in memset instead of reading.
    let config = WebSocketConfig::default().read_buffer_size(8192);
    let (mut ws, _) =
        client_async_with_config(format!("ws://{server}/chat/{room}"), tcp, Some(config)).await?;
    ws.send(Message::text(format!(
        r#"{{"type":"join","name":"{name}"}}"#
    )))
    .await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            if t.as_str().starts_with(r#"{"type":"joined""#) {
                return Ok(ws);
            }
            if t.as_str().contains(r#""type":"error""#) {
                bail!("join refused: {}", t.as_str());
            }
        }
    }
    bail!("closed before joined")
}

/// Counts the messages of a frame sent by this load generator (texts start with `@TIMESTAMP `).
fn on_frame(text: &str, stats: &Stats, since_us: u64) {
    let now = now_us();
    for (i, _) in text.match_indices(r#""text":"@"#) {
        let digits = &text[i + 9..];
        let end = digits.find(' ').unwrap_or(0);
        if let Ok(sent) = digits[..end].parse::<u64>() {
            if sent >= since_us {
                stats.record(now.saturating_sub(sent));
            }
        }
    }
}

async fn fanout(
    args: &Args,
    prefix: &str,
    rooms: usize,
    per_room: usize,
    rate: f64,
    duration: u64,
) -> anyhow::Result<()> {
    let (_, rss_base) = proc_usage(args.pid);
    let stats = Arc::new(Stats::new());
    let start_us = Arc::new(AtomicU64::new(u64::MAX));
    let gate = Arc::new(Semaphore::new(200));
    let total = rooms * per_room;
    let t0 = Instant::now();
    let mut receivers = Vec::with_capacity(total);
    let mut senders = Vec::new();
    // Viewers may send 20 messages per 30 s: stay under with 0.6 messages per second each.
    let senders_per_room = ((rate / 0.6).ceil() as usize).clamp(1, per_room);
    for r in 0..rooms {
        for i in 0..per_room {
            let (server, room, name) = (
                args.server.clone(),
                format!("{prefix}{r}"),
                format!("u{r}x{i}"),
            );
            let gate = gate.clone();
            let joined = tokio::spawn(async move {
                let _permit = gate.acquire().await;
                connect_join(&server, &room, &name).await
            });
            if i < senders_per_room {
                senders.push(joined);
            } else {
                receivers.push(joined);
            }
        }
    }
    let mut readers = Vec::with_capacity(total);
    let mut failed = 0;
    for j in receivers {
        match j.await? {
            Ok(ws) => readers.push(ws),
            Err(e) => {
                failed += 1;
                if failed < 5 {
                    eprintln!("connect failed: {e:#}");
                }
            }
        }
    }
    let mut sender_ws = Vec::new();
    for j in senders {
        match j.await? {
            Ok(ws) => sender_ws.push(ws),
            Err(e) => {
                failed += 1;
                eprintln!("sender connect failed: {e:#}");
            }
        }
    }
    let connected = readers.len() + sender_ws.len();
    println!(
        "connected {connected}/{total} in {:.1}s ({failed} failed)",
        t0.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, rss_idle) = proc_usage(args.pid);
    let per_conn = rss_idle.saturating_sub(rss_base) as f64 / connected.max(1) as f64;
    println!(
        "rss_baseline_mib {:.1} rss_idle_mib {:.1} rss_per_idle_connection_kb {:.1}",
        rss_base as f64 / 1048576.0,
        rss_idle as f64 / 1048576.0,
        per_conn / 1024.0
    );

    let since = now_us();
    start_us.store(since, Ordering::Relaxed);
    let mut tasks = Vec::new();
    for ws in readers {
        let stats = stats.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = ws;
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg {
                    on_frame(t.as_str(), &stats, since);
                }
            }
        }));
    }
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(duration);
    let per_sender = Duration::from_secs_f64(senders_per_room as f64 / rate);
    let n_senders = sender_ws.len().max(1);
    for (k, ws) in sender_ws.into_iter().enumerate() {
        let (mut sink, mut stream) = ws.split();
        let stats = stats.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(t) = msg {
                    on_frame(t.as_str(), &stats, since);
                }
            }
        }));
        let sent = sent.clone();
        tokio::spawn(async move {
            // Spread every sender's phase over one interval: rooms must not all talk at once.
            let offset = per_sender.mul_f64(k as f64 / n_senders as f64);
            tokio::time::sleep(offset).await;
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + per_sender, per_sender);
            let mut seq = 0u64;
            loop {
                tick.tick().await;
                if Instant::now() >= deadline {
                    break;
                }
                seq += 1;
                let text = format!(r#"{{"type":"send","text":"@{} {k} {seq}"}}"#, now_us());
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let (cpu0, _) = proc_usage(args.pid);
    let t_load = Instant::now();
    let mut peak_rss = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_rss = peak_rss.max(proc_usage(args.pid).1);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu1, rss_end) = proc_usage(args.pid);
    let secs = t_load.elapsed().as_secs_f64() - 2.0;
    let sent = sent.load(Ordering::Relaxed);
    let delivered = stats.delivered.load(Ordering::Relaxed);
    let expected = sent * (connected as u64 / rooms as u64);
    println!("sent {sent} ({:.1}/s total)", sent as f64 / duration as f64);
    println!(
        "delivered {delivered} expected {expected} loss {:.4}% deliveries_per_second {:.0}",
        100.0 * (expected.saturating_sub(delivered)) as f64 / expected.max(1) as f64,
        delivered as f64 / secs
    );
    println!(
        "latency_ms p50 {} p99 {} max {}",
        stats.quantile(0.5),
        stats.quantile(0.99),
        stats.quantile(1.0)
    );
    println!(
        "server_cpu_seconds {:.2} over {secs:.1}s (cores {:.2}) rss_peak_mib {:.1} rss_end_mib {:.1}",
        cpu1 - cpu0,
        (cpu1 - cpu0) / secs,
        peak_rss.max(rss_end) as f64 / 1048576.0,
        rss_end as f64 / 1048576.0
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}

async fn metric(server: &str, name: &str) -> Option<f64> {
    let mut tcp = TcpStream::connect(server).await.ok()?;
    let (_, body) = ferrocast_load::get(&mut tcp, server, "/metrics")
        .await
        .ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

async fn churn(args: &Args, room: &str, rate: u64, duration: u64) -> anyhow::Result<()> {
    // A first connection opens the room, so its task and memory count in the baseline.
    drop(connect_join(&args.server, room, "warmup").await?);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, rss_base) = proc_usage(args.pid);
    let tasks_base = metric(&args.server, "ferrocast_tasks_alive").await;
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let deadline = Instant::now() + Duration::from_secs(duration);
    let mut n = 0u64;
    let gate = Arc::new(Semaphore::new(500));
    while Instant::now() < deadline {
        tick.tick().await;
        n += 1;
        let (server, room, ok, errors, gate) = (
            args.server.clone(),
            room.to_owned(),
            ok.clone(),
            errors.clone(),
            gate.clone(),
        );
        tokio::spawn(async move {
            let Ok(_permit) = gate.acquire().await else {
                return;
            };
            match connect_join(&server, &room, &format!("c{}", n % 100_000)).await {
                Ok(mut ws) => {
                    let _ = ws.close(None).await;
                    ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let _ = gate.acquire_many(500).await;
    println!(
        "churn: {} joined and closed, {} failed, {:.0}/s",
        ok.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        ok.load(Ordering::Relaxed) as f64 / duration as f64
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, rss_after) = proc_usage(args.pid);
    let open = metric(&args.server, "ferrocast_chat_connections").await;
    let tasks_after = metric(&args.server, "ferrocast_tasks_alive").await;
    println!(
        "rss_before_mib {:.1} rss_after_mib {:.1} tasks_before {:?} tasks_after {:?} open_connections_after {:?}",
        rss_base as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        tasks_base,
        tasks_after,
        open
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.mode {
        Mode::Fanout {
            prefix,
            rooms,
            conns_per_room,
            rate,
            duration,
        } => fanout(&args, prefix, *rooms, *conns_per_room, *rate, *duration).await,
        Mode::Churn {
            room,
            rate,
            duration,
        } => churn(&args, room, *rate, *duration).await,
    }
    .context("chat load")
}
