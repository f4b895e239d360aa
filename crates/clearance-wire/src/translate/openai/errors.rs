//! OpenAI's errors: the shape its API answers errors in (Chat Completions, Responses and
//! embeddings share it), the types and codes it documents, and how an OpenAI or Azure OpenAI
//! provider says it will not serve.
//!
//! The blocks, as the providers send them (the provider sees the *gateway's* address, so a
//! region block says where the gateway stands, not who the caller is):
//!
//! - **OpenAI**: HTTP 403, `{"error":{"code":"unsupported_country_region_territory","message":
//!   "Country, region, or territory not supported","param":null,"type":"request_forbidden"}}`.
//!   Seen in home-assistant/core#120072, songquanpeng/one-api#1692, continuedev/continue#11449.
//!   OpenAI-compatible servers with the same restriction answer 403 with the same message and
//!   a numeric code, `{"error":{"code":403,"message":"Country, region, or territory not
//!   supported"}}` (W&B / CoreWeave Serverless Inference, docs.wandb.ai). Both are recognised.
//! - **Azure OpenAI** answers a caller its resource's network rules do not admit with HTTP 403,
//!   `{"error":{"code":"403","message":"Access denied due to Virtual Network/Firewall
//!   rules."}}` (learn.microsoft.com, Azure AI services virtual networks).

use serde_json::{Value, json};

use crate::signal::{ErrorAnswer, error_object, text};

/// The error `type`s OpenAI's API sends (a provider's own type passes on only if listed).
pub(crate) const TYPES: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "conflict_error",
    "unprocessable_entity_error",
    "rate_limit_error",
    "insufficient_quota",
    "requests",
    "tokens",
    "request_forbidden",
    "server_error",
    "api_error",
];

/// OpenAI error `code`s an SDK or a client may branch on; a provider's own code passes on only
/// if listed (else the code is `upstream_error`).
pub(crate) const CODES: &[&str] = &[
    "rate_limit_exceeded",
    "insufficient_quota",
    "context_length_exceeded",
    "model_not_found",
    "invalid_api_key",
    "unsupported_country_region_territory",
    "content_filter",
    "invalid_value",
    "invalid_type",
    "missing_required_parameter",
    "unknown_parameter",
    "unsupported_parameter",
    "unsupported_value",
    "string_above_max_length",
    "server_error",
];

/// `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn body(type_name: &str, message: &str, code: Option<&str>) -> Value {
    json!({
        "error": { "message": message, "type": type_name, "param": null, "code": code }
    })
}

/// Whether `body` already is an OpenAI error.
pub(crate) fn is_error(body: &Value) -> bool {
    body.pointer("/error/message").is_some_and(Value::is_string) && body.get("type").is_none()
}

/// Whether `answer` is OpenAI's region block or Azure's network-rules refusal.
pub(crate) fn blocked(answer: &ErrorAnswer<'_>) -> bool {
    if let Some(error) = error_object(answer, 403, b"territory") {
        return text(&error, "code") == "unsupported_country_region_territory"
            || text(&error, "message").starts_with("Country, region, or territory not supported");
    }
    // Azure OpenAI: the resource's network rules do not admit the gateway's address.
    error_object(answer, 403, AZURE_FIREWALL.as_bytes())
        .is_some_and(|error| text(&error, "message") == AZURE_FIREWALL)
}

const AZURE_FIREWALL: &str = "Access denied due to Virtual Network/Firewall rules.";
