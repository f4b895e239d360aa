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
