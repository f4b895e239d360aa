//! Bedrock's Converse API: `POST /model/MODEL/converse` answers one `ConverseResponse`
//! (`output.message`, `stopReason`, `usage`, `metrics`); `POST /model/MODEL/converse-stream`
//! streams `messageStart`, `contentBlockStart` (a tool call only), `contentBlockDelta`s,
//! `contentBlockStop`, `messageStop` and `metadata` as event-stream messages. The answer is one
//! `text` or one `toolUse` content block, decided by the same [`Answer`] as every other API.
//!
//! Requests are read as Bedrock reads them: `messages` of `{role, content: [ContentBlock]}`,
//! starting with a user turn and alternating, each block holding one member (`text`, `image`,
//! `document`, `video`, `toolUse`, `toolResult`, ...), `system` blocks, `inferenceConfig`, and a
//! `toolConfig` whenever tool blocks appear; the first problem is refused with Bedrock's words.

use bytes::Bytes;
use serde_json::{Value, json};

use super::errors::BedrockError;
use super::eventstream::converse_event;
use crate::prompt::Prompt;
use crate::reply::{Answer, Stop, count_tokens};

/// The members a `ContentBlock` may hold (a union: exactly one).
const BLOCK_MEMBERS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
];

const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];

const FIRST_TURN: &str = "A conversation must start with a user message. Try again with a conversation that starts with a user message.";
const ALTERNATE: &str = "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.";
const TOOL_CONFIG_NEEDED: &str =
    "The toolConfig field must be defined when using toolUse and toolResult content blocks.";
const MALFORMED: &str = "Malformed input request, please reformat your input and try again.";

/// Reads a Converse body for `model_id` (the path names the model and whether to stream).
pub(crate) fn prompt(model_id: &str, body: &Value, stream: bool) -> Result<Prompt, BedrockError> {
    if !body.is_object() {
        return Err(BedrockError::validation(MALFORMED));
    }
    let messages = match body.get("messages") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(messages)) => messages.as_slice(),
        Some(_) => return Err(BedrockError::validation(MALFORMED)),
    };
    let mut uses_tools = false;
    let mut previous_role = None;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "user" | "assistant") {
            return Err(violation(
                &format!("'{role}'"),
                &format!("messages.{}.member.role", i + 1),
                "Member must satisfy enum value set: [user, assistant]",
            ));
        }
        if i == 0 && role != "user" {
            return Err(BedrockError::validation(FIRST_TURN));
        }
        if previous_role == Some(role) {
            return Err(BedrockError::validation(ALTERNATE));
        }
        previous_role = Some(role);
        let blocks = blocks(message);
        if blocks.is_empty() {
            return Err(BedrockError::validation(format!(
                "The content field in the Message object at messages.{i}.content is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        for (j, block) in blocks.iter().enumerate() {
            uses_tools |= check_block(block, &format!("messages.{i}.content.{j}"))?;
        }
    }
    if messages.is_empty() {
        return Err(BedrockError::validation(FIRST_TURN));
    }
    check_tool_config(body, uses_tools)?;
    let max_tokens = match body.pointer("/inferenceConfig/maxTokens") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_i64() {
            Some(n) if n >= 1 => Some(n.unsigned_abs()),
            _ => {
                return Err(violation(
                    &format!("'{value}'"),
                    "inferenceConfig.maxTokens",
                    "Member must have value greater than or equal to 1",
                ));
            }
        },
    };
    let system_tokens: u64 = body
        .get("system")
        .and_then(Value::as_array)
        .map_or(0, |blocks| blocks.iter().map(block_tokens).sum());
    let message_tokens: u64 = messages
        .iter()
        .flat_map(|m| blocks(m).iter())
        .map(block_tokens)
        .sum();
    Ok(Prompt {
        model: model_id.to_owned(),
        last_user_text: last_user_text(messages),
        tool_result: tool_result(messages),
        prompt_tokens: system_tokens + message_tokens,
        max_tokens,
        stream,
        include_usage: false,
    })
}

/// AWS's constraint wording: `1 validation error detected: Value X at 'PATH' failed to satisfy
/// constraint: RULE`.
fn violation(value: &str, path: &str, rule: &str) -> BedrockError {
    BedrockError::validation(format!(
        "1 validation error detected: Value {value} at '{path}' failed to satisfy constraint: {rule}"
    ))
}

