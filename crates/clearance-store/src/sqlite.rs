//! The embedded SQLite backend: one file, WAL mode, one connection behind a mutex, queries run
//! on tokio's blocking pool so they never stall the async workers.
//!
//! Durability: `synchronous = FULL` in WAL mode: every commit is fsynced before it returns, so
//! a record the store acknowledged survives a crash of the process or the machine. The audit
//! writer commits many requests' records in one transaction (group commit), so the fsync is
//! paid per batch, not per request. Audit appends have a connection of their own, so a long
//! read (an impact preview's scan) never holds up a commit a request is waiting for.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clearance_core::audit::SealedRecord;
use clearance_core::key::{KeyId, StoredKey};
use clearance_core::principal::{Principal, PrincipalId};
use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxBuildHasher;

use clearance_tlog::{Frontier, Hash, NodeId};

use crate::rows::{
    CAPTURE_COLUMNS, CaptureRow, RESPONSE_COLUMNS, RUN_COLUMNS, ResponseRow,
    SCREENING_LIST_COLUMNS, SCREENING_REVIEW_COLUMNS, SUITE_COLUMNS, VERDICT_COLUMNS,
    candidates_text, capture_from_row, check_verdicts, checkpoint_from_row, comparable_time,
    completed_nodes, exact_time, frontier_before, key_from_row, leaves_of, log_from_row,
    logged_from_row, no_open_run, node_id, principal_from_json, principal_rows, response_from_row,
    run_from_row, same_screening_list, scim_from_row, scim_time, screening_list_from_row,
    screening_review_from_row, sealed_from_row, suite_from_row, suite_not_stored, switch_from_row,
    time_from_text, tree_hash, usage_from_record, verdict_from_row,
};
use crate::{
    AuditLog, Capture, CaseOutcome, ChangeVersions, DerivedColumns, DirectiveFile, DirectiveSet,
    FactGroup, FactGroups, FallbackValidation, ImportSummary, InlineAudit, KeptResponse,
    LoggedRecord, ModelSwitch, ScimCommit, ScimCommitError, ScimRow, ScimSnapshot, ScreeningList,
    ScreeningListData, ScreeningReview, Store, StoreError, StoredCheckpoint, StoredSuite,
    TimeCursor, UsageRow, ValidationRun,
};

/// Migrations in order; the database's `user_version` says how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_audit_head.sql"),
    include_str!("../migrations/sqlite/0003_audit_facts.sql"),
    include_str!("../migrations/sqlite/0004_model_switches.sql"),
    include_str!("../migrations/sqlite/0005_model_switch_version.sql"),
    include_str!("../migrations/sqlite/0006_logs_and_directive_sets.sql"),
    include_str!("../migrations/sqlite/0007_verifiable_log.sql"),
    include_str!("../migrations/sqlite/0008_scim.sql"),
    include_str!("../migrations/sqlite/0009_screening.sql"),
    include_str!("../migrations/sqlite/0010_validation.sql"),
    include_str!("../migrations/sqlite/0011_responses.sql"),
];

/// The migration that adds the Merkle tree: existing logs get theirs right after it runs, in
/// its transaction ([`backfill_trees`]).
const TREE_MIGRATION: usize = 7;

/// How many records one retention transaction empties.
const PRUNE_CHUNK: i64 = 10_000;

/// How many node ids one tree query names: a proof or an append's frontier needs at most 64
/// (two parameters each, well under SQLite's limit).
const NODES_PER_QUERY: usize = 64;

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// The audit writer's own connection.
    audit: Arc<SqliteAudit>,
}

/// The audit logs matching `filter` (SQL over `audit_logs`), oldest first.
fn select_logs<P: rusqlite::Params>(
    conn: &Connection,
    filter: &str,
    params: P,
    doing: &'static str,
) -> Result<Vec<AuditLog>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT log_id, replica, opened_at, closed_at, head_seq, head_hash FROM audit_logs
             WHERE {filter} ORDER BY opened_at, log_id"
        ))
        .map_err(query(doing))?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .map_err(query(doing))?;
    rows.map(|row| log_from_row(row.map_err(query(doing))?))
        .collect()
}

