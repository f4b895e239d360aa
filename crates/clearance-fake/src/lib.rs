//! Fake LLM providers that speak the real OpenAI Chat Completions, Anthropic Messages and Google
//! Gemini `generateContent` wire formats, for the gateway's integration tests, the demo and the
//! benchmark.
//!
//! One [`FakeServer`] serves the three APIs on one real TCP port:
//! `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` (Anthropic),
//! `POST /v1beta/models/MODEL:generateContent` and `:streamGenerateContent?alt=sse` (Gemini),
//! `GET /v1/models` and `GET /v1beta/models`, and a control plane under `/_fake/` so scripts can
//! drive the standalone binary. Each API streams with server-sent events in its own framing.
//!
//! What it does for each request is set per upstream model with a [`Behavior`]: the reply text,
//! a [`ToolCall`] to answer with, errors in the API's own shape, delays, dropped streams,
//! refused connections, and broken answers (invalid JSON, endless lines, huge events, a
//! body trickled byte by byte). A request that ends with a tool result is answered
//! `tool result: TEXT`, so a test sees the result arrive. What the fake received (path, query
//! with keys redacted, selected headers, body) is kept as [`RecordedRequest`]s.
//!
//! [`idp::FakeIdp`] is a fake OpenID Connect identity provider (discovery, JWKS, a token
//! endpoint signing any claims with checked-in test keys): test-only, for the gateway's token
//! callers.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use clearance_fake::{Behavior, FakeServer, ToolCall};
//!
//! let fake = FakeServer::start("127.0.0.1:0").await?;
//! let mut arguments = serde_json::Map::new();
//! arguments.insert("city".into(), "Paris".into());
//! fake.set_behavior(
//!     Some("gemini-2.5-flash"),
//!     Behavior {
//!         tool_call: Some(ToolCall { name: "get_weather".into(), arguments }),
//!         ..Behavior::default()
//!     },
//! );
//! // ... point a client at fake.gemini_base_url(), then:
//! let last = fake.requests().pop();
//! # Ok(())
//! # }
//! ```

mod anthropic;
mod auth;
mod azure;
mod bedrock;
mod behavior;
mod connection;
mod control;
mod errors;
mod faults;
mod gemini;
pub mod idp;
mod models;
mod openai;
mod prompt;
mod query;
mod reply;
mod routes;
mod server;
mod sse;
mod state;

pub use bedrock::AwsSigningKey;
pub use behavior::{Behavior, BehaviorSnapshot, ToolCall};
pub use server::FakeServer;
pub use state::RecordedRequest;
