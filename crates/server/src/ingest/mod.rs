//! RTMP ingest: the TCP listener, per-address limits, and one task per connection.

mod connection;
mod stats;

use crate::metrics as m;
use crate::state::AppState;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Connections the whole server accepts at once; beyond this new ones are closed at accept.
const MAX_CONNECTIONS: usize = 4096;

/// Counts open connections per address.
#[derive(Debug, Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Releases a per-address slot when the connection ends.
struct Slot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn try_claim(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = open.values().sum();
        let n = open.entry(ip).or_insert(0);
        if *n >= max || total >= MAX_CONNECTIONS {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Accepts RTMP connections until shutdown, then tells every publisher and waits for them.
pub async fn serve(listener: TcpListener, state: AppState, mut shutdown: watch::Receiver<bool>) {
    let per_address = Arc::new(PerAddress::default());
    let ids = AtomicU64::new(1);
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Usually EMFILE: back off briefly instead of spinning.
                        warn!(error = %e, "rtmp accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(slot) = per_address.try_claim(peer.ip(), state.config.max_connections_per_ip) else {
                    metrics::counter!(m::RTMP_CONNECTIONS_REFUSED, "reason" => "connection_limit").increment(1);
                    warn!(peer = %peer, "rtmp connection refused: too many connections");
                    continue;
                };
                let id = ids.fetch_add(1, Ordering::Relaxed);
                let state = state.clone();
                let shutdown = shutdown.clone();
                tasks.spawn(async move {
                    let _slot = slot;
                    run_connection(id, stream, peer, state, shutdown).await;
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    info!(
        connections = tasks.len(),
        "rtmp ingest stopping; telling publishers"
    );
    // Each connection sees the shutdown flag and says goodbye itself; bound the wait.
    let wait = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(5), wait)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
}

async fn run_connection(
    id: u64,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: AppState,
    shutdown: watch::Receiver<bool>,
) {
    metrics::counter!(m::RTMP_CONNECTIONS_TOTAL).increment(1);
    metrics::gauge!(m::RTMP_CONNECTIONS).increment(1.0);
    let _ = stream.set_nodelay(true);
    connection::Connection::new(id, peer, state, shutdown)
        .run(stream)
        .await;
    metrics::gauge!(m::RTMP_CONNECTIONS).decrement(1.0);
}