/// Reads `seq, id, prev_hash, hash, record, log_id, time` (in that order) from a row.
fn logged_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::rows::LoggedRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn query(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Query {
        doing,
        source: source.into(),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            audit: Arc::new(SqliteAudit {
                conn: Mutex::new(connect(path)?),
                edge: Mutex::new(None),
            }),
        })
    }

    /// How many migrations the database at `path` has run, and how many this build knows,
    /// without running any.
    pub fn schema_version(path: &Path) -> Result<(usize, usize), StoreError> {
        let conn = connect(path)?;
        let applied: usize = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|source| StoreError::Migration {
                version: 0,
                source: source.into(),
            })?;
        Ok((applied, MIGRATIONS.len()))
    }

    /// Runs `work` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        Self::on_blocking_pool(Arc::clone(&self.conn), work).await
    }

    /// Runs `work` with the audit writer's connection on the blocking pool.
    async fn with_audit_conn<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let audit = Arc::clone(&self.audit);
        tokio::task::spawn_blocking(move || work(&mut *lock(&audit.conn)?))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    async fn on_blocking_pool<T, F>(conn: Arc<Mutex<Connection>>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        tokio::task::spawn_blocking(move || work(&mut *lock(&conn)?))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, StoreError> {
    mutex
        .lock()
        .map_err(|_| StoreError::Worker("connection mutex poisoned".into()))
}

/// The audit writer's connection, and the right edge of the log's Merkle tree as of its last
/// commit, so a batch extends the tree without reading the edge back from the database.
struct SqliteAudit {
    conn: Mutex<Connection>,
    /// `(log id, frontier)` after the last batch this process committed to that log. Only
    /// trusted when the next batch starts right after it; anything else reads the edge.
    edge: Mutex<Option<(String, Frontier)>>,
}

impl InlineAudit for SqliteAudit {
    fn append(&self, log_id: &str, batch: &[SealedRecord]) -> Result<(), StoreError> {
        let mut conn = lock(&self.conn)?;
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(());
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(query("starting an audit batch"))?;
        insert_records(&tx, log_id, batch)?;
        // Only a batch that continues the log's recorded head, on an open log: a second
        // writer on the same log, or a replayed batch, is refused here.
        let updated = tx
            .execute(
                "UPDATE audit_logs SET head_seq = ?2, head_hash = ?3
                 WHERE log_id = ?1 AND head_seq = ?4 AND head_hash = ?5 AND closed_at IS NULL",
                params![
                    log_id,
                    last.seq as i64,
                    last.hash.to_hex(),
                    first.seq as i64 - 1,
                    first.prev_hash.to_hex()
                ],
            )
            .map_err(query("recording the audit head"))?;
        if updated != 1 {
            return Err(StoreError::Corrupt {
                what: "audit log",
                detail: format!(
                    "the batch does not continue open log `{log_id}` (no such open log, or its head has moved: another writer, or this batch is already stored)"
                ),
            });
        }
        let frontier = self.extend_tree(&tx, log_id, batch)?;
        tx.commit().map_err(query("committing an audit batch"))?;
        if let Ok(mut edge) = self.edge.lock() {
            *edge = Some((log_id.to_string(), frontier));
        }
        Ok(())
    }
}

impl SqliteAudit {
    /// Stores every tree node the batch's leaves complete; returns the tree's new right edge.
    fn extend_tree(
        &self,
        tx: &rusqlite::Transaction<'_>,
        log_id: &str,
        batch: &[SealedRecord],
    ) -> Result<Frontier, StoreError> {
        let doing = "extending the audit tree";
        let first_seq = batch.first().map_or(1, |r| r.seq);
        let mut frontier = match self.remembered_edge(log_id, first_seq - 1) {
            Some(frontier) => frontier,
            None => {
                // The edge before the batch: O(log n) nodes, one query.
                let edge = clearance_tlog::merkle::root_nodes(first_seq - 1);
                let found = read_nodes(tx, log_id, &edge).map_err(query(doing))?;
                frontier_before(log_id, first_seq, &found)?
            }
        };
        let nodes = completed_nodes(log_id, &mut frontier, &leaves_of(batch))?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO audit_tree (log_id, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(query(doing))?;
        for (id, hash) in &nodes {
            insert
                .execute(params![log_id, id.level, id.index as i64, &hash.0[..]])
                .map_err(query(doing))?;
        }
        Ok(frontier)
    }

    /// The edge this process left after its last commit to `log_id`, if that commit ended the
    /// log at `size` leaves.
    fn remembered_edge(&self, log_id: &str, size: u64) -> Option<Frontier> {
        let edge = self.edge.lock().ok()?;
        let (log, frontier) = edge.as_ref()?;
        (log == log_id && frontier.size() == size).then(|| frontier.clone())
    }
}

/// Inserts the batch's rows, each with its query columns.
fn insert_records(
    tx: &rusqlite::Transaction<'_>,
    log_id: &str,
    batch: &[SealedRecord],
) -> Result<(), StoreError> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO audit (log_id, seq, id, prev_hash, hash, record, time, principal_id, requested_model, facts, phase)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(query("preparing an audit insert"))?;
    for r in batch {
        let columns: crate::QueryColumns<'_> =
            serde_json::from_str(&r.record_json).map_err(|e| StoreError::Corrupt {
                what: "audit record",
                detail: format!("record #{} is not a JSON object: {e}", r.seq),
            })?;
        insert
            .execute(params![
                log_id,
                r.seq as i64,
                r.id,
                r.prev_hash.to_hex(),
                r.hash.to_hex(),
                r.record_json,
                columns.time,
                columns.principal_id,
                columns.requested_model,
                columns.facts.map(|f| f.get()),
                columns.phase
            ])
            .map_err(query("appending audit records"))?;
    }
    Ok(())
}

/// A connection in WAL mode with full durability; a locked database is waited on for up to
/// five seconds before a statement fails (the audit writer then retries).
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        source: source.into(),
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Migration {
            version: 0,
            source: source.into(),
        })?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::SchemaTooNew {
            found: applied,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = index + 1;
        let fail = |source: rusqlite::Error| StoreError::Migration {
            version,
            source: source.into(),
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        if version == TREE_MIGRATION {
            backfill_trees(&tx).map_err(fail)?;
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}

/// Builds the Merkle tree of every log that has none from its records, in sequence order
/// (leaf index = seq - 1), streaming: a log of any size takes constant memory. A log with a
/// gap in its sequence numbers gets the tree of its records before the gap (`verify` reports
/// the gap).
fn backfill_trees(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    let logs: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT log_id FROM audit_logs AS l
             WHERE NOT EXISTS (SELECT 1 FROM audit_tree AS t WHERE t.log_id = l.log_id)",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut records = tx.prepare("SELECT seq, record FROM audit WHERE log_id = ?1 ORDER BY seq")?;
    let mut insert =
        tx.prepare("INSERT INTO audit_tree (log_id, level, idx, hash) VALUES (?1, ?2, ?3, ?4)")?;
    for log_id in &logs {
        let mut frontier = Frontier::new();
        let mut rows = records.query([log_id])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            if u64::try_from(seq).ok() != Some(frontier.size() + 1) {
                break;
            }
            let leaf = clearance_tlog::merkle::leaf_hash(row.get_ref(1)?.as_bytes()?);
            for (id, hash) in frontier.append(leaf) {
                insert.execute(params![log_id, id.level, id.index as i64, &hash.0[..]])?;
            }
        }
    }
    Ok(())
}

/// The stored hashes of `ids` in `log_id`'s tree (missing ones left out).
fn read_nodes(
    conn: &Connection,
    log_id: &str,
    ids: &[NodeId],
) -> Result<Vec<(NodeId, Hash)>, rusqlite::Error> {
    // One statement text for every call (ids padded to a full chunk by repeating one), so it is
    // prepared once and cached; the named ids drive the loop (CROSS JOIN keeps them outside):
    // one primary-key lookup each. `(level, idx) IN (VALUES ...)` would scan the log's tree.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let pairs: Vec<String> = (0..NODES_PER_QUERY)
            .map(|i| format!("(?{}, ?{})", 2 * i + 2, 2 * i + 3))
            .collect();
        format!(
            "SELECT DISTINCT t.level, t.idx, t.hash FROM (VALUES {}) AS v
             CROSS JOIN audit_tree AS t
             ON t.log_id = ?1 AND t.level = v.column1 AND t.idx = v.column2",
            pairs.join(", ")
        )
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(NODES_PER_QUERY) {
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(1 + 2 * NODES_PER_QUERY);
        values.push(log_id.to_string().into());
        for i in 0..NODES_PER_QUERY {
            let id = chunk.get(i).unwrap_or(&chunk[0]);
            values.push(i64::from(id.level).into());
            values.push((id.index as i64).into());
        }
        let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            if let Some(id) = node_id(row.get(0)?, row.get(1)?) {
                found.push((id, tree_hash(row.get_ref(2)?.as_bytes()?)));
            }
        }
    }
    Ok(found)
}

/// Reads a `scim_resources` row in its column order.
fn scim_db_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::rows::ScimDbRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn bump_version(tx: &rusqlite::Transaction<'_>, kind: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE change_versions SET version = version + 1 WHERE kind = ?1",
        [kind],
    )
    .map_err(query("bumping a change version"))?;
    Ok(())
}

/// Inserts or replaces principals (`(id, facts JSON)`, as [`principal_rows`] gives them) in
/// the caller's transaction and bumps the `principals` change version: the one way every
/// write of principals goes (imports, SCIM, screening).
fn upsert_principal_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[(String, String)],
) -> Result<ImportSummary, StoreError> {
    let now = Utc::now().to_rfc3339();
    let mut summary = ImportSummary::default();
    {
        let mut exists = tx
            .prepare_cached("SELECT 1 FROM principals WHERE id = ?1")
            .map_err(query("preparing import"))?;
        let mut upsert = tx
            .prepare_cached(
                "INSERT INTO principals (id, facts, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET facts = excluded.facts, updated_at = excluded.updated_at",
            )
            .map_err(query("preparing import"))?;
        for (id, facts) in rows {
            if exists.exists([id]).map_err(query("importing principals"))? {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
            upsert
                .execute(params![id, facts, now])
                .map_err(query("importing principals"))?;
        }
    }
    bump_version(tx, "principals")?;
    Ok(summary)
}

/// Reads model switch rows (model, disabled, reason, changed_at, actor) from `sql`.
fn switch_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    doing: &'static str,
) -> Result<Vec<ModelSwitch>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(query(doing))?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(query(doing))?;
    rows.map(|r| switch_from_row(r.map_err(query(doing))?))
        .collect()
}

/// Counts records per (principal, requested model, facts) without allocating for a record
/// whose group exists: groups are found by a hash of the borrowed row values, with groups of
/// the same hash chained through `next`.
#[derive(Default)]
struct FactGrouper {
    first_by_hash: HashMap<u64, usize, FxBuildHasher>,
    groups: Vec<FactGroup>,
    next: Vec<Option<usize>>,
}

impl FactGrouper {
    fn with_capacity(records: usize) -> FactGrouper {
        FactGrouper {
            first_by_hash: HashMap::with_capacity_and_hasher(records, FxBuildHasher),
            groups: Vec::with_capacity(records),
            next: Vec::with_capacity(records),
        }
    }

    fn add(
        &mut self,
        principal: &str,
        model: &str,
        facts: Option<&str>,
        time: &str,
    ) -> Result<(), StoreError> {
        let hash = FxBuildHasher.hash_one((principal, model, facts));
        let mut at = self.first_by_hash.get(&hash).copied();
        let mut last_in_chain = None;
        while let Some(i) = at {
            let g = &mut self.groups[i];
            if g.principal_id == principal
                && g.requested_model == model
                && g.facts_json.as_deref() == facts
            {
                let time = time_from_text(time)?;
                g.count += 1;
                g.first = g.first.min(time);
                g.last = g.last.max(time);
                return Ok(());
            }
            last_in_chain = Some(i);
            at = self.next[i];
        }
        let time = time_from_text(time)?;
        let index = self.groups.len();
        self.groups.push(FactGroup {
            principal_id: principal.to_string(),
            requested_model: model.to_string(),
            facts_json: facts.map(String::from),
            count: 1,
            first: time,
            last: time,
        });
        self.next.push(None);
        match last_in_chain {
            Some(i) => self.next[i] = Some(index),
            None => {
                self.first_by_hash.insert(hash, index);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_principals(
        &self,
        principals: &[Principal],
    ) -> Result<ImportSummary, StoreError> {
        let rows = principal_rows(principals);
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query("starting a principal import"))?;
            let summary = upsert_principal_rows(&tx, &rows)?;
            tx.commit()
                .map_err(query("committing a principal import"))?;
            Ok(summary)
        })
        .await
    }