fn blocks(message: &Value) -> &[Value] {
    message
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Checks one content block; `true` when it is a tool block.
fn check_block(block: &Value, path: &str) -> Result<bool, BedrockError> {
    let mut members = BLOCK_MEMBERS
        .iter()
        .filter(|name| block.get(**name).is_some_and(|v| !v.is_null()));
    let Some(member) = members.next() else {
        return Err(BedrockError::validation(format!(
            "Malformed input request: {path} holds none of the ContentBlock members ({}), please reformat your input and try again.",
            BLOCK_MEMBERS.join(", ")
        )));
    };
    if let Some(second) = members.next() {
        return Err(BedrockError::validation(format!(
            "Malformed input request: {path} holds both {member} and {second}; a ContentBlock holds exactly one member, please reformat your input and try again."
        )));
    }
    match *member {
        "image" => check_image(&block["image"], &format!("{path}.image"))?,
        "toolResult" => {
            for (k, part) in block["toolResult"]
                .get("content")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .enumerate()
            {
                if let Some(image) = part.get("image") {
                    check_image(image, &format!("{path}.toolResult.content.{k}.image"))?;
                }
            }
        }
        _ => {}
    }
    Ok(matches!(*member, "toolUse" | "toolResult"))
}

/// An image block: a known `format` and base64 `source.bytes` (or an `s3Location`).
fn check_image(image: &Value, path: &str) -> Result<(), BedrockError> {
    let format = image.get("format").and_then(Value::as_str).unwrap_or("");
    if !IMAGE_FORMATS.contains(&format) {
        return Err(violation(
            &format!("'{format}'"),
            &format!("{path}.format"),
            "Member must satisfy enum value set: [png, jpeg, gif, webp]",
        ));
    }
    let source = image.get("source");
    if source.and_then(|s| s.get("s3Location")).is_some() {
        return Ok(());
    }
    let decoded = source
        .and_then(|s| s.get("bytes"))
        .and_then(Value::as_str)
        .map(aws_smithy_types::base64::decode);
    match decoded {
        Some(Ok(bytes)) if !bytes.is_empty() => Ok(()),
        _ => Err(BedrockError::validation(format!(
            "Malformed input request: {path}.source.bytes must be the image's bytes in base64, please reformat your input and try again."
        ))),
    }
}

fn check_tool_config(body: &Value, uses_tools: bool) -> Result<(), BedrockError> {
    match body.get("toolConfig") {
        None | Some(Value::Null) if uses_tools => Err(BedrockError::validation(TOOL_CONFIG_NEEDED)),
        None | Some(Value::Null) => Ok(()),
        Some(config) => match config.get("tools").and_then(Value::as_array) {
            Some(tools) if !tools.is_empty() => Ok(()),
            _ => Err(violation(
                "'[]'",
                "toolConfig.tools",
                "Member must have length greater than or equal to 1",
            )),
        },
    }
}

fn last_user_text(messages: &[Value]) -> Option<String> {
    let message = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    let text = blocks(message)
        .iter()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    (!text.trim().is_empty()).then_some(text)
}

/// The `toolResult` blocks of the last message, their `text` and `json` contents joined.
fn tool_result(messages: &[Value]) -> Option<String> {
    let results: Vec<String> = blocks(messages.last()?)
        .iter()
        .filter_map(|b| b.get("toolResult"))
        .map(tool_result_text)
        .collect();
    (!results.is_empty()).then(|| results.join(" "))
}

fn tool_result_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|part| {
            part.get("text")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| part.get("json").map(Value::to_string))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text counts word by word; tool calls and results by their JSON or text; media nothing.
fn block_tokens(block: &Value) -> u64 {
    if let Some(text) = block.get("text").and_then(Value::as_str) {
        count_tokens(text)
    } else if let Some(call) = block.get("toolUse") {
        count_tokens(&call.get("input").map(Value::to_string).unwrap_or_default())
    } else if let Some(result) = block.get("toolResult") {
        count_tokens(&tool_result_text(result))
    } else {
        0
    }
}

/// What a Converse answer and all its events share.
pub(crate) struct Conversation {
    tool_use_id: String,
    /// Reported as `metrics.latencyMs`.
    latency_ms: u64,
}

impl Conversation {
    pub(crate) fn new(latency_ms: u64) -> Conversation {
        let id = uuid::Uuid::now_v7().simple().to_string();
        Conversation {
            tool_use_id: format!("tooluse_{}", &id[id.len() - 22..]),
            latency_ms,
        }
    }

    /// The non-streaming `ConverseResponse`.
    pub(crate) fn body(&self, prompt: &Prompt, answer: &Answer) -> Value {
        let block = match answer {
            Answer::Text(text) => json!({"text": text.text()}),
            Answer::ToolCall(call) => json!({"toolUse": {
                "toolUseId": self.tool_use_id,
                "name": call.name,
                "input": call.arguments,
            }}),
        };
        json!({
            "output": {"message": {"role": "assistant", "content": [block]}},
            "stopReason": stop_reason(answer),
            "usage": usage(prompt, answer),
            "metrics": {"latencyMs": self.latency_ms},
        })
    }

    /// The streamed events, each one event-stream message: text grows by `text` deltas; a tool
    /// call opens with `contentBlockStart` (id and name) and grows by `toolUse.input` fragments
    /// of its JSON.
    pub(crate) fn events(&self, prompt: &Prompt, answer: &Answer) -> Vec<Bytes> {
        let mut events = vec![converse_event("messageStart", json!({"role": "assistant"}))];
        match answer {
            Answer::Text(text) => {
                for piece in text.pieces() {
                    events.push(converse_event(
                        "contentBlockDelta",
                        json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
                    ));
                }
            }
            Answer::ToolCall(call) => {
                events.push(converse_event(
                    "contentBlockStart",
                    json!({
                        "contentBlockIndex": 0,
                        "start": {"toolUse": {"toolUseId": self.tool_use_id, "name": call.name}},
                    }),
                ));
                for fragment in call.argument_fragments() {
                    events.push(converse_event(
                        "contentBlockDelta",
                        json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": fragment}}}),
                    ));
                }
            }
        }
        events.push(converse_event(
            "contentBlockStop",
            json!({"contentBlockIndex": 0}),
        ));
        events.push(converse_event(
            "messageStop",
            json!({"stopReason": stop_reason(answer)}),
        ));
        events.push(converse_event(
            "metadata",
            json!({
                "usage": usage(prompt, answer),
                "metrics": {"latencyMs": self.latency_ms},
            }),
        ));
        events
    }
}

fn stop_reason(answer: &Answer) -> &'static str {
    match answer.stop() {
        Stop::Finished => "end_turn",
        Stop::OutputCap => "max_tokens",
        Stop::ToolCall => "tool_use",
    }
}

