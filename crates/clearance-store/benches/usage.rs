//! `Store::audit_usage` over 1,000,000 audit records on SQLite (target: well under 3 s), what
//! `clearance deps` reads.
//!
//! The store is filled the way a gateway fills it, through `Store::append_audit` in batches of
//! 10,000 after `clearance_store::open_log` (as `tree_proofs` and the CLI's `preview` bench
//! do): requests spread over the 30 days before now, each a decision record with the facts
//! its decision read (about 800 bytes of JSON) and a completion record (tokens, and for one
//! in twenty a failed attempt and a fallback), one in ten refused whole before any provider
//! call, and an operator's action in place of every 5,000th request (left out by
//! `audit_usage`, as the log's opening record is). Then criterion times `audit_usage`
//! over all of them and over the last 7 days, and a plain pass prints the median of five.
//!
//! `cargo bench -p clearance-store --bench usage`. `USAGE_RECORDS` sets the count (default
//! 1,000,000 under `cargo bench`, 2,000 otherwise, so `cargo test --benches` stays quick). The
//! store is kept in `target/bench-data/` and reused by the next run with the same count
//! (delete it to rebuild).
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a bench reads its knobs from the environment"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{
    AdminAction, Attempt, AttemptOutcome, AuditRecord, Decision, Phase, SealedRecord,
};
use clearance_core::facts::{Facts, RequestFacts};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_store::{SqliteStore, Store};
use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

const LOG: &str = "bench-usage";
const BATCH: usize = 10_000;
const MODELS: [&str; 4] = ["mythos-5", "fable-5", "gpt-5", "open-model"];

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn facts(n: usize) -> Facts {
    let principal = parse_principals(
        &format!("id,citizenships,permanent_residency,org\nuser-{n},FR;DE,US,acme-labs\n"),
        ImportFormat::Csv,
    )
    .unwrap()
    .remove(0);
    Facts {
        principal: (&principal).into(),
        request: RequestFacts {
            country: Some("DE".parse().unwrap()),
            capabilities: Default::default(),
            api: ApiSurface::OpenaiChat,
            max_tokens: Some(1024),
            app: Some("ide".into()),
        },
    }
}

/// The records of request `n` at `time`: a decision and its completion, or one whole record
/// for a refusal.
fn request(n: usize, time: DateTime<Utc>, facts: &[Facts]) -> Vec<AuditRecord> {
    let model = MODELS[n % MODELS.len()];
    let mut r = AuditRecord::new_request(
        format!("0199a1b2-c3d4-7e5f-8a9b-{n:012x}"),
        time,
        ApiSurface::OpenaiChat,
    );
    r.key_id = Some(format!("{:016x}", n % 2_000));
    r.replica = Some("replica-1".into());
    if n % 10 == 9 {
        r.status = 401;
        r.error_class = Some("unauthenticated".into());
        return vec![r];
    }
    r.principal_id = Some(format!("user-{}", n % 500));
    r.requested_model = Some(model.into());
    r.decision = Decision::Allow;
    r.policy_version = Some("9f2c4e1a".into());
    r.facts = Some(facts[n % facts.len()].clone());
    r.stream = true;
    r.phase = Phase::Decision;
    let mut done = r.clone().into_completion();
    done.time = time + chrono::Duration::milliseconds(900);
    done.status = 200;
    done.upstream_status = Some(200);
    done.duration_us = 900_000;
    done.overhead_us = 180;
    done.input_tokens = Some(200 + (n % 3_000) as u64);
    done.output_tokens = Some(50 + (n % 1_000) as u64);
    if n % 20 == 3 {
        done.decision = Decision::Fallback;
        done.served_model = Some("gpt-5".into());
        done.attempts = vec![
            Attempt {
                model: model.into(),
                outcome: AttemptOutcome::Timeout,
                ms: 30_000,
                status: None,
            },
            Attempt {
                model: "gpt-5".into(),
                outcome: AttemptOutcome::Served,
                ms: 870,
                status: Some(200),
            },
        ];
    } else {
        done.served_model = Some(model.into());
    }
    vec![r, done]
}

