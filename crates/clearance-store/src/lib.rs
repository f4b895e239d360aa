//! Where Clearance keeps what must outlive a process: principals, client keys, the audit log,
//! the models an operator has switched off (kill switches), the denied-party lists and
//! reviews that screening reads (as opaque JSON: the store does not know the screening crate),
//! and validated fallbacks: the eval suites runs used, each run's per-case outcomes (opaque
//! JSON again), each fallback's standing for its primary with every verdict before it, and
//! captured requests to draft suites from.
//!
//! The gateway and the CLI see only the [`Store`] trait; each backend is a module of its own
//! with its own migrations, run when the store opens. SQLite ([`SqliteStore`]) is the embedded
//! default; a PostgreSQL backend for multi-replica deployments implements the same trait. This
//! is the only crate that knows a database driver.
//!
//! The gateway holds keys, principals, kill switches, the active directive set and fallbacks'
//! validation standing in memory and reloads them when [`Store::change_versions`] moves. The
//! one store write on a request's path is its audit record: each replica's writer appends to
//! its own log in batches (group commit), and a request's answer waits for its decision
//! record's batch to be durable.

mod postgres;
mod rows;
mod sqlite;
pub mod verifiable;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clearance_core::audit::{AdminAction, AuditRecord, ChainHead, SealedRecord};
use clearance_core::key::{KeyId, StoredKey};
use clearance_core::principal::{Principal, PrincipalId};
use clearance_tlog::{Hash, NodeId};

pub use postgres::{PgConfig, PgStore};
pub use sqlite::SqliteStore;

/// A store failure, with what was being done when it happened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open { path: String, source: DriverError },
    #[error("store migration {version} failed: {source}")]
    Migration { version: usize, source: DriverError },
    #[error("store query failed while {doing}: {source}")]
    Query {
        doing: &'static str,
        source: DriverError,
    },
    #[error(
        "the store's schema is at migration {found}, newer than this build knows ({known}); upgrade Clearance"
    )]
    SchemaTooNew { found: usize, known: usize },
    #[error(
        "the store's schema is at migration {found}, this build needs {known}: run `clearance migrate --config FILE`"
    )]
    SchemaBehind { found: usize, known: usize },
    #[error("the store holds a value it cannot read ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("store worker stopped: {0}")]
    Worker(String),
    #[error(
        "screening list version `{version_id}` is already stored with SHA-256 {stored_sha256}, \
         not {given_sha256}: a version id names one file"
    )]
    ScreeningVersionConflict {
        version_id: String,
        stored_sha256: String,
        given_sha256: String,
    },
}

/// A database driver's error, whichever backend it came from. Its text never holds a password:
/// connection strings are not part of driver errors, and the PostgreSQL backend builds its
/// connection options from parts.
pub type DriverError = Box<dyn std::error::Error + Send + Sync>;

/// How many principals an import added and how many it replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    pub inserted: usize,
    pub updated: usize,
}

/// Audit records of one principal, for one requested model, with the same recorded facts:
/// what an impact preview re-evaluates once instead of once per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactGroup {
    pub principal_id: String,
    pub requested_model: String,
    /// The `facts` object exactly as the records hold it (JSON text); `None` for records
    /// written without facts.
    pub facts_json: Option<String>,
    /// How many records the group holds.
    pub count: u64,
    /// The earliest and latest record time in the group.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// What [`Store::audit_fact_groups`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactGroups {
    /// Records in the window that name a principal and a requested model, for any model.
    pub records: u64,
    /// Those for the models asked for, grouped; in no particular order.
    pub groups: Vec<FactGroup>,
}

/// Counters that move whenever keys, principals, kill switches, the active directive set,
/// screening (a new list version, a review) or fallbacks' validation standing change, in this
/// process or another one (another replica on the same database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeVersions {
    pub keys: i64,
    pub principals: i64,
    pub model_switches: i64,
    pub directives: i64,
    pub screening: i64,
    /// Fallbacks' validation standing (a finished `clearance validate` run).
    pub validations: i64,
}

/// A model's kill switch as an operator last set it. A model without one is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSwitch {
    /// The configured model name.
    pub model: String,
    pub disabled: bool,
    /// Why (required to disable; optional to enable).
    pub reason: Option<String>,
    pub changed_at: DateTime<Utc>,
    /// Who changed it: `admin-api`, `cli`, ... (never a credential).
    pub actor: String,
}

/// One writer's hash chain in the audit trail. Every gateway process opens a log of its own
/// when it starts and closes it when it stops; the CLI opens a short one per change it
/// records. Writers never share a chain, so they never wait on each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLog {
    /// Unique; the log's first record ([`clearance_core::audit::LOG_OPEN`]) names it.
    pub log_id: String,
    /// The replica (or `cli`) that writes it.
    pub replica: String,
    pub opened_at: DateTime<Utc>,
    /// Set when the writer closed the log cleanly (after its closing record).
    pub closed_at: Option<DateTime<Utc>>,
    /// The head as the writer recorded it with its last batch ([`ChainHead::EMPTY`] before
    /// any): `verify` compares the log's stored end with it, so records deleted from the end
    /// are caught, not only gaps.
    pub recorded_head: ChainHead,
}

