//! The verifiable log as pure functions, shared by the gateway that writes it, the witness
//! that cosigns it and every verifier that checks it: RFC 6962 Merkle trees and proofs
//! ([`merkle`]), C2SP signed notes and cosignatures ([`note`]), checkpoints ([`checkpoint`])
//! and tiles ([`tiles`]).
//!
//! **Architecture invariant:** no IO, no async, no database; formats exactly as published, so
//! that a verifier written from the specifications alone (`tools/audit_check.py`) agrees.

pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod receipt;
pub mod tiles;

pub use checkpoint::Checkpoint;
pub use merkle::{Frontier, Hash, NodeId, ProofPlan};
pub use note::{Note, Signer, Verifier};
pub use receipt::Receipt;
