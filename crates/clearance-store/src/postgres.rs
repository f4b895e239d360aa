//! The PostgreSQL backend, for several gateway replicas on one database: a connection pool
//! (sqlx), migrations guarded by an advisory lock so replicas starting together do not race,
//! one audit log per writer appended with one multi-row insert per batch, and change
//! notifications (`NOTIFY clearance_changes`) so replicas reload at once instead of at their
//! next poll.
//!
//! Durability: every connection runs with `synchronous_commit = on` (set when it connects,
//! whatever the server's default), so a commit returns only once it is flushed to the WAL:
//! a batch the store acknowledged survives a crash of the process and of the database server.
//!
//! Runtimes: the gateway calls the store from several tokio runtimes (its single-threaded
//! workers and the main one), but a sqlx connection belongs to the runtime whose reactor owns
//! its socket. So the runtime [`PgStore::connect`] runs on is kept, and every query runs there
//! (`Handle::spawn`); callers on other runtimes just await the result.
//!
//! Secrets: the URL never carries the password (it is rejected if it does): the password comes
//! from [`PgConfig::password`] and goes into the connection options, never into a string the
//! store prints. [`StoreError::Open`] names the URL, which then holds no password either.

use std::borrow::Cow;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clearance_core::audit::SealedRecord;
use clearance_core::key::{KeyId, StoredKey};
use clearance_core::principal::{Principal, PrincipalId};
use serde_json::value::RawValue;
use sqlx_core::Url;
use sqlx_core::executor::Executor;
use sqlx_core::pool::PoolOptions;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::raw_sql::raw_sql;
use sqlx_postgres::{PgConnectOptions, PgListener, PgPool, PgSslMode, Postgres};
use tokio::runtime::Handle;

use clearance_tlog::{Frontier, Hash, NodeId};

use crate::rows::{
    AuditRow, CAPTURE_COLUMNS, CaptureRow, CheckpointRow, KeyRow, RESPONSE_COLUMNS, RUN_COLUMNS,
    ResponseRow, RunRow, SCREENING_LIST_COLUMNS, SCREENING_REVIEW_COLUMNS, SUITE_COLUMNS,
    ScimDbRow, ScreeningListRow, ScreeningReviewRow, SuiteRow, SwitchRow, VERDICT_COLUMNS,
    VerdictRow, candidates_text, capture_from_row, check_verdicts, checkpoint_from_row,
    comparable_time, completed_nodes, exact_time, frontier_before, key_from_row, leaves_of,
    log_from_row, logged_from_row, no_open_run, node_id, principal_from_json, principal_rows,
    response_from_row, run_from_row, same_screening_list, scim_from_row, scim_time,
    screening_list_from_row, screening_review_from_row, sealed_from_row, suite_from_row,
    suite_not_stored, switch_from_row, time_from_text, tree_hash, usage_from_record,
    verdict_from_row,
};
use crate::{
    AuditLog, Capture, CaseOutcome, ChangeVersions, DerivedColumns, DirectiveFile, DirectiveSet,
    FactGroup, FactGroups, FallbackValidation, ImportSummary, KeptResponse, LoggedRecord,
    ModelSwitch, ScimCommit, ScimCommitError, ScimRow, ScimSnapshot, ScreeningList,
    ScreeningListData, ScreeningReview, Store, StoreError, StoredCheckpoint, StoredSuite,
    TimeCursor, UsageRow, ValidationRun,
};

/// Migrations in order; `schema_migrations` holds the versions (1-based) that have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_verifiable_log.sql"),
    include_str!("../migrations/postgres/0003_scim.sql"),
    include_str!("../migrations/postgres/0004_screening.sql"),
    include_str!("../migrations/postgres/0005_validation.sql"),
    include_str!("../migrations/postgres/0006_responses.sql"),
];

/// The migration that adds the Merkle tree: existing logs get theirs right after it runs, in
/// its transaction ([`backfill_trees`]).
const TREE_MIGRATION: usize = 2;

/// How many records the tree backfill reads at a time.
const BACKFILL_PAGE: i64 = 10_000;

/// The advisory lock every migration transaction takes first ("clearanc" in ASCII), so
/// replicas that start together apply each migration once, one after the other.
const MIGRATION_LOCK: i64 = 0x636c_6561_7261_6e63;

/// The channel every change-version bump notifies, in the bump's own transaction.
const CHANGES_CHANNEL: &str = "clearance_changes";

/// How to reach the database.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgres://user@host:port/database?sslmode=...`, without a password (a URL with one is
    /// refused: it would end up in logs and error messages).
    pub url: String,
    /// The password, resolved by the config layer from the environment variable it names.
    pub password: Option<String>,
    /// The pool's size. The audit writer and the registry refresh take one connection each
    /// while they work; admin API calls and the CLI the rest.
    pub max_connections: u32,
    /// How long a query waits for a free (or new) connection before it fails.
    pub acquire_timeout: Duration,
    /// Refuse any connection that is not TLS, even to a local server. Without it a remote
    /// server still gets `sslmode=require` unless the URL names a mode itself.
    pub require_tls: bool,
}

impl PgConfig {
    /// A config for `url` with the defaults: 10 connections, a 5 s acquire timeout, no
    /// password, TLS as the host calls for.
    pub fn new(url: impl Into<String>) -> PgConfig {
        PgConfig {
            url: url.into(),
            password: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            require_tls: false,
        }
    }
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redacted_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("require_tls", &self.require_tls)
            .finish()
    }
}

/// The PostgreSQL store. Cheap to clone: clones share the pool and the listener.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// The runtime the pool's connections live on; every query runs there.
    handle: Handle,
    /// A pool of one connection for the change listener, so it never takes one of the
    /// queries' connections. Connects on first use.
    listener_pool: PgPool,
    /// Created on the first [`Store::wait_for_change`]; dropped on any error (and created
    /// again by the next wait).
    listener: Arc<tokio::sync::Mutex<Option<PgListener>>>,
}

fn query_err(doing: &'static str) -> impl FnOnce(sqlx_core::Error) -> StoreError {
    move |source| StoreError::Query {
        doing,
        source: source.into(),
    }
}

fn open_err(path: &str) -> impl FnOnce(sqlx_core::Error) -> StoreError + '_ {
    move |source| StoreError::Open {
        path: path.to_string(),
        source: source.into(),
    }
}

/// `url` as it may be shown: without a password (in the authority or as a parameter).
fn redacted_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => strip_password(&parsed).to_string(),
        Err(_) => "(an unparsable PostgreSQL URL)".to_string(),
    }
}

fn strip_password(url: &Url) -> Url {
    let mut clean = url.clone();
    let _ = clean.set_password(None);
    if url.query_pairs().any(|(k, _)| k == "password") {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "password")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            clean.set_query(None);
        } else {
            clean.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    clean
}

/// Whether the server is on this machine (loopback or a unix socket), where plaintext is the
/// usual setup.
fn is_local(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    options.get_socket().is_some()
        || host.starts_with('/')
        || matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

fn ssl_strength(mode: PgSslMode) -> u8 {
    match mode {
        PgSslMode::Disable => 0,
        PgSslMode::Allow => 1,
        PgSslMode::Prefer => 2,
        PgSslMode::Require => 3,
        PgSslMode::VerifyCa => 4,
        PgSslMode::VerifyFull => 5,
    }
}

/// The connection options for `config`, and the URL to name in errors (without a password).
///
/// TLS: a `sslmode` the URL names is kept as it is. Otherwise a remote server (not loopback,
/// not a unix socket) gets at least `require`, and so does every server with `require_tls`;
/// with `require_tls`, a URL whose mode allows plaintext is refused.
fn connect_options(config: &PgConfig) -> Result<(PgConnectOptions, String), StoreError> {
    let url = Url::parse(&config.url).map_err(|e| StoreError::Open {
        path: "(an unparsable PostgreSQL URL)".into(),
        source: format!("not a PostgreSQL URL: {e}").into(),
    })?;
    let shown = strip_password(&url).to_string();
    let refuse = |why: String| StoreError::Open {
        path: shown.clone(),
        source: why.into(),
    };
    if url.password().is_some() || url.query_pairs().any(|(k, _)| k == "password") {
        return Err(refuse(
            "the URL carries a password; give it through the environment variable the config \
             names instead"
                .into(),
        ));
    }
    let mut options = PgConnectOptions::from_str(url.as_str()).map_err(open_err(&shown))?;
    let url_names_mode = url
        .query_pairs()
        .any(|(k, _)| k == "sslmode" || k == "ssl-mode");
    let wants_tls = config.require_tls || !is_local(&options);
    if !url_names_mode && wants_tls && ssl_strength(options.get_ssl_mode()) < 3 {
        options = options.ssl_mode(PgSslMode::Require);
    }
    if config.require_tls && ssl_strength(options.get_ssl_mode()) < 3 {
        return Err(refuse(format!(
            "TLS is required but the URL's sslmode ({:?}) allows plaintext; use sslmode=require, \
             verify-ca or verify-full",
            options.get_ssl_mode()
        )));
    }
    if let Some(password) = &config.password {
        options = options.password(password);
    }
    Ok((options.application_name("clearance"), shown))
}

fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PoolOptions<Postgres> {
    PoolOptions::<Postgres>::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(acquire_timeout)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET synchronous_commit = on").await?;
                Ok(())
            })
        })
}

