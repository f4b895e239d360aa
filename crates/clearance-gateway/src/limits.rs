//! What a client may hold: how long it may take to send a request body, how many requests it
//! may have in flight with one key, and (with `workers.rs` and `server.rs`) how many
//! connections it may keep open. Every limit is in `[server]` (docs/config.md).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::time::Instant;

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyFailure {
    /// Larger than `server.max_body_bytes`.
    TooLarge,
    /// Not all there within `server.body_read_timeout_ms`, or a pause longer than
    /// `server.body_idle_timeout_ms`.
    TimedOut,
    /// The connection failed while the body was being read.
    Broken(String),
}

/// Reads a whole request body within the size limit, the total read timeout and the idle
/// timeout between pieces.
pub async fn read_body(
    body: Body,
    limit: usize,
    total: Duration,
    idle: Duration,
) -> Result<Bytes, BodyFailure> {
    let deadline = Instant::now() + total;
    let mut stream = body.into_data_stream();
    let mut collected = BytesMut::new();
    loop {
        let next_by = deadline.min(Instant::now() + idle);
        match tokio::time::timeout_at(next_by, stream.next()).await {
            Err(_) => return Err(BodyFailure::TimedOut),
            Ok(None) => return Ok(collected.freeze()),
            Ok(Some(Err(error))) => {
                // axum's own limit layer may refuse first; it means the same.
                let text = error.to_string();
                if text.contains("length limit exceeded") {
                    return Err(BodyFailure::TooLarge);
                }
                return Err(BodyFailure::Broken(text));
            }
            Ok(Some(Ok(piece))) => {
                if collected.len() + piece.len() > limit {
                    return Err(BodyFailure::TooLarge);
                }
                collected.extend_from_slice(&piece);
            }
        }
    }
}

/// Requests in flight per client key. A request holds an [`InFlightGuard`] from when it is
/// authenticated until its answer has ended (a stream counts until its last event).
#[derive(Default)]
pub struct InFlight {
    counts: Mutex<HashMap<String, usize>>,
}

impl InFlight {
    /// A place for one more request with `key`, unless `cap` are in flight already.
    pub fn acquire(self: &Arc<Self>, key: &str, cap: usize) -> Option<InFlightGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key.to_string()).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(InFlightGuard {
            in_flight: Arc::clone(self),
            key: key.to_string(),
        })
    }

    /// Requests in flight with `key` now.
    pub fn count(&self, key: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
}

/// One request's place among its key's requests in flight, given back on drop.
pub struct InFlightGuard {
    in_flight: Arc<InFlight>,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut counts = self
            .in_flight
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

thread_local! {
    /// Set on a worker thread while it closes the connections left at the drain deadline:
    /// every request record completed meanwhile on that thread was cut off by shutdown.
    static CUTTING_OFF: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is closing the connections left after the drain deadline.
pub(crate) fn cutting_off() -> bool {
    CUTTING_OFF.with(Cell::get)
}

pub(crate) fn set_cutting_off(on: bool) {
    CUTTING_OFF.with(|c| c.set(on));
}
