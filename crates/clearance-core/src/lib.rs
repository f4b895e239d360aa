//! Clearance's pure domain: who is asking, with which credential, for which model, what was
//! decided, and the tamper-evident record of it.
//!
//! Everything here is a pure function of its inputs: no files, no sockets, no clocks read behind
//! the caller's back, no async runtime. The gateway, the store and the CLI build on these types;
//! this crate depends on none of them.
//!
//! - [`country::CountryCode`]: a validated ISO 3166-1 alpha-2 code.
//! - [`principal::Principal`]: a person or service with the facts directives read; `us_person`
//!   is derived, never imported.
//! - [`import`]: CSV and JSONL principal files into principals, every bad row reported.
//! - [`limits`]: the caps on every imported principal fact, which every audit record copies.
//! - [`key`]: client keys: generation, the stored hash, constant-time verification.
//! - [`audit`]: audit records, their canonical encoding and the SHA-256 hash chain.
//! - [`api`]: the client API surfaces the gateway speaks.
//! - [`chat`]: the provider-neutral chat request, answer and stream events every wire format
//!   translates to and from.
//! - [`fact_table`]: the one list of principal facts; structs, import columns and the Cedar
//!   schema are generated from it.
//! - [`screening`]: the `screening` fact (denied-party list matches with their evidence), which
//!   only screening sets.
//! - [`facts`]: the snapshot of principal and request facts a decision reads and the audit
//!   record keeps.

pub mod api;
pub mod audit;
pub mod chat;
pub mod country;
pub mod fact_table;
pub mod facts;
pub mod import;
pub mod key;
pub mod limits;
pub mod principal;
pub mod screening;
pub mod signal;
pub mod text;
