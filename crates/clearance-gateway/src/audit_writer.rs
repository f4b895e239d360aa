//! The audit writer: one task per gateway process that seals records into this process's own
//! log (a hash chain of its own in the shared trail) and stores them in batches.
//!
//! **No answer without a durable decision record.** A request reserves room in the writer's
//! bounded queue before anything else ([`AuditSink::reserve`]): two places, one for its
//! decision record and one for its completion record. The decision record is handed over with
//! [`AuditSlot::submit_durable`], which returns a [`Durable`] ticket; the request may call its
//! provider meanwhile, but it answers only once the ticket says the record's batch is
//! committed (SQLite `synchronous = FULL`, PostgreSQL synchronous commit). The writer commits
//! everything queued in one transaction (group commit): while one batch is being committed the
//! next one gathers, so under load many requests share one fsync.
//!
//! **Bounded waits.** A ticket not honoured within `audit.max_wait_ms` gives the client a 503;
//! the record stays queued and is stored when the store comes back. While a commit has been
//! running for longer than that, or the last one failed, the store counts as stalled:
//! `/readyz` says 503 at once and new requests are refused at once ([`AuditSink::stalled`]).
//!
//! **Nothing accepted is dropped.** Store errors are retried with backoff until they succeed;
//! sealed records wait in memory. On shutdown the queue drains and the writer appends the
//! closing record of its log, so `verify` can tell a log that was closed from one cut off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use clearance_config::AuditConfig;
use clearance_core::audit::{AuditRecord, ChainHead, LOG_CLOSE, SealedRecord};
use clearance_store::{InlineAudit, Store, StoreError};
use clearance_tlog::merkle::{Hash, leaf_hash};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::metrics::Metrics;

/// Where requests hand their audit records.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::UnboundedSender<Job>,
    room: Arc<Semaphore>,
    max_wait: Duration,
    health: Arc<StoreHealth>,
    writer: Arc<WriterIdentity>,
    /// Lends zero-place permits (see [`AuditSink::empty_permit`]).
    empty: Arc<Semaphore>,
    /// Requests that reserved places and have not handed a record over yet.
    deciding: Arc<DecidingCount>,
}

/// Which replica and log this process writes.
#[derive(Debug)]
pub struct WriterIdentity {
    pub replica: String,
    pub log_id: String,
}

struct Job {
    record: AuditRecord,
    /// Held until the record is stored: the queue's bound counts records not yet durable.
    _place: Option<OwnedSemaphorePermit>,
    durable: Option<oneshot::Sender<Placement>>,
}

/// Where a durable record sits in this process's log: its leaf in the log's Merkle tree. The
/// answer carries it (`x-clearance-receipt`), so a caller can later ask for the receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The leaf index (the record's sequence number minus one).
    pub index: u64,
    /// `SHA-256(0x00 || record)`, the record's leaf hash.
    pub leaf: Hash,
}

/// How far this process's log is durable: what the checkpointer signs.
#[derive(Debug, Default)]
pub struct DurableSize {
    records: AtomicU64,
    /// Woken when enough records wait for a checkpoint, and when the log is closed.
    pub wake: tokio::sync::Notify,
    closed: AtomicBool,
}

impl DurableSize {
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Acquire)
    }

    /// Whether the log's closing record is durable (the writer has stopped).
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// No room in the audit queue within the allowed wait, or the store is stalled: the gateway
/// must not serve.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum AuditUnavailable {
    #[error(
        "the audit log is not keeping up; the request was refused so that no decision goes unrecorded"
    )]
    Overloaded,
    #[error(
        "the audit store cannot commit records right now; the request was refused so that no answer leaves unrecorded"
    )]
    StoreStalled,
}

impl AuditUnavailable {
    pub fn code(self) -> &'static str {
        match self {
            AuditUnavailable::Overloaded => "audit_overloaded",
            AuditUnavailable::StoreStalled => "store_unavailable",
        }
    }
}

/// Places reserved in the audit queue for one request's records.
pub struct AuditSlot {
    sink: AuditSink,
    places: OwnedSemaphorePermit,
    /// Counts this request as about to hand its first record over, until it does.
    deciding: Option<Deciding>,
}

