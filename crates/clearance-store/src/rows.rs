//! Decoding store rows into the core's types, the same for every backend. A value the store
//! cannot read back is [`StoreError::Corrupt`], except an audit record's hashes: an unparsable
//! hash is itself tampering, kept so that `verify` names the record.

use chrono::{DateTime, Utc};
use clearance_core::audit::{ChainHash, ChainHead, SealedRecord};
use clearance_core::key::{KeyId, SecretHash, StoredKey};
use clearance_core::principal::Principal;

use crate::{AuditLog, ModelSwitch, StoreError};

pub(crate) fn principal_from_json(json: &str) -> Result<Principal, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        what: "principal facts",
        detail: e.to_string(),
    })
}

pub(crate) fn time_from_text(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what: "timestamp",
            detail: e.to_string(),
        })
}

pub(crate) type KeyRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
);

pub(crate) fn key_from_row(row: KeyRow) -> Result<StoredKey, StoreError> {
    let (id, principal_id, name, hash, created, revoked) = row;
    let corrupt = |what| StoreError::Corrupt {
        what,
        detail: id.clone(),
    };
    Ok(StoredKey {
        id: KeyId::parse(&id).ok_or_else(|| corrupt("key id"))?,
        principal_id: principal_id
            .parse()
            .map_err(|_| corrupt("key principal id"))?,
        name,
        hash: SecretHash::from_hex(&hash).ok_or_else(|| corrupt("key hash"))?,
        created: time_from_text(&created)?,
        revoked: revoked.as_deref().map(time_from_text).transpose()?,
    })
}

pub(crate) fn head_from_row(seq: i64, hash: &str) -> Result<ChainHead, StoreError> {
    let hash = ChainHash::from_hex(hash).ok_or(StoreError::Corrupt {
        what: "audit head hash",
        detail: format!("record #{seq}"),
    })?;
    Ok(ChainHead {
        seq: u64::try_from(seq).unwrap_or(0),
        hash,
    })
}

pub(crate) type AuditRow = (i64, String, String, String, String);

/// A record with its log and stored time: `(seq, id, prev_hash, hash, record, log_id, time)`.
pub(crate) type LoggedRow = (i64, String, String, String, String, String, String);

pub(crate) fn logged_from_row(row: LoggedRow) -> crate::LoggedRecord {
    let (seq, id, prev, hash, record, log_id, time) = row;
    crate::LoggedRecord {
        log_id,
        record: sealed_from_row((seq, id, prev, hash, record)),
        time,
    }
}

pub(crate) fn sealed_from_row(row: AuditRow) -> SealedRecord {
    let (seq, id, prev, hash, record_json) = row;
    // An unparsable hash is itself tampering; keep the record so `verify` names it.
    let parse = |text: &str| ChainHash::from_hex(text).unwrap_or(ChainHash([0xff; 32]));
    SealedRecord {
        // A negative seq (only by hand) reads as 0, which `verify` reports as out of order.
        seq: u64::try_from(seq).unwrap_or(0),
        id,
        prev_hash: parse(&prev),
        hash: parse(&hash),
        record_json,
    }
}

pub(crate) type SwitchRow = (String, bool, Option<String>, String, String);

pub(crate) fn switch_from_row(row: SwitchRow) -> Result<ModelSwitch, StoreError> {
    let (model, disabled, reason, changed_at, actor) = row;
    Ok(ModelSwitch {
        model,
        disabled,
        reason,
        changed_at: time_from_text(&changed_at)?,
        actor,
    })
}