/// The log id of the records written before logs had ids (one chain per store).
pub const LEGACY_LOG: &str = "legacy";

/// A stored record with the log it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRecord {
    pub log_id: String,
    pub record: SealedRecord,
    /// The record's `time` field as stored (RFC 3339), the order of a merged export.
    pub time: String,
}

/// Where a time-ordered read of the whole trail continues: after this record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeCursor {
    pub time: String,
    pub log_id: String,
    pub seq: u64,
}

/// A log's signed checkpoint as stored: a C2SP signed note (`<origin>\n<size>\n<root>\n`,
/// the log key's signature, and the witnesses' cosignatures added since).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub log_id: String,
    pub size: u64,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// The query columns a record's row carries beside its JSON, as stored. `verify` rebuilds them
/// from the hashed JSON and compares: an edited column (the impact preview reads `facts`) is
/// tampering like an edited record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedColumns {
    pub seq: u64,
    pub time: Option<String>,
    pub principal_id: Option<String>,
    pub requested_model: Option<String>,
    /// The `facts` object as JSON text (compared as JSON, not as text).
    pub facts: Option<String>,
    pub phase: Option<String>,
}

/// Audit appends made on the caller's thread (see [`Store::inline_audit`]).
pub trait InlineAudit: Send + Sync {
    /// [`Store::append_audit`], blocking: durable when it returns `Ok`.
    fn append(&self, log_id: &str, batch: &[SealedRecord]) -> Result<(), StoreError>;
}

/// One file of a directive set, as activated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveFile {
    /// The file name (no directory), e.g. `EXD-2026-06.toml`.
    pub name: String,
    pub content: String,
}

/// A directive set as it was activated: the store is the source of truth for the set every
/// replica enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveSet {
    /// Increases by one with every activation.
    pub version: i64,
    /// The compiled set's policy version (the content hash `clearance-policy` gives it).
    pub policy_version: String,
    pub files: Vec<DirectiveFile>,
    pub activated_at: DateTime<Utc>,
    /// Who activated it: `admin-api`, `cli`, `serve` (from a directive folder).
    pub actor: String,
}

/// A SCIM resource (a provisioned User or Group) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimRow {
    /// `User` or `Group`.
    pub kind: String,
    /// The id this server gave it (a UUID).
    pub id: String,
    /// The userName (User) or displayName (Group), lower-cased: unique per kind.
    pub name_key: String,
    pub external_id: Option<String>,
    /// The resource's JSON as `clearance-scim` keeps it.
    pub body: String,
    /// Starts at 1; every change adds one (the ETag `W/"<version>"`).
    pub version: i64,
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
}

/// Every SCIM resource, read in one transaction, with the `scim` change version it reflects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScimSnapshot {
    pub version: i64,
    /// Ordered by kind, then creation time, then id (a stable order for paging).
    pub resources: Vec<ScimRow>,
}

/// One SCIM change and the principals it changes, committed together or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScimCommit {
    /// The snapshot version the change was computed from: if another SCIM write has landed
    /// since, nothing is written ([`ScimCommitError::Conflict`]) and the caller recomputes.
    pub expected_version: i64,
    /// Resources inserted or replaced whole.
    pub put: Vec<ScimRow>,
    /// `(kind, id)` of resources deleted.
    pub delete: Vec<(String, String)>,
    pub upsert_principals: Vec<Principal>,
    pub delete_principals: Vec<PrincipalId>,
}

/// Why a [`ScimCommit`] was not written.
#[derive(Debug, thiserror::Error)]
pub enum ScimCommitError {
    #[error("another SCIM change landed since this one was computed")]
    Conflict,
    #[error("another {kind} already has the name `{name_key}`")]
    Uniqueness { kind: String, name_key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One imported version of a denied-party list, without its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningList {
    /// Unique, chosen by the caller, e.g. `ofac-sdn@3f2a…` (source and digest).
    pub version_id: String,
    /// Which list: `ofac-sdn`, `bis-dpl`, `csl`.
    pub source: String,
    /// The publication date the list states, as it states it; `None` when it states none.
    pub published: Option<String>,
    /// The SHA-256 of the imported file, hex.
    pub sha256: String,
    pub record_count: i64,
    pub alias_count: i64,
    pub imported_at: DateTime<Utc>,
    /// Who imported it: `cli`, `admin-api`, ... (never a credential).
    pub actor: String,
}

/// A list version with its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningListData {
    pub meta: ScreeningList,
    /// The entries as JSON text, serialised by the caller and given back exactly as stored.
    pub entries: String,
}

/// A person's decision on a possible match between a subject and a list entry. Reviews are
/// appended, never changed or deleted; which of them still applies (the fingerprints say
/// whether the entry or the subject changed since) is for screening to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningReview {
    /// Given by the store (increasing); `0` in a review not yet stored.
    pub id: i64,
    /// A principal id, or `org:<name>` for an organisation.
    pub subject: String,
    /// The list the entry is on (`ofac-sdn`, ...).
    pub list_source: String,
    /// The entry's id in that list.
    pub entity_id: String,
    /// Fingerprint of the list entry as it was reviewed.
    pub entry_hash: String,
    /// Fingerprint of the subject's screened facts as they were reviewed.
    pub subject_hash: String,
    /// `confirm` (it is the listed party) or `clear` (it is not); the store refuses any other.
    pub decision: String,
    pub reason: String,
    /// Who decided (never a credential).
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// An eval suite as it was run: stored by the SHA-256 (hex) of its text, so a run names the
/// exact suite, and `serve` can re-run it without the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSuite {
    /// SHA-256 of `text`, hex (computed by the caller; the store keys on it).
    pub hash: String,
    /// The suite's own name.
    pub name: String,
    /// The file it was read from (no directory), to name it in reports.
    pub file_name: String,
    /// The file's text, exactly.
    pub text: String,
    pub stored_at: DateTime<Utc>,
}

