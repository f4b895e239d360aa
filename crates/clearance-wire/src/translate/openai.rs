//! OpenAI Chat Completions (`POST /v1/chat/completions`) to and from the neutral model.
//!
//! - [`parse_request`] / [`render_request`]: a client's request body, and the body sent to an
//!   OpenAI-compatible provider (`request`).
//! - [`parse_response`] / [`render_response`]: a whole `chat.completion` answer (`response`).
//! - [`Decoder`] / [`Encoder`]: a stream of `chat.completion.chunk`s ending in `data: [DONE]`
//!   (`stream`).
//!
//! The format's quirks live here and nowhere else: system and developer messages become
//! [`ChatRequest::system`](clearance_core::chat::ChatRequest) blocks, `role: "tool"` messages
//! become tool-result parts of a user message, tool-call arguments travel as a JSON *string*,
//! and images as `data:` URLs. What a request asks for that no other format can do (`n > 1`,
//! `logprobs`, audio, ...) is refused by name, never dropped; what does not change the answer
//! is listed in [`IGNORED_FIELDS`].

pub(crate) mod errors;
mod request;
mod response;
mod stream;

use clearance_core::api::WireFormat;
use clearance_core::chat::{StopReason, Usage};
use serde_json::{Map, Value, json};

use super::json::{Json, Wording, invalid};
use super::{TranslateError, total_tokens};

pub use request::{parse_request, render_request};
pub use response::{parse_response, render_response};
pub use stream::{Decoder, Encoder};

/// Request fields that are accepted and dropped because they do not change the answer: they
/// steer OpenAI's storage, billing, caching or abuse monitoring, which a model served by
/// another provider does not have. (`user` is not here: it is carried as the end-user id.
/// `stream_options` is read for `include_usage`; its other keys only shape the stream.)
pub const IGNORED_FIELDS: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
];

const FORMAT: WireFormat = WireFormat::OpenaiChat;

/// OpenAI's errors say what a value "must be"; a body that is not an object is named by the
/// empty path.
const JSON: Json = Json {
    format: FORMAT,
    wording: &Wording::MUST,
    root: "",
};

/// Tool-call arguments as OpenAI sends them, a JSON string, read into the JSON object the
/// neutral model holds. An empty string stands for no arguments (some models emit it for
/// functions without parameters).
fn arguments_from_json_text(text: &str, path: &str) -> Result<Value, TranslateError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(invalid(path, "the arguments must be a JSON object")),
        Err(e) => Err(invalid(
            path,
            format!("the arguments are not valid JSON: {e}"),
        )),
    }
}

/// The arguments object printed as the JSON string OpenAI carries.
fn arguments_to_json_text(arguments: &Value) -> String {
    arguments.to_string()
}

/// One entry of a message's `tool_calls` (in a request's history and in an answer alike).
fn tool_call_json(id: &str, name: &str, arguments: &Value) -> Value {
    json!({
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": arguments_to_json_text(arguments)},
    })
}

fn stop_reason_from_finish(finish_reason: &str) -> StopReason {
    match finish_reason {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// OpenAI has no name for a stop sequence or a provider-specific reason: both read as the
/// answer's natural end, `stop`, which is what OpenAI itself reports for a stop sequence.
fn finish_reason_of(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence(_) | StopReason::Other(_) => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

/// A `usage` object's counts. `prompt_tokens` already includes cached tokens.
fn usage_from(usage: &Value) -> Usage {
    let count = |name: &str| usage.get(name).and_then(Value::as_u64);
    Usage {
        input_tokens: count("prompt_tokens"),
        output_tokens: count("completion_tokens"),
    }
}

/// The `usage` object, or `None` when no count is known (made-up zeros would be a lie in the
/// client's accounting). OpenAI's object has no optional counts, so one the provider did not
/// report is written as 0.
fn usage_json(usage: Usage) -> Option<Value> {
    let total = total_tokens(usage)?;
    Some(json!({
        "prompt_tokens": usage.input_tokens.unwrap_or(0),
        "completion_tokens": usage.output_tokens.unwrap_or(0),
        "total_tokens": total,
    }))
}

/// The id given to the `n`th tool call of an answer that gave it none (a legacy
/// `function_call`, or a stream from a server that leaves ids out), made from the answer's id
/// so that it is the same every time the answer is read.
fn invented_call_id(answer_id: Option<&str>, n: u64) -> String {
    format!("call_{}_{n}", answer_id.unwrap_or("openai"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_map_both_ways() {
        for (finish, reason) in [
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
            ("tool_calls", StopReason::ToolUse),
            ("content_filter", StopReason::ContentFilter),
        ] {
            assert_eq!(stop_reason_from_finish(finish), reason);
            assert_eq!(finish_reason_of(&reason), finish);
        }
        assert_eq!(
            stop_reason_from_finish("function_call"),
            StopReason::ToolUse
        );
        assert_eq!(
            stop_reason_from_finish("insufficient_system_resource"),
            StopReason::Other("insufficient_system_resource".into())
        );
        assert_eq!(
            finish_reason_of(&StopReason::StopSequence(Some("END".into()))),
            "stop"
        );
        assert_eq!(
            finish_reason_of(&StopReason::Other("pause_turn".into())),
            "stop"
        );
    }

    #[test]
    fn arguments_must_be_a_json_object() {
        assert_eq!(
            arguments_from_json_text("{\"a\":1}", "p").ok(),
            Some(json!({"a": 1}))
        );
        assert_eq!(arguments_from_json_text(" ", "p").ok(), Some(json!({})));
        for bad in ["[1]", "\"x\"", "{\"a\":", "nope"] {
            let error = arguments_from_json_text(bad, "tool_calls[0].function.arguments");
            assert!(
                matches!(&error, Err(TranslateError::Invalid { field, .. }) if field == "tool_calls[0].function.arguments"),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn usage_is_written_only_when_known_and_totals_add_up() {
        assert_eq!(usage_json(Usage::default()), None);
        assert_eq!(
            usage_json(Usage {
                input_tokens: Some(9),
                output_tokens: Some(12)
            }),
            Some(json!({"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}))
        );
        assert_eq!(
            usage_from(&json!({"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21})),
            Usage {
                input_tokens: Some(9),
                output_tokens: Some(12)
            }
        );
    }
}