impl PgStore {
    /// Connects and brings the schema up to date (waiting for another replica that is
    /// migrating the same database). Queries run on the runtime this is called on.
    pub async fn connect(config: PgConfig) -> Result<PgStore, StoreError> {
        let store = PgStore::connect_without_migrating(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema (`clearance migrate` and status checks).
    pub async fn connect_without_migrating(config: PgConfig) -> Result<PgStore, StoreError> {
        let (options, shown) = connect_options(&config)?;
        let handle = Handle::try_current().map_err(|e| StoreError::Worker(e.to_string()))?;
        let pool = pool_options(config.max_connections, config.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(open_err(&shown))?;
        let listener_pool = pool_options(1, config.acquire_timeout)
            // The listener holds its connection for as long as it lives.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                handle,
                listener_pool,
                listener: Arc::new(tokio::sync::Mutex::new(None)),
            }),
        })
    }

    /// Runs `work` on the store's runtime.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.inner
            .handle
            .spawn(work)
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    fn pool(&self) -> PgPool {
        self.inner.pool.clone()
    }

    /// The audit logs matching `filter` (SQL over `audit_logs`, `$1` bound to `param` when
    /// given), oldest first.
    async fn select_logs(
        &self,
        filter: &'static str,
        param: Option<String>,
        doing: &'static str,
    ) -> Result<Vec<AuditLog>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let sql = format!(
                "SELECT log_id, replica, opened_at, closed_at, head_seq, head_hash FROM audit_logs
                 WHERE {filter} ORDER BY opened_at, log_id"
            );
            let query = query_as::<_, (String, String, String, Option<String>, i64, String)>(&sql);
            let query = match param {
                Some(param) => query.bind(param),
                None => query,
            };
            let rows = query.fetch_all(&pool).await.map_err(query_err(doing))?;
            rows.into_iter().map(log_from_row).collect()
        })
        .await
    }

    /// How many migrations the database has run, and how many this build knows.
    pub async fn schema_version(&self) -> Result<(usize, usize), StoreError> {
        let pool = self.pool();
        self.run(async move {
            let fail = |source: sqlx_core::Error| StoreError::Migration {
                version: 0,
                source: source.into(),
            };
            let exists: Option<String> =
                query_scalar("SELECT to_regclass('schema_migrations')::text")
                    .fetch_one(&pool)
                    .await
                    .map_err(fail)?;
            if exists.is_none() {
                return Ok((0, MIGRATIONS.len()));
            }
            let applied: i32 =
                query_scalar("SELECT coalesce(max(version), 0) FROM schema_migrations")
                    .fetch_one(&pool)
                    .await
                    .map_err(fail)?;
            Ok((usize::try_from(applied).unwrap_or(0), MIGRATIONS.len()))
        })
        .await
    }

    /// Applies the migrations the database has not run yet, each in its own transaction
    /// under an advisory lock; how many this call applied (0 when another replica did).
    /// A database at a newer migration than this build knows is [`StoreError::SchemaTooNew`].
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        self.run(migrate_all(self.pool())).await
    }
}

/// Runs the migrations `pool`'s database lacks, one transaction each; how many it ran.
async fn migrate_all(pool: PgPool) -> Result<usize, StoreError> {
    let mut newly = 0;
    loop {
        let fail = |version: usize| {
            move |source: sqlx_core::Error| StoreError::Migration {
                version,
                source: source.into(),
            }
        };
        let mut tx = pool.begin().await.map_err(fail(0))?;
        // Held until this transaction ends: another replica migrating waits here, then finds
        // the migration applied.
        query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(fail(0))?;
        (&mut *tx)
            .execute(raw_sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    integer PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            ))
            .await
            .map_err(fail(0))?;
        let applied: i32 = query_scalar("SELECT coalesce(max(version), 0) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(fail(0))?;
        let applied = usize::try_from(applied).unwrap_or(0);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::SchemaTooNew {
                found: applied,
                known: MIGRATIONS.len(),
            });
        }
        if applied == MIGRATIONS.len() {
            tx.commit().await.map_err(fail(0))?;
            return Ok(newly);
        }
        let version = applied + 1;
        (&mut *tx)
            .execute(raw_sql(MIGRATIONS[version - 1]))
            .await
            .map_err(fail(version))?;
        if version == TREE_MIGRATION {
            backfill_trees(&mut tx).await.map_err(fail(version))?;
        }
        query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())")
            .bind(i32::try_from(version).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await
            .map_err(fail(version))?;
        tx.commit().await.map_err(fail(version))?;
        newly += 1;
    }
}

/// Builds the Merkle tree of every log that has none from its records, in sequence order
/// (leaf index = seq - 1), a page at a time. A log with a gap in its sequence numbers gets the
/// tree of its records before the gap (`verify` reports the gap).
async fn backfill_trees(tx: &mut sqlx_postgres::PgConnection) -> Result<(), sqlx_core::Error> {
    let logs: Vec<String> = query_scalar(
        "SELECT log_id FROM audit_logs AS l
         WHERE NOT EXISTS (SELECT 1 FROM audit_tree AS t WHERE t.log_id = l.log_id)",
    )
    .fetch_all(&mut *tx)
    .await?;
    for log_id in &logs {
        let mut frontier = Frontier::new();
        'pages: loop {
            let page: Vec<(i64, String)> = query_as(
                "SELECT seq, record FROM audit WHERE log_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(log_id)
            .bind(to_i64(frontier.size()))
            .bind(BACKFILL_PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let full = page.len() as i64 == BACKFILL_PAGE;
            let mut nodes = TreeColumns::default();
            let mut gap = false;
            for (seq, record) in &page {
                if u64::try_from(*seq).ok() != Some(frontier.size() + 1) {
                    gap = true;
                    break;
                }
                nodes.extend(frontier.append(clearance_tlog::merkle::leaf_hash(record.as_bytes())));
            }
            query(
                "INSERT INTO audit_tree (log_id, level, idx, hash)
                 SELECT $1, * FROM UNNEST($2::smallint[], $3::bigint[], $4::bytea[])",
            )
            .bind(log_id)
            .bind(&nodes.level)
            .bind(&nodes.idx)
            .bind(&nodes.hash)
            .execute(&mut *tx)
            .await?;
            if gap || !full {
                break 'pages;
            }
        }
    }
    Ok(())
}

/// Tree nodes as the columns of one `INSERT ... SELECT FROM UNNEST(...)`.
#[derive(Default)]
struct TreeColumns {
    level: Vec<i16>,
    idx: Vec<i64>,
    hash: Vec<Vec<u8>>,
}

impl TreeColumns {
    fn extend(&mut self, nodes: impl IntoIterator<Item = (NodeId, Hash)>) {
        for (id, hash) in nodes {
            self.level.push(i16::from(id.level));
            self.idx.push(to_i64(id.index));
            self.hash.push(hash.0.to_vec());
        }
    }
}

/// The stored hashes of `ids` in `log_id`'s tree (missing ones left out), in one query.
async fn read_nodes(
    conn: &mut sqlx_postgres::PgConnection,
    log_id: &str,
    ids: &[NodeId],
) -> Result<Vec<(NodeId, Hash)>, sqlx_core::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
    let idxs: Vec<i64> = ids.iter().map(|id| to_i64(id.index)).collect();
    let rows: Vec<(i16, i64, Vec<u8>)> = query_as(
        "SELECT t.level, t.idx, t.hash FROM UNNEST($2::smallint[], $3::bigint[]) AS v (level, idx)
         JOIN audit_tree AS t ON t.log_id = $1 AND t.level = v.level AND t.idx = v.idx",
    )
    .bind(log_id)
    .bind(&levels)
    .bind(&idxs)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(level, idx, hash)| Some((node_id(level.into(), idx)?, tree_hash(&hash))))
        .collect())
}

/// Bumps change version `kind` and notifies the other processes, in the caller's transaction
/// (the notification is delivered when it commits, and never if it rolls back).
async fn bump_version(
    tx: &mut sqlx_postgres::PgConnection,
    kind: &'static str,
) -> Result<(), StoreError> {
    query(
        "WITH bumped AS (UPDATE change_versions SET version = version + 1 WHERE kind = $1 RETURNING kind)
         SELECT pg_notify($2, kind) FROM bumped",
    )
    .bind(kind)
    .bind(CHANGES_CHANNEL)
    .execute(tx)
    .await
    .map_err(query_err("bumping a change version"))?;
    Ok(())
}

/// Principals as the columns of one upsert: one row per id (the last one given wins, as with
/// one upsert after another; one statement cannot change a row twice), and how many repeats
/// were folded.
struct PrincipalColumns {
    ids: Vec<String>,
    facts: Vec<String>,
    repeats: usize,
}

impl PrincipalColumns {
    fn of(principals: &[Principal]) -> PrincipalColumns {
        let rows = principal_rows(principals);
        let mut last_by_id: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut facts: Vec<String> = Vec::with_capacity(rows.len());
        for (id, json) in rows {
            match last_by_id.get(&id) {
                Some(&at) => facts[at] = json,
                None => {
                    last_by_id.insert(id.clone(), ids.len());
                    ids.push(id);
                    facts.push(json);
                }
            }
        }
        PrincipalColumns {
            repeats: principals.len() - ids.len(),
            ids,
            facts,
        }
    }
}

