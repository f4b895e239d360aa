//! OpenAI Responses (`POST /v1/responses`) to and from the neutral model.
//!
//! - [`parse_request`] / [`render_request`]: a client's request body, and the body sent to an
//!   OpenAI provider (`request`).
//! - [`parse_response`] / [`render_response`]: a whole `response` object (`response`).
//! - [`Decoder`] / [`Encoder`]: the typed SSE stream (`response.created`, output items, content
//!   parts, text and argument deltas, `response.completed` / `.incomplete` / `.failed`,
//!   `error`), every event numbered by `sequence_number` (`stream`).
//!
//! The format's quirks live here and nowhere else:
//! - The conversation is a list of *items*, not messages: `message` items (roles `user`,
//!   `assistant`, `system`, `developer`), `function_call` items (the assistant's tool calls)
//!   and `function_call_output` items (their results). Reading joins adjacent items of one
//!   side into one neutral message; writing splits a message back into items, in order.
//! - `instructions` and leading `system` / `developer` messages are the system blocks; when
//!   writing, the first block is `instructions` and any further ones leading `system`
//!   messages, so several blocks read back as several blocks.
//! - Tool-call arguments travel as a JSON string, images as `image_url` strings (`data:`
//!   URLs for inline bytes), function tools flat (`{type, name, parameters}`), the answer
//!   format under `text.format`.
//! - An answer has no finish reason: `status: "completed"` with function calls in its output
//!   is a tool-use stop, `"incomplete"` says why in `incomplete_details.reason`.
//!
//! Refused by name (never dropped), because they only mean something at OpenAI: conversation
//! state (`previous_response_id`, which the gateway replaces by the conversation it kept
//! ([`kept`]) before a request reaches this module, `conversation`, `item_reference` items, stored `prompt`
//! templates), built-in tools (`web_search`, `file_search`, `code_interpreter`, `mcp`,
//! `custom`, ...) and their calls in the history, uploaded files (`file_id`, `input_file`),
//! audio, `reasoning` settings, `include`, `background: true`, `truncation: "auto"`,
//! `top_logprobs`, `max_tool_calls`, `text.verbosity`, image `detail` other than `auto`. The
//! neutral request's stop sequences, `top_k`, `seed` and penalties have no field in this API
//! and are refused when writing. What is accepted and has no effect is [`IGNORED_FIELDS`].
//!
//! Two choices when writing for an OpenAI provider: `store: false` (the other APIs keep
//! nothing, so a translated request does not ask OpenAI to keep it) and `strict: false` on
//! every function tool (this API's default is `true`, which holds schemas to a subset other
//! formats do not know).

pub mod kept;
mod request;
mod response;
mod stream;

use clearance_core::api::WireFormat;
use clearance_core::chat::{Image, StopReason, Usage};
use serde_json::{Map, Value, json};

use super::json::{Json, Wording, invalid};
use super::{TranslateError, total_tokens};

pub use request::{parse_request, render_request};
pub use response::{parse_response, render_response};
pub use stream::{Decoder, Encoder};

/// What is accepted and dropped because it does not change the answer:
/// - `store`, `metadata`, `service_tier`, `safety_identifier`, `prompt_cache_key`,
///   `prompt_cache_retention`: OpenAI's storage, billing, caching and abuse monitoring.
/// - `stream_options`: only `include_obfuscation`, padding on stream events.
/// - `truncation: "disabled"`, `background: false`, `include: []`, `reasoning: {}`,
///   `top_logprobs: 0`: the defaults.
/// - `id` and `status` on input items: OpenAI's bookkeeping of items it returned.
/// - `phase` on assistant messages: a label for intermediate commentary.
/// - `annotations` and `logprobs` on `output_text` parts an SDK echoes back: citations and
///   probabilities of an earlier answer, not what it says.
/// - `strict` on function tools: other providers hold arguments to the schema anyway.
/// - `reasoning` items in the input, and in answers and streams: the model's earlier
///   reasoning, which does not change what it is asked now and which other formats have no
///   place for.
pub const IGNORED_FIELDS: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "stream_options",
    "truncation (\"disabled\")",
    "background (false)",
    "include ([])",
    "reasoning ({})",
    "top_logprobs (0)",
    "input[].id",
    "input[].status",
    "input[].phase",
    "input[].content[].annotations",
    "input[].content[].logprobs",
    "tools[].strict",
    "input[] reasoning items",
    "output[] reasoning items",
];

