//! Receipts: a request's records with their inclusion proofs under a signed checkpoint, in one
//! self-contained JSON document that verifies offline with the log's verifier key (and, for
//! split-view protection, the witnesses' keys).

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::note::{Note, Verifier};

/// The format tag every receipt carries.
pub const RECEIPT_FORMAT: &str = "clearance-receipt/v1";

/// A receipt bundle, as `clearance audit prove` writes it and `GET /audit/receipt/{id}`
/// returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub format: String,
    pub request_id: String,
    pub log: String,
    /// The signed checkpoint note (log signature and cosignatures), verbatim.
    pub checkpoint: String,
    pub entries: Vec<ReceiptEntry>,
}

/// One record of the request and its inclusion proof in the checkpoint's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptEntry {
    /// The leaf index (the record's sequence number minus one).
    pub index: u64,
    /// The record exactly as stored and hashed.
    pub record: String,
    /// Base64 hashes, RFC 9162 order.
    pub inclusion_proof: Vec<String>,
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("not a {RECEIPT_FORMAT} receipt: {0}")]
    Format(String),
    #[error("the checkpoint: {0}")]
    Checkpoint(String),
    #[error("the checkpoint's origin `{origin}` does not name log `{log}`")]
    WrongLog { origin: String, log: String },
    #[error("entry #{index}: {why}")]
    Entry { index: u64, why: String },
    #[error("{got} of the given witnesses cosigned the checkpoint; {required} required")]
    TooFewWitnesses { got: usize, required: usize },
}

/// What a verified receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub checkpoint: Checkpoint,
    /// The names of the given witnesses that cosigned it, with their cosignature times.
    pub witnesses: Vec<(String, u64)>,
    /// The records, as stored, in the order of the receipt.
    pub records: Vec<(u64, String)>,
}

impl Receipt {
    /// Checks the checkpoint's signature by `log_key`, that its origin ends in `/<log id>`,
    /// that every entry's record is in its tree, and that at least `witnesses_required` of
    /// `witness_keys` cosigned it.
    pub fn verify(
        &self,
        log_key: &Verifier,
        witness_keys: &[Verifier],
        witnesses_required: usize,
    ) -> Result<VerifiedReceipt, ReceiptError> {
        if self.format != RECEIPT_FORMAT {
            return Err(ReceiptError::Format(format!("format is `{}`", self.format)));
        }
        if self.entries.is_empty() {
            return Err(ReceiptError::Format("it holds no entries".into()));
        }
        let (checkpoint, witnesses) =
            open_checkpoint(&self.checkpoint, log_key, witness_keys, witnesses_required)?;
        if !checkpoint.origin.ends_with(&format!("/{}", self.log)) {
            return Err(ReceiptError::WrongLog {
                origin: checkpoint.origin,
                log: self.log.clone(),
            });
        }
        let mut records = Vec::new();
        for entry in &self.entries {
            let fail = |why: String| ReceiptError::Entry {
                index: entry.index,
                why,
            };
            let proof = entry
                .inclusion_proof
                .iter()
                .map(|h| {
                    Hash::from_base64(h).ok_or_else(|| fail(format!("`{h}` is not a base64 hash")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            verify_inclusion(
                entry.index,
                checkpoint.size,
                &leaf_hash(entry.record.as_bytes()),
                &proof,
                &checkpoint.root,
            )
            .map_err(|e| fail(format!("not in the checkpoint's tree: {e}")))?;
            records.push((entry.index, entry.record.clone()));
        }
        Ok(VerifiedReceipt {
            checkpoint,
            witnesses,
            records,
        })
    }
}

/// Verifies a checkpoint note: signed by `log_key`, and cosigned by at least
/// `witnesses_required` of `witness_keys` (each counted once). Returns the checkpoint and the
/// cosigners' names with their times.
pub fn open_checkpoint(
    text: &str,
    log_key: &Verifier,
    witness_keys: &[Verifier],
    witnesses_required: usize,
) -> Result<(Checkpoint, Vec<(String, u64)>), ReceiptError> {
    let note = Note::parse(text).map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    note.verify(log_key)
        .map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    let checkpoint =
        Checkpoint::parse(&note.body).map_err(|e| ReceiptError::Checkpoint(e.to_string()))?;
    let witnesses: Vec<(String, u64)> = witness_keys
        .iter()
        .filter_map(|key| {
            let time = note.verified_by(key).into_iter().flatten().max()?;
            Some((key.name.clone(), time))
        })
        .collect();
    if witnesses.len() < witnesses_required {
        return Err(ReceiptError::TooFewWitnesses {
            got: witnesses.len(),
            required: witnesses_required,
        });
    }
    Ok((checkpoint, witnesses))
}