    async fn delete_principals(&self, ids: &[PrincipalId]) -> Result<usize, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query("starting a principal deletion"))?;
            let mut deleted = 0;
            {
                let mut delete = tx
                    .prepare("DELETE FROM principals WHERE id = ?1")
                    .map_err(query("preparing a principal deletion"))?;
                for id in &ids {
                    deleted += delete.execute([id]).map_err(query("deleting principals"))?;
                }
            }
            bump_version(&tx, "principals")?;
            tx.commit()
                .map_err(query("committing a principal deletion"))?;
            Ok(deleted)
        })
        .await
    }

    async fn principal(&self, id: &PrincipalId) -> Result<Option<Principal>, StoreError> {
        let id = id.to_string();
        self.with_conn(move |conn| {
            let json: Option<String> = conn
                .query_row("SELECT facts FROM principals WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(query("reading a principal"))?;
            json.as_deref().map(principal_from_json).transpose()
        })
        .await
    }

    async fn principals(&self) -> Result<Vec<Principal>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare("SELECT facts FROM principals ORDER BY id")
                .map_err(query("listing principals"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(query("listing principals"))?;
            rows.map(|r| principal_from_json(&r.map_err(query("listing principals"))?))
                .collect()
        })
        .await
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(query("starting a key insert"))?;
            tx.execute(
                "INSERT INTO keys (id, principal_id, name, secret_hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.id.as_str(),
                    key.principal_id.as_str(),
                    key.name,
                    key.hash.to_hex(),
                    key.created.to_rfc3339(),
                    key.revoked.map(|t| t.to_rfc3339())
                ],
            )
            .map_err(query("inserting a key"))?;
            bump_version(&tx, "keys")?;
            tx.commit().map_err(query("committing a key insert"))
        })
        .await
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare("SELECT id, principal_id, name, secret_hash, created_at, revoked_at FROM keys ORDER BY created_at, id")
                .map_err(query("listing keys"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .map_err(query("listing keys"))?;
            rows.map(|r| key_from_row(r.map_err(query("listing keys"))?)).collect()
        })
        .await
    }

    async fn revoke_key(&self, id: &KeyId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.with_conn(move |conn| {
            let tx = conn
                .transaction()
                .map_err(query("starting a key revocation"))?;
            let changed = tx
                .execute(
                    "UPDATE keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, at.to_rfc3339()],
                )
                .map_err(query("revoking a key"))?;
            bump_version(&tx, "keys")?;
            tx.commit().map_err(query("committing a key revocation"))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn change_versions(&self) -> Result<ChangeVersions, StoreError> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT kind, version FROM change_versions")
                .map_err(query("reading change versions"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(query("reading change versions"))?;
            let mut versions = ChangeVersions::default();
            for row in rows {
                match row.map_err(query("reading change versions"))? {
                    (kind, v) if kind == "keys" => versions.keys = v,
                    (kind, v) if kind == "principals" => versions.principals = v,
                    (kind, v) if kind == "model_switches" => versions.model_switches = v,
                    (kind, v) if kind == "directives" => versions.directives = v,
                    (kind, v) if kind == "screening" => versions.screening = v,
                    (kind, v) if kind == "validations" => versions.validations = v,
                    _ => {}
                }
            }
            Ok(versions)
        })
        .await
    }

    async fn open_log(
        &self,
        log_id: &str,
        replica: &str,
        opened_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (log_id, replica) = (log_id.to_string(), replica.to_string());
        self.with_audit_conn(move |conn| {
            conn.execute(
                "INSERT INTO audit_logs (log_id, replica, opened_at) VALUES (?1, ?2, ?3)",
                params![log_id, replica, opened_at.to_rfc3339()],
            )
            .map_err(query("opening an audit log"))?;
            Ok(())
        })
        .await
    }

    async fn append_audit(&self, log_id: &str, batch: &[SealedRecord]) -> Result<(), StoreError> {
        let (appender, log_id, batch) =
            (Arc::clone(&self.audit), log_id.to_string(), batch.to_vec());
        tokio::task::spawn_blocking(move || appender.append(&log_id, &batch))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    fn inline_audit(&self) -> Option<Arc<dyn InlineAudit>> {
        Some(Arc::clone(&self.audit) as Arc<dyn InlineAudit>)
    }

    async fn tree_nodes(
        &self,
        log_id: &str,
        ids: &[NodeId],
    ) -> Result<Vec<(NodeId, Hash)>, StoreError> {
        let (log_id, ids) = (log_id.to_string(), ids.to_vec());
        self.with_conn(move |conn| {
            read_nodes(conn, &log_id, &ids).map_err(query("reading audit tree nodes"))
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
        self.with_conn(move |conn| {
            let doing = "reading an audit tree level";
            let mut stmt = conn
                .prepare_cached(
                    "SELECT idx, hash FROM audit_tree WHERE log_id = ?1 AND level = ?2
                     AND idx >= ?3 AND idx < ?4 ORDER BY idx",
                )
                .map_err(query(doing))?;
            let end = range.end.min(i64::MAX as u64) as i64;
            let mut rows = stmt
                .query(params![
                    log_id,
                    level,
                    range.start.min(i64::MAX as u64) as i64,
                    end
                ])
                .map_err(query(doing))?;
            let mut hashes = Vec::new();
            while let Some(row) = rows.next().map_err(query(doing))? {
                let idx: i64 = row.get(0).map_err(query(doing))?;
                if u64::try_from(idx).ok() != Some(range.start + hashes.len() as u64) {
                    break;
                }
                let bytes = row
                    .get_ref(1)
                    .and_then(|v| Ok(v.as_bytes()?))
                    .map_err(query(doing))?;
                hashes.push(tree_hash(bytes));
            }
            Ok(hashes)
        })
        .await
    }

    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let c = checkpoint.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO audit_checkpoints (log_id, size, note, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (log_id, size) DO UPDATE SET note = excluded.note, created_at = excluded.created_at",
                params![c.log_id, c.size as i64, c.note, c.created_at.to_rfc3339()],
            )
            .map_err(query("storing a checkpoint"))?;
            Ok(())
        })
        .await
    }

    async fn checkpoints(&self, log_id: &str) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let log_id = log_id.to_string();
        self.with_conn(move |conn| {
            let doing = "listing checkpoints";
            let mut stmt = conn
                .prepare_cached(
                    "SELECT log_id, size, note, created_at FROM audit_checkpoints WHERE log_id = ?1 ORDER BY size",
                )
                .map_err(query(doing))?;
            let rows = stmt
                .query_map([log_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(query(doing))?;
            rows.map(|r| checkpoint_from_row(r.map_err(query(doing))?)).collect()
        })
        .await
    }

    async fn latest_checkpoint(
        &self,
        log_id: &str,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let log_id = log_id.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT log_id, size, note, created_at FROM audit_checkpoints WHERE log_id = ?1
                 ORDER BY size DESC LIMIT 1",
                [log_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(query("reading the latest checkpoint"))?
            .map(checkpoint_from_row)
            .transpose()
        })
        .await
    }

    async fn records_of_request(&self, request_id: &str) -> Result<Vec<LoggedRecord>, StoreError> {
        let request_id = request_id.to_string();
        self.with_conn(move |conn| {
            let doing = "reading a request's audit records";
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, id, prev_hash, hash, record, log_id, coalesce(time, '') FROM audit
                     WHERE id = ?1 ORDER BY log_id, seq",
                )
                .map_err(query(doing))?;
            let rows = stmt
                .query_map([request_id], logged_row)
                .map_err(query(doing))?;
            rows.map(|r| Ok(logged_from_row(r.map_err(query(doing))?)))
                .collect()
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
        self.with_conn(move |conn| {
            let doing = "reading audit query columns";
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, time, principal_id, requested_model, facts, phase FROM audit
                     WHERE log_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(query(doing))?;
            let rows = stmt
                .query_map(params![log_id, after_seq as i64, limit as i64], |r| {
                    // Read as text whatever SQLite holds (an edit may store another type).
                    let text = |i: usize| -> rusqlite::Result<Option<String>> {
                        Ok(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
                            rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                            rusqlite::types::ValueRef::Text(t)
                            | rusqlite::types::ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                    };
                    Ok(DerivedColumns {
                        seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        time: text(1)?,
                        principal_id: text(2)?,
                        requested_model: text(3)?,
                        facts: text(4)?,
                        phase: text(5)?,
                    })
                })
                .map_err(query(doing))?;
            rows.map(|r| r.map_err(query(doing))).collect()
        })
        .await
    }

    async fn prune_audit_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = comparable_time(before);
        let mut pruned = 0u64;
        loop {
            let before = before.clone();
            // A chunk per transaction, on the main connection: the audit writer's commits
            // wait for one chunk at most, never for the whole retention run.
            // Log boundaries are kept: found by their action in the record's text (the
            // writer's compact JSON), not by parsing it, so a record that is not JSON
            // (tampered) cannot fail the whole run; a false match only keeps a record.
            let n = self
                .with_conn(move |conn| {
                    conn.execute(
                        "UPDATE audit SET record = '', time = NULL, principal_id = NULL,
                             requested_model = NULL, facts = NULL, phase = NULL
                         WHERE pos IN (
                             SELECT pos FROM audit WHERE time < ?1
                               AND instr(record, '\"action\":\"log_open\"') = 0
                               AND instr(record, '\"action\":\"log_close\"') = 0
                             LIMIT ?2)",
                        params![before, PRUNE_CHUNK],
                    )
                    .map_err(query("pruning audit records"))
                })
                .await?;
            pruned += n as u64;
            if n < PRUNE_CHUNK as usize {
                return Ok(pruned);
            }
        }
    }

    async fn close_log(&self, log_id: &str, closed_at: DateTime<Utc>) -> Result<(), StoreError> {
        let log_id = log_id.to_string();
        self.with_audit_conn(move |conn| {
            conn.execute(
                "UPDATE audit_logs SET closed_at = ?2 WHERE log_id = ?1",
                params![log_id, closed_at.to_rfc3339()],
            )
            .map_err(query("closing an audit log"))?;
            Ok(())
        })
        .await
    }

    async fn audit_logs(&self) -> Result<Vec<AuditLog>, StoreError> {
        self.with_conn(|conn| select_logs(conn, "TRUE", [], "listing audit logs"))
            .await
    }

    async fn audit_log(&self, log_id: &str) -> Result<Option<AuditLog>, StoreError> {
        let log_id = log_id.to_string();
        self.with_conn(move |conn| {
            select_logs(conn, "log_id = ?1", [log_id], "reading an audit log")
                .map(|logs| logs.into_iter().next())
        })
        .await
    }

    async fn closed_logs_beyond_checkpoints(&self) -> Result<Vec<AuditLog>, StoreError> {
        self.with_conn(|conn| {
            select_logs(
                conn,
                "closed_at IS NOT NULL AND head_seq > coalesce((SELECT max(size) FROM \
                 audit_checkpoints c WHERE c.log_id = audit_logs.log_id), 0)",
                [],
                "listing closed audit logs past their checkpoints",
            )
        })
        .await
    }

    async fn audit_page(
        &self,
        log_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let log_id = log_id.to_string();
        self.with_conn(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, id, prev_hash, hash, record FROM audit WHERE log_id = ?1 AND seq > ?2
                     ORDER BY seq LIMIT ?3",
                )
                .map_err(query("reading audit records"))?;
            let rows = stmt
                .query_map(params![log_id, after_seq as i64, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(query("reading audit records"))?;
            rows.map(|r| Ok(sealed_from_row(r.map_err(query("reading audit records"))?))).collect()
        })
        .await
    }

    async fn audit_page_by_time(
        &self,
        after: Option<&TimeCursor>,
        limit: usize,
    ) -> Result<Vec<LoggedRecord>, StoreError> {
        let after = after.cloned();
        self.with_conn(move |conn| {
            let doing = "reading audit records in time order";
            let (time, log_id, seq) = match after {
                Some(c) => (c.time, c.log_id, c.seq as i64),
                None => (String::new(), String::new(), -1),
            };
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, id, prev_hash, hash, record, log_id, coalesce(time, '') FROM audit
                     WHERE (coalesce(time, ''), log_id, seq) > (?1, ?2, ?3)
                     ORDER BY coalesce(time, ''), log_id, seq LIMIT ?4",
                )
                .map_err(query(doing))?;
            let rows = stmt
                .query_map(params![time, log_id, seq, limit as i64], logged_row)
                .map_err(query(doing))?;
            rows.map(|r| Ok(logged_from_row(r.map_err(query(doing))?)))
                .collect()
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
        self.with_conn(move |conn| {
            // Read through a memory map for this scan only: pages are used where the OS cache
            // holds them instead of being copied out one `pread` at a time (a second saved
            // per million records). Switched off again whatever the scan's outcome.
            conn.pragma_update(None, "mmap_size", SCAN_MMAP_BYTES)
                .map_err(query("mapping the store for a scan"))?;
            let found = group_recorded_facts(conn, &since, models.as_deref());
            conn.pragma_update(None, "mmap_size", 0)
                .map_err(query("unmapping the store after a scan"))?;
            found
        })
        .await
    }

    async fn model_switches(&self) -> Result<Vec<ModelSwitch>, StoreError> {
        self.with_conn(|conn| {
            switch_rows(
                conn,
                "SELECT model, disabled, reason, changed_at, actor FROM model_switches ORDER BY model",
                [],
                "reading model switches",
            )
        })
        .await
    }

    async fn set_model_switch(&self, switch: &ModelSwitch) -> Result<(), StoreError> {
        let switch = switch.clone();
        self.with_conn(move |conn| {
            let tx = conn
                .transaction()
                .map_err(query("starting a model switch change"))?;
            let values = params![
                switch.model,
                switch.disabled,
                switch.reason,
                switch.changed_at.to_rfc3339(),
                switch.actor
            ];
            tx.execute(
                "INSERT INTO model_switches (model, disabled, reason, changed_at, actor) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(model) DO UPDATE SET disabled = excluded.disabled, reason = excluded.reason,
                     changed_at = excluded.changed_at, actor = excluded.actor",
                values,
            )
            .map_err(query("setting a model switch"))?;
            tx.execute(
                "INSERT INTO model_switch_events (model, disabled, reason, changed_at, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
                values,
            )
            .map_err(query("recording a model switch event"))?;
            bump_version(&tx, "model_switches")?;
            tx.commit().map_err(query("committing a model switch change"))
        })
        .await
    }

    async fn model_switch_history(&self, model: &str) -> Result<Vec<ModelSwitch>, StoreError> {
        let model = model.to_string();
        self.with_conn(move |conn| {
            switch_rows(
                conn,
                "SELECT model, disabled, reason, changed_at, actor FROM model_switch_events WHERE model = ?1 ORDER BY id",
                [model],
                "reading a model's switch history",
            )
        })
        .await
    }

    async fn activate_directive_set(&self, set: &DirectiveSet) -> Result<i64, StoreError> {
        let set = set.clone();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(query("starting a directive set activation"))?;
            let version: i64 = tx
                .query_row("SELECT coalesce(max(version), 0) + 1 FROM directive_sets", [], |r| r.get(0))
                .map_err(query("numbering a directive set"))?;
            tx.execute(
                "INSERT INTO directive_sets (version, policy_version, activated_at, actor) VALUES (?1, ?2, ?3, ?4)",
                params![version, set.policy_version, set.activated_at.to_rfc3339(), set.actor],
            )
            .map_err(query("storing a directive set"))?;
            for file in &set.files {
                tx.execute(
                    "INSERT INTO directive_set_files (version, name, content) VALUES (?1, ?2, ?3)",
                    params![version, file.name, file.content],
                )
                .map_err(query("storing a directive file"))?;
            }
            bump_version(&tx, "directives")?;
            tx.commit().map_err(query("committing a directive set activation"))?;
            Ok(version)
        })
        .await
    }

    async fn active_directive_set(&self) -> Result<Option<DirectiveSet>, StoreError> {
        self.with_conn(|conn| {
            let latest: Option<i64> = conn
                .query_row("SELECT max(version) FROM directive_sets", [], |r| r.get(0))
                .map_err(query("reading the active directive set"))?;
            latest.map(|v| directive_set(conn, v)).transpose()
        })
        .await
    }

    async fn directive_sets(&self) -> Result<Vec<DirectiveSet>, StoreError> {
        self.with_conn(|conn| {
            let doing = "listing directive sets";
            let versions: Vec<i64> = {
                let mut stmt = conn
                    .prepare("SELECT version FROM directive_sets ORDER BY version")
                    .map_err(query(doing))?;
                let rows = stmt.query_map([], |r| r.get(0)).map_err(query(doing))?;
                rows.collect::<Result<_, _>>().map_err(query(doing))?
            };
            versions
                .into_iter()
                .map(|v| directive_set(conn, v))
                .collect()
        })
        .await
    }
    async fn scim_snapshot(&self) -> Result<ScimSnapshot, StoreError> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction()
                .map_err(query("starting a SCIM read"))?;
            let version: i64 = tx
                .query_row(
                    "SELECT version FROM change_versions WHERE kind = 'scim'",
                    [],
                    |r| r.get(0),
                )
                .map_err(query("reading the SCIM version"))?;
            let resources = {
                let mut stmt = tx
                    .prepare(
                        "SELECT kind, id, name_key, external_id, body, version, created, last_modified
                         FROM scim_resources ORDER BY kind, created, id",
                    )
                    .map_err(query("listing SCIM resources"))?;
                let rows = stmt
                    .query_map([], scim_db_row)
                    .map_err(query("listing SCIM resources"))?;
                rows.map(|r| scim_from_row(r.map_err(query("listing SCIM resources"))?))
                    .collect::<Result<Vec<_>, _>>()?
            };
            Ok(ScimSnapshot { version, resources })
        })
        .await
    }

    async fn scim_resource(&self, kind: &str, id: &str) -> Result<Option<ScimRow>, StoreError> {
        let (kind, id) = (kind.to_string(), id.to_string());
        self.with_conn(move |conn| {
            let row = conn
                .query_row(
                    "SELECT kind, id, name_key, external_id, body, version, created, last_modified
                     FROM scim_resources WHERE kind = ?1 AND id = ?2",
                    params![kind, id],
                    scim_db_row,
                )
                .optional()
                .map_err(query("reading a SCIM resource"))?;
            row.map(scim_from_row).transpose()
        })
        .await
    }

    async fn scim_commit(&self, commit: &ScimCommit) -> Result<i64, ScimCommitError> {
        let commit = commit.clone();
        let principals = principal_rows(&commit.upsert_principals);
        self
            .with_conn(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(query("starting a SCIM change"))?;
                let version: i64 = tx
                    .query_row(
                        "SELECT version FROM change_versions WHERE kind = 'scim'",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(query("reading the SCIM version"))?;
                if version != commit.expected_version {
                    return Ok(Err(ScimCommitError::Conflict));
                }
                for (kind, id) in &commit.delete {
                    tx.execute(
                        "DELETE FROM scim_resources WHERE kind = ?1 AND id = ?2",
                        params![kind, id],
                    )
                    .map_err(query("deleting a SCIM resource"))?;
                }
                for row in &commit.put {
                    let taken: Option<String> = tx
                        .query_row(
                            "SELECT id FROM scim_resources WHERE kind = ?1 AND name_key = ?2 AND id <> ?3",
                            params![row.kind, row.name_key, row.id],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(query("checking a SCIM name"))?;
                    if taken.is_some() {
                        return Ok(Err(ScimCommitError::Uniqueness {
                            kind: row.kind.clone(),
                            name_key: row.name_key.clone(),
                        }));
                    }
                    tx.execute(
                        "INSERT INTO scim_resources (kind, id, name_key, external_id, body, version, created, last_modified)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (kind, id) DO UPDATE SET name_key = excluded.name_key,
                           external_id = excluded.external_id, body = excluded.body,
                           version = excluded.version, last_modified = excluded.last_modified",
                        params![
                            row.kind,
                            row.id,
                            row.name_key,
                            row.external_id,
                            row.body,
                            row.version,
                            scim_time(row.created),
                            scim_time(row.last_modified)
                        ],
                    )
                    .map_err(query("writing a SCIM resource"))?;
                }
                for id in &commit.delete_principals {
                    tx.execute("DELETE FROM principals WHERE id = ?1", [id.as_str()])
                        .map_err(query("deleting a provisioned principal"))?;
                }
                upsert_principal_rows(&tx, &principals)?;
                bump_version(&tx, "scim")?;
                tx.commit().map_err(query("committing a SCIM change"))?;
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
        let rows = principal_rows(rescreened);
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query("starting a screening list import"))?;
            let stored: Option<String> = tx
                .query_row(
                    "SELECT sha256 FROM screening_lists WHERE version_id = ?1",
                    [&list.meta.version_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(query("looking up a screening list version"))?;
            if let Some(stored) = stored {
                return same_screening_list(&list, stored);
            }
            let m = &list.meta;
            tx.execute(
                "INSERT INTO screening_lists (version_id, seq, source, published, sha256,
                     record_count, alias_count, imported_at, actor, entries)
                 VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM screening_lists),
                     ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    m.version_id,
                    m.source,
                    m.published,
                    m.sha256,
                    m.record_count,
                    m.alias_count,
                    m.imported_at.to_rfc3339(),
                    m.actor,
                    list.entries
                ],
            )
            .map_err(query("storing a screening list"))?;
            upsert_principal_rows(&tx, &rows)?;
            bump_version(&tx, "screening")?;
            tx.commit()
                .map_err(query("committing a screening list import"))
        })
        .await
    }

    async fn screening_lists(&self) -> Result<Vec<ScreeningList>, StoreError> {
        self.with_conn(|conn| {
            let doing = "listing screening lists";
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {SCREENING_LIST_COLUMNS} FROM screening_lists ORDER BY seq DESC"
                ))
                .map_err(query(doing))?;
            let rows = stmt
                .query_map([], screening_list_tuple)
                .map_err(query(doing))?;
            rows.map(|r| screening_list_from_row(r.map_err(query(doing))?))
                .collect()
        })
        .await
    }

    async fn current_screening_lists(&self) -> Result<Vec<ScreeningListData>, StoreError> {
        self.with_conn(|conn| {
            screening_lists_with_entries(
                conn,
                "WHERE seq = (SELECT max(seq) FROM screening_lists WHERE source = l.source)
                 ORDER BY source",
                [],
                "reading the current screening lists",
            )
        })
        .await
    }

    async fn screening_list(
        &self,
        version_id: &str,
    ) -> Result<Option<ScreeningListData>, StoreError> {
        let version_id = version_id.to_string();
        self.with_conn(move |conn| {
            let mut found = screening_lists_with_entries(
                conn,
                "WHERE version_id = ?1",
                [version_id],
                "reading a screening list",
            )?;
            Ok(found.pop())
        })
        .await
    }

    async fn add_screening_review(
        &self,
        review: &ScreeningReview,
        updated: Option<&Principal>,
    ) -> Result<i64, StoreError> {
        let review = review.clone();
        let rows = principal_rows(updated.map(std::slice::from_ref).unwrap_or_default());
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query("starting a screening review"))?;
            tx.execute(
                "INSERT INTO screening_reviews (subject, list_source, entity_id, entry_hash,
                     subject_hash, decision, reason, actor, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    review.subject,
                    review.list_source,
                    review.entity_id,
                    review.entry_hash,
                    review.subject_hash,
                    review.decision,
                    review.reason,
                    review.actor,
                    review.at.to_rfc3339()
                ],
            )
            .map_err(query("storing a screening review"))?;
            let id = tx.last_insert_rowid();
            if !rows.is_empty() {
                upsert_principal_rows(&tx, &rows)?;
            }
            bump_version(&tx, "screening")?;
            tx.commit()
                .map_err(query("committing a screening review"))?;
            Ok(id)
        })
        .await
    }

    async fn screening_reviews(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<ScreeningReview>, StoreError> {
        let subject = subject.map(String::from);
        self.with_conn(move |conn| {
            let doing = "reading screening reviews";
            let (filter, subject) = match subject {
                Some(s) => ("WHERE subject = ?1", vec![s]),
                None => ("", Vec::new()),
            };
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {SCREENING_REVIEW_COLUMNS} FROM screening_reviews {filter} ORDER BY id"
                ))
                .map_err(query(doing))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(subject), screening_review_tuple)
                .map_err(query(doing))?;
            rows.map(|r| screening_review_from_row(r.map_err(query(doing))?))
                .collect()
        })
        .await
    }
    async fn put_suite(&self, suite: &StoredSuite) -> Result<(), StoreError> {
        let suite = suite.clone();
        self.with_conn(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO validation_suites ({SUITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (hash) DO NOTHING"
                ),
                params![
                    suite.hash,
                    suite.name,
                    suite.file_name,
                    suite.text,
                    exact_time(suite.stored_at)
                ],
            )
            .map_err(query("storing an eval suite"))?;
            Ok(())
        })
        .await
    }

    async fn suite(&self, hash: &str) -> Result<Option<StoredSuite>, StoreError> {
        let hash = hash.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                &format!("SELECT {SUITE_COLUMNS} FROM validation_suites WHERE hash = ?1"),
                [hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(query("reading an eval suite"))?
            .map(suite_from_row)
            .transpose()
        })
        .await
    }

    async fn start_validation_run(&self, run: &ValidationRun) -> Result<(), StoreError> {
        let run = run.clone();
        self.with_conn(move |conn| {
            // Only on a stored suite: the run must be able to name (and `serve` re-run) it.
            let inserted = conn
                .execute(
                    "INSERT INTO validation_runs (run_id, suite_hash, primary_model, candidates,
                         bar, started_at, actor)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                     WHERE EXISTS (SELECT 1 FROM validation_suites WHERE hash = ?2)",
                    params![
                        run.run_id,
                        run.suite_hash,
                        run.primary_model,
                        candidates_text(&run.candidates),
                        run.bar,
                        exact_time(run.started_at),
                        run.actor
                    ],
                )
                .map_err(query("starting a validation run"))?;
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
        self.with_conn(move |conn| {
            let mut runs = run_rows(
                conn,
                "WHERE run_id = ?1",
                [run_id],
                "reading a validation run",
            )?;
            Ok(runs.pop())
        })
        .await
    }

    async fn unfinished_validation_run(
        &self,
        suite_hash: &str,
        primary_model: &str,
        candidates: &[String],
    ) -> Result<Option<ValidationRun>, StoreError> {
        let filter = (
            suite_hash.to_string(),
            primary_model.to_string(),
            candidates_text(candidates),
        );
        self.with_conn(move |conn| {
            let mut runs = run_rows(
                conn,
                "WHERE suite_hash = ?1 AND primary_model = ?2 AND candidates = ?3
                   AND finished_at IS NULL
                 ORDER BY started_at DESC, seq DESC LIMIT 1",
                params![filter.0, filter.1, filter.2],
                "looking for an unfinished validation run",
            )?;
            Ok(runs.pop())
        })
        .await
    }

    async fn put_case_outcome(&self, outcome: &CaseOutcome) -> Result<(), StoreError> {
        let o = outcome.clone();
        self.with_conn(move |conn| {
            // One statement, so one (fsynced) commit: durable when it returns.
            let written = conn
                .execute(
                    "INSERT INTO validation_outcomes (run_id, model, case_id, result)
                     SELECT ?1, ?2, ?3, ?4
                     WHERE EXISTS (SELECT 1 FROM validation_runs
                                   WHERE run_id = ?1 AND finished_at IS NULL)
                     ON CONFLICT (run_id, model, case_id) DO UPDATE SET result = excluded.result",
                    params![o.run_id, o.model, o.case_id, o.result],
                )
                .map_err(query("storing a case outcome"))?;
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
        self.with_conn(move |conn| {
            let doing = "reading case outcomes";
            let mut stmt = conn
                .prepare_cached(
                    "SELECT run_id, model, case_id, result FROM validation_outcomes
                     WHERE run_id = ?1 ORDER BY model, case_id",
                )
                .map_err(query(doing))?;
            let rows = stmt
                .query_map([run_id], |r| {
                    Ok(CaseOutcome {
                        run_id: r.get(0)?,
                        model: r.get(1)?,
                        case_id: r.get(2)?,
                        result: r.get(3)?,
                    })
                })
                .map_err(query(doing))?;
            rows.map(|r| r.map_err(query(doing))).collect()
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
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query("starting to finish a validation run"))?;
            let primary: Option<String> = tx
                .query_row(
                    "SELECT primary_model FROM validation_runs
                     WHERE run_id = ?1 AND finished_at IS NULL",
                    [&run_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(query("reading a validation run"))?;
            let primary = primary.ok_or_else(|| no_open_run(&run_id))?;
            check_verdicts(&run_id, &primary, &verdicts)?;
            tx.execute(
                "UPDATE validation_runs SET finished_at = ?2 WHERE run_id = ?1",
                params![run_id, exact_time(finished_at)],
            )
            .map_err(query("finishing a validation run"))?;
            {
                let doing = "recording fallback validations";
                let mut current = tx
                    .prepare_cached(&format!(
                        "INSERT INTO fallback_validations ({VERDICT_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (primary_model, fallback_model) DO UPDATE SET
                             validated = excluded.validated, score = excluded.score,
                             bar = excluded.bar, suite_name = excluded.suite_name,
                             suite_hash = excluded.suite_hash, run_id = excluded.run_id,
                             at = excluded.at, reason = excluded.reason"
                    ))
                    .map_err(query(doing))?;
                let mut history = tx
                    .prepare_cached(&format!(
                        "INSERT INTO fallback_validation_history ({VERDICT_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                    ))
                    .map_err(query(doing))?;
                for v in &verdicts {
                    let values = params![
                        v.primary_model,
                        v.fallback_model,
                        v.validated,
                        v.score,
                        v.bar,
                        v.suite_name,
                        v.suite_hash,
                        v.run_id,
                        exact_time(v.at),
                        v.reason
                    ];
                    current.execute(values).map_err(query(doing))?;
                    history.execute(values).map_err(query(doing))?;
                }
            }
            bump_version(&tx, "validations")?;
            tx.commit()
                .map_err(query("committing a finished validation run"))
        })
        .await
    }

    async fn fallback_validations(&self) -> Result<Vec<FallbackValidation>, StoreError> {
        self.with_conn(|conn| {
            verdict_rows(
                conn,
                "fallback_validations ORDER BY primary_model, fallback_model",
                [],
                "reading fallback validations",
            )
        })
        .await
    }

    async fn fallback_validation_history(
        &self,
        primary_model: &str,
    ) -> Result<Vec<FallbackValidation>, StoreError> {
        let primary_model = primary_model.to_string();
        self.with_conn(move |conn| {
            verdict_rows(
                conn,
                "fallback_validation_history WHERE primary_model = ?1 ORDER BY id",
                [primary_model],
                "reading a primary's validation history",
            )
        })
        .await
    }

    async fn finished_validation_runs(&self) -> Result<Vec<ValidationRun>, StoreError> {
        self.with_conn(|conn| {
            run_rows(
                conn,
                "WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, seq DESC",
                [],
                "listing finished validation runs",
            )
        })
        .await
    }

    async fn put_capture(&self, capture: &Capture, keep_per_app: usize) -> Result<(), StoreError> {
        let c = capture.clone();
        let keep = i64::try_from(keep_per_app).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query("starting a capture"))?;
            tx.execute(
                "INSERT INTO captures (app, model, api, at, request, answer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.app, c.model, c.api, exact_time(c.at), c.request, c.answer],
            )
            .map_err(query("storing a capture"))?;
            tx.execute(
                "DELETE FROM captures WHERE app = ?1 AND id NOT IN (
                     SELECT id FROM captures WHERE app = ?1 ORDER BY at DESC, id DESC LIMIT ?2)",
                params![c.app, keep],
            )
            .map_err(query("trimming an app's captures"))?;
            tx.commit().map_err(query("committing a capture"))
        })
        .await
    }

    async fn captures(&self, app: &str, limit: usize) -> Result<Vec<Capture>, StoreError> {
        let app = app.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let doing = "reading captures";
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {CAPTURE_COLUMNS} FROM captures WHERE app = ?1
                     ORDER BY at DESC, id DESC LIMIT ?2"
                ))
                .map_err(query(doing))?;
            let rows = stmt
                .query_map(params![app, limit], |r| CaptureRow::try_from(r))
                .map_err(query(doing))?;
            rows.map(|r| capture_from_row(r.map_err(query(doing))?))
                .collect()
        })
        .await
    }

    async fn put_response(&self, response: &KeptResponse) -> Result<(), StoreError> {
        let r = response.clone();
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query("starting to keep a response"))?;
            let created_at = exact_time(r.created_at);
            tx.execute(
                "INSERT INTO responses (id, owner, previous, created_at, expires_at, input, response)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET
                     owner = excluded.owner, previous = excluded.previous,
                     created_at = excluded.created_at, expires_at = excluded.expires_at,
                     input = excluded.input, response = excluded.response",
                params![
                    r.id,
                    r.owner,
                    r.previous,
                    created_at,
                    exact_time(r.expires_at),
                    r.input,
                    r.response
                ],
            )
            .map_err(query("keeping a response"))?;
            tx.execute(
                "DELETE FROM responses WHERE expires_at <= ?1",
                params![created_at],
            )
            .map_err(query("deleting expired responses"))?;
            tx.commit().map_err(query("committing a kept response"))
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
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            let doing = "reading a response chain";
            // From `id` back along `previous`, one step per row: only the owner's unexpired
            // responses, at most `max` of them (`depth` counts from the newest).
            let mut stmt = conn
                .prepare_cached(&format!(
                    "WITH RECURSIVE chain (depth, {RESPONSE_COLUMNS}) AS (
                         SELECT 1, {RESPONSE_COLUMNS} FROM responses
                         WHERE id = ?1 AND owner = ?2 AND expires_at > ?3 AND ?4 > 0
                         UNION ALL
                         SELECT chain.depth + 1, r.id, r.owner, r.previous, r.created_at,
                                r.expires_at, r.input, r.response
                         FROM chain JOIN responses AS r ON r.id = chain.previous
                         WHERE r.owner = ?2 AND r.expires_at > ?3 AND chain.depth < ?4
                     )
                     SELECT {RESPONSE_COLUMNS} FROM chain ORDER BY depth DESC"
                ))
                .map_err(query(doing))?;
            let rows = stmt
                .query_map(params![id, owner, now, max], |r| ResponseRow::try_from(r))
                .map_err(query(doing))?;
            rows.map(|r| response_from_row(r.map_err(query(doing))?))
                .collect()
        })
        .await
    }

    async fn delete_response(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.with_conn(move |conn| {
            let deleted = conn
                .execute(
                    "DELETE FROM responses WHERE id = ?1 AND owner = ?2",
                    params![id, owner],
                )
                .map_err(query("deleting a response"))?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn audit_usage(&self, since: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
        self.with_conn(move |conn| {
            // Mapped for this scan only, as `audit_fact_groups` does.
            conn.pragma_update(None, "mmap_size", SCAN_MMAP_BYTES)
                .map_err(query("mapping the store for a scan"))?;
            let found = recorded_usage(conn, since);
            conn.pragma_update(None, "mmap_size", 0)
                .map_err(query("unmapping the store after a scan"))?;
            found
        })
        .await
    }
}

/// A list version's columns ([`SCREENING_LIST_COLUMNS`], first in the row).
fn screening_list_tuple(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::rows::ScreeningListRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

/// A review's columns ([`SCREENING_REVIEW_COLUMNS`]).
fn screening_review_tuple(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<crate::rows::ScreeningReviewRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

/// The list versions `filter` (SQL over `screening_lists AS l`, ordering included) selects,
/// with their entries.
fn screening_lists_with_entries<P: rusqlite::Params>(
    conn: &Connection,
    filter: &str,
    params: P,
    doing: &'static str,
) -> Result<Vec<ScreeningListData>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SCREENING_LIST_COLUMNS}, entries FROM screening_lists AS l {filter}"
        ))
        .map_err(query(doing))?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((screening_list_tuple(r)?, r.get::<_, String>(8)?))
        })
        .map_err(query(doing))?;
    rows.map(|r| {
        let (meta, entries) = r.map_err(query(doing))?;
        Ok(ScreeningListData {
            meta: screening_list_from_row(meta)?,
            entries,
        })
    })
    .collect()
}

