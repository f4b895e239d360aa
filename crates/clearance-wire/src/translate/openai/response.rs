//! A whole `chat.completion` answer, read into a [`ChatResponse`] and written from one.
//!
//! Reading is lenient about fields it does not need (providers add their own: `system_fingerprint`,
//! `service_tier`, `annotations`, ...) and strict about the ones it reads.

use clearance_core::chat::{ChatResponse, Part};
use serde_json::{Map, Value, json};

use super::{
    JSON, TranslateError, arguments_from_json_text, finish_reason_of, invented_call_id,
    stop_reason_from_finish, tool_call_json, usage_from, usage_json,
};
use crate::translate::json::{at, invalid, present};

/// Reads the first choice of a `chat.completion` (requests are refused when they ask for more).
pub fn parse_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let body = JSON.object(body, "")?;
    let id = JSON.optional_str(body, "", "id")?;
    let choices = JSON.required(body, "", "choices")?;
    let choice = JSON
        .array(choices, "choices")?
        .first()
        .ok_or_else(|| invalid("choices", "holds no answer"))?;
    let choice = JSON.object(choice, "choices[0]")?;
    let message = JSON.required(choice, "choices[0]", "message")?;
    let content = parse_message(JSON.object(message, "choices[0].message")?, id)?;
    Ok(ChatResponse {
        id: id.map(str::to_string),
        model: JSON
            .optional_str(body, "", "model")?
            .unwrap_or_default()
            .to_string(),
        content,
        stop_reason: JSON
            .optional_str(choice, "choices[0]", "finish_reason")?
            .map(stop_reason_from_finish),
        usage: present(body, "usage").map(usage_from).unwrap_or_default(),
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
        if let Some(text) = JSON
            .optional_str(message, PATH, key)?
            .filter(|text| !text.is_empty())
        {
            content.push(Part::text(text));
        }
    }
    if let Some(calls) = present(message, "tool_calls") {
        let calls_path = at(PATH, "tool_calls");
        for (j, call) in JSON.array(calls, &calls_path)?.iter().enumerate() {
            let path = format!("{calls_path}[{j}]");
            let call = JSON.object(call, &path)?;
            let id = JSON.required_str(call, &path, "id")?.to_string();
            content.push(parse_called_function(
                call.get("function"),
                &at(&path, "function"),
                id,
            )?);
        }
    }
    if let Some(call) = present(message, "function_call") {
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
    let function = function.ok_or_else(|| invalid(path, JSON.wording.required))?;
    let function = JSON.object(function, path)?;
    let name = JSON.required_str(function, path, "name")?.to_string();
    let arguments = JSON.required_str(function, path, "arguments")?;
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
            } => calls.push(tool_call_json(id, name, arguments)),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clearance_core::chat::{StopReason, Usage};

    use super::*;

    fn answer(message: Value, finish_reason: &str) -> Value {
        json!({
            "id": "chatcmpl-123",
            "object": "chat.completion",
            "created": 1_677_652_288,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
        })
    }

    #[test]
    fn a_refusal_is_read_as_the_models_text() {
        let response = parse_response(&answer(
            json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
            "stop",
        ))
        .unwrap();
        assert_eq!(
            response.content,
            vec![Part::text("I can't help with that.")]
        );
        assert_eq!(response.stop_reason, Some(StopReason::EndTurn));
        assert_eq!(
            response.usage,
            Usage {
                input_tokens: Some(9),
                output_tokens: Some(12)
            }
        );
    }

    #[test]
    fn a_legacy_function_call_gets_an_id_made_from_the_answers() {
        let response = parse_response(&answer(
            json!({"role": "assistant", "content": null, "function_call": {
                "name": "get_current_weather", "arguments": "{\n  \"location\": \"Boston, MA\"\n}"
            }}),
            "function_call",
        ))
        .unwrap();
        assert_eq!(
            response.content,
            vec![Part::ToolCall {
                id: "call_chatcmpl-123_0".into(),
                name: "get_current_weather".into(),
                arguments: json!({"location": "Boston, MA"})
            }]
        );
        assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    }

    #[test]
    fn malformed_answers_are_invalid_and_name_the_field() {
        let cases = [
            (json!({"id": "x", "choices": []}), "choices"),
            (json!({"id": "x"}), "choices"),
            (json!({"choices": [{"index": 0}]}), "choices[0].message"),
            (
                answer(json!({"role": "assistant", "content": 7}), "stop"),
                "choices[0].message.content",
            ),
            (
                answer(
                    json!({"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "f", "arguments": "{\"a\":"}}]}),
                    "tool_calls",
                ),
                "choices[0].message.tool_calls[0].function.arguments",
            ),
            (
                answer(
                    json!({"role": "assistant", "tool_calls": [{"type": "function",
                        "function": {"name": "f", "arguments": "{}"}}]}),
                    "tool_calls",
                ),
                "choices[0].message.tool_calls[0].id",
            ),
        ];
        for (body, field) in cases {
            let error = parse_response(&body).unwrap_err();
            assert!(
                matches!(&error, TranslateError::Invalid { field: f, .. } if f == field),
                "{field}: {error:?}"
            );
        }
    }

    #[test]
    fn text_parts_join_into_one_content_string_and_images_are_left_out() {
        let response = ChatResponse {
            id: Some("msg_01".into()),
            model: "mythos-5".into(),
            content: vec![
                Part::text("Hello"),
                Part::Image {
                    image: clearance_core::chat::Image::Url {
                        url: "https://example.com/x.png".into(),
                    },
                },
                Part::text(", world"),
            ],
            stop_reason: Some(StopReason::StopSequence(Some("END".into()))),
            usage: Usage::default(),
        };
        assert_eq!(
            render_response(&response, 1_767_225_600),
            json!({
                "id": "msg_01",
                "object": "chat.completion",
                "created": 1_767_225_600,
                "model": "mythos-5",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello, world", "refusal": null},
                    "logprobs": null,
                    "finish_reason": "stop"
                }]
            })
        );
    }

    #[test]
    fn an_answer_of_only_tool_calls_has_null_content() {
        let response = ChatResponse {
            id: None,
            model: "m".into(),
            content: vec![Part::ToolCall {
                id: "toolu_01".into(),
                name: "weather".into(),
                arguments: json!({"city": "Oslo"}),
            }],
            stop_reason: Some(StopReason::ToolUse),
            usage: Usage {
                input_tokens: Some(5),
                output_tokens: None,
            },
        };
        let body = render_response(&response, 0);
        assert_eq!(body["id"], MISSING_ID);
        assert_eq!(body["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Oslo\"}"
        );
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5})
        );
        assert_eq!(parse_response(&body).unwrap().content, response.content);
    }
}
