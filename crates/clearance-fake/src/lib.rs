//! Fake LLM providers that speak the real OpenAI Chat Completions, Anthropic Messages, Google
//! Gemini `generateContent`, Azure OpenAI and Amazon Bedrock wire formats, for the gateway's
//! integration tests, the demo and the benchmark.
//!
//! One [`FakeServer`] serves the five APIs on one real TCP port:
//! - OpenAI: `POST /v1/chat/completions`, `GET /v1/models`;
//! - Anthropic: `POST /v1/messages` (`GET /v1/models` with `anthropic-version`);
//! - Gemini: `POST /v1beta/models/MODEL:generateContent` and
//!   `:streamGenerateContent?alt=sse`, `GET /v1beta/models`;
//! - Azure OpenAI: `POST /openai/deployments/DEPLOYMENT/chat/completions?api-version=V`,
//!   `GET /openai/models` and `/openai/deployments` (`api-key` header, Azure's errors and
//!   content-filter results; the answers are the OpenAI fake's);
//! - Amazon Bedrock: `POST /model/MODEL/converse`, `/converse-stream`, `/invoke` and
//!   `/invoke-with-response-stream` (the last two with Anthropic Messages bodies for Anthropic
//!   models), `GET /foundation-models`; streams in Amazon's binary event-stream framing, errors
//!   named in `x-amzn-errortype`, and AWS Signature Version 4 checked for real when
//!   [`FakeServer::require_aws_signature`] is given an [`AwsSigningKey`];
//!
//! plus embeddings and token counting where each provider has them (OpenAI `POST
//! /v1/embeddings`, Azure `.../deployments/DEPLOYMENT/embeddings`, Gemini
//! `:batchEmbedContents` and `:countTokens`, Anthropic `POST /v1/messages/count_tokens`,
//! Bedrock `invoke` for `amazon.titan-embed-*` and `cohere.embed-*` ids and `count-tokens`:
//! deterministic unit vectors derived from each text, token counts from its words; see the
//! `embeddings` and `count_tokens` modules),
//!
//! and a control plane under `/_fake/` so scripts can drive the standalone binary. The text
//! APIs stream with server-sent events in their own framing.
//!
//! What it does for each request is set per upstream model id (the Azure deployment, the
//! decoded Bedrock model id) with a [`Behavior`]: the reply text, a [`ToolCall`] to answer
//! with, errors in the API's own shape (451 as each provider refuses a region), delays, dropped
//! streams, refused connections, Bedrock exceptions mid-stream, and broken answers (invalid
//! JSON or a bad event-stream CRC, endless lines, huge events, a body trickled byte by byte).
//! Every API reads the prompt the same way and gets the same answer from it: by default a
//! sentence naming the model and echoing the last user message, and for a request that ends
//! with a tool result `tool result: TEXT`, so a test sees the result arrive. Images and other
//! media in a prompt are accepted (Bedrock's are checked for a known format and base64 bytes)
//! and do not change the answer. What the fake received (path, query with keys redacted,
//! selected headers, body) is kept as [`RecordedRequest`]s.
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
//!
//! Bedrock with signatures checked, and Claude on Bedrock refusing the region:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use clearance_fake::{AwsSigningKey, Behavior, FakeServer};
//!
//! let fake = FakeServer::start("127.0.0.1:0").await?;
//! fake.require_aws_signature(Some(AwsSigningKey {
//!     access_key_id: "AKIDEXAMPLE".into(),
//!     secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
//!     region: Some("us-east-1".into()),
//! }));
//! fake.set_behavior(
//!     Some("anthropic.claude-3-5-sonnet-20240620-v1:0"),
//!     Behavior { status: Some(451), ..Behavior::default() },
//! );
//! // ... point a Bedrock client at fake.bedrock_endpoint().
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
mod count_tokens;
mod embeddings;
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
