//! Gemini's errors: Google's API error shape, the canonical statuses, and how Gemini says it
//! will not serve.
//!
//! The blocks: HTTP **400**, `{"error":{"code":400,"message":"User location is not supported
//! for the API use.","status":"FAILED_PRECONDITION"}}` (google-gemini/gemini-cli#1614,
//! gemini-api-php/client#32; a variant ends "... without a billing account linked.", so the
//! message is matched by its start). Also HTTP 403, `{"error":{"code":403,"message":"Region not
//! supported.","status":"PERMISSION_DENIED"}}` (iBUHub/AIStudioToAPI#212). Any other Gemini 400
//! is the request's fault.

use serde_json::{Value, json};

use crate::signal::{ErrorAnswer, error_object, text};

/// Google's canonical error `status` names (a Gemini provider's own passes on only if listed).
pub(crate) const STATUSES: &[&str] = &[
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "OUT_OF_RANGE",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "ABORTED",
    "ALREADY_EXISTS",
    "RESOURCE_EXHAUSTED",
    "CANCELLED",
    "DATA_LOSS",
    "UNKNOWN",
    "INTERNAL",
    "UNIMPLEMENTED",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
];

/// `{"error": {"code": <HTTP status>, "message", "status"}}`, with the machine-readable code
/// as a `google.rpc.ErrorInfo` reason in `details`.
pub(crate) fn body(http_status: u16, status: &str, message: &str, code: Option<&str>) -> Value {
    let mut error = json!({ "code": http_status, "message": message, "status": status });
    if let Some(code) = code {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": code,
            "domain": "clearance",
        }]);
    }
    json!({ "error": error })
}

/// Whether `body` already is a Google API error.
pub(crate) fn is_error(body: &Value) -> bool {
    body.pointer("/error/message").is_some_and(Value::is_string)
        && body.pointer("/error/status").is_some_and(Value::is_string)
        && body.pointer("/error/code").is_some_and(Value::is_u64)
}

/// Whether `answer` is Gemini's refusal of the location the gateway stands in.
pub(crate) fn blocked(answer: &ErrorAnswer<'_>) -> bool {
    match answer.status {
        400 => error_object(answer, 400, b"User location is not supported").is_some_and(|e| {
            text(&e, "status") == "FAILED_PRECONDITION"
                && text(&e, "message").starts_with("User location is not supported")
        }),
        403 => error_object(answer, 403, b"Region not supported.").is_some_and(|e| {
            text(&e, "status") == "PERMISSION_DENIED"
                && text(&e, "message") == "Region not supported."
        }),
        _ => false,
    }
}