/// One request that has reserved its places but not handed its first record over yet: in
/// the gateway that is the few microseconds of authentication and policy before its decision
/// record, so the writer may wait for it to join the batch (see [`gather_deciding`]).
struct Deciding(Arc<DecidingCount>);

/// How many requests are deciding; the last one to hand its record over wakes the writer if it
/// waits (one wake-up for the whole batch, not one per record).
#[derive(Debug, Default)]
struct DecidingCount {
    count: AtomicUsize,
    settled: tokio::sync::Notify,
}

impl Deciding {
    fn new(count: &Arc<DecidingCount>) -> Deciding {
        count.count.fetch_add(1, Ordering::AcqRel);
        Deciding(Arc::clone(count))
    }
}

impl Drop for Deciding {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.settled.notify_one();
        }
    }
}

/// Resolves once a record handed over with [`AuditSlot::submit_durable`] is committed.
pub struct Durable(oneshot::Receiver<Placement>);

impl Durable {
    /// Waits, at most `max_wait`, for the record to be durable.
    pub async fn wait(self, max_wait: Duration) -> Result<Placement, AuditUnavailable> {
        match tokio::time::timeout(max_wait, self.0).await {
            Ok(Ok(placement)) => Ok(placement),
            Ok(Err(_)) | Err(_) => Err(AuditUnavailable::StoreStalled),
        }
    }
}

impl AuditSlot {
    /// One of the reserved places. A request hands over at most two records (a whole record,
    /// or a decision and its completion), so a place is always there; were a third record ever
    /// handed over, it goes unbounded rather than lost.
    fn take_place(&mut self) -> Option<OwnedSemaphorePermit> {
        if self.places.num_permits() > 1 {
            self.places.split(1)
        } else {
            Some(std::mem::replace(
                &mut self.places,
                self.sink.empty_permit(),
            ))
        }
    }

    /// Hands a record over that the request's answer must wait for; never blocks.
    pub fn submit_durable(&mut self, record: AuditRecord) -> Durable {
        let (done, ticket) = oneshot::channel();
        let place = self.take_place();
        self.sink.send(record, place, Some(done));
        self.deciding = None;
        Durable(ticket)
    }

    /// Hands the request's last record over. Never blocks, never fails.
    pub fn commit(mut self, record: AuditRecord) {
        let place = self.take_place();
        self.sink.send(record, place, None);
        self.deciding = None;
    }

    /// The log this process writes.
    pub fn log_id(&self) -> &str {
        &self.sink.writer.log_id
    }

    /// The longest a request waits for its record to be durable.
    pub fn max_wait(&self) -> Duration {
        self.sink.max_wait
    }
}

impl AuditSink {
    /// Waits (bounded) for room in the queue for one request's records. Refuses at once while
    /// the store is stalled: waiting would only pile up requests that cannot be answered.
    pub async fn reserve(&self) -> Result<AuditSlot, AuditUnavailable> {
        if self.stalled() {
            return Err(AuditUnavailable::StoreStalled);
        }
        let room = Arc::clone(&self.room);
        match tokio::time::timeout(self.max_wait, room.acquire_many_owned(2)).await {
            Ok(Ok(places)) => Ok(AuditSlot {
                sink: self.clone(),
                places,
                deciding: Some(Deciding::new(&self.deciding)),
            }),
            // Closed only during shutdown, after the server stopped taking requests.
            Ok(Err(_)) | Err(_) => Err(AuditUnavailable::Overloaded),
        }
    }

    /// Records a request refused before it reserved places (the queue was full or the store
    /// stalled), if there is room right now: stored when the store can take it. Without room
    /// the refusal is only counted in the metrics: a full queue cannot grow.
    pub fn try_commit(&self, record: AuditRecord) -> bool {
        match Arc::clone(&self.room).try_acquire_owned() {
            Ok(place) => {
                self.send(record, Some(place), None);
                true
            }
            Err(_) => false,
        }
    }

