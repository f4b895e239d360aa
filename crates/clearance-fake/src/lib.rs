//! Fake LLM providers that speak the real OpenAI Chat Completions and Anthropic Messages wire
//! formats, for the gateway's integration tests, the demo and the benchmark.
//!
//! One [`FakeServer`] serves both APIs on one real TCP port:
//! `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` (Anthropic), `GET /v1/models`,
//! and a control plane under `/_fake/` so scripts can drive the standalone binary.
//! What it does for each request (errors, delays, dropped streams, refused connections) is set
//! per upstream model with a [`Behavior`]; what it received is kept as [`RecordedRequest`]s.

mod anthropic;
mod auth;
mod behavior;
mod connection;
mod control;
mod errors;
mod models;
mod openai;
mod prompt;
mod reply;
mod routes;
mod server;
mod sse;
mod state;

pub use behavior::{Behavior, BehaviorSnapshot};
pub use server::FakeServer;
pub use state::RecordedRequest;