/// Inserts or replaces principals in the caller's transaction and bumps the `principals`
/// change version: the one way every write of principals goes (imports, SCIM, screening).
/// Every repeat of an id counts as an update, as it would row by row.
async fn upsert_principal_columns(
    tx: &mut sqlx_postgres::PgConnection,
    columns: &PrincipalColumns,
) -> Result<ImportSummary, StoreError> {
    // `xmax = 0`: the row version was inserted by this statement, not updated.
    let inserted: Vec<bool> = query_scalar(
        "INSERT INTO principals (id, facts, updated_at)
         SELECT id, facts, $3 FROM UNNEST($1::text[], $2::text[]) AS u (id, facts)
         ON CONFLICT (id) DO UPDATE SET facts = excluded.facts, updated_at = excluded.updated_at
         RETURNING (xmax = 0)",
    )
    .bind(&columns.ids)
    .bind(&columns.facts)
    .bind(Utc::now().to_rfc3339())
    .fetch_all(&mut *tx)
    .await
    .map_err(query_err("importing principals"))?;
    bump_version(tx, "principals").await?;
    let fresh = inserted.iter().filter(|&&i| i).count();
    Ok(ImportSummary {
        inserted: fresh,
        updated: inserted.len() - fresh + columns.repeats,
    })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The query columns of a record, taken from its JSON as SQLite's `json_extract` gives them:
/// strings unescaped, `facts` as the exact JSON text of the member, a missing or `null`
/// member as NULL.
#[derive(serde::Deserialize, Default)]
struct Derived<'a> {
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    requested_model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    facts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    phase: Option<Cow<'a, str>>,
}

/// An audit batch as the columns of one `INSERT ... SELECT FROM UNNEST(...)`.
#[derive(Default)]
struct AuditColumns {
    seq: Vec<i64>,
    id: Vec<String>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
    record: Vec<String>,
    time: Vec<String>,
    principal_id: Vec<Option<String>>,
    requested_model: Vec<Option<String>>,
    facts: Vec<Option<String>>,
    phase: Vec<Option<String>>,
}

impl AuditColumns {
    fn of(batch: &[SealedRecord]) -> AuditColumns {
        let mut c = AuditColumns::default();
        for r in batch {
            // A record that does not parse is still stored (its hash commits to it); its query
            // columns stay empty and `verify` reports it as unreadable.
            let d: Derived<'_> = serde_json::from_str(&r.record_json).unwrap_or_default();
            c.seq.push(to_i64(r.seq));
            c.id.push(r.id.clone());
            c.prev_hash.push(r.prev_hash.to_hex());
            c.hash.push(r.hash.to_hex());
            c.record.push(r.record_json.clone());
            c.time.push(d.time.map(Cow::into_owned).unwrap_or_default());
            c.principal_id.push(d.principal_id.map(Cow::into_owned));
            c.requested_model
                .push(d.requested_model.map(Cow::into_owned));
            c.facts.push(d.facts.map(|f| f.get().to_string()));
            c.phase.push(d.phase.map(Cow::into_owned));
        }
        c
    }
}

/// A record time in the sortable form the fact-group query gives for a group's first and last
/// record (`YYYY-MM-DDTHH:MM:SS` and nine fraction digits), back as a time.
fn time_from_key(key: &str) -> Result<DateTime<Utc>, StoreError> {
    let (seconds, nanos) = key.split_at_checked(19).ok_or(StoreError::Corrupt {
        what: "audit record time",
        detail: key.to_string(),
    })?;
    time_from_text(&format!("{seconds}.{nanos}Z"))
}

/// The records of a window that name a principal and a model, grouped. Every model is grouped
/// (one scan of the window): the caller counts them all and keeps the groups it was asked for.
/// A group's first and last time are taken over `time_key`, the record's time with its fraction
/// padded to nine digits, whose text order is time order (raw times' is not: `10:00:00Z` sorts
/// after `10:00:00.5Z`).
const FACT_GROUPS: &str = "
    SELECT principal_id, requested_model, facts, count(*), min(time_key), max(time_key)
    FROM (SELECT principal_id, requested_model, facts,
                 CASE WHEN substr(time, 20, 1) = '.'
                      THEN substr(time, 1, 19) || rpad(split_part(substr(time, 21), 'Z', 1), 9, '0')
                      ELSE substr(time, 1, 19) || '000000000' END AS time_key
          FROM audit
          WHERE time >= $1 AND principal_id IS NOT NULL AND requested_model IS NOT NULL) AS w
    GROUP BY principal_id, requested_model, facts";

/// Aborts the task it holds when dropped: a caller that stops waiting stops the wait.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits for a notification on the store's listener (created if needed) until `deadline`.
/// On any listener error the listener is dropped (the next wait creates a new one) and the
/// rest of the time is slept, so a broken connection never turns the caller's loop into a
/// busy one.
async fn listen_until(inner: Arc<Inner>, deadline: tokio::time::Instant) {
    let listener = Arc::clone(&inner.listener);
    let mut guard = match tokio::time::timeout_at(deadline, listener.lock()).await {
        Ok(guard) => guard,
        Err(_) => return,
    };
    let waited = tokio::time::timeout_at(deadline, async {
        if guard.is_none() {
            // A connection of its own, so it never takes one the queries need.
            let mut fresh = PgListener::connect_with(&inner.listener_pool).await?;
            fresh.listen(CHANGES_CHANNEL).await?;
            *guard = Some(fresh);
        }
        match guard.as_mut() {
            Some(l) => l.try_recv().await.map(|n| n.is_some()),
            None => Ok::<bool, sqlx_core::Error>(false),
        }
    })
    .await;
    match waited {
        // Past the deadline, or notified.
        Err(_) | Ok(Ok(true)) => {}
        // `Ok(false)`: the connection was lost; any error: the same, to the caller.
        Ok(Ok(false)) | Ok(Err(_)) => {
            *guard = None;
            drop(guard);
            tokio::time::sleep_until(deadline).await;
        }
    }
}

