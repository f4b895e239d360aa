//! Provable policy change: before a directive set goes live, prove who gains and who loses
//! access, and find directives that cannot do what their author meant.
//!
//! Directives are turned into one Cedar expression each ([`expr`]) and handed, with the
//! assumptions every real request satisfies ([`assume`]), to Cedar's verified symbolic
//! compiler (`cedar-policy-symcc`), which asks cvc5 ([`prover`]). Every counterexample is read
//! back into registry and request types and replayed through the real `PolicyBook::decide`
//! ([`witness`]); one that does not reproduce is reported as a bug, never as a finding.
//!
//! - [`diff`]: old set against new set, per model: nobody gains (proved, or a caller who
//!   does), who loses (per new or changed directive, in words and by example), reroutes that
//!   changed, shadow directives if promoted.
//! - [`lint`]: dead, shadowed, duplicate and erroring directives, and a caller denied every
//!   model.
//! - [`words`]: a condition in words; [`report`]: reports as text; [`grid`]: concrete callers
//!   for sampling and tests.
//!
//! Only the CLI and the admin API link this crate; the request path never starts a solver.

pub mod assume;
pub mod diff;
pub mod error;
pub mod expr;
pub mod grid;
pub mod lint;
pub mod prover;
pub mod report;
pub mod set;
pub mod witness;
pub mod words;

pub use assume::Window;
pub use diff::{DiffReport, Gains, diff};
pub use error::ProofError;
pub use lint::{LintReport, lint};
pub use prover::Prover;

/// Proves what replacing the set `old` by `new` does, from `window.from` on, with the solver
/// `program`: what `directives activate`, the preview and `PUT /admin/directives` run.
pub async fn prove_change(
    program: &str,
    old: &clearance_policy::PolicyBook,
    new: &clearance_policy::PolicyBook,
    window: Window,
) -> Result<DiffReport, ProofError> {
    let mut prover = Prover::start(program)?;
    diff(&mut prover, old, new, window).await
}