/// `since` as text comparable with the stored `time` column. Records hold chrono's RFC 3339
/// form in UTC (`...T10:00:00Z`, or with 1 to 9 fraction digits); taking `since` to the whole
/// second and writing all nine digits makes byte order agree with time order: a record at
/// exactly that second (`:00Z`) sorts after `:00.000000000Z`, as `Z` sorts after `.`.
pub(crate) fn comparable_time(since: DateTime<Utc>) -> String {
    let whole = DateTime::<Utc>::from_timestamp(since.timestamp(), 0).unwrap_or(since);
    whole.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// An `audit_logs` row: log id, replica, opened at, closed at, head seq, head hash.
pub(crate) type LogRow = (String, String, String, Option<String>, i64, String);

pub(crate) fn log_from_row(row: LogRow) -> Result<AuditLog, StoreError> {
    let (log_id, replica, opened, closed, seq, hash) = row;
    Ok(AuditLog {
        log_id,
        replica,
        opened_at: time_from_text(&opened)?,
        closed_at: closed.as_deref().map(time_from_text).transpose()?,
        recorded_head: head_from_row(seq, &hash)?,
    })
}

/// A stored tree node's hash. Like a record's hashes, one of the wrong length is itself
/// tampering: it reads as a hash no tree holds, so `verify` names the node.
pub(crate) fn tree_hash(bytes: &[u8]) -> clearance_tlog::Hash {
    clearance_tlog::Hash::from_slice(bytes).unwrap_or(clearance_tlog::Hash([0xff; 32]))
}

/// A node id from its stored columns; `None` for values no node has (only by hand).
pub(crate) fn node_id(level: i64, idx: i64) -> Option<clearance_tlog::NodeId> {
    Some(clearance_tlog::NodeId::new(
        u8::try_from(level).ok().filter(|l| *l < 64)?,
        u64::try_from(idx).ok()?,
    ))
}

/// The hashes of `ids` among `found`, in order, or the first missing id.
pub(crate) fn hashes_of(
    ids: &[clearance_tlog::NodeId],
    found: &[(clearance_tlog::NodeId, clearance_tlog::Hash)],
) -> Result<Vec<clearance_tlog::Hash>, clearance_tlog::NodeId> {
    ids.iter()
        .map(|id| {
            found
                .iter()
                .find(|(f, _)| f == id)
                .map(|(_, h)| *h)
                .ok_or(*id)
        })
        .collect()
}

/// The tree's right edge before a batch whose first record is `first_seq` (leaf index =
/// seq - 1), from the stored hashes of its root nodes.
pub(crate) fn frontier_before(
    log_id: &str,
    first_seq: u64,
    found: &[(clearance_tlog::NodeId, clearance_tlog::Hash)],
) -> Result<clearance_tlog::Frontier, StoreError> {
    let size = first_seq.saturating_sub(1);
    let ids = clearance_tlog::merkle::root_nodes(size);
    let hashes = hashes_of(&ids, found).map_err(|missing| StoreError::Corrupt {
        what: "audit tree",
        detail: format!(
            "log `{log_id}` lacks tree node {missing:?} of its first {size} records (the tree was \
             edited, or the batch does not continue the log)"
        ),
    })?;
    clearance_tlog::Frontier::from_parts(size, hashes).ok_or(StoreError::Corrupt {
        what: "audit tree",
        detail: format!("log `{log_id}`: the frontier of {size} leaves does not fit"),
    })
}

/// Appends a batch's leaves (`(seq, leaf hash)`, in order) to `frontier`: every node they
/// complete, leaves first. A batch whose sequence numbers do not run on from the tree is
/// refused (leaf index = seq - 1).
pub(crate) fn completed_nodes(
    log_id: &str,
    frontier: &mut clearance_tlog::Frontier,
    leaves: &[(u64, clearance_tlog::Hash)],
) -> Result<Vec<(clearance_tlog::NodeId, clearance_tlog::Hash)>, StoreError> {
    let mut nodes = Vec::with_capacity(leaves.len() * 2 + 64);
    for &(seq, leaf) in leaves {
        if seq != frontier.size() + 1 {
            return Err(StoreError::Corrupt {
                what: "audit log",
                detail: format!(
                    "the batch for log `{log_id}` is not in sequence: record #{seq} where #{} was due",
                    frontier.size() + 1
                ),
            });
        }
        nodes.extend(frontier.append(leaf));
    }
    Ok(nodes)
}

/// A batch's leaves: each record's sequence number and leaf hash (of its stored bytes).
pub(crate) fn leaves_of(batch: &[SealedRecord]) -> Vec<(u64, clearance_tlog::Hash)> {
    batch
        .iter()
        .map(|r| {
            (
                r.seq,
                clearance_tlog::merkle::leaf_hash(r.record_json.as_bytes()),
            )
        })
        .collect()
}

/// A stored checkpoint row: log id, size, note, created at.
pub(crate) type CheckpointRow = (String, i64, String, String);

pub(crate) fn checkpoint_from_row(
    row: CheckpointRow,
) -> Result<crate::StoredCheckpoint, StoreError> {
    let (log_id, size, note, created_at) = row;
    Ok(crate::StoredCheckpoint {
        size: u64::try_from(size).map_err(|_| StoreError::Corrupt {
            what: "checkpoint size",
            detail: format!("log `{log_id}`: {size}"),
        })?,
        log_id,
        note,
        created_at: time_from_text(&created_at)?,
    })
}

/// A `scim_resources` row: kind, id, name_key, external_id, body, version, created,
/// last_modified.
pub(crate) type ScimDbRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
    String,
);

