//! The behaviour every Store backend must have. Each check runs twice: against SQLite (a file in
//! a temporary directory) and against PostgreSQL (a scratch database created for the test on
//! the server `CLEARANCE_TEST_POSTGRES` names, by default
//! `postgres://root@127.0.0.1:5432/test`, and dropped after it).
//!
//! Without a reachable PostgreSQL the PostgreSQL half is skipped with a message, except under
//! CI (`CI` set), where it fails: `scripts/postgres.sh` starts a server.
#![allow(clippy::unwrap_used)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test reads where its database is from the environment, and may block its own thread"
)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use clearance_core::api::ApiSurface;
use clearance_core::audit::{
    AdminAction, AuditRecord, BreakKind, ChainHead, ChainVerifier, Decision, LOG_CLOSE, LOG_OPEN,
    SealedRecord,
};
use clearance_core::facts::{Facts, RequestFacts};
use clearance_core::import::{ImportFormat, parse_principals};
use clearance_core::key::{NewKey, StoredKey};
use clearance_core::principal::{Principal, PrincipalId};
use clearance_store::{
    AuditLog, Capture, CaseOutcome, ChangeVersions, DirectiveFile, DirectiveSet, FactGroups,
    FallbackValidation, KeptResponse, LoggedRecord, ModelSwitch, PgConfig, PgStore, ScimCommit,
    ScimCommitError, ScimRow, ScreeningList, ScreeningListData, ScreeningReview, SqliteStore,
    Store, StoreError, StoredCheckpoint, StoredSuite, TimeCursor, UsageRow, ValidationRun,
};
use clearance_tlog::merkle::{leaf_hash, root_nodes, root_of};
use clearance_tlog::{Hash, NodeId};
use sqlx_core::connection::Connection;
use sqlx_core::executor::Executor;
use sqlx_core::raw_sql::raw_sql;
use sqlx_postgres::{PgConnectOptions, PgConnection};

// ---------------------------------------------------------------------------------------------
// The backends

/// A store under test, with what a check needs besides the trait: a second store on the same
/// database, and raw SQL (to tamper with what the store wrote).
struct Backend {
    store: Arc<dyn Store>,
    raw: Raw,
    /// Removed after the store is dropped.
    _dir: Option<tempfile::TempDir>,
    _db: Option<ScratchDb>,
}

enum Raw {
    Sqlite(PathBuf),
    Postgres(PgConfig),
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        Backend {
            store: Arc::new(SqliteStore::open(&path).unwrap()),
            raw: Raw::Sqlite(path),
            _dir: Some(dir),
            _db: None,
        }
    }

    /// `None` when no PostgreSQL answers (outside CI).
    async fn postgres() -> Option<Backend> {
        let db = ScratchDb::create().await?;
        let config = db.config.clone();
        Some(Backend {
            store: Arc::new(PgStore::connect(config.clone()).await.unwrap()),
            raw: Raw::Postgres(config),
            _dir: None,
            _db: Some(db),
        })
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Another store on the same database, as another process (or replica) would open it.
    async fn reopen(&self) -> Arc<dyn Store> {
        match &self.raw {
            Raw::Sqlite(path) => Arc::new(SqliteStore::open(path).unwrap()),
            Raw::Postgres(config) => Arc::new(PgStore::connect(config.clone()).await.unwrap()),
        }
    }

    /// Whether another process's change wakes [`Store::wait_for_change`] at once.
    fn notifies(&self) -> bool {
        matches!(self.raw, Raw::Postgres(_))
    }

    /// Runs SQL on the database directly, behind the store's back.
    async fn execute(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            Raw::Postgres(config) => {
                let mut conn = pg_connect(config).await.unwrap();
                conn.execute(raw_sql(sql)).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// Connection options for `config` (as the tests give it: plaintext to a local server).
fn pg_options(config: &PgConfig) -> PgConnectOptions {
    let options = PgConnectOptions::from_str(&config.url).unwrap();
    match &config.password {
        Some(p) => options.password(p),
        None => options,
    }
}

async fn pg_connect(config: &PgConfig) -> Result<PgConnection, sqlx_core::Error> {
    PgConnection::connect_with(&pg_options(config)).await
}

/// A database of its own for one test, on the test server; dropped (best effort, whatever
/// the test's outcome) when this is.
struct ScratchDb {
    admin: PgConfig,
    name: String,
    /// The scratch database's config.
    config: PgConfig,
}

impl ScratchDb {
    async fn create() -> Option<ScratchDb> {
        let url = std::env::var("CLEARANCE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_string());
        // A password in the test URL goes where the store takes it from.
        let mut parsed = sqlx_core::Url::parse(&url).expect("CLEARANCE_TEST_POSTGRES is a URL");
        let password = parsed.password().map(String::from);
        parsed.set_password(None).unwrap();
        let admin = PgConfig {
            password,
            max_connections: 4,
            ..PgConfig::new(parsed.as_str())
        };
        let reached = tokio::time::timeout(StdDuration::from_secs(10), pg_connect(&admin)).await;
        let mut conn = match reached {
            Ok(Ok(conn)) => conn,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer within 10 s".to_string(),
                };
                let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
                assert!(
                    !ci,
                    "PostgreSQL at {parsed} is unreachable ({why}); CI runs every store contract \
                     test on PostgreSQL too: start a server with scripts/postgres.sh or point \
                     CLEARANCE_TEST_POSTGRES at one"
                );
                eprintln!(
                    "SKIPPED the PostgreSQL half of this test: no PostgreSQL at {parsed} ({why}). \
                     Run scripts/postgres.sh or set CLEARANCE_TEST_POSTGRES."
                );
                return None;
            }
        };
        let name = format!("clearance_{:016x}", rand::random::<u64>());
        conn.execute(raw_sql(&format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        conn.close().await.unwrap();
        let mut url = parsed.clone();
        url.set_path(&name);
        let config = PgConfig {
            url: url.to_string(),
            ..admin.clone()
        };
        Some(ScratchDb {
            admin,
            name,
            config,
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        // On a thread of its own with a runtime of its own: this may run inside the test's
        // runtime, which cannot be blocked on. FORCE ends the store's pooled connections.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = pg_connect(&admin).await?;
                conn.execute(raw_sql(&format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop scratch database {}: {e}", self.name);
        }
    }
}

/// Generates one test per check and backend: `sqlite::check` and `postgres::check`.
macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(&super::Backend::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    if let Some(backend) = super::Backend::postgres().await {
                        super::$check(&backend).await;
                    }
                }
            )*
        }
    };
}

contract!(
    principals_upsert_in_place,
    principals_are_deleted_by_id,
    keys_are_stored_hashed_and_revocable,
    audit_log_appends_in_batches_and_records_its_head,
    appending_to_a_log_never_opened_is_refused,
    a_batch_must_continue_its_log_on_an_open_log,
    audit_page_by_time_merges_logs_in_time_order,
    verify_passes_an_intact_trail_and_names_an_edited_record,
    audit_fact_groups_count_records_by_principal_model_and_facts,
    model_switches_keep_the_current_state_and_every_change,
    directive_sets_activate_in_order,
    a_change_wakes_a_waiting_store,
    everything_survives_reopening,
    the_tree_grows_with_every_batch,
    checkpoints_are_kept_per_size,
    closed_logs_past_their_checkpoints_are_listed,
    a_requests_records_are_found_by_its_id,
    pruning_empties_old_bodies_and_keeps_the_tree,
    verify_catches_edited_columns_and_tree_nodes,
    verify_catches_a_rehashed_chain_by_its_tree,
    scim_changes_commit_with_their_principals,
    scim_writers_computed_from_an_old_snapshot_are_refused,
    scim_names_are_unique_per_kind_ignoring_case,
    screening_lists_commit_with_their_rescreened_principals,
    the_latest_stored_screening_list_of_a_source_is_current,
    a_screening_list_version_is_stored_once,
    screening_reviews_append_and_filter_by_subject,
    a_screening_review_and_its_principal_commit_together,
    screening_imports_at_once_are_each_stored_once,
    eval_suites_are_stored_once_by_hash,
    validation_runs_resume_until_they_finish,
    a_later_run_replaces_a_fallbacks_standing,
    a_run_finished_twice_at_once_is_recorded_once,
    captures_keep_the_newest_per_app,
    kept_responses_chain_back_oldest_first,
    kept_responses_are_their_owners_alone,
    gone_responses_end_a_chain,
    keeping_a_response_deletes_expired_ones,
    audit_usage_reads_request_records_in_the_window,
    audit_usage_refuses_unreadable_records,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn principals(csv: &str) -> Vec<Principal> {
    parse_principals(csv, ImportFormat::Csv).unwrap()
}

fn pid(id: &str) -> PrincipalId {
    id.parse().unwrap()
}

fn record(n: u64) -> AuditRecord {
    AuditRecord {
        id: format!("req-{n}"),
        time: Utc::now(),
        api: ApiSurface::AnthropicMessages,
        key_id: None,
        token: None,
        principal_id: Some("alice".into()),
        requested_model: Some("mythos-5".into()),
        served_model: Some("mythos-5".into()),
        decision: Decision::Allow,
        directive_ids: vec![],
        shadow_hits: vec![],
        shadow_decision: None,
        policy_version: None,
        facts: None,
        facts_read: Vec::new(),
        stream: true,
        status: 200,
        upstream_status: Some(200),
        duration_us: 10,
        overhead_us: 1,
        input_tokens: None,
        output_tokens: None,
        error_class: None,
        attempts: Vec::new(),
        admin: None,
        phase: clearance_core::audit::Phase::Whole,
        replica: None,
    }
}

/// A log's opening or closing record.
fn log_event(action: &str, log_id: &str, time: DateTime<Utc>) -> AuditRecord {
    let mut r = AuditRecord::admin(
        format!("{action}-{log_id}"),
        time,
        AdminAction {
            action: action.into(),
            target: log_id.into(),
            reason: None,
            actor: "replica-1".into(),
            details: None,
        },
        200,
    );
    r.replica = Some("replica-1".into());
    r
}

/// Registers `log_id` and appends its opening record; the head to go on from.
async fn open(store: &dyn Store, log_id: &str, at: DateTime<Utc>) -> ChainHead {
    store.open_log(log_id, "replica-1", at).await.unwrap();
    let mut head = ChainHead::EMPTY;
    let opening = head.seal(&log_event(LOG_OPEN, log_id, at));
    store.append_audit(log_id, &[opening]).await.unwrap();
    head
}

/// Appends the closing record and marks the log closed.
async fn close(store: &dyn Store, log_id: &str, head: &mut ChainHead, at: DateTime<Utc>) {
    let closing = head.seal(&log_event(LOG_CLOSE, log_id, at));
    store.append_audit(log_id, &[closing]).await.unwrap();
    store.close_log(log_id, at).await.unwrap();
}

/// Every record of `log_id`, read `page` at a time.
async fn read_log(store: &dyn Store, log_id: &str, page: usize) -> Vec<SealedRecord> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |r: &SealedRecord| r.seq);
        let next = store.audit_page(log_id, after, page).await.unwrap();
        assert!(next.len() <= page);
        if next.is_empty() {
            return all;
        }
        all.extend(next);
    }
}

fn facts(country: &str, principal: &Principal) -> Facts {
    Facts {
        principal: principal.into(),
        request: RequestFacts {
            country: Some(country.parse().unwrap()),
            capabilities: Default::default(),
            api: ApiSurface::OpenaiChat,
            max_tokens: None,
            app: None,
        },
    }
}

fn switch(model: &str, disabled: bool, reason: Option<&str>, actor: &str) -> ModelSwitch {
    ModelSwitch {
        model: model.into(),
        disabled,
        reason: reason.map(String::from),
        // Whole seconds: the same value however often it is built.
        changed_at: DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap(),
        actor: actor.into(),
    }
}

fn directive_set(policy_version: &str, files: &[(&str, &str)]) -> DirectiveSet {
    DirectiveSet {
        version: 99, // ignored: the store numbers sets
        policy_version: policy_version.into(),
        files: files
            .iter()
            .map(|(name, content)| DirectiveFile {
                name: (*name).into(),
                content: (*content).into(),
            })
            .collect(),
        // With nanoseconds: the store gives back exactly the instant it was given.
        activated_at: Utc::now(),
        actor: "cli".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The checks

async fn principals_upsert_in_place(b: &Backend) {
    let store = b.store();
    let first = store
        .upsert_principals(&principals("id,citizenships\nalice,FR\nbob,US\n"))
        .await
        .unwrap();
    assert_eq!((first.inserted, first.updated), (2, 0));
    let before = store.change_versions().await.unwrap();
    let second = store
        .upsert_principals(&principals("id,citizenships\nalice,US;FR\ncarol,DE\n"))
        .await
        .unwrap();
    assert_eq!((second.inserted, second.updated), (1, 1));
    assert!(store.change_versions().await.unwrap().principals > before.principals);
    let alice = store.principal(&pid("alice")).await.unwrap().unwrap();
    assert!(alice.us_citizen(), "re-import replaced alice's facts");
    let all = store.principals().await.unwrap();
    let ids: Vec<String> = all.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(ids, ["alice", "bob", "carol"], "ordered by id");
    assert_eq!(all[0], alice, "a principal reads back as it was stored");
    assert!(store.principal(&pid("nobody")).await.unwrap().is_none());

    // The same id twice in one import: the last one wins, the repeat counts as an update.
    let mut twice = principals("id,citizenships\ndave,FR\n");
    twice.extend(principals("id,citizenships\ndave,DE\n"));
    let summary = store.upsert_principals(&twice).await.unwrap();
    assert_eq!((summary.inserted, summary.updated), (1, 1));
    let dave = store.principal(&pid("dave")).await.unwrap().unwrap();
    assert_eq!(dave, twice[1]);
}

async fn principals_are_deleted_by_id(b: &Backend) {
    let store = b.store();
    store
        .upsert_principals(&principals("id\nalice\nbob\ncarol\n"))
        .await
        .unwrap();
    let before = store.change_versions().await.unwrap();
    let deleted = store
        .delete_principals(&[pid("alice"), pid("nobody"), pid("carol")])
        .await
        .unwrap();
    assert_eq!(deleted, 2, "only the principals that existed are counted");
    let after = store.change_versions().await.unwrap();
    assert!(after.principals > before.principals);
    assert_eq!(
        (after.keys, after.directives),
        (before.keys, before.directives)
    );
    let left: Vec<String> = store
        .principals()
        .await
        .unwrap()
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(left, ["bob"]);
    assert_eq!(store.delete_principals(&[]).await.unwrap(), 0);
    assert_eq!(store.delete_principals(&[pid("alice")]).await.unwrap(), 0);
}

async fn keys_are_stored_hashed_and_revocable(b: &Backend) {
    let store = b.store();
    let new = NewKey::generate(&mut rand::rng());
    let stored = StoredKey {
        id: new.id.clone(),
        principal_id: pid("alice"),
        name: Some("laptop".into()),
        hash: new.hash.clone(),
        created: Utc::now(),
        revoked: None,
    };
    store.insert_key(&stored).await.unwrap();
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].hash.matches(&new.hash));
    assert_eq!(keys[0].created, stored.created, "the exact instant");
    assert_eq!(keys[0].name.as_deref(), Some("laptop"));
    let before = store.change_versions().await.unwrap();
    let at = Utc::now();
    assert!(store.revoke_key(&new.id, at).await.unwrap());
    assert!(
        !store.revoke_key(&new.id, Utc::now()).await.unwrap(),
        "revoking twice reports no change"
    );
    assert_eq!(store.keys().await.unwrap()[0].revoked, Some(at));
    assert!(store.change_versions().await.unwrap().keys > before.keys);
    assert!(
        store.insert_key(&stored).await.is_err(),
        "a key id is stored once"
    );
}

async fn audit_log_appends_in_batches_and_records_its_head(b: &Backend) {
    let store = b.store();
    let opened_at = Utc::now();
    store
        .open_log("log-a", "replica-1", opened_at)
        .await
        .unwrap();
    assert_eq!(
        store.audit_logs().await.unwrap(),
        vec![AuditLog {
            log_id: "log-a".into(),
            replica: "replica-1".into(),
            opened_at,
            closed_at: None,
            recorded_head: ChainHead::EMPTY,
        }],
        "a new log is empty, with its head at the start"
    );
    let mut head = ChainHead::EMPTY;
    let mut sealed = vec![head.seal(&log_event(LOG_OPEN, "log-a", opened_at))];
    sealed.extend((1..=250).map(|n| head.seal(&record(n))));
    for batch in [
        &sealed[..1],
        &sealed[1..100],
        &sealed[100..200],
        &sealed[200..],
    ] {
        store.append_audit("log-a", batch).await.unwrap();
        let logs = store.audit_logs().await.unwrap();
        assert_eq!(
            logs[0].recorded_head.seq,
            batch.last().unwrap().seq,
            "the head is recorded with every batch"
        );
    }
    store.append_audit("log-a", &[]).await.unwrap();
    assert_eq!(store.audit_logs().await.unwrap()[0].recorded_head, head);

    let stored = read_log(store, "log-a", 64).await;
    assert_eq!(stored, sealed, "records read back exactly as sealed");
    let mut verifier = ChainVerifier::for_log("log-a");
    for r in &stored {
        verifier.check(r).unwrap();
    }
    assert_eq!(verifier.head(), head);
    assert!(store.audit_page("log-a", 250, 10).await.unwrap().len() == 1);
    assert!(store.audit_page("log-b", 0, 10).await.unwrap().is_empty());

    let closed_at = Utc::now();
    close(store, "log-a", &mut head, closed_at).await;
    let log = &store.audit_logs().await.unwrap()[0];
    assert_eq!((log.closed_at, log.recorded_head), (Some(closed_at), head));
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.records(), 252);
    assert!(report.logs[0].closed);
}