fn admin(n: usize, time: DateTime<Utc>) -> AuditRecord {
    AuditRecord::admin(
        format!("admin-{n}"),
        time,
        AdminAction {
            action: "model_disable".into(),
            target: "mythos-5".into(),
            reason: Some("bench".into()),
            actor: "admin-api".into(),
            details: None,
        },
        200,
    )
}

/// Fills a fresh store with `records` records over the 30 days before `now`.
async fn generate(path: &Path, records: usize, now: DateTime<Utc>) {
    let started = Instant::now();
    let store = SqliteStore::open(path).unwrap();
    let span = chrono::Duration::days(30);
    let mut head = clearance_store::open_log(&store, LOG, "bench", now - span)
        .await
        .unwrap();
    let facts: Vec<Facts> = (0..50).map(facts).collect();
    let sizes: Vec<usize> = request(0, now, &facts)
        .iter()
        .map(|r| serde_json::to_string(r).unwrap().len())
        .collect();
    println!(
        "a decision record is {} bytes of JSON, its completion {}",
        sizes[0], sizes[1]
    );
    // The opening record is the first.
    let (mut written, mut n) = (1, 0);
    let mut batch: Vec<SealedRecord> = Vec::with_capacity(BATCH + 2);
    while written < records {
        let time = now - span + span * i32::try_from(written).unwrap() / records as i32;
        let mut next = if n % 5_000 == 4_999 {
            vec![admin(n, time)]
        } else {
            request(n, time, &facts)
        };
        next.truncate(records - written);
        written += next.len();
        n += 1;
        batch.extend(next.iter().map(|r| head.seal(r)));
        if batch.len() >= BATCH || written == records {
            store.append_audit(LOG, &batch).await.unwrap();
            batch.clear();
        }
    }
    println!(
        "generated {records} records ({n} requests and actions) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let records = knob("USAGE_RECORDS", if benching { 1_000_000 } else { 2_000 });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("usage-{records}.sqlite"));
    let done = path.with_extension("done");
    let rt = Runtime::new().unwrap();
    if !done.exists() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        rt.block_on(generate(&path, records, Utc::now()));
        std::fs::write(&done, format!("{records}\n")).unwrap();
    } else {
        println!(
            "reusing {} (delete it and {} to rebuild)",
            path.display(),
            done.display()
        );
    }
    let store = SqliteStore::open(&path).unwrap();
    // Every record (the log was opened 30 days before the newest), and the last 7 days.
    let everything = DateTime::<Utc>::MIN_UTC;
    let newest = rt.block_on(store.audit_usage(everything)).unwrap();
    let last = newest.last().unwrap().time;
    let week = last - chrono::Duration::days(7);
    let rows = newest.len();
    let week_rows = rt.block_on(store.audit_usage(week)).unwrap().len();
    drop(newest);
    println!("{records} records: {rows} usage rows in all, {week_rows} in the last 7 days");

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    let mut group = c.benchmark_group("audit_usage");
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function(format!("all {records} records"), |b| {
        b.iter(|| rt.block_on(store.audit_usage(everything)).unwrap().len())
    });
    group.throughput(Throughput::Elements(week_rows as u64));
    group.bench_function("last 7 days", |b| {
        b.iter(|| rt.block_on(store.audit_usage(week)).unwrap().len())
    });
    group.finish();
    c.final_summary();

    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let found = rt.block_on(store.audit_usage(everything)).unwrap();
            let elapsed = t.elapsed();
            assert_eq!(found.len(), rows);
            drop(found);
            elapsed
        })
        .collect();
    times.sort();
    println!(
        "audit_usage over {records} records ({rows} rows): median {:.2} s, fastest {:.2} s, slowest {:.2} s",
        times[2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[4].as_secs_f64()
    );
}
