//! A transparency log witness (c2sp.org/tlog-witness): logs submit each new checkpoint with a
//! consistency proof from the last one this witness cosigned; the witness checks the log's
//! signature and the proof, remembers the new checkpoint, and answers with its cosignature
//! (c2sp.org/tlog-cosignature, `cosignature/v1`).
//!
//! - [`WitnessState`]: the latest cosigned checkpoint (size, root) of each log, in one SQLite
//!   table; check-and-update is atomic and durable before any answer.
//! - [`Witness::add_checkpoint`]: the `add-checkpoint` call as a function of the request body
//!   and the time, with the specification's answers as [`AddCheckpointError::status`].
//! - [`router`]: the HTTP interface (`POST /add-checkpoint`, `GET /`, `GET /healthz`).

mod http;
mod state;
mod witness;

pub use http::{BODY_LIMIT_BYTES, router, serve};
pub use state::{LatestCheckpoint, StateError, WitnessState};
pub use witness::{
    AddCheckpointError, AddCheckpointRequest, ConfigError, MAX_PROOF_LINES, Witness, parse_request,
    unix_now,
};