pub(crate) fn scim_from_row(row: ScimDbRow) -> Result<crate::ScimRow, StoreError> {
    let (kind, id, name_key, external_id, body, version, created, last_modified) = row;
    Ok(crate::ScimRow {
        kind,
        id,
        name_key,
        external_id,
        body,
        version,
        created: time_from_text(&created)?,
        last_modified: time_from_text(&last_modified)?,
    })
}

/// Times as stored: RFC 3339 with microseconds, so text order is time order.
pub(crate) fn scim_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Principals as stored: `(id, facts JSON)`, in the order given.
pub(crate) fn principal_rows(principals: &[Principal]) -> Vec<(String, String)> {
    principals
        .iter()
        .map(|p| {
            (
                p.id.to_string(),
                serde_json::to_string(p).expect("a Principal always serialises"),
            )
        })
        .collect()
}

/// A `screening_lists` row without its entries: version_id, source, published, sha256,
/// record_count, alias_count, imported_at, actor.
pub(crate) type ScreeningListRow = (
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    String,
    String,
);

/// The columns of [`ScreeningListRow`], in its order.
pub(crate) const SCREENING_LIST_COLUMNS: &str =
    "version_id, source, published, sha256, record_count, alias_count, imported_at, actor";

pub(crate) fn screening_list_from_row(
    row: ScreeningListRow,
) -> Result<crate::ScreeningList, StoreError> {
    let (version_id, source, published, sha256, record_count, alias_count, imported_at, actor) =
        row;
    Ok(crate::ScreeningList {
        version_id,
        source,
        published,
        sha256,
        record_count,
        alias_count,
        imported_at: time_from_text(&imported_at)?,
        actor,
    })
}

/// A `screening_reviews` row: id, subject, list_source, entity_id, entry_hash, subject_hash,
/// decision, reason, actor, at.
pub(crate) type ScreeningReviewRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

/// The columns of [`ScreeningReviewRow`], in its order.
pub(crate) const SCREENING_REVIEW_COLUMNS: &str = "id, subject, list_source, entity_id, \
     entry_hash, subject_hash, decision, reason, actor, at";

pub(crate) fn screening_review_from_row(
    row: ScreeningReviewRow,
) -> Result<crate::ScreeningReview, StoreError> {
    let (
        id,
        subject,
        list_source,
        entity_id,
        entry_hash,
        subject_hash,
        decision,
        reason,
        actor,
        at,
    ) = row;
    Ok(crate::ScreeningReview {
        id,
        subject,
        list_source,
        entity_id,
        entry_hash,
        subject_hash,
        decision,
        reason,
        actor,
        at: time_from_text(&at)?,
    })
}