/// One `clearance validate` run: a primary and its candidates on one suite.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationRun {
    /// Unique, chosen by the caller.
    pub run_id: String,
    /// The [`StoredSuite`] it runs (stored before the run starts).
    pub suite_hash: String,
    pub primary_model: String,
    /// The fallbacks tried, in the order given: a resumed run must name the same list in the
    /// same order.
    pub candidates: Vec<String>,
    /// The score a candidate needs to be validated.
    pub bar: f64,
    pub started_at: DateTime<Utc>,
    /// `None` while it runs, or when it was interrupted.
    pub finished_at: Option<DateTime<Utc>>,
    /// Who ran it: `cli`, `serve`, ... (never a credential).
    pub actor: String,
}

/// What one model answered to one case of a run, as JSON text the caller serialised (given
/// back exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    pub run_id: String,
    pub model: String,
    pub case_id: String,
    /// The caller's JSON text.
    pub result: String,
}

/// A fallback's standing for a primary after a finished run: validated (score at or above the
/// bar) or failed, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct FallbackValidation {
    pub primary_model: String,
    pub fallback_model: String,
    pub validated: bool,
    pub score: f64,
    pub bar: f64,
    pub suite_name: String,
    pub suite_hash: String,
    /// The run that gave this verdict.
    pub run_id: String,
    pub at: DateTime<Utc>,
    /// Why it failed (or anything else worth saying); `None` when there is nothing to add.
    pub reason: Option<String>,
}

/// A captured request and answer (already redacted by the caller), for drafting suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Given by the store (increasing); `0` in a capture not yet stored.
    pub id: i64,
    /// The app it came from (the request's `app` fact).
    pub app: String,
    pub model: String,
    /// The client API it came in on (`openai_chat`, ...).
    pub api: String,
    pub at: DateTime<Utc>,
    /// The request and the answer, as the caller serialised them.
    pub request: String,
    pub answer: String,
}

/// An OpenAI Responses answer the gateway keeps, so that a later request can continue from it
/// (`previous_response_id`) and its caller can read it back or delete it. It holds what the
/// conversation said, so it is kept apart from the audit log and only until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptResponse {
    /// The id the gateway gave the answer (`resp_...`).
    pub id: String,
    /// Whose it is, as the gateway names callers: only they may read, continue or delete it.
    pub owner: String,
    /// The response it continued (`previous_response_id`), if any.
    pub previous: Option<String>,
    pub created_at: DateTime<Utc>,
    /// From then on it reads as gone; the next [`Store::put_response`] deletes it.
    pub expires_at: DateTime<Utc>,
    /// This turn's input items as the client sent them (a JSON array, as text).
    pub input: String,
    /// The `response` object the client got (JSON text).
    pub response: String,
}

