//! Reads what the fakes need from a request body (model, last user text, the tool result it ends
//! with, a prompt token count, the output cap, streaming options), and rejects bodies the real
//! API would reject, with the real API's wording.

use serde_json::Value;

use crate::reply::count_tokens;

/// The parts of a chat request that decide the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prompt {
    pub model: String,
    pub last_user_text: Option<String>,
    /// The text of the tool results the request ends with (OpenAI `tool` messages, Anthropic
    /// `tool_result` blocks, Gemini `functionResponse` parts), joined by a space; `None` when
    /// its last message is not a tool result.
    pub tool_result: Option<String>,
    pub prompt_tokens: u64,
    pub max_tokens: Option<u64>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// A body the real API answers with 400, with what its error JSON says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidRequest {
    pub message: String,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl InvalidRequest {
    fn new(message: impl Into<String>) -> InvalidRequest {
        InvalidRequest {
            message: message.into(),
            param: None,
            code: None,
        }
    }
}

impl Prompt {
    /// An OpenAI Chat Completions body. Error wording follows what the real API returns.
    pub(crate) fn from_openai(body: &Value) -> Result<Prompt, InvalidRequest> {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or_else(|| InvalidRequest::new("you must provide a model parameter"))?;
        Prompt::chat_completions(model, body)
    }

    /// A Chat Completions body sent to an Azure OpenAI deployment: the deployment names the
    /// model, and a `model` field, if any, is ignored (as Azure does).
    pub(crate) fn from_azure(deployment: &str, body: &Value) -> Result<Prompt, InvalidRequest> {
        Prompt::chat_completions(deployment, body)
    }

