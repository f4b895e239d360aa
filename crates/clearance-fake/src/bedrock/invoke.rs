//! Bedrock's `InvokeModel` for Anthropic models: the body is an Anthropic Messages request with
//! `anthropic_version: "bedrock-2023-05-31"` and no `model` (the path names it); `invoke`
//! answers the Anthropic `message` object, `invoke-with-response-stream` sends each Anthropic
//! stream event as a `chunk` message whose payload is `{"bytes": "<base64 of the event's
//! JSON>"}`. The objects and events are the Anthropic fake's ([`anthropic::Message`]), with
//! what Bedrock changes: ids begin `msg_bdrk_`, no `ping`, and `message_stop` carries
//! `amazon-bedrock-invocationMetrics`.

use axum::Json;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::eventstream::encode_chunk;
use crate::anthropic;
use crate::errors::{Api, insert_request_id};
use crate::prompt::Prompt;
use crate::reply::Answer;

/// The non-streaming answer, with the token counts and latency Bedrock reports in headers.
pub(crate) fn body_response(prompt: &Prompt, answer: &Answer, latency_ms: u64) -> Response {
    let message = anthropic::Message::on_bedrock(&prompt.model);
    let mut response = Json(message.body(prompt, answer)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-amzn-bedrock-input-token-count", prompt.prompt_tokens),
        ("x-amzn-bedrock-output-token-count", answer.tokens()),
        ("x-amzn-bedrock-invocation-latency", latency_ms),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    insert_request_id(headers, Api::Bedrock);
    response
}

/// The streamed `chunk` messages.
pub(crate) fn events(prompt: &Prompt, answer: &Answer, latency_ms: u64) -> Vec<Bytes> {
    let message = anthropic::Message::on_bedrock(&prompt.model);
    message
        .event_values(prompt, answer)
        .into_iter()
        .filter(|(name, _)| *name != "ping")
        .map(|(name, mut event)| {
            if name == "message_stop" {
                event["amazon-bedrock-invocationMetrics"] =
                    invocation_metrics(prompt, answer, latency_ms);
            }
            encode_chunk(event.to_string().as_bytes())
        })
        .collect()
}

fn invocation_metrics(prompt: &Prompt, answer: &Answer, latency_ms: u64) -> Value {
    json!({
        "inputTokenCount": prompt.prompt_tokens,
        "outputTokenCount": answer.tokens(),
        "invocationLatency": latency_ms,
        "firstByteLatency": latency_ms,
    })
}