/// What a dependency report needs from one audit record (decision, whole or completion
/// phase), read from the record's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The record's `id` (a request's decision and completion records share it).
    pub request_id: String,
    pub time: DateTime<Utc>,
    pub phase: clearance_core::audit::Phase,
    pub key_id: Option<String>,
    pub principal_id: Option<String>,
    pub requested_model: Option<String>,
    pub served_model: Option<String>,
    pub decision: clearance_core::audit::Decision,
    /// `(model, outcome)` of every attempt, in order (empty when the first one served).
    pub attempts: Vec<(String, String)>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts or replaces the given principals in one transaction: all or none.
    async fn upsert_principals(
        &self,
        principals: &[Principal],
    ) -> Result<ImportSummary, StoreError>;
    /// Deletes the given principals (and nothing else) in one transaction; how many existed.
    async fn delete_principals(&self, ids: &[PrincipalId]) -> Result<usize, StoreError>;
    async fn principal(&self, id: &PrincipalId) -> Result<Option<Principal>, StoreError>;
    async fn principals(&self) -> Result<Vec<Principal>, StoreError>;

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Every key, revoked ones included.
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Marks a key revoked; `false` when no such key exists or it was already revoked.
    async fn revoke_key(&self, id: &KeyId, at: DateTime<Utc>) -> Result<bool, StoreError>;

    async fn change_versions(&self) -> Result<ChangeVersions, StoreError>;
    /// Returns when something may have changed (a notification from another process), or
    /// after `at_most`, whichever comes first. Backends without notifications just wait;
    /// callers re-read [`Store::change_versions`] either way, so a missed notification costs
    /// at most one `at_most`.
    async fn wait_for_change(&self, at_most: std::time::Duration) {
        tokio::time::sleep(at_most).await;
    }

    /// Registers a new, empty log.
    async fn open_log(
        &self,
        log_id: &str,
        replica: &str,
        opened_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Appends sealed records to `log_id` and records its new head, in one durable
    /// transaction: when this returns `Ok`, the records survive a crash of this process and
    /// of the machine (SQLite `synchronous = FULL`; PostgreSQL synchronous commit).
    async fn append_audit(&self, log_id: &str, batch: &[SealedRecord]) -> Result<(), StoreError>;
    /// The same appends as [`Store::append_audit`], made inline on the caller's thread, where
    /// the store's appends are local blocking work (SQLite): the audit writer then runs on a
    /// thread of its own and commits there, instead of handing every batch to a blocking-pool
    /// thread and back (two thread wake-ups per batch, on the answer's path). `None` for a
    /// store reached over the network (PostgreSQL), whose appends are async.
    fn inline_audit(&self) -> Option<std::sync::Arc<dyn InlineAudit>> {
        None
    }
    /// Hashes of the log's stored Merkle tree nodes among `ids` (RFC 6962 complete subtrees,
    /// written by [`Store::append_audit`] in the same transaction as their records); missing
    /// ones are left out.
    async fn tree_nodes(
        &self,
        log_id: &str,
        ids: &[NodeId],
    ) -> Result<Vec<(NodeId, Hash)>, StoreError>;
    /// The hashes of the log's nodes at tree `level` with index in `range`, in index order,
    /// stopping at the first missing one (a tile's hashes).
    async fn tree_level(
        &self,
        log_id: &str,
        level: u8,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<Hash>, StoreError>;
    /// Stores a log's signed checkpoint; a checkpoint of the same size is replaced (its note
    /// gained cosignatures).
    async fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;
    /// Every checkpoint of the log, smallest size first.
    async fn checkpoints(&self, log_id: &str) -> Result<Vec<StoredCheckpoint>, StoreError>;
    /// The log's checkpoint of the largest size, if any.
    async fn latest_checkpoint(&self, log_id: &str)
    -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Every stored record with this request id (a request's decision and completion records,
    /// or its whole record), in (log, seq) order.
    async fn records_of_request(&self, request_id: &str) -> Result<Vec<LoggedRecord>, StoreError>;
    /// The stored query columns of up to `limit` records of `log_id` after `after_seq`.
    async fn audit_derived(
        &self,
        log_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<DerivedColumns>, StoreError>;
    /// Retention: empties the body (`record_json` becomes `""`, the query columns NULL) of every
    /// record whose time is before `before`, except log boundaries; the sequence number, id,
    /// chain hashes and the Merkle tree stay, so proofs and checkpoints of the rest stay valid.
    /// Returns how many records were pruned.
    async fn prune_audit_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Marks the log closed (its closing record is already appended).
    async fn close_log(&self, log_id: &str, closed_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Every log, oldest first.
    async fn audit_logs(&self) -> Result<Vec<AuditLog>, StoreError>;
    /// One log, by id (a point lookup: proofs and tiles need one log, not the list).
    async fn audit_log(&self, log_id: &str) -> Result<Option<AuditLog>, StoreError>;
    /// Closed logs whose records go past their largest stored checkpoint (a CLI change's log, a
    /// log from before checkpoints), oldest first: what a gateway signs so every closed log is
    /// under a signature.
    async fn closed_logs_beyond_checkpoints(&self) -> Result<Vec<AuditLog>, StoreError>;
    /// Up to `limit` records of `log_id` with `seq > after_seq`, in sequence order.
    async fn audit_page(
        &self,
        log_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError>;
    /// Up to `limit` records of every log after `after`, ordered by (time, log id, seq): the
    /// trail merged in time order.
    async fn audit_page_by_time(
        &self,
        after: Option<&TimeCursor>,
        limit: usize,
    ) -> Result<Vec<LoggedRecord>, StoreError>;
    /// Records at or after `since` (to the whole second) that name a principal and a requested
    /// model, counted, and those for `models` (every model when `None`) grouped by principal,
    /// requested model and recorded facts. Records without a principal or a model (refused
    /// before authentication or before the body was read, and completion records) are left
    /// out: no decision was made in them.
    async fn audit_fact_groups(
        &self,
        since: DateTime<Utc>,
        models: Option<&[String]>,
    ) -> Result<FactGroups, StoreError>;

    /// The current kill switch of every model that has one, by model name.
    async fn model_switches(&self) -> Result<Vec<ModelSwitch>, StoreError>;
    /// Sets a model's switch (insert or replace) and appends it to the model's switch history,
    /// in one transaction.
    async fn set_model_switch(&self, switch: &ModelSwitch) -> Result<(), StoreError>;
    /// Every switch change ever made to `model`, oldest first.
    async fn model_switch_history(&self, model: &str) -> Result<Vec<ModelSwitch>, StoreError>;

    /// Stores a directive set as the new active one and returns its version (the previous
    /// active version + 1), bumping the `directives` change version, in one transaction.
    /// `set.version` is ignored.
    async fn activate_directive_set(&self, set: &DirectiveSet) -> Result<i64, StoreError>;
    /// The active directive set (the highest version), if any was ever activated.
    async fn active_directive_set(&self) -> Result<Option<DirectiveSet>, StoreError>;
    /// Every directive set ever activated, oldest first.
    async fn directive_sets(&self) -> Result<Vec<DirectiveSet>, StoreError>;

    /// Every SCIM resource and the `scim` change version, read together.
    async fn scim_snapshot(&self) -> Result<ScimSnapshot, StoreError>;
    /// One SCIM resource.
    async fn scim_resource(&self, kind: &str, id: &str) -> Result<Option<ScimRow>, StoreError>;
    /// Writes a SCIM change and the principals it affects in one transaction, if the `scim`
    /// change version is still `expected_version`; bumps the `scim` and `principals` versions
    /// (gateways reload principals on the latter). Returns the new `scim` version.
    async fn scim_commit(&self, commit: &ScimCommit) -> Result<i64, ScimCommitError>;

    /// Stores a new version of a denied-party list together with the principals screened
    /// against it (`rescreened`, upserted as [`Store::upsert_principals`] does), in one
    /// transaction: until it commits, every reader sees the previous list and the previous
    /// screening results. Bumps the `screening` and `principals` change versions. The new
    /// version becomes its source's current one (the latest stored, whatever its `imported_at`).
    ///
    /// A `version_id` already stored with the same `sha256` is the same list imported again:
    /// `Ok` and nothing is written (nor are `rescreened` upserted, nor versions bumped). With
    /// another `sha256` it is [`StoreError::ScreeningVersionConflict`], and nothing is written.
    async fn put_screening_list(
        &self,
        list: &ScreeningListData,
        rescreened: &[Principal],
    ) -> Result<(), StoreError>;
    /// Every stored list version, without entries, newest first.
    async fn screening_lists(&self) -> Result<Vec<ScreeningList>, StoreError>;
    /// The current (latest stored) version of each source, with its entries, by source.
    async fn current_screening_lists(&self) -> Result<Vec<ScreeningListData>, StoreError>;
    /// One stored version, with its entries (an older version's, to show or copy it).
    async fn screening_list(
        &self,
        version_id: &str,
    ) -> Result<Option<ScreeningListData>, StoreError>;
    /// Appends a review (`review.id` is ignored) and, when given, upserts the principal it
    /// changes, in one transaction; bumps the `screening` change version, and `principals`
    /// when a principal is given. Returns the review's id. A `decision` other than `confirm`
    /// or `clear` is refused (a query error) and nothing is written.
    async fn add_screening_review(
        &self,
        review: &ScreeningReview,
        updated: Option<&Principal>,
    ) -> Result<i64, StoreError>;
    /// The reviews of `subject` (every review when `None`), in the order they were stored.
    async fn screening_reviews(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<ScreeningReview>, StoreError>;

    /// Stores an eval suite under its hash. A suite with that hash already stored is left as
    /// it is (the same text, by its hash): `Ok`, nothing written.
    async fn put_suite(&self, suite: &StoredSuite) -> Result<(), StoreError>;
    /// The suite stored under `hash`.
    async fn suite(&self, hash: &str) -> Result<Option<StoredSuite>, StoreError>;
    /// Records a run as started (`finished_at` is ignored: a run is finished only by
    /// [`Store::finish_validation_run`]). Its suite must be stored first
    /// ([`StoreError::Corrupt`] otherwise, nothing written); a `run_id` already stored is a
    /// query error.
    async fn start_validation_run(&self, run: &ValidationRun) -> Result<(), StoreError>;
    async fn validation_run(&self, run_id: &str) -> Result<Option<ValidationRun>, StoreError>;
    /// The latest started run on that suite with that primary and exactly that candidate list
    /// (in that order) that has not finished: the run an interrupted `clearance validate`
    /// resumes.
    async fn unfinished_validation_run(
        &self,
        suite_hash: &str,
        primary_model: &str,
        candidates: &[String],
    ) -> Result<Option<ValidationRun>, StoreError>;
    /// Inserts or replaces the outcome of (run, model, case), durably: when this returns, it
    /// survives a crash, so a resumed run does not ask again. Only an unfinished run takes
    /// outcomes (its verdicts are computed from them): an unknown or finished run is
    /// [`StoreError::Corrupt`], nothing written.
    async fn put_case_outcome(&self, outcome: &CaseOutcome) -> Result<(), StoreError>;
    /// A run's outcomes, ordered by (model, case id).
    async fn case_outcomes(&self, run_id: &str) -> Result<Vec<CaseOutcome>, StoreError>;
    /// Finishes a run, in one transaction: sets its `finished_at`, makes each verdict the
    /// current standing of its (primary, fallback) pair, appends each to the pair's history,
    /// and bumps the `validations` change version (running gateways reload). An unknown run,
    /// one already finished, or a verdict that is not about this run (its `run_id` or
    /// `primary_model`) is [`StoreError::Corrupt`], nothing written: a run's verdicts are
    /// recorded once.
    async fn finish_validation_run(
        &self,
        run_id: &str,
        finished_at: DateTime<Utc>,
        verdicts: &[FallbackValidation],
    ) -> Result<(), StoreError>;
    /// The current standing of every (primary, fallback) pair ever validated, ordered by
    /// (primary, fallback).
    async fn fallback_validations(&self) -> Result<Vec<FallbackValidation>, StoreError>;
    /// Every verdict given about `primary_model`'s fallbacks, oldest first.
    async fn fallback_validation_history(
        &self,
        primary_model: &str,
    ) -> Result<Vec<FallbackValidation>, StoreError>;
    /// Every finished run, newest (latest `finished_at`) first.
    async fn finished_validation_runs(&self) -> Result<Vec<ValidationRun>, StoreError>;

    /// Stores a capture (`capture.id` is ignored) and, in the same transaction, deletes that
    /// app's oldest captures beyond the newest `keep_per_app`.
    async fn put_capture(&self, capture: &Capture, keep_per_app: usize) -> Result<(), StoreError>;
    /// Up to `limit` of `app`'s captures, newest first.
    async fn captures(&self, app: &str, limit: usize) -> Result<Vec<Capture>, StoreError>;

    /// Keeps `response` (an id already kept is replaced) and, in the same transaction,
    /// deletes every kept response that expired at or before `response.created_at`.
    async fn put_response(&self, response: &KeptResponse) -> Result<(), StoreError>;
    /// The conversation that ends at `owner`'s response `id`: it and the responses it
    /// continues, following `previous`, oldest first, at most `max` of them. Only `owner`'s
    /// responses unexpired at `now` are followed, so the list is empty when `id` is not such a
    /// response, and its first element's `previous` is still `Some` when an earlier response is
    /// gone (expired or deleted) or the conversation is longer than `max`.
    async fn response_chain(
        &self,
        owner: &str,
        id: &str,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<KeptResponse>, StoreError>;
    /// Deletes `owner`'s response `id`; whether there was one (another owner's is left alone
    /// and reads as absent).
    async fn delete_response(&self, owner: &str, id: &str) -> Result<bool, StoreError>;

    /// What a dependency report reads from every request record (phase decision, whole or
    /// completion) whose time is at or after `since`, in time order (records of the same time
    /// in the order they were stored). Log boundaries and operators' actions (decision
    /// `admin`) are left out, and so are pruned records (their bodies are gone). A record
    /// whose JSON does not read is [`StoreError::Corrupt`] (`verify` names it too).
    async fn audit_usage(&self, since: DateTime<Utc>) -> Result<Vec<UsageRow>, StoreError>;
}

/// The outcome of checking one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    pub log: AuditLog,
    /// Records that verified before the first break (all of them when `broken` is `None`).
    pub verified: ChainHead,
    pub broken: Option<clearance_core::audit::ChainBreak>,
    /// Whether the log ends with its closing record.
    pub closed: bool,
    /// Requests with a decision record and no completion record: in flight in a running
    /// replica, or cut off when the replica stopped without closing its log (a crash).
    pub incomplete: Vec<String>,
    /// Verified records whose body retention had emptied: checked by their place in the chain
    /// and their stored leaf, not by their content.
    pub pruned: u64,
    /// The root of the log's Merkle tree over the verified records (RFC 6962), to compare with
    /// the log's signed checkpoints.
    pub root: Hash,
}

/// The outcome of checking every log of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrailReport {
    pub logs: Vec<LogReport>,
}

impl TrailReport {
    pub fn ok(&self) -> bool {
        self.logs.iter().all(|l| l.broken.is_none())
    }

    pub fn records(&self) -> u64 {
        self.logs.iter().map(|l| l.verified.seq).sum()
    }
}

/// Reads every log in sequence order, a page at a time (constant memory per log), and checks
/// its hash chain, its shape (opened by its own record, nothing after its close, completions
/// after decisions), its end against the head its writer recorded, its Merkle tree (every
/// record's leaf, every stored node against the tree rebuilt from the leaves, no leaf past the
/// end) and every record's query columns against the record.
pub async fn verify_audit_trail(store: &dyn Store) -> Result<TrailReport, StoreError> {
    let mut report = TrailReport::default();
    for log in store.audit_logs().await? {
        report.logs.push(verify_audit_log(store, log).await?);
    }
    Ok(report)
}

async fn verify_audit_log(store: &dyn Store, log: AuditLog) -> Result<LogReport, StoreError> {
    use clearance_core::audit::{BreakKind, ChainBreak};
    const PAGE: usize = 10_000;
    let mut verifier = if log.log_id == LEGACY_LOG {
        clearance_core::audit::ChainVerifier::default()
    } else {
        clearance_core::audit::ChainVerifier::for_log(&log.log_id)
    };
    // The tree rebuilt from the verified records' leaves, and the head they end in.
    let mut frontier = clearance_tlog::Frontier::new();
    let mut verified = ChainHead::EMPTY;
    let mut after = 0;
    let mut last_id = String::new();
    let mut broken = None;
    // An open log may be growing while it is read (its writer appends; on PostgreSQL another
    // replica's): it is checked up to the head recorded when the trail was listed. A closed log
    // is read to its end, so a record added after its close is caught.
    let open = log.closed_at.is_none();
    let end_seq = if open {
        log.recorded_head.seq
    } else {
        u64::MAX
    };
    'pages: loop {
        let mut page = store
            .audit_page(
                &log.log_id,
                after,
                PAGE.min(usize::try_from(end_seq - after).unwrap_or(PAGE)),
            )
            .await?;
        page.retain(|r| r.seq <= end_seq);
        let Some(last) = page.last() else { break };
        // The stored nodes this page's leaves complete, level by level: leaves
        // `[after, last.seq)` complete the nodes `(after >> l)..(last.seq >> l)` of level `l`.
        let (start, end) = (after, last.seq);
        let mut stored: Vec<Vec<Hash>> = Vec::new();
        for level in 0..64u8 {
            let range = (start >> level)..(end >> level);
            if range.is_empty() {
                break;
            }
            stored.push(store.tree_level(&log.log_id, level, range).await?);
        }
        let derived = store.audit_derived(&log.log_id, after, PAGE).await?;
        after = last.seq;
        last_id.clone_from(&last.id);
        for (i, record) in page.iter().enumerate() {
            if let Err(b) = verifier.check(record) {
                broken = Some(b);
                break 'pages;
            }
            let fail = |kind| ChainBreak {
                seq: record.seq,
                id: record.id.clone(),
                kind,
            };
            // The chain check made `seq` the next one: leaf `seq - 1`, the tree's next.
            let index = record.seq - 1;
            let stored_leaf = usize::try_from(index - start)
                .ok()
                .and_then(|at| stored.first()?.get(at).copied());
            let Some(stored_leaf) = stored_leaf else {
                broken = Some(fail(BreakKind::LeafMissing));
                break 'pages;
            };
            if !record.is_pruned()
                && clearance_tlog::merkle::leaf_hash(record.record_json.as_bytes()) != stored_leaf
            {
                broken = Some(fail(BreakKind::LeafMismatch));
                break 'pages;
            }
            if let Some(columns) = derived.get(i).filter(|d| d.seq == record.seq)
                && let Some(column) = derived_mismatch(record, columns)
            {
                broken = Some(fail(BreakKind::DerivedColumnEdited {
                    column: column.to_string(),
                }));
                break 'pages;
            }
            let mut grown = frontier.clone();
            for (id, hash) in grown.append(stored_leaf).into_iter().skip(1) {
                let at = usize::try_from(id.index - (start >> id.level)).ok();
                let found = stored
                    .get(usize::from(id.level))
                    .and_then(|level| level.get(at?));
                let kind = match found {
                    None => BreakKind::TreeNodeMissing {
                        level: id.level,
                        index: id.index,
                    },
                    Some(h) if *h != hash => BreakKind::TreeMismatch {
                        level: id.level,
                        index: id.index,
                    },
                    Some(_) => continue,
                };
                broken = Some(fail(kind));
                break 'pages;
            }
            frontier = grown;
            verified = verifier.head();
        }
    }
    if broken.is_none() {
        broken = verifier.finish(log.recorded_head, &last_id).err();
    }
    if broken.is_none() && log.closed_at.is_some() && log.log_id != LEGACY_LOG && !verifier.closed()
    {
        broken = Some(ChainBreak {
            seq: verifier.head().seq,
            id: last_id,
            kind: BreakKind::Truncated {
                last_present: verifier.head().seq,
            },
        });
    }
    if broken.is_none() && open {
        broken = growth_beyond_head(store, &log, end_seq).await?;
    }
    if broken.is_none() && !open {
        // The next append writes leaf `size`: one already there was not written with a record.
        let size = frontier.size();
        if !store
            .tree_level(&log.log_id, 0, size..size + 1)
            .await?
            .is_empty()
        {
            broken = Some(ChainBreak {
                seq: size + 1,
                id: String::new(),
                kind: BreakKind::TreeBeyondHead { leaves: size },
            });
        }
    }
    Ok(LogReport {
        verified,
        closed: verifier.closed(),
        incomplete: verifier.incomplete(),
        pruned: verifier.pruned(),
        root: frontier.root(),
        broken,
        log,
    })
}

/// For an open log checked up to the head listed earlier (`checked`): a record or leaf beyond
/// it is fine if the log's head has since moved past it (its writer committed it with the new
/// head, in one transaction, before it could be read), and was added by hand otherwise.
async fn growth_beyond_head(
    store: &dyn Store,
    log: &AuditLog,
    checked: u64,
) -> Result<Option<clearance_core::audit::ChainBreak>, StoreError> {
    use clearance_core::audit::{BreakKind, ChainBreak};
    let record = store.audit_page(&log.log_id, checked, 1).await?;
    let leaf = store
        .tree_level(&log.log_id, 0, checked..checked + 1)
        .await?;
    if record.is_empty() && leaf.is_empty() {
        return Ok(None);
    }
    // Read after what it vouches for: a legitimate append is visible in it by now.
    let head_now = store
        .audit_log(&log.log_id)
        .await?
        .map_or(0, |l| l.recorded_head.seq);
    if let Some(first) = record.first().filter(|r| r.seq > head_now) {
        return Ok(Some(ChainBreak {
            seq: first.seq,
            id: first.id.clone(),
            kind: BreakKind::Appended {
                recorded_head: head_now,
            },
        }));
    }
    if !leaf.is_empty() && head_now <= checked {
        return Ok(Some(ChainBreak {
            seq: checked + 1,
            id: String::new(),
            kind: BreakKind::TreeBeyondHead { leaves: checked },
        }));
    }
    Ok(None)
}

/// The first query column stored beside `record` that does not say what its JSON says (for a
/// pruned record: one that is not empty). Strings are compared as the JSON's strings, `facts`
/// as JSON values.
/// The query columns an audit record's JSON gives (what SQLite's `json_extract` would): the
/// SQLite store writes them beside the record, and [`verify`](derived_mismatch) checks them.
#[derive(serde::Deserialize, Default)]
pub(crate) struct QueryColumns<'a> {
    #[serde(borrow, default)]
    pub time: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    pub principal_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    pub requested_model: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    pub facts: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    pub phase: Option<std::borrow::Cow<'a, str>>,
}

fn derived_mismatch(record: &SealedRecord, stored: &DerivedColumns) -> Option<&'static str> {
    let fields: QueryColumns<'_> = if record.is_pruned() {
        QueryColumns::default()
    } else {
        // A record that does not parse has already failed the chain check.
        serde_json::from_str(&record.record_json).ok()?
    };
    let same = |stored: &Option<String>, field: &Option<std::borrow::Cow<'_, str>>| {
        stored.as_deref() == field.as_deref()
    };
    if !same(&stored.time, &fields.time) {
        return Some("time");
    }
    if !same(&stored.principal_id, &fields.principal_id) {
        return Some("principal_id");
    }
    if !same(&stored.requested_model, &fields.requested_model) {
        return Some("requested_model");
    }
    if !same(&stored.phase, &fields.phase) {
        return Some("phase");
    }
    let stored_facts = match stored.facts.as_deref() {
        None => None,
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => Some(value),
            Err(_) => return Some("facts"),
        },
    };
    let record_facts = match fields.facts {
        None => None,
        Some(raw) => serde_json::from_str::<serde_json::Value>(raw.get()).ok(),
    };
    (stored_facts != record_facts).then_some("facts")
}