    /// A permit for no place (what a slot holds once both its places are handed over).
    fn empty_permit(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.empty)
            .try_acquire_many_owned(0)
            .expect("zero permits are always available")
    }

    fn send(
        &self,
        record: AuditRecord,
        place: Option<OwnedSemaphorePermit>,
        durable: Option<oneshot::Sender<Placement>>,
    ) {
        let mut record = record;
        record.replica = Some(self.writer.replica.clone());
        // The writer only stops once every sink is gone, so a send cannot fail while one
        // exists; were it ever to, the durable ticket's sender is dropped and the request
        // answers 503 rather than unrecorded.
        let _ = self.tx.send(Job {
            record,
            _place: place,
            durable,
        });
    }

    /// Records waiting for the writer, counting places reserved by requests in flight.
    pub fn queued(&self) -> usize {
        self.health
            .capacity
            .saturating_sub(self.room.available_permits())
    }

    /// Whether the store has failed to commit, or has been committing for longer than a
    /// request may wait.
    pub fn stalled(&self) -> bool {
        self.health.stalled(self.max_wait)
    }

    pub fn writer(&self) -> &WriterIdentity {
        &self.writer
    }
}

/// What the writer tells the request path about the store.
#[derive(Debug)]
struct StoreHealth {
    /// When the commit in progress started (Unix ms), 0 when none is.
    committing_since_ms: AtomicI64,
    last_commit_failed: AtomicBool,
    capacity: usize,
}

impl StoreHealth {
    fn stalled(&self, max_wait: Duration) -> bool {
        if self.last_commit_failed.load(Ordering::Acquire) {
            return true;
        }
        let since = self.committing_since_ms.load(Ordering::Acquire);
        since != 0 && Utc::now().timestamp_millis() - since > max_wait.as_millis() as i64
    }
}

/// A running writer: its sink and the task that ends (returning the log's last head) once
/// every sink is dropped and the queue is drained.
pub struct Writer {
    pub sink: AuditSink,
    /// How far the log is durable, for the checkpointer.
    pub durable: Arc<DurableSize>,
    pub task: tokio::task::JoinHandle<ChainHead>,
}

/// Opens a new log for `replica` in the store (with its opening record, durable before this
/// returns) and starts the writer on it.
pub async fn start_writer(
    store: Arc<dyn Store>,
    replica: &str,
    config: &AuditConfig,
    metrics: Arc<Metrics>,
) -> Result<Writer, StoreError> {
    let log_id = uuid::Uuid::now_v7().to_string();
    let mut head = clearance_store::open_log(store.as_ref(), &log_id, replica, Utc::now()).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let health = Arc::new(StoreHealth {
        committing_since_ms: AtomicI64::new(0),
        last_commit_failed: AtomicBool::new(false),
        capacity: config.queue_capacity.max(2),
    });
    let writer = Arc::new(WriterIdentity {
        replica: replica.to_string(),
        log_id,
    });
    tracing::info!(replica, log_id = %writer.log_id, "audit log opened");
    let sink = AuditSink {
        tx,
        room: Arc::new(Semaphore::new(config.queue_capacity.max(2))),
        max_wait: Duration::from_millis(config.max_wait_ms),
        health: Arc::clone(&health),
        writer: Arc::clone(&writer),
        empty: Arc::new(Semaphore::new(0)),
        deciding: Arc::default(),
    };
    let batching = Batching {
        max: config.batch_max,
        linger: Duration::from_millis(config.linger_ms),
        deciding: Arc::clone(&sink.deciding),
    };
    let durable = Arc::new(DurableSize::default());
    durable.records.store(head.seq, Ordering::Release);
    let checkpoint_every = config.log.checkpoint_every_records.max(1);
    let published = Arc::clone(&durable);
    let inline = store.inline_audit();
    let on_own_thread = inline.is_some();
    let writing = async move {
        let mut run = Run {
            store,
            inline,
            head: &mut head,
            health,
            writer,
            metrics,
            durable: published,
            checkpoint_every,
        };
        run.write_batches(rx, batching).await;
        run.close().await;
        head
    };
    let task = if on_own_thread {
        own_thread(writing)?
    } else {
        tokio::spawn(writing)
    };
    Ok(Writer {
        sink,
        durable,
        task,
    })
}

/// Runs the writer on a thread of its own (a blocking-pool thread it keeps for its lifetime,
/// with a single-threaded runtime for its timers), where a store with inline appends (SQLite)
/// commits each batch right away: a request's decision record then costs two thread
/// wake-ups (request to writer, writer to request) instead of four.
fn own_thread(
    writing: impl Future<Output = ChainHead> + Send + 'static,
) -> Result<tokio::task::JoinHandle<ChainHead>, StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| StoreError::Worker(format!("starting the audit writer's thread: {e}")))?;
    Ok(tokio::task::spawn_blocking(move || {
        runtime.block_on(writing)
    }))
}

