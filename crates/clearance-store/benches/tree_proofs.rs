//! Proof generation from the stored Merkle tree at scale: one SQLite log of 10,000,000 small
//! records (appended through `Store::append_audit` in batches of 10,000, so the tree is the
//! one the store writes), then `inclusion_proof` for random indices and `consistency_proof`
//! for random older sizes against the full tree, each timed alone; prints p50 / p99 / max.
//!
//! `cargo bench -p clearance-store --bench tree_proofs` (a plain binary: `harness = false`).
//! The store is built once and kept in `target/bench-data/` (several GB; delete it to rebuild);
//! a rerun goes straight to the proofs. Knobs: `TREE_PROOFS_RECORDS` (10,000,000),
//! `TREE_PROOFS_SAMPLES` (10,000 proofs of each kind), `TREE_PROOFS_DB` (the file).
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a bench reads its knobs from the environment"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AuditRecord, ChainHead, SealedRecord};
use clearance_store::verifiable::{consistency_proof, inclusion_proof};
use clearance_store::{SqliteStore, Store};

const LOG: &str = "bench-10m";
const BATCH: u64 = 10_000;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A small record (about 330 bytes of JSON).
fn record(n: u64) -> AuditRecord {
    let mut r = AuditRecord::new_request(format!("r{n:015x}"), Utc::now(), ApiSurface::OpenaiChat);
    r.principal_id = Some(format!("user-{}", n % 1000));
    r.requested_model = Some("bench-model".into());
    r
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn report(what: &str, mut times: Vec<Duration>, hashes: usize) {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{what:<40} n={:>6}  p50 {:>7.1} µs  p99 {:>7.1} µs  max {:>8.1} µs  (avg {:.1} hashes per proof)",
        times.len(),
        us(pct(&times, 50.0)),
        us(pct(&times, 99.0)),
        us(*times.last().unwrap()),
        hashes as f64 / times.len() as f64,
    );
}

async fn build(store: &SqliteStore, records: u64) {
    let started = Instant::now();
    store.open_log(LOG, "bench", Utc::now()).await.unwrap();
    let mut head = ChainHead::EMPTY;
    let mut n = 0u64;
    let mut appending = Duration::ZERO;
    let mut last_report = Instant::now();
    while n < records {
        let take = BATCH.min(records - n);
        let batch: Vec<SealedRecord> = (n..n + take).map(|i| head.seal(&record(i))).collect();
        let t = Instant::now();
        store.append_audit(LOG, &batch).await.unwrap();
        appending += t.elapsed();
        n += take;
        if n.is_multiple_of(1_000_000) || n == records {
            println!(
                "  built {n:>10} records, {:.0} s so far ({:.1} s since the last line; append_audit {:.1} µs/record overall)",
                started.elapsed().as_secs_f64(),
                last_report.elapsed().as_secs_f64(),
                appending.as_secs_f64() * 1e6 / n as f64,
            );
            last_report = Instant::now();
        }
    }
    println!(
        "built {records} records in {:.0} s ({:.0} s in append_audit, the rest sealing)",
        started.elapsed().as_secs_f64(),
        appending.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let records = knob("TREE_PROOFS_RECORDS", 10_000_000);
    let samples = knob("TREE_PROOFS_SAMPLES", 10_000) as usize;
    let path = std::env::var("TREE_PROOFS_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/bench-data")
                .join(format!("tree_proofs-{records}.sqlite"))
        });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let done = path.with_extension("done");
    if !done.exists() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        println!(
            "tree_proofs: building {} ({records} records, batches of {BATCH})",
            path.display()
        );
        let store = SqliteStore::open(&path).unwrap();
        build(&store, records).await;
        drop(store);
        std::fs::write(&done, format!("{records}\n")).unwrap();
    } else {
        println!(
            "tree_proofs: reusing {} (delete it and {} to rebuild)",
            path.display(),
            done.display()
        );
    }
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    println!("store file: {:.2} GB", bytes as f64 / 1e9);

    let store = SqliteStore::open(&path).unwrap();
    let store: &dyn Store = &store;
    let size = store
        .audit_logs()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.log_id == LOG)
        .unwrap()
        .recorded_head
        .seq;
    assert_eq!(size, records);
    // Warm the page cache the way a running gateway's would be: a few hundred proofs first.
    for _ in 0..500 {
        inclusion_proof(store, LOG, rand::random::<u64>() % size, size)
            .await
            .unwrap();
    }
    for round in 1..=3 {
        let mut times = Vec::with_capacity(samples);
        let mut hashes = 0;
        for _ in 0..samples {
            let index = rand::random::<u64>() % size;
            let t = Instant::now();
            let proof = inclusion_proof(store, LOG, index, size).await.unwrap();
            times.push(t.elapsed());
            hashes += proof.len();
        }
        report(
            &format!("round {round}: inclusion, tree of {size}"),
            times,
            hashes,
        );
        let mut times = Vec::with_capacity(samples);
        let mut hashes = 0;
        for _ in 0..samples {
            let from = 1 + rand::random::<u64>() % (size - 1);
            let t = Instant::now();
            let proof = consistency_proof(store, LOG, from, size).await.unwrap();
            times.push(t.elapsed());
            hashes += proof.len();
        }
        report(
            &format!("round {round}: consistency, random m → {size}"),
            times,
            hashes,
        );
    }
}