const FORMAT: WireFormat = WireFormat::OpenaiResponses;

/// OpenAI's errors say what a value "must be"; a body that is not an object is named by the
/// empty path.
const JSON: Json = Json {
    format: FORMAT,
    wording: &Wording::MUST,
    root: "",
};

const NOT_A_FIELD: &str = "not a field of this OpenAI Responses object";

/// Refuses any key of `object` beyond `known` (a `null` says nothing and passes).
fn check_keys(
    object: &Map<String, Value>,
    path: &str,
    known: &[&str],
) -> Result<(), TranslateError> {
    JSON.check_keys(
        object,
        path,
        |key, value| known.contains(&key) || value.is_null(),
        |_| NOT_A_FIELD,
    )
}

/// Tool-call arguments as the API sends them, a JSON string, read into the JSON object the
/// neutral model holds. An empty string stands for no arguments.
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

/// A `function_call` item as a request's history holds it.
fn function_call_item(call_id: &str, name: &str, arguments: &Value) -> Value {
    json!({
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments.to_string(),
    })
}

/// A `function_call` output item as answers and streams hold it, with its own id and status
/// and the arguments as JSON text (as far as they have arrived, in a stream).
fn output_function_call(
    item_id: &str,
    status: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
) -> Value {
    json!({
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    })
}

/// A `response` object: the whole answer (`render_response`) or a stream's snapshot of it.
/// The settings the object echoes from the request (`tools`, `tool_choice`,
/// `parallel_tool_calls`) are not part of an answer, so they are written as the API's
/// defaults, which typed SDKs require to be there. `error` and `incomplete_details` are
/// `null`, for the caller to fill.
fn response_object(
    id: &str,
    created: i64,
    model: &str,
    status: &str,
    output: Vec<Value>,
    usage: Usage,
) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage_json(usage),
    })
}

