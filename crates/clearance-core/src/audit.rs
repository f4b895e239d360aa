//! Audit records and the hash chain that makes the log tamper-evident.
//!
//! Each decision becomes one [`AuditRecord`]. A record is sealed by the single writer into a
//! [`SealedRecord`]: it gets the next sequence number and a hash that commits to the sequence
//! number, the previous record's hash and the record's canonical JSON. Editing, deleting or
//! reordering any stored record breaks the chain at that record, and [`ChainVerifier`] names it.
//!
//! The hashed bytes are exactly the stored bytes (`record_json`), so verification never depends
//! on re-serialising old records with today's code: records written by an older version, with
//! fewer fields, verify as they were written. Prompts, completions and secrets are not fields of
//! a record, so they cannot reach the log by accident.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::ApiSurface;
use crate::facts::Facts;

/// What the gateway decided for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Served as asked.
    Allow,
    /// Refused by a directive (HTTP 451).
    Deny,
    /// Served by another model because a directive said so.
    Reroute,
    /// Refused before any access decision: bad key, malformed request, unknown model, overload.
    Rejected,
    /// Served by a fallback on the requested model's route because the model could not answer
    /// (outage, overload, a provider's block, a kill switch); `attempts` shows why.
    Fallback,
    /// Not a model request: an operator's action (a kill switch), recorded in the same chain.
    Admin,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Reroute => "reroute",
            Decision::Rejected => "rejected",
            Decision::Fallback => "fallback",
            Decision::Admin => "admin",
        }
    }
}

/// One request's record. Never holds prompt or completion text, nor any secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Also the `x-clearance-request-id` the client saw.
    pub id: String,
    pub time: DateTime<Utc>,
    pub api: ApiSurface,
    pub key_id: Option<String>,
    /// For a caller signed in with a token instead of a key: the issuer and subject (absent
    /// for key callers, and in records from before tokens, whose bytes stay as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenCaller>,
    pub principal_id: Option<String>,
    pub requested_model: Option<String>,
    pub served_model: Option<String>,
    pub decision: Decision,
    /// Directives that decided a deny or reroute.
    #[serde(default)]
    pub directive_ids: Vec<String>,
    /// Shadow directives that would have fired.
    #[serde(default)]
    pub shadow_hits: Vec<String>,
    /// What the answer would have been had the shadow directives been enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_decision: Option<Decision>,
    /// The version of the directive set that decided (absent when no directives are loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// The facts the decision read, so an auditor (and a later impact preview) sees exactly
    /// what held when the request was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// For deny, reroute and shadow hits: the facts the deciding directives' conditions name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts_read: Vec<String>,
    pub stream: bool,
    /// The status the client received.
    pub status: u16,
    pub upstream_status: Option<u16>,
    /// Whole request, as the gateway saw it.
    pub duration_us: u64,
    /// The gateway's own share of `duration_us` (excluding waiting on the upstream).
    pub overhead_us: u64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// A stable, machine-readable failure class, e.g. `upstream_status`, `client_disconnected`.
    pub error_class: Option<String>,
    /// Every model tried for this request, in order, when more than the first was needed or
    /// any failed (absent for a request served by its first attempt).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// For [`Decision::Admin`] records: what the operator did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminAction>,
    /// Which part of a request's record this is (absent: the whole record, written once).
    #[serde(default, skip_serializing_if = "Phase::is_whole")]
    pub phase: Phase,
    /// The gateway replica that wrote the record (absent in records from before replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

/// Who signed a token caller in: the issuer (`iss`) and the token's subject (`sub`). Never the
/// token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCaller {
    pub issuer: String,
    pub subject: String,
}

/// A request served by a provider is recorded twice: its [`Phase::Decision`] record (who asked
/// for what, and what was decided) is durable before any byte of the answer leaves, and its
/// [`Phase::Completion`] record (status, served model, attempts, tokens, duration) follows
/// when the answer has ended. A request answered without a provider call (a refusal, an
/// error) is known whole before it is answered and has one [`Phase::Whole`] record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Whole,
    Decision,
    Completion,
}

