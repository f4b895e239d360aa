//! Thread-per-core serving. One acceptor hands each accepted connection to one of N worker
//! threads, round robin; each worker runs a single-threaded tokio runtime with its own
//! upstream client, so a request and its upstream call stay on one thread from first byte to
//! last, with no cross-thread wake-ups or work stealing on the hot path (measured in bench/:
//! those wake-ups, not the gateway's own work, were most of its added latency). Connections
//! are long-lived (keep-alive), so the hand-off costs one cross-thread message per connection,
//! not per request.
//!
//! Each connection is served by hyper directly (HTTP/1 and HTTP/2), so its limits apply: the
//! header read timeout, the keep-alive idle timeout, and at shutdown the drain deadline, after
//! which the connections still open are closed (their requests' records say `shutdown`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ConnectInfo;
use clearance_config::ServerLimits;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::metrics::Metrics;

/// An accepted connection on its way to a worker, with its place under
/// `server.max_connections` (given back when the connection closes).
pub(crate) struct Accepted {
    pub stream: std::net::TcpStream,
    pub peer: SocketAddr,
    pub slot: ConnectionSlot,
}

/// One open connection's place under `server.max_connections`.
pub(crate) struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl ConnectionSlot {
    pub(crate) fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> ConnectionSlot {
        metrics.connections_open.inc();
        ConnectionSlot {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.metrics.connections_open.dec();
    }
}

/// How many worker threads: `CLEARANCE_WORKERS`, else one per available core.
pub(crate) fn worker_count() -> usize {
    clearance_config::env_var("CLEARANCE_WORKERS")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// A worker's end of the hand-off, and the acceptor's.
pub(crate) fn hand_off_channel() -> (
    mpsc::UnboundedSender<Accepted>,
    mpsc::UnboundedReceiver<Accepted>,
) {
    mpsc::unbounded_channel()
}

/// Runs one worker: serves `app` on the connections it is handed until `stop` turns true,
/// then lets its in-flight requests finish for at most `limits.drain_timeout_ms`, and closes
/// the connections still open after that.
pub(crate) fn run_worker(
    mut incoming: mpsc::UnboundedReceiver<Accepted>,
    app: axum::Router,
    limits: ServerLimits,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut connections = JoinSet::new();
        let mut stopping = stop.clone();
        let mut acceptor_gone = false;
        loop {
            tokio::select! {
                () = stopped(&mut stopping) => break,
                accepted = incoming.recv(), if !acceptor_gone => match accepted {
                    Some(accepted) => match TcpStream::from_std(accepted.stream) {
                        Ok(stream) => {
                            connections.spawn(serve_connection(
                                stream,
                                accepted.peer,
                                accepted.slot,
                                app.clone(),
                                limits,
                                stop.clone(),
                            ));
                        }
                        Err(error) => {
                            tracing::warn!(%error, "could not adopt a connection; dropped it")
                        }
                    },
                    // The acceptor has stopped: only a shutdown does that.
                    None => acceptor_gone = true,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Drain: every connection has been told to finish its request in flight and close.
        let deadline = Duration::from_millis(limits.drain_timeout_ms);
        let drained = tokio::time::timeout(deadline, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = connections.len(),
                drain_timeout_ms = limits.drain_timeout_ms,
                "drain deadline passed; closing the connections still open"
            );
            // Every request record completed while these are dropped was cut off.
            crate::limits::set_cutting_off(true);
            connections.shutdown().await;
            crate::limits::set_cutting_off(false);
        }
        Ok(())
    })
}

/// When a connection last had a request in flight, and how many it has now.
struct Activity {
    in_flight: usize,
    idle_since: Instant,
}

/// Serves one connection until it closes: by the client, by the header read timeout, by the
/// keep-alive idle timeout, or at shutdown once its request in flight has ended.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    app: axum::Router,
    limits: ServerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _slot = slot;
    // Small answers and SSE events go out at once rather than waiting on Nagle's algorithm.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let activity = Arc::new(Mutex::new(Activity {
        in_flight: 0,
        idle_since: Instant::now(),
    }));
    let tracked = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        // The peer address reaches handlers as `ConnectInfo`: geo-IP needs it.
        request.extensions_mut().insert(ConnectInfo(peer));
        lock(&tracked).in_flight += 1;
        let tracked = Arc::clone(&tracked);
        let answered = app.clone().oneshot(request);
        async move {
            let response = answered.await;
            let mut activity = lock(&tracked);
            activity.in_flight -= 1;
            activity.idle_since = Instant::now();
            response
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms));
    builder.http2().timer(TokioTimer::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let idle = Duration::from_millis(limits.keep_alive_idle_ms);
    let mut closing = false;
    loop {
        let idle_until = {
            let activity = lock(&activity);
            if activity.in_flight > 0 {
                Instant::now() + idle
            } else {
                activity.idle_since + idle
            }
        };
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                return;
            }
            () = stopped(&mut stop), if !closing => {
                // Finish the request in flight, if any, then close.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep_until(idle_until), if !closing => {
                let activity = lock(&activity);
                if activity.in_flight == 0 && activity.idle_since.elapsed() >= idle {
                    drop(activity);
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn lock(activity: &Mutex<Activity>) -> std::sync::MutexGuard<'_, Activity> {
    activity.lock().unwrap_or_else(|p| p.into_inner())
}
