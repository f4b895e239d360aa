//! The verifiable log's operations over any [`Store`]: roots, proofs and tiles read from the
//! Merkle tree each backend keeps beside the records (written in the same transaction), signed
//! checkpoints, receipts, and checks of the stored trail against checkpoints an auditor saved.
//!
//! Every proof is `O(log n)` node reads in one query ([`ProofPlan`]); nothing here scans a log.

use chrono::Utc;
use clearance_tlog::checkpoint::Checkpoint;
use clearance_tlog::merkle::{Hash, ProofError, fold, root_nodes};
use clearance_tlog::note::{Note, NoteError, Signer, Verifier};
use clearance_tlog::receipt::{RECEIPT_FORMAT, Receipt, ReceiptEntry};
use clearance_tlog::tiles::{EntryTooLarge, Tile, encode_entry_bundle};
use clearance_tlog::{NodeId, ProofPlan};

use crate::{AuditLog, Store, StoreError, StoredCheckpoint};

/// Why a verifiable-log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifiableError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no audit log `{0}`")]
    NoSuchLog(String),
    #[error("log `{log}` has {have} records; size {size} is beyond it")]
    BeyondLog { log: String, size: u64, have: u64 },
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("no record with request id `{0}`")]
    NoSuchRequest(String),
    #[error(
        "the records of request `{request_id}` are not all written and under a signed checkpoint yet (the log's latest checkpoint covers {covered} records; the receipt needs {needed}); retry shortly"
    )]
    NotYetCheckpointed {
        request_id: String,
        covered: u64,
        needed: u64,
    },
    #[error("the record bodies of request `{0}` were pruned (retention); its leaf hashes remain")]
    Pruned(String),
    #[error(transparent)]
    EntryTooLarge(#[from] EntryTooLarge),
    #[error("signing: {0}")]
    Sign(#[from] NoteError),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// A log's checkpoint origin: the deployment's origin and the log id.
pub fn log_origin(origin: &str, log_id: &str) -> String {
    format!("{origin}/{log_id}")
}

/// The log id an origin names, if it is one of this deployment's.
pub fn log_of_origin<'o>(origin: &str, log_origin: &'o str) -> Option<&'o str> {
    log_origin
        .strip_prefix(origin)?
        .strip_prefix('/')
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The log, by id.
pub async fn find_log(store: &dyn Store, log_id: &str) -> Result<AuditLog, VerifiableError> {
    store
        .audit_log(log_id)
        .await?
        .ok_or_else(|| VerifiableError::NoSuchLog(log_id.to_string()))
}

async fn nodes(
    store: &dyn Store,
    log_id: &str,
    ids: &[NodeId],
) -> Result<std::collections::HashMap<NodeId, Hash>, VerifiableError> {
    Ok(store.tree_nodes(log_id, ids).await?.into_iter().collect())
}

fn within(log: &AuditLog, size: u64) -> Result<(), VerifiableError> {
    let have = log.recorded_head.seq;
    if size > have {
        return Err(VerifiableError::BeyondLog {
            log: log.log_id.clone(),
            size,
            have,
        });
    }
    Ok(())
}

/// The root hash of the log's first `size` records, from the stored tree.
pub async fn root_at(store: &dyn Store, log_id: &str, size: u64) -> Result<Hash, VerifiableError> {
    within(&find_log(store, log_id).await?, size)?;
    let ids = root_nodes(size);
    let found = nodes(store, log_id, &ids).await?;
    let hashes = ids
        .iter()
        .map(|id| found.get(id).copied().ok_or(ProofError::MissingNode(*id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fold(&hashes))
}

async fn prove(
    store: &dyn Store,
    log_id: &str,
    plan: ProofPlan,
) -> Result<Vec<Hash>, VerifiableError> {
    let found = nodes(store, log_id, &plan.nodes()).await?;
    Ok(plan.assemble(|id| found.get(&id).copied())?)
}

/// The inclusion proof of record `index` (0-based: seq - 1) in the log's tree of `size`.
pub async fn inclusion_proof(
    store: &dyn Store,
    log_id: &str,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, VerifiableError> {
    within(&find_log(store, log_id).await?, size)?;
    prove(store, log_id, ProofPlan::inclusion(index, size)?).await
}

/// The consistency proof from the log's tree of `from` records to its tree of `to`.
pub async fn consistency_proof(
    store: &dyn Store,
    log_id: &str,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, VerifiableError> {
    within(&find_log(store, log_id).await?, to)?;
    prove(store, log_id, ProofPlan::consistency(from, to)?).await
}

/// A tile's bytes, when the log holds everything it covers (`None` otherwise: not yet, or
/// never). Entry bundles hold the records as stored; a pruned record's entry is empty.
pub async fn tile(
    store: &dyn Store,
    log_id: &str,
    tile: Tile,
) -> Result<Option<Vec<u8>>, VerifiableError> {
    let size = find_log(store, log_id).await?.recorded_head.seq;
    if let Some(range) = tile.entry_range() {
        if range.end > size {
            return Ok(None);
        }
        let records = store
            .audit_page(log_id, range.start, tile.width as usize)
            .await?;
        if records.len() as u64 != tile.width {
            return Ok(None);
        }
        let bundle = encode_entry_bundle(records.iter().map(|r| r.record_json.as_bytes()))?;
        return Ok(Some(bundle));
    }
    let Some((level, range)) = tile.node_range() else {
        return Ok(None);
    };
    if range.end > size >> level {
        return Ok(None);
    }
    let hashes = store.tree_level(log_id, level, range).await?;
    if hashes.len() as u64 != tile.width {
        return Ok(None);
    }
    Ok(Some(hashes.iter().flat_map(|h| h.0).collect()))
}

/// Signs and stores a checkpoint of the log's first `size` records. The root comes from the
/// stored tree (written in the records' own transactions), so a checkpoint vouches for exactly
/// what the store holds.
pub async fn sign_checkpoint(
    store: &dyn Store,
    origin: &str,
    signer: &Signer,
    log_id: &str,
    size: u64,
) -> Result<StoredCheckpoint, VerifiableError> {
    let root = root_at(store, log_id, size).await?;
    let body = Checkpoint::new(&log_origin(origin, log_id), size, root).body();
    let checkpoint = StoredCheckpoint {
        log_id: log_id.to_string(),
        size,
        note: signer.sign(&body)?,
        created_at: Utc::now(),
    };
    store.put_checkpoint(&checkpoint).await?;
    Ok(checkpoint)
}

/// Signs a checkpoint of everything the log holds now, unless one of that size exists.
pub async fn checkpoint_now(
    store: &dyn Store,
    origin: &str,
    signer: &Signer,
    log_id: &str,
) -> Result<StoredCheckpoint, VerifiableError> {
    let size = find_log(store, log_id).await?.recorded_head.seq;
    if let Some(latest) = store.latest_checkpoint(log_id).await?
        && latest.size == size
    {
        return Ok(latest);
    }
    sign_checkpoint(store, origin, signer, log_id, size).await
}

/// The receipt of a request: its records in one log, with inclusion proofs under the log's
/// latest checkpoint.
pub async fn receipt(store: &dyn Store, request_id: &str) -> Result<Receipt, VerifiableError> {
    let records = store.records_of_request(request_id).await?;
    let Some(first) = records.first() else {
        return Err(VerifiableError::NoSuchRequest(request_id.to_string()));
    };
    let log_id = first.log_id.clone();
    let records: Vec<_> = records.into_iter().filter(|r| r.log_id == log_id).collect();
    if records.iter().any(|r| r.record.record_json.is_empty()) {
        return Err(VerifiableError::Pruned(request_id.to_string()));
    }
    // A decision record's completion follows once the answer has ended: the receipt waits for
    // it (the outcome is what a caller wants proven), unless the log was closed without it (a
    // crash): then the decision alone is what the record holds.
    let phase = |r: &crate::LoggedRecord| {
        serde_json::from_str::<serde_json::Value>(&r.record.record_json)
            .ok()
            .and_then(|v| v.get("phase").and_then(|p| p.as_str()).map(str::to_string))
    };
    let decided = records
        .iter()
        .any(|r| phase(r).as_deref() == Some("decision"));
    let completed = records
        .iter()
        .any(|r| phase(r).as_deref() == Some("completion"));
    let mut needed = records.iter().map(|r| r.record.seq).max().unwrap_or(0);
    if decided && !completed && find_log(store, &log_id).await?.closed_at.is_none() {
        needed += 1;
    }
    let checkpoint = store.latest_checkpoint(&log_id).await?;
    let covered = checkpoint.as_ref().map_or(0, |c| c.size);
    let Some(checkpoint) = checkpoint.filter(|c| c.size >= needed) else {
        return Err(VerifiableError::NotYetCheckpointed {
            request_id: request_id.to_string(),
            covered,
            needed,
        });
    };
    let mut entries = Vec::with_capacity(records.len());
    for logged in records {
        let index = logged.record.seq - 1;
        let proof = prove(
            store,
            &log_id,
            ProofPlan::inclusion(index, checkpoint.size)?,
        )
        .await?;
        entries.push(ReceiptEntry {
            index,
            record: logged.record.record_json,
            inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
        });
    }
    Ok(Receipt {
        format: RECEIPT_FORMAT.to_string(),
        request_id: request_id.to_string(),
        log: log_id,
        checkpoint: checkpoint.note,
        entries,
    })
}

/// The origin line of the note that binds the heads of every log of a deployment.
pub fn deployment_origin(origin: &str) -> String {
    format!("{origin}/deployment")
}

/// A signed note listing every log of the deployment with its size and root now: saved by an
/// auditor, it catches a log deleted whole, which no per-log checkpoint can.
pub async fn deployment_note(
    store: &dyn Store,
    origin: &str,
    signer: &Signer,
) -> Result<String, VerifiableError> {
    let mut body = format!("{}\n", deployment_origin(origin));
    let logs = store.audit_logs().await?;
    body.push_str(&format!("{}\n", logs.len()));
    for log in logs {
        let size = log.recorded_head.seq;
        let root = root_at(store, &log.log_id, size).await?;
        body.push_str(&format!("{} {size} {}\n", log.log_id, root.to_base64()));
    }
    Ok(signer.sign(&body)?)
}

/// What checking one saved checkpoint (or deployment note) against the store found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCheck {
    pub log_id: String,
    /// The size the saved note vouches for.
    pub size: u64,
    /// `None` when the store still holds that tree; else what is wrong.
    pub problem: Option<String>,
}

/// Checks a saved checkpoint, or a saved deployment note, signed by `key`, against the store:
/// every log it names must still exist, hold at least the size it vouched for, and have the
/// same root at that size. This catches what the store alone cannot: a log truncated with its
/// head moved back, a suffix rewritten and re-hashed, a log emptied or deleted.
pub async fn check_saved(
    store: &dyn Store,
    origin: &str,
    key: &Verifier,
    text: &str,
) -> Result<Vec<SavedCheck>, VerifiableError> {
    let note = Note::parse(text).map_err(|e| VerifiableError::Checkpoint(e.to_string()))?;
    note.verify(key)
        .map_err(|e| VerifiableError::Checkpoint(e.to_string()))?;
    let mut claims: Vec<(String, u64, Hash)> = Vec::new();
    let mut lines = note.body.lines();
    let first = lines.next().unwrap_or_default();
    if first == deployment_origin(origin) {
        let _count = lines.next();
        for line in lines {
            let mut parts = line.split(' ');
            let (Some(log), Some(size), Some(root)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(VerifiableError::Checkpoint(format!("bad line `{line}`")));
            };
            let size = size
                .parse()
                .map_err(|_| VerifiableError::Checkpoint(format!("bad size in `{line}`")))?;
            let root = Hash::from_base64(root)
                .ok_or_else(|| VerifiableError::Checkpoint(format!("bad root in `{line}`")))?;
            claims.push((log.to_string(), size, root));
        }
    } else {
        let checkpoint = Checkpoint::parse(&note.body)
            .map_err(|e| VerifiableError::Checkpoint(e.to_string()))?;
        let log = log_of_origin(origin, &checkpoint.origin).ok_or_else(|| {
            VerifiableError::Checkpoint(format!(
                "origin `{}` is not a log of `{origin}`",
                checkpoint.origin
            ))
        })?;
        claims.push((log.to_string(), checkpoint.size, checkpoint.root));
    }
    let mut checks = Vec::with_capacity(claims.len());
    for (log_id, size, root) in claims {
        let problem = match root_at(store, &log_id, size).await {
            Ok(stored) if stored == root => None,
            Ok(stored) => Some(format!(
                "the store's tree of its first {size} records has root {}, the saved checkpoint says {}: records were rewritten",
                stored.to_base64(),
                root.to_base64()
            )),
            Err(VerifiableError::NoSuchLog(_)) => {
                Some("the log is gone from the store: deleted whole".to_string())
            }
            Err(VerifiableError::BeyondLog { have, .. }) => Some(format!(
                "the store holds {have} records, the saved checkpoint vouched for {size}: records were deleted from the end"
            )),
            Err(VerifiableError::Proof(ProofError::MissingNode(node))) => Some(format!(
                "the store's tree lacks node {node:?}: the tree was cut"
            )),
            Err(other) => return Err(other),
        };
        checks.push(SavedCheck {
            log_id,
            size,
            problem,
        });
    }
    Ok(checks)
}

/// Checks every stored checkpoint of `log`: signed by `key` with the log's origin, within the
/// log, and with the root of the stored tree at its size. The first problem, if any.
pub async fn check_stored_checkpoints(
    store: &dyn Store,
    origin: &str,
    key: &Verifier,
    log: &AuditLog,
) -> Result<Option<String>, VerifiableError> {
    for stored in store.checkpoints(&log.log_id).await? {
        let at = format!("checkpoint of size {}", stored.size);
        let Ok(note) = Note::parse(&stored.note) else {
            return Ok(Some(format!("{at} is not a signed note")));
        };
        if note.verify(key).is_err() {
            return Ok(Some(format!("{at} is not signed by {}", key.name)));
        }
        let Ok(checkpoint) = Checkpoint::parse(&note.body) else {
            return Ok(Some(format!("{at} is not a checkpoint")));
        };
        if checkpoint.origin != log_origin(origin, &log.log_id) || checkpoint.size != stored.size {
            return Ok(Some(format!("{at} names another log or size")));
        }
        match root_at(store, &log.log_id, checkpoint.size).await {
            Ok(root) if root == checkpoint.root => {}
            Ok(_) => {
                return Ok(Some(format!(
                    "the log no longer has the tree its {at} signed: records were rewritten"
                )));
            }
            Err(VerifiableError::BeyondLog { have, .. }) => {
                return Ok(Some(format!(
                    "the log holds {have} records, fewer than its signed {at}: records were deleted from the end"
                )));
            }
            Err(VerifiableError::Proof(_)) => {
                return Ok(Some(format!("the tree under the {at} is incomplete")));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}