/// Directive set `version` with its files, by name.
fn directive_set(conn: &Connection, version: i64) -> Result<DirectiveSet, StoreError> {
    let doing = "reading a directive set";
    let (policy_version, activated_at, actor): (String, String, String) = conn
        .query_row(
            "SELECT policy_version, activated_at, actor FROM directive_sets WHERE version = ?1",
            [version],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(query(doing))?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, content FROM directive_set_files WHERE version = ?1 ORDER BY name",
        )
        .map_err(query(doing))?;
    let files = stmt
        .query_map([version], |r| {
            Ok(DirectiveFile {
                name: r.get(0)?,
                content: r.get(1)?,
            })
        })
        .map_err(query(doing))?
        .collect::<Result<_, _>>()
        .map_err(query(doing))?;
    Ok(DirectiveSet {
        version,
        policy_version,
        files,
        activated_at: time_from_text(&activated_at)?,
        actor,
    })
}

/// How much of the database file a scan maps (the whole file, up to this size).
const SCAN_MMAP_BYTES: i64 = 1 << 40;

/// Counts the records since `since` (comparable text) and groups those for `models`.
fn group_recorded_facts(
    conn: &Connection,
    since: &str,
    models: Option<&[String]>,
) -> Result<FactGroups, StoreError> {
    // At most one group per record: sized once, so a million groups are not copied from one
    // buffer to the next as they grow.
    let upper_bound: i64 = conn
        .query_row(
            "SELECT coalesce(max(pos) - (SELECT min(+pos) FROM audit WHERE time >= ?1) + 1, 0)
             FROM audit",
            [since],
            |r| r.get(0),
        )
        .map_err(query("reading recorded facts"))?;
    let mut grouper =
        FactGrouper::with_capacity(usize::try_from(upper_bound).unwrap_or(0).min(1 << 24));
    // Records are appended in time order (to within the few seconds a request lasts), so the
    // window starts at the first record whose time is in it and runs to the end: a scan of
    // that range of the table in storage order. The `time` condition still decides (`+time`:
    // not through its index), so a record written late is counted right. The facts come from
    // their derived column, not from parsing each record. Grouped here rather than by SQL's
    // GROUP BY: SQLite groups by sorting the keys in a temporary B-tree, and with a few hundred
    // bytes of facts per key that took 9 s for a million records
    // (crates/clearance-cli/benches/preview.rs) where hashing takes well under one.
    let mut stmt = conn
        .prepare_cached(
            "SELECT principal_id, requested_model, facts, time FROM audit
             WHERE pos >= (SELECT min(+pos) FROM audit WHERE time >= ?1) AND +time >= ?1
               AND principal_id IS NOT NULL AND requested_model IS NOT NULL",
        )
        .map_err(query("reading recorded facts"))?;
    let mut rows = stmt
        .query([since])
        .map_err(query("reading recorded facts"))?;
    let mut records = 0;
    while let Some(row) = rows.next().map_err(query("reading recorded facts"))? {
        let text = |i: usize| {
            row.get_ref(i)
                .and_then(|v| Ok(v.as_str_or_null()?))
                .map_err(query("reading recorded facts"))
        };
        let (Some(principal), Some(model), Some(time)) = (text(0)?, text(1)?, text(3)?) else {
            continue;
        };
        records += 1;
        if models.is_none_or(|models| models.iter().any(|m| m == model)) {
            grouper.add(principal, model, text(2)?, time)?;
        }
    }
    Ok(FactGroups {
        records,
        groups: grouper.groups,
    })
}