/// An assistant `message` output item holding `content` parts.
fn message_item(item_id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

/// An `output_text` part as answers hold it (and as assistant history may echo it).
fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

/// An image as `input_image` carries it: a URL, or the bytes as a `data:` URL.
fn image_url_of(image: &Image) -> String {
    match image {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url { url } => url.clone(),
    }
}

/// A `data:<media type>;base64,<data>` URL's parts.
fn parse_data_url(url: &str) -> Option<Image> {
    let (header, data) = url.strip_prefix("data:")?.split_once(',')?;
    let media_type = header.strip_suffix(";base64")?;
    if media_type.is_empty() {
        return None;
    }
    Some(Image::Base64 {
        media_type: media_type.to_string(),
        data: data.to_string(),
    })
}

/// How an answer ended, from its `status` and `incomplete_details.reason` and whether it
/// called functions (the API has no finish reason of its own). `None` for a status that is
/// not an end (`in_progress`, `queued`) or a failure, which the callers treat apart.
fn stop_reason_of(
    status: &str,
    incomplete_reason: Option<&str>,
    called: bool,
) -> Option<StopReason> {
    match status {
        "completed" if called => Some(StopReason::ToolUse),
        "completed" => Some(StopReason::EndTurn),
        "incomplete" => Some(match incomplete_reason {
            Some("max_output_tokens") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::ContentFilter,
            Some(other) => StopReason::Other(other.to_string()),
            None => StopReason::Other("incomplete".to_string()),
        }),
        _ => None,
    }
}

/// The `status` and `incomplete_details` for a neutral reason. A stop sequence, a tool call
/// or a reason with no common meaning ended a complete answer.
fn status_of(reason: Option<&StopReason>) -> (&'static str, Value) {
    match reason {
        Some(StopReason::MaxTokens) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(StopReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// A `usage` object's counts (`input_tokens` already includes cached tokens, and
/// `output_tokens` reasoning tokens).
fn usage_from(usage: Option<&Value>) -> Usage {
    let count = |name: &str| usage.and_then(|u| u.get(name)).and_then(Value::as_u64);
    Usage {
        input_tokens: count("input_tokens"),
        output_tokens: count("output_tokens"),
    }
}

/// The `usage` object, or `None` when no count is known (made-up zeros would be a lie in the
/// client's accounting). The API's object has no optional counts, so one the provider did not
/// report is written as 0, and the details typed SDKs require say nothing was cached and no
/// reasoning was counted apart.
fn usage_json(usage: Usage) -> Option<Value> {
    let total = total_tokens(usage)?;
    Some(json!({
        "input_tokens": usage.input_tokens.unwrap_or(0),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.output_tokens.unwrap_or(0),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total,
    }))
}

/// The id of the `n`th output item of the answer `answer_id` (`msg_…` for messages, `fc_…`
/// for function calls): made from the answer's id, so it is the same every time the answer is
/// written, and differs between answers.
fn item_id(prefix: &str, answer_id: &str, n: usize) -> String {
    let stem = answer_id.strip_prefix("resp_").unwrap_or(answer_id);
    format!("{prefix}_{stem}_{n}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_stop_reasons_and_back() {
        for (status, reason, called, stop) in [
            ("completed", None, false, StopReason::EndTurn),
            ("completed", None, true, StopReason::ToolUse),
            (
                "incomplete",
                Some("max_output_tokens"),
                false,
                StopReason::MaxTokens,
            ),
            (
                "incomplete",
                Some("content_filter"),
                true,
                StopReason::ContentFilter,
            ),
        ] {
            assert_eq!(stop_reason_of(status, reason, called), Some(stop.clone()));
            let (written, details) = status_of(Some(&stop));
            assert_eq!(written, status);
            assert_eq!(details.get("reason").and_then(Value::as_str), reason);
        }
        assert_eq!(stop_reason_of("failed", None, false), None);
        assert_eq!(stop_reason_of("in_progress", None, false), None);
        assert_eq!(
            status_of(Some(&StopReason::StopSequence(Some("END".into())))),
            ("completed", Value::Null)
        );
    }

    #[test]
    fn arguments_must_be_a_json_object() {
        assert_eq!(
            arguments_from_json_text("{\"a\":1}", "p").unwrap(),
            json!({"a": 1})
        );
        assert_eq!(arguments_from_json_text("", "p").unwrap(), json!({}));
        for bad in ["[1]", "\"x\"", "{\"a\":", "nope"] {
            let error = arguments_from_json_text(bad, "input[1].arguments").unwrap_err();
            assert_eq!(error.field(), "input[1].arguments", "{bad}");
        }
    }

    #[test]
    fn usage_is_written_only_when_known_and_totals_add_up() {
        assert_eq!(usage_json(Usage::default()), None);
        let usage = Usage {
            input_tokens: Some(36),
            output_tokens: Some(87),
        };
        let written = usage_json(usage).unwrap();
        assert_eq!(written["total_tokens"], 123);
        assert_eq!(usage_from(Some(&written)), usage);
    }

    #[test]
    fn item_ids_come_from_the_answers_id() {
        assert_eq!(item_id("msg", "resp_abc", 0), "msg_abc_0");
        assert_eq!(item_id("fc", "chatcmpl-9", 2), "fc_chatcmpl-9_2");
    }

    #[test]
    fn data_urls_carry_media_type_and_bytes() {
        assert_eq!(
            parse_data_url("data:image/png;base64,iVBORw0KGgo="),
            Some(Image::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            })
        );
        assert_eq!(parse_data_url("data:;base64,AAAA"), None);
        assert_eq!(parse_data_url("data:image/png,AAAA"), None);
        let image = Image::Base64 {
            media_type: "image/jpeg".into(),
            data: "/9j/4AAQ".into(),
        };
        assert_eq!(parse_data_url(&image_url_of(&image)), Some(image));
    }
}
