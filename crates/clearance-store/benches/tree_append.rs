//! What the Merkle tree adds to an audit append on SQLite, per record, batches of 1 and 64.
//!
//! - **tree**: `Store::append_audit` as the product runs it: the records, the log head, the
//!   tree's right edge read and the nodes the batch completes, one transaction, fsynced.
//! - **no tree**: the same records in an identical `audit` table (a second store file made by
//!   the same migrations), written with the previous release's `append_audit` body
//!   (commit `e366d22^`) on a raw rusqlite connection with the store's pragmas (WAL,
//!   `synchronous = FULL`): the same INSERT (query columns by `json_extract`) and the same head
//!   UPDATE, in one IMMEDIATE transaction run on tokio's blocking pool, but no tree. The
//!   product has no switch to turn the tree off; this is the code it had before the tree.
//!
//! Both stores live in one temp dir on the same disk. Criterion measures each on its own;
//! then an interleaved pass (tree, no tree, no tree, tree, ...) times both in the same
//! seconds and prints per-record medians and their ratio.
//!
//! `cargo bench -p clearance-store --bench tree_append`
//! (`TREE_APPEND_ROUNDS`, default 400: batches of each kind in the interleaved pass.)
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a bench reads its knobs from the environment"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, ChainHead, Decision, SealedRecord};
use clearance_store::{SqliteStore, Store};
use criterion::{Criterion, Throughput};
use rusqlite::{Connection, params};
use tokio::runtime::Runtime;

const LOG: &str = "bench";
const BATCHES: [usize; 2] = [1, 64];

/// A decision record like the gateway's (about 450 bytes of JSON).
fn record(n: u64) -> AuditRecord {
    let mut r = AuditRecord::new_request(
        format!("0199a1b2-c3d4-7e5f-8a9b-{n:012x}"),
        Utc::now(),
        ApiSurface::OpenaiChat,
    );
    r.key_id = Some("0011223344556677".into());
    r.principal_id = Some(format!("user-{}", n % 500));
    r.requested_model = Some("mythos-5".into());
    r.served_model = Some("mythos-5".into());
    r.decision = Decision::Allow;
    r.policy_version = Some("9f2c4e1a".into());
    r.replica = Some("replica-1".into());
    r
}

/// A log and the head to seal its next records from.
struct Writer {
    head: ChainHead,
    n: u64,
}

impl Writer {
    fn batch(&mut self, size: usize) -> Vec<SealedRecord> {
        (0..size)
            .map(|_| {
                self.n += 1;
                self.head.seal(&record(self.n))
            })
            .collect()
    }
}

/// The previous release's append, without the tree (see the file's doc).
async fn append_without_tree(conn: &Arc<Mutex<Connection>>, batch: Vec<SealedRecord>) {
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        let mut conn = conn.lock().unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit (log_id, seq, id, prev_hash, hash, record, time, principal_id, requested_model, facts, phase)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, json_extract(?6, '$.time'), json_extract(?6, '$.principal_id'),
                             json_extract(?6, '$.requested_model'), json_extract(?6, '$.facts'), json_extract(?6, '$.phase'))",
                )
                .unwrap();
            for r in &batch {
                insert
                    .execute(params![LOG, r.seq as i64, r.id, r.prev_hash.to_hex(), r.hash.to_hex(), r.record_json])
                    .unwrap();
            }
        }
        let (first, last) = (batch.first().unwrap(), batch.last().unwrap());
        let updated = tx
            .execute(
                "UPDATE audit_logs SET head_seq = ?2, head_hash = ?3
                 WHERE log_id = ?1 AND head_seq = ?4 AND head_hash = ?5 AND closed_at IS NULL",
                params![LOG, last.seq as i64, last.hash.to_hex(), first.seq as i64 - 1, first.prev_hash.to_hex()],
            )
            .unwrap();
        assert_eq!(updated, 1);
        tx.commit().unwrap();
    })
    .await
    .unwrap();
}