    fn chat_completions(model: &str, body: &Value) -> Result<Prompt, InvalidRequest> {
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or(InvalidRequest {
                message: "Missing required parameter: 'messages'.".to_owned(),
                param: Some("messages"),
                code: Some("missing_required_parameter"),
            })?;
        // max_completion_tokens replaced max_tokens; clients still send either.
        let max_tokens = body
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .or_else(|| body.get("max_tokens").and_then(Value::as_u64));
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Prompt {
            model: model.to_owned(),
            last_user_text: last_user_text(messages),
            tool_result: openai_tool_result(messages),
            prompt_tokens: message_tokens(messages),
            max_tokens,
            stream: is_streaming(body),
            include_usage,
        })
    }

    /// An Anthropic Messages body: `model`, `max_tokens` and `messages` are required; the
    /// system prompt is a top-level field.
    pub(crate) fn from_anthropic(body: &Value) -> Result<Prompt, InvalidRequest> {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or_else(|| InvalidRequest::new("model: Field required"))?;
        let max_tokens = body
            .get("max_tokens")
            .and_then(Value::as_u64)
            .ok_or_else(|| InvalidRequest::new("max_tokens: Field required"))?;
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or_else(|| InvalidRequest::new("messages: Field required"))?;
        Ok(Prompt::anthropic_messages(
            model,
            max_tokens,
            messages,
            body,
            is_streaming(body),
        ))
    }

    /// An Anthropic Messages body sent to Bedrock's `InvokeModel` for `model_id` (which the
    /// path names): `anthropic_version` must be `bedrock-2023-05-31` and `model` must be absent.
    /// Problems are reported as Bedrock's JSON-schema check words them, all at once.
    pub(crate) fn from_bedrock_anthropic(
        model_id: &str,
        body: &Value,
        stream: bool,
    ) -> Result<Prompt, InvalidRequest> {
        let mut problems = Vec::new();
        if !body.is_object() {
            problems.push(format!(
                "#: expected type: JSONObject, found: {}",
                json_type(body)
            ));
        }
        for key in ["anthropic_version", "max_tokens", "messages"] {
            if body.is_object() && body.get(key).is_none() {
                problems.push(format!("#: required key [{key}] not found"));
            }
        }
        if body.get("model").is_some() {
            problems.push("#: extraneous key [model] is not permitted".to_owned());
        }
        match body.get("anthropic_version") {
            None => {}
            Some(Value::String(v)) if v == BEDROCK_ANTHROPIC_VERSION => {}
            Some(Value::String(v)) => problems.push(format!(
                "#/anthropic_version: #/anthropic_version: {v} is not a valid enum value"
            )),
            Some(other) => problems.push(format!(
                "#/anthropic_version: expected type: String, found: {}",
                json_type(other)
            )),
        }
        let max_tokens = match body.get("max_tokens") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None => {
                    problems.push(format!(
                        "#/max_tokens: expected type: Integer, found: {}",
                        json_type(v)
                    ));
                    None
                }
            },
        };
        let messages = match body.get("messages") {
            None => None,
            Some(Value::Array(messages)) => Some(messages.as_slice()),
            Some(other) => {
                problems.push(format!(
                    "#/messages: expected type: JSONArray, found: {}",
                    json_type(other)
                ));
                None
            }
        };
        match (problems.is_empty(), max_tokens, messages) {
            (true, Some(max_tokens), Some(messages)) => Ok(Prompt::anthropic_messages(
                model_id, max_tokens, messages, body, stream,
            )),
            _ => Err(InvalidRequest::new(format!(
                "Malformed input request: {}, please reformat your input and try again.",
                problems.concat()
            ))),
        }
    }

    fn anthropic_messages(
        model: &str,
        max_tokens: u64,
        messages: &[Value],
        body: &Value,
        stream: bool,
    ) -> Prompt {
        let system_tokens = body
            .get("system")
            .map_or(0, |s| count_tokens(&content_text(s)));
        Prompt {
            model: model.to_owned(),
            last_user_text: last_user_text(messages),
            tool_result: anthropic_tool_result(messages),
            prompt_tokens: system_tokens + message_tokens(messages),
            max_tokens: Some(max_tokens),
            stream,
            include_usage: false,
        }
    }

    /// A Gemini `generateContent` body for `model` (Gemini names the model and whether to
    /// stream in the URL, not the body). Checks what the real API checks before generating.
    pub(crate) fn from_gemini(
        model: &str,
        body: &Value,
        stream: bool,
    ) -> Result<Prompt, InvalidRequest> {
        let contents = gemini::validate(body)?;
        let system_tokens = gemini::system_instruction(body).map_or(0, gemini::content_tokens);
        let max_tokens = gemini::generation_config(body)
            .and_then(|config| {
                config
                    .get("maxOutputTokens")
                    .or_else(|| config.get("max_output_tokens"))
            })
            .and_then(Value::as_u64);
        Ok(Prompt {
            model: model.to_owned(),
            last_user_text: gemini::last_user_text(contents),
            tool_result: gemini::tool_result(contents),
            prompt_tokens: system_tokens + contents.iter().map(gemini::content_tokens).sum::<u64>(),
            max_tokens,
            stream,
            include_usage: false,
        })
    }
}

/// The one `anthropic_version` Bedrock accepts in an Anthropic Messages body.
pub(crate) const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// A JSON value's type as Bedrock's schema check names it.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

fn is_streaming(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

fn last_user_text(messages: &[Value]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .filter(|t| !t.trim().is_empty())
}

fn message_tokens(messages: &[Value]) -> u64 {
    messages
        .iter()
        .filter_map(|m| m.get("content"))
        .map(|c| count_tokens(&content_text(c)))
        .sum()
}

/// OpenAI: the trailing `role: "tool"` messages (one per call the model made).
fn openai_tool_result(messages: &[Value]) -> Option<String> {
    let trailing_results: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
        .map(|m| m.get("content").map(content_text).unwrap_or_default())
        .collect();
    joined_results(trailing_results.into_iter().rev())
}

/// Anthropic: the `tool_result` blocks of the last message.
fn anthropic_tool_result(messages: &[Value]) -> Option<String> {
    let blocks = messages.last()?.get("content")?.as_array()?;
    let results = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| b.get("content").map(content_text).unwrap_or_default());
    joined_results(results)
}

