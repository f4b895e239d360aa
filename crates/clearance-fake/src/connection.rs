//! Serving one TCP connection, with a switch a handler can flip to drop the connection without
//! answering (`refuse_connection`): what a client sees when a provider's server dies.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use futures::stream;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tower::ServiceExt;

/// Put into every request's extensions; flipping it closes the request's TCP connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionKiller(Arc<Notify>);

impl ConnectionKiller {
    fn kill(&self) {
        // notify_one keeps a permit, so the kill is not lost if the connection task is busy.
        self.0.notify_one();
    }

    async fn killed(&self) {
        self.0.notified().await;
    }
}

/// Serves HTTP/1.1 and HTTP/2 (prior knowledge) on `stream` until the peer leaves or a handler
/// kills the connection. Dropping the connection closes the socket with nothing written.
pub(crate) async fn serve_connection(stream: TcpStream, router: Router) {
    // Streamed events must leave at once, not wait for Nagle.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("set_nodelay failed: {e}");
    }
    let killer = ConnectionKiller::default();
    let service = {
        let killer = killer.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(killer.clone());
            router.clone().oneshot(request)
        })
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!("connection ended with error: {e}");
            }
        }
        () = killer.killed() => {}
    }
}

/// Answers a request by dropping its connection. Never returns when served by
/// [`serve_connection`]; outside it (no killer), a body that fails at once makes hyper abort.
pub(crate) async fn refuse(killer: Option<ConnectionKiller>) -> Response {
    match killer {
        Some(killer) => {
            killer.kill();
            std::future::pending().await
        }
        None => Response::new(Body::from_stream(stream::once(async {
            Err::<bytes::Bytes, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "clearance-fake: connection refused by behavior",
            ))
        }))),
    }
}

/// A pause long enough for hyper to flush what was written before a stream is cut, so the client
/// sees exactly the events it was promised.
pub(crate) const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);