#[derive(Debug, Clone)]
struct Batching {
    max: usize,
    linger: Duration,
    /// See [`Deciding`].
    deciding: Arc<DecidingCount>,
}

/// The longest the writer waits for records of requests still deciding. Bounded so that a
/// request held up between reserving and deciding (an identity provider's key fetch, a slow
/// store read) delays the others' commit by at most this.
const DECIDING_WAIT: Duration = Duration::from_millis(1);

struct Run<'h> {
    store: Arc<dyn Store>,
    /// The store's inline appends, when it has them (this writer then has a thread of its own).
    inline: Option<Arc<dyn InlineAudit>>,
    head: &'h mut ChainHead,
    health: Arc<StoreHealth>,
    writer: Arc<WriterIdentity>,
    metrics: Arc<Metrics>,
    durable: Arc<DurableSize>,
    checkpoint_every: u64,
}

/// Adds to the batch the records of requests that are deciding right now (reserved, about to
/// hand their first record over), waiting for them at most [`DECIDING_WAIT`]. Under load many
/// requests are a few microseconds from their decision when a commit starts, and one commit
/// for all of them costs far less than one each; when nothing else is in flight (a quiet
/// gateway), nothing is waited for and the batch commits at once.
async fn gather_deciding(
    rx: &mut mpsc::UnboundedReceiver<Job>,
    jobs: &mut Vec<Job>,
    batching: &Batching,
) {
    let deadline = tokio::time::Instant::now() + DECIDING_WAIT;
    let deciding = &batching.deciding;
    // Not woken by each record (the writer is not waiting on the queue meanwhile): by the
    // last request to decide, or by the deadline.
    while deciding.count.load(Ordering::Acquire) > 0 {
        if tokio::time::timeout_at(deadline, deciding.settled.notified())
            .await
            .is_err()
        {
            break;
        }
    }
    while jobs.len() < batching.max {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

impl Run<'_> {
    async fn write_batches(&mut self, mut rx: mpsc::UnboundedReceiver<Job>, batching: Batching) {
        let mut jobs = Vec::with_capacity(batching.max);
        while rx.recv_many(&mut jobs, batching.max).await > 0 {
            gather_deciding(&mut rx, &mut jobs, &batching).await;
            if jobs.len() < batching.max && !batching.linger.is_zero() {
                // Optional: wait for company. Off by default: requests wait for their commit,
                // and batches form by themselves while the previous commit runs.
                tokio::time::sleep(batching.linger).await;
                while jobs.len() < batching.max {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
            }
            let sealed: Vec<SealedRecord> =
                jobs.iter().map(|job| self.head.seal(&job.record)).collect();
            let committing = std::time::Instant::now();
            self.store_with_retry(&sealed).await;
            self.metrics
                .audit_commit_seconds
                .observe(committing.elapsed().as_secs_f64());
            self.metrics
                .audit_batch_records
                .observe(sealed.len() as f64);
            self.metrics.audit_written.inc_by(sealed.len() as u64);
            self.publish(self.head.seq);
            for (job, record) in jobs.drain(..).zip(&sealed) {
                if let Some(done) = job.durable {
                    let _ = done.send(Placement {
                        index: record.seq - 1,
                        leaf: leaf_hash(record.record_json.as_bytes()),
                    });
                }
            }
        }
    }

    /// Tells the checkpointer how far the log is durable; wakes it once a checkpoint's worth
    /// of records is waiting.
    fn publish(&self, size: u64) {
        let before = self.durable.records.swap(size, Ordering::AcqRel);
        if before / self.checkpoint_every != size / self.checkpoint_every {
            self.durable.wake.notify_one();
        }
    }

    /// Retries until the store takes the batch: the chain is already sealed, so it must be
    /// stored as it is, and a record must never be lost.
    async fn store_with_retry(&self, sealed: &[SealedRecord]) {
        let mut backoff = Duration::from_millis(10);
        loop {
            self.health
                .committing_since_ms
                .store(Utc::now().timestamp_millis(), Ordering::Release);
            let stored = match &self.inline {
                Some(inline) => inline.append(&self.writer.log_id, sealed),
                None => self.store.append_audit(&self.writer.log_id, sealed).await,
            };
            self.health.committing_since_ms.store(0, Ordering::Release);
            match stored {
                Ok(()) => {
                    self.health
                        .last_commit_failed
                        .store(false, Ordering::Release);
                    return;
                }
                Err(_) if self.already_stored(sealed).await => {
                    // The commit went through but its answer was lost (a connection killed
                    // right after it): the batch is there, exactly as sealed.
                    self.health
                        .last_commit_failed
                        .store(false, Ordering::Release);
                    return;
                }
                Err(error) => {
                    self.health
                        .last_commit_failed
                        .store(true, Ordering::Release);
                    tracing::error!(%error, records = sealed.len(), "audit batch not stored yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Whether the batch's last record is stored in this log with the hash it was sealed with.
    async fn already_stored(&self, sealed: &[SealedRecord]) -> bool {
        let Some(last) = sealed.last() else {
            return true;
        };
        match self
            .store
            .audit_page(&self.writer.log_id, last.seq - 1, 1)
            .await
        {
            Ok(page) => page
                .first()
                .is_some_and(|r| r.seq == last.seq && r.hash == last.hash),
            Err(_) => false,
        }
    }

    /// Appends the log's closing record and marks the log closed.
    async fn close(&mut self) {
        let closing =
            clearance_store::log_record(LOG_CLOSE, &self.writer.log_id, &self.writer.replica);
        let sealed = self.head.seal(&closing);
        self.store_with_retry(std::slice::from_ref(&sealed)).await;
        self.publish(self.head.seq);
        self.durable.closed.store(true, Ordering::Release);
        self.durable.wake.notify_one();
        if let Err(error) = self.store.close_log(&self.writer.log_id, Utc::now()).await {
            tracing::error!(%error, "the audit log's closing record is stored, but the log could not be marked closed");
        }
        tracing::info!(log_id = %self.writer.log_id, last_seq = self.head.seq, "audit log closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clearance_core::api::ApiSurface;

    fn job(id: &str) -> Job {
        Job {
            record: AuditRecord::new_request(id.to_string(), Utc::now(), ApiSurface::OpenaiChat),
            _place: None,
            durable: None,
        }
    }

    fn batching(deciding: &Arc<DecidingCount>) -> Batching {
        Batching {
            max: 8,
            linger: Duration::ZERO,
            deciding: Arc::clone(deciding),
        }
    }

    #[tokio::test]
    async fn a_quiet_gateway_commits_at_once() {
        let deciding = Arc::<DecidingCount>::default();
        let (_tx, mut rx) = mpsc::unbounded_channel();
        let mut jobs = vec![job("a")];
        let started = std::time::Instant::now();
        gather_deciding(&mut rx, &mut jobs, &batching(&deciding)).await;
        assert_eq!(jobs.len(), 1);
        assert!(
            started.elapsed() < DECIDING_WAIT,
            "waited with nobody deciding"
        );
    }

    #[tokio::test]
    async fn a_deciding_request_joins_the_batch() {
        let deciding = Arc::<DecidingCount>::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let guard = Deciding::new(&deciding);
        let late = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(job("b")).ok();
            drop(guard);
            tx
        });
        let mut jobs = vec![job("a")];
        gather_deciding(&mut rx, &mut jobs, &batching(&deciding)).await;
        let ids: Vec<&str> = jobs.iter().map(|j| j.record.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(deciding.count.load(Ordering::Acquire), 0);
        drop(late.await);
    }

    #[tokio::test]
    async fn a_request_that_never_decides_delays_the_batch_boundedly() {
        let deciding = Arc::<DecidingCount>::default();
        let _stuck = Deciding::new(&deciding);
        let (_tx, mut rx) = mpsc::unbounded_channel();
        let mut jobs = vec![job("a")];
        tokio::time::timeout(
            Duration::from_secs(5),
            gather_deciding(&mut rx, &mut jobs, &batching(&deciding)),
        )
        .await
        .expect("the wait is bounded");
        assert_eq!(jobs.len(), 1);
    }
}