impl Phase {
    pub fn is_whole(&self) -> bool {
        *self == Phase::Whole
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Whole => "whole",
            Phase::Decision => "decision",
            Phase::Completion => "completion",
        }
    }
}

impl AuditRecord {
    /// A request's record before anything about it is known: refused (`rejected`) until the
    /// request path says otherwise.
    pub fn new_request(id: String, time: DateTime<Utc>, api: ApiSurface) -> AuditRecord {
        AuditRecord {
            id,
            time,
            api,
            key_id: None,
            token: None,
            principal_id: None,
            requested_model: None,
            served_model: None,
            decision: Decision::Rejected,
            directive_ids: Vec::new(),
            shadow_hits: Vec::new(),
            shadow_decision: None,
            policy_version: None,
            facts: None,
            facts_read: Vec::new(),
            stream: false,
            status: 0,
            upstream_status: None,
            duration_us: 0,
            overhead_us: 0,
            input_tokens: None,
            output_tokens: None,
            error_class: None,
            attempts: Vec::new(),
            admin: None,
            phase: Phase::Whole,
            replica: None,
        }
    }

    /// An operator's action (or a log opening or closing), recorded in the same chains as
    /// requests. `status` is what the operator was answered (200 for a change that was made).
    pub fn admin(id: String, time: DateTime<Utc>, action: AdminAction, status: u16) -> AuditRecord {
        AuditRecord {
            decision: Decision::Admin,
            status,
            admin: Some(action),
            // Admin answers use the OpenAI error shape.
            ..AuditRecord::new_request(id, time, ApiSurface::OpenaiChat)
        }
    }

    /// The completion record that goes with this decision record: what is known only when
    /// the answer has ended. Who asked and for what are in the decision record it names; the
    /// directives are repeated, as fallbacks may have added the ones that kept them out.
    pub fn into_completion(self) -> AuditRecord {
        AuditRecord {
            key_id: None,
            token: None,
            principal_id: None,
            requested_model: None,
            shadow_hits: Vec::new(),
            shadow_decision: None,
            facts: None,
            facts_read: Vec::new(),
            phase: Phase::Completion,
            ..self
        }
    }
}

impl AuditRecord {
    /// Whether this is a log's opening or closing record (bookkeeping, not an event).
    pub fn is_log_boundary(&self) -> bool {
        self.admin
            .as_ref()
            .is_some_and(|a| a.action == LOG_OPEN || a.action == LOG_CLOSE)
    }

    /// The request's whole story in one record: this decision record with what its completion
    /// record adds (how it ended: status, served model, attempts, usage, timing).
    pub fn completed_by(mut self, completion: &AuditRecord) -> AuditRecord {
        self.decision = completion.decision;
        self.served_model.clone_from(&completion.served_model);
        self.status = completion.status;
        self.upstream_status = completion.upstream_status;
        self.duration_us = completion.duration_us;
        self.overhead_us = completion.overhead_us;
        self.input_tokens = completion.input_tokens;
        self.output_tokens = completion.output_tokens;
        self.error_class.clone_from(&completion.error_class);
        self.attempts.clone_from(&completion.attempts);
        self.directive_ids.clone_from(&completion.directive_ids);
        self.phase = Phase::Whole;
        self
    }
}

/// One try at serving a request on a model of its route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub model: String,
    pub outcome: AttemptOutcome,
    /// Time spent on this attempt (0 for a skip).
    pub ms: u64,
    /// The provider's status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// How one attempt ended. Serialised as the snake-case names records have always held (a
