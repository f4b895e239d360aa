//! The audit writer: one task that seals records into the hash chain and stores them in
//! batches, off the request's hot path.
//!
//! Why nothing is ever dropped: a request reserves a place in the writer's bounded queue
//! *before* it is served ([`AuditSink::reserve`]). If no place frees up within the configured
//! wait, the request fails closed with 503 and is not served. Once a place is held, handing the
//! record over cannot fail and cannot block ([`AuditSlot::commit`] is synchronous), so even a
//! stream that ends because the client hung up records itself from a `Drop`. A store error is
//! retried with backoff until it succeeds; records wait in memory, they are never discarded.
//! On shutdown the queue closes once every request has finished, and the writer drains it.

use std::sync::Arc;
use std::time::Duration;

use clearance_config::AuditConfig;
use clearance_core::audit::{AuditRecord, ChainHead};
use clearance_store::Store;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Where requests hand their audit records.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditRecord>,
    max_wait: Duration,
}

/// No room in the audit queue within the allowed wait: the gateway must not serve.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "the audit log is not keeping up; the request was refused so that no decision goes unrecorded"
)]
pub struct AuditOverloaded;

/// A reserved place in the audit queue: its owner's record is guaranteed a place in the log.
pub struct AuditSlot(mpsc::OwnedPermit<AuditRecord>);

impl AuditSlot {
    /// Hands the record to the writer. Never blocks, never fails.
    pub fn commit(self, record: AuditRecord) {
        self.0.send(record);
    }
}

impl AuditSink {
    /// Waits (bounded) for room in the queue.
    pub async fn reserve(&self) -> Result<AuditSlot, AuditOverloaded> {
        match tokio::time::timeout(self.max_wait, self.tx.clone().reserve_owned()).await {
            Ok(Ok(permit)) => Ok(AuditSlot(permit)),
            // Closed only during shutdown, after the server stopped taking requests.
            Ok(Err(_)) | Err(_) => Err(AuditOverloaded),
        }
    }

    /// Records waiting for the writer, including reserved places.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Starts the writer; it continues the chain from `head` and stops once every [`AuditSink`]
/// clone is dropped and the queue is empty.
pub fn spawn_writer(
    store: Arc<dyn Store>,
    head: ChainHead,
    config: &AuditConfig,
    metrics: Arc<Metrics>,
) -> (AuditSink, tokio::task::JoinHandle<ChainHead>) {
    let (tx, rx) = mpsc::channel(config.queue_capacity);
    let sink = AuditSink {
        tx,
        max_wait: Duration::from_millis(config.max_wait_ms),
    };
    let batching = Batching {
        max: config.batch_max,
        linger: Duration::from_millis(config.linger_ms),
    };
    let handle = tokio::spawn(write_batches(rx, store, head, batching, metrics));
    (sink, handle)
}

#[derive(Debug, Clone, Copy)]
struct Batching {
    max: usize,
    linger: Duration,
}

async fn write_batches(
    mut rx: mpsc::Receiver<AuditRecord>,
    store: Arc<dyn Store>,
    mut head: ChainHead,
    batching: Batching,
    metrics: Arc<Metrics>,
) -> ChainHead {
    let mut records = Vec::with_capacity(batching.max);
    while rx.recv_many(&mut records, batching.max).await > 0 {
        if records.len() < batching.max && !batching.linger.is_zero() {
            // A partial batch waits briefly for company, so a moderate request rate does not
            // pay for one transaction per request. Responses do not wait for this.
            tokio::time::sleep(batching.linger).await;
            while records.len() < batching.max {
                match rx.try_recv() {
                    Ok(record) => records.push(record),
                    Err(_) => break,
                }
            }
        }
        let sealed: Vec<_> = records.drain(..).map(|r| head.seal(&r)).collect();
        store_with_retry(store.as_ref(), &sealed).await;
        metrics.audit_written.inc_by(sealed.len() as u64);
    }
    head
}

/// Retries until the store takes the batch: the chain is already sealed, so it must be stored
/// as it is, and a record must never be lost.
async fn store_with_retry(store: &dyn Store, sealed: &[clearance_core::audit::SealedRecord]) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match store.append_audit(sealed).await {
            Ok(()) => return,
            Err(error) => {
                tracing::error!(%error, records = sealed.len(), "audit batch not stored yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
