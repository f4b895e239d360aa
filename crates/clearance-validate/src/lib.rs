//! Validated fallbacks, the pure part: the eval suites a fallback is validated on, the checks
//! each case puts to an answer, and a run's score. Running the cases through the gateway's
//! provider layer, storing runs and the routes that read them live elsewhere.
//!
//! - [`suite`]: suites in TOML or JSONL, every problem at its file and line;
//! - [`check`]: each check against an answer; rubric checks go to a judge model;
//! - [`similarity`]: the documented text similarity `similar_to` uses (no model needed);
//! - [`score`]: weighted pass rates and failures per check;
//! - [`run`]: what a run stores per case, a model's summary, the run's table (text, JUnit);
//! - [`capture`]: redacting captured traffic and drafting a suite from it;
//! - [`deps`]: the dependency report (which apps hang on which models, with what fallbacks).

pub mod capture;
pub mod check;
pub mod deps;
pub mod run;
pub mod score;
pub mod similarity;
pub mod suite;

pub use check::{Answer, Check, ToolCall, Verdict};
pub use score::{CaseResult, Score, score};
pub use suite::{Case, ClientFormat, Suite, SuiteError, SuiteErrors, parse};
