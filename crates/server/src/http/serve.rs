//! The HTTP accept loop: hyper HTTP/1 connections serving the router, with a header-read timeout
//! (a client that trickles its request head cannot hold a connection), WebSocket upgrades, the
//! peer address for handlers, live playlist GETs answered by the origin's fast path, and a
//! graceful drain.
//!
//! Used instead of `axum::serve`, whose protocol sniffing and upgrade wrapper cost measurable CPU
//! per connection, and which has no header-read timeout.

use super::origin::fast;
use crate::state::AppState;
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

/// A request head must arrive within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open connections get this long to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection's service: the fast path or the router.
#[derive(Clone)]
struct Entry {
    router: Router,
    state: AppState,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Entry {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        if fast::handles(&req) {
            let state = self.state.clone();
            return Box::pin(async move { Ok(fast::answer(state, req).await) });
        }
        // The peer address rides along as axum's `ConnectInfo` (chat bans use it).
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        Box::pin(router.oneshot(req))
    }
}

/// Serves `router` (over `state`) on `listener` until `stop` resolves, then drains open
/// connections.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    router: Router,
    stop: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let (draining, drain_signal) = watch::channel(false);
    // Every connection task holds a sender; the drain ends when the last one is dropped.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "http accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = Entry {
                    router: router.clone(),
                    state: state.clone(),
                    peer,
                };
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                let mut drain_signal = drain_signal.clone();
                let open = open.clone();
                tokio::spawn(async move {
                    tokio::pin!(conn);
                    // Errors here are a client going away mid-request; nothing to act on.
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = async { drop(drain_signal.wait_for(|d| *d).await) } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                    drop(open);
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    drop(open);
    let _ = draining.send(true);
    if tokio::time::timeout(DRAIN_TIMEOUT, all_closed.recv())
        .await
        .is_err()
    {
        tracing::info!("http connections still open after the drain; closing them");
    }
}