fn usage(prompt: &Prompt, answer: &Answer) -> Value {
    json!({
        "inputTokens": prompt.prompt_tokens,
        "outputTokens": answer.tokens(),
        "totalTokens": prompt.prompt_tokens + answer.tokens(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": [{"text": text}]})
    }

    #[test]
    fn reads_a_converse_body() {
        let body = json!({
            "system": [{"text": "be brief"}],
            "messages": [
                user("hello there"),
                {"role": "assistant", "content": [{"text": "hi"}]},
                {"role": "user", "content": [
                    {"text": "what is this"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
                ]}
            ],
            "inferenceConfig": {"maxTokens": 5}
        });
        let p = prompt("amazon.nova-pro-v1:0", &body, true).unwrap();
        assert_eq!(p.model, "amazon.nova-pro-v1:0");
        assert_eq!(p.last_user_text.as_deref(), Some("what is this"));
        assert_eq!(p.prompt_tokens, 2 + 2 + 1 + 3);
        assert_eq!(p.max_tokens, Some(5));
        assert!(p.stream);
        assert_eq!(p.tool_result, None);
    }

    #[test]
    fn tool_results_of_the_last_turn() {
        let body = json!({
            "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {}}}}]},
            "messages": [
                user("weather?"),
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [
                    {"text": "18 degrees"}, {"json": {"sky": "clear"}}
                ]}}]}
            ]
        });
        let p = prompt("m", &body, false).unwrap();
        assert_eq!(
            p.tool_result.as_deref(),
            Some(r#"18 degrees {"sky":"clear"}"#)
        );
        let mut without_config = body.clone();
        without_config.as_object_mut().unwrap().remove("toolConfig");
        assert_eq!(
            prompt("m", &without_config, false).unwrap_err().message,
            TOOL_CONFIG_NEEDED
        );
    }

    #[test]
    fn refuses_what_bedrock_refuses() {
        let cases = [
            (json!({}), FIRST_TURN.to_owned()),
            (json!({"messages": []}), FIRST_TURN.to_owned()),
            (
                json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}),
                FIRST_TURN.to_owned(),
            ),
            (json!({"messages": [user("a"), user("b")]}), ALTERNATE.to_owned()),
            (
                json!({"messages": [{"role": "system", "content": [{"text": "x"}]}]}),
                "1 validation error detected: Value 'system' at 'messages.1.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]".to_owned(),
            ),
            (
                json!({"messages": [{"role": "user", "content": []}]}),
                "The content field in the Message object at messages.0.content is empty. Add a ContentBlock object to the content field and try again.".to_owned(),
            ),
            (
                json!({"messages": [user("a")], "inferenceConfig": {"maxTokens": 0}}),
                "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1".to_owned(),
            ),
        ];
        for (body, message) in cases {
            assert_eq!(
                prompt("m", &body, false).unwrap_err().message,
                message,
                "{body}"
            );
        }
        for body in [
            json!([]),
            json!({"messages": "hi"}),
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, {}]}]}),
            json!({"messages": [{"role": "user", "content": [{"text": "x", "image": {}}]}]}),
            json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]}]}),
            json!({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "not base64!"}}}]}]}),
        ] {
            let error = prompt("m", &body, false).unwrap_err();
            assert_eq!(
                (error.status, error.kind.as_str()),
                (400, "ValidationException"),
                "{body}"
            );
        }
    }
}
