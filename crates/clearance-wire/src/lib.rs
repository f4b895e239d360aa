//! The client and provider wire formats, as pure functions over bytes and JSON.
//!
//! - [`count_tokens`]: Anthropic's `/v1/messages/count_tokens` written for each provider's
//!   token-counting API (Anthropic, Bedrock `CountTokens`, Gemini `countTokens`), the count
//!   read back.
//! - [`embeddings`]: OpenAI's `/v1/embeddings` written for each provider's embeddings API
//!   (OpenAI and Azure, Gemini `batchEmbedContents`, Titan and Cohere on Bedrock), the
//!   vectors read back, checked against the model's length and written in OpenAI's shape.
//! - [`error`]: the error JSON each client API expects, built in one place.
//! - [`eventstream`]: Amazon's binary event-stream framing (Bedrock streams), read into the same
//!   frames as server-sent events, and written for the fake provider and tests.
//! - [`redact`]: credentials out of text that leaves the gateway (provider error messages,
//!   logged provider bodies).
//! - [`request`]: what the gateway must read from a client body (model, stream) and how it is
//!   rewritten for the provider; every other field passes through untouched, in order.
//! - [`response`]: a provider's non-streaming answer with the client-facing model name and
//!   its token usage read out.
//! - [`signal`]: how each provider says it will not serve (a region or access block), read
//!   from its error answer in its own format, for failover to judge.
//! - [`sse`]: the same for server-sent events, one event at a time, never buffering an answer.
//! - [`translate`]: cross-format translation (OpenAI ⇄ Anthropic ⇄ Gemini) through the neutral
//!   model in `clearance_core::chat`, streams included.
//!
//! This crate does no IO and knows nothing of HTTP clients or servers; the gateway feeds it
//! bytes.

pub mod count_tokens;
pub mod embeddings;
pub mod error;
pub mod eventstream;
pub mod redact;
pub mod request;
pub mod response;
pub mod signal;
pub mod sse;
pub mod translate;

pub use clearance_core::chat::Usage;
