//! Thread-per-core serving. One acceptor hands each accepted connection to one of N worker
//! threads, round robin; each worker runs a single-threaded tokio runtime with its own
//! upstream client, so a request and its upstream call stay on one thread from first byte to
//! last, with no cross-thread wake-ups or work stealing on the hot path (measured in bench/:
//! those wake-ups, not the gateway's own work, were most of its added latency). Connections
//! are long-lived (keep-alive), so the hand-off costs one cross-thread message per connection,
//! not per request.

use std::net::SocketAddr;

use axum::serve::{Listener, ListenerExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Connections handed to one worker thread.
pub(crate) struct HandedOff {
    incoming: mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl Listener for HandedOff {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.incoming.recv().await {
                Some((stream, peer)) => match TcpStream::from_std(stream) {
                    Ok(stream) => return (stream, peer),
                    Err(error) => {
                        tracing::warn!(%error, "could not adopt a connection; dropped it")
                    }
                },
                // The acceptor has stopped: nothing more comes; graceful shutdown ends serving.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// How many worker threads: `CLEARANCE_WORKERS`, else one per available core.
pub(crate) fn worker_count() -> usize {
    std::env::var("CLEARANCE_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// A worker's end of the hand-off, and the acceptor's.
pub(crate) fn hand_off_channel(
    local: SocketAddr,
) -> (
    mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>,
    HandedOff,
) {
    let (tx, incoming) = mpsc::unbounded_channel();
    (tx, HandedOff { incoming, local })
}

/// Runs one worker: serves `app` on the connections it is handed until `stop` turns true,
/// then lets its in-flight requests finish.
pub(crate) fn run_worker(
    listener: HandedOff,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Small answers and SSE events go out at once rather than waiting on Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        // The peer address reaches handlers as `ConnectInfo`: geo-IP needs it.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await
    })
}