/// The validation runs `filter` (SQL after `FROM validation_runs`, ordering included) selects.
fn run_rows<P: rusqlite::Params>(
    conn: &Connection,
    filter: &str,
    params: P,
    doing: &'static str,
) -> Result<Vec<ValidationRun>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM validation_runs {filter}"
        ))
        .map_err(query(doing))?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .map_err(query(doing))?;
    rows.map(|r| run_from_row(r.map_err(query(doing))?))
        .collect()
}

/// The verdicts `from` (a table and what follows it in the query) selects.
fn verdict_rows<P: rusqlite::Params>(
    conn: &Connection,
    from: &str,
    params: P,
    doing: &'static str,
) -> Result<Vec<FallbackValidation>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {VERDICT_COLUMNS} FROM {from}"))
        .map_err(query(doing))?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .map_err(query(doing))?;
    rows.map(|r| verdict_from_row(r.map_err(query(doing))?))
        .collect()
}

/// How many records one parser thread takes at a time in [`recorded_usage`].
const USAGE_CHUNK: usize = 2_048;

/// Records read from SQLite for a parser thread: their text copied into one buffer (reused
/// from chunk to chunk), so reading the next ones need not wait for these to be parsed.
#[derive(Default)]
struct RecordChunk {
    /// Its place in storage order.
    index: usize,
    text: String,
    /// Per record: where its time, its JSON and its log id end in `text`, and its seq.
    ends: Vec<(usize, usize, usize, i64)>,
}

