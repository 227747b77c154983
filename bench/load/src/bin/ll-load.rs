//! LL-HLS load generator for `bench/llhls.sh`: N keep-alive connections each follow the live edge
//! of one media playlist with blocking reloads (`_HLS_msn`/`_HLS_part` of the preload hint), and
//! for every part the spread between the first and each later answer is recorded: how long after
//! the part appeared every waiting request was answered.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use ferrocast_load::{get, proc_usage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[derive(Parser)]
struct Args {
    /// Server HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    server: String,
    /// Media playlist path, e.g. /live/bench/source/index.m3u8.
    #[arg(long)]
    path: String,
    /// Concurrent blocking requests.
    #[arg(long, default_value_t = 5000)]
    conns: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Server process id (CPU and memory from /proc).
    #[arg(long)]
    pid: u32,
}

/// Arrival times of the answers for each (msn, part).
type Arrivals = Arc<Mutex<HashMap<(u64, u64), Vec<Instant>>>>;

/// The (msn, part) the playlist's `EXT-X-PRELOAD-HINT` names (`.../M.P.m4s`).
fn preload_hint(playlist: &str) -> Option<(u64, u64)> {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let name = uri.rsplit('/').next()?.strip_suffix(".m4s")?;
    let (msn, part) = name.split_once('.')?;
    Some((msn.parse().ok()?, part.parse().ok()?))
}

async fn follow(args: Arc<Args>, arrivals: Arrivals, deadline: Instant, errors: Arc<Mutex<u64>>) {
    let Ok(mut stream) = TcpStream::connect(&args.server).await else {
        *errors.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        return;
    };
    let mut next = match get(&mut stream, &args.server, &args.path).await {
        Ok((200, body)) => preload_hint(&body),
        _ => None,
    };
    while Instant::now() < deadline {
        let Some((msn, part)) = next else { break };
        let path = format!("{}?_HLS_msn={msn}&_HLS_part={part}", args.path);
        match get(&mut stream, &args.server, &path).await {
            Ok((200, body)) => {
                arrivals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry((msn, part))
                    .or_default()
                    .push(Instant::now());
                next = preload_hint(&body);
            }
            _ => {
                *errors.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                break;
            }
        }
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let (_, rss0) = proc_usage(args.pid);
    let arrivals: Arrivals = Arc::default();
    let errors = Arc::new(Mutex::new(0u64));
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let mut tasks = Vec::with_capacity(args.conns);
    let t0 = Instant::now();
    for _ in 0..args.conns {
        tasks.push(tokio::spawn(follow(
            args.clone(),
            arrivals.clone(),
            deadline,
            errors.clone(),
        )));
    }
    // Memory and CPU once every request is connected and waiting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (cpu0, rss_waiting) = proc_usage(args.pid);
    let t_cpu = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    let (cpu1, _) = proc_usage(args.pid);
    let secs = t_cpu.elapsed().as_secs_f64();
    let arrivals = arrivals.lock().unwrap_or_else(|e| e.into_inner());
    let mut spreads = Vec::new();
    let mut answered = 0usize;
    let mut full_parts = 0usize;
    for times in arrivals.values() {
        // Parts answered to (nearly) every connection: the ones all requests waited for.
        if times.len() * 10 < args.conns * 9 {
            continue;
        }
        full_parts += 1;
        let first = times.iter().min().copied().unwrap_or(t0);
        for t in times {
            spreads.push(t.duration_since(first).as_secs_f64() * 1000.0);
        }
        answered += times.len();
    }
    spreads.sort_by(f64::total_cmp);
    println!(
        "connections {} parts_followed {} answers {} errors {}",
        args.conns,
        full_parts,
        answered,
        *errors.lock().unwrap_or_else(|e| e.into_inner())
    );
    println!(
        "answer_after_first_ms p50 {:.1} p99 {:.1} max {:.1}",
        quantile(&spreads, 0.5),
        quantile(&spreads, 0.99),
        quantile(&spreads, 1.0)
    );
    println!(
        "server rss_before_mib {:.1} rss_waiting_mib {:.1} per_waiting_request_kb {:.1} cpu_cores {:.2}",
        rss0 as f64 / 1048576.0,
        rss_waiting as f64 / 1048576.0,
        rss_waiting.saturating_sub(rss0) as f64 / 1024.0 / args.conns.max(1) as f64,
        (cpu1 - cpu0) / secs.max(0.001)
    );
    Ok(())
}