/// `None` when there are no results at all (an empty result is still a result).
fn joined_results(results: impl Iterator<Item = String>) -> Option<String> {
    let results: Vec<String> = results.collect();
    (!results.is_empty()).then(|| results.join(" "))
}

/// Message content is a string or a list of parts (`{"type":"text","text":..}`, images, ...);
/// both APIs share this shape, and only the text matters here, including the text inside
/// Anthropic `tool_result` blocks.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                Some("tool_result") => p.get("content").map(content_text),
                _ => p.get("text").and_then(Value::as_str).map(str::to_owned),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Gemini's request shape: `contents` of `{role, parts}`, each part holding exactly one kind of
/// data. Field names are accepted in both spellings the real API accepts (`functionResponse`,
/// `function_response`).
mod gemini {
    use serde_json::Value;

    use super::{InvalidRequest, joined_results};
    use crate::reply::count_tokens;

    /// The fields of a `Part`'s `data` oneof, by JSON and by proto name.
    const PART_DATA: &[&str] = &[
        "text",
        "inlineData",
        "inline_data",
        "functionCall",
        "function_call",
        "functionResponse",
        "function_response",
        "fileData",
        "file_data",
        "executableCode",
        "executable_code",
        "codeExecutionResult",
        "code_execution_result",
    ];