impl RecordChunk {
    fn parse(&self, since: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
        let mut found = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for &(time_end, record_end, log_end, seq) in &self.ends {
            let time = &self.text[start..time_end];
            let record = &self.text[time_end..record_end];
            let log_id = &self.text[record_end..log_end];
            start = log_end;
            if let Some(usage) = usage_from_record(time, record, (log_id, seq))?
                && usage.time >= since
            {
                found.push(usage);
            }
        }
        Ok(found)
    }
}

/// The usage of every request record at or after `since`, in time order.
///
/// This thread reads the window while parser threads (one per core, at most four) parse what
/// it has read: SQLite's part (finding rows, copying each column out of its page) takes about
/// a third of the work and parsing the JSON and building the rows the rest, so a million
/// records take about half the time they take on one thread (benches/usage.rs).
fn recorded_usage(conn: &Connection, since: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError> {
    let doing = "reading recorded usage";
    // The window found as `group_recorded_facts` finds it: from the first record whose time is
    // in it to the end, in storage order (records are appended in time order, to within the
    // few seconds a request lasts), `+time` deciding for each (so a record written late is
    // taken right) without going through its index. The text comparison is to the whole
    // second ([`comparable_time`]); the exact instant is compared once the time is read.
    // Pruned records have no time, so the window leaves them out.
    let window = comparable_time(since);
    // `min(+pos)`: found in the time index (which holds `pos`, the rowid) over the window's
    // entries. With a plain `min(pos)` SQLite walks the table in `pos` order instead, testing
    // each record's time until one is in the window: half a second for a window of the last
    // week of a million records.
    let bounds: (Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT (SELECT min(+pos) FROM audit WHERE time >= ?1), (SELECT max(pos) FROM audit)",
            [&window],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(query(doing))?;
    let (Some(first), Some(last)) = bounds else {
        return Ok(Vec::new());
    };
    let upper_bound = usize::try_from(last - first + 1).unwrap_or(0).min(1 << 24);
    let parsers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<RecordChunk>(2 * parsers);
    // Shared by the parsers and dropped with the last of them, so the reader is never left
    // waiting on a full channel nobody drains.
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<RecordChunk>();
    let (read, parsed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parsers)
            .map(|_| {
                let (work_rx, spare_tx, failed) = (Arc::clone(&work_rx), spare_tx.clone(), &failed);
                scope.spawn(move || -> Result<Vec<(usize, Vec<UsageRow>)>, StoreError> {
                    let mut done = Vec::new();
                    loop {
                        let next = match work_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return Err(StoreError::Worker("usage parser".into())),
                        };
                        let Ok(mut chunk) = next else {
                            return Ok(done);
                        };
                        match chunk.parse(since) {
                            Ok(rows) => done.push((chunk.index, rows)),
                            Err(e) => {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                        chunk.text.clear();
                        chunk.ends.clear();
                        let _ = spare_tx.send(chunk);
                    }
                })
            })
            .collect();
        drop((spare_tx, work_rx));
        let read = read_record_chunks(conn, (first, &window), &work_tx, &spare_rx, &failed);
        drop(work_tx);
        let parsed: Vec<_> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(StoreError::Worker("usage parser panicked".into())))
            })
            .collect();
        (read, parsed)
    });
    let mut chunks = Vec::new();
    for done in parsed {
        chunks.extend(done?);
    }
    read?;
    chunks.sort_unstable_by_key(|(index, _)| *index);
    // Sized once: a million rows are not copied from one buffer to the next as they grow.
    let mut found = Vec::with_capacity(upper_bound.min(chunks.iter().map(|c| c.1.len()).sum()));
    for (_, rows) in chunks {
        found.extend(rows);
    }
    // Storage order is time order but for records written late: a stable sort, nearly free
    // on nearly sorted rows, keeps records of one time in the order they were stored.
    found.sort_by_key(|u| u.time);
    Ok(found)
}

