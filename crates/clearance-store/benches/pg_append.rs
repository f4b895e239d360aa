//! Audit append throughput on PostgreSQL: three writers (three gateway replicas), each with a
//! log of its own, append pre-sealed records in batches at the same time; prints records/s
//! for each batch size.
//!
//! `cargo bench -p clearance-store --bench pg_append` (PostgreSQL at `CLEARANCE_TEST_POSTGRES`,
//! by default `postgres://root@127.0.0.1:5432/test`; `scripts/postgres.sh` starts one). Runs in
//! a scratch database it drops afterwards. `PG_APPEND_RECORDS` sets the records per writer and
//! batch size (default 20,000).
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a bench reads its knobs from the environment"
)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::Utc;
use clearance_core::api::ApiSurface;
use clearance_core::audit::{AdminAction, AuditRecord, ChainHead, Decision, LOG_OPEN, Phase};
use clearance_core::facts::{Facts, RequestFacts};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_store::{PgConfig, PgStore, Store};
use sqlx_core::connection::Connection;
use sqlx_core::executor::Executor;
use sqlx_core::raw_sql::raw_sql;
use sqlx_postgres::{PgConnectOptions, PgConnection};

const WRITERS: usize = 3;
const BATCHES: [usize; 3] = [100, 250, 500];

/// A decision record as the gateway writes one: a principal with facts, about 700 bytes.
fn record(n: usize, facts: &Facts) -> AuditRecord {
    let mut r = AuditRecord::new_request(
        format!("0199a1b2-c3d4-7e5f-8a9b-{n:012x}"),
        Utc::now(),
        ApiSurface::OpenaiChat,
    );
    r.key_id = Some("0011223344556677".into());
    r.principal_id = Some(format!("user-{}", n % 500));
    r.requested_model = Some("mythos-5".into());
    r.decision = Decision::Allow;
    r.policy_version = Some("9f2c4e1a".into());
    r.facts = Some(facts.clone());
    r.stream = true;
    r.phase = Phase::Decision;
    r.replica = Some("replica-1".into());
    r
}

async fn admin_connection(url: &str) -> PgConnection {
    PgConnection::connect_with(&PgConnectOptions::from_str(url).unwrap())
        .await
        .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("CLEARANCE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_string());
    let per_writer: usize = std::env::var("PG_APPEND_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let name = format!("clearance_bench_{:016x}", rand::random::<u64>());
    let mut admin = admin_connection(&url).await;
    admin
        .execute(raw_sql(&format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let mut scratch = sqlx_core::Url::parse(&url).unwrap();
    scratch.set_path(&name);

    let principal = parse_principals(
        "id,citizenships,permanent_residency\nuser-1,FR;DE,US\n",
        ImportFormat::Csv,
    )
    .unwrap()
    .remove(0);
    let facts = Facts {
        principal: (&principal).into(),
        request: RequestFacts {
            country: Some("DE".parse().unwrap()),
            capabilities: Default::default(),
            api: ApiSurface::OpenaiChat,
            max_tokens: Some(1024),
            app: Some("laptop".into()),
        },
    };
    let sample = serde_json::to_string(&record(0, &facts)).unwrap();
    println!(
        "pg_append: {WRITERS} writers, {per_writer} records each per run, records of {} bytes, \
         synchronous_commit on",
        sample.len()
    );

    let store = PgStore::connect(PgConfig::new(scratch.as_str()))
        .await
        .unwrap();
    for (run, batch_size) in BATCHES.into_iter().enumerate() {
        // Sealed up front: sealing is the writer's cost, not the store's.
        let mut work = Vec::new();
        for w in 0..WRITERS {
            let log_id = format!("bench-{run}-{w}");
            store
                .open_log(&log_id, "replica-1", Utc::now())
                .await
                .unwrap();
            let mut head = ChainHead::EMPTY;
            let opening = AuditRecord::admin(
                format!("open-{log_id}"),
                Utc::now(),
                AdminAction {
                    action: LOG_OPEN.into(),
                    target: log_id.clone(),
                    reason: None,
                    actor: "replica-1".into(),
                    details: None,
                },
                200,
            );
            let mut sealed = vec![head.seal(&opening)];
            sealed.extend((1..per_writer).map(|n| head.seal(&record(n, &facts))));
            work.push((log_id, sealed));
        }
        let start = Instant::now();
        let writers: Vec<_> = work
            .into_iter()
            .map(|(log_id, sealed)| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut slowest = Duration::ZERO;
                    for batch in sealed.chunks(batch_size) {
                        let t = Instant::now();
                        store.append_audit(&log_id, batch).await.unwrap();
                        slowest = slowest.max(t.elapsed());
                    }
                    slowest
                })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        for w in writers {
            slowest = slowest.max(w.await.unwrap());
        }
        let elapsed = start.elapsed();
        let total = WRITERS * per_writer;
        println!(
            "batch {batch_size:>3}: {total} records in {:.2} s = {:>7.0} records/s \
             (slowest batch {:.1} ms)",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            slowest.as_secs_f64() * 1e3
        );
    }
    let report = clearance_store::verify_audit_trail(&store).await.unwrap();
    assert_eq!(
        report.records(),
        (WRITERS * per_writer * BATCHES.len()) as u64
    );
    drop(store);
    admin
        .execute(raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)")))
        .await
        .unwrap();
    admin.close().await.unwrap();
}