    /// A field by its JSON or proto name; `null` counts as absent, as in proto JSON.
    fn field<'a>(object: &'a Value, json_name: &str, proto_name: &str) -> Option<&'a Value> {
        object
            .get(json_name)
            .or_else(|| object.get(proto_name))
            .filter(|v| !v.is_null())
    }

    pub(super) fn system_instruction(body: &Value) -> Option<&Value> {
        field(body, "systemInstruction", "system_instruction")
    }

    pub(super) fn generation_config(body: &Value) -> Option<&Value> {
        field(body, "generationConfig", "generation_config")
    }

    fn parts(content: &Value) -> &[Value] {
        content
            .get("parts")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Checks the body as the real API does and returns its `contents`. The first problem
    /// found is reported, in the real API's words.
    pub(super) fn validate(body: &Value) -> Result<&[Value], InvalidRequest> {
        if !body.is_object() {
            return Err(InvalidRequest::new(
                "Invalid JSON payload received. Unknown name \"\": Root element must be a message.",
            ));
        }
        let contents = match body.get("contents") {
            None | Some(Value::Null) => None,
            Some(Value::Array(contents)) => Some(contents.as_slice()),
            Some(other) => {
                return Err(InvalidRequest::new(format!(
                    "Invalid value at 'contents' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), {other}"
                )));
            }
        };
        let Some(contents) = contents.filter(|c| !c.is_empty()) else {
            return Err(violation("contents", "contents is not specified"));
        };
        for (i, content) in contents.iter().enumerate() {
            validate_content(content, &format!("contents[{i}]"), true)?;
        }
        if let Some(instruction) = system_instruction(body) {
            validate_content(instruction, "system_instruction", false)?;
        }
        Ok(contents)
    }

    /// `in_contents`: a turn of the conversation (its role is checked and it needs parts), not
    /// the system instruction.
    fn validate_content(
        content: &Value,
        path: &str,
        in_contents: bool,
    ) -> Result<(), InvalidRequest> {
        if !content.is_object() {
            return Err(InvalidRequest::new(format!(
                "Invalid value at '{path}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), {content}"
            )));
        }
        if in_contents {
            match content.get("role") {
                None | Some(Value::Null) => {}
                Some(Value::String(role)) if matches!(role.as_str(), "" | "user" | "model") => {}
                Some(_) => {
                    return Err(InvalidRequest::new("Please use a valid role: user, model."));
                }
            }
        }
        let parts = match content.get("parts") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(parts)) => parts.as_slice(),
            Some(other) => {
                return Err(InvalidRequest::new(format!(
                    "Invalid value at '{path}.parts' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part), {other}"
                )));
            }
        };
        if parts.is_empty() && in_contents {
            return Err(violation(
                &format!("{path}.parts"),
                "contents.parts must not be empty.",
            ));
        }
        for (j, part) in parts.iter().enumerate() {
            validate_part(part, &format!("{path}.parts[{j}]"))?;
        }
        Ok(())
    }

    fn validate_part(part: &Value, path: &str) -> Result<(), InvalidRequest> {
        if !part.is_object() {
            return Err(InvalidRequest::new(format!(
                "Invalid value at '{path}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part), {part}"
            )));
        }
        let mut data = PART_DATA
            .iter()
            .filter(|name| part.get(**name).is_some_and(|v| !v.is_null()));
        if data.next().is_none() {
            return Err(violation(
                &format!("{path}.data"),
                "required oneof field 'data' must have one initialized field",
            ));
        }
        if let Some(second) = data.next() {
            return Err(InvalidRequest::new(format!(
                "Invalid value at '{path}' (oneof), oneof field 'data' is already set. Cannot set '{second}'"
            )));
        }
        if let Some(response) = field(part, "functionResponse", "function_response") {
            let named = response
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| !name.is_empty());
            if !named {
                return Err(violation(
                    &format!("{path}.function_response.name"),
                    "Name cannot be empty.",
                ));
            }
        }
        Ok(())
    }

    /// Google's field-violation wording: `* GenerateContentRequest.PATH: PROBLEM` and a newline.
    fn violation(path: &str, problem: &str) -> InvalidRequest {
        InvalidRequest::new(format!("* GenerateContentRequest.{path}: {problem}\n"))
    }

    fn is_user(content: &Value) -> bool {
        matches!(
            content.get("role").and_then(Value::as_str),
            None | Some("" | "user")
        )
    }

    pub(super) fn last_user_text(contents: &[Value]) -> Option<String> {
        let content = contents.iter().rev().find(|c| is_user(c))?;
        let text = parts(content)
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        (!text.trim().is_empty()).then_some(text)
    }

    /// The `functionResponse` parts of the last turn.
    pub(super) fn tool_result(contents: &[Value]) -> Option<String> {
        let last = contents.last()?;
        let results = parts(last)
            .iter()
            .filter_map(|p| field(p, "functionResponse", "function_response"))
            .map(|r| response_text(r.get("response").unwrap_or(&Value::Null)));
        joined_results(results)
    }

    /// A function response's `response` as text: its `output` string when that is all it
    /// holds (the convention Google's SDKs use), otherwise its compact JSON.
    fn response_text(response: &Value) -> String {
        match response.as_object() {
            Some(object) if object.len() == 1 => match object.get("output") {
                Some(Value::String(output)) => output.clone(),
                _ => response.to_string(),
            },
            _ => response.to_string(),
        }
    }

    /// Text parts count word by word; calls and responses by their compact JSON.
    pub(super) fn content_tokens(content: &Value) -> u64 {
        parts(content)
            .iter()
            .map(|part| {
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    count_tokens(text)
                } else if let Some(call) = field(part, "functionCall", "function_call") {
                    count_tokens(&call.to_string())
                } else if let Some(response) = field(part, "functionResponse", "function_response")
                {
                    count_tokens(&response_text(
                        response.get("response").unwrap_or(&Value::Null),
                    ))
                } else {
                    0
                }
            })
            .sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_openai_body() {
        let body = json!({
            "model": "gpt-x",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hello there"}]}
            ],
            "max_completion_tokens": 7,
            "stream": true,
            "stream_options": {"include_usage": true}
        });
        let p = Prompt::from_openai(&body).unwrap();
        assert_eq!(p.model, "gpt-x");
        assert_eq!(p.last_user_text.as_deref(), Some("hello there"));
        assert_eq!(p.prompt_tokens, 4);
        assert_eq!(p.max_tokens, Some(7));
        assert!(p.stream && p.include_usage);
    }

    #[test]
    fn openai_requires_model_and_messages() {
        assert!(Prompt::from_openai(&json!({"messages": []})).is_err());
        let err = Prompt::from_openai(&json!({"model": "m"})).unwrap_err();
        assert_eq!(err.param, Some("messages"));
    }

    #[test]
    fn reads_anthropic_body() {
        let body = json!({
            "model": "claude-x",
            "max_tokens": 100,
            "system": "you are terse",
            "messages": [{"role": "user", "content": "ping"}]
        });
        let p = Prompt::from_anthropic(&body).unwrap();
        assert_eq!(p.prompt_tokens, 4);
        assert_eq!(p.last_user_text.as_deref(), Some("ping"));
        assert!(!p.stream);
    }

    #[test]
    fn azure_takes_the_model_from_the_deployment() {
        let body = json!({"model": "ignored", "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(Prompt::from_azure("my-gpt", &body).unwrap().model, "my-gpt");
        let no_model = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(Prompt::from_azure("d", &no_model).unwrap().model, "d");
        assert!(Prompt::from_azure("d", &json!({})).is_err());
    }

    #[test]
    fn bedrock_anthropic_bodies_are_checked_like_bedrock() {
        let good = json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "ping"}]
        });
        let p = Prompt::from_bedrock_anthropic("anthropic.claude-x", &good, true).unwrap();
        assert_eq!(p.model, "anthropic.claude-x");
        assert!(p.stream);
        assert_eq!(p.last_user_text.as_deref(), Some("ping"));

        let mut with_model = good.clone();
        with_model["model"] = json!("claude");
        with_model
            .as_object_mut()
            .unwrap()
            .remove("anthropic_version");
        let err = Prompt::from_bedrock_anthropic("m", &with_model, false).unwrap_err();
        assert_eq!(
            err.message,
            "Malformed input request: #: required key [anthropic_version] not found#: extraneous key [model] is not permitted, please reformat your input and try again."
        );
        let mut old_version = good.clone();
        old_version["anthropic_version"] = json!("2023-06-01");
        let err = Prompt::from_bedrock_anthropic("m", &old_version, false).unwrap_err();
        assert!(
            err.message.contains("2023-06-01 is not a valid enum value"),
            "{}",
            err.message
        );
        assert!(Prompt::from_bedrock_anthropic("m", &json!([]), false).is_err());
    }

    #[test]
    fn anthropic_requires_max_tokens() {
        let err = Prompt::from_anthropic(&json!({"model": "m", "messages": []})).unwrap_err();
        assert_eq!(err.message, "max_tokens: Field required");
    }

    #[test]
    fn openai_trailing_tool_messages_are_the_tool_result() {
        let body = json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "sunny"}]}
            ]
        });
        let p = Prompt::from_openai(&body).unwrap();
        assert_eq!(p.tool_result.as_deref(), Some("18 degrees sunny"));
        let mut asked_again = body.clone();
        asked_again["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "user", "content": "thanks"}));
        assert_eq!(Prompt::from_openai(&asked_again).unwrap().tool_result, None);
    }

    #[test]
    fn anthropic_tool_result_blocks_of_the_last_message() {
        let body = json!({
            "model": "m",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18 degrees"}]},
                    {"type": "text", "text": "and?"}
                ]}
            ]
        });
        let p = Prompt::from_anthropic(&body).unwrap();
        assert_eq!(p.tool_result.as_deref(), Some("18 degrees"));
        // weather? + 18 degrees + and?
        assert_eq!(p.prompt_tokens, 4);
        let plain = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(Prompt::from_anthropic(&plain).unwrap().tool_result, None);
    }

    fn gemini(body: Value) -> Result<Prompt, InvalidRequest> {
        Prompt::from_gemini("gemini-x", &body, false)
    }

    #[test]
    fn reads_gemini_body() {
        let body = json!({
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "hello"}, {"text": "there"}]},
                {"role": "model", "parts": [{"text": "hi"}]},
                {"parts": [{"text": "bye now"}]}
            ],
            "generationConfig": {"maxOutputTokens": 5}
        });
        let p = Prompt::from_gemini("gemini-x", &body, true).unwrap();
        assert_eq!(p.model, "gemini-x");
        assert_eq!(p.last_user_text.as_deref(), Some("bye now"));
        assert_eq!(p.prompt_tokens, 2 + 2 + 1 + 2);
        assert_eq!(p.max_tokens, Some(5));
        assert!(p.stream);
        assert_eq!(p.tool_result, None);
    }

    #[test]
    fn gemini_function_responses_of_the_last_turn_are_the_tool_result() {
        let turn = |response: Value| {
            json!({"contents": [
                {"role": "user", "parts": [{"text": "weather?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": response}}]}
            ]})
        };
        let output_only = gemini(turn(json!({"output": "18 degrees"}))).unwrap();
        assert_eq!(output_only.tool_result.as_deref(), Some("18 degrees"));
        let structured = gemini(turn(json!({"temp": 18, "unit": "C"}))).unwrap();
        assert_eq!(
            structured.tool_result.as_deref(),
            Some(r#"{"temp":18,"unit":"C"}"#)
        );
        let snake = json!({"contents": [{"parts": [
            {"function_response": {"name": "w", "response": {"output": "ok"}}}
        ]}]});
        assert_eq!(gemini(snake).unwrap().tool_result.as_deref(), Some("ok"));
    }

    #[test]
    fn gemini_rejects_what_the_real_api_rejects() {
        let cases = [
            (
                json!({}),
                "* GenerateContentRequest.contents: contents is not specified\n",
            ),
            (
                json!({"contents": []}),
                "* GenerateContentRequest.contents: contents is not specified\n",
            ),
            (
                json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}),
                "Please use a valid role: user, model.",
            ),
            (
                json!({"contents": [{"role": "user", "parts": []}]}),
                "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
            ),
            (
                json!({"contents": [{"parts": [{"text": "a"}]}, {"parts": [{}]}]}),
                "* GenerateContentRequest.contents[1].parts[0].data: required oneof field 'data' must have one initialized field\n",
            ),
            (
                json!({"contents": [{"parts": [{"text": "a", "functionCall": {"name": "f"}}]}]}),
                "Invalid value at 'contents[0].parts[0]' (oneof), oneof field 'data' is already set. Cannot set 'functionCall'",
            ),
            (
                json!({"contents": [{"parts": [{"functionResponse": {"response": {}}}]}]}),
                "* GenerateContentRequest.contents[0].parts[0].function_response.name: Name cannot be empty.\n",
            ),
            (
                json!({"contents": [{"parts": [{"text": "a"}]}], "systemInstruction": {"parts": [{"thought": true}]}}),
                "* GenerateContentRequest.system_instruction.parts[0].data: required oneof field 'data' must have one initialized field\n",
            ),
        ];
        for (body, message) in cases {
            let error = gemini(body.clone()).unwrap_err();
            assert_eq!(error.message, message, "{body}");
        }
    }

    #[test]
    fn gemini_odd_shapes_are_errors_not_panics() {
        for body in [
            json!(null),
            json!([]),
            json!("text"),
            json!({"contents": "hi"}),
            json!({"contents": [1]}),
            json!({"contents": [{"parts": "hi"}]}),
            json!({"contents": [{"parts": [7]}]}),
            json!({"contents": [{"role": 5, "parts": [{"text": "x"}]}]}),
            json!({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": "be brief"}),
        ] {
            assert!(gemini(body.clone()).is_err(), "{body}");
        }
        // Nulls are absent fields, as in proto JSON.
        let nulls = json!({"contents": [{"role": null, "parts": [{"text": "x", "inlineData": null}]}], "systemInstruction": null});
        assert!(gemini(nulls).is_ok());
    }
}