/// The answer to storing `list` again when its version id is already stored with `stored`
/// (its SHA-256): the same file is a no-op, another one a conflict.
pub(crate) fn same_screening_list(
    list: &crate::ScreeningListData,
    stored: String,
) -> Result<(), StoreError> {
    if stored == list.meta.sha256 {
        Ok(())
    } else {
        Err(StoreError::ScreeningVersionConflict {
            version_id: list.meta.version_id.clone(),
            stored_sha256: stored,
            given_sha256: list.meta.sha256.clone(),
        })
    }
}

/// Times of the validation tables as stored: RFC 3339 in UTC with all nine fraction digits, so
/// text order is time order and the instant reads back to the nanosecond.
pub(crate) fn exact_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A run's candidates as stored: a JSON array, in the order given. The same list always gives
/// the same text, so a resumed run is found by comparing it.
pub(crate) fn candidates_text(candidates: &[String]) -> String {
    serde_json::to_string(candidates).expect("a list of strings always serialises")
}

/// The columns of [`SuiteRow`], in its order.
pub(crate) const SUITE_COLUMNS: &str = "hash, name, file_name, text, stored_at";

/// A `validation_suites` row.
pub(crate) type SuiteRow = (String, String, String, String, String);

pub(crate) fn suite_from_row(row: SuiteRow) -> Result<crate::StoredSuite, StoreError> {
    let (hash, name, file_name, text, stored_at) = row;
    Ok(crate::StoredSuite {
        hash,
        name,
        file_name,
        text,
        stored_at: time_from_text(&stored_at)?,
    })
}

/// The columns of [`RunRow`], in its order.
pub(crate) const RUN_COLUMNS: &str =
    "run_id, suite_hash, primary_model, candidates, bar, started_at, finished_at, actor";

/// A `validation_runs` row.
pub(crate) type RunRow = (
    String,
    String,
    String,
    String,
    f64,
    String,
    Option<String>,
    String,
);

pub(crate) fn run_from_row(row: RunRow) -> Result<crate::ValidationRun, StoreError> {
    let (run_id, suite_hash, primary_model, candidates, bar, started_at, finished_at, actor) = row;
    Ok(crate::ValidationRun {
        candidates: serde_json::from_str(&candidates).map_err(|e| StoreError::Corrupt {
            what: "validation run candidates",
            detail: format!("run `{run_id}`: {e}"),
        })?,
        run_id,
        suite_hash,
        primary_model,
        bar,
        started_at: time_from_text(&started_at)?,
        finished_at: finished_at.as_deref().map(time_from_text).transpose()?,
        actor,
    })
}

/// The columns of [`VerdictRow`], in its order.
pub(crate) const VERDICT_COLUMNS: &str = "primary_model, fallback_model, validated, score, bar, \
     suite_name, suite_hash, run_id, at, reason";

/// A `fallback_validations` (or `_history`) row.
pub(crate) type VerdictRow = (
    String,
    String,
    bool,
    f64,
    f64,
    String,
    String,
    String,
    String,
    Option<String>,
);

pub(crate) fn verdict_from_row(row: VerdictRow) -> Result<crate::FallbackValidation, StoreError> {
    let (
        primary_model,
        fallback_model,
        validated,
        score,
        bar,
        suite_name,
        suite_hash,
        run_id,
        at,
        reason,
    ) = row;
    Ok(crate::FallbackValidation {
        primary_model,
        fallback_model,
        validated,
        score,
        bar,
        suite_name,
        suite_hash,
        run_id,
        at: time_from_text(&at)?,
        reason,
    })
}

/// Refuses verdicts that are not about run `run_id` of `primary_model`: a run's verdicts name
/// it, so the history says which run gave each.
pub(crate) fn check_verdicts(
    run_id: &str,
    primary_model: &str,
    verdicts: &[crate::FallbackValidation],
) -> Result<(), StoreError> {
    match verdicts
        .iter()
        .find(|v| v.run_id != run_id || v.primary_model != primary_model)
    {
        None => Ok(()),
        Some(v) => Err(StoreError::Corrupt {
            what: "validation verdict",
            detail: format!(
                "the verdict on `{}` names run `{}` of primary `{}`, but it is finishing run \
                 `{run_id}` of primary `{primary_model}`",
                v.fallback_model, v.run_id, v.primary_model
            ),
        }),
    }
}