/// Registers a new log and stores its opening record (durably); returns the head to
/// continue the log's chain from.
pub async fn open_log(
    store: &dyn Store,
    log_id: &str,
    replica: &str,
    at: DateTime<Utc>,
) -> Result<ChainHead, StoreError> {
    store.open_log(log_id, replica, at).await?;
    let mut head = ChainHead::EMPTY;
    let mut opening = log_record(clearance_core::audit::LOG_OPEN, log_id, replica);
    opening.time = at;
    store.append_audit(log_id, &[head.seal(&opening)]).await?;
    Ok(head)
}

/// A log's opening or closing record.
pub fn log_record(action: &str, log_id: &str, replica: &str) -> AuditRecord {
    let mut record = AuditRecord::admin(
        uuid::Uuid::now_v7().to_string(),
        Utc::now(),
        AdminAction {
            action: action.to_string(),
            target: log_id.to_string(),
            reason: None,
            actor: replica.to_string(),
            details: Some(serde_json::json!({ "version": env!("CARGO_PKG_VERSION") })),
        },
        200,
    );
    record.replica = Some(replica.to_string());
    record
}

/// Records changes made outside a gateway (the CLI): a short log of their own, opened, holding
/// `records` and closed, all durable before this returns; returns the log's id. Writers never
/// share a chain, so this needs no coordination with running gateways.
pub async fn record_changes(
    store: &dyn Store,
    replica: &str,
    records: Vec<AuditRecord>,
) -> Result<String, StoreError> {
    let log_id = uuid::Uuid::now_v7().to_string();
    // Opened as of the earliest change it records, so a time-ordered export shows the opening
    // record first.
    let at = records
        .iter()
        .map(|r| r.time)
        .min()
        .unwrap_or_else(Utc::now)
        .min(Utc::now());
    let mut head = open_log(store, &log_id, replica, at).await?;
    let mut sealed: Vec<SealedRecord> = records
        .into_iter()
        .map(|mut r| {
            r.replica = Some(replica.to_string());
            head.seal(&r)
        })
        .collect();
    let closing = log_record(clearance_core::audit::LOG_CLOSE, &log_id, replica);
    sealed.push(head.seal(&closing));
    store.append_audit(&log_id, &sealed).await?;
    store.close_log(&log_id, Utc::now()).await?;
    Ok(log_id)
}

