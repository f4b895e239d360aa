//! Where Clearance keeps what must outlive a process: principals, client keys, the audit log,
//! and the models an operator has switched off (kill switches).
//!
//! The gateway and the CLI see only the [`Store`] trait; each backend is a module of its own
//! with its own migrations, run when the store opens. SQLite ([`SqliteStore`]) is the embedded
//! default; a PostgreSQL backend for multi-replica deployments implements the same trait. This
//! is the only crate that knows a database driver.
//!
//! Nothing here is on the request's hot path: the gateway holds keys and principals in memory
//! and reloads them when [`Store::change_versions`] moves; audit records reach the store in
//! batches from a single writer.

mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clearance_core::audit::{ChainHead, SealedRecord};
use clearance_core::key::{KeyId, StoredKey};
use clearance_core::principal::{Principal, PrincipalId};

pub use sqlite::SqliteStore;

/// A store failure, with what was being done when it happened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("store migration {version} failed: {source}")]
    Migration {
        version: usize,
        source: rusqlite::Error,
    },
    #[error("store query failed while {doing}: {source}")]
    Query {
        doing: &'static str,
        source: rusqlite::Error,
    },
    #[error("the store holds a value it cannot read ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("store worker stopped: {0}")]
    Worker(String),
}

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

/// Counters that move whenever keys or principals change, in this process or another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeVersions {
    pub keys: i64,
    pub principals: i64,
    pub model_switches: i64,
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

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts or replaces the given principals in one transaction: all or none.
    async fn upsert_principals(
        &self,
        principals: &[Principal],
    ) -> Result<ImportSummary, StoreError>;
    async fn principal(&self, id: &PrincipalId) -> Result<Option<Principal>, StoreError>;
    async fn principals(&self) -> Result<Vec<Principal>, StoreError>;

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Every key, revoked ones included.
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Marks a key revoked; `false` when no such key exists or it was already revoked.
    async fn revoke_key(&self, id: &KeyId, at: DateTime<Utc>) -> Result<bool, StoreError>;

    async fn change_versions(&self) -> Result<ChangeVersions, StoreError>;

    /// The last stored record's sequence number and hash: where the writer continues the chain.
    async fn audit_head(&self) -> Result<ChainHead, StoreError>;
    /// The head as the writer recorded it with its last batch ([`ChainHead::EMPTY`] before any).
    /// Differs from [`Store::audit_head`] only if records were deleted from, or added to, the end.
    async fn audit_recorded_head(&self) -> Result<ChainHead, StoreError>;
    /// Appends sealed records and records the new head, in one transaction.
    async fn append_audit(&self, batch: &[SealedRecord]) -> Result<(), StoreError>;
    /// Up to `limit` records with `seq > after_seq`, in sequence order.
    async fn audit_page(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError>;
    /// Records at or after `since` (to the whole second) that name a principal and a requested
    /// model, counted, and those for `models` (every model when `None`) grouped by principal,
    /// requested model and recorded facts. Records without a principal or a model (refused
    /// before authentication or before the body was read) are left out: no decision was made
    /// for them.
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
}

/// The outcome of checking the whole audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Records that verified before the first break (all of them when `broken` is `None`).
    pub verified: ChainHead,
    pub broken: Option<clearance_core::audit::ChainBreak>,
}

/// Reads the whole audit log in sequence order, a page at a time (constant memory), and
/// checks the hash chain; stops at the first break.
pub async fn verify_audit_chain(store: &dyn Store) -> Result<ChainReport, StoreError> {
    const PAGE: usize = 10_000;
    let mut verifier = clearance_core::audit::ChainVerifier::default();
    let mut after = 0;
    let mut last_id = String::new();
    loop {
        let page = store.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        last_id.clone_from(&last.id);
        for record in &page {
            if let Err(broken) = verifier.check(record) {
                return Ok(ChainReport {
                    verified: verifier.head(),
                    broken: Some(broken),
                });
            }
        }
    }
    let recorded = store.audit_recorded_head().await?;
    let broken = verifier.finish(recorded, &last_id).err();
    Ok(ChainReport {
        verified: verifier.head(),
        broken,
    })
}

/// Why a key could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueKeyError {
    #[error(
        "principal `{0}` is not in the registry; import it first with `clearance principals import`"
    )]
    UnknownPrincipal(PrincipalId),
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