/// The error for a run that cannot take outcomes or be finished.
pub(crate) fn no_open_run(run_id: &str) -> StoreError {
    StoreError::Corrupt {
        what: "validation run",
        detail: format!(
            "no unfinished validation run `{run_id}` is stored (unknown, or already finished)"
        ),
    }
}

/// The columns of [`CaptureRow`], in its order.
pub(crate) const CAPTURE_COLUMNS: &str = "id, app, model, api, at, request, answer";

/// A `captures` row.
pub(crate) type CaptureRow = (i64, String, String, String, String, String, String);

pub(crate) fn capture_from_row(row: CaptureRow) -> Result<crate::Capture, StoreError> {
    let (id, app, model, api, at, request, answer) = row;
    Ok(crate::Capture {
        id,
        app,
        model,
        api,
        at: time_from_text(&at)?,
        request,
        answer,
    })
}

/// The columns of [`ResponseRow`], in its order.
pub(crate) const RESPONSE_COLUMNS: &str =
    "id, owner, previous, created_at, expires_at, input, response";

/// A `responses` row.
pub(crate) type ResponseRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
);

pub(crate) fn response_from_row(row: ResponseRow) -> Result<crate::KeptResponse, StoreError> {
    let (id, owner, previous, created_at, expires_at, input, response) = row;
    Ok(crate::KeptResponse {
        id,
        owner,
        previous,
        created_at: time_from_text(&created_at)?,
        expires_at: time_from_text(&expires_at)?,
        input,
        response,
    })
}

/// The fields of an audit record a dependency report reads. Every other field (the facts
/// above all, most of a record's bytes) is skipped by the parser without being built, which
/// is what keeps a scan of a million records within a second or so.
#[derive(serde::Deserialize)]
struct UsageFields {
    id: String,
    #[serde(default)]
    phase: clearance_core::audit::Phase,
    #[serde(default)]
    key_id: Option<String>,
    #[serde(default)]
    principal_id: Option<String>,
    #[serde(default)]
    requested_model: Option<String>,
    #[serde(default)]
    served_model: Option<String>,
    decision: clearance_core::audit::Decision,
    #[serde(default)]
    attempts: Vec<AttemptFields>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(serde::Deserialize)]
struct AttemptFields {
    model: String,
    outcome: String,
}

/// A stored record's usage, read from its JSON (`time` is its stored time column, the same
/// text as its `time` field); `None` for an operator's action or a log boundary (decision
/// `admin`), which is no request. `log_id` and `seq` name the record in an error.
pub(crate) fn usage_from_record(
    time: &str,
    record: &str,
    (log_id, seq): (&str, i64),
) -> Result<Option<crate::UsageRow>, StoreError> {
    let fields: UsageFields = serde_json::from_str(record).map_err(|e| StoreError::Corrupt {
        what: "audit record",
        detail: format!("log `{log_id}` record #{seq}: {e}"),
    })?;
    if fields.decision == clearance_core::audit::Decision::Admin {
        return Ok(None);
    }
    Ok(Some(crate::UsageRow {
        request_id: fields.id,
        time: time_from_text(time)?,
        phase: fields.phase,
        key_id: fields.key_id,
        principal_id: fields.principal_id,
        requested_model: fields.requested_model,
        served_model: fields.served_model,
        decision: fields.decision,
        attempts: fields
            .attempts
            .into_iter()
            .map(|a| (a.model, a.outcome))
            .collect(),
        input_tokens: fields.input_tokens,
        output_tokens: fields.output_tokens,
    }))
}

/// The error for a run started on a suite the store does not hold.
pub(crate) fn suite_not_stored(run: &crate::ValidationRun) -> StoreError {
    StoreError::Corrupt {
        what: "validation run",
        detail: format!(
            "run `{}` names suite {}, which is not stored: store the suite before starting a run on it",
            run.run_id, run.suite_hash
        ),
    }
}