/// Why a key could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueKeyError {
    #[error(
        "principal `{0}` is not in the registry; import it first with `clearance principals import`"
    )]
    UnknownPrincipal(PrincipalId),
    #[error("key name: {0} characters, more than the {max} allowed", max = clearance_core::limits::MAX_KEY_NAME_CHARS)]
    NameTooLong(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues a new key for a principal in the registry. The returned key's plaintext is the only
/// copy; the store keeps its hash.
pub async fn issue_key(
    store: &dyn Store,
    principal: &PrincipalId,
    name: Option<String>,
) -> Result<clearance_core::key::NewKey, IssueKeyError> {
    if let Some(chars) = name.as_ref().map(|n| n.chars().count())
        && chars > clearance_core::limits::MAX_KEY_NAME_CHARS
    {
        return Err(IssueKeyError::NameTooLong(chars));
    }
    if store.principal(principal).await?.is_none() {
        return Err(IssueKeyError::UnknownPrincipal(principal.clone()));
    }
    let key = clearance_core::key::NewKey::generate(&mut rand::rng());
    store
        .insert_key(&StoredKey {
            id: key.id.clone(),
            principal_id: principal.clone(),
            name,
            hash: key.hash.clone(),
            created: Utc::now(),
            revoked: None,
        })
        .await?;
    Ok(key)
}