/// Reads the window (`pos` from `first`, `time` at or after `window`) into chunks for the
/// parsers, reusing the buffers they give back; stops early when a parser has failed.
fn read_record_chunks(
    conn: &Connection,
    (first, window): (i64, &str),
    work: &std::sync::mpsc::SyncSender<RecordChunk>,
    spare: &std::sync::mpsc::Receiver<RecordChunk>,
    failed: &std::sync::atomic::AtomicBool,
) -> Result<(), StoreError> {
    let doing = "reading recorded usage";
    let mut stmt = conn
        .prepare_cached(
            "SELECT time, record, log_id, seq FROM audit WHERE pos >= ?1 AND +time >= ?2",
        )
        .map_err(query(doing))?;
    let mut rows = stmt.query(params![first, window]).map_err(query(doing))?;
    let mut chunk = RecordChunk::default();
    let mut index = 0;
    loop {
        let row = rows.next().map_err(query(doing))?;
        if let Some(row) = row {
            // Borrowed from SQLite's row, copied once into the chunk.
            let text = |i: usize| {
                row.get_ref(i)
                    .and_then(|v| Ok(v.as_str()?))
                    .map_err(query(doing))
            };
            let record = text(1)?;
            if record.is_empty() {
                continue;
            }
            chunk.text.push_str(text(0)?);
            let time_end = chunk.text.len();
            chunk.text.push_str(record);
            let record_end = chunk.text.len();
            chunk.text.push_str(text(2)?);
            let seq = row.get::<_, i64>(3).map_err(query(doing))?;
            chunk
                .ends
                .push((time_end, record_end, chunk.text.len(), seq));
            if chunk.ends.len() < USAGE_CHUNK {
                continue;
            }
        }
        let end = row.is_none();
        if !chunk.ends.is_empty() {
            let next = spare.try_recv().unwrap_or_default();
            let mut full = std::mem::replace(&mut chunk, next);
            full.index = index;
            index += 1;
            if failed.load(std::sync::atomic::Ordering::Relaxed) || work.send(full).is_err() {
                // A parser failed: its error is the answer.
                return Ok(());
            }
        }
        if end {
            return Ok(());
        }
    }
}
