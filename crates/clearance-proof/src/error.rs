//! What can stop a proof.

/// Why a proof could not be made. A proof that could not be made is never a verdict: callers
/// show this error (and the preview still works without it).
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// cvc5 could not be started.
    #[error(
        "no SMT solver: could not start `{program}` ({reason}); install cvc5 (Debian: `apt-get install cvc5`) or set $CVC5 to its path"
    )]
    NoSolver { program: String, reason: String },
    /// The solver failed or gave up on a query.
    #[error("the SMT solver failed on {query}: {reason}")]
    Solver { query: String, reason: String },
    /// A query the analysis built did not compile: a bug in this crate, reported as such.
    #[error("internal error in the proof (please report it): {0}")]
    Internal(String),
}