#[async_trait]
impl Store for PgStore {
    async fn upsert_principals(
        &self,
        principals: &[Principal],
    ) -> Result<ImportSummary, StoreError> {
        let columns = PrincipalColumns::of(principals);
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a principal import"))?;
            let summary = upsert_principal_columns(&mut tx, &columns).await?;
            tx.commit()
                .await
                .map_err(query_err("committing a principal import"))?;
            Ok(summary)
        })
        .await
    }

    async fn delete_principals(&self, ids: &[PrincipalId]) -> Result<usize, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a principal deletion"))?;
            let deleted = query("DELETE FROM principals WHERE id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(query_err("deleting principals"))?
                .rows_affected();
            bump_version(&mut tx, "principals").await?;
            tx.commit()
                .await
                .map_err(query_err("committing a principal deletion"))?;
            Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
        })
        .await
    }

    async fn principal(&self, id: &PrincipalId) -> Result<Option<Principal>, StoreError> {
        let id = id.to_string();
        let pool = self.pool();
        self.run(async move {
            let json: Option<String> = query_scalar("SELECT facts FROM principals WHERE id = $1")
                .bind(id)
                .fetch_optional(&pool)
                .await
                .map_err(query_err("reading a principal"))?;
            json.as_deref().map(principal_from_json).transpose()
        })
        .await
    }

    async fn principals(&self) -> Result<Vec<Principal>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<String> = query_scalar("SELECT facts FROM principals ORDER BY id")
                .fetch_all(&pool)
                .await
                .map_err(query_err("listing principals"))?;
            rows.iter().map(|json| principal_from_json(json)).collect()
        })
        .await
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let key = key.clone();
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a key insert"))?;
            query(
                "INSERT INTO keys (id, principal_id, name, secret_hash, created_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(key.id.as_str())
            .bind(key.principal_id.as_str())
            .bind(key.name.as_deref())
            .bind(key.hash.to_hex())
            .bind(key.created.to_rfc3339())
            .bind(key.revoked.map(|t| t.to_rfc3339()))
            .execute(&mut *tx)
            .await
            .map_err(query_err("inserting a key"))?;
            bump_version(&mut tx, "keys").await?;
            tx.commit()
                .await
                .map_err(query_err("committing a key insert"))
        })
        .await
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<KeyRow> = query_as(
                "SELECT id, principal_id, name, secret_hash, created_at, revoked_at FROM keys
                 ORDER BY created_at, id",
            )
            .fetch_all(&pool)
            .await
            .map_err(query_err("listing keys"))?;
            rows.into_iter().map(key_from_row).collect()
        })
        .await
    }

    async fn revoke_key(&self, id: &KeyId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_string();
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a key revocation"))?;
            let changed =
                query("UPDATE keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(at.to_rfc3339())
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("revoking a key"))?
                    .rows_affected();
            bump_version(&mut tx, "keys").await?;
            tx.commit()
                .await
                .map_err(query_err("committing a key revocation"))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn change_versions(&self) -> Result<ChangeVersions, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<(String, i64)> = query_as("SELECT kind, version FROM change_versions")
                .fetch_all(&pool)
                .await
                .map_err(query_err("reading change versions"))?;
            let mut versions = ChangeVersions::default();
            for (kind, v) in rows {
                match kind.as_str() {
                    "keys" => versions.keys = v,
                    "principals" => versions.principals = v,
                    "model_switches" => versions.model_switches = v,
                    "directives" => versions.directives = v,
                    "screening" => versions.screening = v,
                    "validations" => versions.validations = v,
                    _ => {}
                }
            }
            Ok(versions)
        })
        .await
    }

    async fn wait_for_change(&self, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        let task = self
            .inner
            .handle
            .spawn(listen_until(Arc::clone(&self.inner), deadline));
        let _stop = AbortOnDrop(task.abort_handle());
        if task.await.is_err() {
            // The store's runtime is gone: nothing can notify; wait out the time here.
            tokio::time::sleep_until(deadline).await;
        }
    }

    async fn open_log(
        &self,
        log_id: &str,
        replica: &str,
        opened_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (log_id, replica) = (log_id.to_string(), replica.to_string());
        let pool = self.pool();
        self.run(async move {
            query("INSERT INTO audit_logs (log_id, replica, opened_at) VALUES ($1, $2, $3)")
                .bind(log_id)
                .bind(replica)
                .bind(opened_at.to_rfc3339())
                .execute(&pool)
                .await
                .map_err(query_err("opening an audit log"))?;
            Ok(())
        })
        .await
    }

    async fn append_audit(&self, log_id: &str, batch: &[SealedRecord]) -> Result<(), StoreError> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        let (head_seq, head_hash) = (to_i64(last.seq), last.hash.to_hex());
        let (first_seq, first_prev) = (to_i64(batch[0].seq), batch[0].prev_hash.to_hex());
        let columns = AuditColumns::of(batch);
        let leaves = leaves_of(batch);
        let log_id = log_id.to_string();
        let pool = self.pool();
        let expected = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        self.run(async move {
            let mut conn = pool
                .acquire()
                .await
                .map_err(query_err("appending audit records"))?;
            // The tree's right edge before the batch: O(log n) nodes, one query (none for a
            // log's first batch). Nodes never change once their batch committed, and the
            // statement below stores nothing unless the head is still where this batch
            // starts, so reading them outside its transaction is safe.
            let first = leaves[0].0;
            let edge = clearance_tlog::merkle::root_nodes(first.saturating_sub(1));
            let found = read_nodes(&mut conn, &log_id, &edge)
                .await
                .map_err(query_err("reading the audit tree's edge"))?;
            let mut frontier = frontier_before(&log_id, first, &found)?;
            let mut nodes = TreeColumns::default();
            nodes.extend(completed_nodes(&log_id, &mut frontier, &leaves)?);
            // One statement, so one round trip and one (synchronous) commit for the records,
            // their tree nodes and the head: the head update locks the log's row, so a log's
            // batches commit in turn, and it matches only a batch that continues the log's
            // recorded head on an open log (a second writer on the same log, or a replayed
            // batch, matches nothing and inserts nothing).
            let inserted = query(
                "WITH head AS (
                     UPDATE audit_logs SET head_seq = $12, head_hash = $13
                     WHERE log_id = $1 AND head_seq = $14 AND head_hash = $15 AND closed_at IS NULL
                     RETURNING log_id),
                 tree AS (
                     INSERT INTO audit_tree (log_id, level, idx, hash)
                     SELECT head.log_id, node.* FROM head,
                         UNNEST($16::smallint[], $17::bigint[], $18::bytea[]) AS node)
                 INSERT INTO audit (log_id, seq, id, prev_hash, hash, record, time, principal_id,
                                    requested_model, facts, phase)
                 SELECT head.log_id, batch.* FROM head,
                     UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) AS batch",
            )
            .bind(&log_id)
            .bind(&columns.seq)
            .bind(&columns.id)
            .bind(&columns.prev_hash)
            .bind(&columns.hash)
            .bind(&columns.record)
            .bind(&columns.time)
            .bind(&columns.principal_id)
            .bind(&columns.requested_model)
            .bind(&columns.facts)
            .bind(&columns.phase)
            .bind(head_seq)
            .bind(&head_hash)
            .bind(first_seq - 1)
            .bind(&first_prev)
            .bind(&nodes.level)
            .bind(&nodes.idx)
            .bind(&nodes.hash)
            .execute(&mut *conn)
            .await
            .map_err(query_err("appending audit records"))?
            .rows_affected();
            if inserted != expected {
                return Err(StoreError::Corrupt {
                    what: "audit log",
                    detail: format!(
                        "the batch does not continue open log `{log_id}` (no such open log, or its head has moved: another writer, or this batch is already stored)"
                    ),
                });
            }
            Ok(())
        })
        .await
    }

    async fn tree_nodes(
        &self,
        log_id: &str,
        ids: &[NodeId],
    ) -> Result<Vec<(NodeId, Hash)>, StoreError> {
        let (log_id, ids) = (log_id.to_string(), ids.to_vec());
        let pool = self.pool();
        self.run(async move {
            let mut conn = pool
                .acquire()
                .await
                .map_err(query_err("reading audit tree nodes"))?;
            read_nodes(&mut conn, &log_id, &ids)
                .await
                .map_err(query_err("reading audit tree nodes"))
        })
        .await
    }

    async fn tree_level(
        &self,
        log_id: &str,
        level: u8,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<Hash>, StoreError> {
        let log_id = log_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<(i64, Vec<u8>)> = query_as(
                "SELECT idx, hash FROM audit_tree WHERE log_id = $1 AND level = $2
                 AND idx >= $3 AND idx < $4 ORDER BY idx",
            )
            .bind(&log_id)
            .bind(i16::from(level))
            .bind(to_i64(range.start))
            .bind(to_i64(range.end))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading an audit tree level"))?;
            let mut hashes = Vec::with_capacity(rows.len());
            for (idx, hash) in rows {
                if u64::try_from(idx).ok() != Some(range.start + hashes.len() as u64) {
                    break;
                }
                hashes.push(tree_hash(&hash));
            }
            Ok(hashes)
        })
        .await
    }

    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let c = checkpoint.clone();
        let pool = self.pool();
        self.run(async move {
            query(
                "INSERT INTO audit_checkpoints (log_id, size, note, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (log_id, size) DO UPDATE SET note = excluded.note,
                     created_at = excluded.created_at",
            )
            .bind(&c.log_id)
            .bind(to_i64(c.size))
            .bind(&c.note)
            .bind(c.created_at.to_rfc3339())
            .execute(&pool)
            .await
            .map_err(query_err("storing a checkpoint"))?;
            Ok(())
        })
        .await
    }

    async fn checkpoints(&self, log_id: &str) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let log_id = log_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<CheckpointRow> = query_as(
                "SELECT log_id, size, note, created_at FROM audit_checkpoints WHERE log_id = $1
                 ORDER BY size",
            )
            .bind(log_id)
            .fetch_all(&pool)
            .await
            .map_err(query_err("listing checkpoints"))?;
            rows.into_iter().map(checkpoint_from_row).collect()
        })
        .await
    }

    async fn latest_checkpoint(
        &self,
        log_id: &str,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let log_id = log_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let row: Option<CheckpointRow> = query_as(
                "SELECT log_id, size, note, created_at FROM audit_checkpoints WHERE log_id = $1
                 ORDER BY size DESC LIMIT 1",
            )
            .bind(log_id)
            .fetch_optional(&pool)
            .await
            .map_err(query_err("reading the latest checkpoint"))?;
            row.map(checkpoint_from_row).transpose()
        })
        .await
    }

    async fn records_of_request(&self, request_id: &str) -> Result<Vec<LoggedRecord>, StoreError> {
        let request_id = request_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<(i64, String, String, String, String, String, String)> = query_as(
                "SELECT seq, id, prev_hash, hash, record, log_id, time FROM audit WHERE id = $1
                 ORDER BY log_id, seq",
            )
            .bind(request_id)
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading a request's audit records"))?;
            Ok(rows.into_iter().map(logged_from_row).collect())
        })
        .await
    }

    async fn audit_derived(
        &self,
        log_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<DerivedColumns>, StoreError> {
        let log_id = log_id.to_string();
        let pool = self.pool();
        self.run(async move {
            type Row = (
                i64,
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let rows: Vec<Row> = query_as(
                "SELECT seq, time, principal_id, requested_model, facts, phase FROM audit
                 WHERE log_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(log_id)
            .bind(to_i64(after_seq))
            .bind(limit_i64(limit))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading audit query columns"))?;
            Ok(rows
                .into_iter()
                .map(
                    |(seq, time, principal_id, requested_model, facts, phase)| DerivedColumns {
                        seq: u64::try_from(seq).unwrap_or(0),
                        // `time` is NOT NULL here: '' stands for none (a pruned record).
                        time: (!time.is_empty()).then_some(time),
                        principal_id,
                        requested_model,
                        facts,
                        phase,
                    },
                )
                .collect())
        })
        .await
    }

    async fn prune_audit_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = comparable_time(before);
        let pool = self.pool();
        self.run(async move {
            // Row locks only: appends (other rows) go on meanwhile. `time > ''` skips records
            // already pruned ('' stands for no time). Log boundaries are kept: found by their
            // action in the record's text (the writer's compact JSON), not by parsing it, so a
            // record that is not JSON (tampered) cannot fail the whole run; a false match only
            // keeps a record.
            let pruned = query(
                "UPDATE audit SET record = '', time = '', principal_id = NULL,
                     requested_model = NULL, facts = NULL, phase = NULL
                 WHERE time > '' AND time < $1
                   AND strpos(record, '\"action\":\"log_open\"') = 0
                   AND strpos(record, '\"action\":\"log_close\"') = 0",
            )
            .bind(before)
            .execute(&pool)
            .await
            .map_err(query_err("pruning audit records"))?
            .rows_affected();
            Ok(pruned)
        })
        .await
    }

    async fn close_log(&self, log_id: &str, closed_at: DateTime<Utc>) -> Result<(), StoreError> {
        let log_id = log_id.to_string();
        let pool = self.pool();
        self.run(async move {
            query("UPDATE audit_logs SET closed_at = $2 WHERE log_id = $1")
                .bind(log_id)
                .bind(closed_at.to_rfc3339())
                .execute(&pool)
                .await
                .map_err(query_err("closing an audit log"))?;
            Ok(())
        })
        .await
    }

    async fn audit_logs(&self) -> Result<Vec<AuditLog>, StoreError> {
        self.select_logs("TRUE", None, "listing audit logs").await
    }

    async fn audit_log(&self, log_id: &str) -> Result<Option<AuditLog>, StoreError> {
        let logs = self
            .select_logs(
                "log_id = $1",
                Some(log_id.to_string()),
                "reading an audit log",
            )
            .await?;
        Ok(logs.into_iter().next())
    }

    async fn closed_logs_beyond_checkpoints(&self) -> Result<Vec<AuditLog>, StoreError> {
        self.select_logs(
            "closed_at IS NOT NULL AND head_seq > coalesce((SELECT max(size) FROM \
             audit_checkpoints c WHERE c.log_id = audit_logs.log_id), 0)",
            None,
            "listing closed audit logs past their checkpoints",
        )
        .await
    }

    async fn audit_page(
        &self,
        log_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let log_id = log_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<AuditRow> = query_as(
                "SELECT seq, id, prev_hash, hash, record FROM audit WHERE log_id = $1 AND seq > $2
                 ORDER BY seq LIMIT $3",
            )
            .bind(log_id)
            .bind(to_i64(after_seq))
            .bind(limit_i64(limit))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading audit records"))?;
            Ok(rows.into_iter().map(sealed_from_row).collect())
        })
        .await
    }

    async fn audit_page_by_time(
        &self,
        after: Option<&TimeCursor>,
        limit: usize,
    ) -> Result<Vec<LoggedRecord>, StoreError> {
        let (time, log_id, seq) = match after {
            Some(c) => (c.time.clone(), c.log_id.clone(), to_i64(c.seq)),
            None => (String::new(), String::new(), -1),
        };
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<(i64, String, String, String, String, String, String)> = query_as(
                "SELECT seq, id, prev_hash, hash, record, log_id, time FROM audit
                 WHERE (time, log_id, seq) > ($1, $2, $3)
                 ORDER BY time, log_id, seq LIMIT $4",
            )
            .bind(time)
            .bind(log_id)
            .bind(seq)
            .bind(limit_i64(limit))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading audit records in time order"))?;
            Ok(rows.into_iter().map(logged_from_row).collect())
        })
        .await
    }

    async fn audit_fact_groups(
        &self,
        since: DateTime<Utc>,
        models: Option<&[String]>,
    ) -> Result<FactGroups, StoreError> {
        let since = comparable_time(since);
        let models: Option<Vec<String>> = models.map(<[String]>::to_vec);
        let pool = self.pool();
        self.run(async move {
            let doing = "reading recorded facts";
            let rows: Vec<(String, String, Option<String>, i64, String, String)> =
                query_as(FACT_GROUPS)
                    .bind(since)
                    .fetch_all(&pool)
                    .await
                    .map_err(query_err(doing))?;
            let mut found = FactGroups::default();
            for (principal_id, requested_model, facts_json, count, first, last) in rows {
                let count = u64::try_from(count).unwrap_or(0);
                found.records += count;
                if models
                    .as_deref()
                    .is_none_or(|models| models.contains(&requested_model))
                {
                    found.groups.push(FactGroup {
                        principal_id,
                        requested_model,
                        facts_json,
                        count,
                        first: time_from_key(&first)?,
                        last: time_from_key(&last)?,
                    });
                }
            }
            Ok(found)
        })
        .await
    }

    async fn model_switches(&self) -> Result<Vec<ModelSwitch>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<SwitchRow> = query_as(
                "SELECT model, disabled, reason, changed_at, actor FROM model_switches ORDER BY model",
            )
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading model switches"))?;
            rows.into_iter().map(switch_from_row).collect()
        })
        .await
    }

    async fn set_model_switch(&self, switch: &ModelSwitch) -> Result<(), StoreError> {
        let switch = switch.clone();
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a model switch change"))?;
            let changed_at = switch.changed_at.to_rfc3339();
            query(
                "INSERT INTO model_switches (model, disabled, reason, changed_at, actor)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (model) DO UPDATE SET disabled = excluded.disabled,
                     reason = excluded.reason, changed_at = excluded.changed_at,
                     actor = excluded.actor",
            )
            .bind(&switch.model)
            .bind(switch.disabled)
            .bind(switch.reason.as_deref())
            .bind(&changed_at)
            .bind(&switch.actor)
            .execute(&mut *tx)
            .await
            .map_err(query_err("setting a model switch"))?;
            query(
                "INSERT INTO model_switch_events (model, disabled, reason, changed_at, actor)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&switch.model)
            .bind(switch.disabled)
            .bind(switch.reason.as_deref())
            .bind(&changed_at)
            .bind(&switch.actor)
            .execute(&mut *tx)
            .await
            .map_err(query_err("recording a model switch event"))?;
            bump_version(&mut tx, "model_switches").await?;
            tx.commit()
                .await
                .map_err(query_err("committing a model switch change"))
        })
        .await
    }

    async fn model_switch_history(&self, model: &str) -> Result<Vec<ModelSwitch>, StoreError> {
        let model = model.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<SwitchRow> = query_as(
                "SELECT model, disabled, reason, changed_at, actor FROM model_switch_events
                 WHERE model = $1 ORDER BY id",
            )
            .bind(model)
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading a model's switch history"))?;
            rows.into_iter().map(switch_from_row).collect()
        })
        .await
    }

    async fn activate_directive_set(&self, set: &DirectiveSet) -> Result<i64, StoreError> {
        let set = set.clone();
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a directive set activation"))?;
            // The bump first: it locks the `directives` row, so two replicas activating at
            // once number their sets one after the other instead of colliding.
            bump_version(&mut tx, "directives").await?;
            let version: i64 =
                query_scalar("SELECT coalesce(max(version), 0) + 1 FROM directive_sets")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(query_err("numbering a directive set"))?;
            query(
                "INSERT INTO directive_sets (version, policy_version, activated_at, actor)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(version)
            .bind(&set.policy_version)
            .bind(set.activated_at.to_rfc3339())
            .bind(&set.actor)
            .execute(&mut *tx)
            .await
            .map_err(query_err("storing a directive set"))?;
            let names: Vec<&str> = set.files.iter().map(|f| f.name.as_str()).collect();
            let contents: Vec<&str> = set.files.iter().map(|f| f.content.as_str()).collect();
            query(
                "INSERT INTO directive_set_files (version, name, content)
                 SELECT $1, * FROM UNNEST($2::text[], $3::text[])",
            )
            .bind(version)
            .bind(&names)
            .bind(&contents)
            .execute(&mut *tx)
            .await
            .map_err(query_err("storing a directive file"))?;
            tx.commit()
                .await
                .map_err(query_err("committing a directive set activation"))?;
            Ok(version)
        })
        .await
    }

    async fn active_directive_set(&self) -> Result<Option<DirectiveSet>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("reading the active directive set"))?;
            let latest: Option<i64> = query_scalar("SELECT max(version) FROM directive_sets")
                .fetch_one(&mut *tx)
                .await
                .map_err(query_err("reading the active directive set"))?;
            let set = match latest {
                Some(v) => Some(directive_set(&mut tx, v).await?),
                None => None,
            };
            tx.commit()
                .await
                .map_err(query_err("reading the active directive set"))?;
            Ok(set)
        })
        .await
    }

    async fn directive_sets(&self) -> Result<Vec<DirectiveSet>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let doing = "listing directive sets";
            let mut tx = pool.begin().await.map_err(query_err(doing))?;
            let versions: Vec<i64> =
                query_scalar("SELECT version FROM directive_sets ORDER BY version")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(query_err(doing))?;
            let mut sets = Vec::with_capacity(versions.len());
            for v in versions {
                sets.push(directive_set(&mut tx, v).await?);
            }
            tx.commit().await.map_err(query_err(doing))?;
            Ok(sets)
        })
        .await
    }
    async fn scim_snapshot(&self) -> Result<ScimSnapshot, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a SCIM read"))?;
            // One snapshot for the version and the rows it covers.
            query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(query_err("starting a SCIM read"))?;
            let version: i64 =
                query_scalar("SELECT version FROM change_versions WHERE kind = 'scim'")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(query_err("reading the SCIM version"))?;
            let rows: Vec<ScimDbRow> = query_as(
                "SELECT kind, id, name_key, external_id, body, version, created, last_modified
                 FROM scim_resources ORDER BY kind, created, id",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(query_err("listing SCIM resources"))?;
            tx.commit().await.map_err(query_err("ending a SCIM read"))?;
            let resources = rows
                .into_iter()
                .map(scim_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ScimSnapshot { version, resources })
        })
        .await
    }

    async fn scim_resource(&self, kind: &str, id: &str) -> Result<Option<ScimRow>, StoreError> {
        let (kind, id) = (kind.to_string(), id.to_string());
        let pool = self.pool();
        self.run(async move {
            let row: Option<ScimDbRow> = query_as(
                "SELECT kind, id, name_key, external_id, body, version, created, last_modified
                 FROM scim_resources WHERE kind = $1 AND id = $2",
            )
            .bind(kind)
            .bind(id)
            .fetch_optional(&pool)
            .await
            .map_err(query_err("reading a SCIM resource"))?;
            row.map(scim_from_row).transpose()
        })
        .await
    }

    async fn scim_commit(&self, commit: &ScimCommit) -> Result<i64, ScimCommitError> {
        let commit = commit.clone();
        let pool = self.pool();
        self
            .run(async move {
                let mut tx = pool
                    .begin()
                    .await
                    .map_err(query_err("starting a SCIM change"))?;
                // The row lock orders SCIM writers: the second waits here, then sees the
                // first one's bump and is refused as a conflict.
                let version: i64 = query_scalar(
                    "SELECT version FROM change_versions WHERE kind = 'scim' FOR UPDATE",
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(query_err("reading the SCIM version"))?;
                if version != commit.expected_version {
                    return Ok(Err(ScimCommitError::Conflict));
                }
                for (kind, id) in &commit.delete {
                    query("DELETE FROM scim_resources WHERE kind = $1 AND id = $2")
                        .bind(kind)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(query_err("deleting a SCIM resource"))?;
                }
                for row in &commit.put {
                    let taken: Option<String> = query_scalar(
                        "SELECT id FROM scim_resources WHERE kind = $1 AND name_key = $2 AND id <> $3",
                    )
                    .bind(&row.kind)
                    .bind(&row.name_key)
                    .bind(&row.id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_err("checking a SCIM name"))?;
                    if taken.is_some() {
                        return Ok(Err(ScimCommitError::Uniqueness {
                            kind: row.kind.clone(),
                            name_key: row.name_key.clone(),
                        }));
                    }
                    query(
                        "INSERT INTO scim_resources (kind, id, name_key, external_id, body, version, created, last_modified)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (kind, id) DO UPDATE SET name_key = excluded.name_key,
                           external_id = excluded.external_id, body = excluded.body,
                           version = excluded.version, last_modified = excluded.last_modified",
                    )
                    .bind(&row.kind)
                    .bind(&row.id)
                    .bind(&row.name_key)
                    .bind(&row.external_id)
                    .bind(&row.body)
                    .bind(row.version)
                    .bind(scim_time(row.created))
                    .bind(scim_time(row.last_modified))
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("writing a SCIM resource"))?;
                }
                let gone: Vec<String> = commit
                    .delete_principals
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                query("DELETE FROM principals WHERE id = ANY($1)")
                    .bind(&gone)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("deleting a provisioned principal"))?;
                upsert_principal_columns(&mut tx, &PrincipalColumns::of(&commit.upsert_principals))
                    .await?;
                bump_version(&mut tx, "scim").await?;
                tx.commit()
                    .await
                    .map_err(query_err("committing a SCIM change"))?;
                Ok(Ok(version + 1))
            })
            .await?
    }

    async fn put_screening_list(
        &self,
        list: &ScreeningListData,
        rescreened: &[Principal],
    ) -> Result<(), StoreError> {
        let list = list.clone();
        let columns = PrincipalColumns::of(rescreened);
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a screening list import"))?;
            // The bump first: it locks the `screening` row, so imports number their versions
            // one after the other, and the second of two imports of one version waits here,
            // then finds it stored.
            bump_version(&mut tx, "screening").await?;
            let stored: Option<String> =
                query_scalar("SELECT sha256 FROM screening_lists WHERE version_id = $1")
                    .bind(&list.meta.version_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(query_err("looking up a screening list version"))?;
            if let Some(stored) = stored {
                tx.rollback()
                    .await
                    .map_err(query_err("ending a screening list import"))?;
                return same_screening_list(&list, stored);
            }
            let m = &list.meta;
            query(
                "INSERT INTO screening_lists (version_id, seq, source, published, sha256,
                     record_count, alias_count, imported_at, actor, entries)
                 VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM screening_lists),
                     $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&m.version_id)
            .bind(&m.source)
            .bind(m.published.as_deref())
            .bind(&m.sha256)
            .bind(m.record_count)
            .bind(m.alias_count)
            .bind(m.imported_at.to_rfc3339())
            .bind(&m.actor)
            .bind(&list.entries)
            .execute(&mut *tx)
            .await
            .map_err(query_err("storing a screening list"))?;
            upsert_principal_columns(&mut tx, &columns).await?;
            tx.commit()
                .await
                .map_err(query_err("committing a screening list import"))
        })
        .await
    }

    async fn screening_lists(&self) -> Result<Vec<ScreeningList>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<ScreeningListRow> = query_as(&format!(
                "SELECT {SCREENING_LIST_COLUMNS} FROM screening_lists ORDER BY seq DESC"
            ))
            .fetch_all(&pool)
            .await
            .map_err(query_err("listing screening lists"))?;
            rows.into_iter().map(screening_list_from_row).collect()
        })
        .await
    }

    async fn current_screening_lists(&self) -> Result<Vec<ScreeningListData>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<ScreeningListDataRow> = query_as(&format!(
                "SELECT {SCREENING_LIST_COLUMNS}, entries FROM screening_lists AS l
                 WHERE seq = (SELECT max(seq) FROM screening_lists WHERE source = l.source)
                 ORDER BY source"
            ))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading the current screening lists"))?;
            rows.into_iter().map(screening_list_data_from_row).collect()
        })
        .await
    }

    async fn screening_list(
        &self,
        version_id: &str,
    ) -> Result<Option<ScreeningListData>, StoreError> {
        let version_id = version_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let row: Option<ScreeningListDataRow> = query_as(&format!(
                "SELECT {SCREENING_LIST_COLUMNS}, entries FROM screening_lists
                 WHERE version_id = $1"
            ))
            .bind(version_id)
            .fetch_optional(&pool)
            .await
            .map_err(query_err("reading a screening list"))?;
            row.map(screening_list_data_from_row).transpose()
        })
        .await
    }

    async fn add_screening_review(
        &self,
        review: &ScreeningReview,
        updated: Option<&Principal>,
    ) -> Result<i64, StoreError> {
        let review = review.clone();
        let columns = updated.map(|p| PrincipalColumns::of(std::slice::from_ref(p)));
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a screening review"))?;
            // Row locks in one order everywhere (`screening`, then `principals`, as an import
            // takes them), so a review and an import at once never deadlock.
            bump_version(&mut tx, "screening").await?;
            let id: i64 = query_scalar(
                "INSERT INTO screening_reviews (subject, list_source, entity_id, entry_hash,
                     subject_hash, decision, reason, actor, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 RETURNING id",
            )
            .bind(&review.subject)
            .bind(&review.list_source)
            .bind(&review.entity_id)
            .bind(&review.entry_hash)
            .bind(&review.subject_hash)
            .bind(&review.decision)
            .bind(&review.reason)
            .bind(&review.actor)
            .bind(review.at.to_rfc3339())
            .fetch_one(&mut *tx)
            .await
            .map_err(query_err("storing a screening review"))?;
            if let Some(columns) = &columns {
                upsert_principal_columns(&mut tx, columns).await?;
            }
            tx.commit()
                .await
                .map_err(query_err("committing a screening review"))?;
            Ok(id)
        })
        .await
    }

    async fn screening_reviews(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<ScreeningReview>, StoreError> {
        let subject = subject.map(String::from);
        let pool = self.pool();
        self.run(async move {
            let doing = "reading screening reviews";
            let rows: Vec<ScreeningReviewRow> = match subject {
                Some(subject) => query_as(&format!(
                    "SELECT {SCREENING_REVIEW_COLUMNS} FROM screening_reviews
                     WHERE subject = $1 ORDER BY id"
                ))
                .bind(subject)
                .fetch_all(&pool)
                .await
                .map_err(query_err(doing))?,
                None => query_as(&format!(
                    "SELECT {SCREENING_REVIEW_COLUMNS} FROM screening_reviews ORDER BY id"
                ))
                .fetch_all(&pool)
                .await
                .map_err(query_err(doing))?,
            };
            rows.into_iter().map(screening_review_from_row).collect()
        })
        .await
    }
    async fn put_suite(&self, suite: &StoredSuite) -> Result<(), StoreError> {
        let suite = suite.clone();
        let pool = self.pool();
        self.run(async move {
            query(&format!(
                "INSERT INTO validation_suites ({SUITE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (hash) DO NOTHING"
            ))
            .bind(&suite.hash)
            .bind(&suite.name)
            .bind(&suite.file_name)
            .bind(&suite.text)
            .bind(exact_time(suite.stored_at))
            .execute(&pool)
            .await
            .map_err(query_err("storing an eval suite"))?;
            Ok(())
        })
        .await
    }

    async fn suite(&self, hash: &str) -> Result<Option<StoredSuite>, StoreError> {
        let hash = hash.to_string();
        let pool = self.pool();
        self.run(async move {
            let row: Option<SuiteRow> = query_as(&format!(
                "SELECT {SUITE_COLUMNS} FROM validation_suites WHERE hash = $1"
            ))
            .bind(hash)
            .fetch_optional(&pool)
            .await
            .map_err(query_err("reading an eval suite"))?;
            row.map(suite_from_row).transpose()
        })
        .await
    }

    async fn start_validation_run(&self, run: &ValidationRun) -> Result<(), StoreError> {
        let run = run.clone();
        let pool = self.pool();
        self.run(async move {
            // Only on a stored suite: the run must be able to name (and `serve` re-run) it.
            // Suites are never deleted, so the check cannot go stale before the commit.
            let inserted = query(
                "INSERT INTO validation_runs (run_id, suite_hash, primary_model, candidates,
                     bar, started_at, actor)
                 SELECT $1, $2, $3, $4, $5, $6, $7
                 WHERE EXISTS (SELECT 1 FROM validation_suites WHERE hash = $2)",
            )
            .bind(&run.run_id)
            .bind(&run.suite_hash)
            .bind(&run.primary_model)
            .bind(candidates_text(&run.candidates))
            .bind(run.bar)
            .bind(exact_time(run.started_at))
            .bind(&run.actor)
            .execute(&pool)
            .await
            .map_err(query_err("starting a validation run"))?
            .rows_affected();
            if inserted == 1 {
                Ok(())
            } else {
                Err(suite_not_stored(&run))
            }
        })
        .await
    }

    async fn validation_run(&self, run_id: &str) -> Result<Option<ValidationRun>, StoreError> {
        let run_id = run_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let row: Option<RunRow> = query_as(&format!(
                "SELECT {RUN_COLUMNS} FROM validation_runs WHERE run_id = $1"
            ))
            .bind(run_id)
            .fetch_optional(&pool)
            .await
            .map_err(query_err("reading a validation run"))?;
            row.map(run_from_row).transpose()
        })
        .await
    }

    async fn unfinished_validation_run(
        &self,
        suite_hash: &str,
        primary_model: &str,
        candidates: &[String],
    ) -> Result<Option<ValidationRun>, StoreError> {
        let (suite_hash, primary_model) = (suite_hash.to_string(), primary_model.to_string());
        let candidates = candidates_text(candidates);
        let pool = self.pool();
        self.run(async move {
            let row: Option<RunRow> = query_as(&format!(
                "SELECT {RUN_COLUMNS} FROM validation_runs
                 WHERE suite_hash = $1 AND primary_model = $2 AND candidates = $3
                   AND finished_at IS NULL
                 ORDER BY started_at DESC, seq DESC LIMIT 1"
            ))
            .bind(suite_hash)
            .bind(primary_model)
            .bind(candidates)
            .fetch_optional(&pool)
            .await
            .map_err(query_err("looking for an unfinished validation run"))?;
            row.map(run_from_row).transpose()
        })
        .await
    }

    async fn put_case_outcome(&self, outcome: &CaseOutcome) -> Result<(), StoreError> {
        let o = outcome.clone();
        let pool = self.pool();
        self.run(async move {
            // `FOR SHARE`: a run being finished at the same time is waited for, then seen
            // finished, so no outcome lands after its verdicts.
            let written = query(
                "INSERT INTO validation_outcomes (run_id, model, case_id, result)
                 SELECT $1, $2, $3, $4
                 WHERE EXISTS (SELECT 1 FROM validation_runs
                               WHERE run_id = $1 AND finished_at IS NULL FOR SHARE)
                 ON CONFLICT (run_id, model, case_id) DO UPDATE SET result = excluded.result",
            )
            .bind(&o.run_id)
            .bind(&o.model)
            .bind(&o.case_id)
            .bind(&o.result)
            .execute(&pool)
            .await
            .map_err(query_err("storing a case outcome"))?
            .rows_affected();
            if written == 1 {
                Ok(())
            } else {
                Err(no_open_run(&o.run_id))
            }
        })
        .await
    }

    async fn case_outcomes(&self, run_id: &str) -> Result<Vec<CaseOutcome>, StoreError> {
        let run_id = run_id.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<(String, String, String, String)> = query_as(
                "SELECT run_id, model, case_id, result FROM validation_outcomes
                 WHERE run_id = $1 ORDER BY model, case_id",
            )
            .bind(run_id)
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading case outcomes"))?;
            Ok(rows
                .into_iter()
                .map(|(run_id, model, case_id, result)| CaseOutcome {
                    run_id,
                    model,
                    case_id,
                    result,
                })
                .collect())
        })
        .await
    }

    async fn finish_validation_run(
        &self,
        run_id: &str,
        finished_at: DateTime<Utc>,
        verdicts: &[FallbackValidation],
    ) -> Result<(), StoreError> {
        let run_id = run_id.to_string();
        let verdicts = verdicts.to_vec();
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting to finish a validation run"))?;
            // The bump first: it locks the `validations` row, so runs finishing at once write
            // their verdicts one after the other (the later one's standing wins, as its
            // history row comes later) and never deadlock on the standing rows.
            bump_version(&mut tx, "validations").await?;
            let primary: Option<String> = query_scalar(
                "SELECT primary_model FROM validation_runs
                 WHERE run_id = $1 AND finished_at IS NULL FOR UPDATE",
            )
            .bind(&run_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_err("reading a validation run"))?;
            let primary = primary.ok_or_else(|| no_open_run(&run_id))?;
            check_verdicts(&run_id, &primary, &verdicts)?;
            query("UPDATE validation_runs SET finished_at = $2 WHERE run_id = $1")
                .bind(&run_id)
                .bind(exact_time(finished_at))
                .execute(&mut *tx)
                .await
                .map_err(query_err("finishing a validation run"))?;
            // One verdict at a time (a run has a handful): a pair named twice is replaced in
            // turn, as on SQLite, where one multi-row upsert would refuse it.
            for v in &verdicts {
                let at = exact_time(v.at);
                for sql in [UPSERT_VERDICT, APPEND_VERDICT] {
                    query(sql)
                        .bind(&v.primary_model)
                        .bind(&v.fallback_model)
                        .bind(v.validated)
                        .bind(v.score)
                        .bind(v.bar)
                        .bind(&v.suite_name)
                        .bind(&v.suite_hash)
                        .bind(&v.run_id)
                        .bind(&at)
                        .bind(v.reason.as_deref())
                        .execute(&mut *tx)
                        .await
                        .map_err(query_err("recording fallback validations"))?;
                }
            }
            tx.commit()
                .await
                .map_err(query_err("committing a finished validation run"))
        })
        .await
    }

    async fn fallback_validations(&self) -> Result<Vec<FallbackValidation>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<VerdictRow> = query_as(&format!(
                "SELECT {VERDICT_COLUMNS} FROM fallback_validations
                 ORDER BY primary_model, fallback_model"
            ))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading fallback validations"))?;
            rows.into_iter().map(verdict_from_row).collect()
        })
        .await
    }

    async fn fallback_validation_history(
        &self,
        primary_model: &str,
    ) -> Result<Vec<FallbackValidation>, StoreError> {
        let primary_model = primary_model.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<VerdictRow> = query_as(&format!(
                "SELECT {VERDICT_COLUMNS} FROM fallback_validation_history
                 WHERE primary_model = $1 ORDER BY id"
            ))
            .bind(primary_model)
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading a primary's validation history"))?;
            rows.into_iter().map(verdict_from_row).collect()
        })
        .await
    }

    async fn finished_validation_runs(&self) -> Result<Vec<ValidationRun>, StoreError> {
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<RunRow> = query_as(&format!(
                "SELECT {RUN_COLUMNS} FROM validation_runs WHERE finished_at IS NOT NULL
                 ORDER BY finished_at DESC, seq DESC"
            ))
            .fetch_all(&pool)
            .await
            .map_err(query_err("listing finished validation runs"))?;
            rows.into_iter().map(run_from_row).collect()
        })
        .await
    }

    async fn put_capture(&self, capture: &Capture, keep_per_app: usize) -> Result<(), StoreError> {
        let c = capture.clone();
        let keep = limit_i64(keep_per_app);
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting a capture"))?;
            query(
                "INSERT INTO captures (app, model, api, at, request, answer)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&c.app)
            .bind(&c.model)
            .bind(&c.api)
            .bind(exact_time(c.at))
            .bind(&c.request)
            .bind(&c.answer)
            .execute(&mut *tx)
            .await
            .map_err(query_err("storing a capture"))?;
            query(
                "DELETE FROM captures WHERE app = $1 AND id NOT IN (
                     SELECT id FROM captures WHERE app = $1 ORDER BY at DESC, id DESC LIMIT $2)",
            )
            .bind(&c.app)
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(query_err("trimming an app's captures"))?;
            tx.commit().await.map_err(query_err("committing a capture"))
        })
        .await
    }

    async fn captures(&self, app: &str, limit: usize) -> Result<Vec<Capture>, StoreError> {
        let app = app.to_string();
        let pool = self.pool();
        self.run(async move {
            let rows: Vec<CaptureRow> = query_as(&format!(
                "SELECT {CAPTURE_COLUMNS} FROM captures WHERE app = $1
                 ORDER BY at DESC, id DESC LIMIT $2"
            ))
            .bind(app)
            .bind(limit_i64(limit))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading captures"))?;
            rows.into_iter().map(capture_from_row).collect()
        })
        .await
    }

    async fn put_response(&self, response: &KeptResponse) -> Result<(), StoreError> {
        let r = response.clone();
        let pool = self.pool();
        self.run(async move {
            let mut tx = pool
                .begin()
                .await
                .map_err(query_err("starting to keep a response"))?;
            let created_at = exact_time(r.created_at);
            query(
                "INSERT INTO responses (id, owner, previous, created_at, expires_at, input, response)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET
                     owner = excluded.owner, previous = excluded.previous,
                     created_at = excluded.created_at, expires_at = excluded.expires_at,
                     input = excluded.input, response = excluded.response",
            )
            .bind(&r.id)
            .bind(&r.owner)
            .bind(&r.previous)
            .bind(&created_at)
            .bind(exact_time(r.expires_at))
            .bind(&r.input)
            .bind(&r.response)
            .execute(&mut *tx)
            .await
            .map_err(query_err("keeping a response"))?;
            query("DELETE FROM responses WHERE expires_at <= $1")
                .bind(&created_at)
                .execute(&mut *tx)
                .await
                .map_err(query_err("deleting expired responses"))?;
            tx.commit()
                .await
                .map_err(query_err("committing a kept response"))
        })
        .await
    }

    async fn response_chain(
        &self,
        owner: &str,
        id: &str,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<KeptResponse>, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        let now = exact_time(now);
        let pool = self.pool();
        self.run(async move {
            // From `id` back along `previous`, one step per row: only the owner's unexpired
            // responses, at most `max` of them (`depth` counts from the newest).
            let rows: Vec<ResponseRow> = query_as(&format!(
                "WITH RECURSIVE chain (depth, {RESPONSE_COLUMNS}) AS (
                     SELECT 1::bigint, {RESPONSE_COLUMNS} FROM responses
                     WHERE id = $1 AND owner = $2 AND expires_at > $3 AND $4 > 0
                     UNION ALL
                     SELECT chain.depth + 1, r.id, r.owner, r.previous, r.created_at,
                            r.expires_at, r.input, r.response
                     FROM chain JOIN responses AS r ON r.id = chain.previous
                     WHERE r.owner = $2 AND r.expires_at > $3 AND chain.depth < $4
                 )
                 SELECT {RESPONSE_COLUMNS} FROM chain ORDER BY depth DESC"
            ))
            .bind(id)
            .bind(owner)
            .bind(now)
            .bind(limit_i64(max))
            .fetch_all(&pool)
            .await
            .map_err(query_err("reading a response chain"))?;
            rows.into_iter().map(response_from_row).collect()
        })
        .await
    }

    async fn delete_response(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        let pool = self.pool();
        self.run(async move {
            let deleted = query("DELETE FROM responses WHERE id = $1 AND owner = $2")
                .bind(id)
                .bind(owner)
                .execute(&pool)
                .await
                .map_err(query_err("deleting a response"))?;
            Ok(deleted.rows_affected() > 0)
        })
        .await
    }

    async fn audit_usage(&self, since: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
        let window = comparable_time(since);
        let pool = self.pool();
        self.run(async move {
            let doing = "reading recorded usage";
            // A page at a time along the time index, each parsed before the next is read: a
            // million records never sit in memory as JSON. Pruned records have time '' and
            // fall outside the window. The text comparison is to the whole second; the exact
            // instant is compared once the time is read.
            let mut found = Vec::new();
            let mut after: (String, String, i64) = (String::new(), String::new(), -1);
            loop {
                let page: Vec<(String, String, String, i64)> = query_as(
                    "SELECT time, record, log_id, seq FROM audit
                     WHERE time >= $1 AND (time, log_id, seq) > ($2, $3, $4)
                     ORDER BY time, log_id, seq LIMIT $5",
                )
                .bind(&window)
                .bind(&after.0)
                .bind(&after.1)
                .bind(after.2)
                .bind(USAGE_PAGE)
                .fetch_all(&pool)
                .await
                .map_err(query_err(doing))?;
                let full = page.len() as i64 == USAGE_PAGE;
                for (time, record, log_id, seq) in &page {
                    if record.is_empty() {
                        continue;
                    }
                    if let Some(usage) = usage_from_record(time, record, (log_id, *seq))?
                        && usage.time >= since
                    {
                        found.push(usage);
                    }
                }
                match page.into_iter().last() {
                    Some((time, _, log_id, seq)) if full => after = (time, log_id, seq),
                    _ => break,
                }
            }
            // Text order is not quite time order (`10:00:00Z` sorts after `10:00:00.5Z`): a
            // stable sort by the instant, nearly free on nearly sorted rows.
            found.sort_by_key(|u: &UsageRow| u.time);
            Ok(found)
        })
        .await
    }
}