async fn appending_to_a_log_never_opened_is_refused(b: &Backend) {
    let store = b.store();
    let mut head = ChainHead::EMPTY;
    let batch = [head.seal(&log_event(LOG_OPEN, "ghost", Utc::now()))];
    let refused = store.append_audit("ghost", &batch).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(store.audit_page("ghost", 0, 10).await.unwrap().is_empty());
    assert!(store.audit_logs().await.unwrap().is_empty());
    store
        .open_log("once", "replica-1", Utc::now())
        .await
        .unwrap();
    assert!(
        store
            .open_log("once", "replica-2", Utc::now())
            .await
            .is_err(),
        "a log id is opened once"
    );
}

/// A batch that does not continue the log's recorded head (a second writer on the log, a
/// replayed batch, a gap) or that comes after the log was closed is refused whole.
async fn a_batch_must_continue_its_log_on_an_open_log(b: &Backend) {
    let store = b.store();
    let at = Utc::now();
    let mut head = open(store, "solo", at).await;
    let batch: Vec<SealedRecord> = (1..=3).map(|n| head.seal(&record(n))).collect();
    store.append_audit("solo", &batch).await.unwrap();
    let replayed = store.append_audit("solo", &batch[1..]).await;
    assert!(replayed.is_err(), "a replayed batch: {replayed:?}");
    let mut fork = ChainHead {
        seq: 2,
        hash: batch[0].hash,
    };
    let forked = [fork.seal(&record(9))];
    assert!(
        store.append_audit("solo", &forked).await.is_err(),
        "a second writer's fork"
    );
    let mut ahead = head;
    ahead.seal(&record(10));
    let gap = [ahead.seal(&record(11))];
    assert!(store.append_audit("solo", &gap).await.is_err(), "a gap");
    assert_eq!(
        read_log(store, "solo", 100).await.len(),
        4,
        "nothing of them stored"
    );
    close(store, "solo", &mut head, at).await;
    let late = [head.seal(&record(12))];
    assert!(
        store.append_audit("solo", &late).await.is_err(),
        "after the close"
    );
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(report.ok(), "{report:?}");
}

