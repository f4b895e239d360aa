//! The client and provider wire formats, as pure functions over bytes and JSON.
//!
//! - [`error`]: the error JSON each client API expects, built in one place.
//! - [`request`]: what the gateway must read from a client body (model, stream) and how it is
//!   rewritten for the provider; every other field passes through untouched, in order.
//! - [`response`]: a provider's non-streaming answer with the client-facing model name and
//!   its token usage read out.
//! - [`sse`]: the same for server-sent events, one event at a time, never buffering an answer.
//!
//! This crate does no IO and knows nothing of HTTP clients or servers; the gateway feeds it
//! bytes. Cross-format translation (OpenAI ⇄ Anthropic ⇄ Gemini) will live here too.

pub mod error;
pub mod request;
pub mod response;
pub mod sse;

/// Token counts a provider reported, when it did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}