struct Bench {
    rt: Runtime,
    _dir: tempfile::TempDir,
    tree: SqliteStore,
    tree_writer: Writer,
    plain: Arc<Mutex<Connection>>,
    plain_writer: Writer,
}

fn setup() -> Bench {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (tree, plain_path) = rt.block_on(async {
        let tree = SqliteStore::open(&dir.path().join("tree.sqlite")).unwrap();
        tree.open_log(LOG, "replica-1", Utc::now()).await.unwrap();
        // The baseline's file: the same schema, made by the same migrations.
        let path = dir.path().join("plain.sqlite");
        let plain = SqliteStore::open(&path).unwrap();
        plain.open_log(LOG, "replica-1", Utc::now()).await.unwrap();
        (tree, path)
    });
    let conn = Connection::open(&plain_path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    Bench {
        rt,
        _dir: dir,
        tree,
        tree_writer: Writer {
            head: ChainHead::EMPTY,
            n: 0,
        },
        plain: Arc::new(Mutex::new(conn)),
        plain_writer: Writer {
            head: ChainHead::EMPTY,
            n: 0,
        },
    }
}

impl Bench {
    fn time_tree(&mut self, size: usize) -> Duration {
        let batch = self.tree_writer.batch(size);
        let t = Instant::now();
        self.rt
            .block_on(self.tree.append_audit(LOG, &batch))
            .unwrap();
        t.elapsed()
    }

    fn time_plain(&mut self, size: usize) -> Duration {
        let batch = self.plain_writer.batch(size);
        let t = Instant::now();
        self.rt.block_on(append_without_tree(&self.plain, batch));
        t.elapsed()
    }
}

fn criterion_benches(c: &mut Criterion, bench: &mut Bench) {
    for size in BATCHES {
        let mut group = c.benchmark_group(format!("append_batch_{size}"));
        group.throughput(Throughput::Elements(size as u64));
        group.sample_size(30);
        group.bench_function("tree (append_audit)", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| bench.time_tree(size)).sum())
        });
        group.bench_function("no tree (previous append, raw rusqlite)", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| bench.time_plain(size)).sum())
        });
        group.finish();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn interleaved(bench: &mut Bench, rounds: usize) {
    println!("\nInterleaved, same run ({rounds} batches of each kind per size; medians):");
    println!(
        "{:>6} {:>18} {:>18} {:>8}   {:>14} {:>14}",
        "batch",
        "tree µs/record",
        "no tree µs/record",
        "ratio",
        "tree p99 µs/b",
        "no tree p99 µs/b"
    );
    for size in BATCHES {
        let (mut tree, mut plain) = (Vec::new(), Vec::new());
        for i in 0..rounds {
            if i % 2 == 0 {
                tree.push(bench.time_tree(size));
                plain.push(bench.time_plain(size));
            } else {
                plain.push(bench.time_plain(size));
                tree.push(bench.time_tree(size));
            }
        }
        let p99 = |v: &Vec<Duration>| {
            let mut v = v.clone();
            v.sort();
            v[(v.len() * 99) / 100].as_secs_f64() * 1e6
        };
        let (tp99, pp99) = (p99(&tree), p99(&plain));
        let t = median(tree).as_secs_f64() * 1e6 / size as f64;
        let p = median(plain).as_secs_f64() * 1e6 / size as f64;
        println!(
            "{size:>6} {t:>18.1} {p:>18.1} {:>7.2}x   {tp99:>14.0} {pp99:>14.0}",
            t / p
        );
    }
    println!(
        "(log sizes at the end: tree {} records, no tree {} records)",
        bench.tree_writer.n, bench.plain_writer.n
    );
}

fn main() {
    let rounds = std::env::var("TREE_APPEND_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut bench = setup();
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &mut bench);
    c.final_summary();
    interleaved(&mut bench, rounds);
}