/// Makes a verdict the current standing of its (primary, fallback) pair.
const UPSERT_VERDICT: &str = "
    INSERT INTO fallback_validations (primary_model, fallback_model, validated, score, bar,
        suite_name, suite_hash, run_id, at, reason)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (primary_model, fallback_model) DO UPDATE SET
        validated = excluded.validated, score = excluded.score, bar = excluded.bar,
        suite_name = excluded.suite_name, suite_hash = excluded.suite_hash,
        run_id = excluded.run_id, at = excluded.at, reason = excluded.reason";

/// Appends a verdict to its primary's history.
const APPEND_VERDICT: &str = "
    INSERT INTO fallback_validation_history (primary_model, fallback_model, validated, score,
        bar, suite_name, suite_hash, run_id, at, reason)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// How many records one page of [`Store::audit_usage`] reads.
const USAGE_PAGE: i64 = 10_000;

/// A [`ScreeningListRow`] followed by the entries.
type ScreeningListDataRow = (
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    String,
    String,
    String,
);

fn screening_list_data_from_row(
    row: ScreeningListDataRow,
) -> Result<ScreeningListData, StoreError> {
    let (version_id, source, published, sha256, records, aliases, imported_at, actor, entries) =
        row;
    Ok(ScreeningListData {
        meta: screening_list_from_row((
            version_id,
            source,
            published,
            sha256,
            records,
            aliases,
            imported_at,
            actor,
        ))?,
        entries,
    })
}