/// Two logs whose records alternate in time: the time-ordered read gives them merged, by
/// (time, log id, seq), a page at a time.
async fn audit_page_by_time_merges_logs_in_time_order(b: &Backend) {
    let store = b.store();
    let t0 = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let at = |s: i64| t0 + Duration::seconds(s);
    let mut written: Vec<(String, SealedRecord)> = Vec::new();
    for (log_id, start) in [("log-b", 1), ("log-a", 0)] {
        let mut head = open(store, log_id, at(start)).await;
        let mut batch = Vec::new();
        for k in 0..6 {
            let mut r = record(k);
            r.id = format!("{log_id}-{k}");
            // Alternating seconds, and both logs at second 20 (ordered by log id then).
            r.time = if k == 5 {
                at(20)
            } else {
                at(start + 2 * k as i64 + 2)
            };
            batch.push(head.seal(&r));
        }
        store.append_audit(log_id, &batch).await.unwrap();
        let opening = store.audit_page(log_id, 0, 1).await.unwrap().remove(0);
        written.push((log_id.to_string(), opening));
        written.extend(batch.into_iter().map(|r| (log_id.to_string(), r)));
    }
    let time_of = |r: &SealedRecord| {
        serde_json::from_str::<serde_json::Value>(&r.record_json).unwrap()["time"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut expected: Vec<LoggedRecord> = written
        .iter()
        .map(|(log_id, r)| LoggedRecord {
            log_id: log_id.clone(),
            record: r.clone(),
            time: time_of(r),
        })
        .collect();
    expected.sort_by(|x, y| {
        (&x.time, &x.log_id, x.record.seq).cmp(&(&y.time, &y.log_id, y.record.seq))
    });
    assert_eq!(expected.len(), 14);

    let mut merged: Vec<LoggedRecord> = Vec::new();
    loop {
        let cursor = merged.last().map(|r| TimeCursor {
            time: r.time.clone(),
            log_id: r.log_id.clone(),
            seq: r.record.seq,
        });
        let page = store.audit_page_by_time(cursor.as_ref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        merged.extend(page);
    }
    assert_eq!(merged, expected);
    let order: Vec<&str> = merged.iter().map(|r| r.record.id.as_str()).collect();
    assert_eq!(
        &order[..4],
        ["log_open-log-a", "log_open-log-b", "log-a-0", "log-b-0"]
    );
    assert_eq!(&order[12..], ["log-a-5", "log-b-5"], "a tie goes by log id");
}

async fn verify_passes_an_intact_trail_and_names_an_edited_record(b: &Backend) {
    let store = b.store();
    for log_id in ["log-a", "log-b"] {
        let mut head = open(store, log_id, Utc::now()).await;
        let batch: Vec<_> = (1..=5).map(|n| head.seal(&record(n))).collect();
        store.append_audit(log_id, &batch).await.unwrap();
        if log_id == "log-a" {
            close(store, log_id, &mut head, Utc::now()).await;
        }
    }
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.logs.len(), 2);
    assert_eq!(report.records(), 7 + 6);
    assert_eq!(
        report
            .logs
            .iter()
            .map(|l| (l.log.log_id.as_str(), l.closed))
            .collect::<Vec<_>>(),
        [("log-a", true), ("log-b", false)]
    );

    // Record #3 of log-b (`req-2`) asked for another model, after the fact.
    b.execute(
        "UPDATE audit SET record = replace(record, 'mythos-5', 'mythos-6') \
         WHERE log_id = 'log-b' AND seq = 3",
    )
    .await;
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(!report.ok());
    let a = &report.logs[0];
    assert_eq!((a.log.log_id.as_str(), &a.broken), ("log-a", &None));
    let broken = report.logs[1].broken.as_ref().unwrap();
    assert_eq!(
        (broken.seq, broken.id.as_str(), &broken.kind),
        (3, "req-2", &BreakKind::Edited)
    );
    assert_eq!(report.logs[1].verified.seq, 2, "verified up to the edit");
}

/// Groups records by principal, requested model and recorded facts, within the window, and
/// leaves out records that name no principal or no model.
async fn audit_fact_groups_count_records_by_principal_model_and_facts(b: &Backend) {
    let store = b.store();
    let people = principals("id,citizenships\nbjorn,SE\nli,CN\n");
    let (bjorn, li) = (&people[0], &people[1]);
    // After the log's opening record, so the window holds only these.
    let t0 = Utc::now() + Duration::days(1);
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let with = |n: u64,
                minutes: i64,
                who: Option<&Principal>,
                model: Option<&str>,
                country: Option<&str>| {
        let mut r = record(n);
        r.id = format!("fg-{n}");
        r.time = at(minutes);
        r.principal_id = who.map(|p| p.id.to_string());
        r.requested_model = model.map(String::from);
        r.facts = who.zip(country).map(|(p, c)| facts(c, p));
        r
    };
    let records = [
        with(1, 0, Some(bjorn), Some("mythos-5"), Some("US")), // before the window
        with(2, 10, Some(bjorn), Some("mythos-5"), Some("US")),
        with(3, 20, Some(bjorn), Some("mythos-5"), Some("US")),
        with(4, 30, Some(bjorn), Some("mythos-5"), Some("SE")),
        with(5, 40, Some(bjorn), Some("fable-5"), Some("US")),
        with(6, 50, Some(li), Some("mythos-5"), Some("US")),
        with(7, 60, Some(li), Some("mythos-5"), None), // no facts
        with(8, 70, None, Some("mythos-5"), None),     // refused before authentication
        with(9, 80, Some(li), None, None),             // refused before the body was read
        with(10, 1, Some(li), Some("mythos-5"), Some("US")), // written late, before the window
    ];
    let mut head = open(store, "fg", Utc::now()).await;
    let sealed: Vec<_> = records.iter().map(|r| head.seal(r)).collect();
    store.append_audit("fg", &sealed).await.unwrap();

    let found = store.audit_fact_groups(at(5), None).await.unwrap();
    assert_eq!(found.records, 6, "records 2 to 7");
    let mut groups = found.groups;
    groups.sort_by(|a, b| {
        (&a.principal_id, &a.requested_model, a.first).cmp(&(
            &b.principal_id,
            &b.requested_model,
            b.first,
        ))
    });
    let summary: Vec<(&str, &str, Option<String>, u64)> = groups
        .iter()
        .map(|g| {
            let country = g.facts_json.as_deref().map(|json| {
                let facts: Facts = serde_json::from_str(json).unwrap();
                facts.request.country.unwrap().to_string()
            });
            (
                g.principal_id.as_str(),
                g.requested_model.as_str(),
                country,
                g.count,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("bjorn", "fable-5", Some("US".to_string()), 1),
            ("bjorn", "mythos-5", Some("US".to_string()), 2),
            ("bjorn", "mythos-5", Some("SE".to_string()), 1),
            ("li", "mythos-5", Some("US".to_string()), 1),
            ("li", "mythos-5", None, 1),
        ]
    );
    let us = &groups[1];
    assert_eq!(
        (us.first, us.last),
        (at(10), at(20)),
        "the group's time span, to the nanosecond"
    );
    let recorded: serde_json::Value = serde_json::from_str(&sealed[1].record_json).unwrap();
    assert_eq!(
        us.facts_json.as_deref().unwrap(),
        serde_json::to_string(&recorded["facts"]).unwrap(),
        "the facts as recorded, byte for byte"
    );
    let facts: Facts = serde_json::from_str(us.facts_json.as_deref().unwrap()).unwrap();
    assert_eq!(facts, records[1].facts.clone().unwrap());
    let from_exactly = store.audit_fact_groups(at(40), None).await.unwrap();
    let counted: u64 = from_exactly.groups.iter().map(|g| g.count).sum();
    assert_eq!(
        counted, 3,
        "the window includes its first second: records 5, 6, 7"
    );
    assert_eq!(from_exactly.records, 3);
    let mythos = store
        .audit_fact_groups(at(5), Some(&["mythos-5".to_string()]))
        .await
        .unwrap();
    assert_eq!(mythos.records, 6, "every model is counted");
    let grouped: Vec<(&str, u64)> = mythos
        .groups
        .iter()
        .map(|g| (g.requested_model.as_str(), g.count))
        .collect();
    assert_eq!(grouped.len(), 4, "only mythos-5 is grouped: {grouped:?}");
    assert!(grouped.iter().all(|(m, _)| *m == "mythos-5"));
    assert_eq!(
        store.audit_fact_groups(at(90), None).await.unwrap(),
        FactGroups::default()
    );
}

/// A switch is replaced in place (one current state per model) while every change is kept,
/// in order, in the model's history.
async fn model_switches_keep_the_current_state_and_every_change(b: &Backend) {
    let store = b.store();
    assert!(store.model_switches().await.unwrap().is_empty());
    let off = switch(
        "mythos-5",
        true,
        Some("incident 42: leaking prompts"),
        "admin-api",
    );
    let before = store.change_versions().await.unwrap();
    store.set_model_switch(&off).await.unwrap();
    let after = store.change_versions().await.unwrap();
    assert!(
        after.model_switches > before.model_switches,
        "a change bumps the version other gateways poll"
    );
    assert_eq!(
        (after.keys, after.principals),
        (before.keys, before.principals)
    );
    store
        .set_model_switch(&switch("gpt-5", true, Some("provider outage"), "cli"))
        .await
        .unwrap();
    assert_eq!(
        store.model_switches().await.unwrap(),
        vec![
            switch("gpt-5", true, Some("provider outage"), "cli"),
            off.clone()
        ],
        "ordered by model"
    );
    let on = switch("mythos-5", false, None, "admin-api");
    store.set_model_switch(&on).await.unwrap();
    let now: Vec<_> = store.model_switches().await.unwrap();
    assert_eq!(now.len(), 2, "re-enabling replaces the row, it adds none");
    assert_eq!(now[1], on);
    assert_eq!(
        store.model_switch_history("mythos-5").await.unwrap(),
        vec![off, on]
    );
    assert_eq!(store.model_switch_history("gpt-5").await.unwrap().len(), 1);
    assert!(
        store
            .model_switch_history("never-switched")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn directive_sets_activate_in_order(b: &Backend) {
    let store = b.store();
    assert_eq!(store.active_directive_set().await.unwrap(), None);
    assert!(store.directive_sets().await.unwrap().is_empty());
    let before = store.change_versions().await.unwrap();

    let first = directive_set(
        "pv-1",
        &[
            (
                "EXD-2026-06.toml",
                "id = \"EXD-2026-06\"\n# Zürich → 東京\n",
            ),
            ("A-first.cedar", "forbid (principal, action, resource);\n"),
        ],
    );
    assert_eq!(store.activate_directive_set(&first).await.unwrap(), 1);
    let after_first = store.change_versions().await.unwrap();
    assert_eq!(after_first.directives, before.directives + 1);
    assert_eq!(
        (
            after_first.keys,
            after_first.principals,
            after_first.model_switches
        ),
        (before.keys, before.principals, before.model_switches),
        "only the directives version moves"
    );
    let second = directive_set("pv-2", &[("EXD-2026-07.toml", "id = \"EXD-2026-07\"\n")]);
    assert_eq!(store.activate_directive_set(&second).await.unwrap(), 2);
    assert_eq!(
        store.change_versions().await.unwrap().directives,
        before.directives + 2
    );

    let stored = |set: &DirectiveSet, version: i64| {
        let mut files = set.files.clone();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        DirectiveSet {
            version,
            files,
            ..set.clone()
        }
    };
    assert_eq!(
        store.active_directive_set().await.unwrap(),
        Some(stored(&second, 2)),
        "the latest set is the active one"
    );
    assert_eq!(
        store.directive_sets().await.unwrap(),
        vec![stored(&first, 1), stored(&second, 2)],
        "every set, oldest first, files by name, exactly as activated"
    );
    let empty = directive_set("pv-3", &[]);
    assert_eq!(store.activate_directive_set(&empty).await.unwrap(), 3);
    assert_eq!(
        store.active_directive_set().await.unwrap(),
        Some(stored(&empty, 3)),
        "a set without files (every directive removed) is a set too"
    );
}

/// Another process's change reaches a store waiting for one: at once where the backend has
/// notifications (PostgreSQL), within the wait where it polls (SQLite).
async fn a_change_wakes_a_waiting_store(b: &Backend) {
    let store = b.store();
    let other = b.reopen().await;
    let before = store.change_versions().await.unwrap();
    if b.notifies() {
        // The first wait starts listening.
        store.wait_for_change(StdDuration::from_millis(200)).await;
        let bump = tokio::spawn(async move {
            tokio::time::sleep(StdDuration::from_millis(300)).await;
            other
                .set_model_switch(&switch("mythos-5", true, Some("incident"), "cli"))
                .await
                .unwrap();
        });
        let start = Instant::now();
        store.wait_for_change(StdDuration::from_secs(10)).await;
        let waited = start.elapsed();
        assert!(
            waited < StdDuration::from_secs(1),
            "woken by the change, not the timeout: {waited:?}"
        );
        bump.await.unwrap();
    } else {
        other
            .set_model_switch(&switch("mythos-5", true, Some("incident"), "cli"))
            .await
            .unwrap();
        let start = Instant::now();
        store.wait_for_change(StdDuration::from_millis(300)).await;
        assert!(start.elapsed() >= StdDuration::from_millis(300));
    }
    let after = store.change_versions().await.unwrap();
    assert_eq!(after.model_switches, before.model_switches + 1);
    // Nothing changes: the wait lasts its time.
    let start = Instant::now();
    store.wait_for_change(StdDuration::from_millis(300)).await;
    let waited = start.elapsed();
    assert!(
        waited >= StdDuration::from_millis(250) && waited < StdDuration::from_secs(5),
        "{waited:?}"
    );
}

async fn everything_survives_reopening(b: &Backend) {
    let store = b.store();
    store
        .upsert_principals(&principals("id,citizenships\nalice,FR\n"))
        .await
        .unwrap();
    let off = switch("mythos-5", true, Some("incident 42"), "admin-api");
    store.set_model_switch(&off).await.unwrap();
    let set = directive_set("pv-1", &[("a.toml", "x")]);
    store.activate_directive_set(&set).await.unwrap();
    let mut head = open(store, "log-a", Utc::now()).await;
    let batch: Vec<_> = (1..=3).map(|n| head.seal(&record(n))).collect();
    store.append_audit("log-a", &batch).await.unwrap();

    let again = b.reopen().await;
    assert_eq!(
        again.principals().await.unwrap(),
        store.principals().await.unwrap()
    );
    assert_eq!(again.model_switches().await.unwrap(), vec![off]);
    assert_eq!(
        again.active_directive_set().await.unwrap().unwrap().files,
        set.files
    );
    assert_eq!(
        again.change_versions().await.unwrap(),
        store.change_versions().await.unwrap()
    );
    assert_eq!(again.audit_logs().await.unwrap()[0].recorded_head, head);
    assert!(
        clearance_store::verify_audit_trail(again.as_ref())
            .await
            .unwrap()
            .ok()
    );
}

/// The leaf hashes of a log's stored records (their stored bytes).
async fn leaves(store: &dyn Store, log_id: &str) -> Vec<Hash> {
    read_log(store, log_id, 1000)
        .await
        .iter()
        .map(|r| leaf_hash(r.record_json.as_bytes()))
        .collect()
}

/// The root of the log's stored tree at `size`, folded from the stored nodes.
async fn stored_root(store: &dyn Store, log_id: &str, size: u64) -> Hash {
    let ids = root_nodes(size);
    let found = store.tree_nodes(log_id, &ids).await.unwrap();
    let hashes: Vec<Hash> = ids
        .iter()
        .map(|id| found.iter().find(|(f, _)| f == id).unwrap().1)
        .collect();
    clearance_tlog::merkle::fold(&hashes)
}

/// Appends in batches of many sizes write exactly the RFC 6962 tree of the records: every
/// prefix's root folds from stored nodes, a level reads back as a tile's hashes.
async fn the_tree_grows_with_every_batch(b: &Backend) {
    let store = b.store();
    let mut head = open(store, "log-t", Utc::now()).await;
    assert_eq!(
        stored_root(store, "log-t", 1).await,
        root_of(&leaves(store, "log-t").await)
    );
    for size in [1, 2, 5, 8, 13, 1, 70] {
        let batch: Vec<_> = (0..size)
            .map(|n| head.seal(&record(head.seq + n)))
            .collect();
        store.append_audit("log-t", &batch).await.unwrap();
        let leaves = leaves(store, "log-t").await;
        assert_eq!(leaves.len() as u64, head.seq);
        assert_eq!(
            stored_root(store, "log-t", head.seq).await,
            root_of(&leaves),
            "after {} records",
            head.seq
        );
    }
    let leaves = leaves(store, "log-t").await;
    assert_eq!(leaves.len(), 101);
    // Every prefix's root, too (what a checkpoint of an earlier size commits to).
    for size in [1u64, 7, 16, 33, 64, 99] {
        assert_eq!(
            stored_root(store, "log-t", size).await,
            root_of(&leaves[..size as usize])
        );
    }
    assert_eq!(store.tree_level("log-t", 0, 0..200).await.unwrap(), leaves);
    let level2: Vec<Hash> = leaves.chunks_exact(4).map(root_of).collect();
    assert_eq!(
        store.tree_level("log-t", 2, 3..10).await.unwrap(),
        level2[3..10]
    );
    assert_eq!(
        store.tree_level("log-t", 2, 20..30).await.unwrap(),
        level2[20..],
        "a level stops at its last complete node"
    );
    assert!(store.tree_level("log-t", 7, 0..1).await.unwrap().is_empty());
    assert!(store.tree_level("other", 0, 0..1).await.unwrap().is_empty());
    let asked = [
        NodeId::new(6, 0),
        NodeId::new(0, 100),
        NodeId::new(0, 101),
        NodeId::new(9, 0),
    ];
    let found = store.tree_nodes("log-t", &asked).await.unwrap();
    let mut found_ids: Vec<NodeId> = found.iter().map(|(id, _)| *id).collect();
    found_ids.sort();
    assert_eq!(found_ids, [NodeId::new(0, 100), NodeId::new(6, 0)]);
    assert!(found.contains(&(NodeId::new(6, 0), root_of(&leaves[..64]))));
    // A refused batch leaves no node behind.
    let mut ahead = head;
    ahead.seal(&record(1000));
    assert!(
        store
            .append_audit("log-t", &[ahead.seal(&record(1001))])
            .await
            .is_err()
    );
    assert!(
        store
            .tree_level("log-t", 0, 101..103)
            .await
            .unwrap()
            .is_empty()
    );
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.logs[0].root, root_of(&leaves));
}

async fn checkpoints_are_kept_per_size(b: &Backend) {
    let store = b.store();
    let at = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let cp = |log: &str, size: u64, note: &str| StoredCheckpoint {
        log_id: log.into(),
        size,
        note: note.into(),
        created_at: at + Duration::seconds(size as i64),
    };
    assert!(store.checkpoints("log-a").await.unwrap().is_empty());
    assert_eq!(store.latest_checkpoint("log-a").await.unwrap(), None);
    for c in [
        cp("log-a", 5, "five"),
        cp("log-a", 2, "two"),
        cp("log-b", 9, "b"),
    ] {
        store.put_checkpoint(&c).await.unwrap();
    }
    let cosigned = cp("log-a", 5, "five\n\u{2014} witness sig\n");
    store.put_checkpoint(&cosigned).await.unwrap();
    assert_eq!(
        store.checkpoints("log-a").await.unwrap(),
        [cp("log-a", 2, "two"), cosigned.clone()]
    );
    assert_eq!(
        store.latest_checkpoint("log-a").await.unwrap(),
        Some(cosigned)
    );
    assert_eq!(
        store.latest_checkpoint("log-b").await.unwrap(),
        Some(cp("log-b", 9, "b"))
    );
}

async fn closed_logs_past_their_checkpoints_are_listed(b: &Backend) {
    let store = b.store();
    let at = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let ids = |logs: Vec<AuditLog>| logs.into_iter().map(|l| l.log_id).collect::<Vec<_>>();
    assert_eq!(store.audit_log("log-a").await.unwrap(), None);
    // log-a: closed, no checkpoint; log-b: closed, checkpoint at its end; log-c: closed,
    // checkpoint short of its end; log-d: open.
    for (n, log_id) in ["log-a", "log-b", "log-c", "log-d"].into_iter().enumerate() {
        let at = at + Duration::seconds(n as i64);
        let mut head = open(store, log_id, at).await;
        if log_id != "log-d" {
            close(store, log_id, &mut head, at).await;
        }
        let covered = match log_id {
            "log-b" => Some(head.seq),
            "log-c" => Some(1),
            _ => None,
        };
        if let Some(size) = covered {
            store
                .put_checkpoint(&StoredCheckpoint {
                    log_id: log_id.into(),
                    size,
                    note: "note".into(),
                    created_at: at,
                })
                .await
                .unwrap();
        }
    }
    let b_log = store.audit_log("log-b").await.unwrap().unwrap();
    assert_eq!(
        (b_log.log_id.as_str(), b_log.recorded_head.seq),
        ("log-b", 2)
    );
    assert!(b_log.closed_at.is_some());
    assert_eq!(
        ids(store.closed_logs_beyond_checkpoints().await.unwrap()),
        ["log-a", "log-c"]
    );
}

async fn a_requests_records_are_found_by_its_id(b: &Backend) {
    let store = b.store();
    let mut written = Vec::new();
    for log_id in ["log-b", "log-a"] {
        let mut head = open(store, log_id, Utc::now()).await;
        let decided = AuditRecord {
            phase: clearance_core::audit::Phase::Decision,
            ..record(1)
        };
        let batch = vec![
            head.seal(&decided),
            head.seal(&record(2)),
            head.seal(&decided.clone().into_completion()),
        ];
        store.append_audit(log_id, &batch).await.unwrap();
        written.push((log_id, batch));
    }
    let found = store.records_of_request("req-1").await.unwrap();
    let ids: Vec<(&str, u64)> = found
        .iter()
        .map(|r| (r.log_id.as_str(), r.record.seq))
        .collect();
    assert_eq!(
        ids,
        [("log-a", 2), ("log-a", 4), ("log-b", 2), ("log-b", 4)]
    );
    assert_eq!(found[2].record, written[0].1[0]);
    assert_eq!(
        found[0].time,
        serde_json::from_str::<serde_json::Value>(&found[0].record.record_json).unwrap()["time"]
            .as_str()
            .unwrap()
    );
    assert_eq!(store.records_of_request("req-2").await.unwrap().len(), 2);
    assert!(store.records_of_request("nope").await.unwrap().is_empty());
}

/// Retention empties the bodies of records before the cut (never a log's opening or closing
/// record), keeps their place in the chain and the tree, and `verify` still passes, counting
/// them.
async fn pruning_empties_old_bodies_and_keeps_the_tree(b: &Backend) {
    let store = b.store();
    let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 3600, 0).unwrap();
    let at = |s: i64| t0 + Duration::seconds(s);
    let mut head = open(store, "log-p", at(0)).await;
    let batch: Vec<_> = (1..=6)
        .map(|n| {
            let mut r = record(n);
            r.time = at(n as i64 * 10);
            r.facts = Some(facts("US", &principals("id,citizenships\nalice,FR\n")[0]));
            head.seal(&r)
        })
        .collect();
    store.append_audit("log-p", &batch).await.unwrap();
    close(store, "log-p", &mut head, at(15)).await;
    let before = leaves(store, "log-p").await;
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    let root = report.logs[0].root;
    assert_eq!(root, root_of(&before));

    // Records at 10, 20 and 30 s, and the closing record (15 s): the close stays.
    assert_eq!(store.prune_audit_before(at(35)).await.unwrap(), 3);
    assert_eq!(store.prune_audit_before(at(35)).await.unwrap(), 0, "once");
    let stored = read_log(store, "log-p", 100).await;
    let bodies: Vec<bool> = stored.iter().map(|r| r.record_json.is_empty()).collect();
    assert_eq!(
        bodies,
        [false, true, true, true, false, false, false, false]
    );
    for (kept, was) in stored.iter().zip(std::iter::once(&stored[0]).chain(&batch)) {
        assert_eq!(
            (kept.seq, &kept.id, kept.hash),
            (was.seq, &was.id, was.hash)
        );
    }
    let derived = store.audit_derived("log-p", 1, 3).await.unwrap();
    assert_eq!(derived.iter().map(|d| d.seq).collect::<Vec<_>>(), [2, 3, 4]);
    for d in &derived {
        assert_eq!(
            (
                &d.time,
                &d.principal_id,
                &d.requested_model,
                &d.facts,
                &d.phase
            ),
            (&None, &None, &None, &None, &None)
        );
    }
    let kept = &store.audit_derived("log-p", 4, 1).await.unwrap()[0];
    assert_eq!(kept.principal_id.as_deref(), Some("alice"));
    assert!(kept.facts.is_some());
    assert_eq!(leaves(store, "log-p").await[4..], before[4..]);
    assert_eq!(
        store.tree_level("log-p", 0, 0..100).await.unwrap(),
        before,
        "the tree stays"
    );
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    let log = &report.logs[0];
    assert_eq!((log.pruned, log.verified.seq, log.root), (3, 8, root));
    assert!(log.closed);
    // The time-ordered export and the fact groups still read the trail.
    let merged = store.audit_page_by_time(None, 100).await.unwrap();
    assert_eq!(merged.len(), 8);
    let groups = store.audit_fact_groups(t0, None).await.unwrap();
    assert_eq!(groups.records, 3);
}

async fn break_of(store: &dyn Store, log_id: &str) -> clearance_core::audit::ChainBreak {
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    let log = report.logs.iter().find(|l| l.log.log_id == log_id).unwrap();
    log.broken
        .clone()
        .unwrap_or_else(|| panic!("{log_id} verified: {log:?}"))
}

/// The query columns are checked against the records, and the tree against the leaves.
async fn verify_catches_edited_columns_and_tree_nodes(b: &Backend) {
    let store = b.store();
    let bob = principals("id,citizenships\nbob,US\n").remove(0);
    for log_id in ["cols", "tree", "leaf", "extra"] {
        let mut head = open(store, log_id, Utc::now()).await;
        let batch: Vec<_> = (1..=9)
            .map(|n| {
                let mut r = record(n);
                r.facts = Some(facts("DE", &bob));
                head.seal(&r)
            })
            .collect();
        store.append_audit(log_id, &batch).await.unwrap();
    }
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert!(report.ok(), "{report:?}");

    // An impact preview reads `facts`: someone moves record #4 to another country.
    b.execute(
        "UPDATE audit SET facts = replace(facts, '\"DE\"', '\"FR\"') WHERE log_id = 'cols' AND seq = 4",
    )
    .await;
    let broken = break_of(store, "cols").await;
    assert_eq!(
        (broken.seq, broken.kind.clone()),
        (
            4,
            BreakKind::DerivedColumnEdited {
                column: "facts".into()
            }
        )
    );
    assert!(broken.to_string().contains("facts"), "{broken}");
    b.execute(
        "UPDATE audit SET facts = (SELECT facts FROM audit WHERE log_id = 'tree' AND seq = 4), \
         principal_id = 'mallory' WHERE log_id = 'cols' AND seq = 4",
    )
    .await;
    assert_eq!(
        break_of(store, "cols").await.kind,
        BreakKind::DerivedColumnEdited {
            column: "principal_id".into()
        }
    );

    // A node above the leaves: the level-1 node over leaves 4 and 5 (records #5 and #6).
    let node = |log: &str, level: u8, idx: u64| {
        format!(
            "UPDATE audit_tree SET hash = (SELECT hash FROM audit_tree WHERE log_id = 'tree' AND level = 0 AND idx = 0) \
             WHERE log_id = '{log}' AND level = {level} AND idx = {idx}"
        )
    };
    b.execute(&node("tree", 1, 2)).await;
    let broken = break_of(store, "tree").await;
    assert_eq!(
        (broken.seq, broken.kind.clone()),
        (6, BreakKind::TreeMismatch { level: 1, index: 2 })
    );
    // A leaf.
    b.execute(&node("leaf", 0, 6)).await;
    let broken = break_of(store, "leaf").await;
    assert_eq!((broken.seq, broken.kind), (7, BreakKind::LeafMismatch));
    // A leaf beyond the log's end (the next append would collide with it).
    b.execute(
        "INSERT INTO audit_tree (log_id, level, idx, hash) \
         SELECT log_id, 0, 10, hash FROM audit_tree WHERE log_id = 'extra' AND level = 0 AND idx = 0",
    )
    .await;
    let broken = break_of(store, "extra").await;
    assert_eq!(broken.kind, BreakKind::TreeBeyondHead { leaves: 10 });
    let report = clearance_store::verify_audit_trail(store).await.unwrap();
    assert_eq!(report.logs.iter().filter(|l| l.broken.is_some()).count(), 4);
}

/// Someone edits a record and re-hashes the chain from there, head included: the chain alone
/// verifies, the stored leaf does not; rewriting the leaf too breaks the node above it.
async fn verify_catches_a_rehashed_chain_by_its_tree(b: &Backend) {
    let store = b.store();
    let mut head = open(store, "log-r", Utc::now()).await;
    let batch: Vec<_> = (1..=6).map(|n| head.seal(&record(n))).collect();
    store.append_audit("log-r", &batch).await.unwrap();
    let original = read_log(store, "log-r", 100).await;
    // The forgery: record #3 asks for another model; #3.. re-sealed, the head moved.
    let mut forged = original[..2].to_vec();
    let mut fhead = ChainHead {
        seq: 2,
        hash: original[1].hash,
    };
    for r in &original[2..] {
        let mut rec: AuditRecord = serde_json::from_str(&r.record_json).unwrap();
        if r.seq == 3 {
            rec.requested_model = Some("mythos-6".into());
        }
        forged.push(fhead.seal(&rec));
    }
    let mut sql = String::new();
    for r in &forged[2..] {
        sql.push_str(&format!(
            "UPDATE audit SET prev_hash = '{}', hash = '{}', record = '{}', requested_model = {} \
             WHERE log_id = 'log-r' AND seq = {};\n",
            r.prev_hash.to_hex(),
            r.hash.to_hex(),
            r.record_json.replace('\'', "''"),
            if r.seq == 3 {
                "'mythos-6'"
            } else {
                "requested_model"
            },
            r.seq
        ));
    }
    sql.push_str(&format!(
        "UPDATE audit_logs SET head_hash = '{}' WHERE log_id = 'log-r';",
        fhead.hash.to_hex()
    ));
    b.execute(&sql).await;
    let mut verifier = ChainVerifier::for_log("log-r");
    for r in &read_log(store, "log-r", 100).await {
        verifier.check(r).unwrap();
    }
    assert!(
        verifier.finish(fhead, "req-6").is_ok(),
        "the chain alone misses it"
    );
    let broken = break_of(store, "log-r").await;
    assert_eq!((broken.seq, broken.kind), (3, BreakKind::LeafMismatch));

    // The forger rewrites the leaf as well: the level-1 node over leaves 2 and 3 disagrees.
    let leaf = leaf_hash(forged[2].record_json.as_bytes());
    let hex: String = leaf.0.iter().map(|b| format!("{b:02x}")).collect();
    let literal = match &b.raw {
        Raw::Sqlite(_) => format!("X'{hex}'"),
        Raw::Postgres(_) => format!("'\\x{hex}'::bytea"),
    };
    b.execute(&format!(
        "UPDATE audit_tree SET hash = {literal} WHERE log_id = 'log-r' AND level = 0 AND idx = 2"
    ))
    .await;
    let broken = break_of(store, "log-r").await;
    assert_eq!(
        (broken.seq, broken.kind),
        (4, BreakKind::TreeMismatch { level: 1, index: 1 })
    );
}

// ---------------------------------------------------------------------------------------------
// One backend only

/// A store from before per-writer logs (migration 2: one chain, `audit_head`) is migrated: its
/// records form the log `legacy`, which verifies with its recorded head, and their `facts`
/// column is derived from the records.
#[tokio::test]
async fn sqlite_migrates_a_single_chain_store_into_the_legacy_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let bjorn = principals("id,citizenships\nbjorn,SE\n").remove(0);
    let mut r = record(1);
    r.principal_id = Some("bjorn".into());
    r.facts = Some(facts("US", &bjorn));
    let mut head = ChainHead::EMPTY;
    let sealed = head.seal(&r);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0002_audit_head.sql"))
            .unwrap();
        conn.execute(
            "INSERT INTO audit (seq, id, prev_hash, hash, record, time, principal_id, requested_model)
             VALUES (?1, ?2, ?3, ?4, ?5, json_extract(?5, '$.time'), 'bjorn', 'mythos-5')",
            rusqlite::params![
                sealed.seq as i64,
                sealed.id,
                sealed.prev_hash.to_hex(),
                sealed.hash.to_hex(),
                sealed.record_json
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)",
            rusqlite::params![head.seq as i64, head.hash.to_hex()],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let found = store
        .audit_fact_groups(Utc::now() - Duration::hours(1), None)
        .await
        .unwrap();
    let facts: Facts =
        serde_json::from_str(found.groups[0].facts_json.as_deref().unwrap()).unwrap();
    assert_eq!(facts.request.country.unwrap().as_str(), "US");
    let logs = store.audit_logs().await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(
        (logs[0].log_id.as_str(), logs[0].recorded_head),
        (clearance_store::LEGACY_LOG, head)
    );
    let report = clearance_store::verify_audit_trail(&store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.records(), 1);
    // The legacy log got its tree when the store was upgraded.
    let leaf = leaf_hash(sealed.record_json.as_bytes());
    assert_eq!(report.logs[0].root, root_of(&[leaf]));
    assert_eq!(
        store
            .tree_level(clearance_store::LEGACY_LOG, 0, 0..5)
            .await
            .unwrap(),
        [leaf]
    );
}

/// What a store from before screening holds keeps working once screening's migration has run:
/// its principals and change versions stay, the `screening` version starts at 0, and a list
/// version and a review are stored on top.
async fn screening_arrives_on_an_existing_store(store: &dyn Store) {
    let versions = store.change_versions().await.unwrap();
    assert_eq!((versions.principals, versions.screening), (7, 0));
    let ana = store.principal(&pid("ana")).await.unwrap().unwrap();
    assert_eq!(ana, principals("id,citizenships\nana,FR\n")[0]);
    assert!(store.screening_lists().await.unwrap().is_empty());
    let list = screening_list("ofac-sdn", "v1", Utc::now());
    let rescreened = principals("id,citizenships\nana,FR;US\n");
    store.put_screening_list(&list, &rescreened).await.unwrap();
    store
        .add_screening_review(&review("ana", "sdn-1", "clear"), None)
        .await
        .unwrap();
    let versions = store.change_versions().await.unwrap();
    assert_eq!((versions.principals, versions.screening), (8, 2));
    assert_eq!(store.current_screening_lists().await.unwrap(), vec![list]);
    assert_eq!(store.principals().await.unwrap(), rescreened);
}

/// A principal row and a `principals` change version as a store from before screening holds
/// them.
fn pre_screening_rows() -> String {
    let ana = serde_json::to_string(&principals("id,citizenships\nana,FR\n")[0]).unwrap();
    format!(
        "INSERT INTO principals (id, facts, updated_at) VALUES ('ana', '{}', '{}');
         UPDATE change_versions SET version = 7 WHERE kind = 'principals';",
        ana.replace('\'', "''"),
        Utc::now().to_rfc3339()
    )
}

/// A SQLite store at the schema before screening (migration 8) is migrated in place.
#[tokio::test]
async fn sqlite_adds_screening_to_an_existing_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/sqlite/0002_audit_head.sql"),
            include_str!("../migrations/sqlite/0003_audit_facts.sql"),
            include_str!("../migrations/sqlite/0004_model_switches.sql"),
            include_str!("../migrations/sqlite/0005_model_switch_version.sql"),
            include_str!("../migrations/sqlite/0006_logs_and_directive_sets.sql"),
            include_str!("../migrations/sqlite/0007_verifiable_log.sql"),
            include_str!("../migrations/sqlite/0008_scim.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&pre_screening_rows()).unwrap();
        conn.pragma_update(None, "user_version", 8).unwrap();
    }
    assert_eq!(SqliteStore::schema_version(&path).unwrap().0, 8);
    let store = SqliteStore::open(&path).unwrap();
    let (applied, known) = SqliteStore::schema_version(&path).unwrap();
    assert_eq!(applied, known);
    screening_arrives_on_an_existing_store(&store).await;
}

/// A PostgreSQL database at the schema before screening (migration 3) is migrated in place.
#[tokio::test]
async fn postgres_adds_screening_to_an_existing_database() {
    let Some(db) = ScratchDb::create().await else {
        return;
    };
    let mut sql = [
        include_str!("../migrations/postgres/0001_init.sql"),
        include_str!("../migrations/postgres/0002_verifiable_log.sql"),
        include_str!("../migrations/postgres/0003_scim.sql"),
    ]
    .join("\n");
    sql.push_str(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, \
         applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO schema_migrations (version) VALUES (1), (2), (3);\n",
    );
    sql.push_str(&pre_screening_rows());
    let mut conn = pg_connect(&db.config).await.unwrap();
    conn.execute(raw_sql(&sql)).await.unwrap();
    conn.close().await.unwrap();
    let store = PgStore::connect(db.config.clone()).await.unwrap();
    let (applied, known) = store.schema_version().await.unwrap();
    assert_eq!(applied, known);
    screening_arrives_on_an_existing_store(&store).await;
}

/// A database from before the Merkle tree (migration 1 only, a log with records) gets its
/// log's tree when it is migrated, and verifies.
#[tokio::test]
async fn postgres_backfills_the_tree_of_existing_logs() {
    let Some(db) = ScratchDb::create().await else {
        return;
    };
    let mut head = ChainHead::EMPTY;
    let at = Utc::now();
    let mut records = vec![head.seal(&log_event(LOG_OPEN, "old", at))];
    records.extend((1..=12).map(|n| head.seal(&record(n))));
    let mut sql = String::from(include_str!("../migrations/postgres/0001_init.sql"));
    sql.push_str(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, \
         applied_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO schema_migrations (version) VALUES (1);\n",
    );
    sql.push_str(&format!(
        "INSERT INTO audit_logs (log_id, replica, opened_at, head_seq, head_hash) \
         VALUES ('old', 'replica-1', '{}', {}, '{}');\n",
        at.to_rfc3339(),
        head.seq,
        head.hash.to_hex()
    ));
    for r in &records {
        let json: serde_json::Value = serde_json::from_str(&r.record_json).unwrap();
        let text = |k: &str| match json[k].as_str() {
            Some(v) => format!("'{v}'"),
            None => "NULL".into(),
        };
        sql.push_str(&format!(
            "INSERT INTO audit (log_id, seq, id, prev_hash, hash, record, time, principal_id, \
             requested_model, facts, phase) VALUES ('old', {}, '{}', '{}', '{}', '{}', {}, {}, {}, NULL, {});\n",
            r.seq,
            r.id,
            r.prev_hash.to_hex(),
            r.hash.to_hex(),
            r.record_json.replace('\'', "''"),
            text("time"),
            text("principal_id"),
            text("requested_model"),
            text("phase"),
        ));
    }
    let mut conn = pg_connect(&db.config).await.unwrap();
    conn.execute(raw_sql(&sql)).await.unwrap();
    conn.close().await.unwrap();
    let store = PgStore::connect(db.config.clone()).await.unwrap();
    let leaves: Vec<Hash> = records
        .iter()
        .map(|r| leaf_hash(r.record_json.as_bytes()))
        .collect();
    assert_eq!(store.tree_level("old", 0, 0..100).await.unwrap(), leaves);
    let report = clearance_store::verify_audit_trail(&store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.logs[0].root, root_of(&leaves));
    // And the log goes on from its backfilled tree.
    let more: Vec<_> = (13..=15).map(|n| head.seal(&record(n))).collect();
    store.append_audit("old", &more).await.unwrap();
    let report = clearance_store::verify_audit_trail(&store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.logs[0].verified.seq, 16);
}

/// Replicas starting together on a new database: each migration is applied once, whoever
/// applies it, and every replica ends up on the current schema.
#[tokio::test]
async fn postgres_replicas_migrating_at_once_apply_each_migration_once() {
    let Some(db) = ScratchDb::create().await else {
        return;
    };
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(
            PgStore::connect_without_migrating(db.config.clone())
                .await
                .unwrap(),
        );
    }
    let (applied, known) = replicas[0].schema_version().await.unwrap();
    assert_eq!(applied, 0);
    assert!(known >= 1);
    let runs: Vec<_> = replicas
        .iter()
        .map(|r| {
            let r = r.clone();
            tokio::spawn(async move { r.migrate().await })
        })
        .collect();
    let mut newly = 0;
    for run in runs {
        newly += run.await.unwrap().unwrap();
    }
    assert_eq!(newly, known, "each migration applied exactly once");
    for r in &replicas {
        assert_eq!(r.schema_version().await.unwrap(), (known, known));
        assert_eq!(r.migrate().await.unwrap(), 0);
    }
    assert!(replicas[0].audit_logs().await.unwrap().is_empty());
}

/// A database migrated by a newer build is not touched by this one.
#[tokio::test]
async fn postgres_refuses_a_schema_newer_than_it_knows() {
    let Some(db) = ScratchDb::create().await else {
        return;
    };
    let store = PgStore::connect(db.config.clone()).await.unwrap();
    let (_, known) = store.schema_version().await.unwrap();
    let mut conn = pg_connect(&db.config).await.unwrap();
    conn.execute(raw_sql(&format!(
        "INSERT INTO schema_migrations (version, applied_at) VALUES ({}, now())",
        known + 1
    )))
    .await
    .unwrap();
    conn.close().await.unwrap();
    match PgStore::connect(db.config.clone()).await {
        Err(StoreError::SchemaTooNew { found, known: k }) => {
            assert_eq!((found, k), (known + 1, known));
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("expected SchemaTooNew, the store opened"),
    }
    assert_eq!(store.schema_version().await.unwrap(), (known + 1, known));
}

/// The password reaches the server only: not the error, not the URL it names.
#[tokio::test]
async fn postgres_errors_never_show_the_password() {
    let config = PgConfig {
        password: Some("s3cret-Pa55word".into()),
        acquire_timeout: StdDuration::from_secs(3),
        // Nothing listens on port 1.
        ..PgConfig::new("postgres://clearance@127.0.0.1:1/nowhere")
    };
    let err = match PgStore::connect(config.clone()).await {
        Err(err) => err,
        Ok(_) => panic!("something answered on port 1"),
    };
    let shown = format!("{err} {err:?} {config:?}");
    assert!(!shown.contains("s3cret-Pa55word"), "{shown}");
    match err {
        StoreError::Open { path, .. } => {
            assert_eq!(path, "postgres://clearance@127.0.0.1:1/nowhere");
        }
        other => panic!("expected Open, got {other}"),
    }
    let in_url = PgConfig::new("postgres://clearance:s3cret-Pa55word@127.0.0.1:1/nowhere");
    let err = PgStore::connect(in_url).await.err().unwrap().to_string();
    assert!(!err.contains("s3cret-Pa55word"), "{err}");
    assert!(err.contains("carries a password"), "{err}");
}

/// The gateway calls the store from runtimes of its own (single-threaded workers) besides the
/// one that opened it. A connection the pool opens for such a call must still serve the
/// opening runtime's calls while that worker runtime sits idle (or is gone): the store runs
/// every query on the runtime it was opened on.
#[tokio::test]
async fn postgres_serves_callers_on_other_runtimes() {
    let Some(db) = ScratchDb::create().await else {
        return;
    };
    let config = PgConfig {
        max_connections: 4,
        ..db.config.clone()
    };
    let store = PgStore::connect(config).await.unwrap();
    let at_once = |store: PgStore| async move {
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let who = principals(&format!("id\nuser-{i}\n"));
                    store.upsert_principals(&who).await.unwrap();
                    store.principals().await.unwrap().len()
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
    };
    // A worker runtime calls (the pool opens connections for it), then stays idle: nothing
    // drives its reactor any more.
    let worker = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let from_worker = store.clone();
    let worker = tokio::task::spawn_blocking(move || {
        worker.block_on(at_once(from_worker));
        worker
    })
    .await
    .unwrap();
    tokio::time::timeout(StdDuration::from_secs(10), at_once(store.clone()))
        .await
        .expect("the opening runtime's calls are served while the worker runtime idles");
    // (Dropped off the async threads: a runtime cannot be dropped inside another.)
    tokio::task::spawn_blocking(move || drop(worker))
        .await
        .unwrap();
    tokio::time::timeout(StdDuration::from_secs(10), at_once(store.clone()))
        .await
        .expect("and once it is gone");
    assert_eq!(store.principals().await.unwrap().len(), 8);
}

/// A listener whose connection dies neither wakes its waiter early nor spins: the wait lasts
/// its time, and the next wait listens on a new connection.
#[tokio::test]
async fn postgres_wait_survives_a_killed_listener() {
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let store = b.store();
    store.wait_for_change(StdDuration::from_millis(200)).await;
    let Raw::Postgres(config) = &b.raw else {
        unreachable!()
    };
    let mut conn = pg_connect(config).await.unwrap();
    let killed: Vec<bool> = sqlx_core::query_scalar::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(killed, [true], "the store's one listener");
    conn.close().await.unwrap();
    for _ in 0..2 {
        let start = Instant::now();
        store.wait_for_change(StdDuration::from_millis(500)).await;
        let waited = start.elapsed();
        assert!(
            waited >= StdDuration::from_millis(450),
            "no early return: {waited:?}"
        );
    }
    let other = b.reopen().await;
    let bump = tokio::spawn(async move {
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        other
            .set_model_switch(&switch("mythos-5", true, Some("incident"), "cli"))
            .await
            .unwrap();
    });
    let start = Instant::now();
    store.wait_for_change(StdDuration::from_secs(10)).await;
    assert!(
        start.elapsed() < StdDuration::from_secs(1),
        "listening again"
    );
    bump.await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// SCIM provisioning

fn scim_row(kind: &str, id: &str, name: &str, version: i64) -> ScimRow {
    let at = Utc::now();
    ScimRow {
        kind: kind.into(),
        id: id.into(),
        name_key: name.to_lowercase(),
        external_id: Some(format!("ext-{id}")),
        body: format!(r#"{{"userName":"{name}"}}"#),
        version,
        created: at,
        last_modified: at,
    }
}

async fn scim_changes_commit_with_their_principals(b: &Backend) {
    let store = b.store();
    let before = store.change_versions().await.unwrap();
    let snapshot = store.scim_snapshot().await.unwrap();
    assert!(snapshot.resources.is_empty());
    let mut ana = principals("id,citizenships,residence\nana,US,US\n").remove(0);
    ana.facts_confirmed_at = Some(Utc::now());
    let version = store
        .scim_commit(&ScimCommit {
            expected_version: snapshot.version,
            put: vec![
                scim_row("User", "u1", "Ana", 1),
                scim_row("Group", "g1", "eng", 1),
            ],
            upsert_principals: vec![ana.clone()],
            ..ScimCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(version, snapshot.version + 1);
    assert!(
        store.change_versions().await.unwrap().principals > before.principals,
        "gateways reload principals after a SCIM write"
    );
    assert_eq!(
        store.principal(&pid("ana")).await.unwrap(),
        Some(ana.clone())
    );
    let stored = store.scim_resource("User", "u1").await.unwrap().unwrap();
    assert_eq!(stored.body, r#"{"userName":"Ana"}"#);
    assert_eq!(stored.external_id.as_deref(), Some("ext-u1"));
    assert!(
        store.scim_resource("Group", "u1").await.unwrap().is_none(),
        "kinds are apart"
    );
    let snapshot = store.scim_snapshot().await.unwrap();
    assert_eq!(snapshot.version, version);
    let kinds: Vec<&str> = snapshot.resources.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["Group", "User"]);

    // Replace the user (version 2) and deactivate the principal; then delete both.
    let mut updated = scim_row("User", "u1", "Ana", 2);
    updated.body = r#"{"userName":"Ana","active":false}"#.into();
    ana.active = false;
    store
        .scim_commit(&ScimCommit {
            expected_version: version,
            put: vec![updated],
            upsert_principals: vec![ana],
            ..ScimCommit::default()
        })
        .await
        .unwrap();
    let stored = store.scim_resource("User", "u1").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert!(!store.principal(&pid("ana")).await.unwrap().unwrap().active);
    let version = store.scim_snapshot().await.unwrap().version;
    store
        .scim_commit(&ScimCommit {
            expected_version: version,
            delete: vec![("User".into(), "u1".into())],
            delete_principals: vec![pid("ana")],
            ..ScimCommit::default()
        })
        .await
        .unwrap();
    assert!(store.scim_resource("User", "u1").await.unwrap().is_none());
    assert!(store.principal(&pid("ana")).await.unwrap().is_none());
    let again = b.reopen().await;
    assert_eq!(
        again.scim_snapshot().await.unwrap().resources.len(),
        1,
        "the group stays"
    );
}

async fn scim_writers_computed_from_an_old_snapshot_are_refused(b: &Backend) {
    let store = b.store();
    let snapshot = store.scim_snapshot().await.unwrap();
    let bob = principals("id,citizenships\nbob,DE\n").remove(0);
    store
        .scim_commit(&ScimCommit {
            expected_version: snapshot.version,
            put: vec![scim_row("User", "u2", "bob", 1)],
            upsert_principals: vec![bob.clone()],
            ..ScimCommit::default()
        })
        .await
        .unwrap();
    let principals_version = store.change_versions().await.unwrap().principals;
    let mut carol = bob.clone();
    carol.id = pid("carol");
    let stale = store
        .scim_commit(&ScimCommit {
            expected_version: snapshot.version,
            put: vec![scim_row("User", "u3", "carol", 1)],
            upsert_principals: vec![carol],
            ..ScimCommit::default()
        })
        .await;
    assert!(matches!(stale, Err(ScimCommitError::Conflict)), "{stale:?}");
    assert!(
        store.scim_resource("User", "u3").await.unwrap().is_none(),
        "nothing written"
    );
    assert!(
        store.principal(&pid("carol")).await.unwrap().is_none(),
        "nor its principal"
    );
    assert_eq!(
        store.change_versions().await.unwrap().principals,
        principals_version
    );
}

async fn scim_names_are_unique_per_kind_ignoring_case(b: &Backend) {
    let store = b.store();
    let version = store.scim_snapshot().await.unwrap().version;
    let version = store
        .scim_commit(&ScimCommit {
            expected_version: version,
            put: vec![
                scim_row("User", "u1", "Dana", 1),
                scim_row("Group", "g1", "dana", 1),
            ],
            ..ScimCommit::default()
        })
        .await
        .unwrap();
    let taken = store
        .scim_commit(&ScimCommit {
            expected_version: version,
            put: vec![scim_row("User", "u2", "DANA", 1)],
            ..ScimCommit::default()
        })
        .await;
    match taken {
        Err(ScimCommitError::Uniqueness { kind, name_key }) => {
            assert_eq!((kind.as_str(), name_key.as_str()), ("User", "dana"));
        }
        other => panic!("expected a uniqueness refusal, got {other:?}"),
    }
    assert_eq!(
        store.scim_snapshot().await.unwrap().version,
        version,
        "nothing bumped"
    );
}

// ---------------------------------------------------------------------------------------------
// Denied-party screening

/// A list version whose id, digest and entries all derive from `tag`.
fn screening_list(source: &str, tag: &str, imported_at: DateTime<Utc>) -> ScreeningListData {
    ScreeningListData {
        meta: ScreeningList {
            version_id: format!("{source}@{tag}"),
            source: source.into(),
            published: Some("2026-11-30".into()),
            sha256: format!("sha-{tag}"),
            record_count: 2,
            alias_count: 3,
            imported_at,
            actor: "cli".into(),
        },
        // Spacing and key order kept: the store gives back the caller's text, not its JSON.
        entries: format!(r#"[{{"id":"{tag}-1", "names":["ACME"]}},{{"id":"{tag}-2","names":[]}}]"#),
    }
}

fn review(subject: &str, entity_id: &str, decision: &str) -> ScreeningReview {
    ScreeningReview {
        id: 0,
        subject: subject.into(),
        list_source: "ofac-sdn".into(),
        entity_id: entity_id.into(),
        entry_hash: format!("entry-{entity_id}"),
        subject_hash: format!("subject-{subject}"),
        decision: decision.into(),
        reason: "date of birth differs".into(),
        actor: "admin-api".into(),
        // With nanoseconds: the store gives back exactly the instant it was given.
        at: Utc::now(),
    }
}

async fn screening_lists_commit_with_their_rescreened_principals(b: &Backend) {
    let store = b.store();
    assert!(store.screening_lists().await.unwrap().is_empty());
    assert!(store.current_screening_lists().await.unwrap().is_empty());
    store
        .upsert_principals(&principals("id,citizenships\nana,FR\nbob,DE\n"))
        .await
        .unwrap();
    let before = store.change_versions().await.unwrap();
    let list = screening_list("ofac-sdn", "v1", Utc::now());
    let rescreened = principals("id,citizenships\nana,FR;US\ncarol,SE\n");
    store.put_screening_list(&list, &rescreened).await.unwrap();

    let after = store.change_versions().await.unwrap();
    assert!(
        after.screening > before.screening,
        "gateways notice the list"
    );
    assert!(
        after.principals > before.principals,
        "and reload principals"
    );
    assert_eq!(
        (after.keys, after.model_switches, after.directives),
        (before.keys, before.model_switches, before.directives)
    );
    assert_eq!(
        store.screening_lists().await.unwrap(),
        vec![list.meta.clone()]
    );
    assert_eq!(
        store.current_screening_lists().await.unwrap(),
        vec![list.clone()]
    );
    let all = store.principals().await.unwrap();
    assert_eq!(
        all,
        [
            rescreened[0].clone(),
            principals("id,citizenships\nbob,DE\n")[0].clone(),
            rescreened[1].clone()
        ]
    );

    // A list without a publication date, and no principal to rescreen.
    let mut dpl = screening_list("bis-dpl", "d1", Utc::now());
    dpl.meta.published = None;
    store.put_screening_list(&dpl, &[]).await.unwrap();
    let again = b.reopen().await;
    assert_eq!(
        again.current_screening_lists().await.unwrap(),
        vec![dpl, list],
        "by source"
    );
    assert_eq!(
        again.change_versions().await.unwrap(),
        store.change_versions().await.unwrap()
    );
}

async fn the_latest_stored_screening_list_of_a_source_is_current(b: &Backend) {
    let store = b.store();
    let now = Utc::now();
    let v1 = screening_list("ofac-sdn", "v1", now);
    let csl = screening_list("csl", "c1", now);
    // Stored after v1 with an earlier import time (another replica's clock): still the newer.
    let v2 = screening_list("ofac-sdn", "v2", now - Duration::hours(1));
    for list in [&v1, &csl] {
        store.put_screening_list(list, &[]).await.unwrap();
    }
    let versions = store.change_versions().await.unwrap().screening;
    store.put_screening_list(&v2, &[]).await.unwrap();
    assert!(store.change_versions().await.unwrap().screening > versions);

    let current = store.current_screening_lists().await.unwrap();
    assert_eq!(current, vec![csl.clone(), v2.clone()]);
    let listed: Vec<String> = store
        .screening_lists()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.version_id)
        .collect();
    assert_eq!(
        listed,
        ["ofac-sdn@v2", "csl@c1", "ofac-sdn@v1"],
        "every version stays listed, newest first"
    );
    assert_eq!(
        store.screening_list("ofac-sdn@v1").await.unwrap(),
        Some(v1),
        "an older version is read whole"
    );
    assert_eq!(store.screening_list("ofac-sdn@v9").await.unwrap(), None);
}

async fn a_screening_list_version_is_stored_once(b: &Backend) {
    let store = b.store();
    let list = screening_list("ofac-sdn", "v1", Utc::now());
    store
        .put_screening_list(&list, &principals("id,citizenships\nana,FR\n"))
        .await
        .unwrap();
    let before = store.change_versions().await.unwrap();

    // The same file again (a re-run import): nothing is written, nothing moves.
    let mut again = list.clone();
    again.meta.imported_at = Utc::now() + Duration::minutes(5);
    again.meta.actor = "admin-api".into();
    store
        .put_screening_list(&again, &principals("id,citizenships\nana,US\n"))
        .await
        .unwrap();
    assert_eq!(store.change_versions().await.unwrap(), before);
    assert_eq!(
        store.screening_lists().await.unwrap(),
        vec![list.meta.clone()]
    );
    assert!(
        !store
            .principal(&pid("ana"))
            .await
            .unwrap()
            .unwrap()
            .us_citizen(),
        "the rescreened principals of a repeat are not written"
    );

    // Another file under the same version id is refused, and nothing is written.
    let mut other = screening_list("ofac-sdn", "v1", Utc::now());
    other.meta.sha256 = "sha-other".into();
    other.entries = "[]".into();
    match store
        .put_screening_list(&other, &principals("id,citizenships\nana,US\n"))
        .await
    {
        Err(StoreError::ScreeningVersionConflict {
            version_id,
            stored_sha256,
            given_sha256,
        }) => assert_eq!(
            (
                version_id.as_str(),
                stored_sha256.as_str(),
                given_sha256.as_str()
            ),
            ("ofac-sdn@v1", "sha-v1", "sha-other")
        ),
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(store.change_versions().await.unwrap(), before);
    assert_eq!(store.current_screening_lists().await.unwrap(), vec![list]);
    assert!(
        !store
            .principal(&pid("ana"))
            .await
            .unwrap()
            .unwrap()
            .us_citizen()
    );
}

async fn screening_imports_at_once_are_each_stored_once(b: &Backend) {
    // Two replicas import every list at once, the same versions and in another order, each
    // rescreening the principal a third one is reviewing meanwhile.
    let lists: Vec<ScreeningListData> = (1..=4)
        .map(|n| screening_list("ofac-sdn", &format!("v{n}"), Utc::now()))
        .collect();
    let ana = principals("id,citizenships\nana,FR\n");
    let mut runs = Vec::new();
    for replica in 0..2 {
        let store = b.reopen().await;
        let mut mine = lists.clone();
        if replica == 1 {
            mine.reverse();
        }
        let ana = ana.clone();
        runs.push(tokio::spawn(async move {
            for list in &mine {
                store.put_screening_list(list, &ana).await.unwrap();
            }
        }));
    }
    let reviewer = b.reopen().await;
    runs.push(tokio::spawn(async move {
        for n in 0..4 {
            let entity = format!("sdn-{n}");
            reviewer
                .add_screening_review(&review("ana", &entity, "clear"), Some(&ana[0]))
                .await
                .unwrap();
        }
    }));
    for run in runs {
        run.await.unwrap();
    }
    let store = b.store();
    let mut stored: Vec<String> = store
        .screening_lists()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.version_id)
        .collect();
    let current = store.current_screening_lists().await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(
        current[0].meta.version_id, stored[0],
        "the newest listed is the current one"
    );
    stored.sort();
    assert_eq!(
        stored,
        ["ofac-sdn@v1", "ofac-sdn@v2", "ofac-sdn@v3", "ofac-sdn@v4"]
    );
}

async fn screening_reviews_append_and_filter_by_subject(b: &Backend) {
    let store = b.store();
    assert!(store.screening_reviews(None).await.unwrap().is_empty());
    let before = store.change_versions().await.unwrap();
    let first = review("ana", "sdn-1", "clear");
    let second = review("org:Acme Ltd", "sdn-2", "confirm");
    let third = review("ana", "sdn-1", "confirm");
    let mut ids = Vec::new();
    for r in [&first, &second, &third] {
        ids.push(store.add_screening_review(r, None).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let after = store.change_versions().await.unwrap();
    assert!(after.screening > before.screening);
    assert_eq!(after.principals, before.principals, "no principal given");

    let stored = |r: &ScreeningReview, id: i64| ScreeningReview { id, ..r.clone() };
    assert_eq!(
        store.screening_reviews(None).await.unwrap(),
        vec![
            stored(&first, ids[0]),
            stored(&second, ids[1]),
            stored(&third, ids[2])
        ]
    );
    assert_eq!(
        store.screening_reviews(Some("ana")).await.unwrap(),
        vec![stored(&first, ids[0]), stored(&third, ids[2])]
    );
    assert_eq!(
        store.screening_reviews(Some("org:Acme Ltd")).await.unwrap(),
        vec![stored(&second, ids[1])]
    );
    assert!(
        store
            .screening_reviews(Some("nobody"))
            .await
            .unwrap()
            .is_empty()
    );

    // Only the two decisions are stored.
    let refused = store
        .add_screening_review(&review("ana", "sdn-3", "maybe"), None)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Query { .. })),
        "{refused:?}"
    );
    assert_eq!(store.screening_reviews(None).await.unwrap().len(), 3);
    assert_eq!(store.change_versions().await.unwrap(), after);
    let again = b.reopen().await;
    assert_eq!(
        again.screening_reviews(None).await.unwrap(),
        store.screening_reviews(None).await.unwrap()
    );
}

async fn a_screening_review_and_its_principal_commit_together(b: &Backend) {
    let store = b.store();
    store
        .upsert_principals(&principals("id,citizenships\nana,FR\n"))
        .await
        .unwrap();
    let before = store.change_versions().await.unwrap();
    let cleared = principals("id,citizenships\nana,FR;US\n").remove(0);
    let id = store
        .add_screening_review(&review("ana", "sdn-1", "clear"), Some(&cleared))
        .await
        .unwrap();
    let after = store.change_versions().await.unwrap();
    assert!(after.screening > before.screening);
    assert!(after.principals > before.principals);
    assert_eq!(
        store.principal(&pid("ana")).await.unwrap(),
        Some(cleared.clone())
    );
    assert_eq!(
        store.screening_reviews(Some("ana")).await.unwrap()[0].id,
        id
    );

    // A review that is refused leaves the principal as it was.
    let mut not_applied = cleared.clone();
    not_applied.active = false;
    let refused = store
        .add_screening_review(&review("ana", "sdn-1", "escalate"), Some(&not_applied))
        .await;
    assert!(refused.is_err());
    assert_eq!(store.principal(&pid("ana")).await.unwrap(), Some(cleared));
    assert_eq!(store.change_versions().await.unwrap(), after);
    assert_eq!(store.screening_reviews(Some("ana")).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Validated fallbacks (issue 18)

fn suite(hash: &str, name: &str) -> StoredSuite {
    StoredSuite {
        hash: hash.into(),
        name: name.into(),
        file_name: format!("{name}.toml"),
        text: format!("name = \"{name}\"\n# Zürich → 東京\n[[case]]\nid = \"c1\"\n"),
        // With nanoseconds: the store gives back exactly the instant it was given.
        stored_at: Utc::now(),
    }
}

fn validation_run(run_id: &str, suite_hash: &str, candidates: &[&str]) -> ValidationRun {
    ValidationRun {
        run_id: run_id.into(),
        suite_hash: suite_hash.into(),
        primary_model: "mythos-5".into(),
        candidates: candidates.iter().map(|c| c.to_string()).collect(),
        bar: 0.85,
        started_at: Utc::now(),
        finished_at: None,
        actor: "cli".into(),
    }
}

fn outcome(run_id: &str, model: &str, case_id: &str, result: &str) -> CaseOutcome {
    CaseOutcome {
        run_id: run_id.into(),
        model: model.into(),
        case_id: case_id.into(),
        result: result.into(),
    }
}

fn verdict(
    run: &ValidationRun,
    fallback: &str,
    score: f64,
    reason: Option<&str>,
) -> FallbackValidation {
    FallbackValidation {
        primary_model: run.primary_model.clone(),
        fallback_model: fallback.into(),
        validated: score >= run.bar,
        score,
        bar: run.bar,
        suite_name: "support".into(),
        suite_hash: run.suite_hash.clone(),
        run_id: run.run_id.clone(),
        at: Utc::now(),
        reason: reason.map(String::from),
    }
}

fn is_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Corrupt { what: w, .. }) => assert_eq!(w, what),
        other => panic!("expected a refusal about the {what}, got {other:?}"),
    }
}

async fn eval_suites_are_stored_once_by_hash(b: &Backend) {
    let store = b.store();
    assert_eq!(store.suite("sha-a").await.unwrap(), None);
    let first = suite("sha-a", "support");
    store.put_suite(&first).await.unwrap();
    assert_eq!(store.suite("sha-a").await.unwrap(), Some(first.clone()));
    // The same hash again (a later run of the same file): kept as first stored.
    let mut again = suite("sha-a", "support-renamed");
    again.stored_at = Utc::now() + Duration::minutes(5);
    store.put_suite(&again).await.unwrap();
    assert_eq!(store.suite("sha-a").await.unwrap(), Some(first.clone()));
    let other = suite("sha-b", "billing");
    store.put_suite(&other).await.unwrap();
    assert_eq!(store.suite("sha-b").await.unwrap(), Some(other));
    assert_eq!(store.suite("sha-a").await.unwrap(), Some(first));
}

async fn validation_runs_resume_until_they_finish(b: &Backend) {
    let store = b.store();
    store.put_suite(&suite("sha-s", "support")).await.unwrap();
    is_corrupt(
        store
            .start_validation_run(&validation_run("r-nosuite", "sha-unknown", &["a"]))
            .await,
        "validation run",
    );
    assert_eq!(store.validation_run("r-nosuite").await.unwrap(), None);

    let mut older = validation_run("r-old", "sha-s", &["gpt-5", "fable-5"]);
    older.started_at = Utc::now() - Duration::hours(1);
    store.start_validation_run(&older).await.unwrap();
    let mut run = validation_run("r-1", "sha-s", &["gpt-5", "fable-5"]);
    // Ignored: only finishing a run finishes it.
    run.finished_at = Some(Utc::now());
    store.start_validation_run(&run).await.unwrap();
    run.finished_at = None;
    assert_eq!(
        store.validation_run("r-1").await.unwrap(),
        Some(run.clone())
    );
    assert!(
        store
            .start_validation_run(&validation_run("r-1", "sha-s", &["x"]))
            .await
            .is_err(),
        "a run id names one run"
    );
    let candidates = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let unfinished = |primary: &'static str, names: Vec<String>| async move {
        store
            .unfinished_validation_run("sha-s", primary, &names)
            .await
            .unwrap()
            .map(|r| r.run_id)
    };
    assert_eq!(
        unfinished("mythos-5", candidates(&["gpt-5", "fable-5"]))
            .await
            .as_deref(),
        Some("r-1"),
        "the latest started"
    );
    assert_eq!(
        unfinished("mythos-5", candidates(&["fable-5", "gpt-5"])).await,
        None,
        "the candidates' order is part of the run"
    );
    assert_eq!(unfinished("mythos-5", candidates(&["gpt-5"])).await, None);
    assert_eq!(
        unfinished("gpt-5", candidates(&["gpt-5", "fable-5"])).await,
        None
    );
    assert_eq!(
        store
            .unfinished_validation_run("sha-other", "mythos-5", &candidates(&["gpt-5", "fable-5"]))
            .await
            .unwrap(),
        None
    );

    // Outcomes: replaced by key, read back by (model, case).
    for (model, case, result) in [
        ("gpt-5", "c2", r#"{"score":1.0}"#),
        ("fable-5", "c1", r#"{"score":0.5,"answer":"naïve ✓"}"#),
        ("gpt-5", "c1", r#"{"score":0.0}"#),
        ("gpt-5", "c1", r#"{"score": 0.75, "retried": true}"#),
        ("mythos-5", "c1", r#"{"score":1}"#),
    ] {
        store
            .put_case_outcome(&outcome("r-1", model, case, result))
            .await
            .unwrap();
    }
    store
        .put_case_outcome(&outcome("r-old", "gpt-5", "c1", "{}"))
        .await
        .unwrap();
    assert_eq!(
        store.case_outcomes("r-1").await.unwrap(),
        vec![
            outcome(
                "r-1",
                "fable-5",
                "c1",
                r#"{"score":0.5,"answer":"naïve ✓"}"#
            ),
            outcome("r-1", "gpt-5", "c1", r#"{"score": 0.75, "retried": true}"#),
            outcome("r-1", "gpt-5", "c2", r#"{"score":1.0}"#),
            outcome("r-1", "mythos-5", "c1", r#"{"score":1}"#),
        ],
        "ordered by (model, case id), the last write of a key kept, the text exactly"
    );
    is_corrupt(
        store
            .put_case_outcome(&outcome("r-unknown", "gpt-5", "c1", "{}"))
            .await,
        "validation run",
    );
    assert!(store.case_outcomes("r-unknown").await.unwrap().is_empty());

    // Finishing: refused for an unknown run or verdicts about another run, nothing written.
    let before = store.change_versions().await.unwrap();
    let finished_at = Utc::now() + Duration::seconds(1);
    is_corrupt(
        store
            .finish_validation_run("r-unknown", finished_at, &[])
            .await,
        "validation run",
    );
    let mut stray = verdict(&run, "gpt-5", 0.9, None);
    stray.run_id = "r-old".into();
    is_corrupt(
        store
            .finish_validation_run(
                "r-1",
                finished_at,
                &[verdict(&run, "fable-5", 0.9, None), stray],
            )
            .await,
        "validation verdict",
    );
    let mut other_primary = verdict(&run, "gpt-5", 0.9, None);
    other_primary.primary_model = "gpt-5".into();
    is_corrupt(
        store
            .finish_validation_run("r-1", finished_at, &[other_primary])
            .await,
        "validation verdict",
    );
    assert_eq!(store.change_versions().await.unwrap(), before);
    assert!(store.fallback_validations().await.unwrap().is_empty());
    assert_eq!(
        unfinished("mythos-5", candidates(&["gpt-5", "fable-5"]))
            .await
            .as_deref(),
        Some("r-1")
    );

    let verdicts = [
        verdict(&run, "gpt-5", 0.9166666666666666, None),
        verdict(
            &run,
            "fable-5",
            0.5,
            Some("3 of 12 cases below the bar: c1, c4, c9"),
        ),
    ];
    store
        .finish_validation_run("r-1", finished_at, &verdicts)
        .await
        .unwrap();
    let after = store.change_versions().await.unwrap();
    assert_eq!(
        after,
        ChangeVersions {
            validations: before.validations + 1,
            ..before
        },
        "only the validations version moves"
    );
    assert_eq!(
        store.validation_run("r-1").await.unwrap(),
        Some(ValidationRun {
            finished_at: Some(finished_at),
            ..run.clone()
        })
    );
    assert_eq!(
        unfinished("mythos-5", candidates(&["gpt-5", "fable-5"]))
            .await
            .as_deref(),
        Some("r-old"),
        "a finished run is not resumed; the older unfinished one is what is left"
    );
    assert_eq!(
        store.fallback_validations().await.unwrap(),
        vec![verdicts[1].clone(), verdicts[0].clone()],
        "by (primary, fallback), scores exactly as given"
    );
    assert_eq!(
        store.fallback_validation_history("mythos-5").await.unwrap(),
        verdicts.to_vec()
    );
    assert!(
        store
            .fallback_validation_history("gpt-5")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.finished_validation_runs().await.unwrap(),
        vec![store.validation_run("r-1").await.unwrap().unwrap()]
    );

    // A finished run takes no more outcomes and is not finished again.
    is_corrupt(
        store
            .put_case_outcome(&outcome("r-1", "gpt-5", "c1", "{}"))
            .await,
        "validation run",
    );
    is_corrupt(
        store
            .finish_validation_run("r-1", Utc::now(), &verdicts)
            .await,
        "validation run",
    );
    assert_eq!(store.change_versions().await.unwrap(), after);
    assert_eq!(
        store
            .fallback_validation_history("mythos-5")
            .await
            .unwrap()
            .len(),
        2,
        "recorded once"
    );
    assert_eq!(store.case_outcomes("r-1").await.unwrap().len(), 4);
}

async fn a_later_run_replaces_a_fallbacks_standing(b: &Backend) {
    let store = b.store();
    store.put_suite(&suite("sha-s", "support")).await.unwrap();
    let t0 = Utc::now();
    let mut first = validation_run("r-1", "sha-s", &["gpt-5", "fable-5"]);
    first.started_at = t0;
    store.start_validation_run(&first).await.unwrap();
    let first_verdicts = [
        verdict(&first, "gpt-5", 0.95, None),
        verdict(&first, "fable-5", 0.4, Some("refuses tool calls")),
    ];
    store
        .finish_validation_run("r-1", t0 + Duration::minutes(1), &first_verdicts)
        .await
        .unwrap();

    let mut other_primary = validation_run("r-q", "sha-s", &["open-model"]);
    other_primary.primary_model = "gpt-5".into();
    other_primary.started_at = t0 + Duration::minutes(2);
    store.start_validation_run(&other_primary).await.unwrap();
    let q = verdict(&other_primary, "open-model", 0.86, None);
    store
        .finish_validation_run("r-q", t0 + Duration::minutes(3), std::slice::from_ref(&q))
        .await
        .unwrap();

    let mut second = validation_run("r-2", "sha-s", &["fable-5"]);
    second.started_at = t0 + Duration::minutes(4);
    second.bar = 0.8;
    store.start_validation_run(&second).await.unwrap();
    let fixed = verdict(&second, "fable-5", 0.81, None);
    store
        .finish_validation_run(
            "r-2",
            t0 + Duration::minutes(5),
            std::slice::from_ref(&fixed),
        )
        .await
        .unwrap();

    assert_eq!(
        store.fallback_validations().await.unwrap(),
        vec![q.clone(), fixed.clone(), first_verdicts[0].clone()],
        "fable-5's standing is the later run's; gpt-5's stays the first run's"
    );
    assert_eq!(
        store.fallback_validation_history("mythos-5").await.unwrap(),
        vec![
            first_verdicts[0].clone(),
            first_verdicts[1].clone(),
            fixed.clone()
        ],
        "every verdict, oldest first"
    );
    assert_eq!(
        store.fallback_validation_history("gpt-5").await.unwrap(),
        vec![q]
    );
    let finished: Vec<String> = store
        .finished_validation_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(finished, ["r-2", "r-q", "r-1"], "newest first");
    let latest = &store.finished_validation_runs().await.unwrap()[0];
    assert_eq!(
        (latest.bar, &latest.candidates, latest.finished_at),
        (
            0.8,
            &vec!["fable-5".to_string()],
            Some(t0 + Duration::minutes(5))
        )
    );
    // Survives reopening, as another process (a gateway reloading) reads it.
    let reopened = b.reopen().await;
    assert_eq!(
        reopened.fallback_validations().await.unwrap(),
        store.fallback_validations().await.unwrap()
    );
}

async fn a_run_finished_twice_at_once_is_recorded_once(b: &Backend) {
    let store = b.store();
    store.put_suite(&suite("sha-s", "support")).await.unwrap();
    let run = validation_run("r-1", "sha-s", &["gpt-5"]);
    store.start_validation_run(&run).await.unwrap();
    let before = store.change_versions().await.unwrap();
    let mut finishers = Vec::new();
    for i in 0..4 {
        // Each as another process (replica) would finish it.
        let other = b.reopen().await;
        let run = run.clone();
        finishers.push(async move {
            let v = verdict(&run, "gpt-5", 0.9 + f64::from(i) / 100.0, None);
            other
                .finish_validation_run("r-1", Utc::now(), &[v])
                .await
                .is_ok()
        });
    }
    let results = futures_join(finishers).await;
    assert_eq!(
        results.iter().filter(|ok| **ok).count(),
        1,
        "exactly one finish wins: {results:?}"
    );
    assert_eq!(
        store.change_versions().await.unwrap().validations,
        before.validations + 1
    );
    assert_eq!(
        store
            .fallback_validation_history("mythos-5")
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Runs the futures at once, each on a task of its own, and gives their results in order.
async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

fn capture(app: &str, n: i64, at: DateTime<Utc>) -> Capture {
    Capture {
        id: 0,
        app: app.into(),
        model: "mythos-5".into(),
        api: "openai_chat".into(),
        at,
        request: format!(r#"{{"messages":[{{"role":"user","content":"question {n} ✓"}}]}}"#),
        answer: format!("answer {n}"),
    }
}

async fn captures_keep_the_newest_per_app(b: &Backend) {
    let store = b.store();
    let t0 = Utc::now();
    let at = |s: i64| t0 + Duration::seconds(s);
    // Stored out of time order; 4 and 5 at the same instant (the later stored is newer).
    for (n, s) in [(1, 10), (3, 30), (2, 20), (4, 40), (5, 40)] {
        store
            .put_capture(&capture("ide", n, at(s)), 3)
            .await
            .unwrap();
    }
    for n in 1..=2 {
        store
            .put_capture(&capture("chat-ui", n, at(n)), 3)
            .await
            .unwrap();
    }
    let ide = store.captures("ide", 10).await.unwrap();
    let answers: Vec<&str> = ide.iter().map(|c| c.answer.as_str()).collect();
    assert_eq!(
        answers,
        ["answer 5", "answer 4", "answer 3"],
        "newest first, 3 kept"
    );
    assert!(ide.iter().all(|c| c.id > 0), "the store gives ids");
    assert!(ide[0].id > ide[1].id);
    assert_eq!(
        ide[2],
        Capture {
            id: ide[2].id,
            ..capture("ide", 3, at(30))
        },
        "given back exactly"
    );
    assert_eq!(store.captures("ide", 2).await.unwrap(), ide[..2].to_vec());
    assert_eq!(
        store.captures("chat-ui", 10).await.unwrap().len(),
        2,
        "another app's captures are its own"
    );
    assert!(store.captures("batch", 10).await.unwrap().is_empty());
    // A lower bound later trims at once.
    store
        .put_capture(&capture("ide", 6, at(5)), 1)
        .await
        .unwrap();
    let ide: Vec<String> = store
        .captures("ide", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.answer)
        .collect();
    assert_eq!(
        ide,
        ["answer 5"],
        "the newest by time is kept, not the last stored"
    );
}

/// `owner`'s response `id`, continuing `previous`, created `created` and kept until
/// `expires`.
fn kept(
    id: &str,
    owner: &str,
    previous: Option<&str>,
    created: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> KeptResponse {
    KeptResponse {
        id: id.into(),
        owner: owner.into(),
        previous: previous.map(String::from),
        created_at: created,
        expires_at: expires,
        input: format!(r#"[{{"role":"user","content":"turn {id} ✓"}}]"#),
        response: format!(r#"{{"id":"{id}","object":"response","output":[]}}"#),
    }
}

/// The ids of a chain, in the order given.
fn ids(chain: &[KeptResponse]) -> Vec<&str> {
    chain.iter().map(|r| r.id.as_str()).collect()
}

/// A time with all nine fraction digits in use, so that a store that rounds them is caught.
fn nano_now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::<Utc>::from_timestamp(now.timestamp(), 123_456_789).unwrap()
}

async fn kept_responses_chain_back_oldest_first(b: &Backend) {
    let store = b.store();
    let t0 = nano_now();
    let at = |s: i64| t0 + Duration::seconds(s);
    let day = Duration::days(1);
    let a = kept("resp_a", "alice", None, at(0), at(0) + day);
    let b1 = kept("resp_b", "alice", Some("resp_a"), at(1), at(1) + day);
    let c = kept("resp_c", "alice", Some("resp_b"), at(2), at(2) + day);
    // Stored newest first: the chain follows `previous`, not the order of storing.
    for r in [&c, &b1, &a] {
        store.put_response(r).await.unwrap();
    }
    let now = at(3);
    let chain = store
        .response_chain("alice", "resp_c", now, 10)
        .await
        .unwrap();
    assert_eq!(
        chain,
        vec![a.clone(), b1.clone(), c.clone()],
        "oldest first, given back exactly"
    );
    assert_eq!(
        store
            .response_chain("alice", "resp_c", now, 3)
            .await
            .unwrap(),
        chain,
        "exactly max"
    );
    let two = store
        .response_chain("alice", "resp_c", now, 2)
        .await
        .unwrap();
    assert_eq!(ids(&two), ["resp_b", "resp_c"], "the newest max of them");
    assert_eq!(
        two[0].previous.as_deref(),
        Some("resp_a"),
        "a cut chain says it continues"
    );
    assert_eq!(
        ids(&store
            .response_chain("alice", "resp_c", now, 1)
            .await
            .unwrap()),
        ["resp_c"]
    );
    assert!(
        store
            .response_chain("alice", "resp_c", now, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .response_chain("alice", "resp_b", now, 10)
            .await
            .unwrap(),
        vec![a.clone(), b1.clone()],
        "a chain ends at the response asked for"
    );
    assert_eq!(
        store
            .response_chain("alice", "resp_a", now, 10)
            .await
            .unwrap(),
        vec![a.clone()]
    );
    assert!(
        store
            .response_chain("alice", "resp_nope", now, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The same id again replaces what was kept: here it now starts a conversation of its own.
    let b2 = KeptResponse {
        previous: None,
        response: r#"{"id":"resp_b","object":"response","output":["again"]}"#.into(),
        ..kept("resp_b", "alice", None, at(2), at(2) + day)
    };
    store.put_response(&b2).await.unwrap();
    assert_eq!(
        store
            .response_chain("alice", "resp_c", now, 10)
            .await
            .unwrap(),
        vec![b2.clone(), c.clone()],
        "replaced, not kept twice"
    );

    // A cycle (only possible by replacing) still ends at max.
    store
        .put_response(&kept("resp_b", "alice", Some("resp_c"), at(2), at(2) + day))
        .await
        .unwrap();
    assert_eq!(
        ids(&store
            .response_chain("alice", "resp_c", now, 5)
            .await
            .unwrap()),
        ["resp_c", "resp_b", "resp_c", "resp_b", "resp_c"]
    );
}

async fn kept_responses_are_their_owners_alone(b: &Backend) {
    let store = b.store();
    let t0 = nano_now();
    let at = |s: i64| t0 + Duration::seconds(s);
    let day = Duration::days(1);
    let a = kept("resp_a", "alice", None, at(0), at(0) + day);
    let b1 = kept("resp_b", "alice", Some("resp_a"), at(1), at(1) + day);
    // Bob's response names Alice's as its previous: it is not followed for him.
    let m = kept("resp_m", "bob", Some("resp_b"), at(2), at(2) + day);
    for r in [&a, &b1, &m] {
        store.put_response(r).await.unwrap();
    }
    let now = at(3);
    assert!(
        store
            .response_chain("bob", "resp_b", now, 10)
            .await
            .unwrap()
            .is_empty(),
        "another owner's response reads as absent"
    );
    assert_eq!(
        store
            .response_chain("bob", "resp_m", now, 10)
            .await
            .unwrap(),
        vec![m.clone()],
        "another owner's responses are not followed"
    );
    assert!(
        !store.delete_response("bob", "resp_b").await.unwrap(),
        "another owner cannot delete it"
    );
    assert!(!store.delete_response("alice", "resp_m").await.unwrap());
    assert_eq!(
        store
            .response_chain("alice", "resp_b", now, 10)
            .await
            .unwrap(),
        vec![a.clone(), b1.clone()],
        "left alone"
    );
    assert_eq!(
        store
            .response_chain("bob", "resp_m", now, 10)
            .await
            .unwrap(),
        vec![m.clone()]
    );
    assert!(!store.delete_response("alice", "resp_nope").await.unwrap());
    assert!(store.delete_response("alice", "resp_a").await.unwrap());
    assert!(
        !store.delete_response("alice", "resp_a").await.unwrap(),
        "deleted once"
    );
    assert!(store.delete_response("bob", "resp_m").await.unwrap());
    assert!(
        store
            .response_chain("bob", "resp_m", now, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn gone_responses_end_a_chain(b: &Backend) {
    let store = b.store();
    let t0 = nano_now();
    let at = |s: i64| t0 + Duration::seconds(s);
    // The middle one expires first, at 100 s.
    let a = kept("resp_a", "alice", None, at(0), at(1000));
    let b1 = kept("resp_b", "alice", Some("resp_a"), at(1), at(100));
    let c = kept("resp_c", "alice", Some("resp_b"), at(2), at(1000));
    for r in [&a, &b1, &c] {
        store.put_response(r).await.unwrap();
    }
    let nano = Duration::nanoseconds(1);
    assert_eq!(
        ids(&store
            .response_chain("alice", "resp_c", at(100) - nano, 10)
            .await
            .unwrap()),
        ["resp_a", "resp_b", "resp_c"],
        "unexpired a nanosecond before"
    );
    let cut = store
        .response_chain("alice", "resp_c", at(100), 10)
        .await
        .unwrap();
    assert_eq!(
        cut,
        vec![c.clone()],
        "the chain stops at the expired middle"
    );
    assert_eq!(cut[0].previous.as_deref(), Some("resp_b"));
    assert!(
        store
            .response_chain("alice", "resp_b", at(100), 10)
            .await
            .unwrap()
            .is_empty(),
        "an expired response reads as gone from its expiry on"
    );
    assert_eq!(
        store
            .response_chain("alice", "resp_a", at(100), 10)
            .await
            .unwrap(),
        vec![a.clone()]
    );
    assert!(
        store
            .response_chain("alice", "resp_a", at(1000), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A deleted middle ends the chain too.
    let now = at(50);
    assert_eq!(
        store
            .response_chain("alice", "resp_c", now, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(store.delete_response("alice", "resp_b").await.unwrap());
    let cut = store
        .response_chain("alice", "resp_c", now, 10)
        .await
        .unwrap();
    assert_eq!(cut, vec![c.clone()]);
    assert_eq!(cut[0].previous.as_deref(), Some("resp_b"));
    assert_eq!(
        store
            .response_chain("alice", "resp_a", now, 10)
            .await
            .unwrap(),
        vec![a.clone()],
        "what it continued is still there"
    );
}

async fn keeping_a_response_deletes_expired_ones(b: &Backend) {
    let store = b.store();
    let t0 = nano_now();
    let at = |s: i64| t0 + Duration::seconds(s);
    let nano = Duration::nanoseconds(1);
    let x = kept("resp_x", "alice", None, at(0), at(10));
    let y = kept("resp_y", "bob", None, at(0), at(10) + nano);
    let z = kept("resp_z", "alice", None, at(0), at(1000));
    for r in [&x, &y, &z] {
        store.put_response(r).await.unwrap();
    }
    // Read as of a time they were all unexpired: what is missing then was deleted.
    let present = async |owner: &str, id: &str| {
        !store
            .response_chain(owner, id, at(5), 10)
            .await
            .unwrap()
            .is_empty()
    };
    assert!(present("alice", "resp_x").await);
    assert!(present("bob", "resp_y").await);
    // Created when x expires (exactly) and a nanosecond before y does.
    store
        .put_response(&kept("resp_n", "carol", None, at(10), at(2000)))
        .await
        .unwrap();
    assert!(
        !present("alice", "resp_x").await,
        "a response that expired at or before the new one was created is deleted"
    );
    assert!(present("bob", "resp_y").await, "an unexpired one is kept");
    assert!(present("alice", "resp_z").await);
    assert!(present("carol", "resp_n").await, "the new one is kept");
    // Whoever's they are.
    store
        .put_response(&kept("resp_o", "carol", None, at(20), at(2000)))
        .await
        .unwrap();
    assert!(!present("bob", "resp_y").await);
    assert!(present("alice", "resp_z").await);
    assert!(present("carol", "resp_n").await);
}

async fn audit_usage_reads_request_records_in_the_window(b: &Backend) {
    use clearance_core::audit::{Attempt, AttemptOutcome, Phase};
    let store = b.store();
    // Whole seconds from an hour ago, so the log's opening record (now) falls in the window
    // and must be left out by its decision, not its time.
    let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 3600, 0).unwrap();
    let at = |ms: i64| t0 + Duration::milliseconds(ms);
    let mut decision = record(1);
    decision.id = "req-a".into();
    decision.time = at(10_000);
    decision.key_id = Some("0011223344556677".into());
    decision.served_model = None;
    decision.phase = Phase::Decision;
    decision.facts = Some(facts("US", &principals("id,citizenships\nalice,FR\n")[0]));
    let mut completion = decision.clone().into_completion();
    completion.time = at(12_500);
    completion.decision = Decision::Fallback;
    completion.served_model = Some("gpt-5".into());
    completion.input_tokens = Some(120);
    completion.output_tokens = Some(48);
    completion.attempts = vec![
        Attempt {
            model: "mythos-5".into(),
            outcome: AttemptOutcome::Timeout,
            ms: 30_000,
            status: None,
        },
        Attempt {
            model: "gpt-5".into(),
            outcome: AttemptOutcome::Served,
            ms: 800,
            status: Some(200),
        },
    ];
    let mut refused = record(2);
    refused.id = "req-b".into();
    refused.time = at(11_000);
    refused.decision = Decision::Rejected;
    refused.principal_id = None;
    refused.requested_model = None;
    refused.served_model = None;
    refused.status = 401;
    let mut before = record(3);
    before.id = "req-early".into();
    before.time = at(500); // before the window (it starts at 0.7 s)
    let mut old = record(4);
    old.id = "req-pruned".into();
    old.time = at(-600_000);
    let mut late = record(5);
    late.id = "req-late".into();
    late.time = at(10_700); // written after later records
    let admin = AuditRecord::admin(
        "admin-1".into(),
        at(11_500),
        AdminAction {
            action: "model_disable".into(),
            target: "mythos-5".into(),
            reason: Some("incident".into()),
            actor: "admin-api".into(),
            details: None,
        },
        200,
    );
    let mut head = open(store, "log-u", at(-700_000)).await;
    let sealed: Vec<_> = [
        &old,
        &before,
        &decision,
        &refused,
        &admin,
        &completion,
        &late,
    ]
    .into_iter()
    .map(|r| head.seal(r))
    .collect();
    store.append_audit("log-u", &sealed).await.unwrap();
    assert_eq!(store.prune_audit_before(at(-1_000)).await.unwrap(), 1);

    let usage = |r: &AuditRecord| UsageRow {
        request_id: r.id.clone(),
        time: r.time,
        phase: r.phase,
        key_id: r.key_id.clone(),
        principal_id: r.principal_id.clone(),
        requested_model: r.requested_model.clone(),
        served_model: r.served_model.clone(),
        decision: r.decision,
        attempts: r
            .attempts
            .iter()
            .map(|a| (a.model.clone(), a.outcome.as_str().to_string()))
            .collect(),
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
    };
    let expected = vec![
        usage(&decision),
        usage(&late),
        usage(&refused),
        usage(&completion),
    ];
    assert_eq!(
        store.audit_usage(at(700)).await.unwrap(),
        expected,
        "in time order (the late record in its place); the record at 0.5 s (in the window's \
         first second, before its instant), the admin action and the log's opening left out"
    );
    assert_eq!(
        store.audit_usage(at(-3_600_000)).await.unwrap()[0],
        usage(&before),
        "the pruned record is left out, the rest is there"
    );
    assert_eq!(store.audit_usage(at(-3_600_000)).await.unwrap().len(), 5);
    assert_eq!(
        store.audit_usage(at(10_700)).await.unwrap(),
        expected[1..].to_vec(),
        "the window includes its first instant"
    );
    assert_eq!(
        store.audit_usage(at(10_701)).await.unwrap(),
        expected[2..].to_vec()
    );
    assert!(store.audit_usage(at(20_000)).await.unwrap().is_empty());
}

/// A record whose JSON does not read is an error naming it, not a row left out; and a window
/// of such records (many chunks of work on SQLite) ends in that error, not in a hang.
async fn audit_usage_refuses_unreadable_records(b: &Backend) {
    let store = b.store();
    let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 3600, 0).unwrap();
    let mut head = open(store, "log-x", t0).await;
    for batch in 0..4 {
        let sealed: Vec<_> = (0..5_000)
            .map(|i| {
                let mut r = record(batch * 5_000 + i);
                r.time = t0 + Duration::milliseconds((batch * 5_000 + i) as i64);
                head.seal(&r)
            })
            .collect();
        store.append_audit("log-x", &sealed).await.unwrap();
    }
    assert_eq!(store.audit_usage(t0).await.unwrap().len(), 20_000);
    b.execute("UPDATE audit SET record = substr(record, 2) WHERE id = 'req-12345'")
        .await;
    match store.audit_usage(t0).await {
        Err(StoreError::Corrupt { what, detail }) => {
            assert_eq!(what, "audit record");
            assert!(detail.contains("log `log-x` record #12347"), "{detail}");
        }
        other => panic!(
            "expected an unreadable record, got {:?}",
            other.map(|u| u.len())
        ),
    }
    b.execute("UPDATE audit SET record = 'x' || record WHERE id LIKE 'req-%'")
        .await;
    assert!(matches!(
        store.audit_usage(t0).await,
        Err(StoreError::Corrupt { .. })
    ));
    // Records before the window are not read at all.
    assert!(
        store
            .audit_usage(t0 + Duration::hours(2))
            .await
            .unwrap()
            .is_empty()
    );
}
