//! Targeted access directives: policy as code, evaluated per request.
//!
//! A compliance officer writes a directive (TOML, or a raw Cedar policy); this crate checks it
//! against the model catalog and one Cedar schema, compiles the whole set into an immutable
//! [`PolicyBook`], and decides each request: allow, deny (HTTP 451) or reroute, with the shadow
//! directives that would have fired and the facts that were read. It also explains a decision
//! in words and previews a draft's impact before it is enforced.
//!
//! - [`directive`]: the TOML directive format and its checks.
//! - [`compile`]: directives to Cedar text; raw `.cedar` files to directives.
//! - [`schema`]: the Cedar schema conditions are validated against.
//! - [`facts`]: principal and request facts as Cedar entities and context.
//! - [`book`]: the compiled set and the decision; `eval` evaluates one directive, remembering
//!   Cedar's results where the inputs are known exactly.
//! - [`explain`]: a decision in words.
//! - [`preview`]: who and what traffic a draft would cut, next to a blanket block.
//! - [`dir`]: reading a directive directory (the crate's only IO).
//!
//! Decisions use real Cedar (`cedar-policy`); nothing here re-implements its evaluation.

pub mod book;
pub mod compile;
pub mod dir;
pub mod directive;
pub mod error;
mod eval;
pub mod explain;
pub mod facts;
pub mod preview;
pub mod schema;

pub use book::{Catalog, CatalogModel, Decision, Hit, Outcome, PolicyBook, Query, SourceFile};
pub use directive::{Directive, Effect, Mode, Scope};
pub use error::{DirectiveError, DirectiveErrors};
