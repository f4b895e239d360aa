//! The `add-checkpoint` call (c2sp.org/tlog-witness): parse the request, check it against the
//! log's keys and the latest cosigned checkpoint, remember the new one, cosign it.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use clearance_tlog::merkle::{ProofError, empty_root, verify_consistency};
use clearance_tlog::note::{TYPE_COSIGNATURE, TYPE_ED25519};
use clearance_tlog::{Checkpoint, Hash, Note, Signer, Verifier};

use crate::state::{LatestCheckpoint, StateError, WitnessState};

/// A client must not send more consistency proof lines than this.
pub const MAX_PROOF_LINES: usize = 63;

/// The witness could not be set up as asked.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the witness key `{0}` is not a cosignature key (type 0x04)")]
    NotACosigner(String),
    #[error("the key `{key}` of log `{origin}` is not a note signature key (type 0x01)")]
    NotALogKey { origin: String, key: String },
    #[error("log `{0}` is named twice")]
    DuplicateLog(String),
    #[error("log `{0}` has no key")]
    NoKey(String),
}

/// Why a checkpoint was not cosigned; [`AddCheckpointError::status`] is the HTTP answer the
/// specification requires.
#[derive(Debug, thiserror::Error)]
pub enum AddCheckpointError {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unknown log origin `{0}`")]
    UnknownOrigin(String),
    #[error("no signature by a key trusted for `{0}` verifies")]
    Unverified(String),
    #[error("old size {old} is larger than the checkpoint's size {size}")]
    OldSizeTooLarge { old: u64, size: u64 },
    #[error("old size {old} is not the size of the latest cosigned checkpoint, {latest}")]
    OldSizeMismatch { old: u64, latest: u64 },
    #[error("fork: the checkpoint of size {size} has a different root than the one cosigned")]
    Fork { size: u64 },
    #[error("the consistency proof from size {old} to {size} does not verify: {source}")]
    Inconsistent {
        old: u64,
        size: u64,
        #[source]
        source: ProofError,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

impl AddCheckpointError {
    /// The HTTP status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            AddCheckpointError::Malformed(_) | AddCheckpointError::OldSizeTooLarge { .. } => 400,
            AddCheckpointError::Unverified(_) => 403,
            AddCheckpointError::UnknownOrigin(_) => 404,
            AddCheckpointError::OldSizeMismatch { .. } | AddCheckpointError::Fork { .. } => 409,
            AddCheckpointError::Inconsistent { .. } => 422,
            AddCheckpointError::State(_) => 500,
        }
    }

    /// For a 409 on the old size: the latest cosigned size, which the answer's body carries
    /// (`text/x.tlog.size`).
    pub fn latest_size(&self) -> Option<u64> {
        match self {
            AddCheckpointError::OldSizeMismatch { latest, .. } => Some(*latest),
            _ => None,
        }
    }
}

fn malformed(what: impl Into<String>) -> AddCheckpointError {
    AddCheckpointError::Malformed(what.into())
}

/// An `add-checkpoint` request body, parsed; nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub note: Note,
    pub checkpoint: Checkpoint,
}

/// A decimal with no leading zeros (`0` itself allowed).
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

/// Parses `old <size>\n`, up to [`MAX_PROOF_LINES`] base64 hash lines, an empty line, and the
/// signed checkpoint note.
pub fn parse_request(body: &[u8]) -> Result<AddCheckpointRequest, AddCheckpointError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("the body is not UTF-8"))?;
    let (old_line, mut rest) = text
        .split_once('\n')
        .ok_or_else(|| malformed("no old size line"))?;
    let old_size = old_line
        .strip_prefix("old ")
        .and_then(parse_decimal)
        .ok_or_else(|| malformed("the first line must be `old <size>`"))?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = rest
            .split_once('\n')
            .ok_or_else(|| malformed("no empty line before the checkpoint"))?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(malformed(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            )));
        }
        let hash = (line.len() == 44 && !line.contains(char::is_whitespace))
            .then(|| Hash::from_base64(line))
            .flatten()
            .ok_or_else(|| malformed("a consistency proof line is not a base64 hash"))?;
        proof.push(hash);
    }
    let note = Note::parse(rest).map_err(|e| malformed(e.to_string()))?;
    let checkpoint = Checkpoint::parse(&note.body).map_err(|e| malformed(e.to_string()))?;
    if checkpoint.size > i64::MAX as u64 {
        return Err(malformed("the tree size is larger than 2^63 - 1"));
    }
    Ok(AddCheckpointRequest {
        old_size,
        proof,
        note,
        checkpoint,
    })
}