/// record's hash covers them: a name never changes, a new one is only added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The model answered and the answer went to the caller.
    Served,
    /// The provider refused the request itself (a 4xx it caused): back to the caller at once.
    RefusedRequest,
    // Failures that move on (`clearance_failover::FailureClass`, same names).
    Connect,
    Timeout,
    RateLimited,
    Overloaded,
    ServerError,
    LegalBlock,
    RegionBlock,
    BrokenStream,
    // Skips, without a call.
    /// A directive forbids this model to this caller.
    Forbidden,
    /// An operator's kill switch.
    Disabled,
    /// The provider's health check fails.
    Unhealthy,
    /// The model's circuit breaker is open.
    BreakerOpen,
    /// No retry budget left for another try on the same model.
    NoRetryBudget,
    /// `validated_only`, and this fallback has no passing validation.
    Unvalidated,
    /// The model's API cannot express this request.
    Untranslatable,
    /// The route's deadline passed.
    Deadline,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 18] = [
        AttemptOutcome::Served,
        AttemptOutcome::RefusedRequest,
        AttemptOutcome::Connect,
        AttemptOutcome::Timeout,
        AttemptOutcome::RateLimited,
        AttemptOutcome::Overloaded,
        AttemptOutcome::ServerError,
        AttemptOutcome::LegalBlock,
        AttemptOutcome::RegionBlock,
        AttemptOutcome::BrokenStream,
        AttemptOutcome::Forbidden,
        AttemptOutcome::Disabled,
        AttemptOutcome::Unhealthy,
        AttemptOutcome::BreakerOpen,
        AttemptOutcome::NoRetryBudget,
        AttemptOutcome::Unvalidated,
        AttemptOutcome::Untranslatable,
        AttemptOutcome::Deadline,
    ];

    /// The stable name (a metric label, and the record's value).
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Served => "served",
            AttemptOutcome::RefusedRequest => "refused_request",
            AttemptOutcome::Connect => "connect",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::RateLimited => "rate_limited",
            AttemptOutcome::Overloaded => "overloaded",
            AttemptOutcome::ServerError => "server_error",
            AttemptOutcome::LegalBlock => "legal_block",
            AttemptOutcome::RegionBlock => "region_block",
            AttemptOutcome::BrokenStream => "broken_stream",
            AttemptOutcome::Forbidden => "forbidden",
            AttemptOutcome::Disabled => "disabled",
            AttemptOutcome::Unhealthy => "unhealthy",
            AttemptOutcome::BreakerOpen => "breaker_open",
            AttemptOutcome::NoRetryBudget => "no_retry_budget",
            AttemptOutcome::Unvalidated => "unvalidated",
            AttemptOutcome::Untranslatable => "untranslatable",
            AttemptOutcome::Deadline => "deadline",
        }
    }
}

impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator's action, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAction {
    /// e.g. `model_disable`, `model_enable`.
    pub action: String,
    /// What it acted on (a model name).
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who did it: `admin-api` or `cli` (the admin token is never recorded).
    pub actor: String,
    /// What changed, when the action and target do not say it all: a key's principal, the
    /// fields of a principal before and after, a directive set's version and file hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The admin action that opens every log: its target is the log's id, so a log's records
/// cannot be passed off as another log's.
pub const LOG_OPEN: &str = "log_open";
/// The admin action a writer appends when it closes its log cleanly.
pub const LOG_CLOSE: &str = "log_close";

/// A SHA-256 chain hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The `prev_hash` of the first record.
    pub const GENESIS: ChainHash = ChainHash([0u8; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<ChainHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(ChainHash(bytes))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The hash of record `seq` given the previous hash and the record's stored JSON.
///
/// Domain-separated and length-delimited so that no two different inputs share an encoding.
pub fn chain_hash(seq: u64, prev: &ChainHash, record_json: &str) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(b"clearance-audit-v1\n");
    hasher.update(seq.to_be_bytes());
    hasher.update(prev.0);
    hasher.update((record_json.len() as u64).to_be_bytes());
    hasher.update(record_json.as_bytes());
    ChainHash(hasher.finalize().into())
}

/// A record as stored: its place in the chain and the exact bytes that were hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    pub seq: u64,
    pub id: String,
    pub prev_hash: ChainHash,
    pub hash: ChainHash,
    pub record_json: String,
}