/// Directive set `version` with its files, by name.
async fn directive_set(
    conn: &mut sqlx_postgres::PgConnection,
    version: i64,
) -> Result<DirectiveSet, StoreError> {
    let doing = "reading a directive set";
    let (policy_version, activated_at, actor): (String, String, String) = query_as(
        "SELECT policy_version, activated_at, actor FROM directive_sets WHERE version = $1",
    )
    .bind(version)
    .fetch_one(&mut *conn)
    .await
    .map_err(query_err(doing))?;
    let files: Vec<(String, String)> =
        query_as("SELECT name, content FROM directive_set_files WHERE version = $1 ORDER BY name")
            .bind(version)
            .fetch_all(&mut *conn)
            .await
            .map_err(query_err(doing))?;
    Ok(DirectiveSet {
        version,
        policy_version,
        files: files
            .into_iter()
            .map(|(name, content)| DirectiveFile { name, content })
            .collect(),
        activated_at: time_from_text(&activated_at)?,
        actor,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mode(url: &str, require_tls: bool) -> Result<PgSslMode, String> {
        let config = PgConfig {
            require_tls,
            ..PgConfig::new(url)
        };
        connect_options(&config)
            .map(|(o, _)| o.get_ssl_mode())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn remote_servers_get_tls_unless_the_url_names_a_mode() {
        assert!(matches!(
            mode("postgres://u@db.example.com/clearance", false),
            Ok(PgSslMode::Require)
        ));
        assert!(matches!(
            mode("postgres://u@10.1.2.3:5433/c", false),
            Ok(PgSslMode::Require)
        ));
        assert!(matches!(
            mode("postgres://u@db.example.com/c?sslmode=verify-full", false),
            Ok(PgSslMode::VerifyFull)
        ));
        assert!(matches!(
            mode("postgres://u@db.example.com/c?sslmode=disable", false),
            Ok(PgSslMode::Disable)
        ));
    }

    #[test]
    fn local_servers_keep_the_default_unless_tls_is_required() {
        for url in [
            "postgres://u@127.0.0.1/c",
            "postgres://u@localhost/c",
            "postgres://u@[::1]/c",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/c",
            "postgres:///c?host=/var/run/postgresql",
        ] {
            let m = mode(url, false).unwrap();
            assert!(ssl_strength(m) < 3, "{url}: {m:?}");
            assert!(matches!(mode(url, true), Ok(PgSslMode::Require)), "{url}");
        }
        let refused = mode("postgres://u@127.0.0.1/c?sslmode=prefer", true).unwrap_err();
        assert!(refused.contains("TLS is required"), "{refused}");
    }

    #[test]
    fn a_url_with_a_password_is_refused_without_showing_it() {
        for url in [
            "postgres://u:hunter2secret@db.example.com/c",
            "postgres://u@db.example.com/c?password=hunter2secret&sslmode=require",
        ] {
            let err = mode(url, false).unwrap_err();
            assert!(!err.contains("hunter2secret"), "{err}");
            assert!(err.contains("carries a password"), "{err}");
            assert!(err.contains("db.example.com"), "the URL is named: {err}");
        }
        let config = PgConfig {
            password: Some("hunter2secret".into()),
            ..PgConfig::new("postgres://u:hunter2secret@db.example.com/c")
        };
        assert!(!format!("{config:?}").contains("hunter2secret"));
    }

    #[test]
    fn derived_columns_are_the_record_fields_as_stored() {
        let json = r#"{"id":"r1","time":"2026-01-01T10:00:00.5Z","principal_id":"al\"ice","requested_model":null,"facts":{"b":1,"a":[1, 2]},"phase":"decision"}"#;
        let d: Derived<'_> = serde_json::from_str(json).unwrap();
        assert_eq!(d.time.as_deref(), Some("2026-01-01T10:00:00.5Z"));
        assert_eq!(d.principal_id.as_deref(), Some("al\"ice"));
        assert_eq!(d.requested_model, None);
        assert_eq!(d.facts.map(RawValue::get), Some(r#"{"b":1,"a":[1, 2]}"#));
        assert_eq!(d.phase.as_deref(), Some("decision"));
        let d: Derived<'_> = serde_json::from_str(r#"{"facts":null}"#).unwrap();
        assert!(d.facts.is_none() && d.time.is_none());
    }

    /// Every pooled connection commits synchronously, even where the server (or, here, the
    /// connection's start-up options) says otherwise. Needs the test server (see
    /// tests/contract.rs); skipped outside CI when it does not answer.
    #[tokio::test]
    #[allow(
        clippy::disallowed_methods,
        reason = "a test reads where its database is from the environment"
    )]
    async fn connections_commit_synchronously_whatever_the_server_default() {
        let url = std::env::var("CLEARANCE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_string());
        let mut url = Url::parse(&url).unwrap();
        url.query_pairs_mut()
            .append_pair("options", "-c synchronous_commit=off");
        let store = match PgStore::connect_without_migrating(PgConfig::new(url.as_str())).await {
            Ok(store) => store,
            Err(e) => {
                let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
                assert!(!ci, "PostgreSQL is unreachable: {e}");
                eprintln!("SKIPPED: no PostgreSQL ({e})");
                return;
            }
        };
        let pool = store.pool();
        let settings = store
            .run(async move {
                let mut seen = Vec::new();
                let mut held = Vec::new();
                for _ in 0..3 {
                    let mut conn = pool.acquire().await.map_err(query_err("acquiring"))?;
                    let on: String = query_scalar("SHOW synchronous_commit")
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(query_err("reading a setting"))?;
                    seen.push(on);
                    held.push(conn);
                }
                Ok(seen)
            })
            .await
            .unwrap();
        assert_eq!(settings, ["on", "on", "on"]);
    }

    #[test]
    fn time_keys_read_back_exactly() {
        let t = time_from_key("2026-01-01T10:00:00123456789").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-01T10:00:00.123456789+00:00");
        assert!(time_from_key("2026").is_err());
    }
}