/// The current time as POSIX seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A witness: its cosigning key, the logs it knows with their keys, and its state.
#[derive(Debug)]
pub struct Witness {
    signer: Signer,
    logs: BTreeMap<String, Vec<Verifier>>,
    state: WitnessState,
}

impl Witness {
    /// A witness cosigning with `signer` (a `cosignature/v1` key) the checkpoints of `logs`
    /// (origin, the log's note verifier keys; an origin named once).
    pub fn new(
        signer: Signer,
        logs: impl IntoIterator<Item = (String, Vec<Verifier>)>,
        state: WitnessState,
    ) -> Result<Witness, ConfigError> {
        if signer.kind != TYPE_COSIGNATURE {
            return Err(ConfigError::NotACosigner(signer.verifier().to_text()));
        }
        let mut known = BTreeMap::new();
        for (origin, keys) in logs {
            if keys.is_empty() {
                return Err(ConfigError::NoKey(origin));
            }
            if let Some(key) = keys.iter().find(|k| k.kind != TYPE_ED25519) {
                return Err(ConfigError::NotALogKey {
                    key: key.to_text(),
                    origin,
                });
            }
            if known.contains_key(&origin) {
                return Err(ConfigError::DuplicateLog(origin));
            }
            known.insert(origin, keys);
        }
        Ok(Witness {
            signer,
            logs: known,
            state,
        })
    }

    /// The witness's name (its key's name).
    pub fn name(&self) -> &str {
        &self.signer.name
    }

    /// The cosignature verifier key, to publish.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// The origins this witness cosigns.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// The keys of the log `origin`: named exactly, or under a family `<prefix>/*` (a
    /// deployment whose every process opens a log of its own, `<prefix>/<log id>`; each such
    /// log is still witnessed on its own).
    fn keys_for(&self, origin: &str) -> Option<&Vec<Verifier>> {
        self.logs.get(origin).or_else(|| {
            let (prefix, id) = origin.rsplit_once('/')?;
            if id.is_empty() {
                return None;
            }
            self.logs.get(&format!("{prefix}/*"))
        })
    }

    pub fn state(&self) -> &WitnessState {
        &self.state
    }

    /// The `add-checkpoint` call: on success the new checkpoint is stored and the answer is
    /// the cosignature line(s), stamped with `now` (POSIX seconds).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, AddCheckpointError> {
        let request = parse_request(body)?;
        let checkpoint = &request.checkpoint;
        let keys = self
            .keys_for(&checkpoint.origin)
            .ok_or_else(|| AddCheckpointError::UnknownOrigin(checkpoint.origin.clone()))?;
        // Signatures by other keys are ignored; one trusted signature suffices.
        if !keys
            .iter()
            .any(|key| !request.note.verified_by(key).is_empty())
        {
            return Err(AddCheckpointError::Unverified(checkpoint.origin.clone()));
        }
        let (old, size, root) = (request.old_size, checkpoint.size, checkpoint.root);
        if old > size {
            return Err(AddCheckpointError::OldSizeTooLarge { old, size });
        }
        self.state
            .check_and_update(&checkpoint.origin, |latest| {
                // Never cosigned: the empty tree.
                let latest = latest.unwrap_or(LatestCheckpoint {
                    size: 0,
                    root: empty_root(),
                });
                if old != latest.size {
                    return Err(AddCheckpointError::OldSizeMismatch {
                        old,
                        latest: latest.size,
                    });
                }
                if size == latest.size && root != latest.root {
                    return Err(AddCheckpointError::Fork { size });
                }
                verify_consistency(old, size, &latest.root, &root, &request.proof)
                    .map_err(|source| AddCheckpointError::Inconsistent { old, size, source })?;
                Ok(LatestCheckpoint { size, root })
            })
            .inspect_err(|error| {
                if matches!(
                    error,
                    AddCheckpointError::Fork { .. } | AddCheckpointError::Inconsistent { .. }
                ) {
                    // A validly signed checkpoint that contradicts what was cosigned may be
                    // proof of a misbehaving log: keep it in the log output.
                    tracing::warn!(
                        origin = %checkpoint.origin,
                        %error,
                        checkpoint = ?request.note.to_text(),
                        "refused a signed checkpoint inconsistent with the cosigned one"
                    );
                }
            })?;
        Ok(self.signer.signature_line(&request.note.body, now))
    }
}

#[cfg(test)]
mod tests;
