//! The witness's HTTP interface: `POST /add-checkpoint` (c2sp.org/tlog-witness), `GET /` (who
//! this is) and `GET /healthz`.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::witness::{MAX_PROOF_LINES, Witness, unix_now};

/// The largest `add-checkpoint` body accepted: 63 proof lines and a checkpoint with a few
/// dozen signatures fit many times over.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

const TEXT: &str = "text/plain; charset=utf-8";

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(witness)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn index(State(witness): State<Arc<Witness>>) -> Response {
    let mut text = format!(
        "clearance witness {}\ncosigner key (cosignature/v1): {}\n\
         POST /add-checkpoint (c2sp.org/tlog-witness): old size, up to {MAX_PROOF_LINES} \
         proof lines, an empty line, the signed checkpoint\nlogs:\n",
        witness.name(),
        witness.verifier().to_text(),
    );
    for origin in witness.origins() {
        text.push_str("  ");
        text.push_str(origin);
        text.push('\n');
    }
    ([(header::CONTENT_TYPE, TEXT)], text).into_response()
}

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, TEXT)], "ok\n").into_response()
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    // SQLite and the mutex block: off the async workers.
    let outcome =
        tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, unix_now())).await;
    match outcome {
        Ok(Ok(cosignatures)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, TEXT)], cosignatures).into_response()
        }
        Ok(Err(error)) => {
            let status =
                StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if let Some(latest) = error.latest_size() {
                return (
                    status,
                    [(header::CONTENT_TYPE, "text/x.tlog.size")],
                    format!("{latest}\n"),
                )
                    .into_response();
            }
            if status.is_server_error() {
                tracing::error!(%error, "add-checkpoint failed");
            } else {
                tracing::debug!(%error, status = status.as_u16(), "add-checkpoint refused");
            }
            (status, [(header::CONTENT_TYPE, TEXT)], format!("{error}\n")).into_response()
        }
        Err(join) => {
            tracing::error!(error = %join, "add-checkpoint task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, TEXT)],
                "internal error\n",
            )
                .into_response()
        }
    }
}
