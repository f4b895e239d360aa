//! A whole `response` object, read into a [`ChatResponse`] and written from one.
//!
//! Reading is lenient about fields it does not need (the object echoes the request's
//! settings) and strict about the ones it reads: the `status`, the `output` items and the
//! `usage`.

use clearance_core::chat::{ChatResponse, Part};
use serde_json::{Map, Value, json};

use super::{
    JSON, TranslateError, arguments_from_json_text, item_id, message_item, output_function_call,
    output_text_part, response_object, status_of, stop_reason_of, usage_from,
};
use crate::translate::json::{at, invalid, present};

/// The id written when the answer has none (the API's SDKs require one).
const MISSING_ID: &str = "resp_unknown";

/// Reads a `response` object. A failed response is an error naming its message; one that has
/// not finished (`in_progress`, `queued`, `cancelled`) is not an answer.
pub fn parse_response(body: &Value) -> Result<ChatResponse, TranslateError> {
    let body = JSON.object(body, "")?;
    let status = JSON
        .optional_str(body, "", "status")?
        .unwrap_or("completed");
    if status == "failed" {
        return Err(invalid("error", failure_message(present(body, "error"))));
    }
    let output = JSON.required(body, "", "output")?;
    let mut content = Vec::new();
    let mut called = false;
    for (i, item) in JSON.array(output, "output")?.iter().enumerate() {
        let path = format!("output[{i}]");
        let item = JSON.object(item, &path)?;
        match JSON.required_str(item, &path, "type")? {
            "message" => content.extend(parse_message(item, &path)?),
            "function_call" => {
                called = true;
                content.push(parse_function_call(item, &path)?);
            }
            "reasoning" => {}
            other => {
                return Err(JSON.untranslatable(
                    at(&path, "type"),
                    format!("`{other}` output items come from tools only OpenAI has"),
                ));
            }
        }
    }
    let incomplete_reason = present(body, "incomplete_details")
        .and_then(|details| details.get("reason"))
        .and_then(Value::as_str);
    let stop_reason = stop_reason_of(status, incomplete_reason, called).ok_or_else(|| {
        invalid(
            "status",
            format!("`{status}` is not the status of a finished answer"),
        )
    })?;
    Ok(ChatResponse {
        id: JSON.optional_str(body, "", "id")?.map(str::to_string),
        model: JSON
            .optional_str(body, "", "model")?
            .unwrap_or_default()
            .to_string(),
        content,
        stop_reason: Some(stop_reason),
        usage: usage_from(present(body, "usage")),
    })
}

/// A `message` item's text parts; a refusal is the model's own words, read as its text.
/// Empty text says nothing and is left out.
fn parse_message(item: &Map<String, Value>, path: &str) -> Result<Vec<Part>, TranslateError> {
    let content_path = at(path, "content");
    let parts = JSON.array(JSON.required(item, path, "content")?, &content_path)?;
    let mut content = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let part_path = format!("{content_path}[{j}]");
        let part = JSON.object(part, &part_path)?;
        let key = match JSON.required_str(part, &part_path, "type")? {
            "output_text" => "text",
            "refusal" => "refusal",
            other => {
                return Err(invalid(
                    at(&part_path, "type"),
                    format!("`{other}` is not an output content type"),
                ));
            }
        };
        let text = JSON.required_str(part, &part_path, key)?;
        if !text.is_empty() {
            content.push(Part::text(text));
        }
    }
    Ok(content)
}

fn parse_function_call(item: &Map<String, Value>, path: &str) -> Result<Part, TranslateError> {
    let arguments = JSON.required_str(item, path, "arguments")?;
    Ok(Part::ToolCall {
        id: JSON.required_str(item, path, "call_id")?.to_string(),
        name: JSON.required_str(item, path, "name")?.to_string(),
        arguments: arguments_from_json_text(arguments, &at(path, "arguments"))?,
    })
}

/// What a failed response's `error` says.
pub(super) fn failure_message(error: Option<&Value>) -> String {
    let field = |key: &str| error.and_then(|e| e.get(key)).and_then(Value::as_str);
    match (field("message"), field("code")) {
        (Some(message), _) => message.to_string(),
        (None, Some(code)) => format!("the response failed ({code})"),
        (None, None) => "the response failed".to_string(),
    }
}

/// Writes a `response` object as the API returns it (see `response_object` for the
/// request settings it echoes).
pub fn render_response(response: &ChatResponse, created: i64) -> Value {
    let id = response.id.as_deref().unwrap_or(MISSING_ID);
    let (status, incomplete_details) = status_of(response.stop_reason.as_ref());
    let mut output = output_items(&response.content, id);
    // The API marks the item the cap or the filter cut short.
    if status == "incomplete"
        && let Some(last) = output.last_mut()
    {
        last["status"] = json!("incomplete");
    }
    let mut body = response_object(id, created, &response.model, status, output, response.usage);
    body["incomplete_details"] = incomplete_details;
    body
}