impl SealedRecord {
    /// Whether retention emptied this record's body: its place in the chain (sequence number,
    /// id, hashes) and its leaf in the log's Merkle tree stay, its content is gone.
    pub fn is_pruned(&self) -> bool {
        self.record_json.is_empty()
    }
}

/// The end of the chain: the last sealed record's sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: ChainHash,
}

impl ChainHead {
    /// An empty log: the first record gets sequence number 1.
    pub const EMPTY: ChainHead = ChainHead {
        seq: 0,
        hash: ChainHash::GENESIS,
    };

    /// Seals `record` as the next link and moves the head to it.
    pub fn seal(&mut self, record: &AuditRecord) -> SealedRecord {
        let record_json = serde_json::to_string(record).expect("an AuditRecord always serialises");
        let seq = self.seq + 1;
        let hash = chain_hash(seq, &self.hash, &record_json);
        let sealed = SealedRecord {
            seq,
            id: record.id.clone(),
            prev_hash: self.hash,
            hash,
            record_json,
        };
        *self = ChainHead { seq, hash };
        sealed
    }
}

/// Why the chain is broken at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// The record's content does not match its hash.
    Edited,
    /// Sequence numbers jump: records before this one were deleted.
    Missing { expected_seq: u64 },
    /// The record does not follow its predecessor: reordered, or a predecessor replaced.
    Reordered,
    /// The record's JSON is not an audit record.
    Unreadable(String),
    /// The log ends before the record the writer last wrote: records at the end were deleted.
    Truncated { last_present: u64 },
    /// The log goes on past the record the writer last wrote: records were added by hand.
    Appended { recorded_head: u64 },
    /// A log's first record is not the record that opens that log: records were moved from
    /// another log, or the log's beginning was replaced.
    NotOpened,
    /// A record follows the one that closed the log.
    AfterClose,
    /// A completion record for a request whose decision record is not in the log before it.
    CompletionWithoutDecision,
    /// The record has no leaf in the log's Merkle tree (leaf `seq - 1`).
    LeafMissing,
    /// The record's leaf in the log's Merkle tree is not the hash of its content: the record
    /// was edited (and its chain re-hashed), or the leaf was.
    LeafMismatch,
    /// A node of the log's Merkle tree (the `index`-th subtree of `2^level` leaves, completed
    /// by this record) is not the hash of the leaves below it.
    TreeMismatch { level: u8, index: u64 },
    /// A node of the log's Merkle tree that this record completes is not stored.
    TreeNodeMissing { level: u8, index: u64 },
    /// The log's Merkle tree holds a leaf past the log's last record (`leaves` leaves).
    TreeBeyondHead { leaves: u64 },
    /// A query column stored beside the record (what the impact preview and the export read)
    /// does not say what the record says.
    DerivedColumnEdited { column: String },
}

