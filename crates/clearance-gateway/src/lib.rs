//! The Clearance gateway: an axum server that authenticates each caller, decides, forwards to
//! the provider, streams the answer back and records the decision in the audit log.
//!
//! Read [`proxy`] top to bottom for the request path. The rest are the parts it calls:
//! - [`access`]: the facts a decision reads, the decision, and the HTTP 451 denial;
//! - [`registry`]: keys and principals held in memory, reloaded when the store changes;
//! - [`auth`]: which key, and so which principal, a request carries;
//! - [`directives`]: the active directive set, versioned in the store, swapped whole;
//! - [`refresh`]: keeps keys, principals, kill switches and the directive set in step with the
//!   store (and knows how stale they are);
//! - [`audit_writer`]: this process's writer, which seals records into its own log in the
//!   shared trail and commits them in groups; a request's answer waits for its decision
//!   record to be durable;
//! - [`checkpoints`]: signed checkpoints of this process's log (every N records or T ms, and
//!   at shutdown) and the witnesses that cosign them, off the request path;
//! - [`audit_http`]: the verifiable log over HTTP: checkpoints, C2SP tiles, proofs, receipts;
//! - [`failover`]: the attempt loop over a model's route (breakers, retries, directives on
//!   every fallback, kill switch, first-byte failover for streams);
//! - [`health`]: active health checks of the providers;
//! - [`switches`]: kill switches (models an operator switched off), loaded from the store and
//!   read lock-free on every request;
//! - [`metrics`]: Prometheus counters and histograms;
//! - [`error`]: every client-facing error's wire shape, decided in one place;
//! - [`admin`]: the admin API (keys, principals, audit verification, directives, kill
//!   switches), behind its own token;
//! - [`scim`]: SCIM 2.0 provisioning of the registry (`/scim/v2`), behind its own token;
//! - [`screening`]: principals screened against the imported denied-party lists (the
//!   `screening` fact), shared with the CLI;
//! - [`router`]: which routes sit behind which credential;
//! - [`server`]: start-up, graceful shutdown and draining;
//! - `workers`: thread-per-core serving (one single-threaded runtime per core).
//!
//! This crate holds no HTTP client (see `clearance-upstream`) and no database driver (see
//! `clearance-store`).

pub mod access;
pub mod admin;
pub mod audit_http;
pub mod audit_writer;
pub mod auth;
pub mod capture;
pub mod checkpoints;
pub mod directives;
pub mod error;
mod exchange;
pub mod failover;
pub mod health;
pub mod kept;
pub mod limits;
pub mod metrics;
pub mod oidc;
pub mod proxy;
pub mod refresh;
pub mod registry;
pub mod revalidate;
pub mod router;
pub mod scim;
pub mod screening;
pub mod server;
pub mod state;
pub mod switches;
pub mod validate;
pub mod validations;
mod workers;

pub use server::{Gateway, GatewayError};