/// The answer's parts as output items, in order: each run of text one `message` item (one
/// `output_text` part per text), each tool call a `function_call` item. Images and tool
/// results, which an answer cannot hold, are left out.
fn output_items(content: &[Part], answer_id: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut texts = Vec::new();
    for part in content {
        match part {
            Part::Text { text } => texts.push(output_text_part(text)),
            Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                flush_texts(&mut texts, &mut items, answer_id);
                let item_id = item_id("fc", answer_id, items.len());
                let arguments = arguments.to_string();
                items.push(output_function_call(
                    &item_id,
                    "completed",
                    id,
                    name,
                    &arguments,
                ));
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    flush_texts(&mut texts, &mut items, answer_id);
    items
}

fn flush_texts(texts: &mut Vec<Value>, items: &mut Vec<Value>, answer_id: &str) {
    if !texts.is_empty() {
        let item_id = item_id("msg", answer_id, items.len());
        items.push(message_item(&item_id, "completed", std::mem::take(texts)));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clearance_core::chat::{Image, StopReason, Usage};

    use super::*;

    fn answer(status: &str, output: Value) -> Value {
        json!({
            "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
            "object": "response",
            "created_at": 1_741_476_777,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": "gpt-4o-2024-08-06",
            "output": output,
            "usage": {"input_tokens": 328, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 52, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 380}
        })
    }

    #[test]
    fn a_failed_response_is_an_error_naming_its_message() {
        let mut body = answer("failed", json!([]));
        body["error"] =
            json!({"code": "server_error", "message": "The model failed to generate a response."});
        let error = parse_response(&body).unwrap_err();
        assert_eq!(error.field(), "error");
        assert!(error.to_string().contains("failed to generate"), "{error}");
        let error = parse_response(&answer("in_progress", json!([]))).unwrap_err();
        assert_eq!(error.field(), "status");
    }

    #[test]
    fn a_refusal_is_read_as_the_models_text_and_reasoning_is_skipped() {
        let response = parse_response(&answer(
            "completed",
            json!([
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                    "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
            ]),
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
                input_tokens: Some(328),
                output_tokens: Some(52)
            }
        );
    }

    #[test]
    fn built_in_tool_output_is_untranslatable() {
        let error = parse_response(&answer(
            "completed",
            json!([{"type": "web_search_call", "id": "ws_1", "status": "completed"}]),
        ))
        .unwrap_err();
        assert!(
            matches!(&error, TranslateError::Untranslatable { field, .. } if field == "output[0].type"),
            "{error:?}"
        );
    }

    #[test]
    fn text_around_a_call_becomes_separate_message_items() {
        let response = ChatResponse {
            id: None,
            model: "mythos-5".into(),
            content: vec![
                Part::text("Let me check."),
                Part::text(" One moment."),
                Part::ToolCall {
                    id: "toolu_01".into(),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Oslo"}),
                },
                Part::Image {
                    image: Image::Url {
                        url: "https://example.com/x.png".into(),
                    },
                },
                Part::text("Done."),
            ],
            stop_reason: Some(StopReason::ToolUse),
            usage: Usage::default(),
        };
        let body = render_response(&response, 0);
        assert_eq!(body["id"], MISSING_ID);
        assert_eq!(body["usage"], Value::Null);
        let types: Vec<&str> = body["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["message", "function_call", "message"]);
        assert_eq!(body["output"][0]["content"].as_array().unwrap().len(), 2);
        assert_eq!(body["output"][1]["id"], "fc_unknown_1");
        assert_eq!(body["output"][1]["arguments"], "{\"city\":\"Oslo\"}");
        let again = parse_response(&body).unwrap();
        let mut expected = response.content.clone();
        expected.remove(3);
        assert_eq!(again.content, expected);
        assert_eq!(again.stop_reason, Some(StopReason::ToolUse));
    }

    #[test]
    fn a_capped_answer_is_incomplete_with_the_reason() {
        let response = ChatResponse {
            id: Some("resp_1".into()),
            model: "m".into(),
            content: vec![Part::text("Once upon a")],
            stop_reason: Some(StopReason::MaxTokens),
            usage: Usage {
                input_tokens: Some(5),
                output_tokens: None,
            },
        };
        let body = render_response(&response, 0);
        assert_eq!(body["status"], "incomplete");
        assert_eq!(
            body["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(body["usage"]["total_tokens"], 5);
        assert_eq!(body["output"][0]["status"], "incomplete");
        assert_eq!(
            parse_response(&body).unwrap().stop_reason,
            Some(StopReason::MaxTokens)
        );
    }
}
