//! A whole `chat.completion` answer, read into a [`ChatResponse`] and written from one.
//!
//! Reading is lenient about fields it does not need (providers add their own: `system_fingerprint`,
//! `service_tier`, `annotations`, ...) and strict about the ones it reads.

use clearance_core::chat::{ChatResponse, Part};
use serde_json::{Map, Value, json};

use super::{
    TranslateError, arguments_from_json_text, arguments_to_json_text, as_array, as_object, at,
    field, finish_reason_of, invalid, invented_call_id, opt_str, required_str,
    stop_reason_from_finish, usage_from, usage_json,
};

/// Reads the first choice of a `chat.completion` (requests are refused when they ask for more).
pub fn parse_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let body = as_object(body, "")?;
    let id = opt_str(body, "", "id")?;
    let choices = field(body, "choices").ok_or_else(|| invalid("choices", "is required"))?;
    let choice = as_array(choices, "choices")?
        .first()
        .ok_or_else(|| invalid("choices", "holds no answer"))?;
    let choice = as_object(choice, "choices[0]")?;
    let message =
        field(choice, "message").ok_or_else(|| invalid("choices[0].message", "is required"))?;
    let content = parse_message(as_object(message, "choices[0].message")?, id)?;
    Ok(ChatResponse {
        id: id.map(str::to_string),
        model: opt_str(body, "", "model")?.unwrap_or_default().to_string(),
        content,
        stop_reason: opt_str(choice, "choices[0]", "finish_reason")?.map(stop_reason_from_finish),
        usage: field(body, "usage").map(usage_from).unwrap_or_default(),
    })
}

/// The answer's text (content, then any refusal, which is the model's own words) and tool
/// calls, in that order.
fn parse_message(
    message: &Map<String, Value>,
    id: Option<&str>,
) -> Result<Vec<Part>, TranslateError> {
    const PATH: &str = "choices[0].message";
    let mut content = Vec::new();
    for key in ["content", "refusal"] {
        if let Some(text) = opt_str(message, PATH, key)?.filter(|text| !text.is_empty()) {
            content.push(Part::text(text));
        }
    }
    if let Some(calls) = field(message, "tool_calls") {
        let calls_path = at(PATH, "tool_calls");
        for (j, call) in as_array(calls, &calls_path)?.iter().enumerate() {
            let path = format!("{calls_path}[{j}]");
            let call = as_object(call, &path)?;
            let id = required_str(call, &path, "id")?.to_string();
            content.push(parse_called_function(
                call.get("function"),
                &at(&path, "function"),
                id,
            )?);
        }
    }
    if let Some(call) = field(message, "function_call") {
        let id = invented_call_id(id, 0);
        content.push(parse_called_function(
            Some(call),
            &at(PATH, "function_call"),
            id,
        )?);
    }
    Ok(content)
}

fn parse_called_function(
    function: Option<&Value>,
    path: &str,
    id: String,
) -> Result<Part, TranslateError> {
    let function = function.ok_or_else(|| invalid(path, "is required"))?;
    let function = as_object(function, path)?;
    let name = required_str(function, path, "name")?.to_string();
    let arguments = required_str(function, path, "arguments")?;
    Ok(Part::ToolCall {
        id,
        name,
        arguments: arguments_from_json_text(arguments, &at(path, "arguments"))?,
    })
}

/// The id written when the answer has none (OpenAI's SDKs require one).
const MISSING_ID: &str = "chatcmpl-unknown";

/// Writes a `chat.completion` as OpenAI returns it. Text parts join into one `content`
/// string; images, which an OpenAI answer cannot hold, are left out.
pub fn render_response(response: &ChatResponse, created: i64) -> Value {
    let mut body = json!({
        "id": response.id.as_deref().unwrap_or(MISSING_ID),
        "object": "chat.completion",
        "created": created,
        "model": response.model,
        "choices": [{
            "index": 0,
            "message": render_message(&response.content),
            "logprobs": null,
            "finish_reason": response.stop_reason.as_ref().map(finish_reason_of),
        }],
    });
    if let Some(usage) = usage_json(response.usage) {
        body["usage"] = usage;
    }
    body
}

fn render_message(content: &[Part]) -> Value {
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for part in content {
        match part {
            Part::Text { text: piece } => text.get_or_insert_with(String::new).push_str(piece),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments_to_json_text(arguments)},
            })),
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    let text = match text {
        Some(text) => json!(text),
        None if calls.is_empty() => json!(""),
        None => Value::Null,
    };
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    message["refusal"] = Value::Null;
    message
}