/// The first record at which the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: u64,
    pub id: String,
    pub kind: BreakKind,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!("record #{} (id {})", self.seq, self.id);
        match &self.kind {
            BreakKind::Edited => write!(f, "{at} was edited: its content does not match its hash"),
            BreakKind::Missing { expected_seq } => write!(
                f,
                "{at}: records #{expected_seq}..#{} are missing (deleted)",
                self.seq.saturating_sub(1)
            ),
            BreakKind::Reordered => write!(
                f,
                "{at} does not follow the record before it (records were reordered, replaced or deleted)"
            ),
            BreakKind::Unreadable(why) => write!(f, "{at} is not a readable audit record: {why}"),
            BreakKind::Truncated { last_present } => write!(
                f,
                "the log ends at record #{last_present} but the gateway last wrote record #{}: records #{}..#{} \
                 were deleted",
                self.seq,
                last_present + 1,
                self.seq
            ),
            BreakKind::NotOpened => write!(
                f,
                "{at} is the log's first record but does not open this log (records moved from another log?)"
            ),
            BreakKind::AfterClose => write!(f, "{at} follows the record that closed the log"),
            BreakKind::CompletionWithoutDecision => write!(
                f,
                "{at} completes a request whose decision record is not in the log before it"
            ),
            BreakKind::LeafMissing => write!(f, "{at} has no leaf in the log's Merkle tree"),
            BreakKind::LeafMismatch => write!(
                f,
                "{at} does not match its leaf in the log's Merkle tree (the record was edited and \
                 its chain re-hashed, or the leaf was edited)"
            ),
            BreakKind::TreeMismatch { level, index } => write!(
                f,
                "the log's Merkle tree node over records #{}..#{} (level {level}, index {index}), \
                 completed at {at}, does not match the records' leaves (the tree was edited)",
                (index << level) + 1,
                (index + 1) << level
            ),
            BreakKind::TreeNodeMissing { level, index } => write!(
                f,
                "the log's Merkle tree node over records #{}..#{} (level {level}, index {index}), \
                 completed at {at}, is missing (the tree was edited)",
                (index << level) + 1,
                (index + 1) << level
            ),
            BreakKind::TreeBeyondHead { leaves } => write!(
                f,
                "the log's Merkle tree has a leaf past its last record #{leaves} (the tree was edited)"
            ),
            BreakKind::DerivedColumnEdited { column } => write!(
                f,
                "{at}: its stored `{column}` column does not say what the record says (edited behind \
                 the chain)"
            ),
            BreakKind::Appended { recorded_head } => write!(
                f,
                "record #{} (id {}) and any after it were not written by the gateway, which last wrote record \
                 #{recorded_head}",
                self.seq, self.id
            ),
        }
    }
}

/// Checks stored records in sequence order, one at a time, so a log of any size verifies in
/// constant memory.
///
/// Besides the chain itself it checks a log's shape: the first record opens the log it is in
/// (for logs with an id), nothing follows the closing record, and every completion record
/// follows its request's decision record. Decision records still waiting for their completion
/// at the end are [`ChainVerifier::incomplete`]: requests in flight, or cut off by a crash.
#[derive(Debug)]
pub struct ChainVerifier {
    head: ChainHead,
    /// The log id the first record must open; `None` for the log from before logs had ids.
    log_id: Option<String>,
    closed: bool,
    awaiting_completion: std::collections::HashSet<String>,
    /// Records whose body retention emptied.
    pruned: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            head: ChainHead::EMPTY,
            log_id: None,
            closed: false,
            awaiting_completion: std::collections::HashSet::new(),
            pruned: 0,
        }
    }
}

impl ChainVerifier {
    /// A verifier for the log `log_id`, whose first record must be its [`LOG_OPEN`] record.
    pub fn for_log(log_id: &str) -> ChainVerifier {
        ChainVerifier {
            log_id: Some(log_id.to_string()),
            ..ChainVerifier::default()
        }
    }

    /// How many records retention had emptied ([`SealedRecord::is_pruned`]).
    pub fn pruned(&self) -> u64 {
        self.pruned
    }

    /// Whether the log's closing record has been seen.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Requests whose decision record has no completion record (yet), sorted.
    pub fn incomplete(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.awaiting_completion.iter().cloned().collect();
        ids.sort();
        ids
    }

    /// Checks what the record says against the log's shape (opening, closing, phases).
    fn check_shape(&mut self, seq: u64, record: &AuditRecord) -> Result<(), BreakKind> {
        if self.closed {
            return Err(BreakKind::AfterClose);
        }
        let action = record
            .admin
            .as_ref()
            .map(|a| (a.action.as_str(), a.target.as_str()));
        if seq == 1
            && let Some(log_id) = &self.log_id
            && action != Some((LOG_OPEN, log_id.as_str()))
        {
            return Err(BreakKind::NotOpened);
        }
        if action.is_some_and(|(name, _)| name == LOG_CLOSE) {
            self.closed = true;
        }
        match record.phase {
            Phase::Whole => {}
            Phase::Decision => {
                self.awaiting_completion.insert(record.id.clone());
            }
            Phase::Completion => {
                if !self.awaiting_completion.remove(&record.id) {
                    return Err(BreakKind::CompletionWithoutDecision);
                }
            }
        }
        Ok(())
    }

