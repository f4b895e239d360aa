//! Anthropic's errors: the shape its Messages API answers errors in, the types it documents,
//! and how Anthropic says it will not serve.
//!
//! The block: HTTP 403, `{"error":{"type":"forbidden","message":"Request not allowed"}}` from a
//! country Anthropic does not serve (anthropics/anthropic-sdk-typescript#457,
//! anthropics/claude-code#1613, enricoros/big-AGI#485; list:
//! docs.anthropic.com/en/api/supported-regions). Anthropic's *documented* 403,
//! `permission_error` ("your API key does not have permission to use the specified resource",
//! docs.anthropic.com/en/api/errors), is not a block and is not matched.

use serde_json::{Value, json};

use crate::signal::{ErrorAnswer, error_object, text};

/// The error `type`s Anthropic's API sends.
pub(crate) const TYPES: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
];

/// `{"type": "error", "error": {"type", "message"}}`.
pub(crate) fn body(type_name: &str, message: &str) -> Value {
    json!({
        "type": "error",
        "error": { "type": type_name, "message": message }
    })
}

/// Whether `body` already is an Anthropic error.
pub(crate) fn is_error(body: &Value) -> bool {
    body.get("type").and_then(Value::as_str) == Some("error")
        && body.pointer("/error/type").is_some_and(Value::is_string)
}

/// Whether `answer` is Anthropic's refusal of the country the gateway stands in.
pub(crate) fn blocked(answer: &ErrorAnswer<'_>) -> bool {
    let Some(error) = error_object(answer, 403, b"Request not allowed") else {
        return false;
    };
    text(&error, "type") == "forbidden" && text(&error, "message") == "Request not allowed"
}