    /// Checks the next stored record; the first `Err` is where the chain breaks.
    pub fn check(&mut self, stored: &SealedRecord) -> Result<(), ChainBreak> {
        let fail = |kind| ChainBreak {
            seq: stored.seq,
            id: stored.id.clone(),
            kind,
        };
        let expected_seq = self.head.seq + 1;
        if stored.seq > expected_seq {
            return Err(fail(BreakKind::Missing { expected_seq }));
        }
        if stored.seq < expected_seq || stored.prev_hash != self.head.hash {
            return Err(fail(BreakKind::Reordered));
        }
        if stored.is_pruned() {
            // Its body is gone, so its hash cannot be recomputed: it is taken as given (the
            // next record's `prev_hash` must still match it, and the log's Merkle tree keeps
            // the record's leaf). Log boundaries are never pruned.
            if self.closed {
                return Err(fail(BreakKind::AfterClose));
            }
            if stored.seq == 1 && self.log_id.is_some() {
                return Err(fail(BreakKind::NotOpened));
            }
            self.pruned += 1;
            self.head = ChainHead {
                seq: stored.seq,
                hash: stored.hash,
            };
            return Ok(());
        }
        if chain_hash(stored.seq, &stored.prev_hash, &stored.record_json) != stored.hash {
            return Err(fail(BreakKind::Edited));
        }
        let record: AuditRecord = serde_json::from_str(&stored.record_json)
            .map_err(|e| fail(BreakKind::Unreadable(e.to_string())))?;
        if record.id != stored.id {
            return Err(fail(BreakKind::Edited));
        }
        self.check_shape(stored.seq, &record).map_err(fail)?;
        self.head = ChainHead {
            seq: stored.seq,
            hash: stored.hash,
        };
        Ok(())
    }

    /// Checks that the log ends where the writer last left it (`recorded`, kept beside the log
    /// and updated with every batch): catches records deleted from the end, which leave no gap.
    pub fn finish(&self, recorded: ChainHead, last_id: &str) -> Result<ChainHead, ChainBreak> {
        let head = self.head;
        if recorded.seq > head.seq {
            let kind = BreakKind::Truncated {
                last_present: head.seq,
            };
            return Err(ChainBreak {
                seq: recorded.seq,
                id: String::new(),
                kind,
            });
        }
        if recorded.seq < head.seq {
            let kind = BreakKind::Appended {
                recorded_head: recorded.seq,
            };
            return Err(ChainBreak {
                seq: recorded.seq + 1,
                id: last_id.to_string(),
                kind,
            });
        }
        if recorded.hash != head.hash {
            return Err(ChainBreak {
                seq: head.seq,
                id: last_id.to_string(),
                kind: BreakKind::Reordered,
            });
        }
        Ok(head)
    }

    /// How many records have verified so far, and the hash they end in.
    pub fn head(&self) -> ChainHead {
        self.head
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn attempt_outcomes_serialise_to_their_stable_names() {
        for outcome in AttemptOutcome::ALL {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
            let back: AttemptOutcome = serde_json::from_str(&json).unwrap();
            assert_eq!(back, outcome);
        }
        let names: std::collections::BTreeSet<&str> =
            AttemptOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(names.len(), AttemptOutcome::ALL.len());
    }

    fn record(n: u64) -> AuditRecord {
        AuditRecord {
            id: format!("req-{n}"),
            time: DateTime::from_timestamp(1_780_000_000 + n as i64, 0).unwrap(),
            api: ApiSurface::OpenaiChat,
            key_id: Some("0011223344556677".into()),
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
            stream: false,
            status: 200,
            upstream_status: Some(200),
            duration_us: 1000 + n,
            overhead_us: 100,
            input_tokens: Some(10),
            output_tokens: Some(n),
            error_class: None,
            attempts: Vec::new(),
            admin: None,
            phase: Phase::Whole,
            replica: None,
        }
    }

    fn chain(len: u64) -> Vec<SealedRecord> {
        let mut head = ChainHead::EMPTY;
        (1..=len).map(|n| head.seal(&record(n))).collect()
    }

    fn verify(records: &[SealedRecord]) -> Result<u64, ChainBreak> {
        let mut verifier = ChainVerifier::default();
        for r in records {
            verifier.check(r)?;
        }
        Ok(verifier.head().seq)
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn edited_record_is_named() {
        let mut records = chain(5);
        records[2].record_json = records[2]
            .record_json
            .replace("\"status\":200", "\"status\":201");
        let broken = verify(&records).unwrap_err();
        assert_eq!((broken.seq, broken.kind), (3, BreakKind::Edited));
    }

    #[test]
    fn deleted_record_is_named() {
        let mut records = chain(5);
        records.remove(1);
        let broken = verify(&records).unwrap_err();
        assert_eq!(
            (broken.seq, broken.kind),
            (3, BreakKind::Missing { expected_seq: 2 })
        );
    }

    #[test]
    fn reordered_records_are_named() {
        let mut records = chain(5);
        records.swap(1, 3);
        // Stored sequence numbers travel with the rows; a verifier reading in stored order sees a jump.
        assert_eq!(verify(&records).unwrap_err().seq, 4);
        // Swapping only the contents (keeping the seq column in order) is caught too.
        let mut records = chain(5);
        let (a, b) = (records[1].clone(), records[3].clone());
        records[1] = SealedRecord { seq: 2, ..b };
        records[3] = SealedRecord { seq: 4, ..a };
        assert_eq!(
            verify(&records).unwrap_err(),
            ChainBreak {
                seq: 2,
                id: "req-4".into(),
                kind: BreakKind::Reordered
            }
        );
    }

    #[test]
    fn records_deleted_from_the_end_are_caught_against_the_recorded_head() {
        let records = chain(5);
        let mut head = ChainHead::EMPTY;
        for r in &records {
            head = ChainHead {
                seq: r.seq,
                hash: r.hash,
            };
        }
        let mut verifier = ChainVerifier::default();
        for r in &records[..3] {
            verifier.check(r).unwrap();
        }
        let broken = verifier.finish(head, "req-3").unwrap_err();
        assert_eq!(broken.kind, BreakKind::Truncated { last_present: 3 });
        assert!(
            broken.to_string().contains("records #4..#5 were deleted"),
            "{broken}"
        );
        let mut verifier = ChainVerifier::default();
        for r in &records {
            verifier.check(r).unwrap();
        }
        assert_eq!(verifier.finish(head, "req-5"), Ok(head));
        let earlier = ChainHead {
            seq: 4,
            hash: records[3].hash,
        };
        assert_eq!(
            verifier.finish(earlier, "req-5").unwrap_err().kind,
            BreakKind::Appended { recorded_head: 4 }
        );
    }

    #[test]
    fn records_never_hold_prompt_fields() {
        let json = serde_json::to_string(&record(1)).unwrap();
        for forbidden in [
            "messages",
            "content",
            "prompt",
            "completion",
            "api_key",
            "authorization",
        ] {
            assert!(!json.contains(forbidden), "{forbidden} in {json}");
        }
    }

    fn admin(n: u64, action: &str, target: &str) -> AuditRecord {
        let action = AdminAction {
            action: action.into(),
            target: target.into(),
            reason: None,
            actor: "replica-a".into(),
            details: None,
        };
        AuditRecord::admin(format!("adm-{n}"), record(n).time, action, 200)
    }

    fn verify_log(log_id: &str, records: &[AuditRecord]) -> Result<ChainVerifier, ChainBreak> {
        let mut head = ChainHead::EMPTY;
        let mut verifier = ChainVerifier::for_log(log_id);
        for r in records {
            verifier.check(&head.seal(r))?;
        }
        Ok(verifier)
    }

    #[test]
    fn a_log_must_open_with_its_own_id() {
        let opened = [
            admin(0, LOG_OPEN, "log-a"),
            record(1),
            admin(2, LOG_CLOSE, "log-a"),
        ];
        let verifier = verify_log("log-a", &opened).unwrap();
        assert!(verifier.closed());
        let broken = verify_log("log-b", &opened).unwrap_err();
        assert_eq!((broken.seq, broken.kind), (1, BreakKind::NotOpened));
        let broken = verify_log("log-a", &[record(1)]).unwrap_err();
        assert_eq!(broken.kind, BreakKind::NotOpened);
    }

    #[test]
    fn nothing_may_follow_the_close() {
        let records = [admin(0, LOG_OPEN, "l"), admin(1, LOG_CLOSE, "l"), record(2)];
        let broken = verify_log("l", &records).unwrap_err();
        assert_eq!((broken.seq, broken.kind), (3, BreakKind::AfterClose));
    }

    #[test]
    fn decisions_without_completion_are_reported_and_orphan_completions_break() {
        let decided = |n| AuditRecord {
            phase: Phase::Decision,
            ..record(n)
        };
        let records = [
            admin(0, LOG_OPEN, "l"),
            decided(1),
            decided(2),
            decided(1).into_completion(),
            record(3),
        ];
        let verifier = verify_log("l", &records).unwrap();
        assert_eq!(verifier.incomplete(), vec!["req-2".to_string()]);
        let orphan = [admin(0, LOG_OPEN, "l"), decided(5).into_completion()];
        let broken = verify_log("l", &orphan).unwrap_err();
        assert_eq!(broken.kind, BreakKind::CompletionWithoutDecision);
    }

    #[test]
    fn pruned_records_keep_their_place_in_the_chain() {
        let mut records = chain(5);
        records[1].record_json.clear();
        records[2].record_json.clear();
        let mut verifier = ChainVerifier::default();
        for r in &records {
            verifier.check(r).unwrap();
        }
        assert_eq!((verifier.head().seq, verifier.pruned()), (5, 2));
        // A pruned record must still link: one put in another's place does not.
        let mut swapped = chain(5);
        swapped[2].record_json.clear();
        swapped[2].prev_hash = swapped[0].hash;
        assert_eq!(verify(&swapped).unwrap_err().kind, BreakKind::Reordered);
        // The record after a pruned one must follow its stored hash.
        let mut forged = chain(5);
        forged[1].record_json.clear();
        forged[1].hash = ChainHash([7; 32]);
        assert_eq!(verify(&forged).unwrap_err().seq, 3);
        // A log's opening record is never pruned.
        let mut head = ChainHead::EMPTY;
        let mut opening = head.seal(&admin(0, LOG_OPEN, "l"));
        opening.record_json.clear();
        let broken = ChainVerifier::for_log("l").check(&opening).unwrap_err();
        assert_eq!(broken.kind, BreakKind::NotOpened);
    }

    #[test]
    fn a_completion_names_no_caller_and_no_facts() {
        let completion = AuditRecord {
            phase: Phase::Decision,
            facts_read: vec!["principal.us_person".into()],
            ..record(1)
        }
        .into_completion();
        assert_eq!(completion.phase, Phase::Completion);
        assert!(completion.principal_id.is_none() && completion.facts_read.is_empty());
        assert_eq!(completion.status, 200);
    }

    proptest! {
        #[test]
        fn any_single_byte_edit_breaks_the_chain(len in 1u64..8, pick in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut records = chain(len);
            let i = pick.index(records.len());
            let mut bytes = records[i].record_json.clone().into_bytes();
            let at = pos.index(bytes.len());
            prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            records[i].record_json = String::from_utf8_lossy(&bytes).into_owned();
            let broken = verify(&records).unwrap_err();
            prop_assert_eq!(broken.seq, i as u64 + 1);
        }
    }
}
